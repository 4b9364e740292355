"""The one hard integral of Pareto/NBD, evaluated stably in log space.

``log_power_integral(p, q, alpha, beta, lo, hi)`` is
``ln ∫_lo^hi (alpha + τ)^-p (beta + τ)^-q dτ`` (its antiderivative is a Gauss
hypergeometric function 2F1(M, e; M + 1; z), M = p + q − 1, whose series
converges slowly or loses digits when alpha and beta are far apart). With
m = min(alpha, beta), d = |alpha − beta| and u = m + τ = (m + lo) e^η, the
integral is ``(m + lo)^(1−P) (d + m + lo)^−Q ∫_0^W e^{(1−P)η} G(η)^−Q dη`` with
``G = 1 + σ (e^η − 1)``, ``σ = (m + lo) / (d + m + lo)``,
``W = ln(1 + (hi − lo) / (m + lo))`` and P, Q the exponents of the factors at m
and at max(alpha, beta). The log-integrand is concave in η and analytic in the
strip |Im η| < π (its only singularities are the zeros of G, at
η = ln((1 − σ) / σ) ± iπ), so Gauss-Legendre quadrature on a few panels chosen
per row (:func:`log_concave_integral`) is exact to rounding for every parameter
value, one vectorised pass for all rows, and the interval is integrated
directly (no difference of two antiderivatives, no cancellation). Where the two
scales are close the same integral is an alternating series with a few terms
(:func:`_log_j`). :func:`log_dead_odds` gives P(alive) (the predictions' one
method); :func:`log_integral_hessian` ln I with its gradient and Hessian (moments of
the same quadrature) for the rows and ends of the likelihood that its series
(:mod:`._pareto_series`) does not take: z > 0.92 and intervals too short for a
difference of two antiderivatives.

>>> import numpy as np
>>> v = log_power_integral(np.array([2.0]), np.array([1.0]), 1.0, 1.0, np.array([0.0]), np.array([np.inf]))
>>> round(float(np.exp(v[0])), 12)  # ∫_0^∞ (1+τ)^-3 dτ = 1/2
0.5
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import expit

from crmcore.arrays import FloatArray
from crmcore.valuation.btyd._pareto_alive_kernel import W1_MAX, log1p_pos, log_j_close

__all__ = [
    "log_concave_integral",
    "log_dead_odds",
    "log_integral_hessian",
    "log_power_integral",
]

_X16, _W16 = np.polynomial.legendre.leggauss(16)
_X8, _W8 = np.polynomial.legendre.leggauss(8)
_X32, _W32 = np.polynomial.legendre.leggauss(32)
_FALL = 12.0  # largest fall of ln f across a 16-node panel
_NEAR = 2.0  # longest panel next to a pole (poles are π off the real axis)
_BEND = 8.0  # largest (panel length)^2 x |second derivative of ln f| on a panel
_DEPTH = 40.0  # the integrand is cut where it is below e^-40 of its peak
_BLOCK = 512  # panels evaluated together (temporaries stay in cache)

Term = tuple[FloatArray, FloatArray, FloatArray, float]
"""(c, σ, 1 − σ, κ) of one factor G^-c, G = (1 − σ) + σ e^{κη}, of the integrand (c, σ and
1 − σ per row, 1 − σ computed from the inputs so that G keeps every digit; κ = ±1)."""


def _log_g(eta: FloatArray, sig: FloatArray, sbar: FloatArray, kap: float) -> FloatArray:
    """ln G, G = (1 − σ) + σ e^{κη} = 1 + σ (e^{κη} − 1): as log1p(σ expm1(κη)) where G is
    near 1 (every digit of ln G, which a factor c in the thousands multiplies), as
    ln((1 − σ) + σ e^{κη}) where G is small (κ = −1 only: no cancellation in 1 + ...)."""
    with np.errstate(over="ignore", invalid="ignore"):
        dev = sig * np.expm1(kap * eta)
        out: FloatArray = np.log1p(dev)
        if kap < 0:
            small = dev < -0.5
            if small.any():
                shape = np.broadcast_shapes(np.shape(eta), np.shape(sig), np.shape(sbar))
                e, sg, sb = (np.broadcast_to(v, shape)[small] for v in (eta, sig, sbar))
                out[small] = np.log(sb + sg * np.exp(kap * e))
    return out


def _psi(eta: FloatArray, c0: FloatArray, terms: Sequence[Term]) -> FloatArray:
    """ln f(η) = c0 η − Σ c ln G; 0 at η = 0."""
    out: FloatArray = c0 * eta
    for c, sig, sbar, kap in terms:
        out -= c * _log_g(eta, sig, sbar, kap)
    return out


def _pole(term: Term) -> FloatArray:
    """Real part of the zeros of G, η = κ ln((1 − σ) / σ) (then ± iπ; −inf or inf where a
    scale vanishes)."""
    _, sig, sbar, kap = term
    with np.errstate(divide="ignore"):
        out: FloatArray = kap * (np.log(sbar) - np.log(sig))
    return out


def _slope(eta: FloatArray, c0: FloatArray, terms: Sequence[Term]) -> FloatArray:
    """d ln f / dη = c0 − Σ c κ expit(κ (η − pole)) (no overflow)."""
    out: FloatArray = c0 + 0.0 * eta
    for term in terms:
        c, _, _, kap = term
        out -= (c * kap) * expit(kap * (eta - _pole(term)))
    return out


def _peak(W: FloatArray, c0: FloatArray, terms: Sequence[Term]) -> FloatArray:
    """Where ln f (concave) is largest on [0, W]: in closed form for one factor with κ = 1,
    else by bisection of the slope (only the rows whose peak is inside)."""
    at0 = _slope(np.zeros_like(W), c0, terms) <= 0
    if at0.all():
        return np.zeros_like(W)
    if len(terms) == 1 and terms[0][3] == 1:
        c = terms[0][0]
        with np.errstate(divide="ignore", invalid="ignore"):
            inner = _pole(terms[0]) + np.log(c0) - np.log(c - c0)
        return np.where(at0, 0.0, np.minimum(np.maximum(inner, 0.0), W))
    out = np.zeros_like(W)
    rows = np.flatnonzero(~at0)
    w = W[rows]
    c0r, tr = _take(c0, rows), _take_terms(terms, rows)
    lo = np.zeros(len(rows))
    hi = np.where(np.isfinite(w), w, 1.0)
    for _ in range(64):  # widen to a point where the slope is negative (W = inf)
        up = (_slope(hi, c0r, tr) > 0) & (hi < w)
        if not up.any():
            break
        lo = np.where(up, hi, lo)
        hi = np.where(up, np.minimum(2 * hi + 1, w), hi)
    for _ in range(60):
        mid = (lo + hi) / 2
        up = _slope(mid, c0r, tr) > 0
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    out[rows] = (lo + hi) / 2
    return out


def _take(v: FloatArray, rows: npt.NDArray[np.intp]) -> FloatArray:
    return v[rows] if np.ndim(v) else v


def _col(v: FloatArray, rows: npt.NDArray[np.intp]) -> FloatArray:
    """Per-panel column of a per-row value (a scalar stays a scalar)."""
    return v[rows][:, None] if np.ndim(v) else v


def _take_terms(terms: Sequence[Term], rows: npt.NDArray[np.intp]) -> list[Term]:
    return [(_take(c, rows), _take(s, rows), _take(sb, rows), k) for c, s, sb, k in terms]


def _reach(
    a: FloatArray, step: FloatArray, terms: Sequence[Term], poles: Sequence[FloatArray], way: float
) -> FloatArray:
    """The longest step (at most ``step``) from ``a`` in direction ``way`` that keeps 16-node
    Gauss-Legendre exact to rounding: the Bernstein ellipse of the panel stays clear of the
    poles (``_NEAR`` next to one, 0.6 of the distance to a pole ahead, 1.6 of the distance
    to one behind), and ln f stays near a polynomial on it (length^2 x the largest
    |second derivative| on the panel <= ``_BEND``; f grows on the ellipse as e^(that / 2))."""
    for ell in poles:
        ahead = (ell - a) * way
        cap = np.where(ahead > 0, np.maximum(_NEAR, 0.6 * ahead), np.maximum(_NEAR, -1.6 * ahead))
        step = np.minimum(step, cap)
    for _ in range(2):
        bend = _bend(a, a + way * step, terms, poles)
        with np.errstate(divide="ignore"):
            step = np.minimum(step, np.sqrt(_BEND / bend))
    return step


def _bend(
    a: FloatArray, b: FloatArray, terms: Sequence[Term], poles: Sequence[FloatArray]
) -> FloatArray:
    """An upper bound of |d² ln f / dη²| = Σ c g (1 − g), g = expit(κ (η − pole)), on the
    segment between a and b: each term at the point of the segment nearest its pole."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    out = np.zeros(np.broadcast_shapes(np.shape(a), np.shape(b)))
    for (c, _, _, _), ell in zip(terms, poles, strict=True):
        g = expit(np.clip(ell, lo, hi) - ell)
        out += c * g * (1.0 - g)
    return out


