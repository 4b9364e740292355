"""The SQL store of opportunities and their events (stage changes and field changes): storage
only, under the front :class:`crmcore.repositories._opportunities.Opportunities`, and the
row <-> object mapping (which the eraser, :mod:`._erasure`, uses too).

>>> from datetime import UTC, datetime
>>> o = Opportunity(id="o-1", customer_id="c-1", owner_id="ann", funnel="b2b", stage="lead",
...                 created_at=datetime(2025, 1, 6, tzinfo=UTC))
>>> row = _opportunity_row(o)
>>> row["created_at"], row["custom"]
(1736121600000000, None)
>>> from types import SimpleNamespace
>>> _opportunity(SimpleNamespace(**row)) == o
True
"""

from __future__ import annotations

import builtins
import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmcore.errors import NotFoundError
from crmcore.model import FieldChange, Opportunity, StageChange
from crmcore.model.opportunity import decode_field_value, encode_field_value
from crmcore.repositories._codec import from_e6, from_micros, money_e6, opt_micros, to_micros
from crmcore.repositories._events import Event, Tail
from crmcore.repositories._opportunities import OPPORTUNITIES, ChangesQuery, SavePlan, lost_race
from crmcore.repositories._spec import Query
from crmcore.repositories.sql._history import read_changes_columns, read_history_columns
from crmcore.repositories.sql._opportunity_statements import OpportunityStatements
from crmcore.repositories.sql._prepared import fetch_all, fetch_one, run, run_many
from crmcore.repositories.sql._query import order_by, range_conditions, where
from crmcore.tables import FieldHistory, StageHistory

if TYPE_CHECKING:
    from crmcore.repositories.sql._session import SqlSession

__all__ = ["SqlOpportunityStore"]


def _opt_time(v: int | None) -> datetime | None:
    return None if v is None else from_micros(v)


def _opt_date(v: Any) -> date | None:
    if v is None or (isinstance(v, date) and not isinstance(v, datetime)):
        return v
    if isinstance(v, datetime):
        return v.date()
    return date.fromisoformat(str(v))


def _custom_text(custom: Any) -> str | None:
    return json.dumps(dict(custom), sort_keys=True) if custom else None


def _custom(text: str | None) -> dict[str, Any]:
    return {} if text is None else dict(json.loads(text))


def _opportunity_row(o: Opportunity) -> dict[str, Any]:
    amount_e6, currency = money_e6(o.amount, "amount")
    return {
        "id": o.id,
        "customer_id": o.customer_id,
        "owner_id": o.owner_id,
        "funnel": o.funnel,
        "stage": o.stage,
        "created_at": to_micros(o.created_at, "created_at"),
        "amount_e6": amount_e6,
        "currency": currency,
        "expected_close": o.expected_close,
        "probability": o.probability,
        "product": o.product,
        "lost_reason": o.lost_reason,
        "stage_entered_at": opt_micros(o.stage_entered_at, "stage_entered_at"),
        "closed_at": opt_micros(o.closed_at, "closed_at"),
        "parent_id": o.parent_id,
        "kind": o.kind,
        "version": o.version,
        "forecast_category": o.forecast_category,
        "custom": _custom_text(o.custom),
    }


def _opportunity(row: Any) -> Opportunity:
    return Opportunity(
        id=row.id,
        customer_id=row.customer_id,
        owner_id=row.owner_id,
        funnel=row.funnel,
        stage=row.stage,
        created_at=from_micros(row.created_at),
        amount=None if row.amount_e6 is None else from_e6(row.amount_e6, row.currency),
        expected_close=_opt_date(row.expected_close),
        probability=None if row.probability is None else float(row.probability),
        product=row.product,
        lost_reason=row.lost_reason,
        stage_entered_at=_opt_time(row.stage_entered_at),
        closed_at=_opt_time(row.closed_at),
        parent_id=row.parent_id,
        kind=row.kind,
        version=int(row.version),
        forecast_category=row.forecast_category,
        custom=_custom(row.custom),
    )


def _event_row(e: StageChange) -> dict[str, Any]:
    amount_e6, currency = money_e6(e.amount, "amount")
    return {
        "opportunity_id": e.opportunity_id,
        "sequence": e.sequence,
        "from_stage": e.from_stage,
        "to_stage": e.to_stage,
        "at": to_micros(e.at, "at"),
        "by": e.by,
        "reason": e.reason,
        "amount_e6": amount_e6,
        "currency": currency,
        "probability": e.probability,
        "customer_id": e.customer_id,
        "owner_id": e.owner_id,
        "funnel": e.funnel,
        "product": e.product,
        "recorded_at": opt_micros(e.recorded_at, "recorded_at"),
        "request_id": e.request_id,
        "forecast_category": e.forecast_category,
        "expected_close": e.expected_close,
        "parent_id": e.parent_id,
        "deal_kind": e.deal_kind,
        "custom": _custom_text(e.custom),
        "funnel_version": e.funnel_version,
    }


