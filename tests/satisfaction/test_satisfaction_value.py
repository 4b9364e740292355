"""Marginal loyalty gains and the CLV-weighted uplift ranking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.satisfaction import (
    LoyaltyCurve,
    gain_table,
    marginal_gain,
    preset_curve,
    preset_model,
    uplift_value,
)


def test_hand_computed_gains() -> None:
    """floor 0, a = 0, b = ln 3: P(5) = 1/2, P(4) = σ(−ln 3) = 1/4, P(3) = 1/10."""
    curve = LoyaltyCurve(floor=0.0, intercept=0.0, slope=float(np.log(3.0)))
    assert marginal_gain(curve, [3, 4, 5]).tolist() == pytest.approx([0.15, 0.25, 0.0])
    assert gain_table(curve)[0, 2:].tolist() == pytest.approx([0.15, 0.25])


def test_high_competition_puts_the_gain_at_the_top() -> None:
    """Jones & Sasser: in competitive markets only 'completely satisfied' secures loyalty."""
    t = gain_table(preset_model(), [0.0, 1.0])
    assert t.shape == (2, 4)
    assert np.argmax(t[1]) == 3 and t[1, 3] > 0.5
    assert t[0].max() <= 0.1 + 1e-12


def test_per_customer_competition_matches_the_table() -> None:
    m = preset_model()
    s = np.array([1, 2, 3, 4, 5, 4])
    c = np.array([0.0, 0.3, 0.6, 1.0, 0.5, 0.25])
    got = marginal_gain(m, s, c)
    want = [
        (m.curve(ci).probabilities()[si] - m.curve(ci).probabilities()[si - 1]) if si < 5 else 0.0
        for si, ci in zip(s.tolist(), c.tolist(), strict=True)
    ]
    assert got.tolist() == pytest.approx(want)


def test_uplift_is_ranked_by_gain_times_clv() -> None:
    m = preset_model()
    rng = np.random.default_rng(3)
    s = rng.integers(1, 6, 500)
    clv = rng.gamma(2.0, 100.0, 500)
    clv[:5] = -50.0  # loss-making customers rank last among the improvable
    c = rng.random(500)
    r = uplift_value(m, s, clv, c)
    want = marginal_gain(m, s, c) * clv
    assert r.value == pytest.approx(want)
    assert np.all(np.diff(r.value[r.order]) <= 1e-12)
    assert r.total == pytest.approx(want.sum())
    by_level = r.by_level()
    assert by_level[4] == 0.0
    assert by_level.sum() == pytest.approx(want.sum())
    assert r.top(3).tolist() == r.order[:3].tolist()


def test_nan_clv_ranks_last_under_propagate() -> None:
    r = uplift_value(preset_curve("high"), [4, 4, 3], [np.nan, 10.0, 10.0], nan_policy="propagate")
    assert r.order.tolist() == [1, 2, 0]
    assert np.isnan(r.value[0]) and r.total == pytest.approx(
        10 * (0.8 - 0.8 / 6) + 10 * 0.1183, rel=1e-3
    )


def test_bad_input() -> None:
    with pytest.raises(ValidationError, match="'clv' must not contain NaN"):
        uplift_value(preset_curve("high"), [4], [np.nan])
    with pytest.raises(ValidationError, match="'satisfaction' must be in"):
        marginal_gain(preset_model(), [0], 0.5)
    with pytest.raises(ValidationError, match="'model'"):
        marginal_gain("high", [1], 0.5)
    with pytest.raises(ValidationError, match="same length"):
        uplift_value(preset_model(), [1, 2], [1.0], 0.5)
    with pytest.raises(ValidationError, match="'n'"):
        uplift_value(preset_model(), [1], [1.0], 0.5).top(-1)


@settings(max_examples=30)
@given(
    s=st.lists(st.integers(1, 5), min_size=1, max_size=30),
    c=st.floats(0.0, 1.0),
)
def test_gains_are_nonnegative_and_bounded(s: list[int], c: float) -> None:
    g = marginal_gain(preset_model(), s, c)
    assert np.all(g >= -1e-12) and np.all(g <= 1.0)
    assert np.all(g[np.array(s) == 5] == 0.0)
