"""Issue 14, the pipeline as a system of record: each finding, on every backend.

Memory, SQLite, PostgreSQL and MariaDB (the servers' tests are skipped when they are
unreachable, see conftest.py). The unit of work's clock is set by each test, so that
"recorded on 20 January" means what it says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import numpy as np
import pytest

from crmcore.errors import ConcurrencyError, TransitionError, ValidationError
from crmcore.model import FieldChange, Money, StageChange
from crmcore.pipeline import (
    B2B,
    advance,
    create_opportunity,
    edit,
    load_history,
    load_opportunity,
    lost_reasons,
    reopen_opportunity,
    replay,
    sales_cycle,
)
from crmcore.repositories import MemoryStore, MemoryUnitOfWork, SqlUnitOfWork, UnitOfWork
from crmcore.repositories.sql import make_engine

from .conftest import empty_uow


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 9, tzinfo=UTC)


class Clock:
    """A settable clock for the unit of work (when events are recorded)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


Make = Callable[[], UnitOfWork]  # another unit of work on the same store


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[UnitOfWork, Clock, Make]]:
    clock = Clock(day(2022, 1, 3))
    kind = request.param
    if kind == "memory":
        store = MemoryStore()
        yield (
            MemoryUnitOfWork(store, clock=clock),
            clock,
            lambda: MemoryUnitOfWork(store, clock=clock),
        )
        return
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    else:
        engine = request.getfixturevalue(f"{kind}_engine")
    empty_uow(engine)
    yield SqlUnitOfWork(engine, clock=clock), clock, lambda: SqlUnitOfWork(engine, clock=clock)
    if kind == "sqlite":
        engine.dispose()


def _open(uow: UnitOfWork, clock: Clock, oid: str = "o-1", **kw: object) -> None:
    """Create the deal, recorded when it is created."""
    at = kw.pop("at", clock.now)
    assert isinstance(at, datetime)
    clock.now = at
    with uow:
        create_opportunity(
            uow, B2B, id=oid, customer_id="c-1", owner_id="ann", at=at,
            amount=Money("1000", "EUR"), **kw,
        )  # fmt: skip
        uow.commit()


def _move(
    uow: UnitOfWork, clock: Clock, oid: str, to: str, at: datetime, reason: str | None = None
) -> None:
    """A client that reads the deal and moves it (reopening it when it is lost)."""
    clock.now = max(clock.now, at)
    with uow:
        seen = uow.opportunities.get(oid)
        if seen.stage == "lost":
            reopen_opportunity(
                uow, oid, expected_version=seen.version, funnel=B2B, by="ann", at=at, to=to,
                reason=reason or "reopened",
            )  # fmt: skip
        else:
            advance(
                uow, oid, to, expected_version=seen.version, funnel=B2B, by="ann", at=at,
                reason=reason,
            )  # fmt: skip
        uow.commit()


# -- optimistic concurrency, no silent reopen ---------------------------------------------------
def test_a_stale_version_is_refused_and_changes_nothing(
    backend: tuple[UnitOfWork, Clock, Make],
) -> None:
    uow, clock, _ = backend
    _open(uow, clock)
    with uow:
        seen = uow.opportunities.get("o-1")  # the rep's screen shows version 0
    _move(uow, clock, "o-1", "lost", day(2022, 1, 5), reason="price")
    _move(uow, clock, "o-1", "lead", day(2022, 1, 6), reason="budget")  # a reopening meanwhile
    with uow:
        before = uow.opportunities.get("o-1")
        for call in (
            lambda: advance(uow, "o-1", "qualified", expected_version=seen.version, funnel=B2B,
                            by="ann", at=clock.now),
            lambda: edit(uow, "o-1", expected_version=seen.version, changes={"owner_id": "bob"},
                         funnel=B2B, by="ann", at=clock.now),
            lambda: reopen_opportunity(uow, "o-1", expected_version=seen.version, funnel=B2B,
                                       by="ann", at=clock.now),
        ):  # fmt: skip
            with pytest.raises(ConcurrencyError, match="caller saw version 0"):
                call()
        uow.commit()
    with uow:
        assert uow.opportunities.get("o-1") == before
        assert len(uow.opportunities.events("o-1")) == before.version + 1 == 3


