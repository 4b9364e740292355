"""The deal-scoring lines of the pipeline demo (``python -m crmcore demo``)."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from crmcore.pipeline.funnel import Funnel
from crmcore.pipeline.history import FunnelHistory
from crmcore.pipeline.metrics import weighted_pipeline
from crmcore.pipeline.scoring import backtest_deal_scores, fit_deal_scores, score_deals
from crmcore.tables import StageHistory

__all__ = ["scoring_lines"]

_NAMES = {"logistic": "logistic", "naive_bayes": "naive Bayes (Odoo)", "stage": "stage"}


def scoring_lines(
    write: Callable[[str], None],
    history: StageHistory,
    funnel: Funnel,
    fh: FunnelHistory,
    *,
    backtest_at: str,
) -> None:
    """Scores of the largest open deals with their top reasons, the scored weighted pipeline,
    and a back-test of the scores from ``backtest_at`` with the past as known then (the
    synthetic history is given recording times: losses typed up to three weeks late).

    >>> from crmcore.pipeline.presets import B2B
    >>> from crmcore.pipeline.synthetic import synthetic_pipeline
    >>> p = synthetic_pipeline(B2B, n_opportunities=1500, seed=3)
    >>> lines = []
    >>> scoring_lines(lines.append, p.history, B2B, FunnelHistory.build(p.history, B2B),
    ...               backtest_at="2025-01-01")
    >>> lines[0].startswith("Deal scores (logistic regression learnt from"), len(lines)
    (True, 7)
    """
    model = fit_deal_scores(fh)
    scores = score_deals(model, fh)
    day = np.datetime_as_string(fh.as_of, unit="D")
    write(
        f"Deal scores (logistic regression learnt from {model.n_deals:,} deals closed by {day}),"
        " largest open deals:"
    )
    p_of = scores.for_history(fh)
    rows = np.flatnonzero(fh.is_open)
    amount = np.nan_to_num(fh.amount[rows])
    for r in rows[np.argsort(-amount, kind="stable")[:3]]:
        oid = fh.opportunity_ids[fh.opportunity_codes[r]]
        e = scores.explain(oid)
        order = sorted(range(len(e.factors)), key=lambda i: -abs(e.contributions[i]))[:3]
        why = "; ".join(f"{e.factors[i]} {e.levels[i]} {e.contributions[i]:+.1f}" for i in order)
        stage = funnel.stage_names[fh.final_stage[r]]
        write(
            f"  {oid} {stage:<12}{fh.amount[r]:>9,.0f}  P(win) {p_of[r]:.0%} "
            f"(stage {fh.stage_probability[fh.final_stage[r]]:.0%}): {why}"
        )
    by_stage = weighted_pipeline(fh).weighted_total
    by_score = weighted_pipeline(fh, scores=scores).weighted_total
    write(
        f"Weighted pipeline by deal scores {by_score:,.0f} (by stage probabilities {by_stage:,.0f})"
    )
    # this synthetic CRM types its losses up to three weeks late: the back-test reads the
    # past as it was known at the cut-off, when those deals still looked open
    lost = np.isin(history.stages[history.to_stage], funnel.names_of("lost"))
    delay = np.where(lost, np.random.default_rng(0).integers(0, 22, len(history)), 0)
    late = attrs.evolve(history, recorded_at=history.at + delay.astype("m8[D]"))
    bt = backtest_deal_scores(late, funnel, as_of=backtest_at, known_at=backtest_at)
    hidden = int(
        FunnelHistory.build(late, funnel, as_of=backtest_at, known_at=backtest_at).is_open.sum()
        - FunnelHistory.build(late, funnel, as_of=backtest_at).is_open.sum()
    )
    write(
        f"Back-test of the scores from {backtest_at}, as known then (losses typed up to 3 weeks"
        f" late: {hidden} deals already lost still looked open): {bt.n_resolved} of {bt.n_open}"
        f" open deals closed since ({bt.base_rate:.0%} won)"
    )
    names = [_NAMES.get(m, m) for m in bt.methods]
    write(
        "  Brier "
        + ", ".join(f"{n} {b:.3f}" for n, b in zip(names, bt.brier, strict=True))
        + "; log-loss "
        + ", ".join(f"{x:.3f}" for x in bt.log_loss)
    )
