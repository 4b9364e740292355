"""Columnar reads of opportunities' events in SQL: stage changes and field changes as columns.

Both read the raw driver cursor (no SQLAlchemy row objects). On SQLite the
stage changes come as one string per column (``group_concat`` over one scan,
so every column sees the rows in the same order), split and parsed by numpy,
then sorted by opportunity and sequence: one Python object per column instead
of thirteen per row. A text may hold the separator: the lengths are checked,
and the rows are read one by one when they do not match.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmcore.model.opportunity import decode_field_value
from crmcore.repositories.sql._transactions import _raw_cursor, _raw_read
from crmcore.tables import FieldHistory, StageHistory

__all__ = ["read_changes_columns", "read_history_columns"]

_NUMBERS = ("sequence", "at", "amount_e6", "recorded_at", "probability", "funnel_version")
_TEXTS = (
    "opportunity_id",
    "from_stage",
    "to_stage",
    "owner_id",
    "product",
    "by",
    "reason",
    "forecast_category",
    "currency",
)
# NULL stand-ins written into the statement (not bound: one compiled text per shape)
_MINUS_ONE: sa.ColumnClause[Any] = sa.literal_column("-1")
_MINUS_ONE_F: sa.ColumnClause[Any] = sa.literal_column("-1.0")
_ZERO: sa.ColumnClause[Any] = sa.literal_column("0")  # funnel_version NULL: unknown
_EMPTY: sa.ColumnClause[Any] = sa.literal_column("''")
_SEP = "\x1f"  # the unit separator: a text holding it makes the check fail (row by row then)
_CONCAT_MAX = 5_000_000


def _missing(values: Sequence[Any]) -> npt.NDArray[np.bool_]:
    """Where ``values`` hold None (SQL NULL)."""
    return np.fromiter((v is None for v in values), dtype=bool, count=len(values))


def _numbers(values: Sequence[Any], dtype: type, fill: Any) -> npt.NDArray[Any]:
    """``values`` as ``dtype``, NULL as ``fill``."""
    arr = np.array(values, dtype=object)
    arr[_missing(values)] = fill
    return arr.astype(dtype)


def _build(
    ids: Any,
    numbers: dict[str, npt.NDArray[Any]],
    texts: dict[str, Sequence[Any]],
) -> StageHistory:
    """A StageHistory from the read columns (amount -1 and probability -1: NULL; funnel
    version 0: NULL, an event stored before schema 4)."""
    amount = numbers["amount_e6"].astype(np.float64) / 1e6
    amount[numbers["amount_e6"] < 0] = np.nan
    prob = numbers["probability"].astype(np.float64)
    prob[prob < 0] = np.nan
    return StageHistory.from_arrays(
        opportunity_ids=ids,
        sequence=numbers["sequence"],
        from_stage=texts["from_stage"],
        to_stage=texts["to_stage"],
        at=numbers["at"].view("datetime64[us]"),
        amount=amount,
        owner_ids=texts["owner_id"],
        products=texts["product"],
        probability=prob,
        by=texts["by"],
        reasons=texts["reason"],
        recorded_at=numbers["recorded_at"].view("datetime64[us]"),
        categories=texts["forecast_category"],
        currencies=np.array(texts["currency"], dtype=str),  # ISO codes ('' = NULL): fast path
        funnel_versions=numbers["funnel_version"],
    )


Filters = dict[str, Any]
"""The filters of a read: ``funnel``, ``owner_id``, ``lo`` / ``hi`` (effective time, µs)
and ``seen`` (recording time, µs); None: no filter."""


def _where(table: sa.Table, filters: Filters) -> list[Any]:
    """Conditions on bound parameters named after the filters that are set."""
    e = table.c
    tests: dict[str, Callable[[Any], Any]] = {
        "funnel": lambda p: e.funnel == p,
        "owner_id": lambda p: e.owner_id == p,
        "lo": lambda p: e.at >= p,
        "hi": lambda p: e.at < p,
        "seen": lambda p: sa.func.coalesce(e.recorded_at, e.at) <= p,
    }
    return [test(sa.bindparam(name)) for name, test in tests.items() if filters[name] is not None]


@functools.lru_cache(maxsize=256)
def _sql(
    dialect: str, shape: tuple[str, ...], kind: str, compiler: Any, table: sa.Table
) -> tuple[str, tuple[str, ...]]:
    """The driver SQL of a read of ``kind`` from ``table`` (a namespace's ``stage_changes``)
    with the filters of ``shape``, and the order of its parameters: compiled once per dialect,
    table and shape (a read is then one driver call)."""
    filters: Filters = dict.fromkeys(("funnel", "owner_id", "lo", "hi", "seen"))
    filters.update(dict.fromkeys(shape, 0))
    stmt = _row_query(table, filters) if kind == "rows" else _concat_query(table, filters)
    compiled = stmt.compile(dialect=compiler)
    if compiled.positiontup is None:  # named parameters (psycopg): passed as a mapping
        return str(compiled), ()
    return str(compiled), tuple(compiled.positiontup)


def _read(conn: Connection, table: sa.Table, kind: str, filters: Filters, consume: Any) -> Any:
    shape = tuple(k for k, v in filters.items() if v is not None)
    sql, names = _sql(conn.dialect.name, shape, kind, conn.dialect, table)
    params: Any = (
        tuple(filters[n] for n in names)
        if names
        else {k: v for k, v in filters.items() if v is not None}
    )
    with _raw_cursor(conn, sql) as cur:
        cur.execute(sql, params)
        return consume(cur)


def _row_query(table: sa.Table, filters: Filters) -> sa.Select[Any]:
    e = table.c
    return (
        sa.select(
            e.opportunity_id,
            e.sequence,
            e.at,
            sa.func.coalesce(e.amount_e6, _MINUS_ONE),
            sa.func.coalesce(e.recorded_at, e.at),
            sa.func.coalesce(e.probability, _MINUS_ONE_F),
            sa.func.coalesce(e.funnel_version, _ZERO),
            *(e[name] for name in _TEXTS[1:]),
        )
        .where(*_where(table, filters))
        .order_by(e.opportunity_id, e.sequence)
    )


def _rows(conn: Connection, table: sa.Table, filters: Filters) -> StageHistory:
    rows = _read(conn, table, "rows", filters, lambda cur: cur.fetchall())
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * (6 + len(_TEXTS))
    numbers = {
        "sequence": np.array(cols[1], dtype=np.int64),
        "at": np.array(cols[2], dtype=np.int64),
        "amount_e6": np.array(cols[3], dtype=np.int64),
        "recorded_at": np.array(cols[4], dtype=np.int64),
        "probability": np.array(cols[5], dtype=np.float64),
        "funnel_version": np.array(cols[6], dtype=np.int64),
    }
    texts = {name: cols[7 + i] for i, name in enumerate(_TEXTS[1:])}
    texts["owner_id"] = ["" if v is None else v for v in texts["owner_id"]]
    texts["currency"] = ["" if v is None else v for v in texts["currency"]]
    return _build(np.array(cols[0], dtype=str), numbers, texts)


def _concat_query(table: sa.Table, filters: Filters) -> sa.Select[Any]:
    e = table.c
    inner = (
        sa.select(
            e.sequence.label("q"),
            e.at.label("t"),
            sa.func.coalesce(e.amount_e6, _MINUS_ONE).label("m"),
            sa.func.coalesce(e.recorded_at, e.at).label("r"),
            # 17 significant digits: every double reads back exactly
            sa.func.printf(
                sa.literal_column("'%!.17g'"), sa.func.coalesce(e.probability, _MINUS_ONE_F)
            ).label("p"),
            sa.func.coalesce(e.funnel_version, _ZERO).label("v"),
            *(sa.func.coalesce(e[name], _EMPTY).label(f"s{i}") for i, name in enumerate(_TEXTS)),
        )
        .where(*_where(table, filters))
        .subquery()
    )
    parts: list[Any] = [sa.func.count()]
    parts += [sa.func.group_concat(inner.c[k]) for k in "qtmrpv"]
    parts += [
        sa.func.group_concat(inner.c[f"s{i}"], sa.literal_column("char(31)"))
        for i in range(len(_TEXTS))
    ]
    return sa.select(*parts)


def _concatenated(conn: Connection, table: sa.Table, filters: Filters) -> StageHistory | None:
    """SQLite: every column as one string (see the module docstring); None when unchecked."""
    got = _read(conn, table, "concat", filters, lambda cur: cur.fetchone())
    n = int(got[0])
    if n == 0:
        return _rows(conn, table, filters)
    if n > _CONCAT_MAX or any(not isinstance(v, str) for v in got[1:]):
        return None
    numbers: dict[str, npt.NDArray[Any]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a malformed string: read row by row instead
        try:
            for name, text in zip(_NUMBERS, got[1 : 1 + len(_NUMBERS)], strict=True):
                dtype = np.float64 if name == "probability" else np.int64
                numbers[name] = np.fromstring(text, dtype=dtype, sep=",")
        except (DeprecationWarning, ValueError):
            return None
    texts: dict[str, Sequence[Any]] = {}
    for name, text in zip(_TEXTS, got[1 + len(_NUMBERS) :], strict=True):
        texts[name] = text.split(_SEP)
    if any(len(v) != n for v in numbers.values()) or any(len(v) != n for v in texts.values()):
        return None
    h = _build(np.array(texts.pop("opportunity_id"), dtype=str), numbers, texts)
    return h.sorted()  # the scan's order: sorting in numpy is cheaper than in SQL


def read_history_columns(conn: Connection, table: sa.Table, filters: Filters) -> StageHistory:
    """The stage changes of ``table`` (a namespace's ``stage_changes``) matching ``filters`` as
    columns, ordered by opportunity, then sequence."""
    if conn.dialect.name == "sqlite":
        h = _concatenated(conn, table, filters)
        if h is not None:
            return h
    return _rows(conn, table, filters)


def _values(fields: Sequence[str], texts: Sequence[str]) -> list[Any]:
    """The stored JSON values of the rows' fields, parsed in one call and decoded."""
    plain = json.loads("[" + ",".join(texts) + "]") if texts else []
    return [
        decode_field_value(f, v, check=False) if f in _TYPED else v
        for f, v in zip(fields, plain, strict=True)
    ]


_TYPED = frozenset({"amount", "expected_close", "probability"})
"""Fields whose JSON form is not their value (Money, a date; a probability stored as 1)."""


def read_changes_columns(conn: Connection, query: sa.Select[Any]) -> FieldHistory:
    """The field changes of ``query`` (``field_changes`` rows, ordered) as columns."""
    rows = _raw_read(conn, query, lambda cur: cur.fetchall())
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * 9
    fields = cols[2]
    return FieldHistory.from_arrays(
        opportunity_ids=np.array(cols[0], dtype=str),
        sequence=np.array(cols[1], dtype=np.int64),
        fields=np.array(fields, dtype=str),
        at=np.array(cols[5], dtype=np.int64).view("datetime64[us]"),
        recorded_at=np.array(cols[6], dtype=np.int64).view("datetime64[us]"),
        new=_values(fields, cols[4]),
        old=_values(fields, cols[3]),
        by=np.array(cols[7], dtype=str),
        reasons=list(cols[8]),
    )
