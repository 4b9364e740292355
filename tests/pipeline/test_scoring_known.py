"""Deal scoring as known at a date: a loss typed after the cut-off is not learnt from."""

from __future__ import annotations

import attrs
import numpy as np

from crmcore.pipeline import B2B, FunnelHistory
from crmcore.pipeline.scoring import (
    backtest_deal_scores,
    fit_deal_scores,
    score_deals,
    synthetic_scoring_pipeline,
)
from crmcore.tables import StageHistory

CUT = np.datetime64("2024-06-01T00:00:00", "us")
LATE = np.timedelta64(30, "D")


def _late_losses() -> tuple[StageHistory, StageHistory]:
    """The history with losses recorded 30 days after they happened, and the same history
    without the events not yet recorded at the cut-off."""
    s = synthetic_scoring_pipeline(B2B, n_opportunities=6000, seed=11)
    h = s.history
    lost = h.stages[h.to_stage] == "lost"
    recorded = np.where(lost, h.at + LATE, h.at).astype("M8[us]")
    late = attrs.evolve(h, recorded_at=recorded)
    keep = recorded <= CUT
    cols = ("opportunity", "sequence", "from_stage", "to_stage", "at", "amount", "owner", "product")
    known = attrs.evolve(h, **{c: getattr(h, c)[keep] for c in cols})
    return late, known


def test_fitting_as_known_at_the_cut_off_equals_fitting_on_what_was_recorded() -> None:
    late, known = _late_losses()
    as_known = fit_deal_scores(late, B2B, as_of=CUT, known_at=CUT)
    recorded_only = fit_deal_scores(known, B2B, as_of=CUT)
    everything = fit_deal_scores(late, B2B, as_of=CUT)
    assert as_known.n_deals == recorded_only.n_deals < everything.n_deals
    np.testing.assert_allclose(
        np.concatenate(as_known.coefficients), np.concatenate(recorded_only.coefficients), atol=1e-9
    )
    assert as_known.known_at is not None and everything.known_at is None
    # the deals lost in the last 30 days were still open as far as anyone knew
    open_known = score_deals(as_known, late, B2B, as_of=CUT, known_at=CUT)
    open_all = score_deals(everything, late, B2B, as_of=CUT)
    assert len(open_known) > len(open_all)


def test_the_backtest_reads_the_past_as_known_at_the_cut_off() -> None:
    late, _ = _late_losses()
    bt = backtest_deal_scores(late, B2B, as_of=CUT, methods=("logistic", "stage"))
    assert bt.known_at == CUT
    fh_known = FunnelHistory.build(late, B2B, as_of=CUT, known_at=CUT)
    assert bt.n_open == int(fh_known.is_open.sum())
    hindsight = backtest_deal_scores(
        late, B2B, as_of=CUT, known_at="2030-01-01", methods=("logistic", "stage")
    )
    assert hindsight.n_open < bt.n_open
