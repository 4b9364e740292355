"""Validation of query arguments, shared by every backend.

>>> check_limit(3), check_limit(None)
(3, None)
>>> check_limit(-1)
Traceback (most recent call last):
crmcore.errors.ValidationError: 'limit' must be >= 0: -1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from crmcore.errors import ValidationError
from crmcore.model import Channel, TransactionKind
from crmcore.model._storable import INT64_MAX, text_problem
from crmcore.options import as_count, as_enum, as_id
from crmcore.timestamps import TimeLike, as_instant

T = TypeVar("T")

__all__ = [
    "check_batch",
    "check_filter",
    "check_filters",
    "check_id",
    "check_ids",
    "check_iterable",
    "check_limit",
    "check_lookup",
    "parse_channels",
    "parse_kinds",
    "time_bounds",
]


def check_limit(limit: int | None) -> int | None:
    """``limit`` must be None or a whole number in [0, 2**63 - 1] (what every backend can bind)."""
    if limit is None:
        return None
    return as_count(limit, name="limit", high=INT64_MAX)


def check_batch(batch_size: int) -> int:
    """``batch_size`` must be a positive int.

    >>> check_batch(0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'batch_size' must be >= 1: 0
    """
    return as_count(batch_size, name="batch_size", low=1, high=INT64_MAX)


def check_filter(value: object, name: str) -> str | None:
    """A keyword filter on a text column: None (no filter) or a string every backend can bind
    (no NUL, no lone surrogate); anything else names the filter.

    >>> check_filter("vip", "segment"), check_filter(None, "segment")
    ('vip', None)
    >>> check_filter({"a": 1}, "segment")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'segment' must be a string or None: {'a': 1}
    """
    return None if value is None else _bindable(value, name, "a string or None")


def _bindable(value: object, name: str, expected: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{name!r} must be {expected}: {value!r}")
    problem = text_problem(value)
    if problem is not None:
        raise ValidationError(f"{name!r} {problem}: {value!r}")
    return value


def _items(values: object, name: str, what: str) -> list[object]:
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        shown = "one string" if isinstance(values, str) else repr(type(values).__name__)
        raise ValidationError(f"{name!r} must be a sequence of {what}, not {shown}: {values!r}")
    return list(values)


def time_bounds(
    start: TimeLike | None, end: TimeLike | None, *, names: tuple[str, str] = ("start", "end")
) -> tuple[int | None, int | None]:
    """``[start, end)`` as microseconds (None = open), by :func:`crmcore.timestamps.as_instant`.

    >>> from datetime import datetime, timezone
    >>> time_bounds(datetime(1970, 1, 1, tzinfo=timezone.utc), None)
    (0, None)
    """
    lo = None if start is None else int(as_instant(start, name=names[0]).astype(np.int64))
    hi = None if end is None else int(as_instant(end, name=names[1]).astype(np.int64))
    return lo, hi


def parse_kinds(kinds: Sequence[TransactionKind | str] | None) -> list[TransactionKind] | None:
    """Transaction kinds from members or values (unknown values → ValidationError).

    >>> parse_kinds(["refund"])
    [<TransactionKind.REFUND: 'refund'>]
    """
    if kinds is None:
        return None
    return [as_enum(k, TransactionKind, name="kinds") for k in _items(kinds, "kinds", "kinds")]


def parse_channels(channels: Sequence[Channel | str] | None) -> list[Channel] | None:
    """Channels from members or values (unknown values → ValidationError).

    >>> parse_channels(["meeting", "phone"])
    [<Channel.MEETING: 'meeting'>, <Channel.PHONE: 'phone'>]
    """
    if channels is None:
        return None
    items = _items(channels, "channels", "channels")
    return [as_enum(c, Channel, name="channels") for c in items]


def check_ids(values: Sequence[str], field: str) -> list[str]:
    """A sequence of string ids or keys (one string alone is refused).

    >>> check_ids("abc", "keys")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'keys' must be a sequence of strings, not one string: 'abc'
    """
    out = _items(values, field, "strings")
    for v in out:
        if not isinstance(v, str):
            raise ValidationError(f"{field!r} must hold strings: {v!r}")
        problem = text_problem(v)
        if problem is not None:
            raise ValidationError(f"{field!r} items {problem}: {v!r}")
    return out  # type: ignore[return-value]  # every item checked above


def check_filters(**filters: object) -> None:
    """:func:`check_filter` on each keyword filter of a query, named by its keyword.

    >>> check_filters(customer_id="c-1", rep_id=7)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'rep_id' must be a string or None: 7
    """
    for name, value in filters.items():
        if value is not None:
            check_filter(value, name)


def check_id(value: object, name: str) -> str:
    """A record id argument, by :func:`crmcore.options.as_id`.

    >>> check_id("c-1", "customer_id")
    'c-1'
    """
    return as_id(value, name=name)


def check_lookup(value: object, name: str) -> str:
    """The id a ``get`` / ``find`` / ``history`` looks up: a string every backend can bind
    (a dict, None or a lone surrogate is refused by name, alike in memory and SQL).

    >>> check_lookup({}, "customer_id")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'customer_id' must be a string id: {}
    """
    return _bindable(value, name, "a string id")


def check_iterable(values: Iterable[T], name: str) -> Iterable[T]:
    """The records an ``add_many`` stores: an iterable that is not a string or a mapping
    (each record is then checked by the write path).

    >>> check_iterable(None, "customers")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'customers' must be a collection of records: None
    """
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise ValidationError(f"{name!r} must be a collection of records: {values!r}")
    return values
