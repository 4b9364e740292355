"""The columnar reminder plan against a simple reference evaluator, on random customer bases.

``plan_reminders`` reads the customers as columns (``customers.read_columns()``) and finds
the occasions with numpy; the reference here walks the customers one by one with plain
``datetime`` arithmetic and the documented rules (leap-day birthdays on 28 February in other
years, anniversaries from the first year, the window ``[as_of, + days)``, consent, owner else
queue, the preferred channel when allowed and reachable else the rule's first reachable one,
learned from inbound interactions when not given). Bases include leap-day and missing
birthdays, missing owners, customers without consent or erased, and preferred channels the
rules do not allow. The same base also runs through a unit of work without the columnar
capability (the per-object path) and on SQLite: every plan must be the same.
"""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.model import Address, Consent, ContactPoint, Customer, Interaction
from crmcore.relationship import Anniversary, Birthday, ReminderRules, plan_reminders
from crmcore.relationship import reminder_activity_id as rid
from crmcore.repositories import CustomerColumnReader, MemoryUnitOfWork, SqlUnitOfWork

EMAIL = ContactPoint("email", "x@example.com")
MOBILE = ContactPoint("mobile", "+1 555 0100")
PHONE = ContactPoint("phone", "+1 555 0101")
CHANNELS = ["phone", "email", "sms", "letter", "visit", "web", "chat"]
NEEDS = {
    "email": {"email"},
    "phone": {"phone", "mobile"},
    "sms": {"phone", "mobile"},
    "call_center": {"phone", "mobile"},
}
KIND = {
    "phone": "call",
    "call_center": "call",
    "email": "email",
    "visit": "visit",
    "branch": "visit",
    "meeting": "meeting",
}


# -- the reference evaluator -----------------------------------------------------------------


