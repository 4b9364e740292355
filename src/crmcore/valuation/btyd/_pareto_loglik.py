"""The Pareto/NBD log-likelihood, one for the plain model and the model with covariates,
with its analytic gradient and Hessian (the fits' Newton steps and standard errors).

Per row (compressed customers) the parameters are (r, alpha_i, s, beta_i) with
``alpha_i = alpha e^(-z_p . gamma_p)``, ``beta_i = beta e^(-z_d . gamma_d)`` (R CLVTools'
parametrisation; no covariate: the plain parameters) and

``ln L = ln Γ(r+x) − ln Γ(r) + r ln α_i + s ln β_i + logaddexp(A, D)``,

``A = −(r+x) ln(α_i+T) − s ln(β_i+T)`` ('alive at T'), ``D = ln s + ln I``,
``I = ∫_{t_x}^{T} (α_i+τ)^-(r+x) (β_i+τ)^-(s+1) dτ``. The derivatives are taken per row in
``v = (r, s, ln α_i, ln β_i)``, where the log-sum-exp's Hessian is
``pA HA + pD HD + pA pD (gA − gD)(gA − gD)'``, and carried to the parameters by
:func:`._design.chain`.

ln I with its gradient and Hessian is :func:`log_integral`: where every row has the same
α and β (the plain model) by the Euler-transformed series at the distinct ends of the
intervals (:mod:`._pareto_series`; ``ln I = ln F(t_x) + ln(1 − ω)``, ``ω = F(T) / F(t_x)``,
rows with ω > 1 − 1e-4 or non-finite ends by Gauss-Legendre quadrature), else row by row
by the reduced-form quadrature of :mod:`._pareto_math`.

>>> import numpy as np
>>> from crmcore.valuation.btyd._design import FitData
>>> none = np.zeros((2, 0))
>>> data = FitData.build(np.array([0.0, 2.0]), np.array([0.0, 3.0]), np.array([5.0, 6.0]),
...                      None, none, none)
>>> ll, g, H = loglik(np.array([0.5, 4.0, 0.7, 6.0]), ParetoRows.build(data))
>>> g.shape, H.shape, bool(np.allclose(H, H.T))
((4,), (4, 4), True)
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln

from crmcore.arrays import FloatArray
from crmcore.valuation.btyd._common import trigamma
from crmcore.valuation.btyd._design import UPPER, FitData, Layout, chain, linear
from crmcore.valuation.btyd._pareto_math import (
    log_integral_hessian,
    power_integral_moments,
    quad_moments,
)
from crmcore.valuation.btyd._pareto_series import JACOBIANS, ParetoData, series_ends

__all__ = ["LAYOUT", "ParetoRows", "log_integral", "loglik"]

LAYOUT = Layout(
    base=(0, 2, 1, 3),
    logs=(False, True, False, True),
    purchase=((2, -1.0),),
    dropout=((3, -1.0),),
)
"""theta = (r, alpha, s, beta, gamma_p..., gamma_d...) into v = (r, s, ln alpha_i, ln beta_i)."""

_OMEGA_MAX = 1.0 - 1e-4  # F(T) / F(t_x) above this: the interval by quadrature
_P: dict[tuple[int, int], int] = {
    (int(i), int(j)): p for p, (i, j) in enumerate(zip(*UPPER, strict=True))
}
_P.update({(j, i): p for (i, j), p in list(_P.items())})


@attrs.frozen
class ParetoRows:
    """The rows of a fit, those with t_x < T first (``n_act`` of them), with the distinct x
    and, without covariates, the distinct ends of the intervals (the series' grid)."""

    data: FitData
    n_act: int
    ux: FloatArray
    xi: npt.NDArray[np.intp]
    ends: ParetoData | None

    @classmethod
    def build(cls, data: FitData) -> ParetoRows:
        order = np.argsort(data.tx >= data.T, kind="stable").astype(np.intp)
        data = data.take(order)
        na = int(np.count_nonzero(data.tx < data.T))
        ux, xi = np.unique(data.x, return_inverse=True)
        ends = None
        if data.kp == 0 and data.kd == 0:
            ends = ParetoData.build(data.x, data.tx, data.T, data.w)
        return cls(data, na, ux, xi.reshape(-1).astype(np.intp), ends)


def _to_v(
    g: FloatArray, H: FloatArray | None, alpha: float, beta: float
) -> tuple[FloatArray, FloatArray | None]:
    """Gradient (4, n) and Hessian (4, 4, n) in θ = (p, α, q, β) to v = (p, q, ln α, ln β)
    (packed, :data:`._design.UPPER`)."""
    scale = np.array([1.0, alpha, 1.0, beta])
    perm = [0, 2, 1, 3]  # v coordinate k is θ coordinate perm[k]
    gv = (g * scale[:, None])[perm]
    if H is None:
        return gv, None
    Hs = H * (scale[:, None] * scale[None, :])[:, :, None]
    Hv = np.empty((10, H.shape[2]))
    for p, (i, j) in enumerate(zip(*UPPER, strict=True)):
        Hv[p] = Hs[perm[i], perm[j]]
    Hv[_P[2, 2]] += gv[2]
    Hv[_P[3, 3]] += gv[3]
    return gv, Hv


def _series_integral(
    theta: FloatArray, rows: ParetoRows, hessian: bool
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """ln I of the active rows, its gradient (4, na) and Hessian (10, na) in v, from the
    series at the distinct ends (one α and β for every row)."""
    assert rows.ends is not None
    r, alpha, s, beta = (float(v) for v in theta[:4])
    d = rows.data
    J = JACOBIANS[bool(alpha >= beta)]
    f, gf, hf = series_ends(rows.ends, theta[:4])
    lo, hi = rows.ends.lo, rows.ends.hi
    quad = None
    if not np.isfinite(float(f.sum() + gf.sum() + hf.sum())):
        bad = ~(np.isfinite(f) & np.isfinite(gf).all(axis=0) & np.isfinite(hf).all(axis=0))
        f, gf, hf = f.copy(), gf.copy(), hf.copy()
        f[bad], gf[:, bad], hf[:, bad] = 0.0, 0.0, 0.0
        quad = bad[lo] | bad[hi]
    f_lo = f[lo]
    om = np.exp(f[hi] - f_lo)
    if quad is not None or not om.max(initial=0.0) <= _OMEGA_MAX:
        quad = ~(om <= _OMEGA_MAX) if quad is None else quad | ~(om <= _OMEGA_MAX)
    qi = np.flatnonzero(quad) if quad is not None else np.zeros(0, dtype=np.intp)
    if len(qi):
        om[qi] = 0.0
    inv_1m = 1.0 / (1.0 - om)
    log_i = f_lo + np.log1p(-om)
    g_lo, g_hi = gf[:, lo], gf[:, hi]
    G = (g_lo - om * g_hi) * inv_1m  # in (M, e, γ, d)
    scale = np.array([1.0, alpha, 1.0, beta])
    gv = (np.einsum("ai,an->in", J, G) * scale[:, None])[_PERM]  # einsum: no BLAS threads
    Hv = None
    if hessian:
        # ln I = ln E, E = e^f_lo − e^f_hi: ∂²E/E − (∂E/E)(∂E/E)', packed, then to v
        H_mv = np.empty((10, len(lo)))
        h_lo, h_hi = hf[:, lo], hf[:, hi]
        for p, (i, j) in enumerate(zip(*UPPER, strict=True)):
            H_mv[p] = ((h_lo[p] + g_lo[i] * g_lo[j]) - om * (h_hi[p] + g_hi[i] * g_hi[j])) * inv_1m
            H_mv[p] -= G[i] * G[j]
        Hv = np.einsum("kp,pn->kn", _carry(J, alpha, beta), H_mv)
        Hv[_P[2, 2]] += gv[2]
        Hv[_P[3, 3]] += gv[3]
    if len(qi):
        x, tx, T = d.x[qi], d.tx[qi], d.T[qi]
        lq, gq, Hq = quad_moments(r + x, np.full(len(qi), s + 1), alpha, beta, tx, T)
        log_i[qi] = lq
        gq_v, Hq_v = _to_v(gq, Hq.transpose(1, 2, 0) if hessian else None, alpha, beta)
        gv[:, qi] = gq_v
        if Hv is not None and Hq_v is not None:
            Hv[:, qi] = Hq_v
    return log_i, gv, Hv


_PERM = [0, 2, 1, 3]  # v coordinate k is θ = (r, α, s, β) coordinate _PERM[k]


def _carry(J: FloatArray, alpha: float, beta: float) -> FloatArray:
    """The (10, 10) map of packed Hessians in (M, e, γ, d) to packed Hessians in v (without
    the first-derivative terms of the logarithms): θ = J' (M, e, γ, d) ..., then scaled."""
    scale = np.array([1.0, alpha, 1.0, beta])
    out = np.empty((10, 10))
    for kl, (k, l_) in enumerate(zip(*UPPER, strict=True)):
        i, j = _PERM[k], _PERM[l_]
        for p, (a, b) in enumerate(zip(*UPPER, strict=True)):
            v = J[a, i] * J[b, j]
            if a != b:
                v += J[b, i] * J[a, j]
            out[kl, p] = v * scale[i] * scale[j]
    return out


def log_integral(
    theta: FloatArray,
    rows: ParetoRows,
    al: FloatArray | float,
    be: FloatArray | float,
    hessian: bool,
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """ln I of the active rows with its gradient (4, na) and Hessian (10, na, or None) in
    v = (r, s, ln α_i, ln β_i) (the derivatives in r and s are those in r + x and s + 1)."""
    if rows.ends is not None:
        return _series_integral(theta, rows, hessian)
    d, na = rows.data, rows.n_act
    r, s = float(theta[0]), float(theta[2])
    rx, q = r + d.x[:na], np.full(na, s + 1.0)
    n = len(d.x)
    al_a = np.broadcast_to(np.asarray(al, dtype=np.float64), (n,))[:na]
    be_a = np.broadcast_to(np.asarray(be, dtype=np.float64), (n,))[:na]
    if hessian:
        log_i, g, h = log_integral_hessian(rx, q, al_a, be_a, d.tx[:na], d.T[:na])
        return log_i, g, h[UPPER[0], UPPER[1]]
    log_i, g = power_integral_moments(rx, q, al_a, be_a, d.tx[:na], d.T[:na])
    g[2] *= al_a  # natural alpha, beta to their logarithms
    g[3] *= be_a
    return log_i, g, None


def loglik(
    theta: FloatArray, rows: ParetoRows, *, hessian: bool = True
) -> tuple[float, FloatArray, FloatArray]:
    """Total log-likelihood, its gradient and (with ``hessian``) its Hessian in
    theta = (r, alpha, s, beta, gamma_p..., gamma_d...) (without ``hessian`` the Hessian
    returned is an empty array)."""
    d, na = rows.data, rows.n_act
    kp = d.kp
    r, alpha, s, beta = (float(v) for v in theta[:4])
    al = alpha * np.exp(-linear(d.zp, theta[4 : 4 + kp])) if kp else alpha
    be = beta * np.exp(-linear(d.zd, theta[4 + kp :])) if d.kd else beta
    x, T = d.x, d.T
    n = len(x)
    rx = r + x
    aT, bT = al + T, be + T
    la, lb = np.log(aT), np.log(bT)
    ua, ub = al / aT, be / bT
    A = -rx * la - s * lb
    gA = np.empty((4, n))
    gA[0], gA[1], gA[2], gA[3] = -la, -lb, -rx * ua, -s * ub
    log_i, gD, HD = log_integral(theta, rows, al, be, hessian)
    D = np.log(s) + log_i
    gD[1] += 1.0 / s
    L = A.copy()
    L[:na] = np.logaddexp(A[:na], D)
    pD = np.exp(D - L[:na])
    pA = 1.0 - pD
    gv = gA.copy()
    gv[:, :na] = pA * gA[:, :na] + pD * gD
    log_al = np.log(al) if kp else np.log(alpha)
    log_be = np.log(be) if d.kd else np.log(beta)
    # the constant part, its special functions per distinct x
    ll = float(
        np.einsum("n,n->", d.w, gammaln(r + rows.ux)[rows.xi] + L)
        - d.total * float(gammaln(r))
        + r * float(np.einsum("n,n->", d.w, np.broadcast_to(log_al, (n,))))
        + s * float(np.einsum("n,n->", d.w, np.broadcast_to(log_be, (n,))))
    )
    gv[0] += (digamma(r + rows.ux) - float(digamma(r)))[rows.xi] + log_al
    gv[1] += log_be
    gv[2] += r
    gv[3] += s
    Hv = None
    if hessian:
        assert HD is not None
        HA = np.zeros((10, n))
        HA[_P[0, 2]] = -ua
        HA[_P[1, 3]] = -ub
        HA[_P[2, 2]] = -rx * ua * (1.0 - ua)
        HA[_P[3, 3]] = -s * ub * (1.0 - ub)
        HD[_P[1, 1]] -= 1.0 / s**2
        Hv = HA
        delta = gA[:, :na] - gD
        q = pA * pD
        qd = delta * q
        for p, (i, j) in enumerate(zip(*UPPER, strict=True)):
            Hv[p, :na] = pA * HA[p, :na] + pD * HD[p] + qd[i] * delta[j]
        Hv[_P[0, 0]] += (trigamma(r + rows.ux) - float(trigamma(r)))[rows.xi]
        Hv[_P[0, 2]] += 1.0
        Hv[_P[1, 3]] += 1.0
    grad, hess = chain(theta, gv, Hv, d, LAYOUT)
    return ll, grad, np.empty((0, 0)) if hess is None else hess
