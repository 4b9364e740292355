"""Time units, written once: the units of summaries and fitted models, and one month.

A transaction summary measures recency and age ``T`` in a time unit, and a model fitted to
it is in that unit: ``"D"`` (days), ``"W"`` (weeks of 7 days) or ``"M"`` (months). A month
has one length everywhere in crmcore: a mean Gregorian month, 365.2425 / 12 = 30.436875
days (:data:`DAYS_PER_UNIT`).

>>> DAYS_PER_UNIT["M"]
30.436875
>>> as_time_unit("w")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'time_unit' must be one of 'D', 'W', 'M': 'w'
"""

from __future__ import annotations

import datetime
import math
from typing import Any, Literal

import attrs
import numpy as np

from crmcore._messages import show
from crmcore.arrays import as_float_array, check_nonnegative
from crmcore.errors import ValidationError
from crmcore.options import as_choice

__all__ = [
    "DAYS_PER_UNIT",
    "TIME_UNITS",
    "Duration",
    "TimeUnit",
    "as_time_unit",
    "check_same_unit",
    "in_time_unit",
]

TimeUnit = Literal["D", "W", "M"]
"""A time unit: days, weeks or (mean Gregorian) months."""

TIME_UNITS: tuple[str, ...] = ("D", "W", "M")
"""The time units, in order of length."""

DAYS_PER_UNIT: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.2425 / 12}
"""Days in one unit; a month is the mean Gregorian month (the one definition)."""


def as_time_unit(value: object, *, name: str = "time_unit") -> str:
    """A time unit, ``"D"``, ``"W"`` or ``"M"`` (case matters: ``"M"`` is not minutes).

    >>> as_time_unit("W")
    'W'
    """
    return as_choice(value, name=name, allowed=TIME_UNITS)


def optional_time_unit(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """attrs validator: a time unit or None (a model built by hand with no unit)."""
    if value is not None:
        where = f"{type(inst).__name__}: " if inst is not None else ""
        try:
            as_time_unit(value, name=attribute.name)
        except ValidationError as e:
            raise ValidationError(where + str(e)) from None


def _nonnegative(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value) if abs(value) < 1e308 else math.inf) or value < 0:
        raise ValidationError(
            f"Duration: {attribute.name!r} must be a finite number >= 0: {show(value)}"
        )


def _unit(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    try:
        as_time_unit(value, name=attribute.name)
    except ValidationError as e:
        raise ValidationError(f"Duration: {e}") from None


@attrs.frozen
class Duration:
    """A calendar span: ``amount`` units of ``unit`` (``"D"``, ``"W"``, ``"M"``), for
    horizons given independently of a model's time unit.

    >>> Duration(3, "M").in_unit("W")
    13.044375
    >>> Duration(-1, "D")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: Duration: 'amount' must be a finite number >= 0: -1
    """

    amount: float = attrs.field(validator=_nonnegative)
    unit: str = attrs.field(validator=_unit)

    def in_unit(self, unit: str) -> float:
        """The span in another time unit (a month is 365.2425 / 12 days)."""
        return float(self.amount) * DAYS_PER_UNIT[self.unit] / DAYS_PER_UNIT[as_time_unit(unit)]


def in_time_unit(value: Any, unit: str | None, *, name: str = "t") -> Any:
    """A horizon in ``unit``: a number (or array of numbers) is taken to be in ``unit``
    already; a :class:`Duration`, ``datetime.timedelta`` or ``numpy.timedelta64`` (a
    calendar span) is converted; a span given to a model without a time unit is an error.

    >>> in_time_unit(Duration(2, "W"), "D")
    14.0
    >>> import datetime
    >>> in_time_unit(datetime.timedelta(days=14), "W")
    2.0
    >>> in_time_unit(Duration(2, "W"), None)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 't' is a calendar span (Duration(amount=2, unit='W')), but the model has no time unit: fit it with time_unit= (or from a summary), or give 't' in the model's unit
    """
    if unit is not None:
        unit = as_time_unit(unit, name="unit")
    _refuse_nat(value, name)
    span: float | None = None
    if isinstance(value, Duration):
        span = value.amount * DAYS_PER_UNIT[value.unit]
    elif isinstance(value, datetime.timedelta):
        span = value.total_seconds() / 86400.0
    elif isinstance(value, np.timedelta64) or (
        isinstance(value, np.ndarray) and value.dtype.kind == "m"
    ):
        days = np.asarray(value).astype("timedelta64[ns]").astype(np.float64) / 86400e9
        if unit is None:
            raise ValidationError(_no_unit(name, value))
        return days / DAYS_PER_UNIT[unit]
    if span is None:
        arr = as_float_array(value, name=name, ndim=None)
        check_nonnegative(arr.reshape(-1), name=name)
        return float(arr) if arr.ndim == 0 else arr
    if unit is None:
        raise ValidationError(_no_unit(name, value))
    return span / DAYS_PER_UNIT[unit]


def _refuse_nat(value: Any, name: str) -> None:
    """A missing span (numpy or pandas NaT) is an error naming the field, not a huge
    negative number of days.

    >>> in_time_unit(np.timedelta64("NaT"), "D")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 't' must be a duration, not NaT (a missing time span) at index 0: give every horizon as a number in the model's unit or a calendar span
    """
    if type(value).__name__ == "NaTType":  # pandas.NaT, without importing pandas
        bad = 0
    elif isinstance(value, np.timedelta64 | np.ndarray) and np.asarray(value).dtype.kind == "m":
        nat = np.isnat(np.asarray(value).reshape(-1))
        if not nat.any():
            return
        bad = int(np.flatnonzero(nat)[0])
    else:
        return
    raise ValidationError(
        f"{name!r} must be a duration, not NaT (a missing time span) at index {bad}: give "
        "every horizon as a number in the model's unit or a calendar span"
    )


def _no_unit(name: str, value: object) -> str:
    return (
        f"{name!r} is a calendar span ({show(value)}), but the model has no time unit: fit it "
        f"with time_unit= (or from a summary), or give {name!r} in the model's unit"
    )


def check_same_unit(given: str | None, expected: str | None, *, what: str, against: str) -> None:
    """Raise when two time units differ (mixing units is an error, never a silent rescale).

    >>> check_same_unit("W", None, what="the summary", against="the model")  # no unit: no check
    >>> check_same_unit("D", "W", what="the summary", against="the model")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: the summary is in 'D' (days) but the model is in 'W' (weeks): refit or summarise in one unit
    """
    if given is not None:
        as_time_unit(given, name="given")
    if expected is not None:
        as_time_unit(expected, name="expected")
    if given is not None and expected is not None and given != expected:
        raise ValidationError(
            f"{what} is in {given!r} ({_NAMES[given]}) but {against} is in {expected!r} "
            f"({_NAMES[expected]}): refit or summarise in one unit"
        )


_NAMES = {"D": "days", "W": "weeks", "M": "months"}
