"""Pareto/NBD with time-invariant covariates: the maximum-likelihood fit.

``alpha_i = alpha exp(-z_purchase_i . gamma_purchase)``,
``beta_i = beta exp(-z_dropout_i . gamma_dropout)`` (R CLVTools' parametrisation,
see :mod:`.covariates`). Per customer the log-likelihood is the plain model's
with her own alpha_i and beta_i (the integral by
:func:`._pareto_math.power_integral_moments`, which also gives its gradient:
moments under the normalised integrand). :func:`loglik_and_gradient` returns the
total and its analytic gradient, ``loglik(theta) -> (value, gradient)``, so it
plugs into any optimiser; :func:`loglik_grad_hess` adds the analytic Hessian (second
moments of the same quadrature). The fit runs the maximum-likelihood engine's
trust-region Newton method on them from the fit without covariates and coefficients 0.

>>> import numpy as np
>>> x, tx, T = np.array([0.0, 2.0, 5.0]), np.array([0.0, 10.0, 30.0]), np.full(3, 40.0)
>>> ll = loglik_rows(np.array([0.5, 10.0, 0.6, 12.0]), x, tx, T, np.zeros(3), np.zeros(3))
>>> bool(np.isfinite(ll).all())
True
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from crmcore.arrays import FloatArray
from crmcore.valuation.btyd._common import (
    TIME_SCALES,
    MaxResult,
    compress_rows,
    maximize,
    trigamma,
)
from crmcore.valuation.btyd._pareto_math import (
    log_integral_hessian,
    log_power_integral,
    power_integral_moments,
)

__all__ = ["fit_with_covariates", "loglik_and_gradient", "loglik_grad_hess", "loglik_rows"]


def loglik_rows(
    theta: FloatArray,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
    lin_p: FloatArray,
    lin_d: FloatArray,
) -> FloatArray:
    """Per-customer log-likelihood at (r, alpha, s, beta) with linear predictors lin_p, lin_d."""
    r, alpha, s, beta = theta
    al = alpha * np.exp(-lin_p)
    be = beta * np.exp(-lin_d)
    alive = -(r + x) * np.log(al + T) - s * np.log(be + T)
    dead = np.log(s) + log_power_integral(r + x, np.full_like(x, s + 1), al, be, tx, T)
    const = gammaln(r + x) - gammaln(r) + r * np.log(al) + s * np.log(be)
    out: FloatArray = const + np.logaddexp(alive, dead)
    return out


def loglik_and_gradient(
    theta: FloatArray,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
    zp: FloatArray,
    zd: FloatArray,
    w: FloatArray,
) -> tuple[float, FloatArray]:
    """Total log-likelihood Σ w_i ln L_i and its gradient in theta = (r, alpha, s, beta,
    gamma_purchase..., gamma_dropout...), analytic.

    Per customer ``ln L = ln Γ(r+x) − ln Γ(r) + r ln α_i + s ln β_i + logaddexp(A, D)``,
    ``A = −(r+x) ln(α_i+T) − s ln(β_i+T)``, ``D = ln s + ln I``; the derivatives of ln I in
    (r + x, s + 1, α_i, β_i) are the moments of :func:`._pareto_math.power_integral_moments`,
    and α_i = α e^(−z_p·γ_p), β_i = β e^(−z_d·γ_d) carry them to the coefficients.

    >>> x, tx, T = np.array([0.0, 2.0, 5.0]), np.array([0.0, 10.0, 30.0]), np.full(3, 40.0)
    >>> z = np.array([[0.0], [1.0], [-1.0]])
    >>> ll, g = loglik_and_gradient(np.array([0.5, 10.0, 0.6, 12.0, 0.1, -0.2]), x, tx, T, z, z, np.ones(3))
    >>> g.shape, bool(np.isfinite(ll))
    ((6,), True)
    """
    kp = zp.shape[1]
    r, alpha, s, beta = (float(v) for v in theta[:4])
    # einsum, not BLAS: the vector products here are too small for threads (a threaded BLAS
    # on a busy machine spends milliseconds synchronising per call)
    al = alpha * np.exp(-np.einsum("ij,j->i", zp, theta[4 : 4 + kp]))
    be = beta * np.exp(-np.einsum("ij,j->i", zd, theta[4 + kp :]))
    rx = r + x
    la, lb = np.log(al + T), np.log(be + T)
    A = -rx * la - s * lb
    act = np.flatnonzero(tx < T)
    D = np.full_like(x, -np.inf)
    gI = np.zeros((4, len(x)))
    if len(act):
        log_i, gI[:, act] = power_integral_moments(
            rx[act], np.full(len(act), s + 1.0), al[act], be[act], tx[act], T[act]
        )
        D[act] = np.log(s) + log_i
    L = np.logaddexp(A, D)
    pD = np.exp(D - L)
    pA = 1.0 - pD
    log_al, log_be = np.log(al), np.log(be)
    # ln Γ(r + x) and ψ(r + x) per distinct x (whole numbers), looked up
    ux, inv = np.unique(x, return_inverse=True)
    rows = gammaln(r + ux)[inv] + r * log_al + s * log_be + L
    ll = float(np.einsum("i,i->", w, rows)) - float(w.sum()) * float(gammaln(r))
    d_r = digamma(r + ux)[inv] - float(digamma(r)) + log_al - pA * la + pD * gI[0]
    d_s = log_be - pA * lb + pD * (1.0 / s + gI[1])
    d_al = r / al - pA * rx / (al + T) + pD * gI[2]
    d_be = s / be - pA * s / (be + T) + pD * gI[3]
    wa, wb = w * d_al * al, w * d_be * be  # d ln L / d ln alpha_i, d ln L / d ln beta_i
    head = [
        float(np.einsum("i,i->", w, d_r)),
        float(wa.sum()) / alpha,
        float(np.einsum("i,i->", w, d_s)),
        float(wb.sum()) / beta,
    ]
    grad = np.concatenate([head, -np.einsum("i,ij->j", wa, zp), -np.einsum("i,ij->j", wb, zd)])
    return ll, grad


def loglik_grad_hess(
    theta: FloatArray,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
    zp: FloatArray,
    zd: FloatArray,
    w: FloatArray,
) -> tuple[float, FloatArray, FloatArray]:
    """:func:`loglik_and_gradient` with the Hessian, all analytic (for Newton steps).

    Per customer, in v = (r, s, ln α_i, ln β_i): the constant part's Hessian (trigamma
    terms) plus that of ``logaddexp(A, D)``, ``pA HA + pD HD + pA pD (gA − gD)(gA − gD)'``;
    HD holds the Hessian of ln I (:func:`._pareto_math.log_integral_hessian`). ln α_i =
    ln α − z_p·γ_p and ln β_i = ln β − z_d·γ_d are linear in (ln α, γ_p, ln β, γ_d), so
    the total is Σ w J' H J, then carried to α and β.

    >>> x, tx, T = np.array([0.0, 2.0, 5.0]), np.array([0.0, 10.0, 30.0]), np.full(3, 40.0)
    >>> z = np.array([[0.0], [1.0], [-1.0]])
    >>> th = np.array([0.5, 10.0, 0.6, 12.0, 0.1, -0.2])
    >>> ll, g, H = loglik_grad_hess(th, x, tx, T, z, z, np.ones(3))
    >>> bool(np.allclose(g, loglik_and_gradient(th, x, tx, T, z, z, np.ones(3))[1])), H.shape
    (True, (6, 6))
    """
    kp, kd = zp.shape[1], zd.shape[1]
    n = len(x)
    r, alpha, s, beta = (float(v) for v in theta[:4])
    al = alpha * np.exp(-np.einsum("ij,j->i", zp, theta[4 : 4 + kp]))
    be = beta * np.exp(-np.einsum("ij,j->i", zd, theta[4 + kp :]))
    rx = r + x
    la, lb = np.log(al + T), np.log(be + T)
    ua, ub = al / (al + T), be / (be + T)
    A = -rx * la - s * lb
    # gradient and Hessian of the 'alive' branch A in v = (r, s, ln α_i, ln β_i)
    gA = np.stack([-la, -lb, -rx * ua, -s * ub])
    HA = np.zeros((4, 4, n))
    HA[0, 2] = HA[2, 0] = -ua
    HA[1, 3] = HA[3, 1] = -ub
    HA[2, 2] = -rx * ua * (1.0 - ua)
    HA[3, 3] = -s * ub * (1.0 - ub)
    act = np.flatnonzero(tx < T)
    D = np.full(n, -np.inf)
    gD = np.zeros((4, n))
    HD = np.zeros((4, 4, n))
    if len(act):
        log_i, g_i, h_i = log_integral_hessian(
            rx[act], np.full(len(act), s + 1.0), al[act], be[act], tx[act], T[act]
        )
        D[act] = np.log(s) + log_i
        gD[:, act] = g_i
        gD[1, act] += 1.0 / s
        HD[:, :, act] = h_i
        HD[1, 1, act] -= 1.0 / s**2
    L = np.logaddexp(A, D)
    pD = np.exp(D - L)
    pA = 1.0 - pD
    delta = gA - gD
    ux, inv = np.unique(x, return_inverse=True)
    log_al, log_be = np.log(al), np.log(be)
    rows = gammaln(r + ux)[inv] + r * log_al + s * log_be + L
    ll = float(np.einsum("i,i->", w, rows)) - float(w.sum()) * float(gammaln(r))
    g = pA * gA + pD * gD
    g[0] += digamma(r + ux)[inv] - float(digamma(r)) + log_al
    g[1] += log_be
    g[2] += r
    g[3] += s
    H = pA * HA + pD * HD + (pA * pD) * delta[:, None, :] * delta[None, :, :]
    H[0, 0] += trigamma(r + ux)[inv] - float(trigamma(r))
    H[0, 2] += 1.0
    H[2, 0] += 1.0
    H[1, 3] += 1.0
    H[3, 1] += 1.0
    # v = J u with u = (r, ln α, s, ln β, γ_p, γ_d): J per customer (4 x k)
    k = 4 + kp + kd
    J = np.zeros((4, k, n))
    J[0, 0] = J[1, 2] = J[2, 1] = J[3, 3] = 1.0
    J[2, 4 : 4 + kp] = -zp.T
    J[3, 4 + kp :] = -zd.T
    gu = np.einsum("vkn,vn,n->k", J, g, w)
    Hu = np.einsum("vkn,vwn,wln,n->kl", J, H, J, w, optimize=True)
    # from ln α, ln β to α, β
    d = np.ones(k)
    d[1], d[3] = 1.0 / alpha, 1.0 / beta
    grad = gu * d
    hess = Hu * d[:, None] * d[None, :]
    hess[1, 1] -= gu[1] / alpha**2
    hess[3, 3] -= gu[3] / beta**2
    return ll, grad, hess


def fit_with_covariates(
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
    w: FloatArray | None,
    zp: FloatArray,
    zd: FloatArray,
    start: FloatArray,
    *,
    penalizer: float = 0.0,
    penalty_scales: FloatArray | None = None,
) -> MaxResult:
    """Maximum likelihood of (r, alpha, s, beta, gamma_purchase..., gamma_dropout...) from
    ``start`` (the four parameters, coefficients then start at 0, or every parameter)."""
    kp, kd = zp.shape[1], zd.shape[1]
    cols, wt = compress_rows(x, tx, T, *zp.T, *zd.T, weights=w)
    x, tx, T = cols[:3]
    zp = np.column_stack(cols[3 : 3 + kp]) if kp else np.zeros((len(x), 0))
    zd = np.column_stack(cols[3 + kp :]) if kd else np.zeros((len(x), 0))

    def loglik(th: FloatArray) -> tuple[float, FloatArray]:
        return loglik_and_gradient(th, x, tx, T, zp, zd, wt)

    def newton(th: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        return loglik_grad_hess(th, x, tx, T, zp, zd, wt)

    names = ["r", "alpha", "s", "beta"]
    names += [f"purchase[{j}]" for j in range(kp)] + [f"dropout[{j}]" for j in range(kd)]
    if len(start) == 4:
        start = np.concatenate([start, np.zeros(kp + kd)])
    return maximize(
        loglik,
        start,
        penalizer=penalizer,
        penalty_scales=penalty_scales,
        total_weight=float(wt.sum()),
        model="Pareto/NBD with covariates",
        names=names,
        scales=TIME_SCALES,
        free=kp + kd,
        newton=newton,
    )
