"""Pareto/NBD predictions at every parameter value against an independent mpmath evaluator.

The prediction paths (the reduced-form quadrature of ``_pareto_math`` and its alternating
series where alpha ~ beta) are checked against ``pareto_reference`` (30-digit tanh-sinh
quadrature of the definitions; nothing shared with crmcore): the integral, P(alive), the
conditional and new-customer count distributions and the moments behind the covariate
gradient, in the regimes alpha << beta, alpha >> beta, alpha = beta, alpha ~ beta, on
daily-grid histories, short intervals, thousands of purchases, integer r and s, and at
random extreme points. Tolerances are relative, scaled by the conditioning of the
problem in float64 (an exponent p read to 1 ulp moves (1 + u)^-p by p ulp).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.special import gammaln

sys.path.insert(0, str(Path(__file__).parent))
import pareto_reference as ref
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.valuation import ParetoNBDModel, ParetoNBDParams, simulate_pareto_nbd
from crmcore.valuation.btyd._design import FitData
from crmcore.valuation.btyd._pareto_loglik import ParetoRows, loglik
from crmcore.valuation.btyd._pareto_math import (
    log_concave_integral,
    log_integral_hessian,
    log_power_integral,
)
from crmcore.valuation.btyd.pareto_nbd import _log_parts

EPS = 2.2e-16


def _rows(*cols: np.ndarray) -> ParetoRows:
    x, tx, T, zp, zd, w = cols
    return ParetoRows.build(FitData.build(x, tx, T, w, zp, zd))


def loglik_and_gradient(theta: np.ndarray, *cols: np.ndarray) -> tuple[float, np.ndarray]:
    """The fits' one likelihood, value and gradient (the moments of the quadrature)."""
    ll, g, _ = loglik(theta, _rows(*cols), hessian=False)
    return ll, g


