"""The command line: ``crmcore COMMAND ...`` (or ``python -m crmcore COMMAND ...``).

Commands (``crmcore COMMAND --help`` describes each; docs/cli.md has examples):

* ``import customers|transactions FILE --db URL``: the validated import of a CSV file,
  with the reject report (``--rejects rejects.csv``);
* ``summary --db URL``: a summary of the customer base;
* ``fit MODEL --db URL [-o model.json]``: a fitted customer-value model as JSON;
* ``score --db URL --model model.json -o scores.csv``: P(alive), expected purchases and
  CLV per customer (CSV, JSON or Parquet);
* ``rules run RULES.json --db URL [-o alerts.csv]``: anomaly rules over the transactions;
* ``report --db URL -o report.html``: the HTML report of the customer base;
* ``db check|upgrade URL``: crmcore's tables in a database (create, migrate);
* ``demo``: the CDNOW sample into SQLite, then every analysis on it.

Results go to stdout (and the files named by ``-o``); errors and progress go to stderr.
Progress is shown for long work when stderr is a terminal, or always with ``--progress``
(``--no-progress`` hides it); ``-v`` shows crmcore's log messages (schema created or
migrated, indexes set aside during a bulk load, rows rejected, optimiser fallbacks).

Exit statuses (:data:`EXIT_STATUSES`):

======  ===========================================================================
status  meaning
======  ===========================================================================
0       success
1       error: one line ``crmcore: error: ...`` on stderr says what
2       usage: the command line is wrong (argparse's message on stderr)
3       ``db check``: crmcore's tables need ``crmcore db upgrade``
4       ``import``: rows were rejected (the reject report lists them)
130     interrupted (Ctrl-C)
======  ===========================================================================

>>> build_parser().parse_args(["demo", "--sections", "summary"]).sections
'summary'
>>> build_parser().parse_args(["db", "check", "sqlite:///crm.db", "--table-prefix", "crm_"]).table_prefix
'crm_'
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence

import numpy as np

from crmcore import __version__
from crmcore._cli import _db, _demo, _imports, _report, _rules, _valuation
from crmcore._cli._common import (
    ERROR,
    EXIT_STATUSES,
    INTERRUPTED,
    UPGRADE_DUE,
    USAGE,
)
from crmcore._cli._demo import SECTIONS
from crmcore.errors import CRMError
from crmcore.options import expect_instance
from crmcore.tables import TransactionLog

__all__ = [
    "EXIT_STATUSES",
    "SECTIONS",
    "UPGRADE_DUE",
    "build_parser",
    "customer_base_summary",
    "main",
]

PROG = "crmcore"


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


def _epilog() -> str:
    rows = "\n".join(
        textwrap.fill(text, 78, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7)
        for code, text in EXIT_STATUSES.items()
    )
    return f"exit statuses:\n{rows}\n\n'crmcore COMMAND --help' describes each command."


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``crmcore`` (and ``python -m crmcore``)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="crmcore: the domain logic of customer relationship management, "
        "from the command line.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"crmcore {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    shown = common.add_mutually_exclusive_group()
    shown.add_argument(
        "--progress",
        action="store_true",
        default=None,
        help="show progress on stderr (default: when stderr is a terminal)",
    )
    shown.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never show progress"
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show crmcore's log messages on stderr (-vv: debug messages too)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (_imports, _valuation, _rules, _report, _db, _demo):
        module.register(sub, common)
    return parser


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split("\n")[0].split()) or type(error).__name__
    return text if len(text) <= 1000 else text[:997] + "..."


def _log_to_stderr(verbose: int) -> logging.Handler | None:
    if not verbose:
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("crmcore: %(levelname)s: %(name)s: %(message)s"))
    logger = logging.getLogger("crmcore")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``crmcore`` and ``python -m crmcore``: runs one command and returns its
    exit status (see the module docstring's table)."""
    if isinstance(argv, str):  # one string would be read character by character
        argv = argv.split()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version (0) and usage errors (2)
        return int(e.code) if isinstance(e.code, int) else USAGE
    handler = _log_to_stderr(args.verbose)
    try:
        status: int = args.run(args, lambda line: print(line, flush=True))
        return status
    except CRMError as e:  # a clear message on stderr, not a traceback
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr, flush=True)
        return ERROR
    except OSError as e:  # a file that cannot be read or written
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr, flush=True)
        return ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return INTERRUPTED
    finally:
        if handler is not None:
            logger = logging.getLogger("crmcore")
            logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
