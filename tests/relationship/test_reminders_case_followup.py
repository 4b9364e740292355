"""Follow-ups after a service case (:class:`CaseFollowUp`): N days after resolution, for the
case's owner, below a satisfaction threshold, idempotent, consent respected, explained; on the
memory and SQLite backends and on a unit of work without service cases, through the public API."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.model import Consent, ContactPoint, Customer, ServiceCase
from crmcore.relationship import (
    CaseFollowUp,
    ReminderRules,
    plan_reminders,
    reminder_activity_id,
    reminder_rules_from_dict,
    reminder_rules_to_dict,
)
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork

EMAIL = [ContactPoint("email", "x@example.com")]
RULES = ReminderRules(
    name="service", rules=[CaseFollowUp(name="after-case", after_days=2, queue="desk")]
)


def t(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture(params=["memory", "sqlite"])
def make_uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    if request.param == "memory":
        store = MemoryUnitOfWork()
        yield lambda: store
    else:
        first = SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'cases.db'}")
        yield lambda: first


def person(cid: str, **kw: Any) -> Customer:
    kw.setdefault("consent", Consent(contact=True))
    kw.setdefault("contact_points", EMAIL)
    return Customer(id=cid, name=f"Name {cid}", **kw)


def case(cid: str, customer: str, resolved: datetime | None, sat: int | None = None,
         owner: str = "agent-1", opened: datetime | None = None) -> ServiceCase:  # fmt: skip
    opened = opened or (resolved - timedelta(days=1) if resolved else t(2026, 3, 1))
    return ServiceCase(id=cid, customer_id=customer, channel="phone", opened_at=opened,
                       category="billing", owner_id=owner, resolved_at=resolved,
                       satisfaction=sat)  # fmt: skip


def store(uow: Any, customers: list[Customer], cases: list[ServiceCase]) -> None:
    with uow:
        uow.customers.add_many(customers)
        uow.service_cases.add_many(cases)
        uow.commit()


def run(uow: Any, rules: ReminderRules, **kw: Any) -> Any:
    with uow:
        plan = plan_reminders(uow, rules, **kw)
        uow.commit()
    return plan


def test_a_resolved_case_is_followed_up_once_by_its_owner(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    store(
        uow,
        [person("c-1", owner_id="ann")],
        [
            case("sc-1", "c-1", t(2026, 3, 10, 15), sat=2, owner="agent-7"),
            case("sc-2", "c-1", None),
        ],
    )
    before = run(uow, RULES, as_of="2026-03-11")
    assert before.planned == 0 and len(before) == 0
    first = run(uow, RULES, as_of="2026-03-12")
    again = run(uow, RULES, as_of="2026-03-10", days=10)  # an overlapping window
    assert (first.planned, again.planned, again.existing) == (1, 0, 1)
    a = first.activities[0]
    assert a.id == reminder_activity_id("service", "after-case", "c-1", "sc-1")
    assert (a.rep_id, a.customer_id, a.due_at) == ("agent-7", "c-1", t(2026, 3, 12, 9))
    assert a.subject is not None
    assert "service case sc-1 (billing, normal priority)" in a.subject
    assert "resolved on 2026-03-10, satisfaction 2" in a.subject
    with uow:
        assert [x.id for x in uow.activities.list(customer_id="c-1")] == [a.id]


def test_below_satisfaction_and_unrated_cases(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    day = t(2026, 3, 10, 12)
    store(
        uow,
        [person("c-1", owner_id="ann")],
        [
            case("happy", "c-1", day, sat=5),
            case("meh", "c-1", day, sat=3),
            case("sad", "c-1", day, sat=1),
            case("silent", "c-1", day),
        ],
    )
    below4 = ReminderRules(name="s", rules=[CaseFollowUp(name="r", after_days=0,
                                                         below_satisfaction=4)])  # fmt: skip
    plan = run(uow, below4, as_of="2026-03-10", write=False)
    assert sorted(plan.occasions) == ["meh", "sad", "silent"]
    assert any("satisfaction 1 < 4" in r for r in plan.reasons)
    rated = ReminderRules(name="s", rules=[CaseFollowUp(name="r", after_days=0,
                                                        below_satisfaction=4, unrated=False)])  # fmt: skip
    assert sorted(run(uow, rated, as_of="2026-03-10", write=False).occasions) == ["meh", "sad"]
    every = ReminderRules(name="s", rules=[CaseFollowUp(name="r", after_days=0)])
    assert len(run(uow, every, as_of="2026-03-10", write=False)) == 4


def test_consent_erasure_and_unknown_customers(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    day = t(2026, 3, 10)
    store(
        uow,
        [person("c-1", consent=Consent(contact=False)), person("c-2")],
        [
            case("sc-1", "c-1", day),
            case("sc-2", "c-2", day, owner="agent-2"),
            case("sc-3", "ghost", day),
        ],
    )
    plan = run(uow, RULES, as_of="2026-03-12")
    df = plan.to_pandas().set_index("occasion")
    assert df.loc["sc-1", "status"] == "skipped" and df.loc["sc-1", "reason"] == (
        "no contact consent"
    )
    assert df.loc["sc-2", "status"] == "planned" and df.loc["sc-2", "rep_id"] == "agent-2"
    assert df.loc["sc-3", "reason"] == "the customer is not stored"
    assert [a.customer_id for a in plan.activities] == ["c-2"]


def test_far_dates_plan_nothing_or_stay_in_range(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    store(
        uow,
        [person("c-1", owner_id="ann")],
        [case("old", "c-1", t(1, 1, 2)), case("late", "c-1", t(9999, 12, 30))],
    )
    late = ReminderRules(name="s", rules=[CaseFollowUp(name="r", after_days=3660)])
    assert len(run(uow, late, as_of="9999-12-31")) == 0  # due after 9999-12-31: never
    soon = ReminderRules(name="s", rules=[CaseFollowUp(name="r", after_days=1)])
    assert list(run(uow, soon, as_of="0001-01-03").occasions) == ["old"]
    assert list(run(uow, soon, as_of="9999-12-31").occasions) == ["late"]
    assert len(run(uow, soon, as_of="0001-01-01")) == 0


class _Older:
    """A unit of work without service cases (the attributes of UnitOfWork only)."""

    def __init__(self, inner: MemoryUnitOfWork) -> None:
        self._inner = inner
        for name in ("customers", "interactions", "transactions", "opportunities", "activities",
                     "surveys", "costs", "documents"):  # fmt: skip
            setattr(self, name, getattr(inner, name))

    def __enter__(self) -> _Older:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.__exit__(None, None, None)

    def commit(self) -> None:
        self._inner.commit()

    def rollback(self) -> None:
        self._inner.rollback()


def test_a_unit_of_work_without_cases_says_so() -> None:
    inner = MemoryUnitOfWork()
    store(inner, [person("c-1", owner_id="ann")], [case("sc-1", "c-1", t(2026, 3, 10))])
    older = _Older(inner)
    with older, pytest.raises(ValidationError, match="'after-case' .* not a ServiceCaseUnitOfWork"):
        plan_reminders(older, RULES, as_of="2026-03-12")
    with inner:
        assert inner.activities.list() == []


def test_rule_json_round_trip_and_errors_by_path() -> None:
    rules = ReminderRules(
        name="s",
        rules=[
            CaseFollowUp(
                name="r",
                after_days=5,
                below_satisfaction=3,
                unrated=False,
                channels=["email"],
                queue="desk",
            )
        ],
    )
    data = reminder_rules_to_dict(rules)
    assert data["rules"][0]["type"] == "case_follow_up"
    assert reminder_rules_from_dict(data) == rules
    bad = [
        ({"below_satisfaction": 1}, r"\$\.rules\[0\]\.below_satisfaction: must be >= 2: 1"),
        ({"after_days": -1}, r"\$\.rules\[0\]\.after_days: must be >= 0: -1"),
        ({"unrated": "no"}, r"\$\.rules\[0\]\.unrated"),
        ({"channels": ["pigeon"]}, r"\$\.rules\[0\]\.channels"),
        ({"owner": "x"}, r"\$\.rules\[0\]"),
    ]
    for extra, match in bad:
        doc = {"name": "s", "rules": [{"type": "case_follow_up", "name": "r", **extra}]}
        with pytest.raises(ValidationError, match=match):
            reminder_rules_from_dict(doc)
    with pytest.raises(ValidationError, match="'unrated' must be True or False: 1"):
        CaseFollowUp(name="r", unrated=1)  # type: ignore[arg-type]


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[Customer], list[ServiceCase]]:
    n = draw(st.integers(1, 5))
    customers = [
        person(
            f"c-{i}",
            owner_id=draw(st.none() | st.just("ann")),
            consent=Consent(contact=draw(st.booleans())),
        )
        for i in range(n)
    ]
    cases = []
    for k in range(draw(st.integers(0, 12))):
        opened = datetime.combine(draw(st.dates(date(2025, 12, 1), date(2026, 4, 1))),
                                  datetime.min.time(), UTC)  # fmt: skip
        resolved = draw(st.none() | st.integers(0, 20).map(lambda d, o=opened: o + timedelta(d)))
        sat = draw(st.none() | st.integers(1, 5)) if resolved else None
        who = draw(st.integers(0, n))  # n: a customer that is not stored
        cases.append(case(f"sc-{k}", f"c-{who}", resolved, sat, f"agent-{k % 3}", opened))
    return customers, cases


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=scenario(),
    as_of=st.dates(date(2025, 12, 1), date(2026, 5, 1)),
    days=st.integers(1, 60),
    after=st.integers(0, 30),
    below=st.none() | st.integers(2, 5),
    backend=st.sampled_from(["memory", "sqlite"]),
)
def test_idempotent_consenting_and_for_the_case_owner(
    data: tuple[list[Customer], list[ServiceCase]],
    as_of: date,
    days: int,
    after: int,
    below: int | None,
    backend: str,
) -> None:
    customers, cases = data
    rules = ReminderRules(
        name="h", rules=[CaseFollowUp(name="c", after_days=after, below_satisfaction=below)]
    )
    with tempfile.TemporaryDirectory() as d:
        uow: Any = (
            MemoryUnitOfWork()
            if backend == "memory"
            else SqlUnitOfWork.from_url(f"sqlite:///{d}/h.db")
        )
        store(uow, customers, cases)
        first = run(uow, rules, as_of=as_of.isoformat(), days=days)
        second = run(uow, rules, as_of=as_of.isoformat(), days=days)
        with uow:
            stored = {a.id for a in uow.activities.list()}
        if backend == "sqlite":
            uow.close()
    assert second.planned == 0 and second.existing == first.planned + first.existing
    assert set(second.ids) == set(first.ids) and len(set(first.ids)) == len(first.ids)
    assert stored == {a.id for a in first.activities}
    by_id = {c.id: c for c in cases}
    consent = {c.id: c.consent.contact for c in customers}
    expected = set()
    for c in cases:
        if c.resolved_at is None:
            continue
        due = c.resolved_at.date() + timedelta(days=after)
        low = below is not None and c.satisfaction is not None and c.satisfaction >= below
        if as_of <= due < as_of + timedelta(days=days) and not low:
            expected.add(c.id)
    assert set(first.occasions) == expected  # every case due in the window, and only those
    occasion = dict(zip(first.ids, first.occasions, strict=True))
    for a in first.activities:
        assert consent[a.customer_id]
        assert a.rep_id == by_id[occasion[a.id]].owner_id  # the case's owner
