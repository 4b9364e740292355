"""A third-party backend, as a user would write one: the core contract, and the bulk-load
capability contract when it opts in; an import goes through ``add_validated`` then, and
through ``add_log`` otherwise.

The backend keeps its records in a :class:`~crmcore.repositories.MemoryUnitOfWork` (as a
user's backend keeps them in its own store) and implements the transaction repository
itself, by delegation, with the protocol's methods only; the bulk variant adds
``add_validated`` written with the public API alone (``rows.transactions()`` and
``add_many``). It has no ``eraser()``: it does not opt into erasure.
"""

from __future__ import annotations

import builtins
import unittest
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.ingest import import_transactions
from crmcore.model import Transaction, TransactionKind
from crmcore.repositories import (
    BulkTransactionLoader,
    MemoryUnitOfWork,
    TransactionRepository,
    UnitOfWork,
    ValidatedRows,
)
from crmcore.tables import TransactionLog
from crmcore.testing import strategies
from crmcore.testing._contract_bulk import bulk_transactions, validated_rows
from crmcore.testing.contract import (
    BulkLoadContract,
    CoreContract,
    RepositoryContract,
    contract_tests,
)


class Transactions:
    """A transaction repository of the protocol alone, counting the writes an import uses."""

    def __init__(self, inner: TransactionRepository, calls: Counter[str]) -> None:
        self._inner = inner
        self.calls = calls

    def add(self, transaction: Transaction) -> Transaction:
        return self._inner.add(transaction)

    def add_many(self, transactions: Iterable[Transaction]) -> int:
        self.calls["add_many"] += 1
        return self._inner.add_many(transactions)

    def get(self, transaction_id: str) -> Transaction:
        return self._inner.get(transaction_id)

    def list(
        self,
        *,
        customer_id: str | None = None,
        kinds: Sequence[TransactionKind | str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[Transaction]:
        return self._inner.list(
            customer_id=customer_id, kinds=kinds, start=start, end=end, limit=limit
        )

    def iter(
        self,
        *,
        customer_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Transaction]:
        return self._inner.iter(
            customer_id=customer_id, start=start, end=end, batch_size=batch_size
        )

    def add_log(self, log: TransactionLog) -> int:
        self.calls["add_log"] += 1
        return self._inner.add_log(log)

    def existing_external_refs(self, refs: Sequence[str]) -> set[str]:
        return self._inner.existing_external_refs(refs)

    def read_log(
        self,
        *,
        customer_ids: Sequence[str] | None = None,
        kinds: Sequence[TransactionKind | str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> TransactionLog:
        return self._inner.read_log(customer_ids=customer_ids, kinds=kinds, start=start, end=end)

    def count(self) -> int:
        return self._inner.count()


class BulkTransactions(Transactions):
    """The same, with the bulk-load capability, written with the public API only."""

    def add_validated(self, rows: ValidatedRows) -> int:
        self.calls["add_validated"] += 1
        if not isinstance(rows, ValidatedRows):
            from crmcore.errors import ValidationError

            raise ValidationError(f"add_validated takes ValidatedRows: {type(rows).__name__}")
        return self.add_many(rows.transactions())  # all or nothing, as add_many is


class ThirdPartyUnitOfWork:
    """A user's unit of work: the records live in a memory unit of work; no ``eraser()``."""

    def __init__(self, *, bulk: bool) -> None:
        self._store = MemoryUnitOfWork()
        self.calls: Counter[str] = Counter()
        s = self._store
        self.customers = s.customers
        self.interactions = s.interactions
        self.transactions: TransactionRepository = (BulkTransactions if bulk else Transactions)(
            s.transactions, self.calls
        )
        self.opportunities = s.opportunities
        self.activities = s.activities
        self.surveys = s.surveys
        self.costs = s.costs
        self.documents = s.documents

    def __enter__(self) -> Self:
        self._store.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._store.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        self._store.commit()

    def rollback(self) -> None:
        self._store.rollback()


def test_the_backend_is_a_unit_of_work_and_says_what_it_can() -> None:
    plain, bulk = ThirdPartyUnitOfWork(bulk=False), ThirdPartyUnitOfWork(bulk=True)
    assert isinstance(plain, UnitOfWork) and isinstance(bulk, UnitOfWork)
    assert not isinstance(plain.transactions, BulkTransactionLoader)
    assert isinstance(bulk.transactions, BulkTransactionLoader)
    assert not hasattr(plain, "eraser")


class TestThirdPartyCore(CoreContract):
    """Every backend passes the core."""

    def make_uow(self) -> UnitOfWork:
        return ThirdPartyUnitOfWork(bulk=False)


class TestThirdPartyBulkLoad(CoreContract, BulkLoadContract):
    """A backend that opts into bulk load passes its contract too."""

    def make_uow(self) -> UnitOfWork:
        return ThirdPartyUnitOfWork(bulk=True)


def test_the_capability_contract_is_required_where_opted_into() -> None:
    """Subclassing BulkLoadContract for a backend without the capability fails, naming it;
    the whole contract (RepositoryContract) skips the bulk-load tests for it instead."""

    class Required(BulkLoadContract):
        def make_uow(self) -> UnitOfWork:
            return ThirdPartyUnitOfWork(bulk=False)

    class Whole(RepositoryContract):
        def make_uow(self) -> UnitOfWork:
            return ThirdPartyUnitOfWork(bulk=False)

    for name in contract_tests(BulkLoadContract):
        with pytest.raises(AssertionError, match="BulkTransactionLoader"):
            getattr(Required(), name)()
        with pytest.raises(unittest.SkipTest, match="does not bulk-load"):
            getattr(Whole(), name)()


def test_the_pieces_partition_the_whole_contract() -> None:
    """Every test of RepositoryContract belongs to the core or to one capability, once."""
    from crmcore.testing.contract import CAPABILITIES

    pieces = [set(contract_tests(CoreContract))] + [
        set(contract_tests(c)) for c in CAPABILITIES.values()
    ]
    assert sum(len(p) for p in pieces) == len(set().union(*pieces))
    assert set().union(*pieces) == set(contract_tests())


def _csv(tmp: Path, n: int, *, repeat: int = 0) -> Path:
    """``n`` rows of two currencies; every ``repeat``-th row repeats an earlier order."""
    lines = ["external_ref,customer_id,occurred_at,amount,currency,kind"]
    for i in range(n):
        ref = "" if i % 7 == 3 else f"o-{i - 5 if repeat and i % repeat == 0 and i > 5 else i}"
        cur = "EUR" if i % 2 else "USD"
        lines.append(f"{ref},c-{i % 4},2024-03-{1 + i % 28:02d}T10:{i % 60:02d}:00,{i}.25,{cur},")
    path = tmp / f"tx{n}-{repeat}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _stored(uow: UnitOfWork) -> list[Transaction]:
    with uow:
        return sorted(uow.transactions.list(), key=lambda t: t.id)


def test_an_import_uses_add_validated_when_the_backend_opts_in(tmp_path: Path) -> None:
    """30 rows in batches of 10, two currencies per batch: one ``add_validated`` per batch, or
    one ``add_log`` per batch and currency; the same rows stored as crmcore's backend stores."""
    path = _csv(tmp_path, 30)
    plain, bulk, ours = (
        ThirdPartyUnitOfWork(bulk=False),
        ThirdPartyUnitOfWork(bulk=True),
        MemoryUnitOfWork(),
    )
    reports = [import_transactions(u, path, batch_size=10) for u in (plain, bulk, ours)]
    assert {(r.stored, r.skipped, r.rejected) for r in reports} == {(30, 0, 0)}
    assert bulk.calls["add_validated"] == 3 and bulk.calls["add_log"] == 0
    assert plain.calls["add_log"] == 6 and plain.calls["add_validated"] == 0
    assert _stored(plain) == _stored(bulk) == _stored(ours)
    again = import_transactions(bulk, path, batch_size=10)  # a re-run finds every key stored
    assert (again.stored, again.skipped) == (0, 30) and bulk.calls["add_validated"] == 3


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 40),
    batch=st.integers(1, 17),
    repeat=st.sampled_from([0, 3, 5]),
)
def test_both_paths_of_an_import_store_the_same(n: int, batch: int, repeat: int) -> None:
    """Whatever the rows, batches and repeats: the bulk path, the add_log path and crmcore's
    memory backend report and store the same transactions."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = _csv(Path(tmp), n, repeat=repeat)
        uows: list[Any] = [
            ThirdPartyUnitOfWork(bulk=False),
            ThirdPartyUnitOfWork(bulk=True),
            MemoryUnitOfWork(),
        ]
        reports = [import_transactions(u, path, batch_size=batch) for u in uows]
    assert len({(r.stored, r.skipped, r.rejected) for r in reports}) == 1
    stored = [_stored(u) for u in uows]
    assert stored[0] == stored[1] == stored[2]
    assert len(stored[0]) == reports[0].stored
    assert uows[0].calls["add_validated"] == 0 and uows[1].calls["add_log"] == 0


@settings(max_examples=25, deadline=None)
@given(st.lists(strategies.transactions(), max_size=12, unique_by=lambda t: t.id))
def test_bulk_loaded_rows_read_back_as_the_objects(rows: list[Transaction]) -> None:
    """Random model transactions through ``ValidatedRows`` and the third-party
    ``add_validated`` come back equal to themselves, and to crmcore's own bulk load."""
    bulk, ours = ThirdPartyUnitOfWork(bulk=True), MemoryUnitOfWork()
    for u in (bulk, ours):
        with u:
            loader = u.transactions
            assert isinstance(loader, BulkTransactionLoader)
            assert loader.add_validated(validated_rows(rows)) == len(rows)
            u.commit()
    expected = sorted(rows, key=lambda t: t.id)
    assert _stored(bulk) == _stored(ours) == expected


def test_the_contract_helpers_make_what_the_import_makes() -> None:
    """The suite's ValidatedRows decode back to the transactions they came from."""
    rows = bulk_transactions(20)
    assert validated_rows(rows).transactions() == rows


class _RowByRow(Transactions):
    """Broken: stores row by row, so a duplicate leaves the rows before it stored."""

    def add_validated(self, rows: ValidatedRows) -> int:
        for t in rows.transactions():
            self.add(t)
        return len(rows)


class _DropsRefs(Transactions):
    """Broken: loses the external references (a re-run of the import would store again)."""

    def add_validated(self, rows: ValidatedRows) -> int:
        return self.add_many([attrs.evolve(t, external_ref=None) for t in rows.transactions()])


class _Trusting(Transactions):
    """Broken: takes whatever it is given."""

    def add_validated(self, rows: Any) -> int:
        return self.add_many(rows.transactions() if isinstance(rows, ValidatedRows) else [])


class _Broken(ThirdPartyUnitOfWork):
    def __init__(self, repo: type[Transactions]) -> None:
        super().__init__(bulk=False)
        self.transactions = repo(self._store.transactions, self.calls)


@pytest.mark.parametrize(
    ("repo", "caught_by"),
    [
        (_RowByRow, "test_a_stored_id_stores_none_of_the_rows_and_the_block_goes_on"),
        (_RowByRow, "test_an_id_repeated_in_the_rows_stores_none_of_them"),
        (_DropsRefs, "test_bulk_load_stores_the_rows_exactly"),
        (_DropsRefs, "test_loaded_external_refs_are_found"),
        (_Trusting, "test_anything_but_validated_rows_is_refused"),
    ],
)
def test_the_bulk_load_contract_catches_a_broken_backend(
    repo: type[Transactions], caught_by: str
) -> None:
    """Each broken add_validated claims the capability and fails the bulk-load test that
    states the guarantee it breaks, with an AssertionError (not an error of the suite)."""

    class Check(BulkLoadContract):
        def make_uow(self) -> UnitOfWork:
            return _Broken(repo)

    with pytest.raises(AssertionError):
        getattr(Check(), caught_by)()
    Check().test_bulk_load_is_advertised()  # it does claim the capability
