"""``crmcore summary``, ``crmcore fit MODEL`` and ``crmcore score``: the customer base, a fitted
model as JSON, and per-customer scores as a file."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crmcore._cli._common import (
    OK,
    Write,
    add_db,
    progress_of,
    read_log,
    table_format,
    write_table,
)
from crmcore._frames import frame_columns
from crmcore.errors import ValidationError

MODELS: dict[str, str] = {
    "bgnbd": "fit_bgnbd",
    "mbgnbd": "fit_mbgnbd",
    "pareto-nbd": "fit_pareto_nbd",
    "ggompertz-nbd": "fit_ggompertz_nbd",
    "gamma-gamma": "fit_gamma_gamma",
}
"""``crmcore fit`` model name → the fit function of :mod:`crmcore.valuation`."""


def _summary(args: argparse.Namespace, time_unit: str) -> Any:
    from crmcore.valuation import summarize_transactions

    return summarize_transactions(
        read_log(args),
        time_unit=time_unit,  # type: ignore[arg-type]
        period=args.period,
        calibration_end=args.as_of,
        observation_end=args.as_of,
    )


def run_summary(args: argparse.Namespace, write: Write) -> int:
    """Print the customer-base summary of ``--db``."""
    from crmcore.cli import customer_base_summary

    for line in customer_base_summary(read_log(args)):
        write(line)
    return OK


def run_fit(args: argparse.Namespace, write: Write) -> int:
    """Fit MODEL on the summary of ``--db``; the model's JSON to ``-o`` or stdout."""
    import crmcore.valuation as valuation
    from crmcore.serialization import to_json

    fit: Callable[..., Any] = getattr(valuation, MODELS[args.model])
    summary = _summary(args, args.time_unit)
    options: dict[str, Any] = {"penalizer": args.penalizer}
    progress = progress_of(args)
    if progress is not None and "progress" in inspect.signature(fit).parameters:
        options["progress"] = progress  # the fits that report their iterations
    model = fit(summary, **options)
    text = to_json(model, indent=2)
    if args.output in (None, "-"):
        write(text)
        return OK
    Path(args.output).write_text(text + "\n", encoding="utf-8")
    write(str(model.fit))
    unit = "" if args.model == "gamma-gamma" else f", time unit {args.time_unit}"
    write(f"model written to {args.output} ({len(summary):,} customers{unit})")
    return OK


def _load(path: str, what: str) -> Any:
    from crmcore.serialization import load_model

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ValidationError(f"{what} cannot be read: {e}") from e
    return load_model(text)


def run_score(args: argparse.Namespace, write: Write) -> int:
    """Score every customer of ``--db`` with ``--model``; the table to ``-o``."""
    from crmcore.durations import Duration
    from crmcore.valuation import GammaGammaModel, PurchaseModel, score_customers

    table_format(args.output, what="'-o'")
    model = _load(args.model, "'--model'")
    if not isinstance(model, PurchaseModel):
        raise ValidationError(
            f"'--model' must hold a purchase model (BG/NBD, MBG/NBD, Pareto/NBD, "
            f"Gamma-Gompertz/NBD): {args.model!r} holds a {type(model).__name__}"
        )
    spend = None if args.spend_model is None else _load(args.spend_model, "'--spend-model'")
    if spend is not None and not isinstance(spend, GammaGammaModel):
        raise ValidationError(
            f"'--spend-model' must hold a Gamma-Gamma model: {args.spend_model!r} holds a "
            f"{type(spend).__name__}"
        )
    unit = model.time_unit
    if unit is None:
        raise ValidationError(
            f"the model in {args.model!r} has no time unit: fit it with 'crmcore fit' "
            "(or with time_unit=)"
        )
    summary = _summary(args, unit)
    horizon = Duration(12, "M") if args.horizon is None else args.horizon
    scores = score_customers(
        model,
        summary,
        horizon=horizon,
        spend_model=spend,
        clv_steps=args.clv_months,
        discount_rate=args.discount_rate,
        margin=args.margin,
    )
    n = write_table(scores, args.output, what="'-o'")
    if args.output != "-":
        columns = ", ".join(c.name for c in frame_columns(scores))
        write(
            f"{n:,} customers scored to {args.output} ({columns}); expected purchases over "
            f"{scores.horizon:g} {_unit_name(unit)}"
        )
    return OK


def _unit_name(unit: str) -> str:
    return {"D": "days", "W": "weeks", "M": "months"}.get(unit, unit)


def _summary_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--as-of",
        metavar="DATE",
        help="the day the history ends (inclusive; default: the last transaction)",
    )
    cmd.add_argument(
        "--period",
        default="D",
        choices=("D", "W", "M"),
        help="purchases in one period count as one transaction (default: %(default)s)",
    )


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``summary``, ``fit`` and ``score``."""
    summary = sub.add_parser(
        "summary",
        parents=[common],
        help="print a summary of the customer base",
        description="Print a summary of the customer base stored in a database: customers, "
        "transactions, first and last purchase, revenue, repeat buyers.",
    )
    add_db(summary)
    summary.set_defaults(run=run_summary)

    fit = sub.add_parser(
        "fit",
        parents=[common],
        help="fit a customer-value model; its JSON to stdout or a file",
        description="Fit a buy-till-you-die model (or the Gamma-Gamma spend model) by maximum "
        "likelihood on the recency/frequency summary of every customer in a database, and "
        "write the fitted model as JSON (read it back with crmcore.serialization.load_model).",
    )
    fit.add_argument("model", choices=tuple(MODELS), help="the model to fit")
    add_db(fit)
    fit.add_argument("-o", "--output", metavar="FILE", help="write the model JSON to FILE")
    fit.add_argument(
        "--time-unit",
        default="W",
        choices=("D", "W", "M"),
        help="unit of recency, T and horizons (default: %(default)s, weeks)",
    )
    fit.add_argument(
        "--penalizer", type=float, default=0.0, help="L2 penalty (default: %(default)s)"
    )
    _summary_options(fit)
    fit.set_defaults(run=run_fit)

    score = sub.add_parser(
        "score",
        parents=[common],
        help="score every customer (P(alive), expected purchases, CLV) to CSV or Parquet",
        description="Score every customer in a database with a fitted purchase model: "
        "P(alive), expected purchases over a horizon, and the discounted CLV when a spend "
        "model is given. The file format follows the extension of -o: .csv, .json, or "
        ".parquet (needs pyarrow: pip install 'crmcore[arrow]'); - writes CSV to stdout.",
    )
    add_db(score)
    score.add_argument("--model", required=True, metavar="FILE", help="the purchase model JSON")
    score.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="scores.csv, scores.parquet or -"
    )
    score.add_argument(
        "--spend-model", metavar="FILE", help="a Gamma-Gamma model JSON: adds the clv column"
    )
    score.add_argument(
        "--horizon",
        type=float,
        help="window of the expected purchases in the model's time unit (default: one year)",
    )
    score.add_argument(
        "--clv-months", type=int, default=12, help="months of CLV (default: %(default)s)"
    )
    score.add_argument(
        "--discount-rate",
        type=float,
        default=0.01,
        help="discount rate per month (default: %(default)s)",
    )
    score.add_argument(
        "--margin", type=float, default=1.0, help="share of revenue kept (default: %(default)s)"
    )
    _summary_options(score)
    score.set_defaults(run=run_score)
