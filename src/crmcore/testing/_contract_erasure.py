"""The contract's tests of privacy requests: export everything, erase every personal value.

A customer is seeded with a distinct marker in every value that
:data:`~crmcore.repositories._personal_data.PERSONAL_DATA` declares personal
(profile, external key, free texts, reasons of moves and edits, custom
fields, notes, every version of an alert); after
:func:`~crmcore.repositories.privacy.erase_customer` and ``commit()`` no
marker may be read back through any repository (every event, every stored
version of a document), while ids, amounts, stages and event numbers stay,
the removal of a deal's custom text is an edit of that field appended by the
erasure and an erased alert gets one more version (so a deal or an alert read
before the erasure cannot be written over it: ConcurrencyError), the erased
deal still takes new events, and a second erasure rewrites nothing. A backend needs ``uow.eraser()``
(:class:`~crmcore.repositories.privacy.Eraser`) to pass. Part of
:class:`crmcore.testing.contract.RepositoryContract`.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> class Check(ErasureContract):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> Check().test_erase_leaves_no_marker_in_any_read()
>>> sorted(PERSONAL_MARKERS)[:3]
['activity outcome', 'activity subject', 'address']
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import attrs

from crmcore.anomaly.alerts import Alert, AlertStep, alert_id
from crmcore.anomaly.store import AlertStore
from crmcore.errors import ConcurrencyError, RepositoryError
from crmcore.model import (
    Activity,
    Address,
    ContactPoint,
    CostEntry,
    FieldChange,
    Money,
    Relationship,
    StageChange,
    SurveyResponse,
)
from crmcore.repositories.privacy import (
    ERASED_BY,
    ERASED_NAME,
    erase_customer,
    export_customer,
    purge_erased_copies,
)
from crmcore.repositories.protocols import ServiceCaseUnitOfWork, UnitOfWork
from crmcore.serialization import to_dict
from crmcore.testing._contract_base import (
    ContractBase,
    customer,
    interaction,
    opportunity,
    raises,
    transaction,
    ts,
)

__all__ = ["PERSONAL_MARKERS", "ErasureContract", "markers_in", "seed_personal_data"]

_LONG = "zqxlong " + "".join(f"{(i * 7919) % 65521:04x}" for i in range(1500))

PERSONAL_MARKERS: dict[str, str] = {
    "name": "Zqxname Li",
    "email": "zqxmail@example.com",
    "phone": "+86 10 5550 1947",
    "address": "zqxstreet 7",
    "birthday": "1947-03-05",
    "tag": "zqxtag",
    "relationship": "zqxspouse",
    "interaction subject": "zqxsubject",
    "interaction outcome": _LONG,
    "custom field": "zqxcustom",
    "custom field edited": "zqxcustom2",
    "edit reason": "zqxeditreason",
    "move reason": "zqxmovereason",
    "lost reason": "zqxlostreason",
    "activity subject": "zqxactsubject",
    "activity outcome": "zqxactoutcome",
    "deal activity subject": "zqxdealact",
    "survey comment": "zqxcomment",
    "cost note": "zqxcostnote",
    "alert note": "zqxalertnote",
    "alert outcome": "zqxalertoutcome",
}
"""A marker per kind of personal value that :func:`seed_personal_data` stores (the
``interaction outcome`` is a long text that starts with ``zqxlong``; the e-mail is also the
customer's external key)."""


def seed_personal_data(uow: UnitOfWork) -> None:
    """Store customer ``c-1`` with every marker of :data:`PERSONAL_MARKERS`, over several
    commits (profile updated once, an alert in three versions, a deal edited, moved and lost),
    and customer ``c-2`` with no personal data; commits."""
    m = PERSONAL_MARKERS
    with uow:
        uow.customers.add(customer(2, external_key="c2-key"))
        uow.customers.add(
            customer(
                1,
                name=m["name"],
                contact_points=[
                    ContactPoint("email", m["email"]),
                    ContactPoint("phone", m["phone"]),
                ],
                birthday=date.fromisoformat(m["birthday"]),
                address=Address(country="CN", city="Beijing", lines=(m["address"],)),
                tags=[m["tag"]],
                relationships=[Relationship("spouse", m["relationship"])],
                external_key=m["email"],
                acquisition_channel="referral",
            )
        )
        uow.interactions.add(
            interaction(
                1,
                "phone",
                ts(2023),
                subject=m["interaction subject"],
                outcome=m["interaction outcome"],
            )
        )
        uow.interactions.add(interaction(2, "email", ts(2023), customer_id="c-2", subject="kept"))
        uow.transactions.add(transaction(1, "c-1", ts(2023), "50000", kind="withdrawal"))
        uow.transactions.add(transaction(2, "c-2", ts(2023), "70"))
        deal = opportunity(1, custom={"contact": m["custom field"], "seats": 40})
        uow.opportunities.add(deal)
        uow.activities.add(
            Activity(
                id="a-1",
                kind="call",
                rep_id="rep-1",
                customer_id="c-1",
                subject=m["activity subject"],
                status="done",
                done_at=ts(2024, 1, 3),
                outcome=m["activity outcome"],
            )
        )
        uow.activities.add(
            Activity(
                id="a-2",
                kind="meeting",
                rep_id="rep-1",
                opportunity_id="o-1",
                subject=m["deal activity subject"],
            )
        )
        uow.surveys.add(
            SurveyResponse(
                id="s-1",
                customer_id="c-1",
                responded_at=ts(2024),
                csat=4,
                comment=m["survey comment"],
            )
        )
        uow.costs.add(
            CostEntry(
                id="k-1",
                customer_id="c-1",
                incurred_at=ts(2024),
                amount=Money("3", "EUR"),
                category="visit",
                note=m["cost note"],
            )
        )
        uow.commit()
    with uow:  # the profile changes once before the erasure (older copies in the files)
        c1 = uow.customers.get("c-1")
        uow.customers.update(c1.with_changes(segment="gold"))
        o = uow.opportunities.get("o-1")
        edit = FieldChange(
            opportunity_id="o-1",
            sequence=1,
            field="custom.contact",
            old=m["custom field"],
            new=m["custom field edited"],
            at=ts(2024, 1, 2),
            by="rep-1",
            reason=m["edit reason"],
        )
        o = uow.opportunities.save(
            attrs.evolve(o, custom={"contact": m["custom field edited"], "seats": 40}), [edit]
        )
        move = StageChange(
            opportunity_id="o-1",
            sequence=2,
            from_stage="lead",
            to_stage="qualified",
            at=ts(2024, 1, 5),
            by="rep-1",
            reason=m["move reason"],
        )
        o = uow.opportunities.save(
            attrs.evolve(o, stage="qualified", stage_entered_at=ts(2024, 1, 5)), [move]
        )
        lost = StageChange(
            opportunity_id="o-1",
            sequence=3,
            from_stage="qualified",
            to_stage="lost",
            at=ts(2024, 2, 1),
            by="rep-1",
            reason=m["lost reason"],
        )
        uow.opportunities.save(
            attrs.evolve(
                o,
                stage="lost",
                stage_entered_at=ts(2024, 2, 1),
                closed_at=ts(2024, 2, 1),
                lost_reason=m["lost reason"],
            ),
            [lost],
        )
        store = AlertStore(uow)
        at = ts(2023, 1, 1, 9)
        store.add([_alert("c-1", at), _alert("c-2", at)])
        aid = alert_id("bank", "big", "c-1", "tx:t-1")
        store.contact(aid, at=ts(2023, 1, 2), by="rep-1", note=m["alert note"])
        store.resolve(aid, m["alert outcome"], at=ts(2023, 1, 3), by="rep-1", note=m["alert note"])
        uow.commit()


def _alert(customer_id: str, at: Any) -> Alert:
    tid = "t-1" if customer_id == "c-1" else "t-2"
    return Alert(
        id=alert_id("bank", "big", customer_id, f"tx:{tid}"),
        ruleset="bank",
        rule="big",
        rule_version=1,
        rule_type="threshold",
        customer_id=customer_id,
        transaction_ids=(tid,),
        occurred_at=at,
        observed=50000.0,
        baseline=1000.0,
        deviation=50.0,
        history=3,
        explanation="Withdrawal of 50,000.00",
        routed_to="rep-1",
        window=f"tx:{tid}",
        steps=(AlertStep(status="open", at=at),),
    )


def markers_in(text: str) -> list[str]:
    """The names of the markers of :data:`PERSONAL_MARKERS` found in ``text``."""
    found = [k for k, v in PERSONAL_MARKERS.items() if v in text]
    if "zqxlong" in text and "interaction outcome" not in found:
        found.append("interaction outcome")
    return found


class ErasureContract(ContractBase):
    """Tests of export and erasure (see the module docstring)."""

    def _seeded_person(self) -> UnitOfWork:
        uow = self.make_uow()
        seed_personal_data(uow)
        return uow

    def _everything(self, uow: UnitOfWork) -> str:
        """Every record, event and document version readable through the protocols, as text."""
        out: list[Any] = []
        with uow:
            out += [to_dict(c) for c in uow.customers.list()]
            out += [to_dict(r) for r in uow.interactions.list()]
            out += [to_dict(r) for r in uow.transactions.list()]
            for o in uow.opportunities.list():
                out.append(to_dict(o))
                out += [to_dict(e) for e in uow.opportunities.events(o.id)]
            out += [to_dict(r) for r in uow.activities.list()]
            out += [to_dict(r) for r in uow.surveys.list()]
            out += [to_dict(r) for r in uow.costs.list()]
            h = uow.opportunities.read_history()
            out.append(repr(None if h.reason_labels is None else h.reason_labels.tolist()))
            f = uow.opportunities.read_changes()
            out += [repr(x.tolist()) for x in (f.reason_labels, f.old, f.new)]
            for kind in ("anomaly_alert",):
                for key in uow.documents.keys(kind):
                    _, latest = uow.documents.get(kind, key)
                    out += [
                        uow.documents.get(kind, key, version=v)[0] for v in range(1, latest + 1)
                    ]
        return json.dumps(out, default=str)

    def test_export_customer_holds_every_personal_value(self) -> None:
        uow = self._seeded_person()
        with uow:
            data = export_customer(uow, "c-1")
        text = json.dumps(data)
        missing = sorted(set(PERSONAL_MARKERS) - set(markers_in(text)))
        assert missing == [], f"the export lacks {missing}"
        assert [a["customer_id"] for a in data["alerts"]] == ["c-1"]
        assert [a["id"] for a in data["activities"]] == ["a-1", "a-2"]
        assert data["format"] == "crmcore.customer-export/2"

    def test_export_finds_the_alerts_of_any_customer_id(self) -> None:
        ids = ["c-1", "C-1", "c%1", "c_1", 'c"1', "c\\1", "c-é"]
        uow = self.make_uow()
        with uow:
            for cid in ids:
                uow.customers.add(customer(0, id=cid))
            AlertStore(uow).add([_alert(cid, ts(2023)) for cid in ids])
            uow.commit()
        with uow:
            for cid in ids:
                got = [a["customer_id"] for a in export_customer(uow, cid)["alerts"]]
                assert got == [cid], (cid, got)

    def test_erase_leaves_no_marker_in_any_read(self) -> None:
        uow = self._seeded_person()
        assert len(markers_in(self._everything(uow))) == len(PERSONAL_MARKERS)
        with uow:
            counts = erase_customer(uow, "c-1")
            uow.commit()
        assert counts == {
            "customers": 1,
            "interactions": 1,
            "opportunities": 1,
            "events": 4,
            "activities": 2,
            "surveys": 1,
            "costs": 1,
            "alerts": 1,
            **({"service_cases": 0} if isinstance(uow, ServiceCaseUnitOfWork) else {}),
        }, counts
        assert markers_in(self._everything(uow)) == []
        with uow:
            assert markers_in(json.dumps(export_customer(uow, "c-1"))) == []

    def test_erase_keeps_what_analytics_use(self) -> None:
        uow = self._seeded_person()
        with uow:
            before = [e.sequence for e in uow.opportunities.events("o-1")]
            erase_customer(uow, "c-1")
            uow.commit()
        with uow:
            c = uow.customers.get("c-1")
            assert (c.name, c.external_key, c.contact_points, c.erased) == (
                ERASED_NAME,
                None,
                (),
                True,
            )
            assert (c.segment, c.acquisition_channel) == ("gold", "referral")
            o = uow.opportunities.get("o-1")
            assert (o.stage, o.version, o.amount, o.lost_reason) == (
                "lost",
                4,
                Money("1200.50", "EUR"),
                None,
            )
            assert dict(o.custom) == {"seats": 40}
            events = uow.opportunities.events("o-1")
            assert [e.sequence for e in events] == [*before, 4]
            assert [getattr(e, "to_stage", None) for e in events] == [
                "lead",
                None,
                "qualified",
                "lost",
                None,
            ]
            removal = events[-1]  # the erasure's own edit: custom.contact removed
            assert isinstance(removal, FieldChange)
            assert (removal.field, removal.old, removal.new, removal.by, removal.reason) == (
                "custom.contact",
                None,
                None,
                ERASED_BY,
                None,
            )
            assert removal.at >= events[-2].at
            assert uow.transactions.read_log(customer_ids=["c-1"]).amount.tolist() == [50000.0]
            assert uow.surveys.get("s-1").csat == 4
            assert uow.costs.get("k-1").amount == Money("3", "EUR")
            assert [a.status.value for a in AlertStore(uow).list(customer_id="c-1")] == ["resolved"]
            key = alert_id("bank", "big", "c-1", "tx:t-1")
            # the erased alert's three versions, and a fourth: the erased latest again
            assert uow.documents.get("anomaly_alert", key)[1] == 4
            assert (
                uow.documents.get("anomaly_alert", key)[0]
                == uow.documents.get("anomaly_alert", key, version=3)[0]
            )

    def test_erase_leaves_other_customers_alone(self) -> None:
        uow = self._seeded_person()
        with uow:
            other = export_customer(uow, "c-2")
            erase_customer(uow, "c-1")
            uow.commit()
        with uow:
            assert export_customer(uow, "c-2") == other

    def test_erase_twice_rewrites_nothing(self) -> None:
        uow = self._seeded_person()
        with uow:
            erase_customer(uow, "c-1")
            uow.commit()
        with uow:
            again = erase_customer(uow, "c-1")
            uow.commit()
        assert set(again.values()) == {0}, again

    def test_erase_without_commit_changes_nothing(self) -> None:
        uow = self._seeded_person()
        before = self._everything(uow)
        with uow:
            erase_customer(uow, "c-1")
        assert self._everything(uow) == before

    def test_an_erased_deal_takes_new_events(self) -> None:
        uow = self._seeded_person()
        with uow:
            erase_customer(uow, "c-1")
            uow.commit()
        with uow:
            o = uow.opportunities.get("o-1")
            edit = FieldChange(
                opportunity_id="o-1",
                sequence=5,
                field="custom.seats",
                old=40,
                new=41,
                at=uow.opportunities.events("o-1")[-1].at,  # not before the erasure's edit
                by="rep-1",
            )
            saved = uow.opportunities.save(attrs.evolve(o, custom={"seats": 41}), [edit])
            uow.commit()
        with uow:
            assert uow.opportunities.get("o-1") == saved and saved.version == 5

    def test_a_stale_deal_cannot_bring_erased_values_back(self) -> None:
        uow = self._seeded_person()
        with uow:
            stale = uow.opportunities.get("o-1")
            erase_customer(uow, "c-1")
            uow.commit()
        with uow:
            edit = FieldChange(
                opportunity_id="o-1",
                sequence=4,
                field="custom.seats",
                old=40,
                new=41,
                at=ts(2024, 3, 1),
                by="rep-1",
            )
            custom = {**dict(stale.custom), "seats": 41}
            with raises(ConcurrencyError):  # the erasure's edit moved the version on
                uow.opportunities.save(attrs.evolve(stale, custom=custom), [edit])
            assert markers_in(json.dumps(to_dict(uow.opportunities.get("o-1")))) == []
            assert uow.opportunities.get("o-1").version == 4

    def test_a_stale_alert_cannot_bring_erased_values_back(self) -> None:
        uow = self._seeded_person()
        key = alert_id("bank", "big", "c-1", "tx:t-1")
        with uow:
            stale, version = uow.documents.get("anomaly_alert", key)
            erase_customer(uow, "c-1")
            uow.commit()
        with uow:
            confirmed = {**stale, "outcome": f"{stale['outcome']} (confirmed)"}
            with raises(ConcurrencyError):  # the erasure added a version
                uow.documents.put("anomaly_alert", key, confirmed, expected_version=version)
            assert markers_in(json.dumps(uow.documents.get("anomaly_alert", key)[0])) == []

    def test_purge_erased_copies_runs_outside_a_block(self) -> None:
        uow = self._seeded_person()
        with uow:
            erase_customer(uow, "c-1")
            uow.commit()
            with raises(RepositoryError):
                purge_erased_copies(uow)
        assert isinstance(purge_erased_copies(uow), list)
        assert markers_in(self._everything(uow)) == []