def yearly(month: int, day: int, year: int) -> date:
    """The occasion of a month/day in ``year`` (29 February on 28 February in other years)."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def reachable(c: Customer, channel: str) -> bool:
    if channel == "letter":
        return c.address is not None
    need = NEEDS.get(channel)
    return need is None or any(p.kind.value in need for p in c.contact_points)


def learned(interactions: list[Interaction], cid: str, before: datetime) -> str | None:
    """The channel a customer started most contacts on (inbound only here), ties by name."""
    n = Counter(
        i.channel.value for i in interactions if i.customer_id == cid and i.occurred_at < before
    )
    if not n:
        return None
    top = max(n.values())
    return min(ch for ch, k in n.items() if k == top)


def reference(
    customers: list[Customer],
    rules: ReminderRules,
    as_of: date,
    days: int,
    preferred: dict[str, str] | None,
    interactions: list[Interaction],
) -> set[tuple[Any, ...]]:
    lo, hi = as_of, as_of + timedelta(days=days)
    at = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    out = set()
    for rule in rules.rules:
        for c in sorted(customers, key=lambda c: c.id):
            occasions = []
            if isinstance(rule, Birthday):
                if c.birthday is None:
                    continue
                first, start = c.birthday.year, c.birthday
            else:
                if c.acquired_at is None:
                    continue
                start = c.acquired_at.date()
                first = start.year + 1
            for year in range(max(first, lo.year - 1), min(hi.year + 1, 9999) + 1):
                occ = yearly(start.month, start.day, year)
                due = occ - timedelta(days=rule.days_ahead)
                if lo <= due < hi:
                    occasions.append((occ, due))
            for occ, due in occasions:
                key = (
                    rid(rules.name, rule.name, c.id, occ.isoformat()),
                    rule.name,
                    c.id,
                    occ.isoformat(),
                    datetime(due.year, due.month, due.day, rule.hour),
                )
                if c.erased or not c.consent.contact:
                    out.add((*key, None, None, None, "skipped"))
                    continue
                rep = c.owner_id or rule.queue
                if rep is None:
                    out.add((*key, None, None, None, "skipped"))
                    continue
                pref = learned(interactions, c.id, at) if preferred is None else preferred.get(c.id)
                allowed = [ch.value for ch in rule.channels]
                if pref in allowed and reachable(c, pref):
                    ch = pref
                else:
                    ch = next((a for a in allowed if reachable(c, a)), None)
                if ch is None:
                    out.add((*key, rep, None, None, "skipped"))
                    continue
                out.add((*key, rep, ch, KIND.get(ch, "task"), "planned"))
    return out


# -- random bases ----------------------------------------------------------------------------

birthdays = (
    st.none()
    | st.sampled_from([date(1980, 2, 29), date(2000, 2, 29), date(1999, 3, 1)])
    | st.dates(date(1900, 1, 1), date(2030, 12, 31))
)


@st.composite
def bases(draw: st.DrawFn) -> tuple[list[Customer], list[Interaction]]:
    n = draw(st.integers(1, 14))
    customers = []
    for i in range(n):
        erased = draw(st.integers(0, 9)) == 0
        customers.append(
            Customer(
                id=f"c-{draw(st.integers(0, 99)):02d}-{i}",
                name="N",
                birthday=None if erased else draw(birthdays),
                acquired_at=draw(
                    st.none()
                    | st.datetimes(datetime(2000, 1, 1), datetime(2030, 12, 31)).map(
                        lambda d: d.replace(tzinfo=UTC)
                    )
                ),
                owner_id=draw(st.none() | st.sampled_from(["ann", "bob"])),
                consent=Consent(contact=draw(st.booleans())),
                contact_points=draw(st.sampled_from([(), (EMAIL,), (MOBILE,), (PHONE, EMAIL)])),
                address=draw(st.none() | st.just(Address(country="CN"))),
                erased=erased,
            )
        )
    interactions = [
        Interaction(
            id=f"i-{k}",
            customer_id=draw(st.sampled_from(customers)).id,
            channel=draw(st.sampled_from(CHANNELS)),
            direction="inbound",
            occurred_at=datetime(2020, 1, 1, tzinfo=UTC)
            + timedelta(days=draw(st.integers(0, 4000))),
        )
        for k in range(draw(st.integers(0, 12)))
    ]
    return customers, interactions


@st.composite
def rule_sets(draw: st.DrawFn) -> ReminderRules:
    channels = st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3, unique=True)
    common = {
        "queue": st.none() | st.just("team"),
        "channels": channels,
        "hour": st.integers(0, 23),
    }
    b = draw(st.fixed_dictionaries({"days_ahead": st.integers(0, 366), **common}))
    a = draw(st.fixed_dictionaries({"days_ahead": st.integers(0, 40), **common}))
    return ReminderRules(
        name="ref", rules=[Birthday(name="bday", **b), Anniversary(name="anniv", **a)]
    )


class _NoColumns:
    """A unit of work whose customers have only the protocol's methods (no read_columns)."""

    class _Customers:
        def __init__(self, repo: Any) -> None:
            self._repo = repo

        def __getattr__(self, name: str) -> Any:
            if name == "read_columns":
                raise AttributeError(name)
            return getattr(self._repo, name)

    def __init__(self, uow: Any) -> None:
        self._uow = uow

    def __enter__(self) -> _NoColumns:
        self._uow.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._uow.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        if name == "customers":
            return self._Customers(self._uow.customers)
        return getattr(self._uow, name)


def rows(plan: Any) -> set[tuple[Any, ...]]:
    cols = (
        plan.ids,
        plan.rules,
        plan.customer_ids,
        plan.occasions,
        plan.due_at.astype(object),
        plan.rep_ids,
        plan.channels,
        plan.kinds,
        plan.statuses,
    )
    return {
        (*r[:8], "planned" if r[8] == "exists" else r[8])
        for r in zip(*(c.tolist() for c in cols), strict=True)
    }


def load(uow: Any, customers: list[Customer], interactions: list[Interaction]) -> None:
    with uow:
        uow.customers.add_many(customers)
        uow.interactions.add_many(interactions)
        uow.commit()


def run(uow: Any, rules: ReminderRules, as_of: date, days: int, prefs: Any) -> Any:
    with uow:
        plan = plan_reminders(
            uow, rules, as_of=as_of.isoformat(), days=days, preferred_channels=prefs
        )
        uow.commit()
    return plan