def _panels(
    W: FloatArray, c0: FloatArray, terms: Sequence[Term], peak: FloatArray, top: FloatArray
) -> tuple[npt.NDArray[np.intp], FloatArray, FloatArray]:
    """Panels (row, start, end) covering [0, W] minus what lies below e^-_DEPTH of the peak:
    from the peak outwards, each panel as long as ln f falls by at most _FALL across it
    (Newton steps on the concave ln f, then a tangent bound that makes the fall <= _FALL)
    and as :func:`_reach` allows."""
    poles = [_pole(t) for t in terms]
    rows_out, lo_out, hi_out = [], [], []
    for way in (1.0, -1.0):
        end = W if way > 0 else np.zeros_like(W)
        rows = np.arange(len(W))
        a, e_, t_, c0_, tr, pl = peak, end, top, c0, list(terms), poles
        for _ in range(200):
            fa = _psi(a, c0_, tr)
            live = (a != e_) & (t_ - fa < _DEPTH)
            if not live.all():
                rows = rows[live]
                if not len(rows):
                    break
                idx = np.flatnonzero(live)
                a, e_, t_, fa = a[idx], e_[idx], t_[idx], fa[idx]
                c0_, tr = _take(c0_, idx), _take_terms(tr, idx)
                pl = [p[idx] for p in pl]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                step = _reach(a, _FALL / np.abs(_slope(a, c0_, tr)), tr, pl, way)
                for _ in range(3):  # Newton on the fall (convex in the step): from above
                    b = a + way * step
                    f = fa - _psi(b, c0_, tr) - _FALL
                    g = np.abs(_slope(b, c0_, tr))
                    step = np.where(f > 0, np.clip(step - f / g, 0.0, step), step)
                step = _reach(a, _FALL / np.abs(_slope(a + way * step, c0_, tr)), tr, pl, way)
            b = np.minimum(a + step, e_) if way > 0 else np.maximum(a - step, e_)
            rows_out.append(rows)
            lo_out.append(np.minimum(a, b))
            hi_out.append(np.maximum(a, b))
            a = b
    return np.concatenate(rows_out), np.concatenate(lo_out), np.concatenate(hi_out)


