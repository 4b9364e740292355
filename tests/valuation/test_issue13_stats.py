"""Issue 13, statistics: sBG refuses non-identified data; the NPS se matches its interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.datasets import SBG_COHORTS
from crmcore.errors import FitError
from crmcore.valuation import compare_nps, fit_sbg, nps, nps_by_group, nps_counts

Z = 1.959963984540054


# --- sBG: non-identified data -------------------------------------------------------


@pytest.mark.parametrize(
    "counts",
    [[1000, 600], [[1000, 600], [500, 300]], [[1000, 600], [500, 0, 0]], [10, 3]],
)
def test_sbg_one_transition_is_not_identified(counts: object) -> None:
    with pytest.raises(FitError, match="one retention rate cannot identify") as e:
        fit_sbg(counts)  # type: ignore[arg-type]
    assert "alpha and beta" in str(e.value) and "'counts'" in str(e.value)


def test_sbg_one_transition_message_gives_the_rate() -> None:
    with pytest.raises(FitError, match=r"retention 0\.6\)"):
        fit_sbg([1000, 600])


@pytest.mark.parametrize(
    ("counts", "p"),
    [
        ([1000, 800, 640, 512], 0.2),
        ([10000, 9000, 8100, 7290, 6561], 0.1),
        ([[1000, 800, 640], [500, 400]], 0.2),
        ([1000, 900, 700], 300 / 1900),  # falling retention: the geometric limit is the MLE
    ],
)
def test_sbg_geometric_survival_is_not_identified(counts: object, p: float) -> None:
    with pytest.raises(FitError, match="not identified") as e:
        fit_sbg(counts)  # type: ignore[arg-type]
    msg = str(e.value)
    assert "constant churn p = " in msg and "geometric" in msg
    assert f"p = {p:.6g} per period" in msg


@settings(max_examples=25, deadline=None)
@given(
    n0=st.integers(100, 10**6),
    keep=st.sampled_from([0.5, 0.6, 0.75, 0.8, 0.9]),
    periods=st.integers(2, 6),
)
def test_sbg_exact_geometric_never_reports_a_fit(n0: int, keep: float, periods: int) -> None:
    """Exactly geometric survival (up to rounding that keeps retention flat or falling)."""
    counts = [n0 * 10**periods]
    for _ in range(periods):
        counts.append(round(counts[-1] * keep))
    r = np.array(counts[1:], float) / np.array(counts[:-1], float)
    if np.any(np.diff(r) > 0):  # rounding made retention rise: a (weak) sorting effect
        return
    with pytest.raises(FitError, match="not identified"):
        fit_sbg(counts)


def test_sbg_published_cohorts_still_fit() -> None:
    """Fader & Hardie (2007): regular 0.704, 1.182; high end 0.668, 3.806."""
    reg = fit_sbg(SBG_COHORTS["regular"])
    high = fit_sbg(SBG_COHORTS["high_end"])
    assert (round(reg.alpha, 3), round(reg.beta, 3)) == (0.704, 1.182)
    assert (round(high.alpha, 3), round(high.beta, 3)) == (0.668, 3.806)
    assert reg.converged and high.converged
    assert 0 < reg.alpha_se < 1 and 0 < high.beta_se < 2


def test_sbg_weak_sorting_effect_still_fits() -> None:
    """A small but real rise in retention has a finite maximum: a fit, not an error."""
    m = fit_sbg([1000, 800, 640, 512, 410])
    assert m.alpha > 1 and m.beta > m.alpha
    assert m.mean_churn == pytest.approx(0.2, abs=1e-3)


# --- NPS: se is the standard error of the interval's method ---------------------------


def test_nps_se_is_the_adjusted_one_by_default() -> None:
    r = nps([10, 9, 9, 8, 7, 6, 3, 10, 9, 5])
    pt, dt = 5.75 / 13, 3.75 / 13
    se = math.sqrt((pt + dt - (pt - dt) ** 2) / 13)
    assert r.method == "adjusted-wald"
    assert r.se == pytest.approx(se, rel=1e-12)
    assert r.low == pytest.approx(pt - dt - Z * r.se, rel=1e-12)
    assert r.high == pytest.approx(pt - dt + Z * r.se, rel=1e-12)
    assert r.score == pytest.approx(0.2)  # the score stays the raw p - d


def test_nps_wald_se_is_the_plain_one() -> None:
    w = nps([10, 9, 9, 8, 7, 6, 3, 10, 9, 5], method="wald")
    assert w.se == pytest.approx(math.sqrt(0.076), rel=1e-12)
    assert w.low == pytest.approx(0.2 - Z * w.se) and w.high == pytest.approx(0.2 + Z * w.se)


@settings(max_examples=40, deadline=None)
@given(
    pro=st.integers(0, 300),
    pas=st.integers(0, 300),
    det=st.integers(0, 300),
    method=st.sampled_from(["adjusted-wald", "wald"]),
)
def test_nps_interval_is_centre_plus_minus_z_se(pro: int, pas: int, det: int, method: str) -> None:
    if pro + pas + det == 0:
        return
    t = nps_counts([pro], [pas], [det], method=method)
    n = pro + pas + det
    k = 3.0 if method == "adjusted-wald" else 0.0
    p, d = (pro + k / 4) / (n + k), (det + k / 4) / (n + k)
    centre = p - d
    assert t.se[0] == pytest.approx(math.sqrt(max(p + d - centre**2, 0.0) / (n + k)), abs=1e-15)
    assert t.low[0] == pytest.approx(max(-1.0, centre - Z * t.se[0]), abs=1e-12)
    assert t.high[0] == pytest.approx(min(1.0, centre + Z * t.se[0]), abs=1e-12)


def test_nps_table_rows_and_comparison_use_the_same_se() -> None:
    scores = [10] * 40 + [8] * 30 + [2] * 30 + [10] * 55 + [8] * 25 + [2] * 20
    t = nps_by_group(scores, [1] * 100 + [2] * 100)
    a, b = t.row(0), t.row(1)
    assert a.se == nps(scores[:100]).se
    c = compare_nps(a, b)
    assert c.se[0] == pytest.approx(math.hypot(a.se, b.se), rel=1e-12)
    assert t.changes().se[0] == pytest.approx(c.se[0], rel=1e-12)
