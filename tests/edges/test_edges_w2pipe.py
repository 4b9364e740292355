"""Issue 12, wave 2: pipeline, satisfaction and tables fuzz findings, through the public API.

Every wrong argument is refused by a crmcore error that names it; every NaN a
result holds is documented on its field (``crmcore._results``, ``nan=``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmcore.pipeline.history as pipeline_history
from crmcore.errors import CRMError
from crmcore.pipeline import (
    FunnelHistory,
    lost_reasons,
    pipeline_coverage,
    win_probabilities,
)
from crmcore.pipeline.presets import B2B, TOP_IN_BEST
from crmcore.pipeline.synthetic import synthetic_history, synthetic_pipeline
from crmcore.tables import StageHistory

_PIPE = synthetic_pipeline(B2B, n_opportunities=40, seed=3)
_TWO_LOST = StageHistory.from_arrays(
    opportunity_ids=["a", "a", "b", "b"],
    sequence=[0, 1, 0, 1],
    from_stage=[None, "TOP", None, "TOP"],
    to_stage=["TOP", "LOST", "TOP", "LOST"],
    at=["2025-01-01", "2025-01-02", "2025-01-01", "2025-01-03"],
    amount=[100.0, 100.0, 300.0, 300.0],
)


# -- pipeline: wrong objects are refused by name --------------------------------------------


@pytest.mark.parametrize("bad", [None, "history", 1.5, {"funnel": "b2b"}, _TWO_LOST])
def test_lost_reasons_names_data(bad: object) -> None:
    with pytest.raises(CRMError, match="'data' must be a FunnelHistory"):
        lost_reasons(bad)  # type: ignore[arg-type]


def test_lost_reasons_still_counts() -> None:
    fh = FunnelHistory.build(_TWO_LOST, TOP_IN_BEST, reasons=[None, "price", None, "price"])
    lr = lost_reasons(fh)
    assert lr.count.tolist() == [2, 0]
    assert lr.value.tolist() == [400.0, 0.0]


@pytest.mark.parametrize("fn", [synthetic_pipeline, synthetic_history])
@pytest.mark.parametrize("bad", [None, "b2b", {"name": "b2b"}])
def test_synthetic_names_funnel(fn: object, bad: object) -> None:
    with pytest.raises(CRMError, match="'funnel' must be a Funnel") as info:
        fn(bad, n_opportunities=5, seed=1)  # type: ignore[operator]
    assert isinstance(info.value, TypeError)


def test_history_helpers_are_not_public() -> None:
    # implementation details of the pipeline reports, not public API any more
    assert "wsum" not in pipeline_history.__all__
    assert "days_between" not in pipeline_history.__all__
    assert not hasattr(pipeline_history, "wsum")
    assert not hasattr(pipeline_history, "days_between")


# -- win probabilities: NaN only where no closed deal reached the stage ---------------------


def test_win_probabilities_empirical_nan_is_documented_and_smoothed_is_finite() -> None:
    wp = win_probabilities(_TWO_LOST, TOP_IN_BEST, prior_weight=2)
    assert wp.closed.tolist()[0] == 2
    assert wp.closed[1] == 0
    assert math.isnan(wp.empirical[1])
    assert np.isfinite(wp.smoothed).all()
    assert wp.smoothed[1] == pytest.approx(wp.prior[1])
    assert wp.smoothed[0] == pytest.approx(0.05)
    assert np.array_equal(np.isnan(wp.empirical), wp.closed == 0)


def test_win_probabilities_zero_weight_falls_back_to_prior() -> None:
    wp = win_probabilities(_TWO_LOST, TOP_IN_BEST, prior_weight=0)
    assert wp.smoothed[0] == 0.0  # 0 won of 2 closed, no shrinkage
    assert np.isfinite(wp.smoothed).all()
    assert np.array_equal(wp.smoothed[wp.closed == 0], wp.prior[wp.closed == 0])


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=0.0, max_value=1e6))
def test_win_probabilities_smoothed_is_a_probability(weight: float) -> None:
    wp = win_probabilities(_PIPE.history, B2B, prior_weight=weight)
    assert np.isfinite(wp.smoothed).all()
    assert ((wp.smoothed >= 0) & (wp.smoothed <= 1)).all()
    assert np.array_equal(np.isnan(wp.empirical), wp.closed == 0)


# -- coverage once the target is met --------------------------------------------------------


def test_coverage_when_target_met_is_documented_nan() -> None:
    cov = pipeline_coverage(_TWO_LOST, TOP_IN_BEST, target=100.0, achieved=100.0)
    assert cov.target_met
    assert cov.remaining == 0.0
    assert math.isnan(cov.coverage) and math.isnan(cov.weighted_coverage)


@settings(max_examples=30, deadline=None)
@given(
    target=st.floats(min_value=1.0, max_value=1e9),
    achieved=st.floats(min_value=0.0, max_value=2e9),
)
def test_coverage_is_finite_until_target_met(target: float, achieved: float) -> None:
    cov = pipeline_coverage(_PIPE.history, B2B, target=target, achieved=achieved)
    assert cov.target_met == (achieved >= target)
    if cov.target_met:
        assert math.isnan(cov.coverage) and math.isnan(cov.weighted_coverage)
    else:
        assert cov.coverage == pytest.approx(cov.open_pipeline / (target - achieved))
        assert math.isfinite(cov.weighted_coverage) and cov.weighted_coverage >= 0


def test_coverage_overflow_names_target() -> None:
    with pytest.raises(CRMError, match="'target'"):
        pipeline_coverage(_PIPE.history, B2B, target=5e-324)
