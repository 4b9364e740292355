"""``crmcore import customers|transactions|service-cases FILE --db URL``: the validated import of a CSV file."""

from __future__ import annotations

import argparse
from typing import Any

from crmcore._cli._common import (
    OK,
    REJECTED,
    Write,
    add_db,
    progress_of,
    table_format,
    unit_of_work,
    write_table,
)
from crmcore.errors import ValidationError


def _columns(pairs: list[str] | None) -> dict[str, str] | None:
    """``--column SOURCE=FIELD`` options as the import's ``columns`` mapping."""
    if not pairs:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        source, sep, field = pair.partition("=")
        if not sep or not source or not field:
            raise ValidationError(f"'--column' must be SOURCE=FIELD: {pair!r}")
        out[source] = field
    return out


def run(args: argparse.Namespace, write: Write) -> int:
    """Import the file; exit 4 when rows were rejected (listed in ``--rejects``)."""
    from crmcore.ingest import (
        RejectedImportError,
        import_customers,
        import_service_cases,
        import_transactions,
    )

    if args.rejects is not None:
        table_format(args.rejects, what="'--rejects'")
    options: dict[str, Any] = {
        "columns": _columns(args.column),
        "time_format": args.time_format,
        "batch_size": args.batch_size,
        "all_or_nothing": args.all_or_nothing,
        "delimiter": args.delimiter,
        "encoding": args.encoding,
        "progress": progress_of(args),
    }
    with unit_of_work(args, create=True) as uow:
        try:
            if args.target == "customers":
                report = import_customers(uow, args.file, **options)
            elif args.target == "service-cases":
                report = import_service_cases(uow, args.file, **options)
            else:
                report = import_transactions(
                    uow, args.file, currency=args.currency, ref_prefix=args.ref_prefix, **options
                )
        except RejectedImportError as e:
            report = e.report
    write(report.summary(max_errors=args.show_errors))
    if args.rejects is not None:
        n = write_table(report, args.rejects, what="'--rejects'")
        write(f"reject report: {n} rejected cell(s) written to {args.rejects}")
    return OK if report.ok else REJECTED


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``import customers``, ``import transactions`` and ``import service-cases``."""
    imp = sub.add_parser(
        "import",
        help="import customers, transactions or service cases from a CSV file",
        description="Validate and store customers, transactions or service cases from a CSV "
        "file. Bad rows "
        "are reported and never stored; good rows are committed in batches; a re-run skips "
        "what is stored already. Exit status 4 when rows were rejected.",
    )
    imp_sub = imp.add_subparsers(
        dest="target", required=True, metavar="{customers,transactions,service-cases}"
    )
    for target, text in (
        ("customers", "customers (id, external_key, name, email, phone, ...)"),
        ("transactions", "transactions (customer_id, occurred_at, amount, currency, kind, ...)"),
        (
            "service-cases",
            "service cases (id, customer_id, channel, opened_at, category, owner_id, ...)",
        ),
    ):
        cmd = imp_sub.add_parser(
            target,
            parents=[common],
            help=f"import {text}",
            description=f"Import {text} from a CSV file with a header line.",
        )
        cmd.add_argument("file", help="the CSV file (a header line names the columns)")
        add_db(cmd)
        cmd.add_argument(
            "--rejects",
            metavar="FILE",
            help="write the reject report (row, line, column, value, reason) to FILE "
            "(.csv, .json or .parquet)",
        )
        cmd.add_argument(
            "--column",
            action="append",
            metavar="SOURCE=FIELD",
            help="read the file's column SOURCE as FIELD (repeatable)",
        )
        cmd.add_argument(
            "--time-format",
            metavar="FORMAT",
            help="strptime format of the times (default: ISO 8601)",
        )
        cmd.add_argument(
            "--all-or-nothing",
            action="store_true",
            help="store nothing unless every row is valid (one commit)",
        )
        cmd.add_argument(
            "--batch-size", type=int, default=50_000, help="rows per commit (default: %(default)s)"
        )
        cmd.add_argument("--delimiter", default=",", help="field delimiter (default: ',')")
        cmd.add_argument("--encoding", default="utf-8", help="file encoding (default: %(default)s)")
        cmd.add_argument(
            "--show-errors",
            type=int,
            default=10,
            metavar="N",
            help="rejected cells listed on stdout (default: %(default)s)",
        )
        if target == "transactions":
            cmd.add_argument(
                "--currency", help="ISO 4217 code of every row (else a 'currency' column)"
            )
            cmd.add_argument(
                "--ref-prefix", default="", help="prefix of the rows' external references"
            )
        cmd.set_defaults(run=run)
