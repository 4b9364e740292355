"""Shifted-beta-geometric retention: golden estimates, independent cross-checks, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from crmcore.datasets import SBG_COHORTS
from crmcore.errors import FitError, ValidationError
from crmcore.serialization import from_json, to_json
from crmcore.valuation import SBGModel, SBGParams, fit_sbg, sbg_log_likelihood


def _model(alpha: float, beta: float) -> SBGModel:
    return SBGModel(SBGParams(alpha, beta))


def test_regular_cohort_reproduces_published_estimates() -> None:
    """Fader & Hardie (2007), "How to project customer retention", J. Interactive Marketing
    21(1): the "regular" cohort (1000, 631, 468, 382, 326, 289, 262, 241) gives
    alpha = 0.704, beta = 1.182."""
    m = fit_sbg(SBG_COHORTS["regular"])
    assert round(m.alpha, 3) == 0.704
    assert round(m.beta, 3) == 1.182
    assert m.converged


def test_high_end_cohort_reproduces_published_estimates() -> None:
    """Fader & Hardie (2007): the "high end" cohort gives alpha = 0.668, beta = 3.806 (the
    same figures are asserted by the independent implementation jdmaturen/shifted_beta_geometric_py)."""
    m = fit_sbg(SBG_COHORTS["high_end"])
    assert round(m.alpha, 3) == 0.668
    assert round(m.beta, 3) == 3.806


def test_log_likelihood_at_alpha_beta_one_matches_independent_implementation() -> None:
    """jdmaturen/shifted_beta_geometric_py's test: LL(1, 1) on the high-end survival
    proportions is -2.115 per customer, i.e. -2115 for the cohort of 1000."""
    ll = sbg_log_likelihood(1.0, 1.0, SBG_COHORTS["high_end"])
    assert ll / 1000 == pytest.approx(-2.115, abs=1e-3)


def test_log_likelihood_matches_brute_force_probabilities() -> None:
    """Churn probabilities from the Beta mixture by numerical integration, not Beta functions."""
    a, b = 0.9, 2.3
    counts = [500, 300, 200, 150]

    def p_churn(t: int) -> float:
        f = lambda th: th * (1 - th) ** (t - 1) * stats.beta.pdf(th, a, b)  # noqa: E731
        return integrate.quad(f, 0, 1)[0]

    lost = -np.diff(counts)
    expected = sum(k * math.log(p_churn(t + 1)) for t, k in enumerate(lost))
    survive = 1 - sum(p_churn(t) for t in (1, 2, 3))
    expected += counts[-1] * math.log(survive)
    assert sbg_log_likelihood(a, b, counts) == pytest.approx(expected, rel=1e-6)


def test_fit_is_the_maximum() -> None:
    counts = SBG_COHORTS["regular"]
    m = fit_sbg(counts)
    best = sbg_log_likelihood(m.alpha, m.beta, counts)
    for da, db in [(0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01)]:
        assert sbg_log_likelihood(m.alpha + da, m.beta + db, counts) < best


def test_standard_errors_match_observed_information_in_natural_parameters() -> None:
    """SEs from a finite-difference Hessian in (alpha, beta) itself (the fit works in logs)."""
    counts = SBG_COHORTS["high_end"]
    m = fit_sbg(counts)
    h = 1e-4
    x = np.array([m.alpha, m.beta])

    def f(v: np.ndarray) -> float:
        return -sbg_log_likelihood(float(v[0]), float(v[1]), counts)

    hess = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h, np.eye(2)[j] * h
            hess[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * h * h
            )
    se = np.sqrt(np.diag(np.linalg.inv(hess)))
    assert m.alpha_se == pytest.approx(se[0], rel=1e-3)
    assert m.beta_se == pytest.approx(se[1], rel=1e-3)


def test_simulated_cohorts_recover_parameters_within_standard_errors() -> None:
    rng = np.random.default_rng(5)
    a, b = 1.2, 3.0
    theta = rng.beta(a, b, 20_000)
    life = rng.geometric(theta)  # churn period T >= 1
    counts = [int((life > t).sum()) for t in range(8)]
    m = fit_sbg(counts)
    assert abs(m.alpha - a) < 3 * m.alpha_se
    assert abs(m.beta - b) < 3 * m.beta_se


def test_survival_and_retention_from_the_mixture() -> None:
    """S(t) = E[(1 - theta)^t] by numerical integration; r(t) = S(t) / S(t - 1)."""
    m = _model(0.704, 1.182)
    for t in (1, 2, 5, 12):
        s = integrate.quad(lambda th, t=t: (1 - th) ** t * stats.beta.pdf(th, 0.704, 1.182), 0, 1)[
            0
        ]
        assert m.survival([t])[0] == pytest.approx(s, rel=1e-6)
    s = m.survival(np.arange(0, 13))
    assert np.allclose(m.retention(np.arange(1, 13)), s[1:] / s[:-1])


def test_discounted_residual_lifetime_against_brute_force_sum() -> None:
    """DERL(d | n-1 renewals) = sum_k E[(1-theta)^k | survived n-1] / (1+d)^(k-1), summed directly."""
    for a, b in [(0.704, 1.182), (0.668, 3.806), (3.0, 5.0)]:
        m = _model(a, b)
        for renewals in (0, 1, 4, 10):
            for d in (0.1, 0.25):
                s = m.survival(np.arange(renewals, renewals + 3000))
                k = np.arange(1, 3000)
                brute = float(np.sum(s[1:] / s[0] / (1 + d) ** (k - 1)))
                got = float(m.discounted_residual_lifetime([renewals], d)[0])
                assert got == pytest.approx(brute, rel=1e-6)


def test_derl_example_of_independent_implementation() -> None:
    """jdmaturen/shifted_beta_geometric_py README: for the high-end fit, d = 10% and a
    customer who has made 7 renewals, the residual cohort lifetime is 7.530."""
    m = fit_sbg(SBG_COHORTS["high_end"])
    assert float(m.discounted_residual_lifetime([7], 0.1)[0]) == pytest.approx(7.530, abs=2e-3)


def test_expected_residual_lifetime() -> None:
    m = _model(3.0, 5.0)
    s = m.survival(np.arange(2, 20_002))
    brute = float(np.sum(s[1:] / s[0]))
    assert m.expected_residual_lifetime([2])[0] == pytest.approx(brute, rel=1e-3)
    assert m.expected_residual_lifetime([2], horizon=4)[0] == pytest.approx(
        float(np.sum(s[1:5] / s[0]))
    )
    with pytest.raises(ValidationError, match="infinite when alpha <= 1"):
        _model(0.7, 1.2).expected_residual_lifetime([0])


def test_projection_of_regular_cohort_stays_near_observed() -> None:
    m = fit_sbg(SBG_COHORTS["regular"])
    proj = m.project(1000, 7)
    assert np.max(np.abs(proj - np.array(SBG_COHORTS["regular"]))) < 10


def test_multi_cohort_fit_shares_parameters() -> None:
    c = SBG_COHORTS["high_end"]
    one = fit_sbg(c)
    two = fit_sbg([list(c), list(c)])
    assert two.alpha == pytest.approx(one.alpha, rel=1e-4)
    assert two.log_likelihood == pytest.approx(2 * one.log_likelihood, rel=1e-6)
    mixed = fit_sbg([list(c), list(c[:4])])
    assert mixed.n_periods == 7 and mixed.n_customers == 2000


def test_model_round_trips_through_json() -> None:
    m = fit_sbg(SBG_COHORTS["regular"])
    assert from_json(SBGModel, to_json(m)) == m


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([1000, 1100, 900], "must not increase.*1100 at index 1"),
        ([1000, -1], "must be >= 0"),
        ([1000.5, 900], "whole numbers"),
        ([1000], "at least one later count"),
        ([0, 0], "positive cohort size"),
        ([1000, float("nan")], "NaN"),
    ],
)
def test_bad_counts_are_rejected(counts: list[float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        fit_sbg(counts)


def test_degenerate_cohorts_raise_fit_error() -> None:
    with pytest.raises(FitError, match="every customer in 'counts' survived"):
        fit_sbg([100, 100, 100])
    with pytest.raises(FitError):
        fit_sbg([100, 0, 0])


@settings(max_examples=40)
@given(
    st.floats(0.05, 20), st.floats(0.05, 20), st.lists(st.integers(0, 200), min_size=1, max_size=30)
)
def test_survival_decreases_and_retention_rises(a: float, b: float, ts: list[int]) -> None:
    m = _model(a, b)
    t = np.array(sorted(set(ts)))
    s = m.survival(t)
    assert np.all(np.diff(s) <= 1e-15) and np.all((s > 0) & (s <= 1))
    r = m.retention(t + 1)
    assert np.all(np.diff(r) >= -1e-15) and np.all((r > 0) & (r < 1))
    assert float(m.discounted_residual_lifetime([0], 0.1)[0]) <= 11.0  # <= 1 / (1 - 1/1.1)
