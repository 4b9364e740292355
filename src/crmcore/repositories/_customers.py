"""The one validating front of customers, over a backend's storage part.

:class:`Customers` implements :class:`~crmcore.repositories.CustomerRepository`
for every backend: it checks each record (its type, that it can be stored, the
version rules), refuses duplicates within a batch, parses the ``list()``
filters through :data:`CUSTOMERS` (:func:`~crmcore.repositories._spec.parse_query`)
and writes every error message; a :class:`CustomerStore` (memory or SQL) only
stores and reads.

>>> from crmcore.model import Customer
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.customers.add(Customer(id="c-1", name="Ada", segment="gold"))
...     uow.commit()
>>> with uow:
...     [c.id for c in uow.customers.list(segment="gold")]
['c-1']
>>> with uow:
...     uow.customers.add(Customer(id="c-1", name="Ada"))
Traceback (most recent call last):
crmcore.errors.DuplicateError: customer 'c-1' is already stored
>>> with uow:
...     uow.customers.list(acquired_from="yesterday")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'acquired_from' must be an ISO 8601 timestamp: 'yesterday'
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from crmcore.errors import ConcurrencyError, DuplicateError, NotFoundError
from crmcore.model import Customer
from crmcore.repositories._args import (
    check_batch,
    check_ids,
    check_iterable,
    check_limit,
    check_lookup,
)
from crmcore.repositories._spec import Filter, Query, TableSpec, parse_query
from crmcore.repositories._writes import check_new_version, check_record

__all__ = ["CUSTOMERS", "CustomerStore", "Customers"]

CUSTOMERS = TableSpec(
    "customers",
    Customer,
    "customer",
    filters=(Filter("owner_id"), Filter("segment")),
    time=("acquired_at",),
    order=(("id",),),
    bounds=("acquired_from", "acquired_to"),
)
"""What ``customers.list()`` filters on (owner, segment, ``[acquired_from, acquired_to)``
on ``acquired_at``) and its order (by id), for the memory predicate and the SQL query."""


class CustomerStore(Protocol):
    """The storage part of a backend's customers (no checks: :class:`Customers` made them)."""

    def insert(self, customers: Sequence[Customer]) -> builtins.list[str]:
        """Store new customers (distinct ids), all or none: the ids among them that are
        already stored (then nothing was stored), or an empty list."""
        ...

    def fetch(self, customer_id: str) -> Customer | None:
        """The stored customer, or None."""
        ...

    def overwrite(self, customer: Customer, based_on: int) -> tuple[bool, int | None]:
        """Store ``customer`` over the stored one if that is at version ``based_on``. Returns
        whether it was written and the version stored before as the store saw it (None:
        no customer has the id)."""
        ...

    def select(self, query: Query, limit: int | None) -> builtins.list[Customer]:
        """The customers ``query`` (of :data:`CUSTOMERS`) selects, in its order, at most ``limit``."""
        ...

    def stream(self, batch_size: int) -> Iterator[Customer]:
        """Every customer in id order, read ``batch_size`` at a time."""
        ...

    def external_keys(self, keys: Sequence[str]) -> dict[str, str]:
        """``external_key -> id`` of the distinct ``keys`` that are stored (the smallest id
        when a key repeats)."""
        ...

    def count(self) -> int:
        """How many customers are stored."""
        ...


class Customers:
    """Customers, with optimistic concurrency on ``version``
    (:class:`~crmcore.repositories.CustomerRepository`), over a :class:`CustomerStore`."""

    __slots__ = (
        "_count",
        "_external_keys",
        "_fetch",
        "_insert",
        "_overwrite",
        "_select",
        "_stream",
        "store",
    )

    def __init__(self, store: CustomerStore) -> None:
        self.store = store
        """The backend's storage part."""
        self._insert = store.insert
        self._fetch = store.fetch
        self._overwrite = store.overwrite
        self._select = store.select
        self._stream = store.stream
        self._external_keys = store.external_keys
        self._count = store.count

    def add(self, customer: Customer) -> Customer:
        """Store a new customer (its version must be 0); returns it. Duplicate id → DuplicateError."""
        check_record(customer, Customer)
        check_new_version(customer, "customer")
        if self._insert((customer,)):
            raise DuplicateError(f"customer {customer.id!r} is already stored")
        return customer

    def add_many(self, customers: Iterable[Customer]) -> int:
        """Store new customers in bulk; returns how many. Any duplicate → DuplicateError, none stored."""
        items = [check_record(c, Customer) for c in check_iterable(customers, "customers")]
        seen: set[str] = set()
        for c in items:
            check_new_version(c, "customer")
            if c.id in seen:
                raise DuplicateError(
                    f"customer {c.id!r} is given twice in 'customers'; none was added"
                )
            seen.add(c.id)
        if not items:
            return 0
        stored = self._insert(items)
        if stored:
            more = f" ({len(stored)} of them are)" if len(stored) > 1 else ""
            raise DuplicateError(f"customer {stored[0]!r} is already stored{more}; none was added")
        return len(items)

    def get(self, customer_id: str) -> Customer:
        """The customer, or NotFoundError."""
        found = self.find(customer_id)
        if found is None:
            raise NotFoundError(f"customer {customer_id!r} not found")
        return found

    def find(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        return self._fetch(check_lookup(customer_id, "customer_id"))

    def update(self, customer: Customer) -> Customer:
        """Store a changed customer whose ``version`` is the stored one; returns it with version + 1.

        A stale version raises ConcurrencyError and changes nothing.
        """
        check_record(customer, Customer)
        stored = attrs.evolve(customer, version=customer.version + 1)
        written, before = self._overwrite(stored, customer.version)
        if written:
            return stored
        if before is None:
            raise NotFoundError(f"customer {customer.id!r} not found")
        if before == customer.version:  # this block's snapshot still shows the version it read
            raise ConcurrencyError(
                f"customer {customer.id!r} was changed by another unit of work after this one "
                f"read version {customer.version}; nothing was changed"
            )
        raise ConcurrencyError(
            f"customer {customer.id!r} is at version {before}, the update was based "
            f"on version {customer.version}; nothing was changed"
        )

    def list(
        self,
        *,
        owner_id: str | None = None,
        segment: str | None = None,
        acquired_from: datetime | None = None,
        acquired_to: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[Customer]:
        """Customers matching every given filter, ordered by id."""
        query = parse_query(
            CUSTOMERS, start=acquired_from, end=acquired_to, owner_id=owner_id, segment=segment
        )
        return self._select(query, check_limit(limit))

    def iter(self, *, batch_size: int = 1000) -> Iterator[Customer]:
        """Every customer, streamed in id order."""
        return self._stream(check_batch(batch_size))

    def by_external_keys(self, keys: Sequence[str]) -> dict[str, str]:
        """``external_key → customer id`` for the keys that are stored (idempotent imports)."""
        return self._external_keys(sorted(set(check_ids(keys, "keys"))))

    def count(self) -> int:
        """How many customers are stored."""
        return self._count()
