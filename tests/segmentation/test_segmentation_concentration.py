"""Concentration: Pareto curve, top shares, Lorenz, Gini, ABC.

Golden cases are computed by hand; the properties are checked against a
straightforward independent implementation (full sort + cumsum + arange).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.segmentation import abc_classes, concentration, gini, lorenz_curve
from crmcore.segmentation.concentration import _BLOCK

nonneg = st.lists(
    st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=60
).filter(lambda v: sum(v) > 0)
signed = st.lists(
    st.floats(min_value=-1e4, max_value=1e6, allow_nan=False), min_size=1, max_size=60
).filter(lambda v: sum(v) > 1)


def naive_gini(v: list[float]) -> float:
    """Mean absolute difference form: G = Σ_i Σ_j |x_i − x_j| / (2 n² mean)."""
    x = np.asarray(v, dtype=float)
    n = len(x)
    return float(np.abs(x[:, None] - x[None, :]).sum() / (2 * n * n * x.mean()))


# -- golden -------------------------------------------------------------------------------------
def test_golden_five_customers():
    """Hand computed: 50, 30, 10, 5, 5 (total 100)."""
    c = concentration([5, 50, 10, 30, 5])
    assert c.top_share(0.2) == pytest.approx(0.5)
    assert c.top_share(0.4) == pytest.approx(0.8)
    assert c.top_share(0.1) == pytest.approx(0.25)  # half-way along the first customer
    assert c.customers_for_share(0.8) == 2
    assert c.customers_for_share(0.8000001) == 3
    assert c.fraction_for_share(0.9) == pytest.approx(0.6)
    # Σ i·s_(i) = 5 + 10 + 30 + 120 + 250 = 415; G = 830/500 − 6/5 = 0.46
    assert c.gini() == pytest.approx(0.46)
    assert c.gini(corrected=True) == pytest.approx(0.46 * 5 / 4)


def test_golden_gini_extremes():
    assert gini([7, 7, 7, 7]) == 0.0
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)
    assert gini([0, 0, 0, 10], corrected=True) == pytest.approx(1.0)
    assert gini([3.0]) == 0.0
    assert gini([3.0], corrected=True) == 0.0


def test_lorenz_golden():
    p, L = lorenz_curve([1, 3])
    assert p.tolist() == [0.0, 0.5, 1.0]
    assert L.tolist() == [0.0, 0.25, 1.0]


def test_abc_golden_and_ties():
    r = abc_classes([50, 30, 10, 6, 4])
    assert r.codes.tolist() == [0, 0, 1, 1, 2]
    assert r.counts.tolist() == [2, 2, 1]
    np.testing.assert_allclose(r.shares, [0.8, 0.16, 0.04])
    # the two 5s are tied at the B cut-off: both in B, C is empty
    r = abc_classes([50, 30, 10, 5, 5])
    assert r.codes.tolist() == [0, 0, 1, 1, 1]
    assert r.counts.tolist() == [2, 3, 0]
    # all equal: everybody is tied with the customer reaching 80%
    assert abc_classes([2.0] * 7).codes.tolist() == [0] * 7


def test_abc_custom_cutoffs_and_labels():
    r = abc_classes([40, 30, 20, 10], cutoffs=(0.5, 0.7, 0.9), labels=("w", "x", "y", "z"))
    assert r.names().tolist() == ["w", "w", "y", "z"]  # 40+30 = 70% reaches x's cut too
    assert r.counts.tolist() == [2, 0, 1, 1]


def test_large_input_spans_many_blocks():
    """More than one block of the block-sum design, compared with a full cumsum."""
    rng = np.random.default_rng(3)
    x = rng.lognormal(size=3 * _BLOCK + 17)
    c = concentration(x)
    d = np.cumsum(np.sort(x)[::-1])
    for y in (0.1, 0.5, 0.8, 0.95, 1.0):
        k = int(np.searchsorted(d, y * d[-1] * (1 - 1e-12))) + 1
        assert c.customers_for_share(y) == k
    n = len(x)
    s = np.sort(x)
    g = 2 * np.dot(np.arange(1, n + 1), s) / (n * s.sum()) - (n + 1) / n
    assert c.gini() == pytest.approx(g, rel=1e-10)


# -- edge cases ---------------------------------------------------------------------------------
def test_empty_input():
    c = concentration([])
    assert c.n == 0
    assert c.total == 0.0
    with pytest.raises(ValidationError, match="empty"):
        c.top_share(0.2)
    with pytest.raises(ValidationError, match="empty"):
        gini([])
    assert abc_classes([]).codes.tolist() == []


def test_all_zero_total_is_an_error():
    with pytest.raises(ValidationError, match="total"):
        gini([0.0, 0.0])
    with pytest.raises(ValidationError, match="total"):
        abc_classes([0.0, 0.0])


def test_negative_values_allowed_for_shares_not_for_gini():
    c = concentration([100.0, 50.0, -50.0])  # total 100, peak 150
    assert c.top_share(2 / 3) == pytest.approx(1.5)
    assert c.customers_for_share(1.0) == 1  # the best customer alone makes 100%
    assert c.customers_for_share(0.5) == 1
    assert c.negatives == 1
    with pytest.raises(ValidationError, match="non-negative"):
        c.gini()
    with pytest.raises(ValidationError, match="non-negative"):
        c.lorenz()
    # 100 alone reaches both cut-offs: B is empty, the rest is C
    assert abc_classes([100.0, 50.0, -50.0]).codes.tolist() == [0, 2, 2]


def test_nan_policy():
    with pytest.raises(ValidationError, match="index 1"):
        concentration([1.0, math.nan])
    c = concentration([1.0, math.nan, 3.0], nan_policy="omit")
    assert (c.n, c.nan_omitted, c.total) == (2, 1, 4.0)
    # omit: the codes of the rows kept; propagate: the NaN row unclassified (-1)
    assert abc_classes([10.0, math.nan, 1.0], nan_policy="omit").codes.tolist() == [0, 1]
    r = abc_classes([10.0, math.nan, 1.0], nan_policy="propagate")
    assert r.codes.tolist() == [0, -1, 1]
    assert r.names().tolist() == ["A", "", "B"]
    with pytest.raises(ValidationError, match="propagate"):
        concentration([1.0], nan_policy="propagate")
    with pytest.raises(ValidationError, match="finite"):
        concentration([1.0, math.inf])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cutoffs": (0.9, 0.8)}, "increasing"),
        ({"cutoffs": (0.0, 0.8)}, r"\(0, 1\]"),
        ({"cutoffs": ()}, "at least one"),
        ({"labels": ("A", "B")}, "one more entry"),
    ],
)
def test_bad_abc_arguments(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        abc_classes([1.0, 2.0], **kwargs)


def test_bad_share_arguments():
    c = concentration([1.0, 2.0])
    with pytest.raises(ValidationError, match="'x'"):
        c.top_share(1.5)
    with pytest.raises(ValidationError, match="'y'"):
        c.customers_for_share(-0.1)


# -- properties ---------------------------------------------------------------------------------
@given(nonneg)
def test_gini_in_unit_interval_and_matches_mean_difference(v):
    g = gini(v)
    assert 0.0 <= g <= 1.0
    assert g == pytest.approx(naive_gini(v), abs=1e-9)
    assert 0.0 <= gini(v, corrected=True) <= 1.0


@given(nonneg)
def test_lorenz_monotone_convex_below_diagonal(v):
    p, L = lorenz_curve(v)
    assert L[0] == 0.0 and L[-1] == pytest.approx(1.0)
    d = np.diff(L)
    assert (d >= -1e-12).all()
    assert (np.diff(d) >= -1e-9).all()  # convex: increments grow
    assert (p + 1e-12 >= L).all()


@given(nonneg, st.lists(st.floats(0, 1), min_size=2, max_size=6))
def test_top_share_monotone_and_inverse(v, xs):
    c = concentration(v)
    shares = [c.top_share(x) for x in sorted(xs)]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(shares))
    assert c.top_share(1.0) == pytest.approx(1.0)
    for y in (0.3, 0.8):
        k = c.customers_for_share(y)
        d = np.cumsum(sorted(v, reverse=True))
        assert d[k - 1] >= y * d[-1] * (1 - 1e-9)
        if k > 1:
            assert d[k - 2] < y * d[-1] * (1 + 1e-9)


@given(signed)
def test_abc_covers_everyone_and_keeps_ties(v):
    r = abc_classes(v)
    assert len(r.codes) == len(v)
    assert set(r.codes.tolist()) <= {0, 1, 2}
    assert int(r.counts.sum()) == len(v)
    assert float(r.shares.sum()) == pytest.approx(1.0)
    x = np.asarray(v)
    for val in np.unique(x):
        assert len(set(r.codes[x == val].tolist())) == 1  # ties never split
    order = np.argsort(-x, kind="stable")
    assert (np.diff(r.codes[order]) >= 0).all()  # classes follow the ranking


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_many_blocks_with_losses_match_full_cumsum(seed):
    """Profit-like values (a third negative) over several blocks: shares and ABC vs a full cumsum."""
    rng = np.random.default_rng(seed)
    x = rng.normal(10.0, 20.0, size=5 * _BLOCK + 123)
    x[:50] = 0.0  # some exact ties at zero
    c = concentration(x)
    d = np.cumsum(np.sort(x)[::-1])
    total = d[-1]
    for y in (0.05, 0.5, 0.8, 0.95, 1.0):
        k = int(np.argmax(d >= y * total * (1 - 1e-12))) + 1
        assert c.customers_for_share(y) == k
    for xq in (0.0, 0.13, 0.5, 0.77, 1.0):
        kf = xq * len(x)
        k0 = int(np.floor(kf))
        lo = d[k0 - 1] if k0 else 0.0
        hi = d[k0] if k0 < len(x) else lo
        assert c.top_share(xq) == pytest.approx((lo + (kf - k0) * (hi - lo)) / total, rel=1e-9)
    r = c.abc(x)
    assert int(r.counts.sum()) == len(x)
    assert r.shares.sum() == pytest.approx(1.0)