def test_a_lost_deal_is_reopened_only_explicitly(backend: tuple[UnitOfWork, Clock, Make]) -> None:
    uow, clock, _ = backend
    _open(uow, clock)
    _move(uow, clock, "o-1", "lost", day(2022, 1, 5), reason="price")
    with uow:
        with pytest.raises(TransitionError, match="reopen it explicitly"):
            advance(uow, "o-1", "qualified", expected_version=1, funnel=B2B, by="ann", at=clock.now)
        assert uow.opportunities.get("o-1").stage == "lost"
        r = reopen_opportunity(
            uow, "o-1", expected_version=1, funnel=B2B, by="boss", at=clock.now, to="qualified"
        )
        assert (r.event.from_stage, r.event.to_stage, r.opportunity.version) == (
            "lost",
            "qualified",
            2,
        )


# -- the repository refuses sequences that break the funnel --------------------------------------
def test_the_broken_sequence_of_the_issue_is_refused(
    backend: tuple[UnitOfWork, Clock, Make],
) -> None:
    uow, clock, _ = backend
    _open(uow, clock, at=day(2022, 1, 3))
    with uow:
        o = uow.opportunities.get("o-1")
        moved = attrs.evolve(o, stage="won", stage_entered_at=o.created_at, closed_at=o.created_at)

        def ev(seq: int, frm: str, at: datetime) -> StageChange:
            return StageChange(
                opportunity_id="o-1", sequence=seq, from_stage=frm, to_stage="won", at=at, by="x"
            )

        for bad in (ev(7, "lead", o.created_at), ev(1, "proposal", o.created_at),
                    ev(1, "lead", o.created_at - timedelta(days=5 * 365))):  # fmt: skip
            with pytest.raises(ValidationError):
                uow.opportunities.save(moved, [bad])
        with pytest.raises(ValidationError, match="stage"):  # a change of stage with no event
            uow.opportunities.save(
                moved,
                [
                    FieldChange(
                        opportunity_id="o-1",
                        sequence=1,
                        field="owner_id",
                        old="ann",
                        new="bob",
                        at=clock.now,
                        by="x",
                    )
                ],
            )
        uow.commit()
    _move(uow, clock, "o-1", "qualified", day(2022, 2, 1))
    with uow:
        fh = load_history(uow, B2B)
    assert fh.n_opportunities == 1 and len(fh.ev_opp) == 2
    assert not (np.diff(fh.ev_at.astype(np.int64)) < 0).any()


def test_a_move_dated_2205_is_refused_and_as_of_is_now(
    backend: tuple[UnitOfWork, Clock, Make],
) -> None:
    uow, clock, _ = backend
    _open(uow, clock)
    with uow, pytest.raises(ValidationError, match="cannot be in the future"):
        advance(uow, "o-1", "qualified", expected_version=0, funnel=B2B, by="ann",
                at=datetime(2205, 1, 1, tzinfo=UTC))  # fmt: skip
    clock.now = day(2022, 3, 1)
    with uow:
        fh = load_history(uow, B2B)
    assert fh.as_of == np.datetime64(clock.now.replace(tzinfo=None), "us") + np.timedelta64(1, "us")


