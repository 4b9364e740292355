"""The declarative description of a repository table: its filters, time range and order.

One :class:`TableSpec` per kind of record says, once, what a ``list()`` may
filter on and in which order it answers. :func:`parse_query` turns the
keyword arguments of a call into a checked :class:`Query` (the errors of
every backend written here), :func:`predicate` and :func:`sort_key` give the
memory backend its filter and order, and
:mod:`crmcore.repositories.sql._query` gives the SQL backend the same as a
``WHERE`` clause and an ``ORDER BY``. A rule changed here changes both.

>>> from crmcore.model import Interaction
>>> spec = TableSpec(
...     "interactions", Interaction, "interaction",
...     filters=(Filter("customer_id"), Filter("channels", "channel", parse=parse_channels_set)),
...     time=("occurred_at",), order=(("occurred_at",), ("id",)),
... )
>>> q = parse_query(spec, customer_id="c-1", channels=["email"], start="2024-01-01")
>>> q.values["channels"], q.lo
(frozenset({<Channel.EMAIL: 'email'>}), 1704067200000000)
>>> parse_query(spec, customer_id=7)
Traceback (most recent call last):
crmcore.errors.ValidationError: 'customer_id' must be a string or None: 7
>>> acquired = TableSpec("customers", object, "customer", time=("acquired_at",),
...     bounds=("acquired_from", "acquired_to"))
>>> parse_query(acquired, end="2024-13-01")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'acquired_to' must be an ISO 8601 timestamp: '2024-13-01'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from crmcore.errors import ArgumentTypeError
from crmcore.repositories._args import check_filter, parse_channels, parse_kinds, time_bounds
from crmcore.repositories._codec import to_micros

__all__ = [
    "NEVER",
    "Filter",
    "Query",
    "TableSpec",
    "parse_channels_set",
    "parse_kinds_set",
    "parse_query",
    "predicate",
    "sort_key",
]

NEVER = -(2**62)
"""The order value of a record whose every order time is None (sorts first)."""


def parse_channels_set(values: Any) -> frozenset[Any] | None:
    """:func:`~crmcore.repositories._args.parse_channels` as a set (None: no filter)."""
    parsed = parse_channels(values)
    return None if parsed is None else frozenset(parsed)


def parse_kinds_set(values: Any) -> frozenset[Any] | None:
    """:func:`~crmcore.repositories._args.parse_kinds` as a set (None: no filter)."""
    parsed = parse_kinds(values)
    return None if parsed is None else frozenset(parsed)


@attrs.frozen
class Filter:
    """One keyword filter of ``list()``: ``name`` selects records whose ``attr`` equals the
    value (``parse`` None: a text filter) or lies in the set ``parse`` makes of it."""

    name: str
    attr: str = ""
    parse: Callable[[Any], frozenset[Any] | None] | None = None
    flag: bool = False
    """A boolean filter (``open_only``): True keeps the records whose ``attr`` is None."""
    stored: Callable[[Any], Any] | None = None
    """How the storage column holds one value of the set ``parse`` makes (None: an enum
    member as its ``value``, anything else as it is), for the SQL backend's ``IN`` list:
    a transaction's kind is stored as its ``code``."""

    @property
    def column(self) -> str:
        """The record attribute (and storage column) the filter reads."""
        return self.attr or self.name


@attrs.frozen
class TableSpec:
    """What ``list()`` of one table filters on and how it orders (see the module)."""

    table: str
    kind: type[Any]
    label: str
    filters: tuple[Filter, ...] = ()
    time: tuple[str, ...] = ()
    """Time attributes of the ``[start, end)`` filter: a record is in range when one of them
    (not None) is; empty: the table takes no time range."""
    order: tuple[tuple[str, ...], ...] = (("id",),)
    """Order keys; a key of several attributes is the first that is not None (else NEVER)."""
    bounds: tuple[str, str] = ("start", "end")
    """What the public ``list()`` calls the range's ``start`` and ``end`` (named by errors),
    e.g. ``("acquired_from", "acquired_to")``."""

    def filter(self, name: str) -> Filter:
        """The filter called ``name``."""
        for f in self.filters:
            if f.name == name:
                return f
        raise KeyError(name)


@attrs.frozen
class Query:
    """The checked filters of one ``list()`` call: values by filter name (only the given
    ones), the time range ``[lo, hi)`` in microseconds (None: open) and the limit."""

    values: Mapping[str, Any]
    lo: int | None = None
    hi: int | None = None


def parse_query(
    spec: TableSpec,
    *,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    **filters: Any,
) -> Query:
    """The checked :class:`Query` of a call's keyword filters (None: not filtered). An
    unknown filter is a programming error (TypeError); a bad value a crmcore error naming it."""
    values: dict[str, Any] = {}
    for name, value in filters.items():
        f = spec.filter(name)
        if f.flag:
            if not isinstance(value, bool):
                raise ArgumentTypeError(
                    f"{name!r} must be True or False, not {type(value).__name__}: {value!r}"
                )
            if value:
                values[name] = True
            continue
        parsed = f.parse(value) if f.parse is not None else check_filter(value, name)
        if parsed is not None:
            values[name] = parsed
    lo, hi = time_bounds(start, end, names=spec.bounds) if spec.time else (None, None)
    return Query(values, lo, hi)


def _micros(t: datetime | None, name: str) -> int | None:
    return None if t is None else to_micros(t, name)


def _test(attr: str, value: Any, *, flag: bool) -> Callable[[Any], bool]:
    if flag:
        return lambda r: getattr(r, attr) is None
    if isinstance(value, frozenset):
        return lambda r: getattr(r, attr) in value
    return lambda r: bool(getattr(r, attr) == value)


def predicate(spec: TableSpec, query: Query) -> Callable[[Any], bool]:
    """The memory backend's filter of ``query``: True for the records it selects."""
    tests: list[Callable[[Any], bool]] = []
    for name, value in query.values.items():
        f = spec.filter(name)
        tests.append(_test(f.column, value, flag=f.flag))
    lo, hi = query.lo, query.hi
    if lo is not None or hi is not None:

        def in_range(r: Any) -> bool:
            for a in spec.time:
                m = _micros(getattr(r, a), a)
                if m is not None and (lo is None or m >= lo) and (hi is None or m < hi):
                    return True
            return False

        tests.append(in_range)
    return lambda r: all(t(r) for t in tests)


def sort_key(spec: TableSpec) -> Callable[[Any], tuple[Any, ...]]:
    """The memory backend's order: the spec's keys, times as microseconds."""

    def key_of(r: Any) -> tuple[Any, ...]:
        out: list[Any] = []
        for attrs_ in spec.order:
            value: Any = None
            for a in attrs_:
                value = getattr(r, a)
                if value is not None:
                    break
            if isinstance(value, datetime):
                value = to_micros(value, attrs_[0])
            elif value is None and len(attrs_) > 1:
                value = NEVER
            out.append(value)
        return tuple(out)

    return key_of
