"""SQL repositories of the versioned aggregates: customers, opportunities, documents."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import sqlalchemy as sa

from crmcore.errors import ConcurrencyError, NotFoundError
from crmcore.model import Customer, Opportunity, StageChange
from crmcore.repositories._args import (
    check_batch,
    check_filters,
    check_ids,
    check_iterable,
    check_limit,
    check_lookup,
    time_bounds,
)
from crmcore.repositories._codec import (
    from_e6,
    from_micros,
    money_e6,
    opt_micros,
    to_micros,
)
from crmcore.repositories._writes import check_events, check_new_version, check_record
from crmcore.repositories.sql import schema
from crmcore.repositories.sql._records import in_range
from crmcore.serialization import from_dict, to_dict
from crmcore.tables import StageHistory

if TYPE_CHECKING:
    from crmcore.repositories.sql.uow import SqlUnitOfWork

__all__ = ["SqlCustomerRepository", "SqlOpportunityRepository"]

_PROFILE = ("contact_points", "birthday", "address", "tags", "relationships", "consent")
_CHUNK = 500


def _opt_time(v: int | None) -> datetime | None:
    return None if v is None else from_micros(v)


def customer_row(c: Customer) -> dict[str, Any]:
    """The row of a customer: queried fields as columns, nested parts as JSON ``profile``."""
    d = to_dict(c)
    return {
        "id": c.id,
        "name": c.name,
        "kind": c.kind.value,
        "owner_id": c.owner_id,
        "segment": c.segment,
        "acquired_at": opt_micros(c.acquired_at, "acquired_at"),
        "acquisition_channel": c.acquisition_channel,
        "external_key": c.external_key,
        "erased": c.erased,
        "version": c.version,
        "profile": json.dumps({k: d[k] for k in _PROFILE}, sort_keys=True),
    }


def customer_from_row(row: Any) -> Customer:
    """The customer stored in ``row``."""
    d = json.loads(row.profile)
    d.update(
        id=row.id,
        name=row.name,
        kind=row.kind,
        owner_id=row.owner_id,
        segment=row.segment,
        acquired_at=_opt_time(row.acquired_at),
        acquisition_channel=row.acquisition_channel,
        external_key=row.external_key,
        erased=bool(row.erased),
        version=int(row.version),
    )
    return from_dict(Customer, d)


class SqlCustomerRepository:
    """Customers in SQL (see :class:`~crmcore.repositories.CustomerRepository`)."""

    table = schema.customers

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    @staticmethod
    def _check(customer: object) -> Customer:
        return check_record(customer, Customer)

    def add(self, customer: Customer) -> Customer:
        """Store a new customer (version 0); a stored id raises DuplicateError."""
        self._check(customer)
        check_new_version(customer, "customer")
        row = customer_row(customer)
        with self._uow._writing(f"adding customer {customer.id!r}") as conn:
            conn.execute(sa.insert(self.table), [row])
        return customer

    def add_many(self, customers: Iterable[Customer]) -> int:
        """Store new customers in bulk; any duplicate → DuplicateError and none is stored."""
        rows = []
        for c in check_iterable(customers, "customers"):
            self._check(c)
            check_new_version(c, "customer")
            rows.append(customer_row(c))
        if not rows:
            return 0
        step = self._uow.batch_size
        with self._uow._writing(f"adding {len(rows)} customers") as conn:
            for i in range(0, len(rows), step):
                conn.execute(sa.insert(self.table), rows[i : i + step])
        return len(rows)

    def get(self, customer_id: str) -> Customer:
        """The customer, or NotFoundError."""
        found = self.find(customer_id)
        if found is None:
            raise NotFoundError(f"customer {customer_id!r} not found")
        return found

    def find(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        check_lookup(customer_id, "customer_id")
        with self._uow._reading(f"reading customer {customer_id!r}") as conn:
            row = conn.execute(sa.select(self.table).where(self.table.c.id == customer_id)).first()
        return None if row is None else customer_from_row(row)

    def update(self, customer: Customer) -> Customer:
        """One ``UPDATE ... WHERE id = ? AND version = ?``; no row → stale (ConcurrencyError)."""
        self._check(customer)
        stored = attrs.evolve(customer, version=customer.version + 1)
        row = customer_row(stored)
        del row["id"]
        c = self.table.c
        stmt = (
            sa.update(self.table)
            .where(c.id == customer.id, c.version == customer.version)
            .values(**row)
        )
        with self._uow._writing(f"updating customer {customer.id!r}") as conn:
            n = conn.execute(stmt).rowcount
            if n == 0:
                cur = conn.execute(sa.select(c.version).where(c.id == customer.id)).first()
                if cur is None:
                    raise NotFoundError(f"customer {customer.id!r} not found")
                raise ConcurrencyError(
                    f"customer {customer.id!r} is at version {cur[0]}, the update was based "
                    f"on version {customer.version}; nothing was changed"
                )
        return stored

    def list(
        self,
        *,
        owner_id: str | None = None,
        segment: str | None = None,
        acquired_from: datetime | None = None,
        acquired_to: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[Customer]:
        """Customers matching every filter, ordered by id."""
        check_filters(owner_id=owner_id, segment=segment)
        limit = check_limit(limit)
        c = self.table.c
        lo, hi = time_bounds(acquired_from, acquired_to, names=("acquired_from", "acquired_to"))
        where = in_range(c.acquired_at, lo, hi)
        if owner_id is not None:
            where.append(c.owner_id == owner_id)
        if segment is not None:
            where.append(c.segment == segment)
        q = sa.select(self.table).where(*where).order_by(c.id)
        if limit is not None:
            q = q.limit(limit)
        with self._uow._reading("listing customers") as conn:
            return [customer_from_row(r) for r in conn.execute(q)]

    def iter(self, *, batch_size: int = 1000) -> Iterator[Customer]:
        """Every customer in id order, by keyset pagination (``id > last``)."""
        check_batch(batch_size)
        c = self.table.c
        last: str | None = None
        while True:
            q = sa.select(self.table).order_by(c.id).limit(batch_size)
            if last is not None:
                q = q.where(c.id > last)
            with self._uow._reading("reading customers") as conn:
                rows = conn.execute(q).all()
            for r in rows:
                yield customer_from_row(r)
            if len(rows) < batch_size:
                return
            last = str(rows[-1].id)

    def by_external_keys(self, keys: Sequence[str]) -> dict[str, str]:
        """``external_key → customer id`` (the smallest id when a key repeats)."""
        wanted = sorted(set(check_ids(keys, "keys")))
        c = self.table.c
        out: dict[str, str] = {}
        with self._uow._reading("looking up external keys") as conn:
            for i in range(0, len(wanted), _CHUNK):
                q = (
                    sa.select(c.external_key, sa.func.min(c.id))
                    .where(c.external_key.in_(wanted[i : i + _CHUNK]))
                    .group_by(c.external_key)
                )
                out.update((str(k), str(v)) for k, v in conn.execute(q))
        return out

    def count(self) -> int:
        """How many customers are stored."""
        with self._uow._reading("counting customers") as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()
            )


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
    }


def _opt_date(v: Any) -> date | None:
    if v is None or (isinstance(v, date) and not isinstance(v, datetime)):
        return v
    if isinstance(v, datetime):
        return v.date()
    return date.fromisoformat(str(v))


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
    )


class SqlOpportunityRepository:
    """Opportunities and stage changes in SQL (see :class:`~crmcore.repositories.OpportunityRepository`)."""

    table = schema.opportunities
    events = schema.stage_changes

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    @staticmethod
    def _check(opportunity: object) -> Opportunity:
        return check_record(opportunity, Opportunity)

    def add(self, opportunity: Opportunity, event: StageChange | None = None) -> Opportunity:
        """Store a new opportunity (version 0) with its creation event."""
        self._check(opportunity)
        check_new_version(opportunity, "opportunity")
        events = () if event is None else (event,)
        check_events(opportunity, events)
        with self._uow._writing(f"adding opportunity {opportunity.id!r}") as conn:
            conn.execute(sa.insert(self.table), [_opportunity_row(opportunity)])
            if events:
                conn.execute(sa.insert(self.events), [_event_row(e) for e in events])
        return opportunity

    def get(self, opportunity_id: str) -> Opportunity:
        """The opportunity, or NotFoundError."""
        found = self.find(opportunity_id)
        if found is None:
            raise NotFoundError(f"opportunity {opportunity_id!r} not found")
        return found

    def find(self, opportunity_id: str) -> Opportunity | None:
        """The opportunity, or None."""
        check_lookup(opportunity_id, "opportunity_id")
        q = sa.select(self.table).where(self.table.c.id == opportunity_id)
        with self._uow._reading(f"reading opportunity {opportunity_id!r}") as conn:
            row = conn.execute(q).first()
        return None if row is None else _opportunity(row)

    def save(self, opportunity: Opportunity, events: Sequence[StageChange] = ()) -> Opportunity:
        """``UPDATE ... WHERE id = ? AND version = ?`` plus the new events, in one savepoint."""
        self._check(opportunity)
        events = tuple(events)
        check_events(opportunity, events)
        stored = attrs.evolve(opportunity, version=opportunity.version + 1)
        row = _opportunity_row(stored)
        del row["id"]
        c = self.table.c
        stmt = (
            sa.update(self.table)
            .where(c.id == opportunity.id, c.version == opportunity.version)
            .values(**row)
        )
        with self._uow._writing(f"saving opportunity {opportunity.id!r}") as conn:
            if conn.execute(stmt).rowcount == 0:
                cur = conn.execute(sa.select(c.version).where(c.id == opportunity.id)).first()
                if cur is None:
                    raise NotFoundError(f"opportunity {opportunity.id!r} not found")
                raise ConcurrencyError(
                    f"opportunity {opportunity.id!r} is at version {cur[0]}, the save was "
                    f"based on version {opportunity.version}; nothing was changed"
                )
            if events:
                conn.execute(sa.insert(self.events), [_event_row(e) for e in events])
        return stored

    def list(
        self,
        *,
        owner_id: str | None = None,
        customer_id: str | None = None,
        funnel: str | None = None,
        stage: str | None = None,
        open_only: bool = False,
        limit: int | None = None,
    ) -> builtins.list[Opportunity]:
        """Opportunities matching every filter, ordered by id."""
        check_filters(owner_id=owner_id, customer_id=customer_id, funnel=funnel, stage=stage)
        limit = check_limit(limit)
        c = self.table.c
        where: list[Any] = []
        for col, value in (
            (c.owner_id, owner_id),
            (c.customer_id, customer_id),
            (c.funnel, funnel),
            (c.stage, stage),
        ):
            if value is not None:
                where.append(col == value)
        if open_only:
            where.append(c.closed_at.is_(None))
        q = sa.select(self.table).where(*where).order_by(c.id)
        if limit is not None:
            q = q.limit(limit)
        with self._uow._reading("listing opportunities") as conn:
            return [_opportunity(r) for r in conn.execute(q)]

    def history(self, opportunity_id: str) -> builtins.list[StageChange]:
        """The opportunity's events in sequence order."""
        self.get(opportunity_id)
        e = self.events.c
        q = sa.select(self.events).where(e.opportunity_id == opportunity_id).order_by(e.sequence)
        with self._uow._reading(f"reading the history of {opportunity_id!r}") as conn:
            return [_event(r) for r in conn.execute(q)]

    def read_history(
        self,
        *,
        funnel: str | None = None,
        owner_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> StageHistory:
        """Stage changes as columns (owner and product fall back to the opportunity's)."""
        check_filters(funnel=funnel, owner_id=owner_id)
        lo, hi = time_bounds(start, end)
        e, o = self.events.c, self.table.c
        funnel_col = sa.func.coalesce(e.funnel, o.funnel)
        owner_col = sa.func.coalesce(e.owner_id, o.owner_id)
        where = in_range(e.at, lo, hi)
        if funnel is not None:
            where.append(funnel_col == funnel)
        if owner_id is not None:
            where.append(owner_col == owner_id)
        q = (
            sa.select(
                e.opportunity_id,
                e.sequence,
                e.from_stage,
                e.to_stage,
                e.at,
                e.amount_e6,
                owner_col,
                sa.func.coalesce(e.product, o.product),
            )
            .select_from(self.events.join(self.table, e.opportunity_id == o.id))
            .where(*where)
            .order_by(e.opportunity_id, e.sequence)
        )
        with self._uow._reading("reading stage history as columns") as conn:
            rows = conn.execute(q).all()
        cols = list(zip(*rows, strict=True)) if rows else [()] * 8
        amounts = np.array(
            [np.nan if a is None else int(a) / 1e6 for a in cols[5]], dtype=np.float64
        )
        return StageHistory.from_arrays(
            opportunity_ids=np.array(cols[0], dtype=str),
            sequence=np.array(cols[1], dtype=np.int64),
            from_stage=list(cols[2]),
            to_stage=np.array(cols[3], dtype=str),
            at=np.array(cols[4], dtype=np.int64).view("datetime64[us]"),
            amount=amounts,
            owner_ids=np.array(cols[6], dtype=str),
            products=list(cols[7]),
        )
