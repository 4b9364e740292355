"""``crmcore import transactions`` against the library call it wraps: what the command line and
its progress reporting cost on a large CSV file.

The same synthetic CSV (``bench_ingest_transactions.write_csv``: seeded, ~3% bad rows) is
imported into a new SQLite file three ways, alternating, best of ``--repeat`` runs each:

* ``import_transactions(uow, path)``: the floor (no progress);
* the same with a ``progress=`` callback that records every event;
* ``crmcore.cli.main(["import", "transactions", path, "--db", ..., "--progress",
  "--rejects", ...])``: the command, its progress lines on stderr (a file here) and the
  reject report written as CSV.

It prints rows/s of each, the ratio to the floor and the load average.

    .venv/bin/python benchmarks/bench_cli_import.py                 # 1,000,000 rows
    .venv/bin/python benchmarks/bench_cli_import.py --size 200000 --repeat 2
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crmcore.cli import main
from crmcore.ingest import import_transactions
from crmcore.progress import ProgressEvent
from crmcore.repositories import SqlUnitOfWork

HERE = Path(__file__).parent


def _write_csv(path: Path, n: int) -> int:
    spec = importlib.util.spec_from_file_location(
        "_bench_ingest", HERE / "bench_ingest_transactions.py"
    )
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.write_csv(path, n))


def _api(path: Path, db: Path, events: list[ProgressEvent] | None) -> float:
    uow = SqlUnitOfWork.from_url(f"sqlite:///{db}")
    t0 = time.perf_counter()
    import_transactions(uow, path, progress=None if events is None else events.append)
    elapsed = time.perf_counter() - t0
    uow.close()
    return elapsed


def _cli(path: Path, db: Path, folder: Path) -> tuple[float, int, str]:
    err = io.StringIO()
    out = io.StringIO()
    argv = ["import", "transactions", str(path), "--db", str(db), "--progress"]
    argv += ["--rejects", str(folder / "rejects.csv")]
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        status = main(argv)
    return time.perf_counter() - t0, status, err.getvalue()


def run(size: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "orders.csv"
        bad = _write_csv(source, size)
        best: dict[str, float] = {}
        lines = ""
        n_events = 0
        for r in range(repeat):
            for way in ("api", "api+progress", "cli"):
                db = folder / f"{way.replace('+', '_')}-{r}.db"
                if way == "cli":
                    elapsed, status, lines = _cli(source, db, folder)
                    assert status == 4, status  # rows were rejected on purpose
                else:
                    events: list[ProgressEvent] | None = [] if way != "api" else None
                    elapsed = _api(source, db, events)
                    n_events = len(events) if events is not None else n_events
                best[way] = min(best.get(way, float("inf")), elapsed)
                for f in folder.glob(f"{db.name}*"):
                    f.unlink()
        load = os.getloadavg()
        print(
            f"rows: {size:,} ({bad:,} bad on purpose); best of {repeat}; "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (2 cores)"
        )
        floor = best["api"]
        for way, label in (
            ("api", "import_transactions (floor)"),
            ("api+progress", f"  + progress= ({n_events} events)"),
            ("cli", "crmcore import transactions --progress --rejects"),
        ):
            t = best[way]
            print(f"{label:<50} {t:7.2f} s  {size / t:>10,.0f} rows/s  {t / floor:5.2f}x floor")
        print("stderr of the command:")
        print("  " + "\n  ".join(lines.strip().splitlines()[-3:]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.exit(run(args.size, args.repeat))
