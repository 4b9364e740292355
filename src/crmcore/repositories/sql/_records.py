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
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic

import sqlalchemy as sa

from crmcore.errors import DuplicateError
from crmcore.model import Activity, CostEntry, Interaction, SurveyResponse
from crmcore.repositories._codec import (
    from_e6,
    from_micros,
    opt_micros,
    to_e6,
    to_micros,
)
from crmcore.repositories._records import ACTIVITIES, COSTS, INTERACTIONS, SURVEYS, R
from crmcore.repositories._spec import Query, TableSpec
from crmcore.repositories.sql._prepared import Prepared, fetch_one
from crmcore.repositories.sql._query import order_by, where

if TYPE_CHECKING:
    from crmcore.repositories.sql._session import SqlSession

__all__ = [
    "SqlActivityStore",
    "SqlCostStore",
    "SqlInteractionStore",
    "SqlRecordStore",
    "SqlSurveyStore",
]

_CHUNK = 500  # ids per IN (...) list


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
