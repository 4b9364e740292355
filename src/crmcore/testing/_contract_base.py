"""Helpers and the base class of the repository contract (see :mod:`crmcore.testing.contract`).

>>> customer(1).id, transaction(1, "c-1", ts(2020)).amount.currency
('c-1', 'EUR')
>>> ids_of([customer(2), customer(1)]), event("o-1", 0, None, "lead", ts(2024)).to_stage
(['c-2', 'c-1'], 'lead')
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import attrs

from crmcore.model import (
    Customer,
    Interaction,
    Money,
    Opportunity,
    StageChange,
    Transaction,
)
from crmcore.repositories.protocols import UnitOfWork

__all__ = [
    "ContractBase",
    "customer",
    "event",
    "ids_of",
    "interaction",
    "opportunity",
    "raises",
    "transaction",
    "ts",
]


def ts(y: int, m: int = 1, d: int = 1, h: int = 0) -> datetime:
    """A UTC datetime (helper of the suite)."""
    return datetime(y, m, d, h, tzinfo=UTC)


@contextmanager
def raises(*errors: type[BaseException]) -> Iterator[None]:
    """Assert that the block raises one of ``errors`` (a pytest-free ``pytest.raises``).

    >>> with raises(KeyError):
    ...     {}["x"]
    """
    try:
        yield
    except errors:
        return
    raise AssertionError(f"expected {' or '.join(e.__name__ for e in errors)}, nothing was raised")


def customer(i: int | str, **changes: object) -> Customer:
    """A sample customer ``c-<i>`` (helper of the suite)."""
    return Customer(id=f"c-{i}", name=f"Customer {i}").with_changes(**changes)


def transaction(
    i: int | str, customer_id: str, at: datetime, amount: str = "10", **kw: object
) -> Transaction:
    """A sample transaction ``t-<i>`` in EUR (helper of the suite)."""
    return Transaction(
        id=f"t-{i}",
        customer_id=customer_id,
        occurred_at=at,
        amount=Money(amount, str(kw.pop("currency", "EUR"))),
        **kw,  # type: ignore[arg-type]  # helper forwards optional Transaction fields
    )


def interaction(i: int, channel: str, at: datetime, **kw: object) -> Interaction:
    """A sample interaction ``i-<i>`` of customer ``c-1`` unless given (helper of the suite)."""
    return Interaction(
        id=f"i-{i}",
        customer_id=str(kw.pop("customer_id", "c-1")),
        channel=channel,
        direction="outbound",
        occurred_at=at,
        **kw,  # type: ignore[arg-type]  # helper forwards optional Interaction fields
    )


def ids_of(records: Sequence[Customer] | Sequence[Opportunity]) -> list[str]:
    """The ids of ``records`` in order (helper of the suite)."""
    return [r.id for r in records]


def opportunity(i: int, **kw: Any) -> Opportunity:
    """A sample opportunity ``o-<i>`` of ``c-1`` owned by ``rep-1`` (helper of the suite)."""
    base = Opportunity(
        id=f"o-{i}",
        customer_id="c-1",
        owner_id="rep-1",
        funnel="b2b",
        stage="lead",
        created_at=ts(2024),
        amount=Money("1200.50", "EUR"),
    )
    return attrs.evolve(base, **kw)


def event(opp: str, seq: int, frm: str | None, to: str, at: datetime) -> StageChange:
    """A stage change by ``rep-1`` (helper of the suite)."""
    return StageChange(
        opportunity_id=opp, sequence=seq, from_stage=frm, to_stage=to, at=at, by="rep-1"
    )


class ContractBase:
    """What every contract part needs: the backend factory and a seeded store.

    Override :meth:`make_uow`. Override :meth:`clone_uow` when one unit of
    work object must not be shared between threads (ours may: each thread
    gets its own transaction).
    """

    concurrent_threads = 4
    """Threads of the lost-update test."""
    updates_per_thread = 6
    """Successful updates each thread makes in the lost-update test."""

    def make_uow(self) -> UnitOfWork:
        """A fresh unit of work on an empty store."""
        raise NotImplementedError("subclass RepositoryContract and implement make_uow()")

    def clone_uow(self, uow: UnitOfWork) -> UnitOfWork:
        """Another handle on the same store, for a concurrent thread (default: ``uow`` itself)."""
        return uow

    def _seeded(self, *customers: Customer) -> UnitOfWork:
        uow = self.make_uow()
        with uow:
            for c in customers:
                uow.customers.add(c)
            uow.commit()
        return uow
