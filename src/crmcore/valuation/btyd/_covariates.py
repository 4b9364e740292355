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

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray
from crmcore.errors import ValidationError
from crmcore.valuation.btyd.covariates import CovariateEffects


def covariate_columns(
    values: Any, n: int, *, name: str
) -> tuple[FloatArray, tuple[str, ...] | None]:
    """Covariates as an (n, k) float matrix and their names: a pandas or polars DataFrame
    (names from its columns), a mapping of name to column, or an array (a vector is one
    column; names None: positional). None is no column.

    >>> z, names = covariate_columns({"age": [30, 40], "vip": [0, 1]}, 2, name="purchase_covariates")
    >>> z.tolist(), names
    ([[30.0, 0.0], [40.0, 1.0]], ('age', 'vip'))
    >>> covariate_columns([[1.0], [float("nan")]], 2, name="purchase_covariates")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'purchase_covariates' must be finite: nan at row 1, column 0
    """
    if values is None:
        return np.zeros((n, 0)), None
    names: tuple[str, ...] | None = None
    if isinstance(values, Mapping):
        names = tuple(str(k) for k in values)
        values = [np.asarray(values[k]) for k in values]
        values = np.column_stack(values) if values else np.zeros((n, 0))
    elif hasattr(values, "columns") and hasattr(values, "to_numpy"):  # pandas / polars
        names = tuple(str(c) for c in values.columns)
        values = values.to_numpy()
    if names is not None and len(set(names)) != len(names):
        raise ValidationError(f"{name!r} must name each column once: {names}")
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
    return np.ascontiguousarray(z), names


def named_rows(values: Any, *, name: str) -> tuple[Any, tuple[str, ...] | None]:
    """Covariates given with names (a DataFrame or a mapping) as a plain 2-D array and the
    names; anything else as it is with names None (for the row-wise NaN policy of a fit).

    >>> named_rows({"age": [30, 40]}, name="purchase_covariates")[1]
    ('age',)
    """
    if values is None or not (
        isinstance(values, Mapping) or (hasattr(values, "columns") and hasattr(values, "to_numpy"))
    ):
        return values, None
    n = len(next(iter(values.values()))) if isinstance(values, Mapping) and values else None
    if n is None:
        n = len(values) if not isinstance(values, Mapping) else 0
    z, names = covariate_columns(values, n, name=name)
    return z, names


def covariate_matrix(values: npt.ArrayLike | None, n: int, *, name: str) -> FloatArray:
    """Covariates as an (n, k) float matrix (see :func:`covariate_columns`).

    >>> covariate_matrix([1, 0, 1], 3, name="dropout_covariates").shape
    (3, 1)
    """
    return covariate_columns(values, n, name=name)[0]


def coefficient_names(side: str, names: tuple[str, ...] | None, k: int) -> list[str]:
    """The fit summary's names of one side's coefficients: ``purchase[age]`` by column name,
    ``purchase[0]`` by position.

    >>> coefficient_names("dropout", None, 2), coefficient_names("purchase", ("age",), 1)
    (['dropout[0]', 'dropout[1]'], ['purchase[age]'])
    """
    return [f"{side}[{c}]" for c in (names if names is not None else range(k))]


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
        z, given = covariate_columns(values, n, name=name)
        fitted = effects.purchase_names if name == "purchase_covariates" else effects.dropout_names
        if fitted is not None and given is not None:
            missing = [c for c in fitted if c not in given]
            if missing:
                raise ValidationError(
                    f"{name!r} lack the column(s) {missing} the model was fitted with "
                    f"(it has {list(given)})"
                )
            z = z[:, [given.index(c) for c in fitted]]
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
    wrt r, alpha_i, a_i, b_i, with customer-specific alpha, a, b: the fits' one row
    likelihood (:func:`._bgnbd_loglik.row_derivatives`) in the natural scale."""
    from crmcore.valuation.btyd._bgnbd_loglik import row_derivatives

    ll, g, _ = row_derivatives(r, alpha, a, b, x, tx, T, shift, hessian=False)
    return ll, g[0], g[1] / alpha, g[2] / a, g[3] / b
