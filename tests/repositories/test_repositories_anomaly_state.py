"""Issue 15 on every backend: the streaming engine's checkpoints (the last N kept, the old
one-document layout read and replaced) and its de-duplication state after a restart.
Here rather than in tests/anomaly because they need the backends' fixtures (conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from crmcore.anomaly import STATE_KIND, Event, RobustZ, RuleSet, StreamingEngine, Velocity
from crmcore.errors import ConcurrencyError, NotFoundError
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
from crmcore.repositories.protocols import UnitOfWork

BACKENDS = ["memory", "sqlite", "postgres", "mysql"]
T0 = datetime(2025, 3, 1, 9, tzinfo=UTC)
RULES = RuleSet(
    name="ops",
    rules=[
        Velocity(name="burst", window="1h", at_least=3),
        RobustZ(name="large", lookback=5, min_history=3, z=3.0),
    ],
)


@pytest.fixture(params=BACKENDS)
def make(request: pytest.FixtureRequest) -> Iterator[Callable[[], UnitOfWork]]:
    if request.param == "memory":
        yield MemoryUnitOfWork
        return
    factory: Callable[[], SqlUnitOfWork] = request.getfixturevalue(f"{request.param}_factory")
    yield factory


def _events(n: int) -> list[Event]:
    return [
        Event(f"t-{i}", f"c-{i % 4}", T0 + timedelta(minutes=7 * i), [20.0, 25.0, 400.0][i % 3])
        for i in range(n)
    ]


def test_the_last_checkpoints_are_kept_and_restored(make: Callable[[], UnitOfWork]) -> None:
    uow = make()
    events = _events(70)
    engine = StreamingEngine(RULES, keep_checkpoints=2, dedup_window="2h")
    for k in range(7):
        engine.process_many(events[10 * k : 10 * k + 10])
        with uow:
            assert engine.checkpoint(uow) == k + 1
            uow.commit()
    with uow:
        assert uow.documents.keys(STATE_KIND) == ["ops@000000000006", "ops@000000000007"]
        restarted = StreamingEngine(RULES, dedup_window="2h")
        assert restarted.restore(uow) == 7
        with pytest.raises(NotFoundError, match="kept: \\[6, 7\\]"):
            StreamingEngine(RULES).restore(uow, version=5)
    assert restarted.snapshot() == engine.snapshot()
    # the source delivers the last events again after the restart: none counts twice
    assert restarted.process_many(events[-5:]) == []
    assert restarted.duplicates == 5
    with uow:  # an engine whose state is older than the stored one cannot overwrite it
        stale = StreamingEngine(RULES, keep_checkpoints=2)
        assert stale.restore(uow) == 7
        assert engine.checkpoint(uow) == 8
        with pytest.raises(ConcurrencyError):
            stale.checkpoint(uow)


def test_a_state_of_the_old_layout_is_read_and_replaced(make: Callable[[], UnitOfWork]) -> None:
    uow = make()
    engine = StreamingEngine(RULES)
    engine.process_many(_events(20))
    snap = engine.snapshot()
    with uow:
        uow.documents.put(STATE_KIND, "ops", {**snap, "customers": {}}, expected_version=None)
        uow.documents.put(STATE_KIND, "ops", snap, expected_version=1)
        uow.commit()
    restarted = StreamingEngine(RULES)
    with uow:
        assert restarted.restore(uow) == 2
        assert restarted.checkpoint(uow) == 3
        uow.commit()
    with uow:
        assert uow.documents.keys(STATE_KIND) == ["ops@000000000003"]
    assert restarted.snapshot() == snap
