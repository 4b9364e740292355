"""The loyalty curve and model: golden shapes, an independent formula, monotonicity and bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.satisfaction import LoyaltyCurve, LoyaltyModel, Zones, preset_curve, preset_model
from crmcore.serialization import from_json, to_json

coef = st.floats(-8.0, 8.0, allow_nan=False)
unit = st.floats(0.0, 1.0)


def _p(theta: tuple[float, ...], s: int, c: float) -> float:
    """Independent scalar implementation of P(loyal | s, c) with math only."""
    a0, a1, b0, b1, g0, g1 = theta

    def sigmoid(x: float) -> float:
        if x >= 0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)

    f = sigmoid(g0 + g1 * c)
    q = sigmoid(a0 + a1 * c + math.exp(b0 + b1 * c) * (s - 5))
    return f + (1.0 - f) * q


def test_xerox_ratio_in_the_high_preset() -> None:
    """Xerox: customers answering 5 were six times as likely to repurchase as those answering 4.

    Source: T. O. Jones and W. E. Sasser, "Why Satisfied Customers Defect",
    Harvard Business Review 73(6), 1995, pp. 88-99. The preset is shaped to it.
    """
    p = preset_curve("high").probabilities()
    assert p[4] == pytest.approx(0.80)
    assert p[4] / p[3] == pytest.approx(6.0)
    assert p[:3].max() < 0.05  # loyalty near zero until "satisfied"


def test_low_preset_is_flat_with_a_high_floor() -> None:
    """Jones & Sasser's low-competition curve: high loyalty even when dissatisfied."""
    p = preset_curve("low").probabilities()
    assert p[0] >= 0.70
    assert p[4] / p[3] < 1.2
    assert p.max() - p.min() < 0.3


def test_hand_computed_curve() -> None:
    """floor 0.5, a = 0, b = 1: P(5) = 0.5 + 0.5·σ(0) = 0.75; P(4) = 0.5 + 0.5·σ(−1) = 0.634471."""
    p = LoyaltyCurve(floor=0.5, intercept=0.0, slope=1.0).probabilities()
    assert p[4] == pytest.approx(0.75)
    assert p[3] == pytest.approx(0.5 + 0.5 / (1.0 + math.e))


def test_from_anchors_goes_through_its_anchors() -> None:
    c = LoyaltyCurve.from_anchors(floor=0.1, p4=0.3, p5=0.6)
    assert c.floor == 0.1
    assert c.probabilities()[3:].tolist() == pytest.approx([0.3, 0.6])
    with pytest.raises(ValidationError, match="floor < p4 <= p5"):
        LoyaltyCurve.from_anchors(floor=0.5, p4=0.3, p5=0.6)


def test_between_reproduces_its_endpoints() -> None:
    m = preset_model()
    assert m.curve(0.0).probabilities() == pytest.approx(preset_curve("low").probabilities())
    assert m.curve(1.0).probabilities() == pytest.approx(preset_curve("high").probabilities())
    assert m.moderated
    assert not LoyaltyModel(intercept=0.0, log_slope=0.0, floor_logit=0.0).moderated


def test_more_competition_less_loyalty_in_the_presets() -> None:
    t = preset_model().table(np.linspace(0.0, 1.0, 11))
    assert np.all(np.diff(t[:, :4], axis=0) <= 1e-12)  # levels 1-4 only lose loyalty


def test_zones_hand_cases() -> None:
    z = LoyaltyCurve(floor=0.0, intercept=2.0, slope=2.0).zones()
    # P = σ(2 + 2(s − 5)): 0.0025, 0.018, 0.119, 0.5, 0.881
    assert z == Zones(
        defection=(1, 2, 3),
        indifference=(4,),
        affection=(5,),
        defect_below=0.5,
        affection_from=0.75,
    )
    z2 = LoyaltyCurve(floor=0.0, intercept=2.0, slope=2.0)
    with pytest.raises(ValidationError, match="defect_below"):
        z2.zones(defect_below=0.9, affection_from=0.5)
    with pytest.raises(ValidationError, match="'level'"):
        z.zone_of(6)


def test_slope_must_be_nonnegative_and_floor_below_one() -> None:
    with pytest.raises(ValidationError, match="'slope' must be >= 0"):
        LoyaltyCurve(floor=0.1, intercept=0.0, slope=-0.1)
    with pytest.raises(ValidationError, match=r"'floor' must be in \[0, 1\): 1.0"):
        LoyaltyCurve(floor=1.0, intercept=0.0, slope=1.0)
    with pytest.raises(ValidationError, match="'intercept' must be a finite number: inf"):
        LoyaltyModel(intercept=math.inf, log_slope=0.0, floor_logit=0.0)
    with pytest.raises(ValidationError, match="'name'"):
        preset_curve("medium")


