"""The Gamma-Gompertz/NBD integrals (Bemmaor & Glady 2012), vectorised in log space.

A customer buys as a Poisson process with rate λ ~ gamma(r, α) while alive; her lifetime
is Gompertz with hazard b η e^{bτ}, η ~ gamma(s, β), so the lifetime of a new customer has
survival S(τ) = (β / (β + e^{bτ} − 1))^s and density f = −S'. Every quantity below is an
integral over the unobserved death time, evaluated by :mod:`._ggompertz_quad` on a variable
that absorbs the integrand's steepest factor:

* the likelihood's 'died in (t_x, T]' term ∫ (α+u)^-(r+x) f(u) du on
  y = ln((α+u)/(α+t_x)) (the power factor becomes e^{-(r+x-1) y});
* survival integrals ∫_0^t S(u) du (expected purchases) on w = ln(1 + (e^{bu} − 1)/β),
  where S = e^{-sw} and du/dw = 1 / (b (1 − e^{-w}) + (b/β) e^{-w});
* P(no purchase) and P(n purchases) on the same variables.

A customer alive at T has the same lifetime law from T on with β replaced by
β_T = (β + e^{bT} − 1) e^{-bT} (:func:`residual_beta`) and the purchase rate law
gamma(r + x, α + T), so the conditional predictions are new-customer formulas with
(r + x, α + T, β_T). As b → 0 with β / b fixed the lifetime tends to the exponential of
Pareto/NBD with drop-out rate gamma(s, β / b).

>>> import numpy as np
>>> one = np.ones(1)
>>> float(survival_integral(5 * one, 1e-9, 1.0, 1e-9 * one)[0])  # b -> 0: Pareto, s = 1, beta = 1
1.791759...
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import digamma, gammaln, xlogy

from crmcore.arrays import FloatArray
from crmcore.valuation.btyd._common import trigamma
from crmcore.valuation.btyd._ggompertz_quad import (
    IntArray,
    Nodes,
    adaptive_nodes,
    row_logsum,
    row_sum,
)

__all__ = [
    "log_dead_odds",
    "log_gb",
    "log_survival",
    "loglik_rows",
    "pmf_if_alive",
    "repurchase_if_alive",
    "residual_beta",
    "survival_integral",
]


def _branches(
    bu: FloatArray,
    small: Callable[[FloatArray], FloatArray],
    big: Callable[[FloatArray], FloatArray],
) -> FloatArray:
    """``small(bu)`` where bu <= 1, ``big(bu)`` elsewhere (one branch when all agree)."""
    bu = np.asarray(bu, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if bu.size and bu.max() <= 1.0:
            return small(bu)
        if bu.size and bu.min() > 1.0:
            return big(bu)
        out: FloatArray = np.where(bu > 1.0, big(np.maximum(bu, 1.0)), small(np.minimum(bu, 1.0)))
    return out


def log_gb(bu: FloatArray, beta: FloatArray | float) -> FloatArray:
    """ln(β + e^{bu} − 1) without overflow (bu large) or cancellation (bu and β small)."""
    return _branches(
        bu,
        lambda v: np.log(beta + np.expm1(v)),
        lambda v: v + np.log1p((beta - 1.0) * np.exp(-v)),
    )


def _lw(bu: FloatArray, beta: FloatArray | float) -> FloatArray:
    """w = ln(1 + (e^{bu} − 1) / β) = −ln S(u) / s, without overflow or cancellation."""
    return _branches(
        bu,
        lambda v: np.log1p(np.expm1(v) / beta),
        lambda v: v - np.log(beta) + np.log1p((beta - 1.0) * np.exp(-v)),
    )


def log_survival(t: FloatArray, b: float, s: float, beta: FloatArray | float) -> FloatArray:
    """ln S(t) = −s ln(1 + (e^{bt} − 1) / β) of the gamma-Gompertz lifetime."""
    out: FloatArray = -s * _lw(b * t, beta)
    return out


def residual_beta(T: FloatArray, b: float, beta: FloatArray | float) -> FloatArray:
    """β_T = (β + e^{bT} − 1) e^{-bT}: the lifetime of a customer alive at T, from T on, is
    gamma-Gompertz with (b, s, β_T) (both terms are positive: no cancellation)."""
    out: FloatArray = beta * np.exp(-b * T) - np.expm1(-b * T)
    return out


def _col(v: FloatArray, rows: IntArray) -> FloatArray:
    out: FloatArray = v[rows][:, None]
    return out


def _edges(*cols: FloatArray) -> FloatArray:
    """Initial panel edges per row: the given points, clipped into [first, last], sorted."""
    lo, hi = cols[0], cols[-1]
    inner = [np.clip(np.nan_to_num(c, nan=0.0), lo, hi) for c in cols[1:-1]]
    out: FloatArray = np.sort(np.stack([lo, *inner, hi], axis=1), axis=1)
    return out


# -- the likelihood ---------------------------------------------------------------------------


def _dead_nodes(
    r: float,
    a: FloatArray,
    b: float,
    s: float,
    be: FloatArray,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
) -> tuple[Nodes, FloatArray]:
    """Nodes of J = ∫_{t_x}^T ((α+t_x)/(α+u))^(r+x) (α+t_x)^-1 e^{bu} (β + e^{bu} − 1)^-(s+1)
    du on y = ln((α+u)/(α+t_x)), where it is ∫_0^Y e^{-(r+x-1) y} e^{bu} (β + e^{bu} − 1)^-(s+1)
    dy (both factors entire or with poles at least π/b off the axis), with the death time u
    at each node (``v``); and Y = ln((α+T)/(α+t_x)) per row. The likelihood's integral is
    (α+t_x)^(1−r−x) J. One initial panel per row: on y the integrand is smooth enough that
    the adaptive rule splits only where needed (initial cuts at the fall of the power
    factor and the turn of the lifetime density cost more than they saved)."""
    c = r + x - 1.0
    base = a + tx
    Y = np.log1p((T - tx) / base)
    edges = _edges(np.zeros_like(Y), Y)

    def death(rows: IntArray, y: FloatArray) -> FloatArray:
        out: FloatArray = _col(tx, rows) + _col(base, rows) * np.expm1(y)
        return out

    def logf(rows: IntArray, y: FloatArray) -> FloatArray:
        bu = b * death(rows, y)
        out: FloatArray = -_col(c, rows) * y + bu - (s + 1.0) * log_gb(bu, _col(be, rows))
        return out

    nodes = adaptive_nodes(logf, edges)
    u = death(nodes.row, nodes.v[:, None])[:, 0] if len(nodes.row) else nodes.v
    return Nodes(nodes.row, u, nodes.logw), Y


def log_dead_odds(
    r: float,
    a: FloatArray,
    b: float,
    s: float,
    be: FloatArray,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
) -> FloatArray:
    """ln P(died in (t_x, T] | data) / P(alive at T | data) per row (−inf where t_x = T):
    ln(b s) + ln J + ln(α + t_x) + (r + x) Y + s ln(β + e^{bT} − 1) in the terms of
    :func:`_dead_nodes` (the (α + T) powers enter as the ratio Y: nothing large cancels)."""
    n = len(x)
    live = np.flatnonzero(tx < T)
    out = np.full(n, -np.inf)
    if len(live):
        nodes, Y = _dead_nodes(r, a[live], b, s, be[live], x[live], tx[live], T[live])
        log_j = row_logsum(nodes, len(live))
        xl, al, bl, Tl = x[live], a[live], be[live], T[live]
        out[live] = (
            np.log(b * s) + log_j + np.log(al + tx[live]) + (r + xl) * Y + s * log_gb(b * Tl, bl)
        )
    return out


def loglik_rows(
    r: float,
    a: FloatArray,
    b: float,
    s: float,
    be: FloatArray,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
    *,
    order: int = 0,
) -> tuple[FloatArray, FloatArray | None, FloatArray | None]:
    """Per-row log-likelihood and (``order`` 1, 2) its gradient (n, 5) and Hessian (n, 5, 5)
    in (r, ln α_i, b, s, ln β_i).

    ln L = ln Γ(r+x) − ln Γ(r) + r ln α + s ln β + ln[ (α+T)^-(r+x) (β + e^{bT} − 1)^-s
    + b s ∫_{t_x}^T (α+u)^-(r+x) e^{bu} (β + e^{bu} − 1)^-(s+1) du ]. The derivatives of the
    integral's logarithm are moments of the log-integrand's derivatives over the same nodes
    (the interval does not depend on the parameters).
    """
    n = len(x)
    k = r + x
    lat = np.log(a + T)
    lgT = log_gb(b * T, be)
    alive = -k * lat - s * lgT
    const = gammaln(k) - gammaln(r) + r * np.log(a) + s * np.log(be)
    live = np.flatnonzero(tx < T)
    odds = np.full(n, -np.inf)
    nodes: Nodes | None = None
    log_j = np.zeros(0)
    if len(live):
        nodes, Y = _dead_nodes(r, a[live], b, s, be[live], x[live], tx[live], T[live])
        log_j = row_logsum(nodes, len(live))
        odds[live] = (
            np.log(b * s) + log_j + np.log(a[live] + tx[live]) + k[live] * Y + s * lgT[live]
        )
    ll = const + alive + np.logaddexp(0.0, odds)
    if order == 0:
        return ll, None, None
    with np.errstate(over="ignore"):
        p_dead = np.exp(odds - np.logaddexp(0.0, odds))  # 1 - P(alive), 0 where t_x = T
    # derivatives in natural (r, a, b, s, be) first
    eT = np.exp(-lgT)
    qT = np.exp(b * T - lgT)
    gA = np.stack([-lat, -k / (a + T), -s * T * qT, -lgT, -s * eT], axis=1)
    gC = np.stack(
        [digamma(k) - digamma(r) + np.log(a), r / a, np.zeros(n), np.log(be), s / be], axis=1
    )
    gB = np.zeros((n, 5))
    HB = np.zeros((n, 5, 5))
    if nodes is not None:
        m = len(live)
        row = nodes.row
        full = live[row]
        u = nodes.v
        p = np.exp(nodes.logw - log_j[row])
        au = a[full] + u
        lg = log_gb(b * u, be[full])
        e = np.exp(-lg)
        q = np.exp(b * u - lg)
        kk = k[full]
        phi = [
            -np.log(au),
            -kk / au,
            1.0 / b + u - (s + 1.0) * u * q,
            1.0 / s - lg,
            -(s + 1.0) * e,
        ]
        mean = np.stack([row_sum(p * f, row, m) for f in phi], axis=1)
        gB[live] = mean
        if order >= 2:
            cen = [f - mean[row, i] for i, f in enumerate(phi)]
            d2 = {
                (0, 1): -1.0 / au,
                (1, 1): kk / au**2,
                (2, 2): -(s + 1.0) * u * u * q * e * (be[full] - 1.0) - 1.0 / b**2,
                (2, 3): -u * q,
                (2, 4): (s + 1.0) * u * q * e,
                (3, 3): np.full_like(u, -1.0 / s**2),
                (3, 4): -e,
                (4, 4): (s + 1.0) * e * e,
            }
            for i in range(5):
                for j in range(i, 5):
                    v = cen[i] * cen[j]
                    extra = d2.get((i, j))
                    if extra is not None:
                        v = v + extra
                    HB[live, i, j] = HB[live, j, i] = row_sum(p * v, row, m)
    diff = gA - gB
    g = gC + gA + p_dead[:, None] * (gB - gA)
    H: FloatArray | None = None
    if order >= 2:
        HA = np.zeros((n, 5, 5))
        HA[:, 0, 1] = HA[:, 1, 0] = -1.0 / (a + T)
        HA[:, 1, 1] = k / (a + T) ** 2
        HA[:, 2, 2] = -s * T * T * qT * eT * (be - 1.0)
        HA[:, 2, 3] = HA[:, 3, 2] = -T * qT
        HA[:, 2, 4] = HA[:, 4, 2] = s * T * qT * eT
        HA[:, 3, 4] = HA[:, 4, 3] = -eT
        HA[:, 4, 4] = s * eT * eT
        HC = np.zeros((n, 5, 5))
        HC[:, 0, 0] = trigamma(k) - trigamma(r)
        HC[:, 0, 1] = HC[:, 1, 0] = 1.0 / a
        HC[:, 1, 1] = -r / a**2
        HC[:, 3, 4] = HC[:, 4, 3] = 1.0 / be
        HC[:, 4, 4] = -s / be**2
        pd = p_dead[:, None, None]
        H = HC + (1 - pd) * HA + pd * HB + (pd * (1 - pd)) * np.einsum("ni,nj->nij", diff, diff)
    # to (r, ln a, b, s, ln be): d/dln a = a d/da, d2/dln a2 = a^2 d2/da2 + a d/da
    scale = np.ones((n, 5))
    scale[:, 1] = a
    scale[:, 4] = be
    if H is not None:
        H = H * scale[:, :, None] * scale[:, None, :]
        H[:, 1, 1] += a * g[:, 1]
        H[:, 4, 4] += be * g[:, 4]
    return ll, g * scale, H


# -- predictions ------------------------------------------------------------------------------


def _cut(s: float, be: FloatArray) -> FloatArray:
    """A w beyond which e^{-sw} du/dw holds less than 1e-17 of ∫ e^{-sw} du/dw dw."""
    out: FloatArray = (
        np.log(np.maximum((1.0 - be) / be, 1.0)) + np.log(np.maximum(be, 1.0)) / s + 40.0 / s + 5.0
    )
    return out


def _log_dudw(w: FloatArray, b: float, be: FloatArray) -> FloatArray:
    """ln du/dw = −ln(b (1 − e^{-w}) + (b/β) e^{-w}) (two non-negative terms)."""
    out: FloatArray = -np.log(-b * np.expm1(-w) + (b / be) * np.exp(-w))
    return out


def survival_integral(t: FloatArray, b: float, s: float, be: FloatArray) -> FloatArray:
    """∫_0^t S(u) du per row for the gamma-Gompertz lifetime (b, s, β_i) (t, β per row):
    ∫_0^W e^{-sw} du/dw dw with W = ln(1 + (e^{bt} − 1)/β), cut where the rest is below
    1e-17 of the whole."""
    t, be = np.broadcast_arrays(np.asarray(t, dtype=np.float64), be)
    t, be = t.ravel(), be.ravel()
    n = len(t)
    W = np.minimum(_lw(b * t, be), _cut(s, be))
    with np.errstate(divide="ignore", invalid="ignore"):
        turn = np.log((1.0 - be) / be)  # where the factor 1 + (1/β − 1) e^{-w} turns (β < 1)

    def logf(rows: IntArray, w: FloatArray) -> FloatArray:
        return -s * w + _log_dudw(w, b, _col(be, rows))

    nodes = adaptive_nodes(logf, _edges(np.zeros(n), turn, W))
    out: FloatArray = np.exp(row_logsum(nodes, n))
    return out


def repurchase_if_alive(
    t: FloatArray, r: FloatArray, a: FloatArray, b: float, s: float, be: FloatArray
) -> FloatArray:
    """P(at least one purchase in (0, t] | alive at 0) with rate ~ gamma(r, α) and lifetime
    (b, s, β) per row: ∫_0^t S(y) r α^r (α+y)^-(r+1) dy (the first purchase before death),
    = r ∫_0^V e^{-rv} S(α (e^v − 1)) dv on v = ln(1 + y/α), V = ln(1 + t/α)."""
    t, r, a, be = (v.ravel() for v in np.broadcast_arrays(t, r, a, be))
    n = len(t)
    V = np.log1p(t / a)
    with np.errstate(divide="ignore", over="ignore"):
        turn = np.log1p(np.log1p(be) / b / a)

    def logf(rows: IntArray, v: FloatArray) -> FloatArray:
        y = _col(a, rows) * np.expm1(v)
        return -_col(r, rows) * v + log_survival(y, b, s, _col(be, rows))

    nodes = adaptive_nodes(logf, _edges(np.zeros(n), np.minimum(30.0 / r, V), turn, V))
    out: FloatArray = np.minimum(r * np.exp(row_logsum(nodes, n)), 1.0)
    return out


def _log_nbd(n: FloatArray, u: FloatArray, r: FloatArray, a: FloatArray) -> FloatArray:
    """ln P(n purchases in (0, u]) under a gamma(r, α) Poisson rate."""
    out: FloatArray = (
        gammaln(r + n)
        - gammaln(r)
        - gammaln(n + 1)
        + r * np.log(a / (a + u))
        + xlogy(n, u / (a + u))
    )
    return out


def pmf_if_alive(
    count: FloatArray,
    t: FloatArray,
    r: FloatArray,
    a: FloatArray,
    b: float,
    s: float,
    be: FloatArray,
) -> FloatArray:
    """P(n purchases in (0, t] | alive at 0) per row: S(t) NBD(n; t) + ∫_0^t f(u) NBD(n; u)
    du, the integral on w (f du = s e^{-sw} dw, u = ln(1 + β (e^w − 1)) / b)."""
    count, t, r, a, be = (v.ravel() for v in np.broadcast_arrays(count, t, r, a, be))
    n = len(t)
    W_t = _lw(b * t, be)
    mode = _lw(b * count * a / r, be)
    W = np.minimum(W_t, np.maximum(_cut(s, be), mode + 40.0 / s))
    with np.errstate(divide="ignore", invalid="ignore"):
        turn = np.log((1.0 - be) / be)  # where the factor 1 + (1/β − 1) e^{-w} turns (β < 1)

    def logf(rows: IntArray, w: FloatArray) -> FloatArray:
        bec = _col(be, rows)
        with np.errstate(over="ignore"):
            u = np.log1p(bec * np.expm1(w)) / b
        out: FloatArray = (
            np.log(s) - s * w + _log_nbd(_col(count, rows), u, _col(r, rows), _col(a, rows))
        )
        return out

    nodes = adaptive_nodes(logf, _edges(np.zeros(n), turn, mode, W))
    dead = row_logsum(nodes, n)
    alive = -s * W_t + _log_nbd(count, t, r, a)
    out: FloatArray = np.exp(np.logaddexp(alive, dead))
    return out
