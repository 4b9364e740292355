"""The one hard integral of Pareto/NBD, evaluated stably in log space.

``log_power_integral(p, q, alpha, beta, lo, hi)`` is
``log ∫_lo^hi (alpha + τ)^-p (beta + τ)^-q dτ``. Its antiderivative is a
Gauss hypergeometric function 2F1(M, e; M + 1; z) with M = p + q - 1, whose
value is bounded by 1 <= 2F1 <= (1 - z)^-e. For small z the
function is summed as its positive series (fast, no cancellation); the
other rows are integrated directly, by vectorised Gauss-Legendre quadrature
on geometric panels of the scaled integrand (adaptive quadrature for a few
rows or an infinite upper limit). The result is never NaN.

``quad_moments`` integrates the same way and also returns the gradient and
Hessian of the logarithm (moments under the normalised integrand); the Newton
fit (:mod:`._pareto_derivatives`) uses it where its series does not apply.

>>> import numpy as np
>>> v = log_power_integral(np.array([2.0]), np.array([1.0]), 1.0, 1.0, np.array([0.0]), np.array([np.inf]))
>>> round(float(np.exp(v[0])), 12)  # ∫_0^∞ (1+τ)^-3 dτ = 1/2
0.5
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import integrate

from crmcore.arrays import FloatArray

__all__ = ["log_power_integral", "quad_moments"]


_SERIES_TERMS = 250


def _series(M: FloatArray, e: FloatArray, z: FloatArray) -> tuple[FloatArray, np.ndarray]:
    """2F1(M, e; M+1; z) = sum_n M / (M + n) (e)_n z^n / n!: all terms positive; converged mask."""
    zmax = float(z.max()) if len(z) else 0.0
    if zmax <= 0:
        return np.ones_like(z), np.ones(z.shape, dtype=bool)
    n_terms = int(min(_SERIES_TERMS, np.ceil(37.0 / -np.log(zmax) + 2 * float(e.max()) * zmax + 2)))
    term = np.ones_like(z)
    total = np.ones_like(z)
    tmp = np.empty_like(z)
    for n in range(n_terms):
        np.add(e, n, out=tmp)
        tmp *= z
        tmp *= 1.0 / (n + 1)
        term *= tmp
        np.add(M, n + 1, out=tmp)
        np.divide(M, tmp, out=tmp)
        tmp *= term
        total += tmp
    return total, term < 1e-16 * total


def _log_h(M: FloatArray, e: FloatArray, z: FloatArray) -> tuple[FloatArray, np.ndarray]:
    """log 2F1(M, e; M+1; z) by its positive series where it converges fast; a mask of the
    other rows, which the caller integrates by quadrature instead (scipy's ``hyp2f1`` is not
    used: it returns NaN, or takes very long, for some of the parameters a fit visits)."""
    out = np.zeros_like(z)
    easy = (z < 0.8) & (e * z < 30)
    if easy.any():
        with np.errstate(all="ignore"):
            total, conv = _series(M[easy], e[easy], z[easy])
            out[easy] = np.log(total)
        easy[np.flatnonzero(easy)[~conv]] = False
    return out, ~easy


def _log_big_f(
    M: FloatArray, e: FloatArray, gamma: FloatArray, d: FloatArray, tau: FloatArray
) -> tuple[FloatArray, np.ndarray]:
    """log[(gamma + τ)^-M / M * 2F1(M, e; M + 1; d / (gamma + τ))]; -inf at τ = ∞."""
    inf = np.isinf(tau)
    g = np.where(inf, 1.0, gamma + tau)
    z = np.where(inf, 0.0, d / g)
    log_h, bad = _log_h(M, e, z)
    out = np.where(inf, -np.inf, -M * np.log(g) - np.log(M) + log_h)
    return out, bad & ~inf


def _quad_one(p: float, q: float, alpha: float, beta: float, lo: float, hi: float) -> float:
    def log_f(t: float) -> float:
        return float(-p * np.log(alpha + t) - q * np.log(beta + t))

    c = log_f(lo)
    scale = 1.0 / (p / (alpha + lo) + q / (beta + lo))
    edges = [lo]
    step = scale
    while lo + step < hi and len(edges) < 60:
        edges.append(lo + step)
        step *= 4
    edges.append(hi)
    total = 0.0
    for a, b in itertools.pairwise(edges):
        # full_output: the accuracy message is returned, not issued as a warning
        val = integrate.quad(
            lambda t: np.exp(log_f(t) - c), a, b, epsabs=0.0, epsrel=1e-11, full_output=1
        )[0]
        total += val
    return float(np.log(total) + c) if total > 0 else -np.inf


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)


def _quad_panels(
    p: FloatArray, q: FloatArray, al: FloatArray, be: FloatArray, lo: FloatArray, hi: FloatArray
) -> FloatArray:
    """Vectorised fallback: 16-point Gauss-Legendre on 30 geometric panels from ``lo``.

    Panel j covers lo + scale (4^j - 1) / 3 .. lo + scale (4^(j+1) - 1) / 3 (clipped at
    ``hi``), with ``scale`` the integrand's decay length at ``lo``; the integrand is
    scaled by its value at ``lo`` (a log-space result, no overflow).
    """

    def log_f(t: FloatArray) -> FloatArray:
        out: FloatArray = -p[:, None, None] * np.log(al[:, None, None] + t) - q[
            :, None, None
        ] * np.log(be[:, None, None] + t)
        return out

    scale = 1.0 / (p / (al + lo) + q / (be + lo))
    j = np.arange(31, dtype=np.float64)
    finite_hi = np.where(np.isinf(hi), lo + scale * 4.0**30, hi)
    edges = np.minimum(lo[:, None] + scale[:, None] * (4.0**j - 1) / 3, finite_hi[:, None])
    a, b = edges[:, :-1, None], edges[:, 1:, None]
    t = (a + b) / 2 + (b - a) / 2 * _GL_NODES[None, None, :]
    c = log_f(lo[:, None, None].astype(np.float64) + 0 * t[:, :1, :1])[:, 0, 0]
    vals = np.exp(log_f(t) - c[:, None, None]) * (b - a) / 2 * _GL_WEIGHTS[None, None, :]
    total = vals.sum(axis=(1, 2))
    with np.errstate(divide="ignore"):
        res: FloatArray = np.log(total) + c
    return res


def quad_moments(
    p: FloatArray,
    q: FloatArray,
    al: float,
    be: float,
    lo: FloatArray,
    hi: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ln I = ln ∫_lo^hi (α+τ)^-p (β+τ)^-q dτ per row (finite limits), its gradient
    (4, n) and Hessian (n, 4, 4) in (p, α, q, β), by the panels of :func:`_quad_panels`
    (only as many as the widest interval needs). The derivatives of ln I are moments
    under the normalised integrand: gradient E[φ], Hessian E[∂φ] + Cov(φ), with φ the
    gradient of the log-integrand −p ln(α+τ) − q ln(β+τ).

    >>> lq, g, H = quad_moments(np.array([2.0]), np.array([1.0]), 1.0, 1.0,
    ...                         np.array([0.0]), np.array([1.0]))
    >>> round(float(np.exp(lq[0])), 12)  # ∫_0^1 (1+τ)^-3 dτ = 3/8
    0.375
    """
    scale = 1.0 / (p / (al + lo) + q / (be + lo))
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.log(3 * (hi - lo) / scale + 1) / np.log(4.0)
    n_pan = int(np.clip(np.nan_to_num(np.ceil(need.max())) + 1, 1, 30))
    j = np.arange(n_pan + 1, dtype=np.float64)
    edges = np.minimum(lo[:, None] + scale[:, None] * (4.0**j - 1) / 3, hi[:, None])
    edges[:, -1] = hi
    a, b = edges[:, :-1, None], edges[:, 1:, None]
    t = ((a + b) / 2 + (b - a) / 2 * _GL_NODES).reshape(len(p), -1)
    wq = ((b - a) / 2 * _GL_WEIGHTS).reshape(len(p), -1)
    la, lb = np.log(al + t), np.log(be + t)
    ua, ub = 1.0 / (al + t), 1.0 / (be + t)
    logf = -p[:, None] * la - q[:, None] * lb
    top = logf.max(axis=1)
    wts = np.exp(logf - top[:, None]) * wq
    total = wts.sum(axis=1)
    pi = wts / total[:, None]
    phi = np.stack([-la, -p[:, None] * ua, -lb, -q[:, None] * ub])
    mean = np.einsum("nk,jnk->jn", pi, phi)
    cen = phi - mean[:, :, None]
    H = np.einsum("nk,ink,jnk->nij", pi, cen, cen)
    Eua, Eub = (pi * ua).sum(axis=1), (pi * ub).sum(axis=1)
    H[:, 0, 1] -= Eua
    H[:, 1, 0] -= Eua
    H[:, 1, 1] += p * (pi * ua * ua).sum(axis=1)
    H[:, 2, 3] -= Eub
    H[:, 3, 2] -= Eub
    H[:, 3, 3] += q * (pi * ub * ub).sum(axis=1)
    with np.errstate(divide="ignore"):
        log_i = np.log(total) + top
    return log_i, mean, H


