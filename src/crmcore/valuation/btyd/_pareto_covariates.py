"""Pareto/NBD with time-invariant covariates: the maximum-likelihood fit.

``alpha_i = alpha exp(-z_purchase_i . gamma_purchase)``,
``beta_i = beta exp(-z_dropout_i . gamma_dropout)`` (R CLVTools' parametrisation,
see :mod:`.covariates`). Per customer the log-likelihood is the plain model's
with her own alpha_i and beta_i (the integral by
:func:`._pareto_math.log_power_integral`); BFGS over the log-parameters and the
free coefficients, from the fit without covariates and coefficients 0, the
gradient by forward differences, standard errors from a numerical Hessian.

>>> import numpy as np
>>> x, tx, T = np.array([0.0, 2.0, 5.0]), np.array([0.0, 10.0, 30.0]), np.full(3, 40.0)
>>> ll = loglik_rows(np.array([0.5, 10.0, 0.6, 12.0]), x, tx, T, np.zeros(3), np.zeros(3))
>>> bool(np.isfinite(ll).all())
True
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from crmcore.arrays import FloatArray
from crmcore.valuation.btyd._common import TIME_SCALES, MaxResult, compress_rows, maximize
from crmcore.valuation.btyd._pareto_math import log_power_integral

__all__ = ["fit_with_covariates", "loglik_rows"]


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
) -> MaxResult:
    """Maximum likelihood of (r, alpha, s, beta, gamma_purchase..., gamma_dropout...) from
    ``start`` (the four parameters, coefficients then start at 0, or every parameter)."""
    kp, kd = zp.shape[1], zd.shape[1]
    cols, wt = compress_rows(x, tx, T, *zp.T, *zd.T, weights=w)
    x, tx, T = cols[:3]
    zp = np.column_stack(cols[3 : 3 + kp]) if kp else np.zeros((len(x), 0))
    zd = np.column_stack(cols[3 + kp :]) if kd else np.zeros((len(x), 0))

    def loglik(th: FloatArray) -> tuple[float, None]:
        rows = loglik_rows(th[:4], x, tx, T, zp @ th[4 : 4 + kp], zd @ th[4 + kp :])
        return float(np.dot(wt, rows)), None

    names = ["r", "alpha", "s", "beta"]
    names += [f"purchase[{j}]" for j in range(kp)] + [f"dropout[{j}]" for j in range(kd)]
    if len(start) == 4:
        start = np.concatenate([start, np.zeros(kp + kd)])
    return maximize(
        loglik,
        start,
        penalizer=penalizer,
        total_weight=float(wt.sum()),
        model="Pareto/NBD with covariates",
        names=names,
        scales=TIME_SCALES,
        free=kp + kd,
    )
