"""Time units, written once: the units of summaries and fitted models, and one month.

A transaction summary measures recency and age ``T`` in a time unit, and a model fitted to
it is in that unit: ``"D"`` (days), ``"W"`` (weeks of 7 days) or ``"M"`` (months). A month
has one length everywhere in crmcore: a mean Gregorian month, 365.2425 / 12 = 30.436875
days (:data:`DAYS_PER_UNIT`).

>>> DAYS_PER_UNIT["M"]
30.436875
>>> as_time_unit("w")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'time_unit' must be one of ('D', 'W', 'M'): 'w'
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from crmcore._messages import show
from crmcore.errors import ValidationError

__all__ = ["DAYS_PER_UNIT", "TIME_UNITS", "TimeUnit", "as_time_unit"]

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
    if not isinstance(value, str) or value not in TIME_UNITS:
        raise ValidationError(f"{name!r} must be one of {TIME_UNITS}: {show(value)}")
    return value


def optional_time_unit(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """attrs validator: a time unit or None (a model built by hand with no unit)."""
    if value is not None:
        where = f"{type(inst).__name__}: " if inst is not None else ""
        try:
            as_time_unit(value, name=attribute.name)
        except ValidationError as e:
            raise ValidationError(where + str(e)) from None