def _sum_panels(
    n: int,
    rows: npt.NDArray[np.intp],
    lo: FloatArray,
    hi: FloatArray,
    c0: FloatArray,
    terms: Sequence[Term],
    top: FloatArray,
    nodes: tuple[FloatArray, FloatArray],
    moments: int,
    out: FloatArray,
) -> None:
    """Add to ``out`` (per row) the Gauss-Legendre sums over the panels (row, lo, hi) of
    ∫ f / f(peak) (out[0]) and, with ``moments`` (one factor with κ = 1), of ∫ g f / f(peak)
    for the features g = η, ln G, e^-η, 1 / G (out[1:5]) and, with ``moments`` 2, for their
    products g_i g_j, i <= j (out[5:15], row-major upper triangle)."""
    xk, wk = nodes
    for s in range(0, len(rows), _BLOCK):
        r = rows[s : s + _BLOCK]
        a, b = lo[s : s + _BLOCK], hi[s : s + _BLOCK]
        half, mid = (b - a) / 2, (a + b) / 2
        c0r = _take(c0, r)
        eta: FloatArray = np.multiply.outer(half, xk)
        eta += mid[:, None]
        # ln f − ln f(peak) = c0 η − top − Σ c ln G
        ln_f: FloatArray = np.multiply(eta, c0r[:, None] if np.ndim(c0r) else c0r)
        ln_f -= top[r][:, None]
        g: FloatArray = np.empty_like(eta)
        for c, sig, sbar, kap in terms:
            if kap == 1:  # log1p(σ expm1(η)): G >= 1, every digit of ln G near η = 0
                np.expm1(eta, out=g)
                g *= _col(sig, r)
                if moments:
                    inv_g = 1.0 / (1.0 + g)
                np.log1p(g, out=g)
            else:
                g = _log_g(eta, _col(sig, r), _col(sbar, r), kap)
            if moments:
                log_g = g.copy()
            g *= _col(c, r)
            ln_f -= g
        f = np.exp(ln_f, out=ln_f)
        vals = np.einsum("ij,j->i", f, wk)  # not BLAS: no threads for a small product
        vals *= half
        out[0] += np.bincount(r, weights=vals, minlength=n)
        if moments:
            f *= half[:, None] * wk
            feats = (eta, log_g, np.exp(-eta), inv_g)
            for j, m in enumerate(feats):
                fm = f * m
                out[j + 1] += np.bincount(r, weights=fm.sum(axis=1), minlength=n)
                if moments > 1:
                    for k in range(j, 4):
                        col = 5 + _PAIR[j, k]
                        out[col] += np.bincount(
                            r, weights=np.einsum("ij,ij->i", fm, feats[k]), minlength=n
                        )


