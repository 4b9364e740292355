"""``crmcore demo``: the CDNOW sample into an SQLite file, then every analysis on it."""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crmcore import __version__
from crmcore._cli._common import OK, USAGE, Write
from crmcore.model._storable import text_problem

SECTIONS: dict[str, tuple[str, str]] = {
    "storage": ("crmcore.repositories.demo", "Repositories: columnar reads, range scans, privacy"),
    "clv": ("crmcore.valuation.btyd.demo", "Customer lifetime value (buy-till-you-die models)"),
    "economics": ("crmcore.valuation.economics.demo", "Unit economics, retention and NPS"),
    "pipeline": ("crmcore.pipeline.demo", "Sales pipeline"),
    "segments": ("crmcore.segmentation.demo", "Segmentation and customer profitability"),
    "satisfaction": ("crmcore.satisfaction.demo", "Satisfaction and loyalty"),
    "anomaly": ("crmcore.anomaly.demo", "Customer-state anomaly rules"),
    "relationship": ("crmcore.relationship.demo", "The relationship: view, reminders, CRM health"),
}
"""Demo section name → (module with a ``demo(write, *, transactions)`` function, title)."""


def run(args: argparse.Namespace, write: Write) -> int:
    """Run the demo (exit 2 for an unknown section or an empty ``--db``)."""
    from crmcore.cli import customer_base_summary
    from crmcore.ingest import import_cdnow_sample
    from crmcore.repositories import SqlUnitOfWork

    wanted = [s.strip() for s in args.sections.split(",") if s.strip()] if args.sections else []
    unknown = [s for s in wanted if s not in SECTIONS and s != "summary"]
    if unknown:
        write(f"unknown section(s) {unknown}; choose from summary, {', '.join(SECTIONS)}")
        return USAGE
    problem = text_problem(args.db) or ("must not be empty" if not args.db.strip() else None)
    if problem is not None:
        write(f"--db {problem}: {args.db!r}")
        return USAGE
    db = Path(args.db)
    write(f"crmcore {__version__} demo: the CDNOW sample in an embedded SQLite database ({db})")
    write("")
    t0 = time.perf_counter()
    uow = SqlUnitOfWork.from_url(f"sqlite:///{db}")
    try:
        report = import_cdnow_sample(uow)
        write("== Validated import of the CDNOW sample")
        write(report.summary())
        with uow:
            log = uow.transactions.read_log()
    finally:
        uow.close()
    write(f"(import and columnar read: {time.perf_counter() - t0:.2f} s)")
    write("")
    write("== The customer base")
    for line in customer_base_summary(log):
        write(line)
    for name, (module, title) in SECTIONS.items():
        if wanted and name not in wanted:
            continue
        write("")
        write(f"== {title}")
        t1 = time.perf_counter()
        demo: Callable[..., None] = importlib.import_module(module).demo
        demo(write, transactions=log)
        write(f"({name}: {time.perf_counter() - t1:.2f} s)")
    return OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``demo``."""
    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="load the CDNOW sample into SQLite and run every analysis on it",
        description="Load the CDNOW sample into an SQLite file through the validated import "
        "(a re-run stores nothing new), then run every analysis section on it.",
    )
    demo.add_argument(
        "--db", default="crmcore-demo.sqlite", help="SQLite file (default: %(default)s)"
    )
    demo.add_argument(
        "--sections",
        default="",
        help=f"comma-separated subset of: summary, {', '.join(SECTIONS)} (default: all)",
    )
    demo.set_defaults(run=run)
