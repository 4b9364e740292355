"""SQL stores of the append-only records (interactions, activities, surveys, costs; the
transactions' in :mod:`._transactions`): the backend parts of
:mod:`crmcore.repositories._records`, which checks every argument.

A store maps a record to its row and back, and selects with
:func:`~crmcore.repositories.sql._query.where` and
:func:`~crmcore.repositories.sql._query.order_by` of its table's spec; ``stream`` pages
through the table by keyset (one bounded query per batch).

>>> from crmcore.repositories import SqlUnitOfWork
>>> from crmcore.repositories._records import Costs
>>> uow = SqlUnitOfWork.from_url("sqlite://")
>>> costs = Costs(SqlCostStore(uow.session))
>>> with uow:
...     costs.list(category="support")
[]
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmcore.errors import ConcurrencyError, DuplicateError
from crmcore.model import Activity, CostEntry, Interaction, SurveyResponse
from crmcore.repositories._codec import (
    from_e6,
    from_micros,
    opt_micros,
    to_e6,
    to_micros,
)
from crmcore.repositories._record_columns import (
    READABLE,
    TEXT,
    TIME,
    RecordColumns,
    recode,
    text_codes,
)
from crmcore.repositories._records import ACTIVITIES, COSTS, INTERACTIONS, SURVEYS, R
from crmcore.repositories._spec import Query, TableSpec
from crmcore.repositories.sql._prepared import Prepared, fetch_one
from crmcore.repositories.sql._query import IN_LIST, customer_groups, order_by, where

if TYPE_CHECKING:
    from crmcore.repositories.sql._session import SqlSession

__all__ = [
    "SqlActivityStore",
    "SqlCostStore",
    "SqlInteractionStore",
    "SqlRecordStore",
    "SqlSurveyStore",
]

_CHUNK = IN_LIST  # ids per IN (...) list
_NAT = np.iinfo(np.int64).min  # a NULL time travels as int64's minimum: NaT as datetime64


def _opt_time(v: int | None) -> datetime | None:
    return None if v is None else from_micros(v)


def _after(keys: Sequence[Any], last: Sequence[Any]) -> Any:
    """The rows after ``last`` in the order of ``keys`` (keyset pagination)."""
    head, value = keys[0], last[0]
    if len(keys) == 1:
        return head > value
    return sa.or_(head > value, sa.and_(head == value, _after(keys[1:], last[1:])))


class SqlRecordStore(Generic[R]):
    """A :class:`~crmcore.repositories._records.RecordStore` over one table of the session's
    namespace; a subclass names its spec and maps records to rows (``_row``) and back (``_obj``)."""

    spec: ClassVar[TableSpec]

    def __init__(self, session: SqlSession) -> None:
        self._session = session
        self.table: sa.Table = session.namespace.tables[self.spec.table]
        self._label = self.spec.label
        self._order = order_by(self.spec, self.table)

    def _row(self, record: R) -> dict[str, Any]:
        raise NotImplementedError

    def _obj(self, row: Any) -> R:
        raise NotImplementedError

    @functools.cached_property
    def _by_id(self) -> Prepared:
        """The row by id, prepared once (:mod:`._prepared`)."""
        return Prepared(sa.select(self.table).where(self.table.c.id == sa.bindparam("id")))

    def insert(self, records: Sequence[R]) -> str | None:
        """Insert the rows, ``batch_size`` per statement, in one savepoint."""
        rows = [self._row(r) for r in records]
        if len(rows) == 1:
            what = f"adding {self._label} {rows[0]['id']!r}"
        else:
            what = f"adding {len(rows)} {self._label} records"
        step = self._session.batch_size
        try:
            with self._session.writing(what) as conn:
                for i in range(0, len(rows), step):
                    conn.execute(sa.insert(self.table), rows[i : i + step])
        except DuplicateError:
            clash = self.clash_among([r["id"] for r in rows])
            if clash is None:
                raise
            return clash
        return None

    def clash_among(self, ids: Sequence[str]) -> str | None:
        """After a unique violation: the first of ``ids`` that is stored, else the first
        repeated in ``ids`` (the clash the front names), else None (a row this block cannot
        see: the caller raises the violation again)."""
        c = self.table.c
        found: set[str] = set()
        with self._session.reading(f"looking up the {self._label} ids") as conn:
            wanted = sorted(set(ids))
            for i in range(0, len(wanted), _CHUNK):
                q = sa.select(c.id).where(c.id.in_(wanted[i : i + _CHUNK]))
                found.update(conn.execute(q).scalars())
        stored = next((rid for rid in ids if rid in found), None)
        if stored is not None:
            return stored
        seen: set[str] = set()
        for rid in ids:
            if rid in seen:
                return rid
            seen.add(rid)
        return None

    def fetch(self, record_id: str) -> R | None:
        """The row by id as a record, or None."""
        with self._session.reading(f"reading {self._label} {record_id!r}") as conn:
            row = fetch_one(conn, self._by_id, {"id": record_id})
        return None if row is None else self._obj(row)

    def overwrite(self, record: R) -> bool:
        """One ``UPDATE`` by id; False when it matched no row."""
        row = self._row(record)
        rid = row.pop("id")
        with self._session.writing(f"replacing {self._label} {rid!r}") as conn:
            n = conn.execute(
                sa.update(self.table).where(self.table.c.id == rid).values(**row)
            ).rowcount
        return bool(n)

    def select(self, query: Query, limit: int | None) -> builtins.list[R]:
        """One ``SELECT ... WHERE ... ORDER BY ... LIMIT``."""
        q = sa.select(self.table).where(*where(self.spec, self.table, query)).order_by(*self._order)
        if limit is not None:
            q = q.limit(limit)
        with self._session.reading(f"listing {self._label} records") as conn:
            return [self._obj(r) for r in conn.execute(q)]

    def stream(self, query: Query, batch_size: int) -> Iterator[R]:
        """Keyset pagination on the order's columns: one bounded query per batch, never a
        full load (the order's keys must be plain columns)."""
        base = where(self.spec, self.table, query)
        keys = self._order
        names = [k.name for k in keys]
        last: builtins.list[Any] | None = None
        while True:
            cond = base if last is None else [*base, _after(keys, last)]
            q = sa.select(self.table).where(*cond).order_by(*keys).limit(batch_size)
            with self._session.reading(f"reading {self._label} records") as conn:
                rows = conn.execute(q).all()
            for r in rows:
                yield self._obj(r)
            if len(rows) < batch_size:
                return
            tail = rows[-1]._mapping
            last = [tail[n] for n in names]

    def read_columns(self, query: Query, columns: Sequence[str]) -> RecordColumns:
        """The selected rows' ``columns``, read from the raw DBAPI cursor into numpy.

        When a text column of the read leads an index that holds every column the read
        and its filters touch (``customer_id`` and ``occurred_at`` of interactions: their
        customer/time index; ``rep_id``: the rep/time index; ``opportunity_id`` alone), that
        column is not fetched row by row: a grouped count over the index gives its values,
        and the other columns come in the index's order (the codes repeat each value its
        count of times); on SQLite a read of that column and the index's time column is one
        grouped scan (:meth:`_grouped_times`).
        Customer ids of ``customer_ids`` go in IN lists of 500.
        """
        groups = customer_groups(self.spec, self.table, query)
        wanted = query.values.get("customer_ids")
        query = Query(
            {k: v for k, v in query.values.items() if k != "customer_ids"}, query.lo, query.hi
        )
        touched = (
            set(columns)
            | {self.spec.filter(f).column for f in query.values}
            | (set(self.spec.time) if query.lo is not None or query.hi is not None else set())
        )
        if wanted is not None:
            touched.add("customer_id")
        lead = self._lead(columns, touched)
        kinds = {c: READABLE[self.spec.table][c] for c in columns}
        lead_labels: builtins.list[str | None] = []
        with self._session.reading(f"reading {self._label} records as columns") as conn:
            parts = [self._column_group(conn, g, columns, kinds, lead, lead_labels) for g in groups]
        data: dict[str, npt.NDArray[Any]] = {}
        labels: dict[str, tuple[str, ...]] = {}
        for c in columns:
            joined = [p[c] for p in parts]
            if c == lead:
                data[c], labels[c] = recode(np.concatenate(joined), lead_labels)
            elif kinds[c] == TEXT:
                data[c], labels[c] = text_codes(np.concatenate(joined).tolist())
            elif kinds[c] == TIME:
                data[c] = np.concatenate(joined).astype(np.int64).view("datetime64[us]")
            else:
                values = np.concatenate(joined)
                data[c] = np.array(
                    [np.nan if v is None else v for v in values.tolist()], dtype=np.float64
                )
        return RecordColumns(data, labels)

    def _lead(self, columns: Sequence[str], touched: set[str]) -> str | None:
        """The text column of ``columns`` that leads an index holding every column of
        ``touched`` (the grouped read), else None."""
        for ix in sorted(self.table.indexes, key=lambda i: str(i.name)):
            names = [c.name for c in ix.columns]
            head = names[0]
            if (
                head in columns
                and READABLE[self.spec.table][head] == TEXT
                and touched <= set(names)
            ):
                return head
        return None

    def _column_group(
        self,
        conn: Connection,
        cond: builtins.list[Any],
        columns: Sequence[str],
        kinds: Mapping[str, str],
        lead: str | None,
        lead_labels: builtins.list[str | None],
    ) -> dict[str, npt.NDArray[Any]]:
        from crmcore.repositories.sql._transactions import _raw_read  # a cycle at import

        c = self.table.c
        out: dict[str, npt.NDArray[Any]] = {}
        counts: builtins.list[int] = []
        order: builtins.list[Any] = []
        if lead is not None:
            fetched = [n for n in columns if n != lead]
            if (
                conn.dialect.name == "sqlite"
                and len(fetched) == 1
                and kinds[fetched[0]] == TIME
                and self._second(lead) == fetched[0]
            ):
                done = self._grouped_times(conn, cond, lead, fetched[0], lead_labels)
                if done is not None:
                    return done
            got = conn.execute(
                sa.select(c[lead], sa.func.count()).where(*cond).group_by(c[lead]).order_by(c[lead])
            ).all()
            offset = len(lead_labels)
            lead_labels.extend(r[0] for r in got)
            counts = [int(r[1]) for r in got]
            out[lead] = np.repeat(np.arange(offset, offset + len(got), dtype=np.int64), counts)
            order = [c[lead]]
        fetched = [n for n in columns if n != lead]
        if not fetched:
            return out
        selected = [sa.func.coalesce(c[n], _NAT) if kinds[n] == TIME else c[n] for n in fetched]
        dtype = np.dtype(
            [(f"f{i}", "i8" if kinds[n] == TIME else "O") for i, n in enumerate(fetched)]
        )
        stmt = sa.select(*selected).where(*cond).order_by(*order)
        rows = _raw_read(conn, stmt, lambda cur: np.fromiter(cur, dtype=dtype))
        if lead is not None and len(rows) != sum(counts):
            raise ConcurrencyError(
                f"{self._label} records were added while they were read as columns: retry the read"
            )
        for i, n in enumerate(fetched):
            out[n] = rows[f"f{i}"]
        return out

    def _second(self, lead: str) -> str | None:
        """The second column of the index :meth:`_lead` chose for ``lead``."""
        for ix in sorted(self.table.indexes, key=lambda i: str(i.name)):
            names = [c.name for c in ix.columns]
            if names[0] == lead and len(names) > 1:
                return names[1]
        return None

    def _grouped_times(
        self,
        conn: Connection,
        cond: builtins.list[Any],
        lead: str,
        time: str,
        lead_labels: builtins.list[str | None],
    ) -> dict[str, npt.NDArray[Any]] | None:
        """SQLite: the lead column and a time column in ONE scan of their (lead, time) index:
        per value of the lead, its count and its times as comma-joined integers
        (``group_concat``), parsed by numpy at once; one Python object per value of the lead
        instead of one per row. Each value's string holds exactly its own rows, so no order
        is assumed; a malformed or miscounted result returns None (the caller reads the
        rows instead)."""
        from crmcore.repositories.sql._transactions import _ints

        c = self.table.c
        stmt = (
            sa.select(
                c[lead], sa.func.count(), sa.func.group_concat(sa.func.coalesce(c[time], _NAT))
            )
            .where(*cond)
            .group_by(c[lead])
            .order_by(c[lead])
        )
        got = conn.execute(stmt).all()
        counts = np.array([int(r[1]) for r in got], dtype=np.int64)
        values = _ints(",".join(str(r[2]) for r in got)) if got else np.zeros(0, np.int64)
        if values is None or len(values) != int(counts.sum()):
            return None
        offset = len(lead_labels)
        lead_labels.extend(r[0] for r in got)
        codes = np.repeat(np.arange(offset, offset + len(got), dtype=np.int64), counts)
        return {lead: codes, time: values}


class SqlInteractionStore(SqlRecordStore[Interaction]):
    """Interactions in SQL."""

    spec = INTERACTIONS

    def _row(self, r: Interaction) -> dict[str, Any]:
        return {
            "id": r.id,
            "customer_id": r.customer_id,
            "channel": r.channel.value,
            "direction": r.direction.value,
            "occurred_at": to_micros(r.occurred_at, "occurred_at"),
            "rep_id": r.rep_id,
            "subject": r.subject,
            "outcome": r.outcome,
            "duration_seconds": r.duration_seconds,
            "opportunity_id": r.opportunity_id,
        }

    def _obj(self, row: Any) -> Interaction:
        return Interaction(
            id=row.id,
            customer_id=row.customer_id,
            channel=row.channel,
            direction=row.direction,
            occurred_at=from_micros(row.occurred_at),
            rep_id=row.rep_id,
            subject=row.subject,
            outcome=row.outcome,
            duration_seconds=None if row.duration_seconds is None else int(row.duration_seconds),
            opportunity_id=row.opportunity_id,
        )


class SqlActivityStore(SqlRecordStore[Activity]):
    """Activities in SQL."""

    spec = ACTIVITIES

    def _row(self, r: Activity) -> dict[str, Any]:
        return {
            "id": r.id,
            "kind": r.kind.value,
            "rep_id": r.rep_id,
            "customer_id": r.customer_id,
            "opportunity_id": r.opportunity_id,
            "subject": r.subject,
            "status": r.status.value,
            "due_at": opt_micros(r.due_at, "due_at"),
            "done_at": opt_micros(r.done_at, "done_at"),
            "outcome": r.outcome,
        }

    def _obj(self, row: Any) -> Activity:
        return Activity(
            id=row.id,
            kind=row.kind,
            rep_id=row.rep_id,
            customer_id=row.customer_id,
            opportunity_id=row.opportunity_id,
            subject=row.subject,
            status=row.status,
            due_at=_opt_time(row.due_at),
            done_at=_opt_time(row.done_at),
            outcome=row.outcome,
        )


class SqlSurveyStore(SqlRecordStore[SurveyResponse]):
    """Survey responses in SQL."""

    spec = SURVEYS

    def _row(self, r: SurveyResponse) -> dict[str, Any]:
        return {
            "id": r.id,
            "customer_id": r.customer_id,
            "responded_at": to_micros(r.responded_at, "responded_at"),
            "csat": r.csat,
            "nps": r.nps,
            "comment": r.comment,
            "survey": r.survey,
            "channel": r.channel,
        }

    def _obj(self, row: Any) -> SurveyResponse:
        return SurveyResponse(
            id=row.id,
            customer_id=row.customer_id,
            responded_at=from_micros(row.responded_at),
            csat=None if row.csat is None else int(row.csat),
            nps=None if row.nps is None else int(row.nps),
            comment=row.comment,
            survey=row.survey,
            channel=row.channel,
        )


class SqlCostStore(SqlRecordStore[CostEntry]):
    """Cost entries in SQL."""

    spec = COSTS

    def _row(self, r: CostEntry) -> dict[str, Any]:
        return {
            "id": r.id,
            "customer_id": r.customer_id,
            "incurred_at": to_micros(r.incurred_at, "incurred_at"),
            "amount_e6": to_e6(r.amount.amount, "amount"),
            "currency": r.amount.currency,
            "category": r.category,
            "channel": r.channel,
            "note": r.note,
        }

    def _obj(self, row: Any) -> CostEntry:
        return CostEntry(
            id=row.id,
            customer_id=row.customer_id,
            incurred_at=from_micros(row.incurred_at),
            amount=from_e6(row.amount_e6, row.currency),
            category=row.category,
            channel=row.channel,
            note=row.note,
        )