# -- edits are events; reports read values as of their date --------------------------------------
def test_a_reassigned_doubled_deal_reports_its_new_rep_and_amount(
    backend: tuple[UnitOfWork, Clock, Make],
) -> None:
    uow, clock, _ = backend
    _open(uow, clock)
    _move(uow, clock, "o-1", "qualified", day(2022, 1, 10))
    clock.now = day(2022, 2, 1)
    with uow:
        r = edit(uow, "o-1", expected_version=1,
                 changes={"owner_id": "bob", "amount": Money("2000", "EUR")},
                 funnel=B2B, by="boss", at=clock.now, reason="territory")  # fmt: skip
        uow.commit()
    assert [(c.field, c.by, c.reason) for c in r.changes] == [
        ("owner_id", "boss", "territory"),
        ("amount", "boss", "territory"),
    ]
    with uow:
        now = load_history(uow, B2B)
        then = load_history(uow, B2B, as_of=day(2022, 1, 20))
        bobs = load_history(uow, B2B, owner_id="bob")
        anns_then = load_history(uow, B2B, owner_id="ann", as_of=day(2022, 1, 20))
        anns_now = load_history(uow, B2B, owner_id="ann")
    assert (now.owner_ids[now.owner].tolist(), now.amount.tolist()) == (["bob"], [2000.0])
    assert (then.owner_ids[then.owner].tolist(), then.amount.tolist()) == (["ann"], [1000.0])
    assert (bobs.n_opportunities, anns_then.n_opportunities, anns_now.n_opportunities) == (1, 1, 0)
    assert len(bobs.ev_opp) == 2  # the whole history of the deal, moves made under ann included


def test_a_reps_probability_survives_moves_and_reaches_the_reports(
    backend: tuple[UnitOfWork, Clock, Make],
) -> None:
    uow, clock, _ = backend
    _open(uow, clock)
    with uow:
        edit(uow, "o-1", expected_version=0, changes={"probability": 0.4, "forecast_category": "commit"},
             funnel=B2B, by="ann", at=clock.now)  # fmt: skip
        uow.commit()
    _move(uow, clock, "o-1", "qualified", day(2022, 1, 10))
    with uow:
        o = uow.opportunities.get("o-1")
        fh = load_history(uow, B2B)
    assert (o.probability, o.forecast_category) == (0.4, "commit")
    assert fh.probability.tolist() == [0.4]
    assert fh.category.tolist() == [2]  # ForecastCategory.COMMIT
    with uow:
        edit(uow, "o-1", expected_version=3, changes={"probability": None},
             funnel=B2B, by="ann", at=clock.now)  # fmt: skip
        assert uow.opportunities.get("o-1").probability == B2B.stage("qualified").probability


def test_lost_for_price_in_2022_reports_price_as_of_2022(
    backend: tuple[UnitOfWork, Clock, Make],
) -> None:
    uow, clock, _ = backend
    _open(uow, clock)
    _move(uow, clock, "o-1", "lost", day(2022, 3, 1), reason="price")
    _move(uow, clock, "o-1", "qualified", day(2023, 2, 1), reason="new budget")
    _move(uow, clock, "o-1", "lost", day(2023, 6, 1), reason="competitor")

    def reasons(**kw: object) -> dict[str, int]:
        with uow:
            lr = lost_reasons(load_history(uow, B2B, **kw))  # type: ignore[arg-type]
        return {k: v for k, v in zip(lr.reasons, lr.count.tolist(), strict=True) if v}

    assert reasons(as_of=day(2022, 12, 31)) == {"price": 1}
    assert reasons() == {"competitor": 1}


def test_a_loss_typed_later_is_invisible_before_it_was_known(
    backend: tuple[UnitOfWork, Clock, Make],
) -> None:
    uow, clock, _ = backend
    _open(uow, clock, at=day(2021, 11, 2))
    clock.now = day(2022, 1, 20)  # typed on 20 January, dated 20 December
    with uow:
        advance(uow, "o-1", "lost", expected_version=0, funnel=B2B, by="ann",
                at=day(2021, 12, 20), reason="price")  # fmt: skip
        uow.commit()
    with uow:
        known_then = load_history(uow, B2B, as_of=day(2022, 1, 1), known_at=day(2022, 1, 1))
        known_now = load_history(uow, B2B, as_of=day(2022, 1, 1))
        e = uow.opportunities.events("o-1")[-1]
        before = load_opportunity(
            uow, "o-1", funnel=B2B, as_of=day(2022, 1, 1), known_at=day(2022, 1, 1)
        )
    assert e.recorded_at == day(2022, 1, 20)
    assert (bool(known_then.is_open[0]), bool(known_now.is_lost[0])) == (True, True)
    assert before.stage == "lead"


