"""SQL repositories of the append-only records: interactions, activities, surveys, costs."""

from __future__ import annotations

import builtins
import functools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import sqlalchemy as sa

from crmcore.errors import NotFoundError
from crmcore.model import Activity, Channel, CostEntry, Interaction, SurveyResponse
from crmcore.repositories._args import (
    check_batch,
    check_filters,
    check_iterable,
    check_limit,
    check_lookup,
    parse_channels,
    time_bounds,
)
from crmcore.repositories._codec import (
    from_e6,
    from_micros,
    opt_micros,
    to_e6,
    to_micros,
)
from crmcore.repositories._writes import check_record
from crmcore.repositories.sql import schema
from crmcore.repositories.sql._prepared import Prepared, fetch_one

if TYPE_CHECKING:
    from crmcore.repositories.sql._session import SqlSession

__all__ = [
    "SqlActivityRepository",
    "SqlCostRepository",
    "SqlInteractionRepository",
    "SqlSurveyRepository",
    "SqlTable",
    "in_range",
]

R = TypeVar("R")
_NEVER = -(2**62)


def in_range(column: Any, lo: int | None, hi: int | None) -> list[Any]:
    """Conditions of the half-open range ``[lo, hi)`` on an int time column."""
    out: list[Any] = []
    if lo is not None:
        out.append(column >= lo)
    if hi is not None:
        out.append(column < hi)
    return out


def _opt_time(v: int | None) -> datetime | None:
    return None if v is None else from_micros(v)


class SqlTable(Generic[R]):
    """Add / get / replace / select / keyset iteration over one table of records."""

    table: sa.Table
    kind: type[Any]
    label: str

    def __init__(self, session: SqlSession) -> None:
        self._session = session
        # the class attribute is the default namespace's table: take the unit of work's
        self.table = session.namespace.tables[self.table.info["base"]]

    # subclasses say how a record maps to a row and back, and the order of lists
    def _row(self, record: R) -> dict[str, Any]:
        raise NotImplementedError

    def _obj(self, row: Any) -> R:
        raise NotImplementedError

    def _order(self) -> list[Any]:
        raise NotImplementedError

    def _check(self, record: object) -> R:
        return cast(R, check_record(record, self.kind))

    @functools.cached_property
    def _by_id(self) -> Prepared:
        """The row by id, prepared once (:mod:`._prepared`)."""
        return Prepared(sa.select(self.table).where(self.table.c.id == sa.bindparam("id")))

    def add(self, record: R) -> R:
        """Store a new record; a stored id raises DuplicateError."""
        row = self._row(self._check(record))
        with self._session.writing(f"adding {self.label} {row['id']!r}") as conn:
            conn.execute(sa.insert(self.table), [row])
        return record

    def add_many(self, records: Iterable[R]) -> int:
        """Store new records in bulk; any duplicate → DuplicateError and none is stored."""
        rows = [self._row(self._check(r)) for r in check_iterable(records, "records")]
        if not rows:
            return 0
        step = self._session.batch_size
        with self._session.writing(f"adding {len(rows)} {self.label} records") as conn:
            for i in range(0, len(rows), step):
                conn.execute(sa.insert(self.table), rows[i : i + step])
        return len(rows)

    def get(self, record_id: str) -> R:
        """The record, or NotFoundError."""
        check_lookup(record_id, "record_id")
        with self._session.reading(f"reading {self.label} {record_id!r}") as conn:
            row = fetch_one(conn, self._by_id, {"id": record_id})
        if row is None:
            raise NotFoundError(f"{self.label} {record_id!r} not found")
        return self._obj(row)

    def replace(self, record: R) -> R:
        """Overwrite a stored record with the same id (privacy erasure, corrections)."""
        row = self._row(self._check(record))
        rid = row.pop("id")
        with self._session.writing(f"replacing {self.label} {rid!r}") as conn:
            n = conn.execute(
                sa.update(self.table).where(self.table.c.id == rid).values(**row)
            ).rowcount
        if n == 0:
            raise NotFoundError(f"{self.label} {rid!r} not found")
        return record

    def _select(self, where: Sequence[Any], limit: int | None) -> builtins.list[R]:
        limit = check_limit(limit)
        q = sa.select(self.table).where(*where).order_by(*self._order())
        if limit is not None:
            q = q.limit(limit)
        with self._session.reading(f"listing {self.label} records") as conn:
            return [self._obj(r) for r in conn.execute(q)]

    def _iter(self, where: Sequence[Any], time_col: Any, batch_size: int) -> Iterator[R]:
        """Keyset pagination on ``(time, id)``: one bounded query per batch, never a full load."""
        check_batch(batch_size)
        last: tuple[int, str] | None = None
        id_col = self.table.c.id
        while True:
            cond = list(where)
            if last is not None:
                cond.append(
                    sa.or_(time_col > last[0], sa.and_(time_col == last[0], id_col > last[1]))
                )
            q = sa.select(self.table).where(*cond).order_by(time_col, id_col).limit(batch_size)
            with self._session.reading(f"reading {self.label} records") as conn:
                rows = conn.execute(q).all()
            for r in rows:
                yield self._obj(r)
            if len(rows) < batch_size:
                return
            tail = rows[-1]._mapping
            last = (int(tail[time_col.name]), str(tail["id"]))


