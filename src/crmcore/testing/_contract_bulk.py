"""The bulk-load capability contract: what a :class:`~crmcore.repositories.BulkTransactionLoader`
guarantees.

A transaction repository with ``add_validated(rows)`` is the one
:func:`crmcore.ingest.import_transactions` stores through (the others get
``add_log``). The tests hold it to the promises of the protocol: the rows
read back exactly as the same transactions stored with ``add_many`` (an
absent optional column is None), all or nothing (an id already stored or
repeated within the rows is a DuplicateError and stores none of them, and
the block goes on), nothing durable before ``commit()``, nothing read back
that depends on the order of the rows, external references found by
``existing_external_refs`` (what makes a re-run of an import skip them), and
anything other than :class:`~crmcore.repositories.ValidatedRows` refused
with a ValidationError.

Subclassing :class:`BulkLoadContract` makes the capability required (a
backend without it fails ``test_bulk_load_is_advertised``);
:class:`~crmcore.testing.contract.RepositoryContract` runs these tests only
when the backend has it (``bulk_load_optional = True``: skipped otherwise).

>>> from crmcore.repositories import MemoryUnitOfWork
>>> class Check(BulkLoadContract):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> Check().test_bulk_load_stores_the_rows_exactly()
>>> len(validated_rows(bulk_transactions(3)))
3
"""

from __future__ import annotations

import unittest
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from crmcore.errors import DuplicateError, ValidationError
from crmcore.model import Money, Transaction, TransactionKind
from crmcore.repositories._codec import to_e6, to_micros
from crmcore.repositories._columnar import ValidatedRows
from crmcore.repositories.protocols import BulkTransactionLoader, UnitOfWork
from crmcore.tables import TransactionLog
from crmcore.testing._contract_base import ContractBase, raises, ts

__all__ = ["BulkLoadContract", "bulk_transactions", "validated_rows"]

_OPTIONAL = ("product", "category", "channel", "external_ref")


def bulk_transactions(n: int, *, start: datetime | None = None) -> list[Transaction]:
    """``n`` varied transactions ``t:o-<i>`` of seven customers (c-0 to c-4 in EUR, c-5 and
    c-6 in JPY), every kind, amounts with up to four decimals, optional texts present or not,
    at distinct instants per customer (helper of the suite).

    >>> [t.amount.currency for t in bulk_transactions(7)][4:]
    ['EUR', 'JPY', 'JPY']
    """
    kinds = list(TransactionKind)
    t0 = ts(2024) if start is None else start
    return [
        Transaction(
            id=f"t:o-{i:05d}",
            customer_id=f"c-{i % 7}",
            occurred_at=t0 + timedelta(minutes=37 * i, microseconds=i),
            amount=(
                Money(f"{i * 13}", "JPY")
                if i % 7 >= 5
                else Money(f"{i * 13}.{i % 1000:03d}5", "EUR")
            ),
            kind=kinds[i % len(kinds)],
            quantity=i % 4,
            product=None if i % 3 else f"p-{i % 9}",
            category="books" if i % 4 == 1 else None,
            channel="web" if i % 2 else None,
            external_ref=f"o-{i:05d}" if i % 5 else None,
        )
        for i in range(n)
    ]


def validated_rows(
    transactions: Sequence[Transaction], *, omit: Sequence[str] = ()
) -> ValidatedRows:
    """The storage columns of ``transactions`` (what :mod:`crmcore.ingest` builds from a
    file), without the optional columns ``omit`` (helper of the suite).

    >>> validated_rows(bulk_transactions(2), omit=["channel"]).columns["amount_e6"]
    [500, 13001500]
    """
    cols: dict[str, list[Any]] = {
        "id": [t.id for t in transactions],
        "customer_id": [t.customer_id for t in transactions],
        "occurred_at": [to_micros(t.occurred_at, "occurred_at") for t in transactions],
        "amount_e6": [to_e6(t.amount.amount, "amount") for t in transactions],
        "currency": [t.amount.currency for t in transactions],
        "kind": [t.kind.code for t in transactions],
        "quantity": [t.quantity for t in transactions],
    }
    for name in _OPTIONAL:
        if name not in omit:
            cols[name] = [getattr(t, name) for t in transactions]
    return ValidatedRows(cols)


def _by_id(transactions: Sequence[Transaction]) -> list[Transaction]:
    return sorted(transactions, key=lambda t: t.id)


def _columns(log: TransactionLog) -> list[list[Any]]:
    """A log's columns as lists, for comparing two reads."""
    return [
        log.customer_ids.tolist(),
        log.customer.tolist(),
        log.time.astype("datetime64[us]").astype(np.int64).tolist(),
        log.amount.tolist(),
        log.kind.tolist(),
        None if log.quantity is None else log.quantity.tolist(),
        None if log.ids is None else log.ids.tolist(),
        [log.currency],
    ]


