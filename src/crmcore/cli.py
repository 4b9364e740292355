"""The command line: ``python -m crmcore demo`` runs the main job end to end.

The demo loads the shipped CDNOW sample into an SQLite file through the
validated import (a re-run stores nothing new: the import is idempotent),
reads the transactions back as columns, and runs every analysis section on
them: customer value, unit economics and NPS, the sales pipeline,
segmentation, satisfaction and anomaly rules.

>>> from crmcore.cli import build_parser
>>> build_parser().parse_args(["demo", "--sections", "summary"]).sections
'summary'
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from crmcore import __version__
from crmcore.errors import CRMError
from crmcore.model._storable import text_problem
from crmcore.options import expect_instance
from crmcore.tables import TransactionLog

__all__ = ["SECTIONS", "build_parser", "customer_base_summary", "main"]

SECTIONS: dict[str, tuple[str, str]] = {
    "storage": ("crmcore.repositories.demo", "Repositories: columnar reads, range scans, privacy"),
    "clv": ("crmcore.valuation.btyd.demo", "Customer lifetime value (buy-till-you-die models)"),
    "economics": ("crmcore.valuation.economics.demo", "Unit economics, retention and NPS"),
    "pipeline": ("crmcore.pipeline.demo", "Sales pipeline"),
    "segments": ("crmcore.segmentation.demo", "Segmentation and customer profitability"),
    "satisfaction": ("crmcore.satisfaction.demo", "Satisfaction and loyalty"),
    "anomaly": ("crmcore.anomaly.demo", "Customer-state anomaly rules"),
}
"""Demo section name → (module with a ``demo(write, *, transactions)`` function, title)."""


def customer_base_summary(log: TransactionLog) -> list[str]:
    """A few lines that describe a customer base from its transaction log.

    >>> from crmcore.datasets import load_cdnow_sample
    >>> print("\\n".join(customer_base_summary(load_cdnow_sample())))  # doctest: +NORMALIZE_WHITESPACE
    customers                 2,357
    transactions              6,919
    first / last purchase     1997-01-01 .. 1998-06-30
    revenue                   244,091.94 USD
    repeat buyers             1,152 (48.9%)
    mean revenue / customer   103.56 USD
    """
    expect_instance(log, TransactionLog, name="log")
    n = log.n_customers
    per_customer = np.bincount(log.customer, minlength=n)
    revenue = np.bincount(log.customer, weights=log.signed_amount(), minlength=n)
    cur = log.currency or ""
    repeat = int((per_customer > 1).sum())
    first, last = (
        (str(x)[:10] for x in (log.time.min(), log.time.max())) if len(log) else ("-", "-")
    )
    return [
        f"customers                 {n:,}",
        f"transactions              {len(log):,}",
        f"first / last purchase     {first} .. {last}",
        f"revenue                   {revenue.sum():,.2f} {cur}".rstrip(),
        f"repeat buyers             {repeat:,} ({repeat / max(n, 1):.1%})",
        f"mean revenue / customer   {revenue.sum() / max(n, 1):,.2f} {cur}".rstrip(),
    ]


def _demo(args: argparse.Namespace, write: Callable[[str], None]) -> int:
    from crmcore.ingest import import_cdnow_sample
    from crmcore.repositories import SqlUnitOfWork

    wanted = [s.strip() for s in args.sections.split(",") if s.strip()] if args.sections else []
    unknown = [s for s in wanted if s not in SECTIONS and s != "summary"]
    if unknown:
        write(f"unknown section(s) {unknown}; choose from summary, {', '.join(SECTIONS)}")
        return 2
    problem = text_problem(args.db) or ("must not be empty" if not args.db.strip() else None)
    if problem is not None:
        write(f"--db {problem}: {args.db!r}")
        return 2
    db = Path(args.db)
    write(f"crmcore {__version__} demo: the CDNOW sample in an embedded SQLite database ({db})")
    write("")
    t0 = time.perf_counter()
    uow = SqlUnitOfWork.from_url(f"sqlite:///{db}")
    report = import_cdnow_sample(uow)
    write("== Validated import of the CDNOW sample")
    write(report.summary())
    with uow:
        log = uow.transactions.read_log()
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
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m crmcore``."""
    parser = argparse.ArgumentParser(prog="python -m crmcore", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"crmcore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="load CDNOW into SQLite and run every analysis on it")
    demo.add_argument(
        "--db", default="crmcore-demo.sqlite", help="SQLite file (default: %(default)s)"
    )
    demo.add_argument(
        "--sections",
        default="",
        help=f"comma-separated subset of: summary, {', '.join(SECTIONS)} (default: all)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m crmcore`` and the ``crmcore`` script."""
    if isinstance(argv, str):  # one string would be read character by character
        argv = argv.split()
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        try:
            return _demo(args, lambda line: print(line, flush=True))
        except CRMError as e:  # a clear message on stderr, not a traceback
            print(f"python -m crmcore: error: {e}", file=sys.stderr, flush=True)
            return 1
    return 2  # pragma: no cover (argparse requires a command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
