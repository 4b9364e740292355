"""Issue 15, streaming operations: de-duplication by event id within a window, and checkpoint
retention (the last N kept). Through every backend: tests/repositories/test_repositories_alert_ids.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.anomaly import (
    STATE_KIND,
    Event,
    OutOfOrderError,
    RobustZ,
    RuleSet,
    StreamingEngine,
    Velocity,
)
from crmcore.errors import ConcurrencyError, NotFoundError, ValidationError
from crmcore.repositories import MemoryUnitOfWork

T0 = datetime(2025, 3, 1, 9, tzinfo=UTC)
RULES = RuleSet(
    name="ops",
    rules=[
        Velocity(name="burst", window="1h", at_least=3),
        RobustZ(name="large", lookback=5, min_history=3, z=3.0),
    ],
)


def _ev(i: int, minutes: int, amount: float = 20.0, customer: str = "c-1") -> Event:
    return Event(f"t-{i}", customer, T0 + timedelta(minutes=minutes), amount)


# -- de-duplication ---------------------------------------------------------------------------
def test_a_redelivered_event_is_counted_twice_without_dedup_and_once_with_it():
    stream = [_ev(1, 0), _ev(2, 10), _ev(2, 10)]  # t-2 delivered twice
    plain = StreamingEngine(RULES).process_many(stream)
    assert [a.rule for a in plain] == ["burst"]  # the finding: 3 "events" in an hour
    engine = StreamingEngine(RULES, dedup_window="1d")
    assert engine.process_many(stream) == []
    assert engine.duplicates == 1


def test_a_redelivery_after_later_events_is_skipped_not_out_of_order():
    engine = StreamingEngine(RULES, dedup_window="2h")
    engine.process_many([_ev(1, 0), _ev(2, 30), _ev(3, 60)])
    before = engine.snapshot()
    assert engine.process_event(_ev(1, 0)) == ()  # 60 minutes back, within the window
    assert engine.duplicates == 1 and engine.snapshot() == before


def test_an_event_older_than_the_window_is_checked_for_order_as_before():
    engine = StreamingEngine(RULES, dedup_window="30m")
    engine.process_many([_ev(1, 0), _ev(2, 45), _ev(3, 90)])
    before = engine.snapshot()
    with pytest.raises(OutOfOrderError):
        engine.process_event(_ev(1, 0))  # forgotten: 90 minutes back
    assert engine.snapshot() == before and engine.duplicates == 0


def test_ids_are_remembered_per_customer():
    engine = StreamingEngine(RULES, dedup_window="1d")
    engine.process_event(_ev(1, 0, customer="c-1"))
    engine.process_event(_ev(1, 0, customer="c-2"))  # same id, another customer: an event
    assert engine.duplicates == 0 and engine.customer_count() == 2


def test_a_refused_event_is_not_remembered():
    engine = StreamingEngine(RULES, dedup_window="1d")
    engine.process_event(_ev(1, 0))
    with pytest.raises(ValidationError):
        engine.process_event(Event("t-2", "c-1", T0, float("nan")))
    with pytest.raises(OutOfOrderError):
        engine.process_event(_ev(3, -5))
    assert engine.process_event(_ev(2, 5)) == () and engine.duplicates == 0
    engine.process_event(_ev(3, 6))
    assert engine.duplicates == 0


def test_bad_dedup_window_is_refused_by_name():
    with pytest.raises(ValidationError, match="'dedup_window'"):
        StreamingEngine(RULES, dedup_window="a day")


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 90), st.sampled_from([5.0, 20.0, 400.0])),
        max_size=60,
    ),
    st.lists(st.tuples(st.integers(0, 59), st.integers(0, 4)), max_size=20),
    st.sampled_from(["1h", "3h", "1d"]),
)
def test_redeliveries_within_the_window_change_nothing(rows, redeliver, window):
    """Events in time order (minutes apart per customer), some delivered again a few events
    later: with de-duplication the alerts and the state are those of the clean stream."""
    clock: dict[int, int] = {}
    events = []
    for i, (c, gap, amount) in enumerate(rows):
        clock[c] = clock.get(c, 0) + gap
        events.append(_ev(i, clock[c], amount, customer=f"c-{c}"))
    noisy = list(events)
    inserted = 0
    for at, later in sorted(redeliver):
        if at < len(events):
            e = events[at]
            j = min(len(noisy), noisy.index(e) + 1 + later)
            # a re-delivery comes after the original; it is a duplicate when it is within
            # the window of the customer's latest event at that point (else out of order)
            noisy.insert(j, e)
            inserted += 1
    clean = StreamingEngine(RULES, dedup_window=window)
    expected = clean.process_many(events)
    engine = StreamingEngine(RULES, dedup_window=window)
    got = []
    refused = 0
    for e in noisy:
        try:
            got += engine.process_event(e)
        except OutOfOrderError:
            refused += 1
    assert got == expected
    assert engine.duplicates + refused == inserted
    assert engine.snapshot()["customers"].keys() == clean.snapshot()["customers"].keys()


def test_dedup_state_survives_a_checkpoint():
    uow = MemoryUnitOfWork()
    first = StreamingEngine(RULES, dedup_window="1d")
    first.process_many([_ev(1, 0), _ev(2, 10)])
    with uow:
        first.checkpoint(uow)
        uow.commit()
    restarted = StreamingEngine(RULES, dedup_window="1d")
    with uow:
        restarted.restore(uow)
    assert restarted.snapshot() == first.snapshot()
    assert restarted.process_event(_ev(2, 10)) == ()  # the replay after a restart
    assert restarted.duplicates == 1


def test_a_format_1_snapshot_still_loads():
    engine = StreamingEngine(RULES, dedup_window="1d")
    engine.process_many([_ev(1, 0), _ev(2, 10)])
    snap = engine.snapshot()
    old = {**snap, "format": 1, "customers": {k: v[:3] for k, v in snap["customers"].items()}}
    other = StreamingEngine(RULES, dedup_window="1d")
    other.load_snapshot(old)
    assert other.process_event(_ev(3, 20)) == engine.process_event(_ev(3, 20))


# -- checkpoint retention ---------------------------------------------------------------------
def _checkpoints(uow, n, **kw):
    engine = StreamingEngine(RULES, **kw)
    numbers = []
    for k in range(n):
        engine.process_event(_ev(k, k))
        with uow:
            numbers.append(engine.checkpoint(uow))
            uow.commit()
    return engine, numbers


def test_only_the_last_checkpoints_are_kept():
    uow = MemoryUnitOfWork()
    engine, numbers = _checkpoints(uow, 7, keep_checkpoints=2)
    assert numbers == [1, 2, 3, 4, 5, 6, 7]
    with uow:
        assert uow.documents.keys(STATE_KIND) == ["ops@000000000006", "ops@000000000007"]
        restarted = StreamingEngine(RULES)
        assert restarted.restore(uow) == 7
        assert restarted.snapshot() == engine.snapshot()
        assert restarted.restore(uow, version=6) == 6
        with pytest.raises(
            NotFoundError, match=r"checkpoint 5 of 'ops' is not stored \(kept: \[6, 7\]\)"
        ):
            restarted.restore(uow, version=5)


def test_the_default_keeps_three_and_none_keeps_all():
    uow = MemoryUnitOfWork()
    _checkpoints(uow, 5)
    with uow:
        assert len(uow.documents.keys(STATE_KIND)) == 3
    uow = MemoryUnitOfWork()
    _checkpoints(uow, 5, keep_checkpoints=None)
    with uow:
        assert len(uow.documents.keys(STATE_KIND)) == 5
    with pytest.raises(ValidationError, match="'keep_checkpoints'"):
        StreamingEngine(RULES, keep_checkpoints=0)


def test_a_checkpoint_of_the_old_layout_is_restored_and_replaced():
    """Before retention every checkpoint was a new version of one document named by the
    state key; such a state is read, numbering goes on, and the first pruning removes it."""
    uow = MemoryUnitOfWork()
    engine = StreamingEngine(RULES)
    engine.process_many([_ev(1, 0), _ev(2, 10)])
    snap = engine.snapshot()
    with uow:
        uow.documents.put(STATE_KIND, "ops", {**snap, "customers": {}}, expected_version=None)
        uow.documents.put(STATE_KIND, "ops", snap, expected_version=1)
        uow.commit()
    restarted = StreamingEngine(RULES)
    with uow:
        assert restarted.restore(uow) == 2
        assert restarted.snapshot() == snap
        assert restarted.checkpoint(uow) == 3
        assert uow.documents.keys(STATE_KIND) == ["ops@000000000003"]


def test_another_engines_checkpoint_is_a_conflict_even_after_pruning():
    uow = MemoryUnitOfWork()
    a = StreamingEngine(RULES, keep_checkpoints=1)
    b = StreamingEngine(RULES, keep_checkpoints=1)
    with uow:
        assert a.checkpoint(uow) == 1
        assert b.checkpoint(uow) == 2  # a fresh engine continues the numbering
        assert b.checkpoint(uow) == 3  # and pruned 1 and 2
        with pytest.raises(ConcurrencyError, match="checkpoint 3 of 'ops' was written by another"):
            a.checkpoint(uow)
        assert uow.documents.keys(STATE_KIND) == ["ops@000000000003"]


def test_bad_state_key_is_refused_by_name():
    with pytest.raises(ValidationError, match="'state_key'"):
        StreamingEngine(RULES, state_key="x" * 250)
