"""Reminders that become work: rules as data, planned activities, idempotency, consent,
owners, channels and far dates, on the memory and SQLite backends, through the public API."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcore.errors import ConcurrencyError, ValidationError
from crmcore.model import Consent, ContactPoint, Customer, Money, Transaction
from crmcore.pipeline import TOP_IN_BEST, Funnel, advance, create_opportunity, save_funnel
from crmcore.relationship import (
    Anniversary,
    Birthday,
    DormantCustomer,
    LowPAlive,
    ReminderRules,
    Renewal,
    WinFollowUp,
    load_reminder_rules,
    plan_reminders,
    reminder_activity_id,
    reminder_rules_from_dict,
    reminder_rules_to_dict,
    save_reminder_rules,
)
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
from crmcore.valuation import BGNBDModel, BGNBDParams, summarize_transactions

UTC0 = datetime(2026, 3, 1, tzinfo=UTC)
EMAIL = [ContactPoint("email", "x@example.com")]
PHONE = [ContactPoint("mobile", "+1 555 0100")]


def t(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture(params=["memory", "sqlite"])
def make_uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    if request.param == "memory":
        store = MemoryUnitOfWork()
        yield lambda: store
    else:
        url = f"sqlite:///{tmp_path / 'rem.db'}"
        first = SqlUnitOfWork.from_url(url)
        yield lambda: first


def person(cid: str, **kw: Any) -> Customer:
    kw.setdefault("consent", Consent(contact=True))
    kw.setdefault("contact_points", EMAIL + PHONE)
    return Customer(id=cid, name=f"Name {cid}", **kw)


def add(uow: Any, *customers: Customer) -> None:
    with uow:
        uow.customers.add_many(customers)
        uow.commit()


def run(uow: Any, rules: ReminderRules, **kw: Any) -> Any:
    with uow:
        plan = plan_reminders(uow, rules, **kw)
        uow.commit()
    return plan


BDAY = ReminderRules(name="bakery", rules=[Birthday(name="birthday", days_ahead=3, queue="team-a")])


def test_birthday_is_planned_once_for_the_owner(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    add(uow, person("c-1", birthday=date(1980, 3, 14), owner_id="ann"))
    first = run(uow, BDAY, as_of="2026-03-11")
    second = run(uow, BDAY, as_of="2026-03-11")
    third = run(uow, BDAY, as_of="2026-03-01", days=30)  # an overlapping window
    assert (first.planned, second.planned, second.existing, third.planned) == (1, 0, 1, 0)
    a = first.activities[0]
    assert a.id == reminder_activity_id("bakery", "birthday", "c-1", "2026-03-14")
    assert (a.rep_id, a.customer_id, a.due_at) == ("ann", "c-1", t(2026, 3, 11, 9))
    assert a.subject is not None and "Birthday of customer c-1 on 2026-03-14" in a.subject
    with uow:
        assert len(uow.activities.list(customer_id="c-1")) == 1
    # next year: a new occasion, a new activity
    assert run(uow, BDAY, as_of="2027-03-11").planned == 1


def test_a_done_or_cancelled_reminder_is_not_planned_again(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    add(uow, person("c-1", birthday=date(1980, 3, 14), owner_id="ann"))
    a = run(uow, BDAY, as_of="2026-03-11").activities[0]
    with uow:
        uow.activities.update(a.mark_done(t(2026, 3, 11, 10), outcome="called"))
        uow.commit()
    again = run(uow, BDAY, as_of="2026-03-11")
    assert (again.planned, again.existing) == (0, 1)
    # rescheduled far outside the window and done later: still the same reminder
    with uow:
        later = attrs.evolve(a, due_at=t(2027, 6, 1)).mark_done(t(2027, 6, 2), outcome="late")
        uow.activities.update(later)
        uow.commit()
    third = run(uow, BDAY, as_of="2026-03-11")
    assert (third.planned, third.existing) == (0, 1)


def test_no_consent_no_activity_and_the_reason(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    add(
        uow,
        person("c-1", birthday=date(1980, 3, 14), owner_id="ann", consent=Consent(contact=False)),
        person("c-2", birthday=date(1980, 3, 14), owner_id="ann", erased=False),
    )
    plan = run(uow, BDAY, as_of="2026-03-11")
    df = plan.to_pandas().set_index("customer_id")
    assert df.loc["c-1", "status"] == "skipped"
    assert df.loc["c-1", "reason"] == "no contact consent"
    assert [a.customer_id for a in plan.activities] == ["c-2"]


def test_missing_owner_goes_to_the_team_queue_or_is_skipped(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    add(uow, person("c-1", birthday=date(1980, 3, 14)))
    plan = run(uow, BDAY, as_of="2026-03-11")
    assert plan.activities[0].rep_id == "team-a"
    assert "team queue team-a" in plan.to_pandas()["reason"][0]
    no_queue = ReminderRules(name="b2", rules=[Birthday(name="birthday", days_ahead=3)])
    skipped = run(uow, no_queue, as_of="2026-03-11")
    assert skipped.planned == 0
    assert skipped.to_pandas()["reason"].tolist() == ["no owner and no queue"]


def test_preferred_channel_reachability_and_unknown_channels(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    add(
        uow,
        person("c-1", birthday=date(1980, 3, 14), owner_id="ann"),
        person("c-2", birthday=date(1980, 3, 14), owner_id="ann", contact_points=EMAIL),
        person("c-3", birthday=date(1980, 3, 14), owner_id="ann", contact_points=()),
    )
    prefs = {"c-1": "email", "c-2": "sms", "c-3": "phone"}
    plan = run(uow, BDAY, as_of="2026-03-11", preferred_channels=prefs)
    df = plan.to_pandas().set_index("customer_id")
    assert df.loc["c-1", "channel"] == "email" and "preferred channel" in df.loc["c-1", "reason"]
    assert df.loc["c-2", "channel"] == "email"  # sms is not one of the rule's channels
    assert "not one of the rule's" in df.loc["c-2", "reason"]
    assert df.loc["c-3", "status"] == "skipped" and "no contact data" in df.loc["c-3", "reason"]
    kinds = {a.customer_id: a.kind.value for a in plan.activities}
    assert kinds == {"c-1": "email", "c-2": "email"}
    with uow, pytest.raises(ValidationError, match=r"preferred_channels\['c-1'\].*'pigeon'"):
        plan_reminders(uow, BDAY, as_of="2026-03-11", preferred_channels={"c-1": "pigeon"})
    with pytest.raises(ValidationError, match=r"\$\.rules\[0\]\.channels: .*'pigeon'"):
        reminder_rules_from_dict(
            {"name": "x", "rules": [{"type": "birthday", "name": "b", "channels": ["pigeon"]}]}
        )


def test_far_dates(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    add(
        uow,
        person("old", birthday=date(1, 3, 14), owner_id="ann", acquired_at=t(1, 3, 14)),
        person("leap", birthday=date(2000, 2, 29), owner_id="ann", acquired_at=t(2000, 2, 29)),
        person("future", owner_id="ann", acquired_at=t(9000, 3, 14)),
    )
    rules = ReminderRules(
        name="r", rules=[Birthday(name="b", days_ahead=0), Anniversary(name="a", days_ahead=0)]
    )
    plan = run(uow, rules, as_of="2026-02-28", days=20)
    got = sorted(zip(plan.customer_ids, plan.rules, plan.occasions, strict=True))
    assert got == [
        ("leap", "a", "2026-02-28"),  # 29 February falls on 28 February in other years
        ("leap", "b", "2026-02-28"),
        ("old", "a", "2026-03-14"),
        ("old", "b", "2026-03-14"),
    ]
    reasons = dict(zip(zip(plan.customer_ids, plan.rules, strict=True), plan.reasons, strict=True))
    assert reasons["old", "a"].startswith("2025th anniversary of the relationship")
    # the end of the calendar: nothing past 9999-12-31, no overflow
    late = run(uow, rules, as_of="9999-12-20", days=60)
    assert all(o <= "9999-12-31" for o in late.occasions)
    early = run(uow, rules, as_of="0001-01-01", days=100)
    assert early.planned == 1 and early.occasions.tolist() == ["0001-03-14"]


def _won_deal(uow: Any, oid: str, customer: str, won_at: datetime, **custom: Any) -> None:
    f = Funnel.linear("deals", {"lead": 0.2})
    with uow:
        if "deals" not in uow.documents.keys("funnel"):
            save_funnel(uow, f)
        create_opportunity(
            uow,
            f,
            id=oid,
            customer_id=customer,
            owner_id="bob",
            at=won_at - timedelta(days=10),
            amount=Money("100", "EUR"),
            custom=custom,
        )
        advance(uow, oid, "won", expected_version=0, funnel=f, by="bob", at=won_at)
        uow.commit()


def test_win_follow_up_and_renewal(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    add(uow, person("c-1", owner_id="ann"), person("c-2"))
    _won_deal(uow, "o-1", "c-1", t(2026, 2, 25), renewal_date="2026-04-15")
    _won_deal(uow, "o-2", "c-2", t(2026, 2, 27), renewal_date="next spring")
    rules = ReminderRules(
        name="sales",
        rules=[WinFollowUp(name="follow-up", after_days=5), Renewal(name="renewal", days_ahead=45)],
    )
    plan = run(uow, rules, as_of="2026-03-01", days=7)
    df = plan.to_pandas().sort_values(["rule", "customer_id"]).reset_index(drop=True)
    assert df[["rule", "customer_id", "occasion", "rep_id", "status"]].fillna(
        ""
    ).values.tolist() == [
        ["follow-up", "c-1", "o-1", "bob", "planned"],
        ["follow-up", "c-2", "o-2", "bob", "planned"],
        ["renewal", "c-1", "o-1@2026-04-15", "ann", "planned"],
        ["renewal", "c-2", "o-2@next spring", "", "skipped"],
    ]
    assert "not an ISO date" in df["reason"][3]
    assert all(a.opportunity_id in ("o-1", "o-2") for a in plan.activities)
    assert run(uow, rules, as_of="2026-03-01", days=7).planned == 0


def _close(uow: Any, oid: str, customer: str, f: Funnel, won_at: datetime, save: bool) -> None:
    """A deal of ``customer`` on funnel ``f`` moved stage by stage to its won stage."""
    won = next(s.name for s in f.stages if s.kind.value == "won")
    with uow:
        if save:
            save_funnel(uow, f)
        create_opportunity(
            uow, f, id=oid, customer_id=customer, owner_id="bob", at=won_at - timedelta(days=10)
        )
        path = [*[s.name for s in f.stages if s.kind.value == "open"][1:], won]
        for v, stage in enumerate(path):
            advance(uow, oid, stage, expected_version=v, funnel=f, by="bob", at=won_at)
        uow.commit()


def test_win_follow_up_uses_each_deals_funnel(make_uow: Callable[[], Any]) -> None:
    """By default a deal is won in its own funnel's won stage: a preset's (TOP_IN_BEST: "WIN",
    not stored), a stored custom funnel's ("closed_won"); explicit won_stages are used as
    given for every funnel."""
    uow = make_uow()
    add(uow, person("c-1", owner_id="ann"), person("c-2", owner_id="ann"))
    _close(uow, "o-tib", "c-1", TOP_IN_BEST, t(2026, 2, 25), save=False)
    custom = Funnel.linear("custom", {"open": 0.5}, won="closed_won")
    _close(uow, "o-cw", "c-2", custom, t(2026, 2, 26), save=True)
    default = ReminderRules(name="s", rules=[WinFollowUp(name="f", after_days=5)])
    plan = run(uow, default, as_of="2026-03-01", days=7, write=False)
    assert sorted(plan.occasions.tolist()) == ["o-cw", "o-tib"]
    assert set(plan.statuses.tolist()) == {"planned"}
    explicit = ReminderRules(name="s", rules=[WinFollowUp(name="f", won_stages=["won"])])
    assert len(run(uow, explicit, as_of="2026-03-01", days=7, write=False)) == 0
    only = ReminderRules(name="s", rules=[WinFollowUp(name="f", after_days=5, won_stages=["WIN"])])
    assert run(uow, only, as_of="2026-03-01", days=7, write=False).occasions.tolist() == ["o-tib"]
    data = reminder_rules_to_dict(default)
    assert data["rules"][0]["won_stages"] is None
    assert reminder_rules_from_dict(json.loads(json.dumps(data))) == default


def test_concurrent_runs_on_sqlite_double_nothing(tmp_path: Path) -> None:
    """Two runs at once on one SQLite file: the second meets the first's write (a
    ConcurrencyError, nothing of its own written); retried after the first committed, it
    finds every activity stored (one batch read of the customers' activity ids)."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    first, second = SqlUnitOfWork.from_url(url), SqlUnitOfWork.from_url(url)
    add(first, *(person(f"c-{i}", owner_id="ann", birthday=date(1980, 3, 14)) for i in range(5)))
    rules = ReminderRules(name="r", rules=[Birthday(name="b", days_ahead=2)])
    with first:
        assert plan_reminders(first, rules, as_of="2026-03-12").planned == 5
        with second, pytest.raises(ConcurrencyError):
            plan_reminders(second, rules, as_of="2026-03-12")
        first.commit()
    again = run(second, rules, as_of="2026-03-12")
    assert (again.planned, again.existing) == (0, 5)
    with second:
        assert len(second.activities.list()) == 5


def _purchases(uow: Any, cid: str, days: list[int], amount: str = "10") -> None:
    with uow:
        uow.transactions.add_many(
            Transaction(
                id=f"{cid}-t{i}",
                customer_id=cid,
                occurred_at=t(2025, 1, 1) + timedelta(days=d),
                amount=Money(amount, "EUR"),
                kind="purchase",
            )
            for i, d in enumerate(days)
        )
        uow.commit()


def test_dormant_against_the_customers_own_gaps(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    add(uow, person("steady", owner_id="ann"), person("quiet", owner_id="ann"))
    _purchases(uow, "steady", [0, 10, 20, 30, 40, 50, 60, 420])  # last day 420 = 2026-02-25
    _purchases(uow, "quiet", [0, 30, 60, 90, 100])  # last day 100 = 2025-04-11
    rule = DormantCustomer(name="quiet", factor=1.5, quantile=0.9)
    plan = run(uow, ReminderRules(name="r", rules=[rule]), as_of="2026-03-01")
    # reference: the lower 0.9-quantile of the customer's own gaps, times 1.5
    for cid, days in {
        "steady": [0, 10, 20, 30, 40, 50, 60, 420],
        "quiet": [0, 30, 60, 90, 100],
    }.items():
        gaps = sorted(b - a for a, b in itertools.pairwise(days))
        usual = gaps[math.floor(0.9 * (len(gaps) - 1))]
        quiet = (date(2026, 3, 1) - (date(2025, 1, 1) + timedelta(days=days[-1]))).days
        assert (cid in plan.customer_ids) == (quiet > math.floor(1.5 * usual)), cid
    assert plan.occasions.tolist() == ["2025-04-11"]


def test_purchases_are_read_strictly_before_as_of(make_uow: Callable[[], Any]) -> None:
    """A purchase later on the as_of day (15:00 after an 08:00 as_of) is not known yet: the
    dormant and P(alive) rules plan exactly what they plan without it."""
    rules = ReminderRules(
        name="r",
        rules=[
            DormantCustomer(name="quiet", factor=1.5, quantile=0.9),
            LowPAlive(name="slipping", below=0.5, min_value=100),
        ],
    )
    model = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426), time_unit="D")
    plans = []
    for late in (False, True):
        uow = make_uow() if late else MemoryUnitOfWork()
        add(uow, person("c", owner_id="ann"))
        _purchases(uow, "c", [0, 5, 9, 14, 20], amount="500")  # last day 20 = 2025-01-21
        if late:
            with uow:
                uow.transactions.add(
                    Transaction(
                        id="late",
                        customer_id="c",
                        occurred_at=t(2026, 3, 12, 15),
                        amount=Money("500", "EUR"),
                        kind="purchase",
                    )
                )
                uow.commit()
        plans.append(
            run(uow, rules, as_of="2026-03-12T08:00Z", model=model, write=False).to_pandas()
        )
    without, with_late = plans
    assert sorted(without["rule"]) == ["quiet", "slipping"]
    assert set(without["occasion"]) == {"2025-01-21"}
    assert with_late.equals(without)


