"""CSAT on 1-5: hand-computed summaries, Wilson intervals, Welch comparison, groups, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from crmcore.errors import ValidationError
from crmcore.valuation import (
    agresti_coull_interval,
    compare_csat,
    csat,
    csat_by_group,
    wilson_interval,
)


def test_wilson_published_values() -> None:
    """Brown, Cai & DasGupta (2001) / Newcombe (1998, Statistics in Medicine 17, Table I):
    95% Wilson intervals 0/10 -> (0, 0.2775) and 81/263 -> (0.2553, 0.3662)."""
    lo, hi = wilson_interval([0, 81], [10, 263])
    assert lo.round(4).tolist() == [0.0, 0.2553]
    assert hi.round(4).tolist() == [0.2775, 0.3662]


def test_agresti_coull_by_hand() -> None:
    z = 1.959963984540054
    nt = 20 + z * z
    pt = (4 + z * z / 2) / nt
    half = z * math.sqrt(pt * (1 - pt) / nt)
    lo, hi = agresti_coull_interval(4, 20)
    assert (float(lo), float(hi)) == pytest.approx((pt - half, pt + half))


def test_hand_computed_summary() -> None:
    r = csat([5, 4, 4, 3, 5, 2, 5, 4])
    assert r.mean == 4.0
    assert r.sd == pytest.approx(math.sqrt(8 / 7))
    half = stats.t.ppf(0.975, 7) * math.sqrt(8 / 7 / 8)
    assert (r.mean_low, r.mean_high) == pytest.approx((4 - half, 4 + half))
    assert r.top_box == 3 / 8 and r.top2_box == 6 / 8
    lo, hi = wilson_interval(6, 8)
    assert (r.top2_box_low, r.top2_box_high) == pytest.approx((float(lo), float(hi)))
    assert r.distribution.tolist() == [0, 1 / 8, 1 / 8, 3 / 8, 3 / 8]


def test_single_answer_has_the_whole_scale_as_interval() -> None:
    r = csat([4])
    assert (r.mean_low, r.mean_high) == (1.0, 5.0)


def test_comparison_matches_scipy_welch() -> None:
    a = [3, 4, 4, 5, 2, 3, 4, 3, 4, 4, 1, 5]
    b = [4, 5, 5, 5, 3, 4, 5, 4, 4, 5]
    c = compare_csat(csat(a), csat(b))
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert c.mean_p_value == pytest.approx(ref.pvalue)
    assert c.mean_difference == pytest.approx(np.mean(b) - np.mean(a))
    assert c.mean_low < c.mean_difference < c.mean_high


def test_top2_comparison_newcombe_hybrid() -> None:
    """Newcombe (1998) method 10 from the two Wilson intervals, checked by hand."""
    a, b = csat([5] * 30 + [2] * 20), csat([4] * 40 + [1] * 10)
    c = compare_csat(a, b)
    l1, u1 = (float(x) for x in wilson_interval(30, 50))
    l2, u2 = (float(x) for x in wilson_interval(40, 50))
    assert c.top2_difference == pytest.approx(0.2)
    assert c.top2_low == pytest.approx(0.2 - math.hypot(0.8 - l2, u1 - 0.6))
    assert c.top2_high == pytest.approx(0.2 + math.hypot(u2 - 0.8, 0.6 - l1))
    pooled = 0.7
    z = 0.2 / math.sqrt(pooled * 0.3 * (2 / 50))
    assert c.top2_p_value == pytest.approx(math.erfc(z / math.sqrt(2)))


def test_by_group_equals_separate_summaries() -> None:
    rng = np.random.default_rng(9)
    scores = rng.integers(1, 6, 500)
    groups = rng.integers(0, 5, 500)
    t = csat_by_group(scores, groups)
    for i, g in enumerate(t.labels):
        one = csat(scores[groups == g])
        row = t.row(i)
        assert row.mean == pytest.approx(one.mean) and row.mean_low == pytest.approx(one.mean_low)
        assert row.top2_box_high == pytest.approx(one.top2_box_high)


def test_weights() -> None:
    w = csat([5, 1], weights=[3, 1])
    assert w.mean == pytest.approx(4.0)
    assert w.effective_n == pytest.approx(16 / 10)
    assert csat([5, 1, 3], weights=[1, 1, 1]) == csat([5, 1, 3])


@pytest.mark.parametrize(
    ("scores", "message"),
    [([0], r"\[1, 5\]: 0.0"), ([6], r"\[1, 5\]: 6.0"), ([], "empty"), ([2.5], "whole numbers")],
)
def test_bad_scores(scores: list[float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        csat(scores)


def test_compare_needs_two_answers() -> None:
    with pytest.raises(ValidationError, match="at least 2 answers"):
        compare_csat(csat([5]), csat([4, 5]))


@settings(max_examples=50)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=300))
def test_properties(scores: list[int]) -> None:
    r = csat(scores)
    assert 1 <= r.mean_low <= r.mean <= r.mean_high <= 5
    assert 0 <= r.top_box <= r.top2_box <= 1
    assert r.top_box_low <= r.top_box <= r.top_box_high
    assert r.top2_box_low <= r.top2_box <= r.top2_box_high
    assert r.distribution.sum() == pytest.approx(1.0)
    assert r.mean == pytest.approx(float(np.mean(scores)))
