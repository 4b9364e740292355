"""The memory repository of customers (versioned aggregates)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from crmcore.errors import ConcurrencyError, DuplicateError, NotFoundError
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
from crmcore.repositories._codec import to_micros
from crmcore.repositories._writes import (
    check_new_version,
    check_record,
)
from crmcore.repositories.memory._store import MUST_NOT_EXIST, ChangeSet

if TYPE_CHECKING:
    from crmcore.repositories.memory._session import MemorySession

__all__ = ["MemoryCustomerRepository"]


class MemoryCustomerRepository:
    """Customers held in memory (see :class:`~crmcore.repositories.CustomerRepository`)."""

    def __init__(self, session: MemorySession) -> None:
        self._session = session

    def _cs(self) -> ChangeSet:
        return self._session.changes()

    @staticmethod
    def _check(customer: object) -> Customer:
        return check_record(customer, Customer)

    def add(self, customer: Customer) -> Customer:
        """Store a new customer (version 0)."""
        self._check(customer)
        check_new_version(customer, "customer")
        cs = self._cs()
        if cs.get("customers", customer.id) is not None:
            raise DuplicateError(f"customer {customer.id!r} is already stored")
        cs.put("customers", customer.id, customer, expected=MUST_NOT_EXIST)
        return customer

    def add_many(self, customers: Iterable[Customer]) -> int:
        """Store new customers; any duplicate → DuplicateError and none is stored."""
        items = [self._check(c) for c in check_iterable(customers, "customers")]
        cs = self._cs()
        seen: set[str] = set()
        for c in items:
            check_new_version(c, "customer")
            if c.id in seen or cs.get("customers", c.id) is not None:
                raise DuplicateError(f"customer {c.id!r} is already stored; none was added")
            seen.add(c.id)
        for c in items:
            cs.put("customers", c.id, c, expected=MUST_NOT_EXIST)
        return len(items)

    def get(self, customer_id: str) -> Customer:
        """The customer, or NotFoundError."""
        found = self.find(customer_id)
        if found is None:
            raise NotFoundError(f"customer {customer_id!r} not found")
        return found

    def find(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        check_lookup(customer_id, "customer_id")
        found: Customer | None = self._cs().get("customers", customer_id)
        return found

    def update(self, customer: Customer) -> Customer:
        """Store a changed customer whose version is the stored one; returns version + 1."""
        self._check(customer)
        cs = self._cs()
        current = self.get(customer.id)
        if current.version != customer.version:
            raise ConcurrencyError(
                f"customer {customer.id!r} is at version {current.version}, "
                f"the update was based on version {customer.version}; nothing was changed"
            )
        stored = attrs.evolve(customer, version=customer.version + 1)
        cs.put("customers", customer.id, stored, expected=customer.version)
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
        lo, hi = time_bounds(acquired_from, acquired_to, names=("acquired_from", "acquired_to"))

        def keep(c: Customer) -> bool:
            if owner_id is not None and c.owner_id != owner_id:
                return False
            if segment is not None and c.segment != segment:
                return False
            if lo is None and hi is None:
                return True
            if c.acquired_at is None:
                return False
            t = to_micros(c.acquired_at, "acquired_at")
            return (lo is None or t >= lo) and (hi is None or t < hi)

        rows = sorted(self._cs().values("customers", keep), key=lambda c: c.id)
        return rows if limit is None else rows[:limit]

    def iter(self, *, batch_size: int = 1000) -> Iterator[Customer]:
        """Every customer in id order."""
        check_batch(batch_size)
        yield from self.list()

    def by_external_keys(self, keys: Sequence[str]) -> dict[str, str]:
        """``external_key → customer id`` for the stored keys."""
        wanted = set(check_ids(keys, "keys"))
        return {
            c.external_key: c.id
            for c in sorted(self._cs().values("customers"), key=lambda c: c.id, reverse=True)
            if c.external_key is not None and c.external_key in wanted
        }

    def count(self) -> int:
        """How many customers are stored."""
        return len(self._cs().values("customers"))
