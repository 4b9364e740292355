"""The likelihood of the loyalty model over binomial cells, and the optimiser's pieces (internal).

>>> import numpy as np
>>> cells = _cells_from_table([1, 5], [0.5, 0.5], [1, 8], [10, 10])
>>> cells.x.tolist(), cells.k.tolist(), cells.levels
([-4.0, 0.0], [1.0, 8.0], 1)
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import log_expit, logit

from crmcore.arrays import (
    FloatArray,
    apply_nan_policy,
    check_exact_total,
    validate_nan_policy,
)
from crmcore.errors import FitError, ValidationError
from crmcore.satisfaction._validate import (
    LEVELS,
    binary_array,
    competition_array,
    flags_as_numbers,
    satisfaction_array,
)

__all__: list[str] = []

BOUND = 20.0  # |coefficient| beyond this is divergence, not an estimate


def _nll_grad(
    theta: FloatArray, x: FloatArray, c: FloatArray, k: FloatArray, m: FloatArray
) -> tuple[float, FloatArray]:
    """Negative log-likelihood and its gradient over cells (x = s − 5)."""
    a0, a1, b0, b1, g0, g1 = theta
    g = g0 + g1 * c
    logf, log1mf = log_expit(g), log_expit(-g)
    b = np.exp(b0 + b1 * c)
    eta = a0 + a1 * c + b * x
    logq, log1mq = log_expit(eta), log_expit(-eta)
    logp = np.logaddexp(logf, log1mf + logq)
    nk = m - k
    ll = float(np.dot(k, logp) + np.dot(nk, log1mf + log1mq))
    d_eta = k * np.exp(log1mf + logq + log1mq - logp) - nk * np.exp(logq)
    d_g = k * np.exp(logf + log1mf + log1mq - logp) - nk * np.exp(logf)
    dbx = d_eta * b * x
    grad = np.array(
        [d_eta.sum(), d_eta @ c, dbx.sum(), dbx @ c, d_g.sum(), d_g @ c], dtype=np.float64
    )
    return -ll, -grad


def _nll_hess(
    theta: FloatArray, x: FloatArray, c: FloatArray, k: FloatArray, m: FloatArray
) -> FloatArray:
    """Hessian of the negative log-likelihood over cells, analytic and in ratios that stay
    finite (P = f + (1 − f)·q, with f the floor and q the free customers' loyal share).

    Per cell ``∂²ℓ = k·(∂²P/P − u·uᵀ) − (m − k)·(∂²P/(1 − P) + v·vᵀ)`` with ``u = ∂P/P``
    and ``v = ∂P/(1 − P) = q·∇η + f·∇g``.
    """
    a0, a1, b0, b1, g0, g1 = theta
    g = g0 + g1 * c
    logf, log1mf = log_expit(g), log_expit(-g)
    b = np.exp(b0 + b1 * c)
    eta = a0 + a1 * c + b * x
    logq, log1mq = log_expit(eta), log_expit(-eta)
    logp = np.logaddexp(logf, log1mf + logq)
    f, q = np.exp(logf), np.exp(logq)
    pe = np.exp(log1mf + logq + log1mq - logp)  # (∂P/∂η) / P
    pg = np.exp(logf + log1mf + log1mq - logp)  # (∂P/∂g) / P
    peg = np.exp(logf + log1mf + logq + log1mq - logp)  # −(∂²P/∂η∂g) / P
    zero = np.zeros_like(c)
    one = np.ones_like(c)
    d_eta = np.stack([one, c, b * x, b * x * c, zero, zero], axis=1)
    d_g = np.stack([zero, zero, zero, zero, one, c], axis=1)
    nk = m - k
    # Σ k·(∂²P/P) − (m − k)·(∂²P/(1 − P)), one term per second derivative of P
    w_ee = k * pe * (1.0 - 2.0 * q) - nk * q * (1.0 - 2.0 * q)
    w_gg = k * pg * (1.0 - 2.0 * f) - nk * f * (1.0 - 2.0 * f)
    w_eg = -k * peg + nk * f * q
    w_e = k * pe - nk * q  # times the second derivatives of η (in β₀, β₁ only)
    h = (d_eta * w_ee[:, None]).T @ d_eta + (d_g * w_gg[:, None]).T @ d_g
    cross = (d_eta * w_eg[:, None]).T @ d_g
    h += cross + cross.T
    bx = w_e * b * x
    h[2:4, 2:4] += np.array([[bx.sum(), bx @ c], [bx @ c, bx @ (c * c)]])
    u = d_eta * pe[:, None] + d_g * pg[:, None]
    v = d_eta * q[:, None] + d_g * f[:, None]
    h -= (u * k[:, None]).T @ u + (v * nk[:, None]).T @ v
    return np.asarray(-h, dtype=np.float64)


def _fisher(theta: FloatArray, x: FloatArray, c: FloatArray, m: FloatArray) -> FloatArray:
    """Expected information of the cells (the Gauss-Newton matrix of the negative log-likelihood)."""
    a0, a1, b0, b1, g0, g1 = theta
    n = len(c)
    b = np.exp(b0 + b1 * c)
    z = np.empty(3 * n)  # one call per function over g, η and −η: small arrays, few calls
    z[:n] = g0 + g1 * c
    z[n : 2 * n] = a0 + a1 * c + b * x
    z[2 * n :] = -z[n : 2 * n]
    e = np.exp(log_expit(z))
    f, q, one_q = e[:n], e[n : 2 * n], e[2 * n :]
    p = f + (1.0 - f) * q
    d_eta = (1.0 - f) * q * one_q
    d_g = f * (1.0 - f) * one_q
    jac = np.empty((n, 6))
    jac[:, 0] = d_eta
    jac[:, 1] = d_eta * c
    jac[:, 2] = d_eta * b * x
    jac[:, 3] = jac[:, 2] * c
    jac[:, 4] = d_g
    jac[:, 5] = d_g * c
    w = m / np.maximum(p * (1.0 - p), 1e-300)
    return np.asarray((jac * w[:, None]).T @ jac, dtype=np.float64)


@attrs.frozen
class _Cells:
    x: FloatArray
    c: FloatArray
    k: FloatArray
    m: FloatArray
    levels: int


def _starts(cells: _Cells) -> list[FloatArray]:
    rates = np.full(LEVELS, np.nan)
    for i in range(LEVELS):
        sel = cells.x == i + 1 - LEVELS
        if sel.any():
            rates[i] = (cells.k[sel].sum() + 0.5) / (cells.m[sel].sum() + 1.0)
    lo, hi = float(np.nanmin(rates)), float(np.nanmax(rates))
    out = []
    for share, log_slope in ((0.5, 0.0), (0.9, 1.0)):
        f = min(max(lo * share, 1e-3), 0.95)
        q5 = min(max((hi - f) / (1.0 - f), 0.02), 0.98)
        out.append(np.array([logit(q5), 0.0, log_slope, 0.0, logit(f), 0.0]))
    return out


def _converged(fun: Any, t: FloatArray) -> bool:
    v, g = fun(t)
    return bool(np.isfinite(v) and np.all(np.isfinite(g)) and np.abs(g).max() < 1e-5)


def _scoring(fun: Any, info: Any, t0: FloatArray) -> tuple[float, FloatArray, int]:
    """Fisher scoring with step halving: robust far from the optimum, fast near it."""
    t = np.asarray(t0, dtype=np.float64)
    v, g = fun(t)
    its = 0
    for its in range(1, 101):  # noqa: B007 - the count is reported
        if not np.isfinite(v) or np.abs(g).max() < 1e-6:
            break  # close enough: the Newton polish in _fit_cells takes it from here
        try:
            step = np.linalg.solve(info(t), g)
        except np.linalg.LinAlgError:
            break
        for _half in range(40):
            cand = t - step
            cv, cg = fun(cand)
            if np.isfinite(cv) and cv <= v:
                break
            step = step / 2.0
        else:
            break
        t, v, g = cand, cv, cg
        if np.abs(t - t0).max() > 2 * BOUND:  # running away: leave it to the caller
            break
    return float(v), t, its


def _cells_from_responses(
    satisfaction: npt.ArrayLike,
    outcome: npt.ArrayLike,
    competition: npt.ArrayLike | None,
    nan_policy: str,
) -> _Cells:
    validate_nan_policy(nan_policy, allowed=("raise", "omit"), what="a fit")
    arrays: dict[str, npt.ArrayLike] = {
        "satisfaction": satisfaction,
        "outcome": flags_as_numbers(outcome),
    }
    if competition is not None:
        arrays["competition"] = competition
    split = apply_nan_policy(arrays, policy=nan_policy, broadcast=("competition",))
    s = satisfaction_array(split.arrays["satisfaction"])
    y = binary_array(split.arrays["outcome"])
    if len(s) == 0:
        raise ValidationError("no responses to fit: 'satisfaction' is empty")
    if competition is None:
        c_levels, inv = np.zeros(1), np.zeros(len(s), dtype=np.int64)
    else:
        c = competition_array(split.arrays["competition"])
        c_levels, inv = np.unique(c, return_inverse=True)
    key = inv.astype(np.int64) * LEVELS + (s - 1)
    size = len(c_levels) * LEVELS
    m = np.bincount(key, minlength=size).astype(np.float64)
    k = np.asarray(np.bincount(key, weights=y, minlength=size), dtype=np.float64)
    keep = m > 0
    idx = np.flatnonzero(keep)
    return _Cells(
        x=(idx % LEVELS + 1 - LEVELS).astype(np.float64),
        c=c_levels[idx // LEVELS].astype(np.float64),
        k=k[keep],
        m=m[keep],
        levels=len(c_levels),
    )


def _cells_from_table(
    satisfaction: npt.ArrayLike,
    competition: npt.ArrayLike,
    loyal: npt.ArrayLike,
    total: npt.ArrayLike,
    nan_policy: str = "raise",
) -> _Cells:
    validate_nan_policy(nan_policy, allowed=("raise", "omit"), what="a fit")
    split = apply_nan_policy(
        {"satisfaction": satisfaction, "competition": competition, "loyal": loyal, "total": total},
        policy=nan_policy,
    )
    s = satisfaction_array(split.arrays["satisfaction"])
    c = competition_array(split.arrays["competition"])
    k, m = split.arrays["loyal"], split.arrays["total"]
    for name, v in (("loyal", k), ("total", m)):
        bad = (v < 0) | (v != np.floor(v))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(f"{name!r} must hold whole counts >= 0: {v[i]} at index {i}")
    over = k > m
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise ValidationError(f"'loyal' must not exceed 'total': {k[i]} > {m[i]} at index {i}")
    if check_exact_total(m, name="total", unit="responses") == 0:
        raise ValidationError("no responses to fit: every 'total' is 0")
    keep = m > 0
    return _Cells(
        x=(s[keep] - LEVELS).astype(np.float64), c=c[keep], k=k[keep], m=m[keep],
        levels=len(np.unique(c[keep])),
    )  # fmt: skip


def _check_moderated(cells: _Cells, moderated: bool) -> None:
    if moderated and cells.levels < 2:
        raise FitError(
            f"cannot estimate how competition moderates the curve from {cells.levels} "
            "competition level: give at least two levels or fit with moderated=False"
        )
