"""Covariate kernels of the BG/NBD, MBG/NBD and Pareto/NBD fits (implementation detail).

The parametrisation is documented in :mod:`crmcore.valuation.btyd.covariates`;
these functions run after the public fits and models have checked their inputs.

>>> import numpy as np
>>> effects = CovariateEffects(purchase=(0.5,), dropout=())
>>> scales = customer_scales(effects, 2.0, 0.8, 2.4, np.array([[0.0], [1.0]]), None, 2)
>>> [round(float(v), 3) for v in scales[0]]  # alpha_i for z = 0 and z = 1
[2.0, 1.213]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, digamma, gammaln

from crmcore.arrays import FloatArray
from crmcore.errors import ValidationError
from crmcore.valuation.btyd.covariates import CovariateEffects


def covariate_matrix(values: npt.ArrayLike | None, n: int, *, name: str) -> FloatArray:
    """Covariates as an (n, k) float matrix: None is no column, a vector is one column.

    >>> covariate_matrix([1, 0, 1], 3, name="dropout_covariates").shape
    (3, 1)
    >>> covariate_matrix([[1.0], [float("nan")]], 2, name="purchase_covariates")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'purchase_covariates' must be finite: nan at row 1, column 0
    """
    if values is None:
        return np.zeros((n, 0))
    try:
        z = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as e:
        raise ValidationError(f"{name!r} must be numbers: {e}") from e
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or z.shape[0] != n:
        raise ValidationError(f"{name!r} must have one row per customer ({n}): got shape {z.shape}")
    bad = ~np.isfinite(z)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ValidationError(f"{name!r} must be finite: {z[i, j]} at row {i}, column {j}")
    return np.ascontiguousarray(z)


def linear_predictors(
    effects: CovariateEffects,
    purchase: npt.ArrayLike | None,
    dropout: npt.ArrayLike | None,
    n: int,
) -> tuple[FloatArray, FloatArray]:
    """z_purchase . gamma_purchase and z_dropout . gamma_dropout per customer, the covariates
    checked against the fitted coefficients (count of columns, one row per customer)."""
    out = []
    for values, coef, name in (
        (purchase, effects.purchase, "purchase_covariates"),
        (dropout, effects.dropout, "dropout_covariates"),
    ):
        if coef and values is None:
            raise ValidationError(
                f"{name!r} are required: the model was fitted with {len(coef)} of them"
            )
        z = covariate_matrix(values, n, name=name)
        if z.shape[1] != len(coef):
            raise ValidationError(
                f"{name!r} must have {len(coef)} column(s), as when fitted: got {z.shape[1]}"
            )
        out.append(z @ np.asarray(coef, dtype=np.float64) if coef else np.zeros(n))
    return out[0], out[1]


def customer_scales(
    effects: CovariateEffects,
    alpha: float,
    a: float,
    b: float,
    purchase: npt.ArrayLike | None,
    dropout: npt.ArrayLike | None,
    n: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-customer BG/NBD (alpha_i, a_i, b_i) from the covariates."""
    lin_p, lin_d = linear_predictors(effects, purchase, dropout, n)
    m = np.exp(lin_d)
    return alpha * np.exp(-lin_p), a * m, b * m


def bg_row_derivatives(
    r: float,
    alpha: FloatArray,
    a: FloatArray,
    b: FloatArray,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
    shift: int,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per-customer BG/NBD (shift 0) or MBG/NBD (shift 1) log-likelihood and its derivatives
    wrt r, alpha_i, a_i, b_i, with customer-specific alpha, a, b."""
    has3 = (x > 0) | (shift == 1)
    b3 = np.where(has3, b + x - 1 + shift, 1.0)
    lab = betaln(a, b)
    rx = r + x
    log_aT = np.log(alpha + T)
    log_atx = np.log(alpha + tx)
    A2 = betaln(a, b + x + shift) - lab - rx * log_aT
    A3 = np.where(has3, betaln(a + 1, b3) - lab, -np.inf) - rx * log_atx
    L = np.logaddexp(A2, A3)
    p3 = np.exp(A3 - L)
    p2 = 1.0 - p3
    ll = gammaln(rx) - gammaln(r) + r * np.log(alpha) + L
    d_r = digamma(rx) - digamma(r) + np.log(alpha) - p2 * log_aT - p3 * log_atx
    d_alpha = r / alpha - rx * (p2 / (alpha + T) + p3 / (alpha + tx))
    common = digamma(a + b) - digamma(a + b + x + shift)
    d_a = common + p3 / a
    d_b = common - digamma(b) + p2 * digamma(b + x + shift) + p3 * np.where(has3, digamma(b3), 0.0)
    return ll, d_r, d_alpha, d_a, d_b