class SqlInteractionRepository(SqlTable[Interaction]):
    """Interactions in SQL (see :class:`~crmcore.repositories.InteractionRepository`)."""

    table, kind, label = schema.interactions, Interaction, "interaction"

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

    def _order(self) -> list[Any]:
        return [self.table.c.occurred_at, self.table.c.id]

    def _where(
        self,
        customer_id: str | None,
        rep_id: str | None,
        channels: Sequence[Channel | str] | None,
        start: datetime | None,
        end: datetime | None,
    ) -> list[Any]:
        c = self.table.c
        lo, hi = time_bounds(start, end)
        chans = parse_channels(channels)
        where = in_range(c.occurred_at, lo, hi)
        if customer_id is not None:
            where.append(c.customer_id == customer_id)
        if rep_id is not None:
            where.append(c.rep_id == rep_id)
        if chans is not None:
            where.append(c.channel.in_([ch.value for ch in chans]))
        return where

    def list(
        self,
        *,
        customer_id: str | None = None,
        rep_id: str | None = None,
        channels: Sequence[Channel | str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[Interaction]:
        """Interactions matching every filter, in time order (an index range scan)."""
        check_filters(customer_id=customer_id, rep_id=rep_id)
        return self._select(self._where(customer_id, rep_id, channels, start, end), limit)

    def iter(
        self,
        *,
        customer_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Interaction]:
        """Matching interactions in time order, fetched ``batch_size`` at a time."""
        check_filters(customer_id=customer_id)
        where = self._where(customer_id, None, None, start, end)
        return self._iter(where, self.table.c.occurred_at, batch_size)


class SqlActivityRepository(SqlTable[Activity]):
    """Activities in SQL (see :class:`~crmcore.repositories.ActivityRepository`)."""

    table, kind, label = schema.activities, Activity, "activity"

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

    def _order(self) -> list[Any]:
        c = self.table.c
        return [sa.func.coalesce(c.done_at, c.due_at, _NEVER), c.id]

    def update(self, activity: Activity) -> Activity:
        """Replace a stored activity (activities are not versioned)."""
        return self.replace(activity)

    def list(
        self,
        *,
        rep_id: str | None = None,
        customer_id: str | None = None,
        opportunity_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[Activity]:
        """Activities matching the filters, ordered by done (else due) time, then id."""
        check_filters(rep_id=rep_id, customer_id=customer_id, opportunity_id=opportunity_id)
        c = self.table.c
        lo, hi = time_bounds(start, end)
        where: list[Any] = []
        if lo is not None or hi is not None:
            where.append(
                sa.or_(
                    sa.and_(c.due_at.is_not(None), *in_range(c.due_at, lo, hi)),
                    sa.and_(c.done_at.is_not(None), *in_range(c.done_at, lo, hi)),
                )
            )
        if rep_id is not None:
            where.append(c.rep_id == rep_id)
        if customer_id is not None:
            where.append(c.customer_id == customer_id)
        if opportunity_id is not None:
            where.append(c.opportunity_id == opportunity_id)
        return self._select(where, limit)


class SqlSurveyRepository(SqlTable[SurveyResponse]):
    """Survey responses in SQL (see :class:`~crmcore.repositories.SurveyRepository`)."""

    table, kind, label = schema.surveys, SurveyResponse, "survey response"

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

    def _order(self) -> list[Any]:
        return [self.table.c.responded_at, self.table.c.id]

    def list(
        self,
        *,
        customer_id: str | None = None,
        survey: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[SurveyResponse]:
        """Responses matching every filter, in time order."""
        check_filters(customer_id=customer_id, survey=survey)
        c = self.table.c
        lo, hi = time_bounds(start, end)
        where = in_range(c.responded_at, lo, hi)
        if customer_id is not None:
            where.append(c.customer_id == customer_id)
        if survey is not None:
            where.append(c.survey == survey)
        return self._select(where, limit)


class SqlCostRepository(SqlTable[CostEntry]):
    """Cost entries in SQL (see :class:`~crmcore.repositories.CostRepository`)."""

    table, kind, label = schema.costs, CostEntry, "cost entry"

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

    def _order(self) -> list[Any]:
        return [self.table.c.incurred_at, self.table.c.id]

    def list(
        self,
        *,
        customer_id: str | None = None,
        category: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[CostEntry]:
        """Cost entries matching every filter, in time order."""
        check_filters(customer_id=customer_id, category=category)
        c = self.table.c
        lo, hi = time_bounds(start, end)
        where = in_range(c.incurred_at, lo, hi)
        if customer_id is not None:
            where.append(c.customer_id == customer_id)
        if category is not None:
            where.append(c.category == category)
        return self._select(where, limit)
