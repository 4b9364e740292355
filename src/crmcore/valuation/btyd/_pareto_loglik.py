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

ln I with its gradient and Hessian is :func:`log_integral`, one method for every row, with
or without covariates: the Euler-transformed series at the ends of the intervals
(:mod:`._pareto_series`; ``ln I = ln F(t_x) + ln(1 − ω)``, ``ω = F(T) / F(t_x)``; the ends
distinct per (x, τ) when every row has the same α and β, two per row with α_i, β_i; the
case α_i >= β_i per row); rows with ω > 1 − 1e-4 or non-finite ends by the reduced-form
quadrature of :mod:`._pareto_math`.

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
from crmcore.valuation.btyd._pareto_math import log_integral_hessian
from crmcore.valuation.btyd._pareto_series import ParetoEnds, series_ends

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
    and the ends of the active rows' intervals (the series' grid; distinct per (x, τ)
    without covariates)."""

    data: FitData
    n_act: int
    ux: FloatArray
    xi: npt.NDArray[np.intp]
    ends: ParetoEnds

    @classmethod
    def build(cls, data: FitData) -> ParetoRows:
        order = np.argsort(data.tx >= data.T, kind="stable").astype(np.intp)
        data = data.take(order)
        na = int(np.count_nonzero(data.tx < data.T))
        ux, xi = np.unique(data.x, return_inverse=True)
        shared = data.kp == 0 and data.kd == 0
        ends = ParetoEnds.build(data.x[:na], data.tx[:na], data.T[:na], shared=shared)
        return cls(data, na, ux, xi.reshape(-1).astype(np.intp), ends)


def log_integral(
    theta: FloatArray,
    rows: ParetoRows,
    al: FloatArray | float,
    be: FloatArray | float,
    hessian: bool,
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """ln I of the active rows with its gradient (4, na) and packed Hessian (10, na, or
    None) in v = (r, s, ln α_i, ln β_i) (the derivatives in r and s are those in r + x and
    s + 1): ``ln I = ln F(t_x) + ln(1 − ω)``, ``ω = F(T) / F(t_x)``, F by the series at
    the ends (:func:`._pareto_series.series_ends`); rows with ω > 1 − 1e-4 (an interval
    too short for the difference) or non-finite ends by the reduced-form quadrature
    (:func:`._pareto_math.log_integral_hessian`)."""
    r, s = float(theta[0]), float(theta[2])
    d, na, ends = rows.data, rows.n_act, rows.ends
    if ends.shared:
        al_e: FloatArray | float = float(np.asarray(al))
        be_e: FloatArray | float = float(np.asarray(be))
    else:
        n = len(d.x)
        al_e = np.broadcast_to(np.asarray(al, dtype=np.float64), (n,))[ends.row]
        be_e = np.broadcast_to(np.asarray(be, dtype=np.float64), (n,))[ends.row]
    f, gf, hf = series_ends(ends, r, s, al_e, be_e, hessian=hessian)
    lo, hi = ends.lo, ends.hi
    quad = None
    if not np.isfinite(float(f.sum() + gf.sum() + (0.0 if hf is None else hf.sum()))):
        bad = ~(np.isfinite(f) & np.isfinite(gf).all(axis=0))
        if hf is not None:
            bad |= ~np.isfinite(hf).all(axis=0)
        f, gf = f.copy(), gf.copy()
        f[bad], gf[:, bad] = 0.0, 0.0
        if hf is not None:
            hf = hf.copy()
            hf[:, bad] = 0.0
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
    gv = (g_lo - om * g_hi) * inv_1m
    Hv = None
    if hf is not None:
        # ln I = ln E, E = e^f_lo − e^f_hi: ∂²E/E − (∂E/E)(∂E/E)', packed
        Hv = np.empty((10, na))
        h_lo, h_hi = hf[:, lo], hf[:, hi]
        for p, (i, j) in enumerate(zip(*UPPER, strict=True)):
            Hv[p] = ((h_lo[p] + g_lo[i] * g_lo[j]) - om * (h_hi[p] + g_hi[i] * g_hi[j])) * inv_1m
            Hv[p] -= gv[i] * gv[j]
    if len(qi):
        rx, q = r + d.x[qi], np.full(len(qi), s + 1.0)
        al_q, be_q = (
            np.broadcast_to(np.asarray(v, dtype=np.float64), (len(d.x),))[qi] for v in (al, be)
        )
        lq, gq, Hq = log_integral_hessian(rx, q, al_q, be_q, d.tx[qi], d.T[qi])
        log_i[qi] = lq
        gv[:, qi] = gq
        if Hv is not None:
            Hv[:, qi] = Hq[UPPER[0], UPPER[1]]
    return log_i, gv, Hv


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
