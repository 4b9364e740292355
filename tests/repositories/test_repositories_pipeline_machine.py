"""The pipeline service on a repository as a state machine: concurrency, retries, replay, as-of.

Random programs of requests (create, move, reopen, edit; stale versions; retries of
earlier requests through another unit of work; back-dated moves; requests that fail
half-way) run against the service on every backend. The oracle is independent of the
code under test: after each request that lands, the machine keeps the stored
opportunity with the request's effective and recording times. Invariants after every
step:

* every deal's stored state is ``replay`` of its events alone, its version is the
  number of its last event, events are numbered 0, 1, 2, ... in time order and in
  recording order;
* a stale request or a failed one changed nothing;
* a retried request returned the result it stored first, and stored nothing;
* as of any recorded moment and as known at any other, ``load_opportunity`` and
  ``load_history`` give the state that was stored then (stage, amount, owner,
  probability, lost reason).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from crmcore.errors import ConcurrencyError, NotFoundError, TransitionError, ValidationError
from crmcore.model import Money, Opportunity
from crmcore.pipeline import (
    B2B,
    Advanced,
    Edited,
    advance,
    create_opportunity,
    edit,
    load_history,
    load_opportunity,
    reopen_opportunity,
    replay,
)
from crmcore.repositories import MemoryStore, MemoryUnitOfWork, SqlUnitOfWork, UnitOfWork
from crmcore.repositories.sql import make_engine

from .conftest import empty_uow

T0 = datetime(2021, 1, 4, 9, tzinfo=UTC)
DEALS = st.sampled_from(["o-1", "o-2", "o-3"])
STAGES = st.sampled_from(list(B2B.stage_names))
REASONS = st.sampled_from(["price", "competitor", "timing"])


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@attrs.frozen
class Snapshot:
    """The stored opportunity right after a request: effective and recording time."""

    at: datetime
    recorded: datetime
    opp: Opportunity


class PipelineMachine(RuleBasedStateMachine):
    """The service against an oracle of stored snapshots (see the module docstring)."""

    make: Callable[[Clock], tuple[UnitOfWork, Callable[[], UnitOfWork]]]

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.uow, self.other = self.make(self.clock)
        self.snaps: dict[str, list[Snapshot]] = {}
        self.requests: dict[str, tuple[str, Advanced | Edited]] = {}
        self.n_requests = 0

    # -- helpers -------------------------------------------------------------------------
    def _current(self, oid: str) -> Opportunity:
        return self.snaps[oid][-1].opp

    def _request_id(self, retry: bool) -> str:
        self.n_requests += 1
        return f"req-{self.n_requests}"

    def _land(self, oid: str, at: datetime, result: Advanced | Edited) -> None:
        self.snaps[oid].append(Snapshot(at, self.clock.now, result.opportunity))
        if isinstance(result, Advanced) and result.follow_up is not None:
            f = result.follow_up
            self.snaps[f.id] = [Snapshot(f.created_at, self.clock.now, f)]

    def _at(self, oid: str, back: int) -> datetime:
        """An effective time: now, or back-dated (never before the deal's last event)."""
        last = self.snaps[oid][-1].at
        return max(last, self.clock.now - timedelta(hours=back))

    def _unchanged(self, oid: str) -> None:
        with self.uow:
            assert self.uow.opportunities.get(oid) == self._current(oid)

    # -- rules ---------------------------------------------------------------------------
    @rule(hours=st.integers(0, 24 * 40))
    def tick(self, hours: int) -> None:
        self.clock.now += timedelta(hours=hours, microseconds=1)

    @rule(oid=DEALS, amount=st.none() | st.integers(1, 10**6))
    def create(self, oid: str, amount: int | None) -> None:
        if oid in self.snaps:
            return
        with self.uow:
            o = create_opportunity(
                self.uow, B2B, id=oid, customer_id="c-1", owner_id="ann", at=self.clock.now,
                amount=None if amount is None else Money(amount, "EUR"),
                expected_close=(self.clock.now + timedelta(days=90)).date(),
            )  # fmt: skip
            self.uow.commit()
        self.snaps[oid] = [Snapshot(self.clock.now, self.clock.now, o)]

    @precondition(lambda self: bool(self.snaps))
    @rule(data=st.data(), to=STAGES, reason=REASONS, back=st.integers(0, 48))
    def move(self, data: st.DataObject, to: str, reason: str, back: int) -> None:
        oid = data.draw(st.sampled_from(sorted(self.snaps)), label="deal")
        cur = self._current(oid)
        at = self._at(oid, back)
        rid = self._request_id(False)
        try:
            with self.uow:
                if B2B.stage(cur.stage).kind.value == "lost":
                    r = reopen_opportunity(
                        self.uow, oid, expected_version=cur.version, funnel=B2B, by="ann",
                        at=at, to=to, reason=reason, request_id=rid,
                    )  # fmt: skip
                else:
                    r = advance(
                        self.uow, oid, to, expected_version=cur.version, funnel=B2B, by="ann",
                        at=at, reason=reason, request_id=rid, follow_up_id=f"{oid}-f{rid}",
                    )  # fmt: skip
                self.uow.commit()
        except (TransitionError, ValidationError):
            self._unchanged(oid)  # an illegal move stores nothing
            return
        assert not r.retried and r.opportunity.version == cur.version + 1
        self.requests[rid] = (oid, r)
        self._land(oid, at, r)

    @precondition(lambda self: bool(self.snaps))
    @rule(
        data=st.data(),
        field=st.sampled_from(["amount", "owner_id", "probability", "custom.seats"]),
        back=st.integers(0, 48),
    )
    def edit_field(self, data: st.DataObject, field: str, back: int) -> None:
        oid = data.draw(st.sampled_from(sorted(self.snaps)), label="deal")
        cur = self._current(oid)
        value: Any = data.draw(
            {
                "amount": st.none() | st.integers(1, 10**6).map(lambda n: Money(n, "EUR")),
                "owner_id": st.sampled_from(["ann", "bob", "cho"]),
                "probability": st.none() | st.sampled_from([0.1, 0.5, 0.9]),
                "custom.seats": st.none() | st.integers(1, 50),
            }[field],
            label="value",
        )
        at = self._at(oid, back)
        rid = self._request_id(False)
        try:
            with self.uow:
                r = edit(
                    self.uow, oid, expected_version=cur.version, changes={field: value},
                    funnel=B2B, by="mgr", at=at, reason="review", request_id=rid,
                )  # fmt: skip
                self.uow.commit()
        except (TransitionError, ValidationError):
            self._unchanged(oid)  # nothing to change, a closed deal's probability, a guard
            return
        assert r.opportunity.version == cur.version + len(r.changes)
        self.requests[rid] = (oid, r)
        self._land(oid, at, r)

    @precondition(lambda self: bool(self.snaps))
    @rule(data=st.data(), to=STAGES)
    def stale_client(self, data: st.DataObject, to: str) -> None:
        oid = data.draw(st.sampled_from(sorted(self.snaps)), label="deal")
        cur = self._current(oid)
        if cur.version == 0:
            return
        seen = data.draw(st.integers(0, cur.version - 1), label="version seen")
        with self.uow:
            for call in (
                lambda: advance(self.uow, oid, to, expected_version=seen, funnel=B2B, by="x",
                                at=self.clock.now, reason="price"),
                lambda: edit(self.uow, oid, expected_version=seen, changes={"owner_id": "zed"},
                             funnel=B2B, by="x", at=self.clock.now),
            ):  # fmt: skip
                try:
                    call()
                except ConcurrencyError:
                    pass
                except (TransitionError, ValidationError):
                    pass  # refused for another reason first is also "nothing changed"
                else:
                    raise AssertionError(f"a stale version {seen} < {cur.version} was accepted")
            self.uow.commit()
        self._unchanged(oid)

    @precondition(lambda self: bool(self.requests))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        rid = data.draw(st.sampled_from(sorted(self.requests)), label="request")
        oid, first = self.requests[rid]
        other = self.other()  # the retry arrives through another unit of work
        with other:
            if isinstance(first, Edited):
                change = first.changes[0]
                again: Advanced | Edited = edit(
                    other, oid, expected_version=0, changes={change.field: change.new},
                    funnel=B2B, by="mgr", at=self.clock.now, request_id=rid,
                )  # fmt: skip
            else:
                again = advance(
                    other, oid, first.event.to_stage, expected_version=0, funnel=B2B,
                    by="ann", at=self.clock.now, request_id=rid,
                )  # fmt: skip
            other.commit()
        assert again.retried
        assert again.opportunity == first.opportunity
        if isinstance(first, Edited):
            assert isinstance(again, Edited) and again.changes == first.changes
        else:
            assert isinstance(again, Advanced) and again.event == first.event
        self._unchanged(oid)

    @precondition(lambda self: bool(self.snaps))
    @rule(data=st.data())
    def failed_request(self, data: st.DataObject) -> None:
        """A request that stores a change, then fails before its commit: nothing is kept."""
        oid = data.draw(st.sampled_from(sorted(self.snaps)), label="deal")
        cur = self._current(oid)
        failed = False
        try:
            with self.uow:
                edit(
                    self.uow, oid, expected_version=cur.version,
                    changes={"owner_id": "x-" + cur.owner_id[-3:]}, funnel=B2B, by="x",
                    at=self._at(oid, 0),
                )  # fmt: skip
                raise RuntimeError("the application failed after the edit")
        except RuntimeError:
            failed = True
        assert failed
        self._unchanged(oid)

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def events_rebuild_the_stored_deals(self) -> None:
        with self.uow:
            for oid, snaps in self.snaps.items():
                stored = self.uow.opportunities.get(oid)
                assert stored == snaps[-1].opp
                events = self.uow.opportunities.events(oid)
                assert [e.sequence for e in events] == list(range(len(events)))
                assert stored.version == events[-1].sequence
                ats = [e.at for e in events]
                recs = [e.recorded_at for e in events]
                assert ats == sorted(ats) and recs == sorted(recs)  # type: ignore[type-var]
                assert replay(events, funnel=B2B) == stored

    @invariant()
    def the_past_reads_as_it_was_stored(self) -> None:
        if not self.snaps:
            return
        moments = sorted({s.recorded for snaps in self.snaps.values() for s in snaps})
        known = moments[len(moments) // 2]
        with self.uow:
            for oid, snaps in self.snaps.items():
                for s in snaps[-3:]:  # the latest states (all of them: slow on SQL)
                    as_of = s.at + timedelta(microseconds=1)
                    want = [x for x in snaps if x.at < as_of and x.recorded <= known]
                    if not want:
                        with pytest.raises(NotFoundError):
                            load_opportunity(self.uow, oid, funnel=B2B, as_of=as_of, known_at=known)
                        continue
                    got = load_opportunity(self.uow, oid, funnel=B2B, as_of=as_of, known_at=known)
                    assert got == want[-1].opp
            # the whole funnel, as of the middle of the program, as then known
            fh = load_history(self.uow, B2B, as_of=known, known_at=known)
            ids = fh.opportunity_ids[fh.opportunity_codes].tolist()
            for j, oid in enumerate(ids):
                want = [x for x in self.snaps[oid] if x.at < known and x.recorded <= known]
                o = want[-1].opp
                assert B2B.stage_names[fh.final_stage[j]] == o.stage
                assert fh.owner_ids[fh.owner[j]] == o.owner_id
                amount = np.nan if o.amount is None else float(o.amount.amount)
                assert np.isnan(fh.amount[j]) == np.isnan(amount)
                assert np.isnan(amount) or fh.amount[j] == amount
                assert fh.probability[j] == o.probability
            expected = {
                oid for oid, snaps in self.snaps.items()
                if any(x.at < known and x.recorded <= known for x in snaps)
            }  # fmt: skip
            assert set(ids) == expected


FAST = settings(max_examples=40, stateful_step_count=30, deadline=None)
SLOW = settings(
    max_examples=12,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _run(make: Callable[[Clock], tuple[UnitOfWork, Callable[[], UnitOfWork]]], s: settings) -> None:
    class Machine(PipelineMachine):
        pass

    Machine.make = staticmethod(make)  # type: ignore[assignment]
    case = Machine.TestCase
    case.settings = s
    case("runTest").runTest()


def test_memory() -> None:
    def make(clock: Clock) -> tuple[UnitOfWork, Callable[[], UnitOfWork]]:
        store = MemoryStore()
        return MemoryUnitOfWork(store, clock=clock), lambda: MemoryUnitOfWork(store, clock=clock)

    _run(make, FAST)


def test_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'crm.db'}")

    def make(clock: Clock) -> tuple[UnitOfWork, Callable[[], UnitOfWork]]:
        empty_uow(engine)
        return SqlUnitOfWork(engine, clock=clock), lambda: SqlUnitOfWork(engine, clock=clock)

    try:
        _run(make, SLOW)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres(postgres_engine: Any) -> None:
    def make(clock: Clock) -> tuple[UnitOfWork, Callable[[], UnitOfWork]]:
        empty_uow(postgres_engine)
        return SqlUnitOfWork(postgres_engine, clock=clock), lambda: SqlUnitOfWork(
            postgres_engine, clock=clock
        )

    _run(make, SLOW)


@pytest.mark.mysql
def test_mysql(mysql_engine: Any) -> None:
    def make(clock: Clock) -> tuple[UnitOfWork, Callable[[], UnitOfWork]]:
        empty_uow(mysql_engine)
        return SqlUnitOfWork(mysql_engine, clock=clock), lambda: SqlUnitOfWork(
            mysql_engine, clock=clock
        )

    _run(make, SLOW)
