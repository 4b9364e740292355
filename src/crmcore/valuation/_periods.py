"""The period label of the discrete-period models (BG/BB, sBG): what one period is.

BG/BB counts transaction opportunities and sBG renewal periods. Their arguments are counts
of periods (``m``, ``t``, ``renewals``, ``horizon``) and their rates are per period (the
discount rate of the residual lifetime), so nothing is ever converted between units and a
calendar time unit (``"D"``, ``"W"``, ``"M"`` of :mod:`crmcore.durations`) does not apply:
one opportunity may be a yearly donation drive, one renewal period a year or a month. The
optional ``period`` label records what one period is ("year", "month", "donation drive")
on the model and in its JSON, so a reader of a saved model knows the unit of its answers.

>>> as_period("year")
'year'
>>> as_period(" year")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'period' must be a non-empty string without blanks around: ' year'
"""

from __future__ import annotations

from typing import Any

import attrs

from crmcore.errors import ValidationError
from crmcore.model._fields import name_text

__all__ = ["MAX_PERIOD_LABEL", "as_period", "optional_period"]

MAX_PERIOD_LABEL = 64
"""The longest period label, in characters."""

_check = name_text(max_length=MAX_PERIOD_LABEL)


def optional_period(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """attrs validator: None or a period label (a non-empty name of at most 64 characters)."""
    if value is not None:
        try:
            _check(inst, attribute, value)
        except ValidationError as e:
            where = f"{type(inst).__name__}: " if inst is not None else ""
            raise ValidationError(where + str(e)) from None


@attrs.frozen
class _Label:
    period: str | None = attrs.field(default=None, validator=optional_period)


def as_period(value: object) -> str | None:
    """A ``period`` argument: None or a label such as ``"year"`` (see the module).

    >>> as_period(None) is None
    True
    """
    if value is None:
        return None
    _check(None, attrs.fields(_Label).period, value)
    assert isinstance(value, str)
    return value
