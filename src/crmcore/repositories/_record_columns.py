"""Records as columns: :class:`RecordColumns`, what ``read_columns`` of the interactions,
activities and survey responses returns on every backend (the columnar read of reports
over millions of rows, like ``read_log`` for transactions).

A column is one of three kinds (:data:`READABLE` lists them per table):

* **text** (ids, enums, labels): ``int64`` codes into ``labels[name]``, the distinct
  values sorted by code point; -1 where the record has none;
* **time**: ``datetime64[us]`` (UTC), NaT where the record has none;
* **number**: ``float64``, NaN where the record has none.

>>> cols = encode({"customer_id": ["c-2", "c-1", "c-2"], "occurred_at": [5, 7, None]},
...               {"customer_id": "text", "occurred_at": "time"})
>>> cols.codes("customer_id").tolist(), cols.labels["customer_id"]
([1, 0, 1], ('c-1', 'c-2'))
>>> cols.values("customer_id").tolist(), len(cols)
(['c-2', 'c-1', 'c-2'], 3)
>>> cols.times("occurred_at").astype(str).tolist()
['1970-01-01T00:00:00.000005', '1970-01-01T00:00:00.000007', 'NaT']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.errors import ArgumentTypeError, ValidationError

__all__ = [
    "NUMBER",
    "READABLE",
    "TEXT",
    "TIME",
    "RecordColumns",
    "check_columns",
    "encode",
    "recode",
    "text_codes",
]

TEXT, TIME, NUMBER = "text", "time", "number"

READABLE: dict[str, dict[str, str]] = {
    "interactions": {
        "id": TEXT,
        "customer_id": TEXT,
        "channel": TEXT,
        "direction": TEXT,
        "occurred_at": TIME,
        "rep_id": TEXT,
        "opportunity_id": TEXT,
        "duration_seconds": NUMBER,
    },
    "activities": {
        "id": TEXT,
        "kind": TEXT,
        "rep_id": TEXT,
        "customer_id": TEXT,
        "opportunity_id": TEXT,
        "status": TEXT,
        "due_at": TIME,
        "done_at": TIME,
    },
    "surveys": {
        "id": TEXT,
        "customer_id": TEXT,
        "responded_at": TIME,
        "csat": NUMBER,
        "nps": NUMBER,
        "survey": TEXT,
        "channel": TEXT,
    },
}
"""``table → {column: kind}``: the columns ``read_columns`` reads (free texts such as a
subject or a comment are not columns of reports: read them with ``list``)."""

_NAT = np.iinfo(np.int64).min


def check_columns(columns: object, table: str) -> tuple[str, ...]:
    """``read_columns``' ``columns``: a non-empty sequence of distinct names of the table's
    :data:`READABLE` columns.

    >>> check_columns(["rep_id", "subject"], "interactions")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'columns' has 'subject', not a column read_columns reads of interactions: ['channel', 'customer_id', 'direction', 'duration_seconds', 'id', 'occurred_at', 'opportunity_id', 'rep_id']
    """
    if isinstance(columns, str | bytes) or not isinstance(columns, Sequence):
        raise ArgumentTypeError(
            f"'columns' must be a list of column names, not {type(columns).__name__}: {columns!r}"
        )
    known = READABLE[table]
    out: list[str] = []
    for name in columns:
        if not isinstance(name, str) or name not in known:
            raise ValidationError(
                f"'columns' has {name!r}, not a column read_columns reads of {table}: "
                f"{sorted(known)}"
            )
        if name in out:
            raise ValidationError(f"'columns' names {name!r} twice")
        out.append(name)
    if not out:
        raise ValidationError(f"'columns' must name at least one column of {table}: []")
    return tuple(out)


def _check_data(instance: RecordColumns, attribute: object, data: object) -> None:
    if not isinstance(data, Mapping):
        raise ValidationError(f"RecordColumns 'data' must map names to arrays: {data!r}"[:300])
    for name, col in data.items():
        if not isinstance(name, str) or not isinstance(col, np.ndarray) or col.ndim != 1:
            raise ValidationError(
                f"RecordColumns 'data' must map column names to 1-D numpy arrays: "
                f"{name!r}: {col!r}"[:300]
            )
    lengths = {name: len(col) for name, col in data.items()}
    if len(set(lengths.values())) > 1:
        raise ValidationError(f"RecordColumns columns differ in length: {lengths}")


@attrs.frozen(eq=False)
class RecordColumns:
    """Selected records as columns: ``data[name]`` per column of the read (text columns as
    ``int64`` codes into ``labels[name]``, sorted by code point, -1: none; times as
    ``datetime64[us]``, NaT: none; numbers as ``float64``, NaN: none). Rows come in no
    particular order (the same row index is the same record in every column).

    >>> from datetime import datetime, UTC
    >>> from crmcore.model import Interaction
    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     _ = uow.interactions.add(Interaction(id="i-1", customer_id="c-1", channel="phone",
    ...             direction="inbound", occurred_at=datetime(2024, 3, 1, tzinfo=UTC),
    ...             rep_id="ann"))
    ...     cols = uow.interactions.read_columns(["rep_id", "occurred_at"], end="2025-01-01")
    >>> cols.values("rep_id").tolist(), cols.times("occurred_at").astype(str).tolist()
    (['ann'], ['2024-03-01T00:00:00.000000'])
    """

    data: Mapping[str, npt.NDArray[Any]] = attrs.field(validator=_check_data)
    """Column name → its array (see the class docstring)."""
    labels: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    """Text column name → its distinct values, sorted by code point (the codes index them)."""

    def __len__(self) -> int:
        """The number of rows."""
        return len(next(iter(self.data.values()))) if self.data else 0

    def _column(self, name: str) -> npt.NDArray[Any]:
        if name not in self.data:
            raise ValidationError(f"{name!r} was not read: the columns are {sorted(self.data)}")
        return self.data[name]

    def codes(self, name: str) -> npt.NDArray[np.int64]:
        """The codes of the text column ``name`` into ``labels[name]`` (-1: none)."""
        if name not in self.labels:
            raise ValidationError(f"{name!r} is not a text column read: {sorted(self.labels)}")
        return self._column(name)

    def values(self, name: str) -> npt.NDArray[Any]:
        """The text column ``name`` decoded: an object array of strings (None: none)."""
        codes = self.codes(name)
        table = np.empty(len(self.labels[name]) + 1, dtype=object)
        table[:-1] = self.labels[name]
        return table[codes]  # code -1: the last entry, None

    def times(self, name: str) -> npt.NDArray[np.datetime64]:
        """The time column ``name`` (``datetime64[us]``, NaT: none)."""
        col = self._column(name)
        if col.dtype != np.dtype("datetime64[us]"):
            raise ValidationError(f"{name!r} is not a time column")
        return col


def recode(
    codes: npt.NDArray[Any], labels: Sequence[str | None]
) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    """Codes into ``labels`` (which may repeat, hold None or be in any order) as codes into the
    sorted distinct labels (-1 where the label is None or the code is -1).

    >>> c, l = recode(np.array([0, 1, 2, -1]), ["b", None, "a"])
    >>> c.tolist(), l
    ([1, -1, 0, -1], ('a', 'b'))
    """
    codes = np.asarray(codes, dtype=np.int64)
    distinct = sorted({v for v in labels if v is not None})
    rank = {v: i for i, v in enumerate(distinct)}
    table = np.array([rank.get(v, -1) if v is not None else -1 for v in labels] + [-1], np.int64)
    if (
        len(distinct) == len(labels)
        and all(  # already sorted and distinct: nothing to map
            int(t) == i for i, t in enumerate(table[:-1])
        )
    ):
        return codes, tuple(distinct)
    return table[codes], tuple(distinct)


def text_codes(values: Sequence[str | None]) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    """A text column as codes into its sorted distinct values (None: -1).

    >>> c, l = text_codes(["b", None, "a", "b"])
    >>> c.tolist(), l
    ([1, -1, 0, 1], ('a', 'b'))
    """
    seen: dict[str | None, int] = {}
    get = seen.setdefault
    codes = np.fromiter((get(v, len(seen)) for v in values), dtype=np.int64, count=len(values))
    return recode(codes, list(seen))


def encode(rows: Mapping[str, Sequence[Any]], kinds: Mapping[str, str]) -> RecordColumns:
    """:class:`RecordColumns` of plain column values: text as ``str`` or None, time as
    microseconds (``int``) or None, numbers as ``int``/``float`` or None."""
    data: dict[str, npt.NDArray[Any]] = {}
    labels: dict[str, tuple[str, ...]] = {}
    for name, values in rows.items():
        kind = kinds[name]
        if kind == TEXT:
            data[name], labels[name] = text_codes(values)
        elif kind == TIME:
            data[name] = np.array([_NAT if v is None else v for v in values], dtype=np.int64).view(
                "datetime64[us]"
            )
        else:
            data[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return RecordColumns(data, labels)
