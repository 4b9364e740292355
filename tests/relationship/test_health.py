"""CRM health through the public API, on the memory and SQLite backends, against an
independent reference written here with plain Python loops over the stored records."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.ingest import find_duplicate_customers
from crmcore.model import (
    Activity,
    Address,
    Consent,
    ContactPoint,
    Customer,
    Interaction,
    Money,
)
from crmcore.pipeline import Funnel, advance, create_opportunity, save_funnel
from crmcore.relationship import CUSTOMER_FIELDS_CHECKED, CRMHealth, crm_health
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork

START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
REPS = ("ann", "bob", "cy")
TEAMS = {"ann": "north", "bob": "north", "cy": "south"}


def t(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture(params=["memory", "sqlite"])
def make_uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    if request.param == "memory":
        store = MemoryUnitOfWork()
        yield lambda: store
    else:
        uow = SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'health.db'}")
        yield lambda: uow


# -- the reference ----------------------------------------------------------------------------


def working_days(start: datetime, end: datetime) -> int:
    d, last = start.date(), (end - timedelta(microseconds=1)).date()
    n = 0
    while d <= last:
        n += d.weekday() < 5
        d += timedelta(days=1)
    return n


def reference(uow: Any, won_stages: tuple[str, ...] = ("won",)) -> dict[str, Any]:
    with uow:
        customers = [c for c in uow.customers.list() if not c.erased]
        interactions = uow.interactions.list()
        activities = uow.activities.list()
        opps = uow.opportunities.list()
        first = {o.id: uow.opportunities.history(o.id)[0].to_stage for o in opps}
    ids = {c.id for c in customers}
    touches = [(i.customer_id, i.rep_id, i.occurred_at) for i in interactions]
    touches += [(a.customer_id, a.rep_id, a.done_at) for a in activities if a.done_at is not None]
    linked = {i.opportunity_id for i in interactions if i.occurred_at < END}
    linked |= {a.opportunity_id for a in activities if a.done_at is not None and a.done_at < END}
    in_period = [x for x in touches if START <= x[2] < END]
    touched = {c for c, _, _ in in_period if c in ids}
    logged: dict[str, int] = defaultdict(int)
    for _, rep, _ in in_period:
        if rep is not None:
            logged[rep] += 1
    owned: dict[str, list[str]] = defaultdict(list)
    for c in customers:
        if c.owner_id:
            owned[c.owner_id].append(c.id)
    won: dict[str, float] = defaultdict(float)
    represented: dict[str, float] = defaultdict(float)
    for o in opps:
        if o.closed_at and o.stage in won_stages and START <= o.closed_at < END:
            amount = float(o.amount.amount) if o.amount else 0.0
            won[o.owner_id] += amount
            if first[o.id] not in won_stages and o.id in linked:
                represented[o.owner_id] += amount
    pairs = find_duplicate_customers(customers, min_score=0.8)
    dup = {p.first_id for p in pairs} | {p.second_id for p in pairs}

    def filled(c: Customer, field: str) -> bool:
        kinds = {cp.kind.value for cp in c.contact_points}
        return {
            "email": "email" in kinds,
            "phone": bool(kinds & {"phone", "mobile"}),
            "birthday": c.birthday is not None,
            "address": c.address is not None,
            "acquisition_channel": c.acquisition_channel is not None,
            "acquired_at": c.acquired_at is not None,
            "owner_id": c.owner_id is not None,
            "segment": c.segment is not None,
        }[field]

    completeness = {}
    for f in CUSTOMER_FIELDS_CHECKED:
        pool = [c for c in customers if f != "birthday" or c.kind.value == "person"]
        completeness[f] = sum(filled(c, f) for c in pool) / len(pool) if pool else math.nan
    months: dict[tuple[int, int], set[str]] = defaultdict(set)
    for c, _, at in in_period:
        if c in ids:
            months[at.year, at.month].add(c)
    return {
        "days": working_days(START, END),
        "logged": dict(logged),
        "owned": {r: len(v) for r, v in owned.items()},
        "touched": {r: sum(c in touched for c in v) for r, v in owned.items()},
        "won": dict(won),
        "represented": dict(represented),
        "all_touched": len(touched),
        "customers": len(customers),
        "dup_rate": len(dup) / len(customers) if customers else math.nan,
        "consent": sum(c.consent.contact for c in customers) / len(customers)
        if customers
        else math.nan,
        "completeness": completeness,
        "monthly_touched": {k: len(v) for k, v in months.items()},
        "logged_total": sum(1 for _, rep, _ in in_period if rep is not None),
    }


def check_against_reference(h: CRMHealth, ref: dict[str, Any]) -> None:
    a = h.adoption.to_pandas()
    reps = a[a.level == "rep"].set_index("name")
    for rep in reps.index:
        row = reps.loc[rep]
        assert row.logged == ref["logged"].get(rep, 0), rep
        assert row.working_days == ref["days"]
        assert row.customers == ref["owned"].get(rep, 0), rep
        assert row.touched == ref["touched"].get(rep, 0), rep
        assert math.isclose(row.won_revenue, ref["won"].get(rep, 0.0)), rep
        assert math.isclose(row.represented_revenue, ref["represented"].get(rep, 0.0)), rep
        assert math.isclose(row.logged_per_day, ref["logged"].get(rep, 0) / ref["days"])
    everyone = a[a.level == "all"].iloc[0]
    assert everyone.touched == ref["all_touched"]
    assert everyone.customers == ref["customers"]
    assert everyone.logged == ref["logged_total"]
    teams = a[a.level == "team"].set_index("name")
    for team in teams.index:
        members = [r for r in reps.index if reps.loc[r].team == team]
        assert teams.loc[team].logged == sum(reps.loc[m].logged for m in members)
    assert h.customers == ref["customers"]
    for got, want in ((h.duplicate_rate, ref["dup_rate"]), (h.consent_coverage, ref["consent"])):
        assert (math.isnan(got) and math.isnan(want)) or math.isclose(got, want)
    f = h.fields.to_pandas()
    allc = f[(f.entity == "customer") & (f.source == "(all)")].set_index("field")
    for field, want in ref["completeness"].items():
        got = allc.loc[field, "completeness"] if field in allc.index else math.nan
        assert (math.isnan(got) and math.isnan(want)) or math.isclose(got, want), field
    tr = h.trends.to_pandas()
    for _, row in tr.iterrows():
        m = row.month
        assert row.touched <= row.customers
        assert ref["monthly_touched"].get((m.year, m.month), 0) >= row.touched
    # shares are shares
    for table in (h.adoption, h.fields, h.sources, h.trends):
        df = table.to_pandas()
        ends = ("completeness", "_rate", "_coverage")
        for col in [c for c in df.columns if c.startswith("share") or c.endswith(ends)]:
            vals = df[col].dropna()
            assert ((vals >= 0) & (vals <= 1)).all(), col


# -- a fixed scenario on both backends -----------------------------------------------------------


def scenario(uow: Any) -> None:
    f = Funnel.linear("deals", {"lead": 0.2, "offer": 0.6})
    with uow:
        uow.customers.add_many(
            [
                Customer(
                    id="c-1",
                    name="Ada Lovelace",
                    owner_id="ann",
                    acquisition_channel="web",
                    acquired_at=t(2025, 11, 3),
                    consent=Consent(contact=True),
                    contact_points=[ContactPoint("email", "ada@example.com")],
                    birthday=date(1815, 12, 10),
                ),
                Customer(
                    id="c-2",
                    name="Lovelace, Ada",
                    owner_id="ann",
                    acquisition_channel="fair",
                    acquired_at=t(2026, 2, 3),
                    contact_points=[ContactPoint("email", "ADA@example.com")],
                    address=Address(country="GB"),
                ),
                Customer(id="c-3", name="ACME", kind="organization", owner_id="bob"),
                Customer(id="c-4", name="Gone", owner_id="bob", erased=True),
            ]
        )
        uow.interactions.add_many(
            [
                Interaction(
                    id=f"i-{k}",
                    customer_id=c,
                    channel="phone",
                    direction="outbound",
                    occurred_at=at,
                    rep_id=rep,
                    opportunity_id=opp,
                )
                for k, (c, at, rep, opp) in enumerate(
                    [
                        ("c-1", t(2026, 1, 5), "ann", "o-1"),
                        ("c-1", t(2026, 2, 5), "ann", None),
                        ("c-3", t(2025, 12, 5), "bob", None),  # before the period
                        ("c-9", t(2026, 3, 5), "cy", None),  # a customer not stored
                        ("c-3", t(2026, 3, 9), None, None),  # no rep
                    ]
                )
            ]
        )
        uow.activities.add_many(
            [
                Activity(id="a-1", kind="call", rep_id="bob", customer_id="c-3",
                         status="done", done_at=t(2026, 3, 2), opportunity_id="o-2"),
                Activity(id="a-2", kind="call", rep_id="bob", customer_id="c-2",
                         due_at=t(2026, 3, 3)),  # planned: not a touch
            ]
        )  # fmt: skip
        save_funnel(uow, f)
        for oid, cust, owner, amount in (
            ("o-1", "c-1", "ann", "300"),
            ("o-2", "c-3", "bob", "100"),
            ("o-3", "c-3", "bob", "600"),
        ):
            create_opportunity(
                uow, f, id=oid, customer_id=cust, owner_id=owner, at=t(2026, 1, 2),
                amount=Money(amount, "EUR"),
            )  # fmt: skip
        advance(uow, "o-1", "offer", expected_version=0, funnel=f, by="ann", at=t(2026, 1, 10))
        advance(uow, "o-1", "won", expected_version=1, funnel=f, by="ann", at=t(2026, 2, 10))
        advance(uow, "o-2", "offer", expected_version=0, funnel=f, by="bob", at=t(2026, 1, 10))
        advance(uow, "o-2", "won", expected_version=1, funnel=f, by="bob", at=t(2026, 3, 10))
        advance(uow, "o-3", "offer", expected_version=0, funnel=f, by="bob", at=t(2026, 1, 10))
        advance(uow, "o-3", "won", expected_version=1, funnel=f, by="bob", at=t(2026, 3, 11))
        uow.commit()


def test_scenario_figures(make_uow: Callable[[], Any]) -> None:
    uow = make_uow()
    scenario(uow)
    with uow:
        h = crm_health(uow, start=START, end=END, teams=TEAMS)
    check_against_reference(h, reference(uow))
    a = h.adoption.to_pandas().set_index("name")
    assert a.loc["ann", "share_touched"] == 0.5  # c-1 touched, c-2 not
    assert a.loc["bob", "share_represented"] == 100 / 700  # o-3 had no recorded activity
    assert a.loc["ann", "share_represented"] == 1.0
    assert math.isclose(h.share_represented, 400 / 1000)
    assert a.loc["cy", "logged"] == 1 and a.loc["cy", "customers"] == 0
    assert math.isnan(a.loc["cy", "share_touched"])
    assert h.customers == 3  # the erased customer is left out
    s = h.sources.to_pandas().set_index("source")
    assert s.loc["(all)", "duplicates"] == 2  # c-1 and c-2: one e-mail, one name
    assert s.loc["web", "consent_coverage"] == 1.0
    tr = h.trends.to_pandas()
    assert tr.month.dt.month.tolist() == [1, 2, 3]
    assert tr.new_customers.tolist() == [0, 1, 0]
    assert tr.won_revenue.tolist() == [0.0, 300.0, 700.0]
    f = h.fields.to_pandas()
    bday = f[(f.field == "birthday") & (f.source == "(all)")].iloc[0]
    assert (bday.records, bday.filled) == (2, 1)  # persons only
    amount = f[(f.entity == "opportunity") & (f.field == "amount")].iloc[0]
    assert amount.completeness == 1.0 and amount.median_age_days == 89.0
    assert h.adoption.to_pandas().shape[0] == 3 + 3  # reps, teams (north, south), all


def test_memory_and_sqlite_agree(tmp_path: Path) -> None:
    mem, sql = MemoryUnitOfWork(), SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    frames = []
    for uow in (mem, sql):
        scenario(uow)
        with uow:
            h = crm_health(uow, start=START, end=END, teams=TEAMS, holidays=["2026-01-01"])
        frames.append([x.to_pandas() for x in (h.adoption, h.fields, h.sources, h.trends)])
    for a, b in zip(*frames, strict=True):
        assert a.equals(b)


def test_bad_input() -> None:
    uow = MemoryUnitOfWork()
    with uow:
        with pytest.raises(ValidationError, match="'end' must be after 'start'"):
            crm_health(uow, start=END, end=START)
        with pytest.raises(ValidationError, match="'teams' must map"):
            crm_health(uow, start=START, end=END, teams={"ann": 3})  # type: ignore[dict-item]
        with pytest.raises(ValidationError, match=r"'holidays\[0\]' must be a date"):
            crm_health(uow, start=START, end=END, holidays=["1st of May"])
        with pytest.raises(ValidationError, match="'won_stages'"):
            crm_health(uow, start=START, end=END, won_stages=())
        with pytest.raises(ValidationError, match="min_duplicate_score"):
            crm_health(uow, start=START, end=END, min_duplicate_score=2)


def test_mixed_currencies_are_refused() -> None:
    uow = MemoryUnitOfWork()
    f = Funnel.linear("deals", {"lead": 0.2})
    with uow:
        for oid, cur in (("o-1", "EUR"), ("o-2", "USD")):
            create_opportunity(uow, f, id=oid, customer_id="c", owner_id="ann",
                               at=t(2026, 1, 2), amount=Money("1", cur))  # fmt: skip
            advance(uow, oid, "won", expected_version=0, funnel=f, by="ann", at=t(2026, 1, 3))
        with pytest.raises(ValidationError, match=r"one currency.*\['EUR', 'USD'\]"):
            crm_health(uow, start=START, end=END)


# -- random stores ----------------------------------------------------------------------------


@st.composite
def stores(draw: st.DrawFn) -> MemoryUnitOfWork:
    uow = MemoryUnitOfWork()
    n = draw(st.integers(0, 10))
    names = ["Ada", "Bob", "Cy", "Di"]
    customers = [
        Customer(
            id=f"c-{i}",
            name=draw(st.sampled_from(names)),
            owner_id=draw(st.none() | st.sampled_from(REPS)),
            acquisition_channel=draw(st.none() | st.sampled_from(["web", "fair"])),
            acquired_at=draw(st.none() | st.sampled_from([t(2025, 6, 1), t(2026, 2, 14)])),
            consent=Consent(contact=draw(st.booleans())),
            erased=draw(st.booleans()),
            contact_points=draw(
                st.sampled_from([(), (ContactPoint("email", f"x{i % 3}@example.com"),)])
            ),
        )
        for i in range(n)
    ]
    times = st.integers(0, 130).map(lambda d: t(2025, 12, 15) + timedelta(days=d, hours=9))
    interactions = [
        Interaction(
            id=f"i-{k}",
            customer_id=f"c-{draw(st.integers(0, 12))}",
            channel="email",
            direction="inbound",
            occurred_at=draw(times),
            rep_id=draw(st.none() | st.sampled_from(REPS)),
        )
        for k in range(draw(st.integers(0, 25)))
    ]
    activities = []
    for k in range(draw(st.integers(0, 10))):
        done = draw(st.booleans())
        at = draw(times)
        activities.append(
            Activity(
                id=f"a-{k}",
                kind="call",
                rep_id=draw(st.sampled_from(REPS)),
                customer_id=draw(st.none() | st.integers(0, 12).map(lambda i: f"c-{i}")),
                status="done" if done else "planned",
                done_at=at if done else None,
                due_at=None if done else at,
            )
        )
    with uow:
        uow.customers.add_many(customers)
        uow.interactions.add_many(interactions)
        uow.activities.add_many(activities)
        uow.commit()
    return uow


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(uow=stores())
def test_random_stores_match_the_reference(uow: MemoryUnitOfWork) -> None:
    with uow:
        h = crm_health(uow, start=START, end=END, teams=TEAMS)
    check_against_reference(h, reference(uow))
    assert np.all(h.trends.working_days >= 0)