def _event(row: Any) -> StageChange:
    return StageChange(
        opportunity_id=row.opportunity_id,
        sequence=int(row.sequence),
        from_stage=row.from_stage,
        to_stage=row.to_stage,
        at=from_micros(row.at),
        by=row.by,
        reason=row.reason,
        amount=None if row.amount_e6 is None else from_e6(row.amount_e6, row.currency),
        probability=None if row.probability is None else float(row.probability),
        customer_id=row.customer_id,
        owner_id=row.owner_id,
        funnel=row.funnel,
        product=row.product,
        recorded_at=_opt_time(row.recorded_at),
        request_id=row.request_id,
        forecast_category=row.forecast_category,
        expected_close=_opt_date(row.expected_close),
        parent_id=row.parent_id,
        deal_kind=row.deal_kind,
        custom=_custom(row.custom),
        funnel_version=None if row.funnel_version is None else int(row.funnel_version),
    )


def _value_text(field: str, value: Any) -> str:
    return json.dumps(encode_field_value(field, value), sort_keys=True)


def _change_row(e: FieldChange) -> dict[str, Any]:
    return {
        "opportunity_id": e.opportunity_id,
        "sequence": e.sequence,
        "field": e.field,
        "old": _value_text(e.field, e.old),
        "new": _value_text(e.field, e.new),
        "at": to_micros(e.at, "at"),
        "recorded_at": to_micros(e.recorded_at, "recorded_at") if e.recorded_at else None,
        "by": e.by,
        "reason": e.reason,
        "request_id": e.request_id,
    }


def _change(row: Any) -> FieldChange:
    return FieldChange(
        opportunity_id=row.opportunity_id,
        sequence=int(row.sequence),
        field=row.field,
        old=decode_field_value(row.field, json.loads(row.old)),
        new=decode_field_value(row.field, json.loads(row.new)),
        at=from_micros(row.at),
        by=row.by,
        reason=row.reason,
        recorded_at=from_micros(row.recorded_at),
        request_id=row.request_id,
    )


