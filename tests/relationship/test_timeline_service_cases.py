"""Service cases on the customer timeline (issue 16): one source entry, read by a range read.

On memory and SQLite: the cases are events at their opening time with their channel, in
the ``(time, kind, id)`` order among interactions that share their instants; ``kinds`` and
``channels`` select them; pages concatenated are the whole timeline (hypothesis); a unit
of work without service cases has none on its timeline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcore.model import Customer, Interaction, ServiceCase
from crmcore.relationship import TIMELINE_KINDS, customer_timeline, iter_timeline
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork, UnitOfWork

T0 = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite"])
def uow(request: pytest.FixtureRequest) -> UnitOfWork:
    u: UnitOfWork = (
        MemoryUnitOfWork() if request.param == "memory" else SqlUnitOfWork.from_url("sqlite://")
    )
    with u:
        u.customers.add(Customer(id="c-1", name="Ada"))
        u.customers.add(Customer(id="c-2", name="Bo"))
        u.interactions.add_many(
            Interaction(id=f"i-{h}", customer_id="c-1", channel="email", direction="inbound",
                        occurred_at=T0 + timedelta(hours=h)) for h in range(4)
        )  # fmt: skip
        u.service_cases.add_many(  # type: ignore[attr-defined]
            [
                ServiceCase(id=f"sc-{h}", customer_id="c-1", channel="phone" if h % 2 else "chat",
                            opened_at=T0 + timedelta(hours=h), category="billing", owner_id="rep-1",
                            subject=f"case {h}",
                            resolved_at=T0 + timedelta(days=1) if h == 1 else None)
                for h in range(3)
            ]
            + [ServiceCase(id="sc-x", customer_id="c-2", channel="phone", opened_at=T0,
                           category="billing", owner_id="rep-1")]
        )  # fmt: skip
        u.commit()
    return u


def test_cases_are_events_in_the_timeline_order(uow: UnitOfWork) -> None:
    assert "service_case" in TIMELINE_KINDS
    with uow:
        events = list(iter_timeline(uow, "c-1"))
    assert [(e.kind, e.id) for e in events] == [
        ("interaction", "i-0"), ("service_case", "sc-0"),
        ("interaction", "i-1"), ("service_case", "sc-1"),
        ("interaction", "i-2"), ("service_case", "sc-2"),
        ("interaction", "i-3"),
    ]  # fmt: skip
    case = next(e for e in events if e.id == "sc-1")
    assert case.channel == "phone" and "resolved" in case.summary and "case 1" in case.summary
    assert "open" in next(e for e in events if e.id == "sc-0").summary


def test_kinds_channels_and_period_select_cases(uow: UnitOfWork) -> None:
    with uow:
        only = customer_timeline(uow, "c-1", kinds=["service_case"])
        phone = customer_timeline(uow, "c-1", channels=["phone"])
        period = customer_timeline(
            uow, "c-1", start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=2)
        )
    assert [e.id for e in only.events] == ["sc-0", "sc-1", "sc-2"]
    assert [e.id for e in phone.events] == ["sc-1"]
    assert [e.id for e in period.events] == ["i-1", "sc-1"]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(size=st.integers(1, 4))
def test_pages_concatenate_to_the_whole_timeline(uow: UnitOfWork, size: int) -> None:
    with uow:
        whole = [e.key for e in customer_timeline(uow, "c-1", limit=100).events]
        got, cursor = [], None
        while True:
            page = customer_timeline(uow, "c-1", cursor=cursor, limit=size)
            got += [e.key for e in page.events]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert got == whole and len(whole) == 7


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


def test_a_unit_of_work_without_cases_has_none_on_the_timeline() -> None:
    inner = MemoryUnitOfWork()
    with inner:
        inner.customers.add(Customer(id="c-1", name="Ada"))
        inner.service_cases.add(
            ServiceCase(
                id="sc-1",
                customer_id="c-1",
                channel="web",
                opened_at=T0,
                category="x",
                owner_id="r",
            )
        )
        inner.commit()
    older = _Older(inner)
    with older:
        assert customer_timeline(older, "c-1").events == ()  # type: ignore[arg-type]
    with inner:
        assert [e.id for e in customer_timeline(inner, "c-1").events] == ["sc-1"]
