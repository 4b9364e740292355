"""Validators and converters shared by the domain model (one place for each rule)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import attrs

from crmcore.errors import CRMError, ValidationError
from crmcore.model._storable import (
    COUNT_MAX,
    INT64_MAX,
    KEY_LENGTH,
    MAX_ID_LENGTH,
    check_text,
    id_problem,
    text_problem,
    to_e6,
)
from crmcore.model.money import Money
from crmcore.timestamps import utc_problem

__all__ = [
    "new_id",
    "opt_utc",
    "record_id",
    "str_tuple",
    "to_enum",
    "utc",
]

E = TypeVar("E", bound=Enum)


def new_id() -> str:
    """A fresh random identifier (32 lowercase hex characters).

    >>> len(new_id())
    32
    """
    return uuid.uuid4().hex


def _fail(attribute: attrs.Attribute[Any], value: object, expected: str) -> ValidationError:
    return ValidationError(f"{attribute.name!r} must be {expected}: {value!r}")


def _storable_text(attribute: attrs.Attribute[Any], value: str, max_length: int | None) -> None:
    """Refuse text no backend can store (crmcore.model._storable), naming the field."""
    check_text(value, attribute.name, max_length=max_length)


def record_id(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a non-empty identifier string without surrounding blanks, at most 128 chars."""
    if (  # the common case inline (a validator runs for every record built)
        type(value) is str
        and 0 < len(value) <= MAX_ID_LENGTH
        and value.isascii()
        and "\x00" not in value
        and value == value.strip()
    ):
        return
    problem = id_problem(value)
    if problem is not None:
        raise ValidationError(f"{attribute.name!r} {problem}: {value!r}")


