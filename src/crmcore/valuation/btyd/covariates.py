"""Time-invariant covariates for BG/NBD and MBG/NBD (Fader & Hardie 2007 note).

Each customer i has her own scale of the purchase-rate distribution and her own
drop-out beta distribution, log-linear in her covariates (the parametrisation
of R's CLVTools, so coefficients compare one to one)::

    alpha_i = alpha * exp(-z_purchase_i . gamma_purchase)
    a_i     = a     * exp( z_dropout_i  . gamma_dropout)
    b_i     = b     * exp( z_dropout_i  . gamma_dropout)

A positive purchase coefficient raises the expected purchase rate r / alpha_i;
a positive drop-out coefficient scales a and b together (the mean drop-out
probability a / (a + b) stays, its heterogeneity shrinks). With every
covariate 0 the customer is the baseline model. Pareto/NBD takes the same
purchase side and ``beta_i = beta * exp(-z_dropout_i . gamma_dropout)`` (a
positive drop-out coefficient: a higher drop-out rate s / beta_i). Columns are used as given:
centre or standardise them first for well-conditioned fits.

The fits take the covariates as ``purchase_covariates`` / ``dropout_covariates``
(see ``fit_bgnbd`` and ``fit_pareto_nbd``): a pandas or polars DataFrame or a mapping of
name to column (the names are kept: the fit summary shows ``purchase[age]``, and
predictions match columns by name), or an array (positional: ``purchase[0]``). They return
the coefficients as :class:`CovariateEffects`:

>>> effects = CovariateEffects(purchase=(0.5,), dropout=())
>>> effects.purchase, effects.dropout
((0.5,), ())
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from crmcore._frames import Columns, Tabular, texts
from crmcore._results import FINITE, NONNEGATIVE, each
from crmcore.errors import ValidationError

__all__ = ["CovariateEffects"]


def _names(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _names_of(side: str) -> Any:
    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        coef = getattr(inst, side, None)
        ok = isinstance(value, tuple) and all(isinstance(v, str) for v in value)
        wrong = ok and coef is not None and len(value) != len(coef)
        if not ok or wrong or len(set(value)) != len(value):
            raise ValidationError(
                f"CovariateEffects: {attribute.name!r} must be one distinct name per "
                f"{side} coefficient ({len(coef or ())}): {value!r}"[:300]
            )

    return check


@attrs.frozen
class CovariateEffects(Tabular):
    """Fitted coefficients of the covariates (and their standard errors, when available).

    >>> CovariateEffects(purchase=(0.4, -0.1), dropout=(0.2,)).purchase
    (0.4, -0.1)
    """

    purchase: tuple[float, ...] = attrs.field(validator=each(FINITE))
    dropout: tuple[float, ...] = attrs.field(validator=each(FINITE))
    purchase_errors: tuple[float, ...] | None = attrs.field(
        default=None, validator=each(NONNEGATIVE, optional=True)
    )
    dropout_errors: tuple[float, ...] | None = attrs.field(
        default=None, validator=each(NONNEGATIVE, optional=True)
    )
    purchase_names: tuple[str, ...] | None = attrs.field(
        default=None, converter=_names, validator=_names_of("purchase")
    )
    dropout_names: tuple[str, ...] | None = attrs.field(
        default=None, converter=_names, validator=_names_of("dropout")
    )

    def _columns(self) -> Columns:
        parts = []
        for side in ("purchase", "dropout"):
            coef = getattr(self, side)
            errors = getattr(self, f"{side}_errors")
            names = getattr(self, f"{side}_names")
            parts.append(
                {
                    "process": np.full(len(coef), side, dtype=object),
                    "position": np.arange(len(coef)),
                    "covariate": texts(names if names is not None else (None,) * len(coef)),
                    "coefficient": np.array(coef, dtype=np.float64),
                    "standard_error": np.array(
                        errors if errors is not None else (np.nan,) * len(coef), dtype=np.float64
                    ),
                }
            )
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
