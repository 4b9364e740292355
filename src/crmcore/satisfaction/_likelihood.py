"""The likelihood of the loyalty model over binomial cells and its starting points (internal).

>>> import numpy as np
>>> cells = _cells_from_table([1, 5], [0.5, 0.5], [1, 8], [10, 10])
>>> cells.x.tolist(), cells.k.tolist(), cells.levels
([-4.0, 0.0], [1.0, 8.0], 1)
"""

from __future__ import annotations

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


@attrs.frozen
class _Cells:
    x: FloatArray
    c: FloatArray
    k: FloatArray
    m: FloatArray
    levels: int


def _nll_many(theta: FloatArray, cells: _Cells) -> FloatArray:
    """Negative log-likelihood at each row of ``theta`` (rows of six coefficients)."""
    a = theta[:, 0, None] + theta[:, 1, None] * cells.c
    b = np.exp(theta[:, 2, None] + theta[:, 3, None] * cells.c)
    g = theta[:, 4, None] + theta[:, 5, None] * cells.c
    eta = a + b * cells.x
    log1mf = log_expit(-g)
    logp = np.logaddexp(log_expit(g), log1mf + log_expit(eta))
    out = -(logp @ cells.k + (log1mf + log_expit(-eta)) @ (cells.m - cells.k))
    return np.asarray(out, dtype=np.float64)


# One curve's (intercept, log-slope, floor logit) on a grid: the log-slope from a gentle
# ramp (e**-1.5 per point) to a step between two answers (e**5), the floor from none to 0.75.
_GRID = (
    np.array(
        np.meshgrid(
            np.linspace(-2.0, 4.0, 13),
            np.linspace(-1.5, 5.0, 14),
            logit(np.array([0.001, 0.05, 0.15, 0.3, 0.45, 0.6, 0.75])),
            indexing="ij",
        )
    )
    .reshape(3, -1)
    .T
)


def _best_on_grid(cells: _Cells) -> tuple[float, float, float]:
    """The grid point of one curve (no moderation) with the highest likelihood on ``cells``."""
    theta = np.zeros((len(_GRID), 6))
    theta[:, [0, 2, 4]] = _GRID
    flat = attrs.evolve(cells, c=np.zeros_like(cells.c))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        i = int(np.nanargmin(_nll_many(theta, flat)))
    a, b, g = _GRID[i]
    return float(a), float(b), float(g)


def _starts(cells: _Cells) -> list[FloatArray]:
    """Starting points: two from the rates at the lowest and highest answers; the best
    point of a grid of curves over all answers; and, with several competition levels, the
    line (weighted by responses) through the best grid curve of each level. The likelihood
    can have several maxima (a gentle ramp against a step between two answers, at one
    level and not at another): the grid puts a start in the basin of each kind."""
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
    a, b, g = _best_on_grid(cells)
    out.append(np.array([a, 0.0, b, 0.0, g, 0.0]))
    rows = []
    for level in np.unique(cells.c):
        sel = cells.c == level
        if len(np.unique(cells.x[sel])) >= 2:
            part = _Cells(cells.x[sel], cells.c[sel], cells.k[sel], cells.m[sel], 1)
            rows.append((float(level), *_best_on_grid(part), float(part.m.sum())))
    if len(rows) >= 2:
        r = np.array(rows)
        w = np.sqrt(r[:, 4])[:, None]
        design = np.stack([np.ones(len(r)), r[:, 0]], axis=1) * w
        coef = np.linalg.lstsq(design, r[:, 1:4] * w, rcond=None)[0]  # 2 x 3: level, slope
        out.append(coef.T.reshape(-1))
    return out


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