@given(
    base=bases(),
    rules=rule_sets(),
    as_of=st.sampled_from([date(2026, 2, 27), date(2028, 2, 27), date(2027, 12, 30)])
    | st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    days=st.integers(1, 40),
    prefs=st.none()
    | st.dictionaries(
        st.sampled_from([f"c-{k:02d}-{i}" for k in range(3) for i in range(3)]),
        st.sampled_from(CHANNELS),
        max_size=4,
    ),
)
def test_the_columnar_plan_is_the_reference_plan(
    base: tuple[list[Customer], list[Interaction]],
    rules: ReminderRules,
    as_of: date,
    days: int,
    prefs: dict[str, str] | None,
) -> None:
    customers, interactions = base
    want = reference(customers, rules, as_of, days, prefs, interactions)
    mem = MemoryUnitOfWork()
    load(mem, customers, interactions)
    assert isinstance(mem.customers, CustomerColumnReader)
    plan = run(mem, rules, as_of, days, prefs)
    assert rows(plan) == want
    # the explanation names the occasion and the channel of each planned reminder
    for a in plan.activities:
        assert a.id in {w[0] for w in want}
        assert a.subject is not None
    for occasion, status, reason in zip(plan.occasions, plan.statuses, plan.reasons, strict=True):
        assert occasion in reason or status == "skipped"
    again = run(mem, rules, as_of, days, prefs)
    assert again.planned == 0 and again.existing == plan.planned
    # the per-object path (a backend without read_columns) plans the same
    plain = MemoryUnitOfWork()
    load(plain, customers, interactions)
    wrapped = _NoColumns(plain)
    assert not isinstance(wrapped.customers, CustomerColumnReader)
    other = run(wrapped, rules, as_of, days, prefs)
    assert plan.to_pandas().equals(other.to_pandas())


@pytest.mark.parametrize("seed", range(3))
def test_sqlite_columns_plan_as_memory(seed: int) -> None:
    customers = [
        Customer(
            id=f"c-{i}",
            name="N",
            birthday=date(1980 + 4 * seed, 2, 29) if i % 2 else date(1990, 3, 1 + i),
            acquired_at=datetime(2020, 3, 1, 8, tzinfo=UTC) if i % 3 else None,
            owner_id=None if i % 4 == 0 else "ann",
            consent=Consent(contact=i % 5 != 0),
            contact_points=[(EMAIL,), (MOBILE,), ()][i % 3],
            erased=i == 7,
        )
        for i in range(12)
    ]
    rules = ReminderRules(
        name="s",
        rules=[Birthday(name="b", days_ahead=1, queue="team"), Anniversary(name="a", days_ahead=0)],
    )
    plans = []
    for uow in (MemoryUnitOfWork(), SqlUnitOfWork.from_url("sqlite://")):
        load(uow, customers, [])
        plans.append(run(uow, rules, date(2026 + seed, 2, 26), 5, None).to_pandas())
    assert len(plans[0]) > 0 and plans[0].equals(plans[1])


@pytest.mark.parametrize("extra", [0, 2_100])
def test_many_learned_channels_by_one_read_or_per_customer(extra: int) -> None:
    """Past 64 customers to learn, one streaming read of the interactions learns them all;
    past 20 interactions per such customer it gives way to per-customer reads (``extra``
    interactions of customers without a reminder): the same plan as the reference."""
    customers = [
        Customer(
            id=f"c-{i:03d}",
            name="N",
            birthday=date(1970 + i % 30, 3, 14),
            owner_id="ann",
            consent=Consent(contact=True),
            contact_points=[(EMAIL,), (MOBILE,), (PHONE, EMAIL)][i % 3],
            address=Address(country="CN") if i % 2 else None,
        )
        for i in range(90)
    ] + [Customer(id="z-quiet", name="Q")]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    interactions = [
        Interaction(
            id=f"i-{k}",
            customer_id=f"c-{(k * 7) % 90:03d}",
            channel=CHANNELS[k % 7],
            direction="inbound",
            occurred_at=at + timedelta(hours=k),
        )
        for k in range(150)
    ] + [
        Interaction(
            id=f"x-{k}",
            customer_id="z-quiet",
            channel="phone",
            direction="inbound",
            occurred_at=at + timedelta(minutes=k),
        )
        for k in range(extra)
    ]
    rules = ReminderRules(
        name="many",
        rules=[Birthday(name="b", days_ahead=2, channels=["email", "sms", "letter", "phone"])],
    )
    uow = MemoryUnitOfWork()
    load(uow, customers, interactions)
    plan = run(uow, rules, date(2026, 3, 12), 1, None)
    want = reference(customers, rules, date(2026, 3, 12), 1, None, interactions)
    assert plan.planned == 90 and rows(plan) == want
    learned = sum("learned" in r for r in plan.reasons)
    assert 0 < learned < 90