def loglik_grad_hess(theta: np.ndarray, *cols: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The fits' one likelihood with its Hessian (the Newton steps)."""
    return loglik(theta, _rows(*cols))


def _cond(p: float, q: float, alpha: float, beta: float, lo: float, hi: float) -> float:
    """Rounding scale of ln I: ulps times (1 + |ln I| + (p + q) ln((m + hi) / (m + lo)))."""
    m = min(alpha, beta)
    width = np.log1p((hi - lo) / (m + lo))
    return EPS * (1.0 + (p + q) * (1.0 + min(width, 50.0)))


CASES = [
    # p, q, alpha, beta, lo, hi
    (0.55, 1.6, 10.0, 1000.0, 0.0, 730.0),  # alpha << beta, x = 0 (peak inside)
    (3.55, 1.6, 10.0, 1000.0, 200.0, 500.0),
    (57.55, 1.6, 10.0, 1000.0, 700.0, 729.0),
    (0.55, 1.6, 1000.0, 10.0, 0.0, 730.0),  # alpha >> beta
    (50.55, 1.6, 1000.0, 10.0, 300.0, 700.0),
    (1.55, 1.6, 100.0, 100.0, 5.0, 640.0),  # alpha = beta
    (2.55, 1.6, 100.0, 100.0 * (1 + 1e-9), 5.0, 640.0),  # alpha ~ beta
    (2.55, 1.6, 100.0, 120.0, 0.0, 640.0),
    (2.55, 1.6, 100.0, 120.0, 10.0, 500.0),  # the alternating series, ratio 0.29
    (0.55, 1.6, 100.0, 124.9, 0.0, 600.0),  # ... at its limit, ratio 0.4
    (0.55, 2.6, 100.0, 101.5, 0.0, 1e-3),  # ... with a tiny interval
    (1.3, 0.7, 100.0, 100.01, 0.0, 5000.0),  # q < 1 (the repurchase integral), close scales
    (12.55, 1.6, 10.58, 11.67, 30.43, 38.86),  # CDNOW-like
    (5000.5, 1.6, 1e-3, 1e5, 1.0, 730.0),  # thousands of purchases, far-apart scales
    (0.55, 5000.5, 1e5, 1e-3, 1.0, 730.0),
    (3516.08, 0.0026, 30499.1, 1.54e-6, 0.0, 423.27),  # a steep, doubly exponential fall
    (2.0, 2.0, 3.0, 7.0, 100.0, 100.0 + 1e-9),  # a tiny interval
    (1.0, 2.0, 1.0, 50.0, 0.0, 40.0),  # integer exponents
    (0.02, 1.001, 1e-6, 1e6, 0.0, 1e4),  # nearly flat, very long in ln(m + τ)
]


@pytest.mark.parametrize("case", CASES)
def test_power_integral_matches_mpmath(case: tuple[float, ...]) -> None:
    got = float(log_power_integral(*(np.array([v]) for v in case))[0])
    want = float(ref.log_integral(*case))
    assert abs(got - want) <= 8 * _cond(*case) * max(1.0, abs(want)), (got, want)


@settings(max_examples=20, deadline=None)
@given(
    st.floats(-3, 4),  # log10 p
    st.floats(-3, 2),  # log10 q
    st.floats(-5, 7),  # log10 alpha
    st.floats(-5, 7),  # log10 beta
    st.one_of(st.just(0.0), st.floats(1e-4, 1e5)),
    st.floats(-9, 6),  # log10 width
)
def test_power_integral_matches_mpmath_at_random_points(
    lp: float, lq: float, la: float, lb: float, lo: float, lw: float
) -> None:
    p, q = 10**lp, 10**lq
    if p + q < 1.01:
        q += 1.0
    case = (p, q, 10**la, 10**lb, lo, lo + 10**lw)
    if case[5] <= case[4]:
        return
    got = float(log_power_integral(*(np.array([v]) for v in case))[0])
    want = float(ref.log_integral(*case))
    assert abs(got - want) <= 8 * _cond(*case) * max(1.0, abs(want)), (case, got, want)


def _grid(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily-grid histories over two years (ages 1..730 days, whole-day recencies)."""
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 731, n).astype(float)
    x, tx, T = simulate_pareto_nbd(ParetoNBDParams(0.55, 100.0, 0.6, 300.0), T, seed=seed)
    tx = np.where(x > 0, np.clip(np.ceil(tx), 1.0, T), 0.0)
    return x, tx, T


@pytest.mark.parametrize(
    ("alpha", "beta"), [(10.0, 1000.0), (1000.0, 10.0), (100.0, 100.0), (100.0, 120.0)]
)
def test_probability_alive_on_a_daily_grid_matches_mpmath(alpha: float, beta: float) -> None:
    x, tx, T = _grid(4000, 7)
    pick = np.r_[np.argsort(x)[-6:], np.flatnonzero(x == 0)[:3], np.flatnonzero(tx == T)[:2], 0:8]
    m = ParetoNBDModel(ParetoNBDParams(0.55, alpha, 0.6, beta))
    got = m.probability_alive(x[pick], tx[pick], T[pick])
    for g, xi, ti, Ti in zip(got, x[pick], tx[pick], T[pick], strict=True):
        want = float(ref.probability_alive(0.55, alpha, 0.6, beta, xi, ti, Ti))
        assert g == pytest.approx(want, rel=1e-12 * (1 + xi / 10), abs=1e-300), (xi, ti, Ti)


@pytest.mark.parametrize(
    "params",
    [
        (1.0, 10.0, 1.0, 1000.0),  # integer r and s
        (2.0, 3.0, 1.5, 0.5),
        (0.05, 1e-3, 20.0, 1e4),
        (30.0, 1e4, 0.05, 1e-3),
    ],
)
def test_probability_alive_at_extreme_parameters_matches_mpmath(
    params: tuple[float, float, float, float],
) -> None:
    r, alpha, s, beta = params
    m = ParetoNBDModel(ParetoNBDParams(*params))
    x = np.array([0.0, 1.0, 4.0, 40.0, 3000.0])
    tx = np.array([0.0, 0.5, 20.0, 39.0, 4000.0])
    T = np.array([50.0, 35.0, 38.0, 40.0, 5000.0])
    got = m.probability_alive(x, tx, T)
    for g, xi, ti, Ti in zip(got, x, tx, T, strict=True):
        want = float(ref.probability_alive(r, alpha, s, beta, xi, ti, Ti))
        assert g == pytest.approx(want, rel=1e-12 * (1 + xi / 10), abs=1e-300), (xi, ti, Ti)


CDNOW = (0.5534, 10.5802, 0.6061, 11.6562)


@pytest.mark.parametrize("params", [CDNOW, (0.55, 10.0, 0.6, 1000.0), (0.55, 1000.0, 0.6, 10.0)])
def test_conditional_probability_of_purchases_matches_mpmath(
    params: tuple[float, float, float, float],
) -> None:
    m = ParetoNBDModel(ParetoNBDParams(*params))
    for n, t, x, tx, T in [(0, 39.0, 2, 30.43, 38.86), (1, 39.0, 2, 30.43, 38.86),
                           (3, 100.0, 12, 300.0, 700.0), (0, 5.0, 0, 0.0, 730.0),
                           (25, 365.0, 40, 700.0, 720.0)]:  # fmt: skip
        got = float(m.conditional_probability_of_purchases(n, t, x, tx, T)[0])
        want = float(ref.conditional_probability_of_purchases(n, t, *params, x, tx, T))
        assert got == pytest.approx(want, rel=1e-11), (n, t, x, tx, T)


@pytest.mark.parametrize("params", [CDNOW, (1.0, 1e-3, 1.0, 1e4), (40.0, 1e4, 0.02, 1e-2)])
def test_new_customer_probability_of_purchases_matches_mpmath(
    params: tuple[float, float, float, float],
) -> None:
    m = ParetoNBDModel(ParetoNBDParams(*params))
    for n, t in [(0, 39.0), (2, 39.0), (7, 1000.0), (0, 1e-6)]:
        got = float(m.probability_of_purchases(n, t)[0])
        want = float(ref.probability_of_purchases(n, t, *params))
        assert got == pytest.approx(want, rel=1e-11), (n, t)


def test_count_distribution_sums_to_one_and_has_the_conditional_mean() -> None:
    """Identities between two formulas that share nothing but the model: Σ_n P(n) = 1 and
    Σ_n n P(n) = the conditional expectation (closed form)."""
    for params in (CDNOW, (0.55, 10.0, 0.6, 1000.0), (0.55, 1000.0, 0.6, 10.0)):
        m = ParetoNBDModel(ParetoNBDParams(*params))
        n = np.arange(2000.0)
        for x, tx, T in [(0, 0.0, 30.0), (5, 200.0, 700.0), (30, 600.0, 700.0)]:
            pmf = m.conditional_probability_of_purchases(n, 120.0, x, tx, T)
            assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
            mean = float(m.conditional_expected_purchases(120.0, x, tx, T)[0])
            assert float(pmf @ n) == pytest.approx(mean, rel=1e-10)


def test_conditional_count_distribution_matches_a_simulation() -> None:
    """Simulated futures of customers drawn from the posterior of one history."""
    r, alpha, s, beta = 0.55, 10.0, 0.6, 1000.0
    x, tx, T, t = 3, 200.0, 500.0, 150.0
    m = ParetoNBDModel(ParetoNBDParams(r, alpha, s, beta))
    rng = np.random.default_rng(11)
    k = 400_000
    alive = rng.random(k) < float(m.probability_alive(x, tx, T)[0])
    lam = rng.gamma(r + x, 1.0 / (alpha + T), k)
    mu = rng.gamma(s, 1.0 / (beta + T), k)
    life = np.minimum(rng.exponential(1.0 / mu), t)
    counts = np.where(alive, rng.poisson(lam * life), 0)
    got = m.conditional_probability_of_purchases(np.arange(4), t, x, tx, T)
    freq = np.bincount(counts, minlength=4)[:4] / k
    se = np.sqrt(got * (1 - got) / k)
    assert np.all(np.abs(freq - got) <= 4 * se), (freq, got)


@pytest.mark.parametrize("case", CASES[:12])
def test_integral_moments_are_the_gradient_of_the_reference(case: tuple[float, ...]) -> None:
    """The gradient of ln I in (p, q, ln alpha, ln beta) by the reduced-form quadrature (the
    likelihood's rows and ends the series does not take) against central differences of
    the mpmath integral in log-parameters (steps 1e-4: truncation ~1e-9; the reference's
    own error, ~1e-14 of ln I, sets the absolute tolerance)."""
    log_i, grad, _ = log_integral_hessian(*(np.array([v]) for v in case))
    want = float(ref.log_integral(*case))
    assert float(log_i[0]) == pytest.approx(want, rel=1e-12, abs=1e-12)
    h = 1e-4
    for j in range(4):
        up, dn = list(case), list(case)
        up[j] *= np.exp(h)
        dn[j] *= np.exp(-h)
        fd = float(ref.log_integral(*up) - ref.log_integral(*dn)) / (2 * h)
        got = float(grad[j, 0]) * (case[j] if j < 2 else 1.0)
        assert got == pytest.approx(fd, rel=1e-6, abs=1e-9 * (1 + abs(want)) / h), j


def test_log_concave_integral_of_a_pure_exponential_is_exact() -> None:
    """alpha = beta: the integrand is e^-Mη, ∫_0^W = (1 − e^-MW) / M, whatever M and W."""
    M = np.array([1e-6, 0.5, 3.0, 700.0, 5e4])
    W = np.array([1e-9, 2.0, 40.0, 0.01, 1.0])
    one = np.ones_like(M)
    got = log_concave_integral(W, 1.0 - M, [(one, one, 0.0 * one, 1.0)])
    np.testing.assert_allclose(got, np.log(-np.expm1(-M * W) / M), rtol=1e-14)


def test_covariate_log_likelihood_and_gradient_match_mpmath() -> None:
    """loglik_and_gradient (the analytic gradient of the covariate fit) against the mpmath
    log-likelihood with alpha_i = alpha e^(-z_p γ_p), beta_i = beta e^(-z_d γ_d) and its
    central differences in every parameter (steps 1e-5: truncation ~1e-10)."""
    rng = np.random.default_rng(3)
    x, tx, T = _grid(40, 5)
    pick = np.r_[np.argsort(x)[-3:], 0:4]
    x, tx, T = x[pick], tx[pick], T[pick]
    zp = rng.normal(size=(len(x), 1))
    zd = np.column_stack([rng.normal(size=len(x)), rng.random(len(x)) < 0.4]).astype(float)
    w = rng.integers(1, 4, len(x)).astype(float)
    theta = np.array([0.6, 80.0, 0.7, 250.0, 0.3, -0.2, 0.4])
    ll, grad = loglik_and_gradient(theta, x, tx, T, zp, zd, w)

    def total(th: np.ndarray) -> float:
        al = th[1] * np.exp(-zp @ th[4:5])
        be = th[3] * np.exp(-zd @ th[5:])
        rows = [
            wi * ref.log_likelihood(th[0], a, th[2], b, xi, ti, Ti)
            for wi, a, b, xi, ti, Ti in zip(w, al, be, x, tx, T, strict=True)
        ]
        return float(sum(rows))

    assert ll == pytest.approx(total(theta), rel=1e-12)
    for j in range(len(theta)):
        h = 1e-5 * max(1.0, abs(theta[j]))
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        fd = (total(up) - total(dn)) / (2 * h)
        assert grad[j] == pytest.approx(fd, rel=1e-7, abs=1e-8), j


def test_covariate_log_likelihood_on_many_rows_matches_the_quadrature() -> None:
    """The series per row with each row's alpha_i, beta_i (both cases, ends over every block
    of z and beyond 0.92, where the series hands over to quadrature) against the reduced-form
    quadrature of the predictions row by row (log_power_integral, another method), and the
    gradient against its central differences."""
    rng = np.random.default_rng(8)
    x, tx, T = _grid(3000, 6)
    zp = 1.5 * rng.normal(size=(len(x), 1))
    zd = 1.5 * rng.normal(size=(len(x), 1))
    w = rng.integers(1, 3, len(x)).astype(float)
    theta = np.array([0.6, 100.0, 0.7, 150.0, 0.8, -0.9])

    def total(th: np.ndarray) -> float:
        r, s = th[0], th[2]
        al = th[1] * np.exp(-zp[:, 0] * th[4])
        be = th[3] * np.exp(-zd[:, 0] * th[5])
        _, bracket = _log_parts(r, al, s, be, x, tx, T)
        rows = gammaln(r + x) - gammaln(r) + r * np.log(al) + s * np.log(be) + bracket
        return float(w @ rows)

    al = theta[1] * np.exp(-zp[:, 0] * theta[4])
    be = theta[3] * np.exp(-zd[:, 0] * theta[5])
    z0 = np.abs(al - be) / np.maximum(al, be)  # z at t_x = 0
    assert (al > be).any() and (al < be).any() and (z0 > 0.92).any() and (z0 < 0.1).any()
    ll, grad = loglik_and_gradient(theta, x, tx, T, zp, zd, w)
    assert ll == pytest.approx(total(theta), rel=1e-12)
    for j in range(len(theta)):
        h = 1e-5 * max(1.0, abs(theta[j]))
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        fd = (total(up) - total(dn)) / (2 * h)
        assert grad[j] == pytest.approx(fd, rel=1e-6, abs=1e-5), j


@pytest.mark.parametrize(
    "theta",
    [
        [0.6, 80.0, 0.7, 250.0, 0.3, -0.2, 0.4],
        [2.0, 5.0, 0.2, 3000.0, -0.3, 0.5, -1.0],  # alpha << beta
        [0.6, 1000.0, 0.7, 10.0, 0.3, -0.2, 0.4],  # alpha >> beta
    ],
)
def test_covariate_hessian_is_the_derivative_of_the_gradient(theta: list[float]) -> None:
    """loglik_grad_hess (the Newton steps of the covariate fit): value and gradient equal to
    loglik_and_gradient's (checked against mpmath above), Hessian symmetric and equal to
    central differences of that gradient (steps 1e-6: agreement to ~1e-7)."""
    rng = np.random.default_rng(3)
    x, tx, T = _grid(300, 4)
    zp = rng.normal(size=(len(x), 1))
    zd = np.column_stack([rng.normal(size=len(x)), rng.random(len(x)) < 0.3]).astype(float)
    w = rng.integers(1, 3, len(x)).astype(float)
    th = np.array(theta)
    ll, g, H = loglik_grad_hess(th, x, tx, T, zp, zd, w)
    ll2, g2 = loglik_and_gradient(th, x, tx, T, zp, zd, w)
    assert ll == pytest.approx(ll2, rel=1e-14)
    np.testing.assert_allclose(g, g2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-9)
    fd = np.empty_like(H)
    for j in range(len(th)):
        h = 1e-6 * max(1.0, abs(th[j]))
        up, dn = th.copy(), th.copy()
        up[j] += h
        dn[j] -= h
        fd[:, j] = (
            loglik_and_gradient(up, x, tx, T, zp, zd, w)[1]
            - loglik_and_gradient(dn, x, tx, T, zp, zd, w)[1]
        ) / (2 * h)
    np.testing.assert_allclose(H, fd, rtol=2e-6, atol=1e-6 * np.abs(H).max())


@pytest.mark.parametrize(("alpha", "beta"), [(10.0, 1000.0), (1000.0, 10.0), (100.0, 150.0)])
def test_customers_without_repeat_purchases_computed_once_per_age(
    alpha: float, beta: float
) -> None:
    """Many customers with x = t_x = 0 are scored once per distinct T (whole-day ages by
    counting, other ages by sorting): the same P(alive) as customer by customer."""
    x, tx, T = _grid(3000, 9)
    T2 = T + 0.25 * (np.arange(len(T)) % 3)  # ages off the whole-day grid
    m = ParetoNBDModel(ParetoNBDParams(0.55, alpha, 0.6, beta))
    for ages in (T, T2):
        together = m.probability_alive(x, tx, ages)
        one_by_one = np.concatenate(
            [
                m.probability_alive(x[i : i + 50], tx[i : i + 50], ages[i : i + 50])
                for i in range(0, len(x), 50)
            ]
        )
        np.testing.assert_array_equal(together, one_by_one)


def test_lifetimes_parity_on_every_cdnow_customer() -> None:
    """P(alive), the conditional expectation and the conditional P(X = n) equal lifetimes
    0.11.3's (an independent implementation, where installed) to 1e-12 relative on all
    2,357 CDNOW customers at crmcore's estimates (its hyp2f1 is accurate there)."""
    lifetimes = pytest.importorskip("lifetimes")
    pd = pytest.importorskip("pandas")
    from crmcore.datasets import load_cdnow_summary

    s = load_cdnow_summary()
    x, tx, T = s["x"], s["t_x"], s["T"]
    m = ParetoNBDModel(ParetoNBDParams(0.5534, 10.5776, 0.6062, 11.668))
    theirs = lifetimes.ParetoNBDFitter()
    p = m.params
    theirs.params_ = pd.Series({"r": p.r, "alpha": p.alpha, "s": p.s, "beta": p.beta})
    np.testing.assert_allclose(
        m.probability_alive(x, tx, T), theirs.conditional_probability_alive(x, tx, T), rtol=1e-12
    )
    np.testing.assert_allclose(
        m.conditional_expected_purchases(39.0, x, tx, T),
        theirs.conditional_expected_number_of_purchases_up_to_time(39.0, x, tx, T),
        rtol=1e-12,
    )
    pick = np.r_[0:40, 2300:2357]
    for n in (0, 1, 3):
        want = [
            float(
                np.ravel(theirs.conditional_probability_of_n_purchases_up_to_time(n, 39.0, *h))[0]
            )
            for h in zip(x[pick], tx[pick], T[pick], strict=True)
        ]
        got = m.conditional_probability_of_purchases(n, 39.0, x[pick], tx[pick], T[pick])
        np.testing.assert_allclose(got, want, rtol=1e-11)
