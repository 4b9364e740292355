"""The contract's tests of the record repositories, the bridge, documents and privacy.

Part of :class:`crmcore.testing.contract.RepositoryContract`; see there.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> class Check(RecordContract):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> Check().test_time_range_is_half_open()
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import attrs
import numpy as np

from crmcore.errors import ConcurrencyError, DuplicateError, NotFoundError, ValidationError
from crmcore.model import Activity, Address, ContactPoint, CostEntry, Money, SurveyResponse
from crmcore.repositories.privacy import erase_customer, export_customer
from crmcore.repositories.protocols import UnitOfWork
from crmcore.tables import TransactionLog
from crmcore.testing._contract_base import (
    ContractBase,
    customer,
    event,
    ids_of,
    interaction,
    opportunity,
    raises,
    transaction,
    ts,
)

__all__ = ["RecordContract"]


class RecordContract(ContractBase):
    """Interactions, transactions and the columnar bridge, opportunities, activities, surveys,
    costs, documents, privacy."""

    # -- interactions ---------------------------------------------------------------------------
    def test_time_range_is_half_open(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.interactions.add_many(
                [interaction(i, "phone", ts(2022, 1, 1) + timedelta(days=i)) for i in range(5)]
            )
            got = uow.interactions.list(start=ts(2022, 1, 2), end=ts(2022, 1, 4))
            assert [i.id for i in got] == ["i-1", "i-2"]

    def test_meetings_and_calls_of_three_years_ago(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.interactions.add_many(
                [
                    interaction(1, "meeting", ts(2022, 3, 1), rep_id="rep-1", subject="Visit"),
                    interaction(2, "phone", ts(2022, 6, 1), rep_id="rep-2"),
                    interaction(3, "email", ts(2022, 7, 1), rep_id="rep-1"),
                    interaction(4, "phone", ts(2023, 2, 1), rep_id="rep-1", customer_id="c-2"),
                    interaction(5, "meeting", ts(2021, 12, 31, 23), rep_id="rep-1"),
                ]
            )
            got = uow.interactions.list(channels=["meeting", "phone"], start=ts(2022), end=ts(2023))
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
                [interaction(i, "web", ts(2020) + timedelta(hours=i % 4)) for i in range(11)]
            )
            assert list(uow.interactions.iter(batch_size=3)) == uow.interactions.list()

    def test_replaceinteraction(self) -> None:
        uow = self.make_uow()
        with uow:
            i = uow.interactions.add(interaction(1, "chat", ts(2020), subject="secret"))
            uow.interactions.replace(attrs.evolve(i, subject=None))
            assert uow.interactions.get("i-1").subject is None
            with raises(NotFoundError):
                uow.interactions.replace(interaction(2, "chat", ts(2020)))

    def test_duplicate_record_id_raises(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.interactions.add(interaction(1, "chat", ts(2020)))
            with raises(DuplicateError):
                uow.interactions.add(interaction(1, "web", ts(2021)))
            with raises(DuplicateError):
                uow.interactions.add_many([interaction(2, "web", ts(2021))] * 2)
            assert len(uow.interactions.list()) == 1

    # -- transactions and the columnar bridge ---------------------------------------------------
    def test_money_round_trips_exactly(self) -> None:
        uow = self.make_uow()
        amounts = ["0.000001", "19.99", "123456789.123456", "0", "5"]
        with uow:
            for i, a in enumerate(amounts):
                uow.transactions.add(transaction(i, "c-1", ts(2020, 1, 1 + i), a, currency="KWD"))
            got = [t.amount for t in uow.transactions.list()]
        assert [m.amount for m in got] == [Decimal(a) for a in amounts]
        assert {m.currency for m in got} == {"KWD"}

    def test_more_than_six_decimals_is_rejected(self) -> None:
        with self.make_uow() as uow:
            with raises(ValidationError):
                uow.transactions.add(transaction(1, "c-1", ts(2020), "0.0000001"))
            assert uow.transactions.count() == 0

    def test_transactions_filter_by_kind_customer_and_time(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.transactions.add_many(
                [
                    transaction(1, "c-1", ts(2020), kind="purchase"),
                    transaction(2, "c-1", ts(2021), kind="refund"),
                    transaction(3, "c-2", ts(2021, 6), kind="purchase"),
                ]
            )
            tx = uow.transactions
            assert [t.id for t in tx.list(kinds=["refund"])] == ["t-2"]
            assert [t.id for t in tx.list(customer_id="c-1")] == ["t-1", "t-2"]
            assert [t.id for t in tx.list(start=ts(2021))] == ["t-2", "t-3"]
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
                ts(2020, 1 + i % 12, 1 + i % 27),
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
                    transaction(1, "c-1", ts(2020), "1"),
                    transaction(2, "c-2", ts(2021), "2", kind="refund"),
                    transaction(3, "c-3", ts(2022), "3"),
                    transaction(4, "c-2", ts(2023), "4"),
                ]
            )
            log = uow.transactions.read_log(
                customer_ids=["c-2", "c-3", "c-9"], start=ts(2021), end=ts(2023)
            )
            assert log.customer_ids.tolist() == ["c-2", "c-3"] and log.amount.tolist() == [2.0, 3.0]
            assert uow.transactions.read_log(kinds=["refund"]).amount.tolist() == [2.0]
            empty = uow.transactions.read_log(start=ts(2030))
            assert len(empty) == 0 and empty.currency is None

    def test_read_log_refuses_mixed_currencies(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.transactions.add(transaction(1, "c-1", ts(2020), currency="EUR"))
            uow.transactions.add(transaction(2, "c-2", ts(2020), currency="USD"))
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
            uow.transactions.add(transaction(2, "c-1", ts(2020)))
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
                opportunity(1, expected_close=date(2024, 6, 30), probability=0.25),
                event("o-1", 0, None, "lead", ts(2024)),
            )
            moved = attrs.evolve(
                o, stage="won", stage_entered_at=ts(2024, 3), closed_at=ts(2024, 3)
            )
            saved = uow.opportunities.save(moved, [event("o-1", 1, "lead", "won", ts(2024, 3))])
            assert saved.version == 1
            uow.commit()
        with uow:
            assert uow.opportunities.get("o-1") == saved
            assert [e.to_stage for e in uow.opportunities.history("o-1")] == ["lead", "won"]
            assert uow.opportunities.find("o-9") is None

    def test_stale_save_raises_and_appends_nothing(self) -> None:
        uow = self.make_uow()
        with uow:
            o = uow.opportunities.add(opportunity(1), event("o-1", 0, None, "lead", ts(2024)))
            uow.opportunities.save(
                attrs.evolve(o, stage="qualified", stage_entered_at=ts(2024, 2)),
                [event("o-1", 1, "lead", "qualified", ts(2024, 2))],
            )
            with raises(ConcurrencyError):
                uow.opportunities.save(
                    attrs.evolve(o, stage="lost", stage_entered_at=ts(2024, 3)),
                    [event("o-1", 2, "qualified", "lost", ts(2024, 3))],
                )
            assert uow.opportunities.get("o-1").stage == "qualified"
            assert len(uow.opportunities.history("o-1")) == 2

    def test_opportunity_list_filters(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.opportunities.add(opportunity(1))
            uow.opportunities.add(opportunity(2, owner_id="rep-2", stage="won", closed_at=ts(2024)))
            uow.opportunities.add(opportunity(3, funnel="retail", customer_id="c-2"))
            assert ids_of(uow.opportunities.list(open_only=True)) == ["o-1", "o-3"]
            assert ids_of(uow.opportunities.list(owner_id="rep-2")) == ["o-2"]
            assert ids_of(uow.opportunities.list(funnel="retail")) == ["o-3"]
            assert ids_of(uow.opportunities.list(customer_id="c-1", stage="lead")) == ["o-1"]

    def test_read_history_matches_events(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.opportunities.add(opportunity(1), event("o-1", 0, None, "lead", ts(2024, 1)))
            o2 = uow.opportunities.add(
                opportunity(2, owner_id="rep-2", product="crm", created_at=ts(2024, 2)),
                event("o-2", 0, None, "lead", ts(2024, 2)),
            )
            uow.opportunities.save(
                attrs.evolve(o2, stage="won", stage_entered_at=ts(2024, 5)),
                [event("o-2", 1, "lead", "won", ts(2024, 5))],
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
            assert len(uow.opportunities.read_history(owner_id="rep-2", start=ts(2024, 3))) == 1
            assert len(uow.opportunities.read_history(funnel="other")) == 0

    # -- activities, surveys, costs -------------------------------------------------------------
    def test_activity_time_range_uses_due_or_done(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.activities.add_many(
                [
                    Activity(id="a-1", kind="call", rep_id="r", due_at=ts(2024, 1, 5)),
                    Activity(
                        id="a-2", kind="visit", rep_id="r", status="done", done_at=ts(2024, 2, 5)
                    ),
                    Activity(id="a-3", kind="task", rep_id="s", customer_id="c-1"),
                ]
            )
            assert [a.id for a in uow.activities.list(start=ts(2024, 1), end=ts(2024, 2))] == [
                "a-1"
            ]
            assert [a.id for a in uow.activities.list(rep_id="r")] == ["a-1", "a-2"]
            assert [a.id for a in uow.activities.list(customer_id="c-1")] == ["a-3"]
            done = uow.activities.update(uow.activities.get("a-1").mark_done(ts(2024, 3, 1), "ok"))
            assert uow.activities.get("a-1") == done
            assert [a.id for a in uow.activities.list(start=ts(2024, 3))] == ["a-1"]

    def test_surveys_and_costs_filters(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.surveys.add_many(
                [
                    SurveyResponse(
                        id="s-1", customer_id="c-1", responded_at=ts(2024), csat=5, survey="q"
                    ),
                    SurveyResponse(
                        id="s-2", customer_id="c-2", responded_at=ts(2023), nps=3, comment="slow"
                    ),
                ]
            )
            uow.costs.add(
                CostEntry(
                    id="k-1",
                    customer_id="c-1",
                    incurred_at=ts(2024),
                    amount=Money("4.2", "EUR"),
                    category="visit",
                )
            )
            assert [s.id for s in uow.surveys.list()] == ["s-2", "s-1"]
            assert [s.id for s in uow.surveys.list(survey="q")] == ["s-1"]
            assert [s.id for s in uow.surveys.list(customer_id="c-2", end=ts(2024))] == ["s-2"]
            assert uow.costs.get("k-1").amount == Money("4.2", "EUR")
            assert [k.id for k in uow.costs.list(category="visit", start=ts(2024))] == ["k-1"]
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
                interaction(
                    1, "phone", ts(2021), subject="flat for daughter", outcome="deposit kept"
                )
            )
            uow.interactions.add(
                interaction(2, "phone", ts(2021), customer_id="c-2", subject="other")
            )
            uow.transactions.add(transaction(1, "c-1", ts(2021), "50000", kind="withdrawal"))
            uow.opportunities.add(opportunity(1), event("o-1", 0, None, "lead", ts(2024)))
            uow.activities.add(
                Activity(
                    id="a-1", kind="call", rep_id="r", customer_id="c-1", subject="call Mrs Li"
                )
            )
            uow.surveys.add(
                SurveyResponse(
                    id="s-1", customer_id="c-1", responded_at=ts(2022), csat=4, comment="my son..."
                )
            )
            uow.costs.add(
                CostEntry(
                    id="k-1",
                    customer_id="c-1",
                    incurred_at=ts(2022),
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
        assert data["opportunities"][0]["edits"] == []  # field changes, with who and why
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