def test_low_p_alive_for_valuable_customers(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    add(uow, person("rich", owner_id="ann"), person("poor", owner_id="ann"))
    _purchases(uow, "rich", [0, 5, 9, 14], amount="500")
    _purchases(uow, "poor", [0, 5, 9, 14], amount="1")
    model = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426), time_unit="D")
    rule = LowPAlive(name="slipping", below=0.5, min_value=100)
    rules = ReminderRules(name="r", rules=[rule])
    with uow, pytest.raises(ValidationError, match="needs 'model'"):
        plan_reminders(uow, rules, as_of="2026-03-01")
    plan = run(uow, rules, as_of="2026-03-01", model=model)
    with uow:
        log = uow.transactions.read_log()
    s = summarize_transactions(log, time_unit="D", observation_end="2026-03-01")
    alive = dict(zip(s.customer_ids, model.probability_alive(s), strict=True))
    assert alive["rich"] < 0.5
    assert plan.customer_ids.tolist() == ["rich"]
    assert f"{alive['rich']:.3f}" in plan.reasons[0]
    by_value = run(uow, rules, as_of="2026-03-02", model=model, values={"poor": 1e6})
    assert by_value.customer_ids.tolist() == ["poor"]


def test_rules_round_trip_and_storage(make_uow: Callable[[], Any]) -> None:
    rules = ReminderRules(
        name="all",
        rules=[
            Birthday(name="b", channels=("sms", "email"), kind="task", segments=("gold",)),
            Anniversary(name="a", years=(1, 5)),
            Renewal(name="r", field="renews_on"),
            WinFollowUp(name="w", won_stages=("WON",)),
            DormantCustomer(name="d"),
            LowPAlive(name="p", min_value=1000),
        ],
    )
    data = json.loads(json.dumps(reminder_rules_to_dict(rules)))
    assert reminder_rules_from_dict(data) == rules
    uow = make_uow()
    with uow:
        assert save_reminder_rules(uow, rules) == 1
        uow.commit()
    with uow:
        loaded = load_reminder_rules(uow, "all")
    assert loaded.version == 1 and loaded.rules == rules.rules
    bad = {"name": "x", "rules": [{"type": "birthday", "name": "b", "days_ahead": -1},
                                  {"type": "nope", "name": "n"}, {"type": "birthday"}]}  # fmt: skip
    with pytest.raises(ValidationError) as e:
        reminder_rules_from_dict(bad)
    assert "$.rules[2].name: a top-level rule needs a name" in str(e.value)
    with pytest.raises(ValidationError, match=r"\$\.rules\[0\]: unknown field\(s\) \['extra'\]"):
        reminder_rules_from_dict(
            {"name": "x", "rules": [{"type": "birthday", "name": "b", "extra": 1}]}
        )