def opt_record_id(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None`` or a valid identifier."""
    if value is not None:
        record_id(inst, attribute, value)


def non_empty_str(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a string with at least one non-blank character."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(attribute, value, "a non-empty string")
    if not value.isascii() or "\x00" in value:  # O(1) for ASCII: only the rest is encoded
        _storable_text(attribute, value, None)


def opt_str(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None`` or a (storable) string."""
    if value is not None:
        if not isinstance(value, str):
            raise _fail(attribute, value, "a string or None")
        if not value.isascii() or "\x00" in value:
            _storable_text(attribute, value, None)


def key_str(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a non-empty string stored in an indexed column (at most 255 characters)."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(attribute, value, "a non-empty string")
    _storable_text(attribute, value, KEY_LENGTH)


def opt_key(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None`` or a string stored in an indexed column (at most 255 characters)."""
    if value is not None:
        if not isinstance(value, str):
            raise _fail(attribute, value, "a string or None")
        _storable_text(attribute, value, KEY_LENGTH)


def utc(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a timezone-aware datetime at UTC offset zero (:func:`crmcore.timestamps.utc_problem`)."""
    problem = utc_problem(value)
    if problem is not None:
        raise ValidationError(f"{attribute.name!r} {problem}: {value!r}")


def opt_utc(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None`` or a UTC datetime."""
    if value is not None:
        utc(inst, attribute, value)


def opt_date(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None`` or a ``date`` that is not a ``datetime``."""
    if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
        raise _fail(attribute, value, "a date or None")


def version(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: an int in [0, 2**31 - 1] (booleans are not versions; 32-bit columns)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(attribute, value, "a non-negative integer")
    if value > COUNT_MAX:
        raise _fail(attribute, value, "an integer in [0, 2**31 - 1] to be stored")


def count64(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a non-negative int that fits a 64-bit column (booleans are refused)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(attribute, value, "a non-negative integer")
    if value > INT64_MAX:
        raise _fail(attribute, value, "an integer in [0, 2**63 - 1] to be stored")


def money_field(
    *, optional: bool = False, what: str = ""
) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """Validator factory: Money (or ``None`` when ``optional``) that is >= 0 and storable
    (at most 6 decimal places, below 9.2e12); ``what`` follows the ">= 0" in the message."""
    expected = "Money or None" if optional else "Money"
    suffix = f" ({what})" if what else ""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, Money):
            raise _fail(attribute, value, expected)
        if not isinstance(value.amount, Decimal) or not value.amount.is_finite():
            # a Money forged around its own checks (object.__setattr__, attrs.evolve on a copy)
            raise ValidationError(
                f"{attribute.name!r} must hold a finite decimal amount: {value.amount!r}"
            )
        if value.amount < 0:
            raise ValidationError(f"{attribute.name!r} must be >= 0{suffix}: {value.amount}")
        to_e6(value.amount, attribute.name)

    return check


def tuple_of(
    kind: type[Any] | tuple[type[Any], ...],
    what: str,
    *,
    error: type[CRMError] = ValidationError,
) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """Validator factory: a tuple whose items are all ``kind``; the message names the item
    (``'tiers[2]' must be a Tier: 'x'``). ``error`` is the exception raised (configuration
    objects raise ConfigurationError).

    >>> @attrs.frozen
    ... class Box:
    ...     items: tuple[int, ...] = attrs.field(converter=as_tuple,
    ...                                          validator=tuple_of(int, "an int"))
    >>> Box([1, "2"])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'items[1]' must be an int: '2'
    """

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, tuple):
            raise error(f"{attribute.name!r} must be a sequence, each {what}: {value!r}")
        for i, item in enumerate(value):
            if not isinstance(item, kind) or (isinstance(item, bool) and bool not in _kinds(kind)):
                raise error(f"'{attribute.name}[{i}]' must be {what}: {item!r}")

    return check


def text_items(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a tuple of storable strings (``'lines[1]' must be a string: 3``)."""
    tuple_of(str, "a string")(_inst, attribute, value)
    assert isinstance(value, tuple)
    for i, item in enumerate(value):
        problem = text_problem(item)
        if problem is not None:
            raise ValidationError(f"'{attribute.name}[{i}]' {problem}: {item!r}")


def name_items(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a tuple of non-empty storable strings (``'channels[0]' must be ...``)."""
    text_items(_inst, attribute, value)
    assert isinstance(value, tuple)
    for i, item in enumerate(value):
        if not item:
            raise ValidationError(f"'{attribute.name}[{i}]' must be a non-empty string: {item!r}")


def name_text(
    *, error: type[CRMError] = ValidationError, max_length: int | None = KEY_LENGTH
) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """Validator factory: a name (of a stage, a tier, a funnel, ...): a non-empty string
    without surrounding blanks, storable, at most ``max_length`` characters."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str) or not value.strip() or value != value.strip():
            raise error(
                f"{attribute.name!r} must be a non-empty string without blanks around: {value!r}"
            )
        check_text(value, attribute.name, max_length=max_length, error=error)

    return check


def instance(
    kind: type[Any] | tuple[type[Any], ...],
    what: str,
    *,
    optional: bool = False,
    error: type[CRMError] = ValidationError,
) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """Validator factory: an instance of ``kind`` (or ``None`` when ``optional``), with a
    message that names the field; booleans are not ints or floats unless ``kind`` is bool.

    >>> from crmcore.model import Customer
    >>> Customer(id="c", name="A", address="Main St 1")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'address' must be an Address or None: 'Main St 1'
    """
    expected = f"{what} or None" if optional else what

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            raise error(f"{attribute.name!r} must be {expected}: {value!r}")

    return check


def as_tuple(value: Any) -> Any:
    """Converter: any iterable but a string, bytes or mapping becomes a tuple; anything else is
    left as it is for the field's validator (``tuple_of``, ``text_items``) to refuse by name.

    >>> as_tuple(["a", "b"]), as_tuple("ab")
    (('a', 'b'), 'ab')
    """
    if isinstance(value, tuple | str | bytes | Mapping) or not isinstance(value, Iterable):
        return value
    return tuple(value)


def _kinds(kind: type[Any] | tuple[type[Any], ...]) -> tuple[type[Any], ...]:
    return kind if isinstance(kind, tuple) else (kind,)


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
    """Convert ``value`` (a member or its value) to ``enum_type``: :func:`crmcore.options.as_enum`.

    >>> from crmcore.model.interaction import Channel
    >>> to_enum(Channel, "email")
    <Channel.EMAIL: 'email'>
    >>> to_enum(Channel, "pigeon", field="channel")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'channel' must be one of 'phone', 'email', ...: 'pigeon'
    """
    from crmcore.options import as_enum  # options imports the model's storable rule

    return as_enum(value, enum_type, name=field)


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
        problem = text_problem(item)
        if problem is not None:
            raise ValidationError(f"'tags' items {problem}: {item!r}")
    return tuple(sorted(set(items)))
