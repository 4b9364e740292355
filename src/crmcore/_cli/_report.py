"""``crmcore report --db URL -o report.html``: the HTML report of the customer base."""

from __future__ import annotations

import argparse
from typing import Any

from crmcore._cli._common import OK, Write, add_db, existing_db_url, progress_of
from crmcore.errors import ValidationError


def run(args: argparse.Namespace, write: Write) -> int:
    """Build the report of ``--db`` (crmcore.report.build_report) and write it to ``-o``."""
    from crmcore.report import build_report

    if not args.output.lower().endswith((".html", ".htm")):
        raise ValidationError(f"'-o' must name an .html file: {args.output!r}")
    url = existing_db_url(args.db)
    if args.table_prefix or args.schema:
        from crmcore.repositories import SqlUnitOfWork

        source: Any = SqlUnitOfWork.from_url(
            url, table_prefix=args.table_prefix, schema=args.schema
        )
    else:
        source = url
    try:
        report = build_report(
            source, title=args.title, as_of=args.as_of, progress=progress_of(args)
        )
    finally:
        if not isinstance(source, str):
            source.close()
    path = report.write(args.output)
    write(f"report of {args.db} written to {path} ({len(report.html):,} characters)")
    return OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``report``."""
    cmd = sub.add_parser(
        "report",
        parents=[common],
        help="write the HTML report of the customer base",
        description="Write the HTML report of the customer base stored in a database: one "
        "self-contained page (charts inline, no network) with the base and data quality, "
        "customer value, segments, satisfaction, pipeline and alerts. Charts need "
        "matplotlib (pip install 'crmcore[plot]'); without it the page says so.",
    )
    add_db(cmd)
    cmd.add_argument("-o", "--output", required=True, metavar="FILE", help="report.html")
    cmd.add_argument("--title", help="the page title (default: the report's own)")
    cmd.add_argument(
        "--as-of",
        metavar="DATE",
        help="the day the report describes (default: the day of the last transaction)",
    )
    cmd.set_defaults(run=run)
