"""The command line: ``python -m crmcore demo`` runs the main job end to end;
``crmcore db check`` / ``crmcore db upgrade`` look after crmcore's tables in a database.

The demo loads the shipped CDNOW sample into an SQLite file through the
validated import (a re-run stores nothing new: the import is idempotent),
reads the transactions back as columns, and runs every analysis section on
them: customer value, unit economics and NPS, the sales pipeline,
segmentation, satisfaction and anomaly rules.

``db check URL`` prints what the first open of a unit of work would do to
crmcore's tables (create them, migrate schema versions, re-create missing
indexes) and exits 0 when nothing is left to do, 3 when an upgrade is due,
1 when the database cannot be used (a foreign table of crmcore's name, a
newer schema, no connection). ``db upgrade URL`` does it now, for
applications that deploy schema changes as a step of their own (without
Alembic); ``--table-prefix`` and ``--schema`` name crmcore's namespace.

>>> from crmcore.cli import build_parser
>>> build_parser().parse_args(["demo", "--sections", "summary"]).sections
'summary'
>>> build_parser().parse_args(["db", "check", "sqlite:///crm.db", "--table-prefix", "crm_"]).table_prefix
'crm_'
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

__all__ = ["SECTIONS", "UPGRADE_DUE", "build_parser", "customer_base_summary", "main"]

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


UPGRADE_DUE = 3
"""Exit status of ``db check`` when ``db upgrade`` has work to do."""


def _db(args: argparse.Namespace, write: Callable[[str], None]) -> int:
    import sqlalchemy as sa

    from crmcore.repositories.sql import make_engine
    from crmcore.repositories.sql._engine import translate
    from crmcore.repositories.sql.schema import (
        SCHEMA_VERSION,
        check_schema,
        ensure_schema,
        namespace,
        schema_plan,
    )

    ns = namespace(table_prefix=args.table_prefix, schema=args.schema)
    engine = make_engine(args.url)
    shown = engine.url.render_as_string(hide_password=True)
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    try:
        if args.db_command == "check":
            if path and not path.startswith("file:") and not Path(path).exists():
                write(f"{shown}: no database file yet; `crmcore db upgrade` would create it")
                return UPGRADE_DUE  # (connecting would create the file)
            with engine.connect() as conn:
                plan = schema_plan(conn, ns)
                version = check_schema(conn, ns)
            where = f"crmcore's tables in {shown} ({ns.where()})"
            if not plan:
                write(f"{where}: schema version {version}, up to date")
                return 0
            state = "none yet" if version is None else f"schema version {version}"
            write(f"{where}: {state}; this crmcore writes version {SCHEMA_VERSION}")
            write("`crmcore db upgrade` would:")
            for step in plan:
                write(f"  {step}")
            return UPGRADE_DUE
        with engine.begin() as conn:
            plan = schema_plan(conn, ns)
            version = ensure_schema(conn, ns)
        for step in plan:
            write(f"done: {step}")
        write(f"crmcore's tables in {shown} ({ns.where()}): schema version {version}")
        return 0
    except sa.exc.SQLAlchemyError as e:
        raise translate(e, f"the database at {shown}") from e
    finally:
        engine.dispose()


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
    db = sub.add_parser("db", help="check or upgrade crmcore's tables in a database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    for name, text in (
        ("check", "what the first open would do (exit status 0: up to date, 3: upgrade due)"),
        ("upgrade", "create or migrate crmcore's tables now"),
    ):
        cmd = db_sub.add_parser(name, help=text)
        cmd.add_argument(
            "url", help="SQLAlchemy database URL (sqlite:///crm.db, postgresql+psycopg://...)"
        )
        cmd.add_argument("--table-prefix", default="", help="crmcore's table name prefix")
        cmd.add_argument("--schema", default=None, help="crmcore's schema (default: the default)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m crmcore`` and the ``crmcore`` script."""
    if isinstance(argv, str):  # one string would be read character by character
        argv = argv.split()
    args = build_parser().parse_args(argv)
    run = {"demo": _demo, "db": _db}.get(args.command)
    if run is None:  # pragma: no cover (argparse requires a command)
        return 2
    try:
        return run(args, lambda line: print(line, flush=True))
    except CRMError as e:  # a clear message on stderr, not a traceback
        print(f"python -m crmcore: error: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