@st.composite
def customers(draw: st.DrawFn) -> list[Customer]:
    n = draw(st.integers(1, 12))
    return [
        Customer(
            id=f"c-{i}",
            name="N",
            birthday=draw(st.none() | st.dates(date(1, 1, 1), date(9999, 12, 31))),
            acquired_at=draw(
                st.none()
                | st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)).map(
                    lambda d: d.replace(tzinfo=UTC)
                )
            ),
            owner_id=draw(st.none() | st.sampled_from(["ann", "bob"])),
            consent=Consent(contact=draw(st.booleans())),
            contact_points=draw(st.sampled_from([(), EMAIL, PHONE, EMAIL + PHONE])),
        )
        for i in range(n)
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cs=customers(),
    as_of=st.dates(date(1, 1, 1), date(9999, 12, 31)),
    days=st.integers(1, 400),
    queue=st.none() | st.just("queue"),
    ahead=st.integers(0, 366),
)
def test_invariants_idempotent_and_consent(
    cs: list[Customer], as_of: date, days: int, queue: str | None, ahead: int
) -> None:
    uow = MemoryUnitOfWork()
    add(uow, *cs)
    rules = ReminderRules(
        name="h",
        rules=[
            Birthday(name="b", days_ahead=ahead, queue=queue),
            Anniversary(name="a", days_ahead=ahead, queue=queue),
        ],
    )
    first = run(uow, rules, as_of=as_of.isoformat(), days=days)
    second = run(uow, rules, as_of=as_of.isoformat(), days=days)
    assert second.planned == 0 and second.existing == first.planned + first.existing
    assert set(second.ids) == set(first.ids)
    consent = {c.id: c.consent.contact for c in cs}
    for a in first.activities:
        assert consent[a.customer_id]
        assert a.due_at is not None
        assert as_of <= a.due_at.date() < as_of + timedelta(days=days)
    assert len(set(first.ids)) == len(first.ids)
    # each stored reminder is one of this plan's
    with uow:
        stored = {a.id for a in uow.activities.list()}
    assert stored == {a.id for a in first.activities}
    assert np.all(np.isin(first.statuses, ["planned", "exists", "skipped"]))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cs=customers(), as_of=st.dates(date(1990, 1, 1), date(2030, 12, 31)), days=st.integers(1, 60)
)
def test_invariants_on_sqlite_match_memory(cs: list[Customer], as_of: date, days: int) -> None:
    import tempfile

    rules = ReminderRules(
        name="h", rules=[Birthday(name="b", queue="queue"), Anniversary(name="a", days_ahead=0)]
    )
    with tempfile.TemporaryDirectory() as d:
        sql = SqlUnitOfWork.from_url(f"sqlite:///{d}/h.db")
        mem = MemoryUnitOfWork()
        plans = []
        for uow in (sql, mem):
            add(uow, *cs)
            first = run(uow, rules, as_of=as_of.isoformat(), days=days)
            second = run(uow, rules, as_of=as_of.isoformat(), days=days)
            assert second.planned == 0 and set(second.ids) == set(first.ids)
            consent = {c.id: c.consent.contact for c in cs}
            assert all(consent[a.customer_id] for a in first.activities)
            plans.append(first.to_pandas().sort_values("id").reset_index(drop=True))
        assert plans[0].equals(plans[1])
