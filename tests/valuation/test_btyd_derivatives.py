"""The analytic gradients and Hessians that drive the Newton fits, against finite differences.

The fits converge where the analytic gradient vanishes and report standard errors from the
analytic Hessian, so both are checked against central differences of the log-likelihood
(whose value is checked against the published estimates and lifetimes elsewhere), at random
parameters and on data simulated from each model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.valuation import (
    BGBBParams,
    BGNBDParams,
    GammaGammaParams,
    simulate_bgbb,
    simulate_bgnbd,
    simulate_gamma_gamma,
)
from crmcore.valuation.btyd import _bgbb_math, _bgnbd_loglik, gamma_gamma
from crmcore.valuation.btyd._common import blocks, map_rft
from crmcore.valuation.btyd._design import FitData

Derivs = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]


def _differences(f: Derivs, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences: the gradient from the values, the Hessian from the gradients."""
    k = len(theta)
    g, H = np.empty(k), np.empty((k, k))
    for j in range(k):
        h = 1e-6 * theta[j]
        e = np.zeros(k)
        e[j] = h
        lp, gp, _ = f(theta + e)
        lm, gm, _ = f(theta - e)
        g[j] = (lp - lm) / (2 * h)
        H[:, j] = (gp - gm) / (2 * h)
    return g, H


def _assert_close(f: Derivs, theta: np.ndarray) -> None:
    ll, g, H = f(theta)
    g_num, H_num = _differences(f, theta)
    # relative to the scale of each row: entries near 0 are compared against their neighbours,
    # and never below the round-off of a central difference of the log-likelihood itself
    # (machine epsilon * |ll| / h, times a safety factor of 100)
    roundoff = 100 * np.finfo(float).eps * abs(ll) / (1e-6 * theta)
    g_scale = np.maximum(np.abs(g_num), 1e-3 * np.abs(g_num).max() + 1e-8 + 1e4 * roundoff)
    np.testing.assert_array_less(np.abs(g - g_num) / g_scale, 1e-4)
    H_scale = np.maximum(np.abs(H_num), 1e-6 * np.abs(H_num).max())
    np.testing.assert_array_less(np.abs(H - H_num) / H_scale, 1e-4)
    np.testing.assert_array_equal(H, H.T)


positive = st.floats(-1.5, 1.5).map(lambda v: float(np.exp(v)))


@settings(max_examples=25, deadline=None)
@given(
    st.tuples(positive, positive, positive, positive), st.sampled_from([0, 1]), st.integers(0, 99)
)
def test_bgnbd_family_derivatives(theta: tuple[float, ...], shift: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    T = np.round(rng.uniform(5, 80, 400) * 7) / 7
    x, tx, TT = simulate_bgnbd(BGNBDParams(0.5, 5.0, 0.8, 2.5), T, seed=seed)
    w = rng.integers(1, 4, len(x)).astype(float)
    th = np.array(theta) * np.array([1.0, 8.0, 1.0, 2.0])
    rows = _bg_rows(x, tx, TT, w, np.zeros((len(x), 0)), np.zeros((len(x), 0)))
    _assert_close(lambda t: _bgnbd_loglik.loglik(t, rows, shift), th)


def _bg_rows(
    x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray, zp: np.ndarray, zd: np.ndarray
) -> _bgnbd_loglik.BGRows:
    return _bgnbd_loglik.BGRows.build(FitData.build(x, tx, T, w, zp, zd))


@settings(max_examples=15, deadline=None)
@given(
    st.tuples(positive, positive, positive, positive),
    st.tuples(st.floats(0.2, 0.6), st.floats(-0.6, -0.2), st.floats(0.2, 0.6)),
    st.sampled_from([0, 1]),
    st.integers(0, 99),
)
def test_bgnbd_family_derivatives_with_covariates(
    theta: tuple[float, ...], coef: tuple[float, ...], shift: int, seed: int
) -> None:
    """The one likelihood with a purchase covariate and two drop-out covariates (one of
    them a segment, so rows share their keys): gradient and Hessian in every parameter
    (coefficients away from 0: the differences are relative to each parameter)."""
    rng = np.random.default_rng(seed)
    T = np.round(rng.uniform(5, 80, 300) * 7) / 7
    x, tx, TT = simulate_bgnbd(BGNBDParams(0.5, 5.0, 0.8, 2.5), T, seed=seed)
    w = rng.integers(1, 4, len(x)).astype(float)
    zp = rng.normal(size=(len(x), 1))
    zd = np.column_stack([rng.integers(0, 2, len(x)).astype(float), rng.normal(size=len(x))])
    rows = _bg_rows(x, tx, TT, w, zp, zd)
    th = np.concatenate([np.array(theta) * np.array([1.0, 8.0, 1.0, 2.0]), coef])
    _assert_close(lambda t: _bgnbd_loglik.loglik(t, rows, shift), th)


@settings(max_examples=25, deadline=None)
@given(st.tuples(positive, positive, positive, positive), st.integers(0, 99))
def test_bgbb_derivatives(theta: tuple[float, ...], seed: int) -> None:
    x, tx, n = simulate_bgbb(BGBBParams(1.2, 0.75, 0.66, 2.78), np.full(300, 6), seed=seed)
    w = np.random.default_rng(seed).integers(1, 5, len(x)).astype(float)
    _assert_close(lambda t: _bgbb_math.loglik(t, x, tx, n, w), np.array(theta))


@settings(max_examples=25, deadline=None)
@given(st.tuples(positive, positive, positive), st.integers(0, 99))
def test_gamma_gamma_derivatives(theta: tuple[float, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    freq = rng.integers(1, 12, 300).astype(float)
    m = simulate_gamma_gamma(GammaGammaParams(6.0, 3.7, 15.0), freq, seed=seed)
    w = rng.integers(1, 3, len(freq)).astype(float)
    th = np.array(theta) * np.array([5.0, 3.0, 15.0])
    _assert_close(lambda t: gamma_gamma._loglik(t, freq, m, w), th)


def test_blocks_cover_every_index_once_in_parallel() -> None:
    seen = np.zeros(10_000, dtype=int)

    def mark(lo: int, hi: int) -> None:
        seen[lo:hi] += 1

    blocks(mark, len(seen), size=100)  # 100 blocks: the thread pool runs them
    assert (seen == 1).all()


def test_map_rft_matches_one_pass_and_names_the_first_bad_row() -> None:
    rng = np.random.default_rng(5)
    n = 300_000  # several blocks: checked and computed in parallel
    T = rng.uniform(1, 50, n)
    x = rng.integers(0, 9, n).astype(float)
    tx = np.where(x > 0, T * rng.uniform(0, 1, n), 0.0)
    got = map_rft(lambda a, b, c: a * 2 + b - c, x, tx, T)
    np.testing.assert_array_equal(got, x * 2 + tx - T)
    bad_tx = tx.copy()
    bad_tx[[200_001, 250_000]] = T[[200_001, 250_000]] + 1
    with pytest.raises(ValueError, match="index 200001"):
        map_rft(lambda a, b, c: a, x, bad_tx, T)