def log_power_integral(
    p: FloatArray,
    q: FloatArray,
    alpha: float | FloatArray,
    beta: float | FloatArray,
    lo: FloatArray,
    hi: FloatArray,
) -> FloatArray:
    """log ∫_lo^hi (alpha + τ)^-p (beta + τ)^-q dτ, element-wise (p + q > 1, lo <= hi; hi may be inf)."""
    arrays = np.broadcast_arrays(
        np.asarray(p, dtype=np.float64),
        np.asarray(q, dtype=np.float64),
        np.asarray(alpha, dtype=np.float64),
        np.asarray(beta, dtype=np.float64),
        np.asarray(lo, dtype=np.float64),
        np.asarray(hi, dtype=np.float64),
    )
    shape = arrays[0].shape
    p, q, al, be, lo, hi = (np.ravel(a) for a in arrays)
    M = p + q - 1
    a_ge = al >= be
    gamma = np.where(a_ge, al, be)
    d = np.abs(al - be)
    e = np.where(a_ge, q, p)
    f_lo, bad_lo = _log_big_f(M, e, gamma, d, lo)
    f_hi, bad_hi = _log_big_f(M, e, gamma, d, hi)
    with np.errstate(all="ignore"):
        diff = f_hi - f_lo
        out = f_lo + np.log1p(-np.exp(np.minimum(diff, 0.0)))
    out = np.where(hi <= lo, -np.inf, out)
    bad = (bad_lo | bad_hi | np.isnan(out) | (diff > 1e-12)) & (hi > lo)
    idx = np.flatnonzero(bad)
    if len(idx) > 8:  # many rows: the vectorised panels (finite upper limits)
        fin = idx[np.isfinite(hi[idx])]
        out[fin] = _quad_panels(p[fin], q[fin], al[fin], be[fin], lo[fin], hi[fin])
        idx = idx[~np.isfinite(hi[idx])]
    for i in idx:
        out[i] = _quad_one(p[i], q[i], al[i], be[i], lo[i], hi[i])
    return np.asarray(out, dtype=np.float64).reshape(shape)