_PAIR = np.full((4, 4), -1)
_PAIR[np.triu_indices(4)] = np.arange(10)


def _ellipse(W: FloatArray, poles: Sequence[FloatArray]) -> FloatArray:
    """ρ of the largest Bernstein ellipse of [0, W] clear of every pole (poles at ℓ ± iπ):
    Gauss-Legendre with n nodes errs by about ρ^-2n times the integrand's size on it."""
    out = np.full(W.shape, np.inf)
    h = W / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        Y = np.pi / h
        for ell in poles:
            X = (ell - h) / h
            A = (np.hypot(X - 1.0, Y) + np.hypot(X + 1.0, Y)) / 2
            out = np.minimum(out, A + np.sqrt(A * A - 1.0))
    return out


# one whole interval [0, W]: (nodes, weights), largest fall of ln f, largest W^2 x bend and
# smallest ellipse ρ clear of the poles (ρ^-2n below 1e-20 or so: room for the growth of f)
_WHOLE = (
    ((_X8, _W8), 3.0, 1.0, 20.0),  # an easy interval (a short one, close scales)
    ((_X16, _W16), _FALL, _BEND, 6.0),
    ((_X32, _W32), 50.0, 60.0, 3.0),
)


def log_concave_integral(
    W: FloatArray, c0: FloatArray, terms: Sequence[Term], *, moments: int = 0
) -> FloatArray:
    """ln ∫_0^W f(η) dη per row for f = e^{c0 η} Π G^-c, G = (1 − σ) + σ e^{κη} (terms
    (c, σ, 1 − σ, κ), κ = ±1; W may be inf; the integral must be finite), by Gauss-Legendre
    quadrature. With ``moments`` (one factor, κ = 1) also the means of η, ln G, e^-η and
    1 / G under f (rows 1-4 of a (5, n) result; row 0 is the logarithm); with ``moments``
    2 also the means of their products (rows 5-14, upper triangle, row-major).

    ln f is concave and analytic in the strip |Im η| < π (its poles are the zeros of the
    G). An interval across which ln f falls little, that bends little and that keeps clear
    of the poles takes 8, 16 or 32 nodes as one panel; the others are cut into panels from
    the peak outwards (:func:`_panels`), 16 nodes each; both exact to rounding.

    >>> one = np.ones(1)
    >>> v = log_concave_integral(np.array([np.inf]), -one, [(one, one, 0 * one, 1.0)])
    >>> round(float(np.exp(v[0])), 12)  # ∫_0^∞ e^-2η dη
    0.5
    """
    W = np.asarray(W, dtype=np.float64)
    n = len(W)
    peak = _peak(W, c0, terms)
    top = _psi(peak, c0, terms)
    out = np.zeros(((1, 5, 15)[moments], n))
    poles = [_pole(t) for t in terms]
    with np.errstate(invalid="ignore", over="ignore"):
        Wf = np.where(np.isfinite(W), W, 0.0)
        fall = 2 * top - _psi(Wf, c0, terms)
        bend = Wf * Wf * _bend(np.zeros(n), Wf, terms, poles)
        rho = _ellipse(Wf, poles)
    left = np.isfinite(W) & (W > 0)
    for nodes, max_fall, max_bend, min_rho in _WHOLE:
        ok = left & (fall <= max_fall) & (bend <= max_bend) & (rho >= min_rho)
        rows = np.flatnonzero(ok)
        if len(rows):
            _sum_panels(n, rows, np.zeros(len(rows)), W[rows], c0, terms, top, nodes, moments, out)
            left &= ~ok
    rest = np.flatnonzero(left | np.isinf(W))
    if len(rest):
        r, lo, hi = _panels(
            W[rest], _take(c0, rest), _take_terms(terms, rest), peak[rest], top[rest]
        )
        _sum_panels(n, rest[r], lo, hi, c0, terms, top, (_X16, _W16), moments, out)
    with np.errstate(divide="ignore", invalid="ignore"):
        if moments:
            out[1:] /= out[0]
        out[0] = np.log(out[0]) + top
    return out if moments else out[0]


