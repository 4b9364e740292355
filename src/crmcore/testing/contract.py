"""The repository contract suite: what every backend (ours and yours) must do.

Subclass :class:`RepositoryContract` in a test module, name the subclass
``Test...`` and give it ``make_uow()`` returning a fresh, empty unit of
work; pytest (or unittest-style runners that collect methods named
``test_*``) then runs every contract test against your backend::

    from crmcore.repositories import MemoryUnitOfWork
    from crmcore.testing.contract import RepositoryContract

    class TestMemoryBackend(RepositoryContract):
        def make_uow(self):
            return MemoryUnitOfWork()

The suite does not need pytest: failures are plain ``AssertionError``.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> class Check(RepositoryContract):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> Check().test_add_then_get_returns_equal_customer()
>>> len(contract_tests()) > 40
True
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from crmcore.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFoundError,
    RepositoryError,
    ValidationError,
)
from crmcore.model import (
    Activity,
    Address,
    Consent,
    ContactPoint,
    CostEntry,
    Customer,
    Interaction,
    Money,
    Opportunity,
    Relationship,
    StageChange,
    SurveyResponse,
    Transaction,
)
from crmcore.repositories._concurrency import increment_loop
from crmcore.repositories.privacy import erase_customer, export_customer
from crmcore.repositories.protocols import UnitOfWork
from crmcore.tables import TransactionLog

__all__ = ["RepositoryContract", "contract_tests", "raises"]


def _t(y: int, m: int = 1, d: int = 1, h: int = 0) -> datetime:
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


def _interaction(i: int, channel: str, at: datetime, **kw: object) -> Interaction:
    return Interaction(
        id=f"i-{i}",
        customer_id=str(kw.pop("customer_id", "c-1")),
        channel=channel,
        direction="outbound",
        occurred_at=at,
        **kw,  # type: ignore[arg-type]  # helper forwards optional Interaction fields
    )


def _ids(records: Sequence[Customer] | Sequence[Opportunity]) -> list[str]:
    return [r.id for r in records]


def _opportunity(i: int, **kw: Any) -> Opportunity:
    base = Opportunity(
        id=f"o-{i}",
        customer_id="c-1",
        owner_id="rep-1",
        funnel="b2b",
        stage="lead",
        created_at=_t(2024),
        amount=Money("1200.50", "EUR"),
    )
    import attrs

    return attrs.evolve(base, **kw)


def _event(opp: str, seq: int, frm: str | None, to: str, at: datetime) -> StageChange:
    return StageChange(
        opportunity_id=opp, sequence=seq, from_stage=frm, to_stage=to, at=at, by="rep-1"
    )


class RepositoryContract:
    """The contract: every ``test_*`` method checks one promise of the repository protocols.

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

    # -- customers ------------------------------------------------------------------------------
    def test_add_then_get_returns_equal_customer(self) -> None:
        c = customer(1, segment="gold", owner_id="rep-1", acquired_at=_t(2020, 5, 6))
        uow = self._seeded(c)
        with uow:
            assert uow.customers.get("c-1") == c

    def test_full_profile_round_trips(self) -> None:
        c = Customer(
            id="c-9",
            name="李伟 Wei",
            contact_points=[
                ContactPoint("email", "wei@example.com"),
                ContactPoint("phone", "+86 10 1234"),
            ],
            birthday=date(1950, 3, 4),
            address=Address(country="CN", city="Beijing", lines=("1 Road",)),
            tags=["vip", "b2b"],
            acquisition_channel="referral",
            acquired_at=datetime(2021, 2, 3, 4, 5, 6, 789, tzinfo=UTC),
            consent=Consent(contact=True),
            relationships=[Relationship("referred_by", "c-7")],
            external_key="crm-9",
        )
        uow = self._seeded(c)
        with uow:
            assert uow.customers.get("c-9") == c

    def test_get_missing_raises_not_found(self) -> None:
        with self.make_uow() as uow, raises(NotFoundError):
            uow.customers.get("nobody")

    def test_find_missing_returns_none(self) -> None:
        with self.make_uow() as uow:
            assert uow.customers.find("nobody") is None

    def test_add_duplicate_raises_duplicate_error(self) -> None:
        uow = self._seeded(customer(1))
        with uow:
            with raises(DuplicateError):
                uow.customers.add(customer(1, name="Other"))
            assert uow.customers.get("c-1").name == "Customer 1"

    def test_add_requires_version_zero(self) -> None:
        with self.make_uow() as uow, raises(ValidationError):
            uow.customers.add(customer(1, version=3))

    def test_add_many_is_all_or_nothing(self) -> None:
        uow = self._seeded(customer(2))
        with uow:
            with raises(DuplicateError):
                uow.customers.add_many([customer(1), customer(2), customer(3)])
            assert uow.customers.find("c-1") is None and uow.customers.find("c-3") is None
            assert uow.customers.add_many([customer(4), customer(5)]) == 2
            uow.commit()
        with uow:
            assert uow.customers.count() == 3

    def test_update_returns_next_version(self) -> None:
        uow = self._seeded(customer(1))
        with uow:
            stored = uow.customers.update(uow.customers.get("c-1").with_changes(segment="gold"))
            assert stored.version == 1
            uow.commit()
        with uow:
            assert uow.customers.get("c-1") == stored

    def test_stale_update_raises_and_changes_nothing(self) -> None:
        uow = self._seeded(customer(1))
        with uow:
            first = uow.customers.get("c-1")
            uow.customers.update(first.with_changes(segment="gold"))
            with raises(ConcurrencyError):
                uow.customers.update(first.with_changes(segment="silver"))
            uow.commit()
        with uow:
            got = uow.customers.get("c-1")
            assert (got.segment, got.version) == ("gold", 1)

    def test_update_missing_raises_not_found(self) -> None:
        with self.make_uow() as uow, raises(NotFoundError):
            uow.customers.update(customer(1))

    def test_list_filters_and_orders_by_id(self) -> None:
        uow = self._seeded(
            customer(3, owner_id="rep-1", segment="gold", acquired_at=_t(2020)),
            customer(1, owner_id="rep-1", segment="silver", acquired_at=_t(2021)),
            customer(2, owner_id="rep-2", segment="gold", acquired_at=_t(2022)),
            customer(4),
        )
        with uow:
            assert _ids(uow.customers.list()) == ["c-1", "c-2", "c-3", "c-4"]
            assert _ids(uow.customers.list(owner_id="rep-1")) == ["c-1", "c-3"]
            assert _ids(uow.customers.list(segment="gold")) == ["c-2", "c-3"]
            assert _ids(uow.customers.list(acquired_from=_t(2021), acquired_to=_t(2022))) == ["c-1"]
            assert _ids(uow.customers.list(owner_id="rep-1", segment="gold")) == ["c-3"]
            assert _ids(uow.customers.list(limit=2)) == ["c-1", "c-2"]

    def test_iter_streams_in_order(self) -> None:
        uow = self._seeded(*[customer(i) for i in (5, 1, 4, 2, 3, 10)])
        with uow:
            streamed = [c.id for c in uow.customers.iter(batch_size=2)]
        assert streamed == sorted(streamed) and len(streamed) == 6

    def test_by_external_keys(self) -> None:
        uow = self._seeded(
            customer(1, external_key="x-1"), customer(2, external_key="x-2"), customer(3)
        )
        with uow:
            assert uow.customers.by_external_keys(["x-2", "x-9", "x-1"]) == {
                "x-1": "c-1",
                "x-2": "c-2",
            }
            assert uow.customers.by_external_keys([]) == {}

    def test_ids_are_case_sensitive(self) -> None:
        uow = self._seeded(customer("a"), customer("A"))
        with uow:
            assert [c.name for c in uow.customers.list()] == ["Customer A", "Customer a"]

    # -- the unit of work -----------------------------------------------------------------------
    def test_rollback_without_commit(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.customers.add(customer(1))
            assert uow.customers.count() == 1
        with uow:
            assert uow.customers.find("c-1") is None

    def test_exception_rolls_back_everything(self) -> None:
        uow = self._seeded(customer(1))
        try:
            with uow:
                uow.customers.update(uow.customers.get("c-1").with_changes(segment="gold"))
                uow.transactions.add(transaction(1, "c-1", _t(2020)))
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        with uow:
            assert uow.customers.get("c-1").version == 0
            assert uow.transactions.count() == 0

    def test_explicit_rollback_discards(self) -> None:
        uow = self._seeded(customer(1))
        with uow:
            uow.customers.add(customer(2))
            uow.rollback()
            assert uow.customers.find("c-2") is None
            uow.customers.add(customer(3))
            uow.commit()
        with uow:
            assert [c.id for c in uow.customers.list()] == ["c-1", "c-3"]

    def test_commit_spans_repositories(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.customers.add(customer(1))
            uow.transactions.add(transaction(1, "c-1", _t(2020)))
            uow.opportunities.add(_opportunity(1), _event("o-1", 0, None, "lead", _t(2024)))
            uow.documents.put("funnel", "b2b", {"stages": ["lead"]}, expected_version=None)
            uow.commit()
        with uow:
            assert uow.customers.count() == 1 and uow.transactions.count() == 1
            assert len(uow.opportunities.history("o-1")) == 1
            assert uow.documents.get("funnel", "b2b") == ({"stages": ["lead"]}, 1)

    def test_repositories_outside_a_block_raise(self) -> None:
        uow = self.make_uow()
        with raises(RepositoryError):
            uow.customers.count()

    def test_a_block_cannot_be_entered_twice(self) -> None:
        uow = self.make_uow()
        with uow, raises(RepositoryError), uow:
            pass

    def test_uncommitted_changes_are_invisible_to_other_threads(self) -> None:
        uow = self._seeded(customer(1))
        seen: list[str | None] = []

        def other() -> None:
            peer = self.clone_uow(uow)
            with peer:
                seen.append(peer.customers.get("c-1").segment)

        with uow:
            uow.customers.update(uow.customers.get("c-1").with_changes(segment="gold"))
            t = threading.Thread(target=other)
            t.start()
            t.join()
            uow.commit()
        assert seen == [None]

    def test_update_based_on_a_version_another_block_changed_raises(self) -> None:
        uow = self._seeded(customer(1))
        errors: list[BaseException] = []

        def other() -> None:
            peer = self.clone_uow(uow)
            try:
                with peer:
                    peer.customers.update(peer.customers.get("c-1").with_changes(segment="x"))
                    peer.commit()
            except BaseException as e:  # reported to the main thread
                errors.append(e)

        raised = False
        try:
            with uow:
                c = uow.customers.get("c-1")
                t = threading.Thread(target=other)
                t.start()
                t.join()
                uow.customers.update(c.with_changes(segment="y"))
                uow.commit()
        except ConcurrencyError:
            raised = True
        assert not errors, errors
        assert raised, "a stale update must raise ConcurrencyError (at update or at commit)"
        with uow:
            got = uow.customers.get("c-1")
            assert (got.segment, got.version) == ("x", 1)

    def test_two_blocks_updating_one_version_only_one_lands(self) -> None:
        uow = self._seeded(customer(1))
        both_read = threading.Barrier(2, timeout=30)
        # a database that locks the row makes the second writer wait inside update():
        # then this barrier times out and the first writer commits on its own
        both_wrote = threading.Barrier(2, timeout=1.0)
        outcomes: list[str] = []

        def writer(segment: str) -> None:
            peer = self.clone_uow(uow)
            try:
                with peer:
                    c = peer.customers.get("c-1")
                    both_read.wait()
                    peer.customers.update(c.with_changes(segment=segment))
                    try:
                        both_wrote.wait()
                    except threading.BrokenBarrierError:
                        pass
                    peer.commit()
                outcomes.append("landed")
            except ConcurrencyError:
                outcomes.append("refused")

        threads = [threading.Thread(target=writer, args=(s,)) for s in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["landed", "refused"], outcomes
        with uow:
            assert uow.customers.get("c-1").version == 1

    def test_concurrent_threads_lose_no_update(self) -> None:
        uow = self._seeded(customer(1))
        results: list[tuple[int, int]] = []

        def work() -> None:
            results.append(increment_loop(self.clone_uow(uow), "c-1", self.updates_per_thread))

        threads = [threading.Thread(target=work) for _ in range(self.concurrent_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        successes = sum(r[0] for r in results)
        assert successes == self.concurrent_threads * self.updates_per_thread
        with uow:
            got = uow.customers.get("c-1")
        assert got.version == successes and got.segment == f"v{successes}"

    # -- interactions ---------------------------------------------------------------------------
    def test_time_range_is_half_open(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.interactions.add_many(
                [_interaction(i, "phone", _t(2022, 1, 1) + timedelta(days=i)) for i in range(5)]
            )
            got = uow.interactions.list(start=_t(2022, 1, 2), end=_t(2022, 1, 4))
            assert [i.id for i in got] == ["i-1", "i-2"]

    def test_meetings_and_calls_of_three_years_ago(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.interactions.add_many(
                [
                    _interaction(1, "meeting", _t(2022, 3, 1), rep_id="rep-1", subject="Visit"),
                    _interaction(2, "phone", _t(2022, 6, 1), rep_id="rep-2"),
                    _interaction(3, "email", _t(2022, 7, 1), rep_id="rep-1"),
                    _interaction(4, "phone", _t(2023, 2, 1), rep_id="rep-1", customer_id="c-2"),
                    _interaction(5, "meeting", _t(2021, 12, 31, 23), rep_id="rep-1"),
                ]
            )
            got = uow.interactions.list(channels=["meeting", "phone"], start=_t(2022), end=_t(2023))
            assert [i.id for i in got] == ["i-1", "i-2"]
            assert [i.id for i in uow.interactions.list(rep_id="rep-1")] == [
                "i-5",
                "i-1",
                "i-3",
                "i-4",
            ]
            assert [i.id for i in uow.interactions.list(customer_id="c-2")] == ["i-4"]
            assert uow.interactions.get("i-1").subject == "Visit"

    def test_interactions_iter_matches_list(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.interactions.add_many(
                [_interaction(i, "web", _t(2020) + timedelta(hours=i % 4)) for i in range(11)]
            )
            assert list(uow.interactions.iter(batch_size=3)) == uow.interactions.list()

    def test_replace_interaction(self) -> None:
        uow = self.make_uow()
        with uow:
            i = uow.interactions.add(_interaction(1, "chat", _t(2020), subject="secret"))
            import attrs

            uow.interactions.replace(attrs.evolve(i, subject=None))
            assert uow.interactions.get("i-1").subject is None
            with raises(NotFoundError):
                uow.interactions.replace(_interaction(2, "chat", _t(2020)))

    def test_duplicate_record_id_raises(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.interactions.add(_interaction(1, "chat", _t(2020)))
            with raises(DuplicateError):
                uow.interactions.add(_interaction(1, "web", _t(2021)))
            with raises(DuplicateError):
                uow.interactions.add_many([_interaction(2, "web", _t(2021))] * 2)
            assert len(uow.interactions.list()) == 1

    # -- transactions and the columnar bridge ---------------------------------------------------
    def test_money_round_trips_exactly(self) -> None:
        uow = self.make_uow()
        amounts = ["0.000001", "19.99", "123456789.123456", "0", "5"]
        with uow:
            for i, a in enumerate(amounts):
                uow.transactions.add(transaction(i, "c-1", _t(2020, 1, 1 + i), a, currency="KWD"))
            got = [t.amount for t in uow.transactions.list()]
        assert [m.amount for m in got] == [Decimal(a) for a in amounts]
        assert {m.currency for m in got} == {"KWD"}

    def test_more_than_six_decimals_is_rejected(self) -> None:
        with self.make_uow() as uow:
            with raises(ValidationError):
                uow.transactions.add(transaction(1, "c-1", _t(2020), "0.0000001"))
            assert uow.transactions.count() == 0

    def test_transactions_filter_by_kind_customer_and_time(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.transactions.add_many(
                [
                    transaction(1, "c-1", _t(2020), kind="purchase"),
                    transaction(2, "c-1", _t(2021), kind="refund"),
                    transaction(3, "c-2", _t(2021, 6), kind="purchase"),
                ]
            )
            tx = uow.transactions
            assert [t.id for t in tx.list(kinds=["refund"])] == ["t-2"]
            assert [t.id for t in tx.list(customer_id="c-1")] == ["t-1", "t-2"]
            assert [t.id for t in tx.list(start=_t(2021))] == ["t-2", "t-3"]
            assert [t.id for t in tx.list(limit=1)] == ["t-1"]
            assert [t.id for t in tx.iter(batch_size=1)] == ["t-1", "t-2", "t-3"]
            with raises(ValidationError):
                tx.list(kinds=["gift"])

    def test_naive_time_bounds_are_rejected(self) -> None:
        with self.make_uow() as uow, raises(ValidationError):
            uow.transactions.list(start=datetime(2020, 1, 1))

    def test_read_log_matches_objects(self) -> None:
        uow = self.make_uow()
        rows = [
            transaction(
                i,
                f"c-{i % 3}",
                _t(2020, 1 + i % 12, 1 + i % 27),
                f"{i}.25",
                kind=["purchase", "refund"][i % 2],
                quantity=i % 4,
            )
            for i in range(30)
        ]
        with uow:
            uow.transactions.add_many(rows)
            log = uow.transactions.read_log()
            objects = uow.transactions.list()
        expected = TransactionLog.from_transactions(objects).sorted()
        assert log.quantity is not None and expected.quantity is not None
        assert log.currency == "EUR" and len(log) == 30
        assert log.customer_ids.tolist() == ["c-0", "c-1", "c-2"]
        got = sorted(
            zip(
                log.row_customer_ids.tolist(),
                log.time.tolist(),
                log.amount.tolist(),
                log.kind.tolist(),
                log.quantity.tolist(),
                strict=True,
            )
        )
        want = sorted(
            zip(
                expected.row_customer_ids.tolist(),
                expected.time.tolist(),
                expected.amount.tolist(),
                expected.kind.tolist(),
                expected.quantity.tolist(),
                strict=True,
            )
        )
        assert got == want
        same = np.diff(log.customer) == 0
        assert (np.diff(log.customer) >= 0).all(), "rows are ordered by customer"
        assert (np.diff(log.time)[same] >= np.timedelta64(0)).all(), "then by time"

    def test_read_log_filters(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.transactions.add_many(
                [
                    transaction(1, "c-1", _t(2020), "1"),
                    transaction(2, "c-2", _t(2021), "2", kind="refund"),
                    transaction(3, "c-3", _t(2022), "3"),
                    transaction(4, "c-2", _t(2023), "4"),
                ]
            )
            log = uow.transactions.read_log(
                customer_ids=["c-2", "c-3", "c-9"], start=_t(2021), end=_t(2023)
            )
            assert log.customer_ids.tolist() == ["c-2", "c-3"] and log.amount.tolist() == [2.0, 3.0]
            assert uow.transactions.read_log(kinds=["refund"]).amount.tolist() == [2.0]
            empty = uow.transactions.read_log(start=_t(2030))
            assert len(empty) == 0 and empty.currency is None

    def test_read_log_refuses_mixed_currencies(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.transactions.add(transaction(1, "c-1", _t(2020), currency="EUR"))
            uow.transactions.add(transaction(2, "c-2", _t(2020), currency="USD"))
            with raises(ValidationError):
                uow.transactions.read_log()
            assert uow.transactions.read_log(customer_ids=["c-2"]).currency == "USD"

    def test_add_log_round_trip(self) -> None:
        log = TransactionLog.from_arrays(
            customer_ids=["b", "a", "b"],
            timestamps=np.array(
                ["2020-01-01T10:00", "2020-02-01", "2021-01-01"], dtype="datetime64[us]"
            ),
            amounts=[1.5, 29.33, 0.000001],
            kinds=["purchase", "refund", "purchase"],
            quantities=[1, 2, 3],
            currency="USD",
            ids=["t-1", "t-2", "t-3"],
            external_refs=["r-1", None, "r-3"],
        )
        uow = self.make_uow()
        with uow:
            assert uow.transactions.add_log(log) == 3
            uow.commit()
        with uow:
            t2 = uow.transactions.get("t-2")
            assert (t2.customer_id, t2.amount, t2.kind.value, t2.quantity) == (
                "a",
                Money("29.33", "USD"),
                "refund",
                2,
            )
            assert uow.transactions.get("t-3").amount == Money("0.000001", "USD")
            assert uow.transactions.existing_external_refs(["r-1", "r-2", "r-3"]) == {"r-1", "r-3"}
            back = uow.transactions.read_log()
        assert back.customer_ids.tolist() == ["a", "b"] and back.amount.tolist() == [
            29.33,
            1.5,
            0.000001,
        ]

    def test_add_log_duplicate_stores_nothing(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.transactions.add(transaction(2, "c-1", _t(2020)))
            log = TransactionLog.from_arrays(
                customer_ids=["a", "b"],
                timestamps=["2020-01-01", "2020-01-02"],
                amounts=[1.0, 2.0],
                currency="EUR",
                ids=["t-1", "t-2"],
            )
            with raises(DuplicateError):
                uow.transactions.add_log(log)
            assert [t.id for t in uow.transactions.list()] == ["t-2"]

    def test_add_log_needs_ids_and_currency(self) -> None:
        log = TransactionLog.from_arrays(
            customer_ids=["a"], timestamps=["2020-01-01"], amounts=[1.0]
        )
        with self.make_uow() as uow, raises(ValidationError):
            uow.transactions.add_log(log)

    # -- opportunities --------------------------------------------------------------------------
    def test_opportunity_add_save_history(self) -> None:
        uow = self.make_uow()
        with uow:
            o = uow.opportunities.add(
                _opportunity(1, expected_close=date(2024, 6, 30), probability=0.25),
                _event("o-1", 0, None, "lead", _t(2024)),
            )
            import attrs

            moved = attrs.evolve(o, stage="won", closed_at=_t(2024, 3))
            saved = uow.opportunities.save(moved, [_event("o-1", 1, "lead", "won", _t(2024, 3))])
            assert saved.version == 1
            uow.commit()
        with uow:
            assert uow.opportunities.get("o-1") == saved
            assert [e.to_stage for e in uow.opportunities.history("o-1")] == ["lead", "won"]
            assert uow.opportunities.find("o-9") is None

    def test_stale_save_raises_and_appends_nothing(self) -> None:
        uow = self.make_uow()
        with uow:
            o = uow.opportunities.add(_opportunity(1), _event("o-1", 0, None, "lead", _t(2024)))
            import attrs

            uow.opportunities.save(
                attrs.evolve(o, stage="qualified"),
                [_event("o-1", 1, "lead", "qualified", _t(2024, 2))],
            )
            with raises(ConcurrencyError):
                uow.opportunities.save(
                    attrs.evolve(o, stage="lost"),
                    [_event("o-1", 2, "qualified", "lost", _t(2024, 3))],
                )
            assert uow.opportunities.get("o-1").stage == "qualified"
            assert len(uow.opportunities.history("o-1")) == 2

    def test_opportunity_list_filters(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.opportunities.add(_opportunity(1))
            uow.opportunities.add(
                _opportunity(2, owner_id="rep-2", stage="won", closed_at=_t(2024, 2))
            )
            uow.opportunities.add(_opportunity(3, funnel="retail", customer_id="c-2"))
            assert _ids(uow.opportunities.list(open_only=True)) == ["o-1", "o-3"]
            assert _ids(uow.opportunities.list(owner_id="rep-2")) == ["o-2"]
            assert _ids(uow.opportunities.list(funnel="retail")) == ["o-3"]
            assert _ids(uow.opportunities.list(customer_id="c-1", stage="lead")) == ["o-1"]

    def test_read_history_matches_events(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.opportunities.add(_opportunity(1), _event("o-1", 0, None, "lead", _t(2024, 1)))
            o2 = uow.opportunities.add(
                _opportunity(2, owner_id="rep-2", product="crm"),
                _event("o-2", 0, None, "lead", _t(2024, 2)),
            )
            import attrs

            uow.opportunities.save(
                attrs.evolve(o2, stage="won"), [_event("o-2", 1, "lead", "won", _t(2024, 5))]
            )
            h = uow.opportunities.read_history()
            assert h.opportunity_ids[h.opportunity].tolist() == ["o-1", "o-2", "o-2"]
            assert h.stages[h.to_stage].tolist() == ["lead", "lead", "won"]
            assert h.from_stage[0] == -1 and h.owner_ids[h.owner].tolist() == [
                "rep-1",
                "rep-2",
                "rep-2",
            ]
            assert h.products.tolist() == ["crm"]
            assert len(uow.opportunities.read_history(owner_id="rep-2", start=_t(2024, 3))) == 1
            assert len(uow.opportunities.read_history(funnel="other")) == 0

    # -- activities, surveys, costs -------------------------------------------------------------
    def test_activity_time_range_uses_due_or_done(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.activities.add_many(
                [
                    Activity(id="a-1", kind="call", rep_id="r", due_at=_t(2024, 1, 5)),
                    Activity(
                        id="a-2", kind="visit", rep_id="r", status="done", done_at=_t(2024, 2, 5)
                    ),
                    Activity(id="a-3", kind="task", rep_id="s", customer_id="c-1"),
                ]
            )
            assert [a.id for a in uow.activities.list(start=_t(2024, 1), end=_t(2024, 2))] == [
                "a-1"
            ]
            assert [a.id for a in uow.activities.list(rep_id="r")] == ["a-1", "a-2"]
            assert [a.id for a in uow.activities.list(customer_id="c-1")] == ["a-3"]
            done = uow.activities.update(uow.activities.get("a-1").mark_done(_t(2024, 3, 1), "ok"))
            assert uow.activities.get("a-1") == done
            assert [a.id for a in uow.activities.list(start=_t(2024, 3))] == ["a-1"]

    def test_surveys_and_costs_filters(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.surveys.add_many(
                [
                    SurveyResponse(
                        id="s-1", customer_id="c-1", responded_at=_t(2024), csat=5, survey="q"
                    ),
                    SurveyResponse(
                        id="s-2", customer_id="c-2", responded_at=_t(2023), nps=3, comment="slow"
                    ),
                ]
            )
            uow.costs.add(
                CostEntry(
                    id="k-1",
                    customer_id="c-1",
                    incurred_at=_t(2024),
                    amount=Money("4.2", "EUR"),
                    category="visit",
                )
            )
            assert [s.id for s in uow.surveys.list()] == ["s-2", "s-1"]
            assert [s.id for s in uow.surveys.list(survey="q")] == ["s-1"]
            assert [s.id for s in uow.surveys.list(customer_id="c-2", end=_t(2024))] == ["s-2"]
            assert uow.costs.get("k-1").amount == Money("4.2", "EUR")
            assert [k.id for k in uow.costs.list(category="visit", start=_t(2024))] == ["k-1"]
            assert uow.costs.list(category="service") == []

    # -- documents ------------------------------------------------------------------------------
    def test_documents_keep_every_version(self) -> None:
        uow = self.make_uow()
        with uow:
            docs = uow.documents
            assert docs.put("rule", "big-withdrawal", {"x": 1}, expected_version=None) == 1
            assert (
                docs.put("rule", "big-withdrawal", {"x": 2.5, "y": [1, "a"]}, expected_version=1)
                == 2
            )
            assert docs.get("rule", "big-withdrawal") == ({"x": 2.5, "y": [1, "a"]}, 2)
            assert docs.get("rule", "big-withdrawal", version=1) == ({"x": 1}, 1)
            with raises(NotFoundError):
                docs.get("rule", "big-withdrawal", version=3)

    def test_stale_document_put_raises(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.documents.put("funnel", "b2b", [1], expected_version=None)
            with raises(ConcurrencyError):
                uow.documents.put("funnel", "b2b", [2], expected_version=None)
            with raises(ConcurrencyError):
                uow.documents.put("funnel", "b2b", [2], expected_version=7)
            assert uow.documents.get("funnel", "b2b") == ([1], 1)

    def test_documents_keys_and_delete(self) -> None:
        uow = self.make_uow()
        with uow:
            for k in ("b", "a", "c"):
                uow.documents.put("tier", k, {"k": k}, expected_version=None)
            uow.documents.put("rule", "z", None, expected_version=None)
            uow.documents.delete("tier", "b")
            assert uow.documents.keys("tier") == ["a", "c"]
            with raises(NotFoundError):
                uow.documents.delete("tier", "b")
            with raises(ValidationError):
                uow.documents.put("tier", "n", float("nan"), expected_version=None)

    # -- privacy --------------------------------------------------------------------------------
    def _person_with_history(self) -> UnitOfWork:
        uow = self.make_uow()
        with uow:
            uow.customers.add(
                customer(
                    1,
                    contact_points=[ContactPoint("email", "a@b.example")],
                    birthday=date(1947, 1, 2),
                    tags=["vip"],
                    address=Address(country="CN"),
                )
            )
            uow.customers.add(customer(2))
            uow.interactions.add(
                _interaction(
                    1, "phone", _t(2021), subject="flat for daughter", outcome="deposit kept"
                )
            )
            uow.interactions.add(
                _interaction(2, "phone", _t(2021), customer_id="c-2", subject="other")
            )
            uow.transactions.add(transaction(1, "c-1", _t(2021), "50000", kind="withdrawal"))
            uow.opportunities.add(_opportunity(1), _event("o-1", 0, None, "lead", _t(2024)))
            uow.activities.add(
                Activity(
                    id="a-1", kind="call", rep_id="r", customer_id="c-1", subject="call Mrs Li"
                )
            )
            uow.surveys.add(
                SurveyResponse(
                    id="s-1", customer_id="c-1", responded_at=_t(2022), csat=4, comment="my son..."
                )
            )
            uow.costs.add(
                CostEntry(
                    id="k-1",
                    customer_id="c-1",
                    incurred_at=_t(2022),
                    amount=Money("3", "EUR"),
                    category="visit",
                    note="home visit",
                )
            )
            uow.commit()
        return uow

    def test_export_customer_has_everything(self) -> None:
        uow = self._person_with_history()
        with uow:
            data = export_customer(uow, "c-1")
        json.dumps(data)
        assert data["customer"]["contact_points"][0]["value"] == "a@b.example"
        assert [i["id"] for i in data["interactions"]] == ["i-1"]
        assert data["transactions"][0]["amount"]["amount"] in ("50000", "50000.00", "50000.000")
        assert data["opportunities"][0]["history"][0]["to_stage"] == "lead"
        assert [len(data[k]) for k in ("activities", "surveys", "costs")] == [1, 1, 1]

    def test_erase_customer_removes_personal_data_keeps_analytics(self) -> None:
        uow = self._person_with_history()
        with uow:
            erase_customer(uow, "c-1")
            uow.commit()
        with uow:
            c = uow.customers.get("c-1")
            assert (c.name, c.contact_points, c.birthday, c.address, c.tags, c.erased) == (
                "erased",
                (),
                None,
                None,
                (),
                True,
            )
            assert (
                uow.interactions.get("i-1").subject is None
                and uow.interactions.get("i-1").outcome is None
            )
            assert uow.interactions.get("i-2").subject == "other"
            assert uow.activities.get("a-1").subject is None
            assert uow.surveys.get("s-1").comment is None and uow.surveys.get("s-1").csat == 4
            assert uow.costs.get("k-1").note is None and uow.costs.get("k-1").amount == Money(
                "3", "EUR"
            )
            assert uow.transactions.read_log(customer_ids=["c-1"]).amount.tolist() == [50000.0]
            dump = json.dumps(export_customer(uow, "c-1"))
        for secret in (
            "a@b.example",
            "flat for daughter",
            "my son",
            "home visit",
            "Mrs Li",
            "1947",
        ):
            assert secret not in dump, secret


def contract_tests() -> list[str]:
    """The names of the contract's test methods.

    >>> "test_stale_update_raises_and_changes_nothing" in contract_tests()
    True
    """
    return sorted(n for n in dir(RepositoryContract) if n.startswith("test_"))
