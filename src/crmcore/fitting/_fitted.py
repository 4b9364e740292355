"""What every fitted model shares: its :class:`FitSummary` as ``fit``, read through
:class:`FittedModel`'s properties."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from crmcore._messages import show
from crmcore.arrays import FloatArray, as_float_array
from crmcore.errors import ValidationError
from crmcore.fitting._summary import FitSummary
from crmcore.options import expect_items

__all__ = ["FittedModel", "initial_values"]

_P = TypeVar("_P")


class FittedModel:
    """Mixin of every fitted model: ``fit`` (a :class:`FitSummary`, or None for a model built
    from parameters by hand) and the properties read from it.

    >>> from crmcore.valuation import BGNBDModel, BGNBDParams
    >>> m = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426))
    >>> m.log_likelihood is None, m.converged
    (True, False)
    """

    fit: FitSummary | None

    @property
    def log_likelihood(self) -> float | None:
        """Maximised log-likelihood (None without a fit)."""
        return None if self.fit is None else self.fit.log_likelihood

    @property
    def n(self) -> float | None:
        """Observations of the fit (customers, answers; None without a fit)."""
        return None if self.fit is None else self.fit.n

    @property
    def converged(self) -> bool:
        """Whether the model was fitted and its fit converged."""
        return self.fit is not None and self.fit.converged

    @property
    def message(self) -> str:
        """The optimiser's closing message ("" without a fit)."""
        return "" if self.fit is None else self.fit.message

    @property
    def aic(self) -> float | None:
        """AIC of the fit (None without a fit)."""
        return None if self.fit is None else self.fit.aic

    @property
    def bic(self) -> float | None:
        """BIC of the fit (None without a fit)."""
        return None if self.fit is None else self.fit.bic

    def summary(self) -> FitSummary:
        """The fit summary (estimates, SEs, intervals, covariance, AIC/BIC); an error for a
        model built by hand."""
        if self.fit is None:
            raise ValidationError(
                f"{type(self).__name__} was built from parameters, not fitted: it has no summary"
            )
        return self.fit

    def _standard_errors_as(self, make: Callable[..., _P], k: int) -> _P | None:
        """The first ``k`` standard errors as a parameter object (None without them)."""
        if self.fit is None or self.fit.standard_errors is None:
            return None
        return make(*self.fit.standard_errors[:k])


def initial_values(
    initial: Mapping[str, float] | Sequence[float] | None,
    default: FloatArray,
    names: Sequence[str],
    *,
    model: str,
) -> FloatArray:
    """The start of a fit: the data-driven ``default`` with the user's ``initial`` values
    (a mapping by parameter name, or one value per parameter in ``names`` order) put in.

    >>> initial_values({"b": 2.0}, np.array([1.0, 1.0]), ["a", "b"], model="toy").tolist()
    [1.0, 2.0]
    >>> initial_values({"c": 2.0}, np.array([1.0, 1.0]), ["a", "b"], model="toy")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: toy: 'initial' names an unknown parameter 'c'; the parameters are a, b
    """
    names = expect_items(names, str, name="names")
    out = as_float_array(default, name="default").copy()
    if len(set(names)) != len(names):
        raise ValidationError(f"{model}: 'names' must not repeat a parameter: {names}")
    if len(out) != len(names):
        raise ValidationError(
            f"{model}: 'default' must give one value per entry of 'names' ({len(names)}): "
            f"got {len(out)}"
        )
    if initial is None:
        return out
    items: Any
    if isinstance(initial, Mapping):
        items = initial.items()
    elif isinstance(initial, str | bytes) or not isinstance(initial, Sequence | np.ndarray):
        raise ValidationError(f"{model}: 'initial' must be a mapping or a sequence: {initial!r}")
    else:
        values = list(initial)
        if len(values) != len(names):
            raise ValidationError(
                f"{model}: 'initial' must give {len(names)} values ({', '.join(names)}): "
                f"got {len(values)}"
            )
        items = zip(names, values, strict=True)
    for key, value in items:
        if key not in names:
            raise ValidationError(
                f"{model}: 'initial' names an unknown parameter {key!r}; the parameters are "
                + ", ".join(names)
            )
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):  # 10**400 does not fit a float
            raise ValidationError(
                f"{model}: initial value of {key!r} must be a number: {show(value)}"
            ) from None
        if not np.isfinite(v):
            raise ValidationError(f"{model}: initial value of {key!r} must be finite: {v}")
        out[list(names).index(key)] = v
    return out
