"""The engine's trust-region Newton method (issue 13, fit costs): few evaluations, the
maximum to 1e-8 relative, the log-likelihood reported at the estimate itself, and the
hand-over to the polish where the convergence is not quadratic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.fitting import maximum_likelihood

Array = np.ndarray[Any, np.dtype[Any]]


def _gamma_sample(shape: float, rate: float, n: int, seed: int) -> Array:
    return np.random.default_rng(seed).gamma(shape, 1.0 / rate, n)


def _gamma_loglik(z: Array):  # type: ignore[no-untyped-def]
    """Gamma(k, rate) log-likelihood of z with its gradient and Hessian (an independent
    closed form; the maximum of its profile is checked against scipy below)."""
    from scipy.special import digamma, gammaln, polygamma

    n, s, sl = len(z), float(z.sum()), float(np.log(z).sum())
    calls = {"newton": 0}

    def value(th: Array) -> tuple[float, Array]:
        k, lam = th
        ll = n * k * np.log(lam) - n * gammaln(k) + (k - 1) * sl - lam * s
        return float(ll), np.array([n * np.log(lam) - n * digamma(k) + sl, n * k / lam - s])

    def newton(th: Array) -> tuple[float, Array, Array]:
        calls["newton"] += 1
        k, lam = th
        ll, g = value(th)
        H = np.array([[-n * float(polygamma(1, k)), n / lam], [n / lam, -n * k / lam**2]])
        return ll, g, H

    return value, newton, calls


@settings(max_examples=15, deadline=None)
@given(
    shape=st.floats(0.3, 20.0),
    rate=st.floats(0.01, 100.0),
    n=st.integers(30, 400),
    seed=st.integers(0, 2**31),
)
def test_the_estimate_is_scipy_s_maximum_to_1e_8(
    shape: float, rate: float, n: int, seed: int
) -> None:
    """Against scipy.stats.gamma.fit (its own optimiser, location fixed at 0), and the
    reported log-likelihood is the one of the estimate itself."""
    from scipy import optimize, special, stats

    z = _gamma_sample(shape, rate, n, seed)
    value, newton, calls = _gamma_loglik(z)
    fit = maximum_likelihood(
        value, [1.0, 1.0 / float(z.mean())], model="gamma", names=["k", "rate"], n=n,
        newton=newton,
    )  # fmt: skip
    k, lam = fit.estimates
    # the profile in k: rate = k / mean, and log k - digamma(k) = log mean - mean log
    c = float(np.log(z.mean()) - np.log(z).mean())
    k_ref = optimize.brentq(lambda t: np.log(t) - special.digamma(t) - c, 1e-8, 1e8, xtol=1e-14)
    assert k == pytest.approx(k_ref, rel=1e-8)
    assert lam == pytest.approx(k_ref / float(z.mean()), rel=1e-8)
    ref = float(np.sum(stats.gamma.logpdf(z, k, scale=1.0 / lam)))
    assert fit.log_likelihood == pytest.approx(ref, rel=1e-12)
    assert calls["newton"] <= 25


def test_a_penalised_fit_reports_the_unpenalised_log_likelihood_of_its_estimate() -> None:
    z = _gamma_sample(2.0, 0.5, 200, 7)
    value, newton, _ = _gamma_loglik(z)
    fit = maximum_likelihood(
        value, [1.0, 1.0], model="gamma", names=["k", "rate"], n=200, newton=newton,
        penalizer=0.05,
    )  # fmt: skip
    assert fit.log_likelihood == pytest.approx(value(np.array(fit.estimates))[0], rel=1e-13)


def test_a_flat_maximum_hands_over_to_the_polish() -> None:
    """log L = -(log theta - log 3)**4: a singular Hessian at the maximum, so Newton
    converges only linearly; the fit still ends at theta = 3 (to the flatness allowed)."""

    def newton(th: Array) -> tuple[float, Array, Array]:
        d = float(np.log(th[0]) - np.log(3.0))
        g_u, h_u = -4 * d**3, -12 * d**2
        g = g_u / th[0]
        h = (h_u - g_u) / th[0] ** 2
        return -(d**4), np.array([g]), np.array([[h]])

    fit = maximum_likelihood(
        lambda th: newton(th)[:2], [20.0], model="flat", names=["theta"], n=1, newton=newton
    )
    assert fit.converged and fit.estimates[0] == pytest.approx(3.0, rel=1e-2)
