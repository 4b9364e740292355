"""Draw customer histories from each model's own generative story (seeded, vectorised).

Used for recovery tests and benchmarks, and by users to check what a model
implies. Every function returns ``(frequency, recency, T)`` arrays (BG/BB:
``(frequency, recency, n_periods)``; Gamma-Gamma: mean transaction values).
Ages, period counts and frequencies are capped at
:data:`crmcore.options.MAX_PERIODS`; seeds go through :func:`crmcore.options.as_seed`.

>>> x, t_x, T = simulate_bgnbd(BGNBDParams(0.243, 4.414, 0.793, 2.426), T=[38.86] * 5, seed=1)
>>> bool(((t_x <= T) & ((x == 0) == (t_x == 0))).all())
True
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray, as_float_array, check_nonnegative
from crmcore.options import MAX_PERIODS, as_horizon, as_number, as_seed, expect_instance
from crmcore.valuation.btyd._common import as_counts
from crmcore.valuation.btyd.bgbb import BGBBParams
from crmcore.valuation.btyd.bgnbd import BGNBDParams
from crmcore.valuation.btyd.gamma_gamma import GammaGammaParams
from crmcore.valuation.btyd.pareto_nbd import ParetoNBDParams

__all__ = [
    "simulate_bgbb",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_mbgnbd",
    "simulate_pareto_nbd",
]

History = tuple[FloatArray, FloatArray, FloatArray]


def _ages(T: npt.ArrayLike) -> FloatArray:
    tt = as_float_array(T, name="T")
    check_nonnegative(tt, name="T")
    if len(tt):
        as_number(float(tt.max()), name="T", high=MAX_PERIODS)
    return tt


def _last_of(
    n_events: FloatArray, x: FloatArray, window: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """Time of the x-th of n_events uniform arrivals in [0, window] (0 where x = 0)."""
    t_x = np.zeros_like(window)
    pos = x > 0
    t_x[pos] = window[pos] * rng.beta(x[pos], n_events[pos] - x[pos] + 1)
    return t_x


def _rng(seed: object) -> np.random.Generator:
    return np.random.default_rng(as_seed(seed))


def _beta_geo(params: BGNBDParams, T: npt.ArrayLike, seed: int | None, at_zero: bool) -> History:
    expect_instance(params, BGNBDParams, name="params")
    rng = _rng(seed)
    tt = _ages(T)
    n = len(tt)
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    p = rng.beta(params.a, params.b, n)
    events = rng.poisson(lam * tt).astype(np.float64)
    # purchases before drop-out: BG/NBD after each purchase (>= 1), MBG/NBD also at time 0 (>= 0)
    survive = rng.geometric(p).astype(np.float64) - (1.0 if at_zero else 0.0)
    x = np.minimum(events, survive)
    return x, _last_of(events, x, tt, rng), tt


def simulate_bgnbd(params: BGNBDParams, T: npt.ArrayLike, *, seed: int | None = None) -> History:
    """Histories of customers of ages ``T`` under BG/NBD."""
    return _beta_geo(params, T, seed, at_zero=False)


def simulate_mbgnbd(params: BGNBDParams, T: npt.ArrayLike, *, seed: int | None = None) -> History:
    """Histories under MBG/NBD (drop-out possible right after the first purchase).

    >>> x, _, _ = simulate_mbgnbd(BGNBDParams(0.5, 5.0, 0.8, 2.5), T=[50.0] * 3, seed=2)
    >>> x.shape
    (3,)
    """
    return _beta_geo(params, T, seed, at_zero=True)


def simulate_pareto_nbd(
    params: ParetoNBDParams, T: npt.ArrayLike, *, seed: int | None = None
) -> History:
    """Histories under Pareto/NBD (exponential lifetimes).

    >>> x, t_x, T = simulate_pareto_nbd(ParetoNBDParams(0.55, 10.58, 0.61, 11.67), T=[39.0] * 4, seed=3)
    >>> bool((t_x <= T).all())
    True
    """
    expect_instance(params, ParetoNBDParams, name="params")
    rng = _rng(seed)
    tt = _ages(T)
    n = len(tt)
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    mu = rng.gamma(params.s, 1.0 / params.beta, n)
    death = rng.exponential(1.0 / mu)
    window = np.minimum(death, tt)
    x = rng.poisson(lam * window).astype(np.float64)
    return x, _last_of(x, x, window, rng), tt


def simulate_bgbb(
    params: BGBBParams, n_periods: npt.ArrayLike, *, seed: int | None = None
) -> History:
    """Histories over ``n_periods`` discrete opportunities under BG/BB.

    >>> x, t_x, n = simulate_bgbb(BGBBParams(1.2, 0.75, 0.66, 2.78), [6] * 4, seed=4)
    >>> bool((x <= t_x).all() and (t_x <= n).all())
    True
    """
    expect_instance(params, BGBBParams, name="params")
    rng = _rng(seed)
    n = as_counts(n_periods, name="n_periods")
    size = len(n)
    if size:
        as_horizon(float(n.max()), name="n_periods")
    p = rng.beta(params.alpha, params.beta, size)
    theta = rng.beta(params.gamma, params.delta, size)
    alive = np.minimum(rng.geometric(theta).astype(np.float64) - 1.0, n)
    K = int(n.max()) if size else 0
    x = np.zeros(size)
    t_x = np.zeros(size)
    step = max(1, (1 << 22) // max(K, 1))
    for lo in range(0, size, step):
        sl = slice(lo, lo + step)
        t = np.arange(1, K + 1, dtype=np.float64)[None, :]
        buy = (rng.random((len(p[sl]), K)) < p[sl, None]) & (t <= alive[sl, None])
        x[sl] = buy.sum(axis=1)
        t_x[sl] = np.where(buy, t, 0.0).max(axis=1, initial=0.0)
    return x, t_x, n


def simulate_gamma_gamma(
    params: GammaGammaParams, frequency: npt.ArrayLike, *, seed: int | None = None
) -> FloatArray:
    """Mean transaction value of customers with ``frequency`` transactions (> 0) under Gamma-Gamma.

    >>> simulate_gamma_gamma(GammaGammaParams(6.25, 3.74, 15.44), [1, 3], seed=5).shape
    (2,)
    """
    expect_instance(params, GammaGammaParams, name="params")
    rng = _rng(seed)
    x = as_counts(frequency, name="frequency")
    if len(x):
        as_number(float(x.max()), name="frequency", high=MAX_PERIODS)
    nu = rng.gamma(params.q, 1.0 / params.gamma, len(x))
    total = rng.gamma(params.p * np.maximum(x, 1), 1.0 / nu)
    out: FloatArray = total / np.maximum(x, 1)
    return out
