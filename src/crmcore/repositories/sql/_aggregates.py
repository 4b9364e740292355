"""SQL repository of customers (opportunities: ``_opportunities``; documents: ``_documents``)."""

from __future__ import annotations

import builtins
import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from crmcore.errors import ConcurrencyError, NotFoundError
from crmcore.model import Customer
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
    from_micros,
    opt_micros,
)
from crmcore.repositories._writes import check_new_version, check_record
from crmcore.repositories.sql import schema
from crmcore.repositories.sql._prepared import Prepared, fetch_one, run
from crmcore.repositories.sql._records import in_range
from crmcore.serialization import from_dict, to_dict

if TYPE_CHECKING:
    from crmcore.repositories.sql._session import SqlSession

__all__ = ["SqlCustomerRepository"]

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

    def __init__(self, session: SqlSession) -> None:
        self._session = session
        self.table = session.namespace.customers

    @staticmethod
    def _check(customer: object) -> Customer:
        return check_record(customer, Customer)

    @functools.cached_property
    def _by_id(self) -> Prepared:
        """The row by id, prepared once (:mod:`._prepared`)."""
        return Prepared(sa.select(self.table).where(self.table.c.id == sa.bindparam("id")))

    @functools.cached_property
    def _update(self) -> Prepared:
        """``UPDATE ... SET <the given columns> WHERE id = :w_id AND version = :w_version``."""
        c = self.table.c
        return Prepared(
            sa.update(self.table).where(
                c.id == sa.bindparam("w_id"), c.version == sa.bindparam("w_version")
            ),
            keyed=True,
        )

    def add(self, customer: Customer) -> Customer:
        """Store a new customer (version 0); a stored id raises DuplicateError."""
        self._check(customer)
        check_new_version(customer, "customer")
        row = customer_row(customer)
        with self._session.writing(f"adding customer {customer.id!r}") as conn:
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
        step = self._session.batch_size
        with self._session.writing(f"adding {len(rows)} customers") as conn:
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
        with self._session.reading(f"reading customer {customer_id!r}") as conn:
            row = fetch_one(conn, self._by_id, {"id": customer_id})
        return None if row is None else customer_from_row(row)

    def update(self, customer: Customer) -> Customer:
        """One ``UPDATE ... WHERE id = ? AND version = ?``; no row → stale (ConcurrencyError)."""
        self._check(customer)
        stored = attrs.evolve(customer, version=customer.version + 1)
        row = customer_row(stored)
        del row["id"]
        row.update(w_id=customer.id, w_version=customer.version)
        c = self.table.c
        with self._session.writing(f"updating customer {customer.id!r}") as conn:
            n = run(conn, self._update, row)
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
        with self._session.reading("listing customers") as conn:
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
            with self._session.reading("reading customers") as conn:
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
        with self._session.reading("looking up external keys") as conn:
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
        with self._session.reading("counting customers") as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()
            )