@pytest.mark.parametrize(
    ("s", "c", "match"),
    [
        ([0], 0.5, "'satisfaction' must be in \\[1, 5\\]: 0 at index 0"),
        ([6], 0.5, "'satisfaction' must be in \\[1, 5\\]: 6"),
        ([2.5], 0.5, "'satisfaction' must hold whole numbers: 2.5"),
        ([3], 1.5, "'competition' must be in \\[0, 1\\]: 1.5"),
        ([3, 4], [0.5, -0.1], "'competition' must be in \\[0, 1\\]: -0.1 at index 1"),
        ([3, 4], [0.5], "same length"),
        ([3, np.nan], 0.5, "'satisfaction' must not contain NaN"),
    ],
)
def test_bad_scoring_input_names_the_value(s: list[float], c: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        preset_model().probability(s, c)


def test_nan_policies() -> None:
    m = preset_model()
    got = m.probability([1.0, np.nan, 5.0], [1.0, 1.0, np.nan], nan_policy="propagate")
    assert np.isnan(got[1:]).all() and got[0] == pytest.approx(0.01, abs=1e-3)
    got = m.probability([1.0, np.nan, 5.0], [1.0, 1.0, 1.0], nan_policy="omit")
    assert got.tolist() == pytest.approx([0.01, 0.8], abs=1e-3)


def test_large_input_agrees_with_the_scalar_formula() -> None:
    rng = np.random.default_rng(5)
    n = 100_003  # several blocks and a ragged tail
    s = rng.integers(1, 6, n)
    c = rng.random(n)
    m = LoyaltyModel(1.0, 0.3, -1.0, -0.5, 0.8, -2.0)
    got = m.probability(s, c)
    idx = rng.integers(0, n, 200)
    want = [_p(m.params, int(s[i]), float(c[i])) for i in idx]
    assert got[idx] == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert m.probability(s[:10], 0.3) == pytest.approx([_p(m.params, int(v), 0.3) for v in s[:10]])


@settings(max_examples=40)
@given(theta=st.tuples(coef, coef, coef, coef, coef, coef), c=unit)
def test_monotone_in_satisfaction_and_bounded(theta: tuple[float, ...], c: float) -> None:
    m = LoyaltyModel.from_params(theta)
    p = m.table([c])[0]
    assert np.all(p >= 0.0) and np.all(p <= 1.0)
    assert np.all(np.diff(p) >= -1e-12)
    per_customer = m.probability([1, 2, 3, 4, 5], [c] * 5)
    assert per_customer == pytest.approx(p, rel=1e-9, abs=1e-12)
    assert np.all(m.curve(c).marginal_gains() >= -1e-12)


@given(floor=st.floats(0.0, 0.99), a=coef, b=st.floats(0.0, 10.0))
def test_curve_probabilities_match_independent_formula(floor: float, a: float, b: float) -> None:
    curve = LoyaltyCurve(floor=floor, intercept=a, slope=b)
    g = math.log(floor / (1 - floor)) if floor > 0 else -700.0
    if floor > 0 and b > 0:
        want = [_p((a, 0.0, math.log(b), 0.0, g, 0.0), s, 0.0) for s in range(1, 6)]
        assert curve.probabilities() == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert np.all(np.diff(curve.probabilities()) >= -1e-12)


def test_models_round_trip_through_the_converter() -> None:
    m = preset_model()
    assert from_json(LoyaltyModel, to_json(m)) == m
    c = preset_curve("high")
    assert from_json(LoyaltyCurve, to_json(c)) == c
    z = c.zones()
    assert from_json(Zones, to_json(z)) == z


def test_segment_levels_give_the_same_probabilities_as_per_customer_levels() -> None:
    rng = np.random.default_rng(8)
    s = rng.integers(1, 6, 1000)
    seg = rng.integers(0, 7, 1000)
    levels = rng.random(7)
    m = preset_model()
    assert m.probability_by_segment(s, seg, levels) == pytest.approx(m.probability(s, levels[seg]))
    with pytest.raises(ValidationError, match="same length"):
        m.probability_by_segment(s, seg[:-1], levels)
    with pytest.raises(ValidationError, match="'segment' must be in \\[0, 6\\]: -1"):
        m.probability_by_segment([1], [-1], levels)
