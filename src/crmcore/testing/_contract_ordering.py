"""The contract's tests of deterministic reads: one total order, the same on every backend.

``read_log()`` returns the transactions with their ids in the total order of
transactions, customer id, then time, then transaction id; every list returns
its documented total order: time-stamped records by (time, id), activities by
(done or else due time, id), customers and opportunities by id. Ids compare by
code point (Python's ``str`` order), whatever the database's collation, and
ties are never left to the insertion order or the plan a database picked.
That is what lets two transactions of one customer at the same instant feed
an analysis in the same order on every backend, and lets an alert name its
transaction by id. Part of :class:`crmcore.testing.contract.RepositoryContract`.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> class Check(OrderingContract):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> Check().test_read_log_orders_ties_by_transaction_id()
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs
import numpy as np

from crmcore.model import Activity, CostEntry, Interaction, Money, SurveyResponse, Transaction
from crmcore.tables import TransactionLog
from crmcore.testing._contract_base import ContractBase, interaction, transaction, ts

__all__ = ["TIE_IDS", "OrderingContract"]

TIE_IDS = ("t-9", "t-10", "T-1", "t-1", "t-1a", "t-é", "t-中", "t-\U0001f600", "t-z", "t-Z")
"""Ids whose code-point order differs from their insertion order, their numeric order, their
case-insensitive order and the order of their amounts (ids sharing one instant)."""

_BELOW_SPACE = ("a", "a\tb", "a\x01", "a b", "a!")
"""Ids that order differently under a collation that pads with spaces (the SQL standard's
PAD SPACE compares ``"a"`` as ``"a "``, after ``"a\\tb"``); by code point
``"a" < "a\\x01" < "a\\tb" < "a b" < "a!"``."""


def _tx(tid: str, customer_id: str, at: datetime, amount: str = "1", **kw: Any) -> Transaction:
    """A transaction with exactly the id ``tid`` (the suite's ``transaction`` prefixes ``t-``)."""
    return attrs.evolve(transaction(0, customer_id, at, amount, **kw), id=tid)


def _visit(iid: str, at: datetime) -> Interaction:
    return attrs.evolve(interaction(0, "web", at), id=iid)


def _shuffled(items: list[Any], seed: int = 15) -> list[Any]:
    order = np.random.default_rng(seed).permutation(len(items))
    return [items[i] for i in order.tolist()]


def _tied_transactions() -> list[Any]:
    """Three customers, two instants, several transactions per instant (amounts descending)."""
    rows = []
    k = 0
    for cid in ("c-2", "c-10", "C-1"):
        for day in (2, 1):
            for j, tid in enumerate(TIE_IDS[: 4 + k % 4]):
                rows.append(
                    _tx(
                        f"{cid}/{day}/{tid}",
                        cid,
                        ts(2024, 3, day, 10),
                        f"{1000 - 10 * j}.5",
                        kind=["purchase", "refund"][j % 2],
                        quantity=j + 1,
                    )
                )
            k += 1
    return rows


def _log_rows(log: TransactionLog) -> list[tuple[Any, ...]]:
    assert log.ids is not None, "read_log must return the transaction ids"
    assert log.quantity is not None
    return list(
        zip(
            log.row_customer_ids.tolist(),
            log.time.tolist(),
            log.ids.tolist(),
            log.amount.tolist(),
            log.kind.tolist(),
            log.quantity.tolist(),
            strict=True,
        )
    )


def _expected_rows(records: list[Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            t.customer_id,
            t.occurred_at.replace(tzinfo=None),
            t.id,
            float(t.amount.amount),
            t.kind.code,
            t.quantity,
        )
        for t in records
    )


class OrderingContract(ContractBase):
    """read_log returns ids in (customer, time, id) order; every list is a total order."""

    # -- read_log -------------------------------------------------------------------------------
    def test_read_log_orders_ties_by_transaction_id(self) -> None:
        records = _tied_transactions()
        uow = self.make_uow()
        with uow:
            uow.transactions.add_many(_shuffled(records))
            uow.commit()
        with uow:
            log = uow.transactions.read_log()
        assert log.customer_ids.tolist() == ["C-1", "c-10", "c-2"]
        assert _log_rows(log) == _expected_rows(records)

    def test_read_log_ids_name_the_stored_transactions(self) -> None:
        records = _tied_transactions()
        uow = self.make_uow()
        with uow:
            uow.transactions.add_many(_shuffled(records, seed=3))
            log = uow.transactions.read_log()
            assert log.ids is not None
            for i in range(0, len(log), 3):
                t = uow.transactions.get(str(log.ids[i]))
                assert t.customer_id == log.row_customer_ids[i]
                assert float(t.amount.amount) == log.amount[i] and t.kind.code == log.kind[i]
                assert t.occurred_at.replace(tzinfo=None) == log.time[i].tolist()

    def test_read_log_order_does_not_depend_on_how_rows_were_stored(self) -> None:
        records = _tied_transactions()
        # the same rows for customers "x:..." stored one by one in another order, and for
        # customers "y:..." by the columnar write, in a third order
        again = {
            p: [
                attrs.evolve(r, id=f"{p}{r.id}", customer_id=f"{p}{r.customer_id}")
                for r in _shuffled(records, seed=seed)
            ]
            for p, seed in (("x:", 8), ("y:", 11))
        }
        uow = self.make_uow()
        with uow:
            uow.transactions.add_many(records)
            for r in again["x:"]:
                uow.transactions.add(r)
            uow.transactions.add_log(TransactionLog.from_transactions(again["y:"]))
            uow.commit()
        with uow:
            reads = [
                uow.transactions.read_log(customer_ids=sorted({r.customer_id for r in rows}))
                for rows in (records, again["x:"], again["y:"])
            ]
        plain = _log_rows(reads[0])
        for p, log in zip(("x:", "y:"), reads[1:], strict=True):
            assert [(c[2:], t, i[2:], *rest) for c, t, i, *rest in _log_rows(log)] == plain, p

    def test_read_log_ties_with_filters(self) -> None:
        records = _tied_transactions()
        uow = self.make_uow()
        with uow:
            uow.transactions.add_many(_shuffled(records, seed=5))
            log = uow.transactions.read_log(
                customer_ids=["c-2", "C-1"], kinds=["purchase"], start=ts(2024, 3, 2)
            )
        want = [
            r
            for r in records
            if r.customer_id in ("c-2", "C-1")
            and r.kind.value == "purchase"
            and r.occurred_at >= ts(2024, 3, 2)
        ]
        assert _log_rows(log) == _expected_rows(want)

    def test_read_log_matches_the_list_of_each_customer(self) -> None:
        records = _tied_transactions()
        uow = self.make_uow()
        with uow:
            uow.transactions.add_many(_shuffled(records, seed=9))
            log = uow.transactions.read_log()
            assert log.ids is not None
            for code, cid in enumerate(log.customer_ids.tolist()):
                listed = [t.id for t in uow.transactions.list(customer_id=cid)]
                assert log.ids[log.customer == code].tolist() == listed

    def test_read_log_orders_ids_below_the_space_by_code_point(self) -> None:
        at = ts(2024, 5, 1)
        records = [
            _tx(f"{cid}/x", cid, at, f"{i + 1}")
            for i, cid in enumerate(_shuffled(list(_BELOW_SPACE)))
        ]
        ties = [_tx(tid, "c-1", at) for tid in _shuffled(list(_BELOW_SPACE))]
        uow = self.make_uow()
        with uow:
            uow.transactions.add_many([*records, *ties])
            log = uow.transactions.read_log()
        assert log.customer_ids.tolist() == sorted([*_BELOW_SPACE, "c-1"])
        assert _log_rows(log) == _expected_rows([*records, *ties])

    # -- lists ----------------------------------------------------------------------------------
    def test_time_stamped_lists_order_ties_by_id(self) -> None:
        at = ts(2024, 6, 1)
        ids = _shuffled(list(TIE_IDS))
        want = sorted(TIE_IDS)
        uow = self.make_uow()
        with uow:
            uow.transactions.add_many([_tx(i, "c-1", at) for i in ids])
            uow.interactions.add_many([_visit(i, at) for i in ids])
            uow.surveys.add_many(
                [SurveyResponse(id=i, customer_id="c-1", responded_at=at, csat=3) for i in ids]
            )
            uow.costs.add_many(
                [
                    CostEntry(
                        id=i,
                        customer_id="c-1",
                        incurred_at=at,
                        amount=Money("1", "EUR"),
                        category="x",
                    )
                    for i in ids
                ]
            )
            uow.activities.add_many(
                [Activity(id=i, kind="call", rep_id="r", due_at=at) for i in ids]
            )
            uow.commit()
        with uow:
            assert [t.id for t in uow.transactions.list()] == want
            assert [t.id for t in uow.transactions.list(customer_id="c-1", limit=3)] == want[:3]
            assert [i.id for i in uow.interactions.list()] == want
            assert [s.id for s in uow.surveys.list()] == want
            assert [k.id for k in uow.costs.list()] == want
            assert [a.id for a in uow.activities.list()] == want
            for size in (1, 2, 3):
                assert [t.id for t in uow.transactions.iter(batch_size=size)] == want
                assert [i.id for i in uow.interactions.iter(batch_size=size)] == want

    def test_lists_order_by_time_then_id(self) -> None:
        base = ts(2024, 6, 1)
        times = [base + timedelta(hours=h) for h in (3, 1, 2)]
        records = [
            _tx(tid, "c-1", times[k % 3]) for k, tid in enumerate(_shuffled(list(TIE_IDS), seed=4))
        ]
        uow = self.make_uow()
        with uow:
            uow.transactions.add_many(records)
            got = [t.id for t in uow.transactions.list()]
            streamed = [t.id for t in uow.transactions.iter(batch_size=2)]
        want = [t.id for t in sorted(records, key=lambda t: (t.occurred_at, t.id))]
        assert got == want == streamed

    def test_lists_order_ids_below_the_space_by_code_point(self) -> None:
        at = ts(2024, 7, 1)
        ids = _shuffled(list(_BELOW_SPACE))
        uow = self.make_uow()
        with uow:
            uow.transactions.add_many([_tx(i, "c-1", at) for i in ids])
            uow.interactions.add_many([_visit(i, at) for i in ids])
            assert [t.id for t in uow.transactions.list()] == sorted(_BELOW_SPACE)
            assert [t.id for t in uow.transactions.iter(batch_size=2)] == sorted(_BELOW_SPACE)
            assert [i.id for i in uow.interactions.list()] == sorted(_BELOW_SPACE)