def test_start_keeps_whole_histories(backend: tuple[UnitOfWork, Clock, Make]) -> None:
    uow, clock, _ = backend
    _open(uow, clock, at=day(2022, 1, 3), expected_close=day(2022, 3, 31).date())
    for to, d in (("qualified", 20), ("proposal", 40), ("negotiation", 50), ("won", 65)):
        _move(uow, clock, "o-1", to, day(2022, 1, 3) + timedelta(days=d - 3))
    with uow:
        fh = load_history(uow, B2B, start=day(2022, 2, 20))
    # a 62-day cycle that began before ``start`` (the follow-up the win opened is the other deal)
    assert fh.n_opportunities == 2 and round(sales_cycle(fh).mean_days) == 62


# -- replay, idempotent retries ---------------------------------------------------------------
def test_replay_from_the_events_alone_is_the_stored_deal(
    backend: tuple[UnitOfWork, Clock, Make],
) -> None:
    uow, clock, _ = backend
    _open(uow, clock, expected_close=day(2022, 6, 30).date(), custom={"seats": 12})
    _move(uow, clock, "o-1", "lost", day(2022, 1, 5), reason="price")
    _move(uow, clock, "o-1", "qualified", day(2022, 1, 9))
    with uow:
        edit(uow, "o-1", expected_version=2,
             changes={"custom": {"seats": 20, "region": "EMEA"}, "product": "crm"},
             funnel=B2B, by="ann", at=clock.now)  # fmt: skip
        uow.commit()
    with uow:
        stored = uow.opportunities.get("o-1")
        events = uow.opportunities.events("o-1")
    assert replay(events, funnel=B2B) == stored
    assert [type(e).__name__ for e in events] == ["StageChange"] * 3 + ["FieldChange"] * 3


def test_a_retried_move_returns_the_stored_result_across_units_of_work(
    backend: tuple[UnitOfWork, Clock, Make],
) -> None:
    uow, clock, make = backend
    _open(uow, clock)
    with uow:
        first = advance(uow, "o-1", "qualified", expected_version=0, funnel=B2B, by="ann",
                        at=clock.now, request_id="move-7f3")  # fmt: skip
        uow.commit()
    _move(uow, clock, "o-1", "lost", day(2022, 1, 8), reason="price")
    other = make()  # another unit of work (another process, in an application)
    with other:
        again = advance(other, "o-1", "qualified", expected_version=0, funnel=B2B, by="ann",
                        at=clock.now, request_id="move-7f3")  # fmt: skip
        other.commit()
    assert again.retried and not first.retried
    assert (again.event, again.opportunity) == (first.event, first.opportunity)
    with other:
        assert len(other.opportunities.events("o-1")) == 3
        with pytest.raises(ValidationError, match="made a move to 'qualified'"):
            advance(other, "o-1", "won", expected_version=2, funnel=B2B, by="ann",
                    at=clock.now, request_id="move-7f3")  # fmt: skip


def test_two_clients_with_one_version_only_one_lands(
    backend: tuple[UnitOfWork, Clock, Make],
) -> None:
    uow, clock, make = backend
    _open(uow, clock)
    a, b = make(), make()
    with a, b:
        advance(a, "o-1", "qualified", expected_version=0, funnel=B2B, by="ann", at=clock.now)
        a.commit()
        with pytest.raises(ConcurrencyError):
            advance(b, "o-1", "lost", expected_version=0, funnel=B2B, by="bob", at=clock.now,
                    reason="price")  # fmt: skip
    with uow:
        assert uow.opportunities.get("o-1").stage == "qualified"