class BulkLoadContract(ContractBase):
    """Tests of the bulk-load capability (:class:`~crmcore.repositories.BulkTransactionLoader`,
    see the module docstring). Set ``bulk_load_optional = True`` to skip them for a backend
    without it instead of failing."""

    bulk_load_optional = False
    """Skip (``unittest.SkipTest``, which pytest reports as skipped) instead of failing when
    ``uow.transactions`` has no ``add_validated``."""

    def _loader(self, uow: UnitOfWork) -> BulkTransactionLoader:
        repo = uow.transactions
        if isinstance(repo, BulkTransactionLoader):
            return repo
        if self.bulk_load_optional:
            raise unittest.SkipTest(
                "uow.transactions has no add_validated(): the backend does not bulk-load "
                "(imports use add_log)"
            )
        raise AssertionError(
            "uow.transactions must have add_validated(rows) "
            f"(crmcore.repositories.BulkTransactionLoader): {type(repo).__name__}"
        )

    def _loaded(self, transactions: Sequence[Transaction], **kw: Any) -> UnitOfWork:
        uow = self.make_uow()
        with uow:
            assert self._loader(uow).add_validated(validated_rows(transactions, **kw)) == len(
                transactions
            )
            uow.commit()
        return uow

    def test_bulk_load_is_advertised(self) -> None:
        with self.make_uow() as uow:
            assert isinstance(self._loader(uow), BulkTransactionLoader)

    def test_bulk_load_stores_the_rows_exactly(self) -> None:
        rows = bulk_transactions(40)
        uow = self._loaded(rows)
        with uow:
            assert _by_id(uow.transactions.list()) == rows
            assert uow.transactions.get(rows[7].id) == rows[7]
            assert uow.transactions.count() == 40

    def test_bulk_load_reads_back_as_add_many_does(self) -> None:
        rows = bulk_transactions(60)
        loaded = self._loaded(rows)
        added = self.make_uow()
        with added:
            added.transactions.add_many(rows)
            added.commit()
        with loaded, added:
            for customers in (["c-0", "c-1", "c-2", "c-3", "c-4"], ["c-5", "c-6"], ["c-3"]):
                assert _columns(loaded.transactions.read_log(customer_ids=customers)) == _columns(
                    added.transactions.read_log(customer_ids=customers)
                ), customers
            assert loaded.transactions.list(customer_id="c-2") == added.transactions.list(
                customer_id="c-2"
            )

    def test_an_absent_optional_column_is_none(self) -> None:
        rows = bulk_transactions(30)
        uow = self._loaded(rows, omit=["channel", "product"])
        with uow:
            got = _by_id(uow.transactions.list())
        assert [(t.channel, t.product) for t in got] == [(None, None)] * 30
        assert [t.category for t in got] == [t.category for t in rows]

    def test_an_empty_load_stores_nothing(self) -> None:
        uow = self.make_uow()
        with uow:
            assert self._loader(uow).add_validated(validated_rows([])) == 0
            assert uow.transactions.count() == 0

    def test_a_stored_id_stores_none_of_the_rows_and_the_block_goes_on(self) -> None:
        rows = bulk_transactions(50)
        uow = self.make_uow()
        with uow:
            uow.transactions.add(rows[30])
            uow.commit()
            with raises(DuplicateError):
                self._loader(uow).add_validated(validated_rows(rows))
            assert uow.transactions.count() == 1
            rest = rows[:30] + rows[31:]
            assert self._loader(uow).add_validated(validated_rows(rest)) == 49
            uow.commit()
        with uow:
            assert _by_id(uow.transactions.list()) == rows

    def test_an_id_repeated_in_the_rows_stores_none_of_them(self) -> None:
        rows = bulk_transactions(20)
        uow = self.make_uow()
        with uow:
            with raises(DuplicateError):
                self._loader(uow).add_validated(validated_rows([*rows, rows[3]]))
            assert uow.transactions.count() == 0
            uow.commit()
        with uow:
            assert uow.transactions.count() == 0

    def test_a_load_without_commit_is_rolled_back(self) -> None:
        rows = bulk_transactions(25)
        uow = self.make_uow()
        with uow:
            self._loader(uow).add_validated(validated_rows(rows))
            assert uow.transactions.count() == 25
            uow.rollback()
            assert uow.transactions.count() == 0
            self._loader(uow).add_validated(validated_rows(rows[:5]))
        with uow:
            assert uow.transactions.count() == 0

    def test_the_order_of_the_rows_does_not_matter(self) -> None:
        rows = bulk_transactions(45)
        order = np.random.default_rng(15).permutation(len(rows)).tolist()
        forward, shuffled = self._loaded(rows), self._loaded([rows[i] for i in order])
        with forward, shuffled:
            for customers in (["c-0", "c-1", "c-2", "c-3", "c-4"], ["c-5", "c-6"]):
                assert _columns(forward.transactions.read_log(customer_ids=customers)) == _columns(
                    shuffled.transactions.read_log(customer_ids=customers)
                )
            assert forward.transactions.list() == shuffled.transactions.list()

    def test_loaded_external_refs_are_found(self) -> None:
        rows = bulk_transactions(35)
        uow = self._loaded(rows)
        refs = [t.external_ref for t in rows if t.external_ref is not None]
        with uow:
            found = uow.transactions.existing_external_refs([*refs, "o-99999", "O-00001"])
        assert found == set(refs)

    def test_anything_but_validated_rows_is_refused(self) -> None:
        rows = bulk_transactions(3)
        log = TransactionLog.from_arrays(
            customer_ids=["c-1"], timestamps=["2024-01-01"], amounts=[1.0]
        )
        uow = self.make_uow()
        with uow:
            loader = self._loader(uow)
            for other in (dict(validated_rows(rows).columns), rows, log):
                with raises(ValidationError):
                    loader.add_validated(other)  # type: ignore[arg-type]  # the wrong type on purpose
            assert uow.transactions.count() == 0
