"""The core of the repository contract: what every backend must do.

Customers (add, get, find, versioned update, filters, streaming, external
keys), the unit of work (commit across repositories, rollback, isolation
between blocks, optimistic concurrency, no lost update between threads),
the record repositories and the columnar bridge (``add_log``, ``read_log``),
opportunities, activities, surveys, costs, documents, and a privacy export
and erasure that need nothing beyond the protocols
(:class:`~crmcore.testing._contract_records.RecordContract`). Every promise
here is one of :mod:`crmcore.repositories.protocols`; the capability
contracts of :mod:`crmcore.testing.contract` add what a backend may opt into.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> class Check(CoreContract):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> Check().test_add_then_get_returns_equal_customer()
"""

from __future__ import annotations

import threading
from contextlib import suppress
from datetime import UTC, date, datetime

from crmcore.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFoundError,
    RepositoryError,
    ValidationError,
)
from crmcore.model import Address, Consent, ContactPoint, Customer, Relationship
from crmcore.repositories._concurrency import increment_loop
from crmcore.testing._contract_base import (
    customer,
    event,
    ids_of,
    opportunity,
    raises,
    transaction,
    ts,
)
from crmcore.testing._contract_records import RecordContract

__all__ = ["CoreContract"]


class CoreContract(RecordContract):
    """The core contract: every ``test_*`` method checks one promise of the repository
    protocols that every backend must keep (see the module docstring).

    Override :meth:`make_uow`. Override :meth:`clone_uow` when one unit of
    work object must not be shared between threads (ours may: each thread
    gets its own transaction).
    """

    # -- customers ------------------------------------------------------------------------------
    def test_add_then_get_returns_equal_customer(self) -> None:
        c = customer(1, segment="gold", owner_id="rep-1", acquired_at=ts(2020, 5, 6))
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
            customer(3, owner_id="rep-1", segment="gold", acquired_at=ts(2020)),
            customer(1, owner_id="rep-1", segment="silver", acquired_at=ts(2021)),
            customer(2, owner_id="rep-2", segment="gold", acquired_at=ts(2022)),
            customer(4),
        )
        with uow:
            assert ids_of(uow.customers.list()) == ["c-1", "c-2", "c-3", "c-4"]
            assert ids_of(uow.customers.list(owner_id="rep-1")) == ["c-1", "c-3"]
            assert ids_of(uow.customers.list(segment="gold")) == ["c-2", "c-3"]
            assert ids_of(uow.customers.list(acquired_from=ts(2021), acquired_to=ts(2022))) == [
                "c-1"
            ]
            assert ids_of(uow.customers.list(owner_id="rep-1", segment="gold")) == ["c-3"]
            assert ids_of(uow.customers.list(limit=2)) == ["c-1", "c-2"]

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
                uow.transactions.add(transaction(1, "c-1", ts(2020)))
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
            uow.transactions.add(transaction(1, "c-1", ts(2020)))
            uow.opportunities.add(opportunity(1), event("o-1", 0, None, "lead", ts(2024)))
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
            th = threading.Thread(target=other)
            th.start()
            th.join()
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
                    with suppress(threading.BrokenBarrierError):
                        both_wrote.wait()
                    peer.commit()
                outcomes.append("landed")
            except ConcurrencyError:
                outcomes.append("refused")

        threads = [threading.Thread(target=writer, args=(s,)) for s in ("a", "b")]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(outcomes) == ["landed", "refused"], outcomes
        with uow:
            assert uow.customers.get("c-1").version == 1

    def test_concurrent_threads_lose_no_update(self) -> None:
        uow = self._seeded(customer(1))
        results: list[tuple[int, int]] = []

        def work() -> None:
            results.append(increment_loop(self.clone_uow(uow), "c-1", self.updates_per_thread))

        threads = [threading.Thread(target=work) for _ in range(self.concurrent_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        successes = sum(r[0] for r in results)
        assert successes == self.concurrent_threads * self.updates_per_thread
        with uow:
            got = uow.customers.get("c-1")
        assert got.version == successes and got.segment == f"v{successes}"