class _Reduced(NamedTuple):
    p: FloatArray
    q: FloatArray
    alpha: FloatArray
    beta: FloatArray
    lo: FloatArray
    hi: FloatArray
    P: FloatArray
    Q: FloatArray
    u0: FloatArray
    du: FloatArray
    W: FloatArray
    term: Term


def _reduced(
    p: npt.ArrayLike,
    q: npt.ArrayLike,
    alpha: npt.ArrayLike,
    beta: npt.ArrayLike,
    lo: npt.ArrayLike,
    hi: npt.ArrayLike,
) -> _Reduced:
    """Flat float arrays (p, q, alpha, beta, lo, hi, P, Q, u0, d + u0, W, term) of the
    reduced form of the module docstring: ``term`` is the factor (Q, σ, 1 − σ, 1) with
    σ = u0 / (d + u0) and 1 − σ = d / (d + u0) (each from the inputs)."""
    arrays = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (p, q, alpha, beta, lo, hi))
    )
    p_, q_, al, be, lo_, hi_ = (np.ravel(a) for a in arrays)
    ge = al >= be
    m = np.where(ge, be, al)
    u0 = m + lo_
    du = np.maximum(al, be) + lo_  # d + u0, without rounding d + u0
    with np.errstate(invalid="ignore", divide="ignore"):
        W = np.where(hi_ > lo_, np.log1p((hi_ - lo_) / u0), 0.0)
    P = np.where(ge, q_, p_)
    Q = np.where(ge, p_, q_)
    term = (Q, u0 / du, np.abs(al - be) / du, 1.0)
    return _Reduced(p_, q_, al, be, lo_, hi_, P, Q, u0, du, W, term)


_NEAR_EQUAL = 0.4  # largest max(Q, 1) d / (m + lo) summed as the series of _log_j


def _log_j(P: FloatArray, W: FloatArray, term: Term, eps: FloatArray) -> FloatArray:
    """ln J, J = ∫_0^W e^{(1−P)η} G^−Q dη (the reduced integral; ``term`` = (Q, σ, 1 − σ,
    1)), ε = d / (m + lo).

    Where the scales are close (ρ = max(Q, 1) ε <= 0.4; all rows when alpha = beta), G =
    e^η (1 + ε e^−η) / (1 + ε) gives J = (1 + ε)^Q Σ_k (−Q choose k) ε^k (1 − e^{−(M+k)W}) /
    (M + k), M = P + Q − 1, an alternating series whose terms fall by ρ or more (no
    cancellation; 37 / ln(1/ρ) terms, cheaper than the quadrature up to ρ ~ 0.4; rows
    grouped by ρ so that each group sums only the terms it needs); the other rows by
    :func:`log_concave_integral`."""
    Q = term[0]
    rho = np.maximum(Q, 1.0) * eps
    near = rho <= _NEAR_EQUAL
    if not near.any():
        return log_concave_integral(W, 1.0 - P, [term])
    out = np.empty_like(W)
    if not near.all():
        far = np.flatnonzero(~near)
        out[far] = log_concave_integral(W[far], 1.0 - _take(P, far), _take_terms([term], far))
    lo = -1.0
    for hi in _SERIES_GROUPS:
        grp = near & (rho > lo) & (rho <= hi)
        lo = hi
        if not grp.any():
            continue
        idx = None if grp.all() else np.flatnonzero(grp)
        P_, Q_, W_, e_ = (v if idx is None else _take(v, idx) for v in (P, Q, W, eps))
        top = float(rho.max() if idx is None else rho[idx].max())
        res = _near_equal(P_, Q_, W_, e_, top)
        if idx is None:
            return res
        out[idx] = res
    return out


_SERIES_GROUPS = (0.0, 0.02, 0.1, _NEAR_EQUAL)


