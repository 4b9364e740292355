"""NPS: hand-computed cases, weights, groups, comparisons, bad input and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.valuation import compare_nps, nps, nps_by_group, nps_counts

Z = 1.959963984540054


def test_hand_computed_survey() -> None:
    """5 promoters, 2 passives, 3 detractors out of 10 answers."""
    r = nps([10, 9, 9, 8, 7, 6, 3, 10, 9, 5])
    assert (r.promoters, r.passives, r.detractors) == (0.5, 0.2, 0.3)
    assert r.score == pytest.approx(0.2)
    assert r.points == pytest.approx(20.0)
    # trinomial variance (p + d - (p - d)^2) / n = (0.8 - 0.04) / 10: the Wald se
    assert nps([10, 9, 9, 8, 7, 6, 3, 10, 9, 5], method="wald").se == pytest.approx(
        math.sqrt(0.076)
    )
    # adjusted Wald: n~ = 13, p~ = 5.75/13, d~ = 3.75/13; se is the adjusted one (issue 13)
    pt, dt = 5.75 / 13, 3.75 / 13
    assert r.se == pytest.approx(math.sqrt((pt + dt - (pt - dt) ** 2) / 13))
    half = Z * math.sqrt((pt + dt - (pt - dt) ** 2) / 13)
    assert r.low == pytest.approx(pt - dt - half)
    assert r.high == pytest.approx(pt - dt + half)


def test_wald_interval_by_hand() -> None:
    r = nps([10] * 6 + [8] * 2 + [1] * 2, method="wald")
    se = math.sqrt((0.8 - 0.16) / 10)
    assert (r.low, r.high) == pytest.approx((0.4 - Z * se, 0.4 + Z * se))


def test_category_boundaries() -> None:
    r = nps([0, 6, 7, 8, 9, 10])
    assert (r.detractors, r.passives, r.promoters) == pytest.approx((2 / 6, 2 / 6, 2 / 6))


def test_integer_weights_equal_replicated_answers_for_shares() -> None:
    w = nps([10, 7, 2], weights=[3, 1, 2])
    rep = nps([10, 10, 10, 7, 2, 2])
    assert (w.promoters, w.passives, w.detractors) == pytest.approx(
        (rep.promoters, rep.passives, rep.detractors)
    )
    # Kish effective n = 6^2 / (9 + 1 + 4) = 36 / 14
    assert w.effective_n == pytest.approx(36 / 14)
    assert w.n == pytest.approx(6)


def test_unit_weights_change_nothing() -> None:
    scores = [10, 9, 8, 3, 0, 7, 10]
    a, b = nps(scores), nps(scores, weights=np.ones(7))
    assert a == b


def test_by_group_equals_separate_surveys() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 11, 3000)
    groups = rng.choice(np.array(["north", "south", "east", "west"]), 3000)
    t = nps_by_group(scores, groups)
    assert t.labels.tolist() == ["east", "north", "south", "west"]
    for i, g in enumerate(t.labels):
        assert t.row(i) == nps(scores[groups == g])


def test_by_group_over_time_with_datetime_periods() -> None:
    months = np.array(["2025-03", "2025-01", "2025-01", "2025-02"], dtype="datetime64[M]")
    t = nps_by_group([10, 0, 10, 8], months)
    assert [str(x) for x in t.labels] == ["2025-01", "2025-02", "2025-03"]
    assert t.score.tolist() == [0.0, 0.0, 1.0]
    ch = t.changes()
    assert ch.difference.tolist() == [0.0, 1.0]


def test_counts_equal_answers() -> None:
    t = nps_counts([12, 0], [5, 3], [3, 7])
    a = nps([10] * 12 + [8] * 5 + [2] * 3)
    assert t.row(0).score == a.score and t.row(0).low == a.low and t.row(0).high == a.high
    assert t.row(1).score == pytest.approx(-0.7)


def test_compare_by_hand_with_wald() -> None:
    a = nps([10] * 40 + [8] * 30 + [2] * 30, method="wald")
    b = nps([10] * 55 + [8] * 25 + [2] * 20, method="wald")
    c = compare_nps(a, b)
    v1 = (0.7 - 0.01) / 100
    v2 = (0.75 - 0.35**2) / 100
    se = math.sqrt(v1 + v2)
    assert c.difference[0] == pytest.approx(0.25)
    assert c.se[0] == pytest.approx(se)
    z = 0.25 / se
    assert c.z[0] == pytest.approx(z)
    assert c.p_value[0] == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert (c.low[0], c.high[0]) == pytest.approx((0.25 - Z * se, 0.25 + Z * se))


def test_compare_identical_samples_is_not_significant() -> None:
    a = nps([10, 9, 3, 7] * 20)
    c = compare_nps(a, a)
    assert c.difference[0] == 0 and c.p_value[0] == pytest.approx(1.0)


def test_compare_unanimous_wald_samples_gives_explicit_p_value() -> None:
    a = nps([10] * 5, method="wald")
    b = nps([0] * 5, method="wald")
    c = compare_nps(a, b)
    assert c.se[0] == 0 and c.p_value[0] == 0.0 and np.isfinite(c.z[0])


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([11], r"'scores' must be in \[0, 10\]: 11"),
        ([-1, 5], r"'scores' must be in \[0, 10\]: -1"),
        ([5.5], "whole numbers"),
        ([], "empty"),
        ([float("nan")], "NaN"),
    ],
)
def test_bad_scores(scores: list[float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        nps(scores)


def test_bad_weights_and_groups() -> None:
    with pytest.raises(ValidationError, match="'weights' must be >= 0"):
        nps([10, 1], weights=[1, -1])
    with pytest.raises(ValidationError, match="one weight per response"):
        nps([10, 1], weights=[1])
    with pytest.raises(ValidationError, match="empty"):
        nps([10, 1], weights=[0, 0])
    with pytest.raises(ValidationError, match="same length: scores has 2, groups has 1"):
        nps_by_group([10, 1], ["a"])
    with pytest.raises(ValidationError, match="missing labels"):
        nps_by_group([10, 1], ["a", None])
    with pytest.raises(ValidationError, match="'confidence'"):
        nps([10], confidence=95)
    with pytest.raises(ValidationError, match="'method'"):
        nps([10], method="bootstrap")


@settings(max_examples=60)
@given(st.lists(st.integers(0, 10), min_size=1, max_size=200))
def test_properties(scores: list[int]) -> None:
    r = nps(scores)
    assert r.promoters + r.passives + r.detractors == pytest.approx(1.0)
    assert -1 <= r.low <= r.high <= 1
    assert r.se >= 0
    w = nps(scores, method="wald")
    assert w.low - 1e-12 <= w.score <= w.high + 1e-12
    # the adjusted interval is centred on a score shrunk towards 0
    center = (r.low + r.high) / 2
    if r.low > -1 and r.high < 1:
        assert abs(center) <= abs(r.score) + 1e-12


@settings(max_examples=30)
@given(
    st.lists(st.integers(0, 10), min_size=2, max_size=100),
    st.lists(st.integers(0, 10), min_size=2, max_size=100),
)
def test_comparison_is_antisymmetric(a: list[int], b: list[int]) -> None:
    ra, rb = nps(a), nps(b)
    ab, ba = compare_nps(ra, rb), compare_nps(rb, ra)
    assert ab.difference[0] == pytest.approx(-ba.difference[0])
    assert ab.p_value[0] == pytest.approx(ba.p_value[0])
    assert 0 <= ab.p_value[0] <= 1
