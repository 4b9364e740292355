"""The memory storage part of customers (the checks are :mod:`crmcore.repositories._customers`').

>>> from crmcore.model import Customer
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> store = MemoryCustomerStore(uow.session)
>>> with uow:
...     store.insert([Customer(id="c-1", name="Ada")]), store.insert([Customer(id="c-1", name="Bo")])
([], ['c-1'])
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from crmcore.model import Customer
from crmcore.repositories._customers import CUSTOMERS, CustomerColumns, customer_columns
from crmcore.repositories._spec import Query, predicate, sort_key
from crmcore.repositories.memory._store import MUST_NOT_EXIST

if TYPE_CHECKING:
    from crmcore.repositories.memory._session import MemorySession

__all__ = ["MemoryCustomerStore"]

_TABLE = "customers"
_ORDER = sort_key(CUSTOMERS)


class MemoryCustomerStore:
    """Customers held in memory (:class:`~crmcore.repositories._customers.CustomerStore`)."""

    def __init__(self, session: MemorySession) -> None:
        self._changes = session.changes

    def insert(self, customers: Sequence[Customer]) -> builtins.list[str]:
        """Store new customers, all or none; the ids already stored."""
        cs = self._changes()
        stored = [c.id for c in customers if cs.get(_TABLE, c.id) is not None]
        if not stored:
            for c in customers:
                cs.put(_TABLE, c.id, c, expected=MUST_NOT_EXIST)
        return stored

    def fetch(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        found: Customer | None = self._changes().get(_TABLE, customer_id)
        return found

    def overwrite(self, customer: Customer, based_on: int) -> tuple[bool, int | None]:
        """Store ``customer`` if the stored one is at ``based_on``; whether it was, and the
        version before."""
        cs = self._changes()
        current: Customer | None = cs.get(_TABLE, customer.id)
        if current is None:
            return False, None
        if current.version != based_on:
            return False, current.version
        cs.put(_TABLE, customer.id, customer, expected=based_on)
        return True, based_on

    def select(self, query: Query, limit: int | None) -> builtins.list[Customer]:
        """The customers ``query`` selects, by id, at most ``limit``."""
        rows = sorted(self._changes().values(_TABLE, predicate(CUSTOMERS, query)), key=_ORDER)
        return rows if limit is None else rows[:limit]

    def stream(self, batch_size: int) -> Iterator[Customer]:
        """Every customer in id order (held in memory: ``batch_size`` changes nothing)."""
        yield from sorted(self._changes().values(_TABLE), key=_ORDER)

    def external_keys(self, keys: Sequence[str]) -> dict[str, str]:
        """``external_key -> id`` of the stored ``keys`` (the smallest id when one repeats)."""
        wanted = set(keys)
        out: dict[str, str] = {}
        for c in sorted(self._changes().values(_TABLE), key=_ORDER):
            if c.external_key is not None and c.external_key in wanted:
                out.setdefault(c.external_key, c.id)
        return out

    def count(self) -> int:
        """How many customers are stored."""
        return len(self._changes().values(_TABLE))

    def columns(self) -> CustomerColumns:
        """Every customer as columns, in id order (one pass over the held objects)."""
        return customer_columns(self._changes().values(_TABLE))