def _near_equal(
    P: FloatArray, Q: FloatArray, W: FloatArray, eps: FloatArray, rho: float
) -> FloatArray:
    """The alternating series of :func:`_log_j` for rows whose ratio is at most ``rho``."""
    terms = 1 if rho == 0 else int(np.ceil(-37.0 / np.log(rho)))
    M = P + Q - 1.0
    # 1 − e^{−(M+k)W} by D_k = D_{k−1} + e^{−(M+k−1)W} (1 − e^−W): positive terms only
    gone = -np.expm1(-M * W)
    total = gone / M
    if terms > 1:
        left = 1.0 - gone
        step_gone, step_left = -np.expm1(-W), np.exp(-W)
        coef = np.ones_like(M)
        for k in range(1, terms):
            coef *= (-(Q + (k - 1)) / k) * eps
            gone += left * step_gone
            left *= step_left
            total += coef * gone / (M + k)
    with np.errstate(divide="ignore"):
        res: FloatArray = Q * np.log1p(eps) + np.log(total)
    return res


def log_power_integral(
    p: npt.ArrayLike,
    q: npt.ArrayLike,
    alpha: npt.ArrayLike,
    beta: npt.ArrayLike,
    lo: npt.ArrayLike,
    hi: npt.ArrayLike,
) -> FloatArray:
    """ln ∫_lo^hi (alpha + τ)^-p (beta + τ)^-q dτ, element-wise (p, q > 0, p + q > 1,
    alpha, beta > 0, 0 <= lo <= hi; hi may be inf); -inf where hi = lo."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in (p, q, alpha, beta, lo, hi)))
    _, _, al, be, _, _, P, Q, u0, du, W, term = _reduced(p, q, alpha, beta, lo, hi)
    log_j = _log_j(P, W, term, np.abs(al - be) / u0)
    out = (1.0 - P) * np.log(u0) - Q * np.log(du) + log_j
    return np.asarray(out, dtype=np.float64).reshape(shape)


def log_integral_hessian(
    p: FloatArray,
    q: FloatArray,
    alpha: FloatArray,
    beta: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ln I of :func:`log_power_integral` (1-D inputs of one length, lo < hi), its gradient
    (4, n) and Hessian (4, 4, n) in (p, q, ln alpha, ln beta).

    With φ = −p ln(alpha + τ) − q ln(beta + τ) the log-integrand, the gradient is E[∂φ]
    and the Hessian E[∂²φ] + Cov(∂φ) under the normalised integrand; ∂φ is affine in the
    quadrature's features (η, ln G, e^-η, 1 / G), whose means and second moments the
    quadrature returns.

    >>> one = np.ones(1)
    >>> v, g, h = log_integral_hessian(2 * one, one, one, one, 0 * one, one)
    >>> round(float(np.exp(v[0])), 12), round(float(g[2, 0]), 12)  # 3/8; -2 E[1/(1+τ)] = -14/9
    (0.375, -1.555555555556)
    """
    red = _reduced(p, q, alpha, beta, lo, hi)
    res = log_concave_integral(red.W, 1.0 - red.P, [red.term], moments=2)
    n = len(red.W)
    ef = res[1:5]
    m2 = np.empty((4, 4, n))
    m2[np.triu_indices(4)] = res[5:15]
    m2[np.tril_indices(4, -1)] = m2.transpose(1, 0, 2)[np.tril_indices(4, -1)]
    cov_f = m2 - ef[:, None, :] * ef[None, :, :]
    ge = red.alpha >= red.beta
    log_u0, log_du = np.log(red.u0), np.log(red.du)
    # Y = (ln(alpha + τ), ln(beta + τ), alpha / (alpha + τ), beta / (beta + τ)) = k + c F[perm]
    perm = np.where(ge[None, :], np.array([1, 0, 3, 2])[:, None], np.arange(4)[:, None])
    scale = np.ones((4, n))
    scale[2] = red.alpha / np.where(ge, red.du, red.u0)
    scale[3] = red.beta / np.where(ge, red.u0, red.du)
    shift = np.zeros((4, n))
    shift[0] = np.where(ge, log_du, log_u0)
    shift[1] = np.where(ge, log_u0, log_du)
    cols = np.arange(n)
    mean_y = shift + scale * ef[perm, cols]
    cov_y = cov_f[perm[:, None, :], perm[None, :, :], cols] * scale[:, None, :] * scale[None, :, :]
    sgn = np.stack([-np.ones(n), -np.ones(n), -red.p, -red.q])  # ∂φ = sgn * Y
    grad = sgn * mean_y
    hess = sgn[:, None, :] * cov_y * sgn[None, :, :]
    e_ua, e_ub = mean_y[2], mean_y[3]
    hess[0, 2] -= e_ua
    hess[2, 0] -= e_ua
    hess[1, 3] -= e_ub
    hess[3, 1] -= e_ub
    hess[2, 2] -= red.p * (e_ua - (cov_y[2, 2] + e_ua * e_ua))
    hess[3, 3] -= red.q * (e_ub - (cov_y[3, 3] + e_ub * e_ub))
    log_i = (1.0 - red.P) * log_u0 - red.Q * log_du + res[0]
    return log_i, grad, hess


