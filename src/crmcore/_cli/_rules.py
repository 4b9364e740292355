"""``crmcore rules run RULES.json --db URL``: the batch engine of anomaly rules over a database."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crmcore._cli._common import (
    OK,
    Write,
    add_db,
    progress_of,
    table_format,
    unit_of_work,
    write_table,
)
from crmcore.errors import ValidationError


def run(args: argparse.Namespace, write: Write) -> int:
    """Run the rule set over every stored transaction; counts on stdout, alerts to ``-o``."""
    from crmcore.anomaly import AlertTable, RuleSet, contexts_from_customers, detect
    from crmcore.serialization import from_json

    if args.output is not None:
        table_format(args.output, what="'-o'")
    try:
        text = Path(args.rules).read_text(encoding="utf-8")
    except OSError as e:
        raise ValidationError(f"the rule set cannot be read: {e}") from e
    ruleset = from_json(RuleSet, text)
    with unit_of_work(args) as uow, uow:
        log = uow.transactions.read_log()
        customers = contexts_from_customers(uow.customers.iter())
    found = detect(
        log,
        ruleset,
        customers,
        unknown_customers=args.unknown_customers,
        team_queue=args.team_queue,
        progress=progress_of(args),
    )
    counts = found.counts()
    write(
        f"rule set {ruleset.name!r}: {len(log):,} transactions of {log.n_customers:,} customers, "
        f"{sum(counts.values()):,} alert(s)"
    )
    width = max((len(name) for name in counts), default=0)
    for name, n in counts.items():
        write(f"  {name:<{width}}  {n:,}")
    if args.output is not None:
        n = write_table(AlertTable(found.alerts()), args.output, what="'-o'")
        if args.output != "-":
            write(f"{n:,} alert(s) written to {args.output}")
    return OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``rules run``."""
    rules = sub.add_parser(
        "rules",
        help="run anomaly rules over the stored transactions",
        description="Customer-state anomaly rules (crmcore.anomaly).",
    )
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="{run}")
    cmd = rules_sub.add_parser(
        "run",
        parents=[common],
        help="run a rule set (JSON) over every stored transaction",
        description="Run a rule set (the JSON of crmcore.anomaly.RuleSet) over every "
        "transaction stored in a database with the batch engine; print the alerts per rule "
        "and write them to -o (.csv, .json or .parquet; - for CSV on stdout).",
    )
    cmd.add_argument("rules", metavar="RULES.json", help="the rule set as JSON")
    add_db(cmd)
    cmd.add_argument("-o", "--output", metavar="FILE", help="write the alerts to FILE")
    cmd.add_argument(
        "--unknown-customers",
        choices=("queue", "error"),
        default="queue",
        help="alerts of customers not stored go to --team-queue, or are an error "
        "(default: %(default)s)",
    )
    cmd.add_argument(
        "--team-queue",
        default="team:unassigned",
        help="queue of unowned alerts (default: %(default)s)",
    )
    cmd.set_defaults(run=run)
