"""Acceptance check of the HTML report in a real browser (headless Chromium), with timing.

Builds the report on the demo database (the CDNOW sample imported into SQLite,
as ``crmcore demo`` does; built here in a temporary folder unless ``--db``
names one), renders it in headless Chromium to a PNG, and fails (exit 1) when
Chromium logs a console error or a failed load, when a section or a chart is
missing from the rendered page, or when the page references anything outside
itself. ``--synthetic`` first adds the seeded SYNTHETIC surveys, costs and
pipeline of :func:`crmcore.report.add_example_data` to a copy of the database,
so that every section has data to show.

    .venv/bin/python benchmarks/check_report_chromium.py --out /tmp/report.png
    .venv/bin/python benchmarks/check_report_chromium.py --synthetic --out /tmp/report-full.png

Prints the time to build the report (and to render it), with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

from crmcore.report import SECTION_IDS, add_example_data, build_report

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
_ERROR = re.compile(r"CONSOLE|Uncaught|net::ERR_|Failed to load|Refused to", re.IGNORECASE)


class _Ids(HTMLParser):
    """Section ids, images and their load state in the DOM Chromium dumps."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "img":
            self.images.append(str(a.get("src", ""))[:30])


def demo_db(folder: Path) -> Path:
    from crmcore.ingest import import_cdnow_sample
    from crmcore.repositories import SqlUnitOfWork

    path = folder / "crmcore-demo.sqlite"
    uow = SqlUnitOfWork.from_url(f"sqlite:///{path}")
    import_cdnow_sample(uow)
    uow.close()
    return path


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="SQLite file of the demo (default: built in a temp folder)")
    parser.add_argument("--out", default="report.png", help="screenshot path (PNG)")
    parser.add_argument("--html", help="also keep the HTML here")
    parser.add_argument("--synthetic", action="store_true", help="add the synthetic records")
    parser.add_argument("--height", type=int, default=6000, help="window height (px)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"FAIL: {CHROMIUM} is not installed (apt-get install chromium)")
        return 1
    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="crmcore-report-"))
    try:
        db = Path(args.db) if args.db else demo_db(work)
        if args.synthetic:
            from crmcore.repositories import SqlUnitOfWork

            copy = work / "with-synthetic.sqlite"
            shutil.copy(db, copy)
            uow = SqlUnitOfWork.from_url(f"sqlite:///{copy}")
            print("synthetic records added:", add_example_data(uow, purchases=False))
            uow.close()
            db = copy
        t0, c0 = time.perf_counter(), time.process_time()
        report = build_report(f"sqlite:///{db}")
        build_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        page = work / "report.html"
        report.write(page)
        if args.html:
            report.write(args.html)
        print(
            f"report built in {build_s:.2f} s wall, {cpu_s:.2f} s CPU "
            f"({len(report.html) / 1e6:.2f} MB, "
            f"{sum(len(s.charts) for s in report.sections)} charts) on {db.name}; "
            f"load average {load[0]:.1f} / {load[1]:.1f} (1 / 5 min) on {os.cpu_count()} cores"
        )
        problems = []
        if re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", report.html):
            problems.append("the page references an outside resource")
        out = Path(args.out).resolve()
        t1 = time.perf_counter()
        shot = chromium(
            [
                "--enable-logging=stderr",
                "--v=0",
                f"--screenshot={out}",
                f"--window-size=1280,{args.height}",
                page.as_uri(),
            ],
            work / "profile-shot",
        )
        render_s = time.perf_counter() - t1
        dom = chromium(["--dump-dom", page.as_uri()], work / "profile-dom")
        errors = [line for line in (shot.stderr + dom.stderr).splitlines() if _ERROR.search(line)]
        problems += [f"browser: {line.strip()}" for line in errors]
        if shot.returncode or not out.exists():
            problems.append(f"no screenshot (exit {shot.returncode}): {shot.stderr[-500:]}")
        ids = _Ids()
        ids.feed(dom.stdout)
        missing = [s for s in SECTION_IDS if s not in ids.ids]
        if missing:
            problems.append(f"sections missing from the rendered page: {missing}")
        expected = sum(len(s.charts) for s in report.sections)
        if len(ids.images) != expected or any(
            not s.startswith("data:image/png") for s in ids.images
        ):
            problems.append(
                f"{len(ids.images)} images in the page, expected {expected} PNG data URIs"
            )
        print(
            f"rendered by Chromium in {render_s:.2f} s -> {out} "
            f"({out.stat().st_size / 1e3 if out.exists() else 0:.0f} kB); "
            f"sections {ids.ids}; {len(ids.images)} images"
        )
        for s in report.sections:
            state = "" if s.available else "  (no data: says so)"
            print(f"  {s.id:<13} {len(s.tables)} tables, {len(s.charts)} charts{state}")
        for p in problems:
            print("FAIL:", p)
        if not problems:
            print("OK: every section rendered, no console error, nothing fetched")
        return 1 if problems else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