_SUB = 16384  # rows per piece of the series pass


def _part(v: float | FloatArray, part: slice) -> float | FloatArray:
    return v[part] if isinstance(v, np.ndarray) and v.ndim else v


def _distinct(v: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Distinct values and each one's index: by counting for whole numbers in a modest range
    (ages on a daily or weekly grid), else by sorting."""
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 8 * len(v) + 4096 and bool(np.all(v == np.floor(v))):
        k = (v - lo).astype(np.intp)
        present = np.bincount(k, minlength=1) > 0
        pos = np.cumsum(present) - 1
        return np.flatnonzero(present).astype(np.float64) + lo, pos[k].astype(np.intp)
    u, inv = np.unique(v, return_inverse=True)
    return np.asarray(u, dtype=np.float64), inv.reshape(-1).astype(np.intp)


def log_dead_odds(
    r: float,
    alpha: float | FloatArray,
    s: float,
    beta: float | FloatArray,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
) -> FloatArray:
    """ln of the Pareto/NBD odds 'died in (t_x, T]' : 'alive at T' given (x, t_x, T),
    ``ln(s I) + (r + x) ln(alpha + T) + s ln(beta + T)`` with ``I`` the integral at
    p = r + x, q = s + 1 over (t_x, T]; computed in the reduced form, where it is
    ``ln s + ln J + (r + x) ln((alpha + T) / (alpha + t_x)) + s ln((beta + T) / (beta + t_x))
    + ln((m + t_x) / (beta + t_x))`` (ratios by log1p: no large logarithms cancel).
    -inf where t_x = T. P(alive) is ``expit(-odds)``.

    With the plain parameters, the customers without a repeat purchase (x = t_x = 0, often
    most of them) differ only by T: their odds are computed once per distinct T.

    >>> float(log_dead_odds(0.5, 10.0, 0.6, 12.0, np.array([2.0]), np.array([30.0]), np.array([30.0]))[0])
    -inf
    """
    a_, b_ = float(np.max(alpha)), float(np.max(beta))
    cheap = max(s + 1.0 if a_ < b_ else r, 1.0) * abs(a_ - b_) <= 0.02 * min(a_, b_)
    if cheap and len(x) > 2 * _SUB:  # the series pass is memory-bound: cache-sized pieces
        odds = np.empty(len(x))
        for i in range(0, len(x), _SUB):
            part = slice(i, i + _SUB)
            odds[part] = log_dead_odds(
                r, _part(alpha, part), s, _part(beta, part), x[part], tx[part], T[part]
            )
        return odds
    if np.ndim(alpha) == 0 and np.ndim(beta) == 0 and len(x) > 64 and not cheap:
        # (with close scales the series of _log_j is cheaper than finding the distinct T)
        none = np.flatnonzero((x == 0) & (tx == 0))
        if 4 * len(none) > len(x):
            uT, inv = _distinct(T[none])
            if 2 * len(uT) < len(none):
                odds = np.empty(len(x))
                odds[none] = _no_repeat_odds(r, float(alpha), s, float(beta), uT)[inv]
                rest = np.ones(len(x), dtype=bool)
                rest[none] = False
                some = np.flatnonzero(rest)
                odds[some] = log_dead_odds(r, alpha, s, beta, x[some], tx[some], T[some])
                return odds
    if isinstance(alpha, float | int) and isinstance(beta, float | int):
        return _log_dead_odds_scalar(r, float(alpha), s, float(beta), x, tx, T)
    p, _, al, be, lo, hi, P, _, u0, _, W, term = _reduced(r + x, s + 1.0, alpha, beta, tx, T)
    log_j = _log_j(P, W, term, np.abs(al - be) / u0)
    span = hi - lo
    out: FloatArray = (
        np.log(s)
        + log_j
        + p * np.log1p(span / (al + lo))
        + s * np.log1p(span / (be + lo))
        + np.log(u0 / (be + lo))
    )
    return out


def _log_dead_odds_scalar(
    r: float, a: float, s: float, b: float, x: FloatArray, tx: FloatArray, T: FloatArray
) -> FloatArray:
    """:func:`log_dead_odds` with one alpha and beta: the reduced form without broadcasting
    the scalars. The rows whose scales are close enough (w1 = |alpha − beta| / (max + t_x)
    <= W1_MAX) and whose R <= 1 (every row with P >= 1) take the positive series of
    :mod:`._pareto_alive_kernel`; the others :func:`_log_j`. W and W2 are the two
    logarithms of the odds' head as well."""
    p = r + x
    ge = a >= b
    small, big = (b, a) if ge else (a, b)
    u0 = small + tx
    du = big + tx
    gap = big - small
    span = T - tx
    W = log1p_pos(span / u0)
    W2 = log1p_pos(span / du)
    q = s + 1.0
    P: FloatArray | float
    Q: FloatArray | float
    P, Q = (q, p) if ge else (p, q)
    w1 = gap / du
    close = w1 <= W1_MAX
    if not ge and r < 1.0:  # R <= 1 (always where P = s + 1 or r + x >= 1)
        close &= (p - 1.0) * W + q * W2 >= 0.0
    # ln odds = ln(s J u0 / du [alpha < beta]) + p ln((alpha + T) / (alpha + t_x))
    #           + s ln((beta + T) / (beta + t_x))
    head: FloatArray = p * (W2 if ge else W)
    head += s * (W if ge else W2)
    if close.all():
        head += _close(s, ge, P, Q, W, W2, w1, gap, big + T, span, u0, du, None)
        return head
    if not close.any():  # every row by the quadrature
        far = None
        Pf, Qf, Wf, u0f, duf = P, Q, W, u0, du
    else:
        far = np.flatnonzero(~close)
        idx = np.flatnonzero(close)
        head[idx] += _close(s, ge, P, Q, W, W2, w1, gap, big + T, span, u0, du, idx)
        Pf, Qf = (v[far] if isinstance(v, np.ndarray) else v for v in (P, Q))
        Wf, u0f, duf = W[far], u0[far], du[far]
    log_j = _log_j(np.asarray(Pf), Wf, (np.asarray(Qf), u0f / duf, gap / duf, 1.0), gap / u0f)
    log_j += float(np.log(s))
    if not ge:
        log_j += np.log(u0f / duf)
    if far is None:
        head += log_j
    else:
        head[far] += log_j
    return head


def _close(
    s: float,
    ge: bool,
    P: FloatArray | float,
    Q: FloatArray | float,
    W: FloatArray,
    W2: FloatArray,
    w1: FloatArray,
    gap: float,
    big_T: FloatArray,
    span: FloatArray,
    u0: FloatArray,
    du: FloatArray,
    idx: npt.NDArray[np.intp] | None,
) -> FloatArray:
    """ln(s J u0 / du [alpha < beta]) of the rows ``idx`` (all when None) by
    :func:`._pareto_alive_kernel.log_j_close`."""
    if idx is not None:
        W, W2, w1, big_T, span, u0, du = (v[idx] for v in (W, W2, w1, big_T, span, u0, du))
        P, Q = (v[idx] if isinstance(v, np.ndarray) else v for v in (P, Q))
    step = span / big_T  # 1 − e^-W2
    factor: FloatArray | float = s
    if not ge:
        factor = u0 / du
        factor *= s
    return log_j_close(P, Q, W, W2, w1, step, factor)


def _no_repeat_odds(r: float, a: float, s: float, b: float, ages: FloatArray) -> FloatArray:
    """:func:`log_dead_odds` of customers without a repeat purchase at the distinct ``ages``
    (cached: the blocks of one call share their ages, 1..730 on a daily grid)."""
    return _no_repeat_cached(r, a, s, b, ages.tobytes())


@functools.lru_cache(maxsize=16)
def _no_repeat_cached(r: float, a: float, s: float, b: float, ages: bytes) -> FloatArray:
    T = np.frombuffer(ages, dtype=np.float64)
    zero = np.zeros(len(T))
    out = log_dead_odds(r, a, s, b, zero, zero, T)
    out.flags.writeable = False
    return out
