"""Validators and converters shared by the domain model (one place for each rule)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

import attrs

from crmcore.errors import ValidationError

__all__ = [
    "new_id",
    "opt_utc",
    "record_id",
    "str_tuple",
    "to_enum",
    "utc",
]

E = TypeVar("E", bound=Enum)
_MAX_ID = 128


def new_id() -> str:
    """A fresh random identifier (32 lowercase hex characters).

    >>> len(new_id())
    32
    """
    return uuid.uuid4().hex


def _fail(attribute: attrs.Attribute[Any], value: object, expected: str) -> ValidationError:
    return ValidationError(f"{attribute.name!r} must be {expected}: {value!r}")


def record_id(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a non-empty identifier string without surrounding blanks, at most 128 chars."""
    if not isinstance(value, str) or not value or value != value.strip() or len(value) > _MAX_ID:
        raise _fail(attribute, value, f"a non-empty string id of at most {_MAX_ID} characters")


def opt_record_id(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None`` or a valid identifier."""
    if value is not None:
        record_id(inst, attribute, value)


def non_empty_str(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a string with at least one non-blank character."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(attribute, value, "a non-empty string")


def opt_str(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None`` or a string."""
    if value is not None and not isinstance(value, str):
        raise _fail(attribute, value, "a string or None")


def utc(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a timezone-aware datetime at UTC offset zero (naive datetimes are rejected)."""
    if not isinstance(value, datetime):
        raise _fail(attribute, value, "a timezone-aware UTC datetime")
    off = value.utcoffset()
    if off is None:
        raise _fail(attribute, value, "timezone-aware (naive datetimes are ambiguous)")
    if off != timedelta(0):
        raise _fail(attribute, value, "in UTC (convert with .astimezone(timezone.utc))")


def opt_utc(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None`` or a UTC datetime."""
    if value is not None:
        utc(inst, attribute, value)


def opt_date(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None`` or a ``date`` that is not a ``datetime``."""
    if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
        raise _fail(attribute, value, "a date or None")


def version(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a non-negative int (booleans are not versions)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(attribute, value, "a non-negative integer")


def probability(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None`` or a real number in [0, 1]."""
    if value is None:
        return
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or math.isnan(value)
        or not 0 <= value <= 1
    ):
        raise _fail(attribute, value, "in [0, 1]")


def int_range(low: int, high: int) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """Validator factory: ``None`` or an int in [low, high]."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise _fail(attribute, value, f"an integer in [{low}, {high}]")

    return check


def to_enum(enum_type: type[E], value: object, field: str | None = None) -> E:
    """Convert ``value`` (a member or its value) to ``enum_type``; anything else names the choices.

    >>> from crmcore.model.interaction import Channel
    >>> to_enum(Channel, "email")
    <Channel.EMAIL: 'email'>
    >>> to_enum(Channel, "pigeon", field="channel")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'channel' must be one of 'phone', 'email', ...: 'pigeon'
    """
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in enum_type)
        what = f"{field!r}" if field else enum_type.__name__
        raise ValidationError(f"{what} must be one of {choices}: {value!r}") from None


def str_tuple(value: Iterable[str] | None) -> tuple[str, ...]:
    """Converter: any iterable of strings to a sorted, de-duplicated tuple (tags)."""
    if value is None:
        return ()
    if isinstance(value, str):
        raise ValidationError(f"'tags' must be a collection of strings, not one string: {value!r}")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValidationError(f"'tags' must hold non-empty strings: {item!r}")
    return tuple(sorted(set(items)))
