"""The Pareto/NBD log-likelihood with its analytic gradient and Hessian (for Newton fits).

Per customer ``ln L = ln Γ(r+x) − ln Γ(r) + r ln α + s ln β + logaddexp(A, D)`` with
``A = −(r+x) ln(α+T) − s ln(β+T)`` ('alive at T') and ``D = ln s + ln I``,
``I = ∫_{t_x}^{T} (α+τ)^-(r+x) (β+τ)^-(s+1) dτ = F(t_x) − F(T)`` (:mod:`._pareto_series`
evaluates ln F with its derivatives at every distinct end). The log-sum-exp's
Hessian is ``pA HA + pD HD + pA pD (gA − gD)(gA − gD)'``. With ``ω = F(T) / F(t_x)``,
``ln I = ln F(t_x) + ln(1 − ω)``; its gradient is ``(∂f_lo − ω ∂f_hi) / (1 − ω)`` and
its Hessian ``∂²E/E − (∂E/E)(∂E/E)'`` with ``E = e^f_lo − e^f_hi``. Only the weighted
sum of the rows' Hessians is needed, so the ends' Hessians enter through one
weighted sum per end. Rows whose interval is too short for the difference
(ω > 1 − 1e-4), or whose ends are not finite, are integrated directly
(:func:`._pareto_math.quad_moments`).

>>> import numpy as np
>>> data = ParetoData.build(np.array([0.0, 2.0]), np.array([0.0, 3.0]), np.array([5.0, 6.0]),
...                         np.array([1.0, 1.0]))
>>> ll, g, H = loglik_grad_hess(np.array([0.5, 4.0, 0.7, 6.0]), data)
>>> g.shape, H.shape, bool(np.allclose(H, H.T))
((4,), (4, 4), True)
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from crmcore.arrays import FloatArray
from crmcore.valuation.btyd._common import trigamma
from crmcore.valuation.btyd._pareto_math import quad_moments
from crmcore.valuation.btyd._pareto_series import JACOBIANS, ParetoData, series_ends, sym4

__all__ = ["ParetoData", "loglik_grad_hess"]

_OMEGA_MAX = 1.0 - 1e-4  # F(T) / F(t_x) above this: the interval by quadrature
_IL = np.tril_indices(4, -1)


def loglik_grad_hess(theta: FloatArray, data: ParetoData) -> tuple[float, FloatArray, FloatArray]:
    """Total log-likelihood, gradient (4,) and Hessian (4, 4) at theta = (r, α, s, β)."""
    r, alpha, s, beta = (float(v) for v in theta)
    x, T, w, na = data.x, data.T, data.w, data.n_act
    ux, wu = data.ux, data.wu
    tot = float(wu.sum())
    log_a, log_b = np.log(alpha), np.log(beta)
    # the constant part ln Γ(r+x) − ln Γ(r) + r ln α + s ln β, per distinct x
    rux = r + ux
    ll = float(np.dot(wu, gammaln(rux))) + tot * (r * log_a + s * log_b - float(gammaln(r)))
    g = np.array(
        [
            float(np.dot(wu, digamma(rux))) + tot * (log_a - float(digamma(r))),
            tot * r / alpha,
            tot * log_b,
            tot * s / beta,
        ]
    )
    H = np.zeros((4, 4))
    H[0, 0] = float(np.dot(wu, trigamma(rux))) - tot * float(trigamma(r))
    H[0, 1] = tot / alpha
    H[1, 1] = -tot * r / alpha**2
    H[2, 3] = tot / beta
    H[3, 3] = -tot * s / beta**2

    # the 'alive at T' branch A for every row; nA = −(gradient of A)
    ab = np.empty((2, len(x)))
    np.add(alpha, T, out=ab[0])
    np.add(beta, T, out=ab[1])
    nA = np.empty((4, len(x)))
    np.log(ab, out=nA[::2])
    la, lb = nA[0], nA[2]
    ia, ib = 1.0 / ab
    rx = r + x
    rx_ia = np.multiply(rx, ia, out=nA[1])
    np.multiply(s, ib, out=nA[3])
    A = -(rx * la + s * lb)

    # the 'dead before T' branch D = ln s + ln I for rows [:na]
    J = JACOBIANS[alpha >= beta]
    f, gf, hf = series_ends(data, theta)
    lo, hi = data.lo, data.hi
    quad = None
    if not np.isfinite(float(f.sum() + gf.sum() + hf.sum())):
        bad = ~(np.isfinite(f) & np.isfinite(gf).all(axis=0) & np.isfinite(hf).all(axis=0))
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
    Gv = (g_lo - om * g_hi) * inv_1m
    gI = J.T @ Gv
    D = np.log(s) + log_i
    if len(qi):
        Gv[:, qi] = 0.0
        lq, gq, Hq = quad_moments(rx[qi], np.full(len(qi), s + 1), alpha, beta, data.tx[qi], T[qi])
        D[qi] = np.log(s) + lq
        gI[:, qi] = gq
    L = A.copy()
    L[:na] = np.logaddexp(A[:na], D)
    pD = np.exp(D - L[:na])
    wD = w[:na] * pD
    wA = w.copy()
    wA[:na] -= wD
    ll += float(np.dot(w, L))
    gI[2] += 1.0 / s  # now the gradient of D
    g += gI @ wD - nA @ wA

    # Hessian: pA HA + pD HD + pA pD (gA − gD)(gA − gD)'
    H[0, 1] -= float(np.dot(wA, ia))
    H[1, 1] += float(np.dot(wA, rx_ia * ia))
    H[2, 3] -= float(np.dot(wA, ib))
    H[3, 3] += float(np.dot(wA, s * ib * ib))
    H[2, 2] -= float(wD.sum()) / s**2
    delta = nA[:, :na] + gI  # = −(gA − gD): the sign cancels in the outer product
    H += (delta * (wA[:na] * pD)) @ delta.T
    cs = wD
    if len(qi):
        cs = wD.copy()
        cs[qi] = 0.0
        H += np.einsum("n,nij->ij", wD[qi], Hq)
    # the ln I Hessians in (M, e, γ, d), weighted and summed: the ends' Hessians of ln F
    # plus the outer products of their gradients enter with weight cs / (1 − ω) at t_x
    # and −cs ω / (1 − ω) at T
    a_lo = cs * inv_1m
    a_hi = a_lo * om
    n_end = len(f)
    a_end = np.bincount(lo, weights=a_lo, minlength=n_end)
    a_end -= np.bincount(hi, weights=a_hi, minlength=n_end)
    Hv = sym4(hf @ a_end) + (gf * a_end) @ gf.T - (Gv * cs) @ Gv.T
    H += J.T @ Hv @ J
    H[_IL] = H.T[_IL]
    return ll, g, H
