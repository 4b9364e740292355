"""The analytic Pareto/NBD log-likelihood, gradient and Hessian used by the Newton fit.

The value is checked against an independent evaluation of the likelihood (the
hypergeometric series / quadrature of ``log_power_integral``, and adaptive
quadrature row by row); the gradient against central differences of that
independent log-likelihood; the Hessian against central differences of the
gradient and, in one case, second differences of the independent log-likelihood.
Cases cover α < β, α > β, α = β (and 1e-9 apart), lopsided α and β (the ends
split between quadrature and series), intervals too short for the series
difference, and frequencies and ages in the thousands.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gammaln

from crmcore.valuation.btyd._design import FitData
from crmcore.valuation.btyd._pareto_loglik import ParetoRows, loglik
from crmcore.valuation.btyd.pareto_nbd import _log_parts

sys.path.insert(0, str(Path(__file__).parent))
from pareto_reference import adaptive_log_integral as _quad_one


class ParetoData:
    """The rows of a plain fit (no covariate column: the series path of the one likelihood)."""

    @staticmethod
    def build(x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> ParetoRows:
        none = np.zeros((len(x), 0))
        return ParetoRows.build(FitData.build(x, tx, T, w, none, none))


def loglik_grad_hess(theta: np.ndarray, data: ParetoRows) -> tuple[float, np.ndarray, np.ndarray]:
    return loglik(theta, data)


def _data(
    seed: int, n: int, x_max: int, t_max: float, short: bool = False
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    T = rng.uniform(0.5, t_max, n)
    x = rng.integers(0, x_max + 1, n).astype(float)
    x[: n // 4] = 0
    tx = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    tx[-2] = T[-2]  # last purchase at the end of observation: I = 0
    x[-2] = max(x[-2], 1.0)
    if short:  # intervals too short for F(t_x) - F(T): integrated directly
        tx[n // 4 : n // 2] = T[n // 4 : n // 2] - 1e-7
        x[n // 4 : n // 2] = np.maximum(x[n // 4 : n // 2], 1)
    w = rng.integers(1, 4, n).astype(float)
    return x, tx, T, w


def _ref_ll(
    theta: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
) -> float:
    r, a, s, b = theta
    _, bracket = _log_parts(r, a, s, b, x, tx, T)
    return float(w @ (gammaln(r + x) - gammaln(r) + r * np.log(a) + s * np.log(b) + bracket))


def _check(theta: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> None:
    data = ParetoData.build(x, tx, T, w)
    ll, g, H = loglik_grad_hess(theta, data)
    ref = _ref_ll(theta, x, tx, T, w)
    assert np.isfinite(ll) and np.isfinite(g).all() and np.isfinite(H).all()
    assert ll == pytest.approx(ref, rel=1e-11, abs=1e-8)
    # gradient: central differences of the independent log-likelihood, in log-parameters
    h = 1e-6
    fd = np.empty(4)
    fd_h = np.empty((4, 4))
    for j in range(4):
        up, dn = theta.copy(), theta.copy()
        up[j] *= np.exp(h)
        dn[j] *= np.exp(-h)
        fd[j] = (_ref_ll(up, x, tx, T, w) - _ref_ll(dn, x, tx, T, w)) / (2 * h)
        fd_h[:, j] = (loglik_grad_hess(up, data)[1] * up - loglik_grad_hess(dn, data)[1] * dn) / (
            2 * h
        )
    scale = 1e-6 * (abs(ll) + 1)
    np.testing.assert_allclose(g * theta, fd, rtol=1e-6, atol=scale)
    # Hessian in log-parameters: theta_i theta_j H_ij + delta_ij theta_i g_i
    Hu = theta[:, None] * H * theta[None, :] + np.diag(g * theta)
    np.testing.assert_allclose(Hu, (fd_h + fd_h.T) / 2, rtol=1e-5, atol=scale)
    np.testing.assert_array_equal(H, H.T)


@pytest.mark.parametrize(
    "theta",
    [
        [0.5534, 10.58, 0.6061, 11.656],  # CDNOW: alpha < beta
        [0.5, 20.0, 0.7, 5.0],  # alpha > beta
        [0.8, 7.0, 1.3, 7.0],  # alpha = beta
        [0.8, 7.0, 1.3, 7.0 + 1e-9],
        [0.5, 1.0, 0.7, 30.0],  # lopsided: z > 0.92 near t = 0, split at z = 0.92
        [0.5, 40.0, 0.7, 1.5],
        [3.0, 0.5, 0.2, 25.0],
        [0.05, 200.0, 4.0, 0.3],
    ],
)
def test_derivatives_match_finite_differences(theta: list[float]) -> None:
    _check(np.array(theta), *_data(1, 40, 30, 60.0))


def test_derivatives_for_short_intervals() -> None:
    _check(np.array([0.6, 8.0, 0.9, 14.0]), *_data(2, 40, 20, 50.0, short=True))
    _check(np.array([0.6, 1.0, 0.9, 40.0]), *_data(3, 40, 20, 50.0, short=True))


@settings(max_examples=25, deadline=None)
@given(
    st.tuples(
        st.floats(-3, 1.5), st.floats(-2, 5), st.floats(-3, 1.5), st.floats(-2, 5)
    ),  # log parameters
    st.integers(0, 10_000),
    st.sampled_from([(5, 10.0), (40, 80.0), (3000, 5000.0)]),
)
def test_derivatives_match_finite_differences_at_random_points(
    log_theta: tuple[float, float, float, float], seed: int, scale: tuple[int, float]
) -> None:
    _check(np.exp(np.array(log_theta)), *_data(seed, 25, *scale))


def test_hessian_matches_second_differences_of_independent_loglik() -> None:
    x, tx, T, w = _data(4, 40, 30, 60.0)
    theta = np.array([0.7, 9.0, 0.5, 14.0])
    H = loglik_grad_hess(theta, ParetoData.build(x, tx, T, w))[2]
    h = 1e-3 * theta
    ref = np.empty((4, 4))
    for i in range(4):
        for j in range(4):
            vals = []
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                t = theta.copy()
                t[i] += si * h[i]
                t[j] += sj * h[j]
                vals.append(_ref_ll(t, x, tx, T, w))
            ref[i, j] = (vals[0] - vals[1] - vals[2] + vals[3]) / (4 * h[i] * h[j])
    np.testing.assert_allclose(H, ref, rtol=1e-4, atol=1e-4 * np.abs(H).max())


def test_value_matches_adaptive_quadrature_row_by_row() -> None:
    x = np.array([0.0, 1.0, 4.0, 30.0, 2500.0])
    tx = np.array([0.0, 3.0, 20.0, 39.5, 3000.0])
    T = np.array([30.0, 35.0, 38.0, 40.0, 4000.0])
    w = np.ones(5)
    for r, a, s, b in ([0.55, 10.6, 0.6, 11.7], [1.2, 2.0, 0.4, 50.0], [0.3, 60.0, 1.5, 4.0]):
        ll = loglik_grad_hess(np.array([r, a, s, b]), ParetoData.build(x, tx, T, w))[0]
        rows = [
            np.logaddexp(
                -(r + xi) * np.log(a + Ti) - s * np.log(b + Ti),
                np.log(s) + _quad_one(r + xi, s + 1, a, b, ti, Ti),
            )
            for xi, ti, Ti in zip(x, tx, T, strict=True)
        ]
        ref = float(np.sum(gammaln(r + x) - gammaln(r) + r * np.log(a) + s * np.log(b) + rows))
        assert ll == pytest.approx(ref, rel=1e-10)
