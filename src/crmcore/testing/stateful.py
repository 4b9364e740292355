"""A hypothesis state machine that compares a repository backend with a plain-dict model.

Random programs of adds, updates with the right and with stale versions,
duplicate adds, commits, rollbacks, re-opened blocks, transactions and
versioned documents run against the backend and against dictionaries; after
every step the backend's answers (lists, counts, the columnar read) must
equal the model's.

Use it for your own backend by subclassing and running its ``TestCase``:

>>> from hypothesis import settings
>>> from crmcore.repositories import MemoryUnitOfWork
>>> class MemoryMachine(RepositoryStateMachine):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> MemoryMachine.TestCase.settings = settings(max_examples=3, stateful_step_count=5, deadline=None)
>>> MemoryMachine.TestCase().runTest()
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from crmcore.errors import require

require("hypothesis", "testing")

from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from crmcore.errors import ConcurrencyError, DuplicateError, NotFoundError  # noqa: E402
from crmcore.model import Customer, Money, Transaction, TransactionKind  # noqa: E402
from crmcore.repositories.protocols import UnitOfWork  # noqa: E402
from crmcore.testing.contract import raises  # noqa: E402

__all__ = ["RepositoryStateMachine"]

_CUSTOMER_IDS = st.sampled_from(["c-1", "c-2", "c-3", "C-1", "c-10"])
_TX_IDS = st.sampled_from([f"t-{i}" for i in range(8)])
_SEGMENTS = st.none() | st.sampled_from(["gold", "silver"])
_DAY0 = datetime(2020, 1, 1, tzinfo=UTC)
_KINDS = st.sampled_from([TransactionKind.PURCHASE, TransactionKind.REFUND])


class RepositoryStateMachine(RuleBasedStateMachine):
    """Backend vs model. Subclass, implement :meth:`make_uow`, run ``YourMachine.TestCase``."""

    def make_uow(self) -> UnitOfWork:
        """A fresh unit of work on an empty store."""
        raise NotImplementedError("subclass RepositoryStateMachine and implement make_uow()")

    def close_uow(self, uow: UnitOfWork) -> None:
        """Release what :meth:`make_uow` opened (override if needed)."""
        close = getattr(uow, "close", None)
        if callable(close):
            close()

    def __init__(self) -> None:
        super().__init__()
        self.uow = self.make_uow()
        self.uow.__enter__()
        self.customers: dict[str, Customer] = {}
        self.saved_customers: dict[str, Customer] = {}
        self.transactions: dict[str, Transaction] = {}
        self.saved_transactions: dict[str, Transaction] = {}
        self.documents: dict[str, list[Any]] = {}
        self.saved_documents: dict[str, list[Any]] = {}

    def teardown(self) -> None:
        """Leave the block (rolling back) and release the backend."""
        self.uow.__exit__(None, None, None)
        self.close_uow(self.uow)

    def _restore(self) -> None:
        self.customers = dict(self.saved_customers)
        self.transactions = dict(self.saved_transactions)
        self.documents = {k: list(v) for k, v in self.saved_documents.items()}

    # -- rules ---------------------------------------------------------------------------------
    @rule(cid=_CUSTOMER_IDS, segment=_SEGMENTS, day=st.integers(0, 60))
    def add_customer(self, cid: str, segment: str | None, day: int) -> None:
        c = Customer(
            id=cid, name=f"name of {cid}", segment=segment, acquired_at=_DAY0 + timedelta(days=day)
        )
        if cid in self.customers:
            with raises(DuplicateError):
                self.uow.customers.add(c)
        else:
            assert self.uow.customers.add(c) == c
            self.customers[cid] = c

    @precondition(lambda self: bool(self.customers))
    @rule(data=st.data(), segment=_SEGMENTS, stale=st.booleans())
    def update_customer(self, data: st.DataObject, segment: str | None, stale: bool) -> None:
        cid = data.draw(st.sampled_from(sorted(self.customers)), label="customer id")
        current = self.customers[cid]
        if stale:
            based_on = current.version - 1 if current.version > 0 else current.version + 1
            with raises(ConcurrencyError):
                self.uow.customers.update(current.with_changes(segment=segment, version=based_on))
            return
        stored = self.uow.customers.update(current.with_changes(segment=segment))
        assert stored.version == current.version + 1
        self.customers[cid] = stored

    @rule(cid=_CUSTOMER_IDS)
    def update_missing_customer(self, cid: str) -> None:
        if cid not in self.customers:
            with raises(NotFoundError):
                self.uow.customers.update(Customer(id=cid, name="ghost"))

    @rule(
        tid=_TX_IDS,
        cid=_CUSTOMER_IDS,
        hours=st.sampled_from([0, 24]) | st.integers(0, 2000),  # ties: one customer, one instant
        cents=st.integers(0, 10**6),
        kind=_KINDS,
    )
    def add_transaction(
        self, tid: str, cid: str, hours: int, cents: int, kind: TransactionKind
    ) -> None:
        t = Transaction(
            id=tid,
            customer_id=cid,
            occurred_at=_DAY0 + timedelta(hours=hours),
            amount=Money(Decimal(cents).scaleb(-2), "EUR"),
            kind=kind,
        )
        if tid in self.transactions:
            with raises(DuplicateError):
                self.uow.transactions.add(t)
        else:
            self.uow.transactions.add(t)
            self.transactions[tid] = t

    @rule(key=st.sampled_from(["a", "b"]), value=st.integers(), stale=st.booleans())
    def put_document(self, key: str, value: int, stale: bool) -> None:
        versions = self.documents.get(key, [])
        latest = len(versions) if versions else None
        if stale:
            wrong = 5 if latest is None else (None if latest == 1 else latest - 1)
            with raises(ConcurrencyError):
                self.uow.documents.put("kind", key, {"v": value}, expected_version=wrong)
            return
        assert (
            self.uow.documents.put("kind", key, {"v": value}, expected_version=latest)
            == len(versions) + 1
        )
        self.documents[key] = [*versions, {"v": value}]

    @rule()
    def commit(self) -> None:
        self.uow.commit()
        self.saved_customers = dict(self.customers)
        self.saved_transactions = dict(self.transactions)
        self.saved_documents = {k: list(v) for k, v in self.documents.items()}

    @rule()
    def rollback(self) -> None:
        self.uow.rollback()
        self._restore()

    @rule()
    def reopen(self) -> None:
        self.uow.__exit__(None, None, None)
        self.uow.__enter__()
        self._restore()

    @rule(start=st.integers(0, 2000), length=st.integers(0, 1000))
    def query_time_range(self, start: int, length: int) -> None:
        lo, hi = _DAY0 + timedelta(hours=start), _DAY0 + timedelta(hours=start + length)
        got = [t.id for t in self.uow.transactions.list(start=lo, end=hi)]
        want = sorted(
            (t for t in self.transactions.values() if lo <= t.occurred_at < hi),
            key=lambda t: (t.occurred_at, t.id),
        )
        assert got == [t.id for t in want]

    @rule(segment=_SEGMENTS.filter(lambda s: s is not None), limit=st.none() | st.integers(0, 3))
    def query_segment(self, segment: str, limit: int | None) -> None:
        want = sorted(c.id for c in self.customers.values() if c.segment == segment)
        got = [c.id for c in self.uow.customers.list(segment=segment, limit=limit)]
        assert got == (want if limit is None else want[:limit])

    # -- invariants ------------------------------------------------------------------------------
    @invariant()
    def customers_match(self) -> None:
        assert self.uow.customers.list() == sorted(self.customers.values(), key=lambda c: c.id)
        assert self.uow.customers.count() == len(self.customers)

    @invariant()
    def transactions_match(self) -> None:
        log = self.uow.transactions.read_log()
        assert log.ids is not None, "read_log returns the transaction ids"
        got = list(  # in the total order (customer, time, id), not sorted here
            zip(
                log.row_customer_ids.tolist(),
                log.time.tolist(),
                log.ids.tolist(),
                log.amount.tolist(),
                log.kind.tolist(),
                strict=True,
            )
        )
        want = sorted(
            (
                t.customer_id,
                t.occurred_at.replace(tzinfo=None),
                t.id,
                int(t.amount.amount.scaleb(6)) / 1e6,
                t.kind.code,
            )
            for t in self.transactions.values()
        )
        assert got == want
        assert self.uow.transactions.count() == len(self.transactions)

    @invariant()
    def documents_match(self) -> None:
        for key, versions in self.documents.items():
            assert self.uow.documents.get("kind", key) == (versions[-1], len(versions))
        assert self.uow.documents.keys("kind") == sorted(self.documents)
