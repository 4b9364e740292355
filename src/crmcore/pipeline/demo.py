"""The pipeline section of ``python -m crmcore demo`` (a seeded, clearly labelled synthetic pipeline).

>>> lines = []
>>> from crmcore.tables import TransactionLog
>>> demo(lines.append, transactions=TransactionLog.from_arrays(
...     customer_ids=["a"], timestamps=np.array(["1997-01-01"], dtype="M8[us]"), amounts=[1.0]))
>>> lines[0]
'== Sales pipeline (SYNTHETIC data: seeded, 4,000 opportunities, B2B funnel, 6 reps) =='
>>> len(lines) <= 40
True
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import numpy as np

from crmcore._demo import check_demo_args
from crmcore.model.activity import Activity, ActivityStatus
from crmcore.pipeline._scoring_demo import scoring_lines
from crmcore.pipeline.breakdowns import lost_reasons
from crmcore.pipeline.forecast import backtest, forecast
from crmcore.pipeline.history import FunnelHistory
from crmcore.pipeline.metrics import sales_cycle, stage_conversion, weighted_pipeline, win_rate
from crmcore.pipeline.plans import Period
from crmcore.pipeline.presets import B2B
from crmcore.pipeline.scorecard import scorecards
from crmcore.pipeline.synthetic import synthetic_pipeline
from crmcore.tables import TransactionLog

__all__ = ["demo"]

_SEED = 2025
_N = 4000
# rep-1 does nothing, rep-2 never advances, rep-3 never closes, rep-4 wins at a loss
_SKILL = (1.0, 0.0, 1.1, 1.0, 0.9, 1.2)
_CLOSE = (1.0, 1.0, 0.0, 1.0, 1.0, 1.0)
_ACTIVITIES = (0, 55, 70, 60, 48, 65)


def _activities(period: Period, reps: tuple[str, ...]) -> list[Activity]:
    out = []
    rng = np.random.default_rng(_SEED)
    days = (period.end - period.start).days
    for rep, n in zip(reps, _ACTIVITIES, strict=True):  # a few hundred records
        for i, d in enumerate(rng.integers(0, days, n).tolist()):
            at = datetime(period.start.year, period.start.month, 1 + d, 10, tzinfo=UTC)
            out.append(
                Activity(
                    id=f"{rep}-a{i}",
                    kind="call",
                    rep_id=rep,
                    status=ActivityStatus.DONE,
                    done_at=at,
                )
            )
    return out


def demo(write: Callable[[str], None], *, transactions: TransactionLog) -> None:
    """Print the pipeline section: weighted pipeline, conversion, next-quarter forecast, scorecards,
    deal scores with their reasons and their back-test.

    ``transactions`` is not used: a sales funnel needs stage histories,
    which the CDNOW sample does not have, so this section runs on a seeded
    synthetic pipeline and says so.
    """
    check_demo_args(write, transactions)
    del transactions
    p = synthetic_pipeline(
        B2B,
        n_opportunities=_N,
        seed=_SEED,
        start="2024-01-01",
        days=547,
        rep_skill=_SKILL,
        close_skill=_CLOSE,
    )
    fh = FunnelHistory.build(p.history, B2B, as_of=p.as_of, reasons=p.reasons)
    as_of = str(p.as_of.astype("M8[D]"))
    write(
        f"== Sales pipeline (SYNTHETIC data: seeded, {_N:,} opportunities, B2B funnel, 6 reps) =="
    )
    wp = weighted_pipeline(fh)
    write(f"Open pipeline at {as_of}:  stage        deals      amount    weighted")
    for i, s in enumerate(wp.stages[:4]):
        write(f"{'':29}{s:<12}{wp.count[i]:>6d}{wp.total[i]:>12,.0f}{wp.weighted[i]:>12,.0f}")
    write(
        f"{'':29}{'total':<12}{int(wp.count.sum()):>6d}{wp.open_total:>12,.0f}{wp.weighted_total:>12,.0f}"
    )
    cum = dict(zip(wp.categories, wp.cumulative, strict=True))
    write(
        f"Forecast categories (cumulative): commit {cum['commit']:,.0f}; "
        f"best case {cum['best_case']:,.0f}; pipeline {cum['pipeline']:,.0f}"
    )
    conv = stage_conversion(fh)
    write(
        "Conversion to next stage: "
        + "; ".join(f"{s} {r:.0%}" for s, r in zip(conv.stages, conv.rate, strict=True))
    )
    wr, cyc = win_rate(fh), sales_cycle(fh)
    write(
        f"Win rate {wr.by_count:.1%} by count, {wr.by_value:.1%} by value; "
        f"median sales cycle {cyc.median_days:.0f} days"
    )
    lr = lost_reasons(fh)
    top = np.argsort(-lr.count)[:3]
    write(
        "Why not (top lost reasons): "
        + "; ".join(f"{lr.reasons[i]} {lr.share[i]:.0%}" for i in top)
    )
    fc = forecast(fh, months=3)
    write(f"Next quarter from the open pipeline (history method, {fc.level:.0%} band):")
    for m, e, lo, hi in zip(fc.months.astype(str), fc.expected, fc.low, fc.high, strict=True):
        write(f"  {m}: {e:>12,.0f}  [{lo:,.0f} .. {hi:,.0f}]")
    write(f"  quarter: {fc.total_expected:>9,.0f}  [{fc.total_low:,.0f} .. {fc.total_high:,.0f}]")
    bt = backtest(p.history, B2B, as_of="2025-03-01", months=3)
    write(
        "Back-test from 2025-03-01 (3 months): MAPE "
        + ", ".join(
            f"{m} {x:.0%}" if x is not None else f"{m} n/a"
            for m, x in zip(bt.methods, bt.mape, strict=True)
        )
        + f" -> {bt.best()} method is more accurate here"
    )
    period = Period.month(date(2025, 6, 1))
    reps = tuple(str(x) for x in fh.owner_ids.tolist())
    won_ids = fh.opportunity_ids[fh.opportunity_codes[fh.is_won]]
    won_amt = np.nan_to_num(fh.amount[fh.is_won])
    won_rep = fh.owner[fh.is_won]
    costs = {
        str(i): float(a) * (1.3 if reps[r] == "rep-4" else 0.6)
        for i, a, r in zip(won_ids.tolist(), won_amt.tolist(), won_rep.tolist(), strict=True)
    }
    sc = scorecards(period, history=fh, activities=_activities(period, reps), costs=costs)
    write(
        f"Rep scorecards, {period.start:%B %Y} (deal cost synthetic: 60% of revenue, rep-4 130%):"
    )
    for line in sc.lines():
        write("  " + line)
    scoring_lines(write, p.history, B2B, fh, backtest_at="2025-03-01")