class SqlOpportunityStore:
    """Opportunities and their events in SQL
    (:class:`~crmcore.repositories._opportunities.OpportunityStore`).

    Stage changes live in ``stage_changes``, field changes in ``field_changes``;
    both share the opportunity's event numbering, which the conditional update
    of the opportunity's version serialises.
    """

    def __init__(self, session: SqlSession) -> None:
        ns = session.namespace
        self.table, self.stages, self.changes = ns.opportunities, ns.stage_changes, ns.field_changes
        self._reading = session.reading
        self._writing = session.writing
        self._sql = OpportunityStatements(self.table, self.stages, self.changes)
        """The prepared statements of the hot paths, for this store's tables."""

    def insert(self, opportunity: Opportunity, created: StageChange) -> None:
        q = self._sql
        with self._writing(f"adding opportunity {opportunity.id!r}") as conn:
            run(conn, q.insert, _opportunity_row(opportunity))
            run(conn, q.insert_stage, _event_row(created))

    def fetch(self, opportunity_id: str) -> Opportunity | None:
        with self._reading(f"reading opportunity {opportunity_id!r}") as conn:
            row = fetch_one(conn, self._sql.by_id, {"id": opportunity_id})
        return None if row is None else _opportunity(row)

    def _tail(self, conn: Connection, opportunity_id: str, row: Any) -> Tail:
        """The last stored event's number and times: the event numbered as the version (a
        save makes the version its last event's number), read with the row ``row``; the
        highest numbered event when none is (not expected: a database edited by hand)."""
        for at, recorded in (
            (row.tail_stage_at, row.tail_stage_recorded_at),
            (row.tail_field_at, row.tail_field_recorded_at),
        ):
            if at is not None:
                return Tail(int(row.version), from_micros(at), _opt_time(recorded))
        best: Tail | None = None
        for t in (self.stages, self.changes):
            c = t.c
            last = conn.execute(
                sa.select(c.sequence, c.at, c.recorded_at)
                .where(c.opportunity_id == opportunity_id)
                .order_by(c.sequence.desc())
                .limit(1)
            ).first()
            if last is not None and (best is None or int(last[0]) > best.sequence):
                best = Tail(int(last[0]), from_micros(last[1]), _opt_time(last[2]))
        if best is None:  # pragma: no cover (every stored opportunity has its creation event)
            raise NotFoundError(f"opportunity {opportunity_id!r} has no stored events")
        return best

    def _used(self, conn: Connection, opportunity_id: str, ids: set[str]) -> set[str]:
        q = self._sql.request_used
        return {
            r
            for r in sorted(ids)
            if fetch_one(conn, q, {"id": opportunity_id, "request_id": r}) is not None
        }

    def save(self, opportunity_id: str, plan: SavePlan) -> Opportunity | None:
        """Read the row and its last event in one statement, ``plan``, then ``UPDATE ...
        WHERE id = ? AND version = ?`` of the changed columns and insert the events, in one
        savepoint."""
        q = self._sql
        with self._writing(f"saving opportunity {opportunity_id!r}") as conn:
            row = fetch_one(conn, q.stored, {"id": opportunity_id})
            if row is None:
                return None
            stored = _opportunity(row)
            saved, new = plan(
                stored,
                self._tail(conn, opportunity_id, row),
                lambda ids: self._used(conn, opportunity_id, ids),
            )
            values, before = _opportunity_row(saved), _opportunity_row(stored)
            # only what changes (the version always does): no index is touched in vain, and a
            # column this save does not change keeps what another writer stored
            changed = {k: v for k, v in values.items() if v != before[k] or k == "version"}
            changed.update(w_id=opportunity_id, w_version=stored.version)
            if run(conn, q.update, changed) == 0:
                raise lost_race(opportunity_id)
            moves = [_event_row(e) for e in new if isinstance(e, StageChange)]
            edits = [_change_row(e) for e in new if isinstance(e, FieldChange)]
            for statement, rows in ((q.insert_stage, moves), (q.insert_field, edits)):
                if len(rows) == 1:
                    run(conn, statement, rows[0])
                else:
                    run_many(conn, statement, rows)
        return saved

    def select(self, query: Query, limit: int | None) -> builtins.list[Opportunity]:
        q = (
            sa.select(self.table)
            .where(*where(OPPORTUNITIES, self.table, query))
            .order_by(*order_by(OPPORTUNITIES, self.table))
        )
        if limit is not None:
            q = q.limit(limit)
        with self._reading("listing opportunities") as conn:
            return [_opportunity(r) for r in conn.execute(q)]

    def events(
        self, opportunity_id: str, *, request_id: str | None, stages_only: bool
    ) -> builtins.list[Event] | None:
        q, key = self._sql, {"id": opportunity_id, "request_id": request_id}
        stage, field = (
            (q.stage_events, q.field_events)
            if request_id is None
            else (q.stage_events_of_request, q.field_events_of_request)
        )
        what = "history" if stages_only else "events"
        with self._reading(f"reading the {what} of {opportunity_id!r}") as conn:
            moves = fetch_all(conn, stage, key)
            edits = [] if stages_only else fetch_all(conn, field, key)
            if not moves and not edits and fetch_one(conn, q.exists, key) is None:
                return None
        out: builtins.list[Event] = [_event(r) for r in moves]
        if edits:
            out.extend(_change(r) for r in edits)
            out.sort(key=lambda e: e.sequence)
        return out

    def read_history(self, query: Query, seen: int | None) -> StageHistory:
        """One indexed query read from the raw driver cursor (``owner_id`` and
        ``[start, end)``: the ``(owner_id, at)`` index)."""
        v = query.values
        filters = {
            "funnel": v.get("funnel"),
            "owner_id": v.get("owner_id"),
            "lo": query.lo,
            "hi": query.hi,
            "seen": seen,
        }
        with self._reading("reading stage history as columns") as conn:
            return read_history_columns(conn, self.stages, filters)

    def read_changes(self, query: ChangesQuery) -> FieldHistory:
        f, o = self.changes.c, self.table.c
        conditions = range_conditions(f.at, None, query.hi)
        if query.fields is not None:
            conditions.append(f.field.in_(sorted(query.fields)))
        if query.seen is not None:
            conditions.append(f.recorded_at <= query.seen)
        q = sa.select(
            f.opportunity_id, f.sequence, f.field, f.old, f.new, f.at, f.recorded_at, f.by, f.reason
        )
        if query.funnel is not None:
            q = q.join(self.table, o.id == f.opportunity_id)
            conditions.append(o.funnel == query.funnel)
        q = q.where(*conditions).order_by(f.opportunity_id, f.sequence)
        with self._reading("reading field changes") as conn:
            return read_changes_columns(conn, q)
