"""Streaming engine: bad input never changes state; checkpoints round-trip exactly."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from crmcore.anomaly import (
    CustomerContext,
    Event,
    OutOfOrderError,
    RobustZ,
    RuleSet,
    StreamingEngine,
    Threshold,
    UnknownCustomerError,
    Velocity,
)
from crmcore.anomaly.rules import BehaviourChange, Dormant, EWBaseline
from crmcore.errors import ConcurrencyError, ConfigurationError, ValidationError
from crmcore.model import Money, Transaction
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork

T0 = datetime(2025, 1, 1, tzinfo=UTC)
RULES = RuleSet(
    name="s",
    rules=[
        RobustZ(name="rz", lookback=5, min_history=3, z=3),
        EWBaseline(name="ew", alpha=0.3, min_history=3, z=3),
        Velocity(name="v", window="1d", measure="sum", at_least=500),
        BehaviourChange(name="c", window="3d", ratio=2),
        Dormant(name="d", gap="5d"),
    ],
)


def stream(n=120, customers=5):
    amounts = [12.5, 40.0, 33.3, 90.0, 18.0, 700.0, 25.0, 61.1]
    return [
        Event(
            f"t{i}",
            f"c{i % customers}",
            T0 + timedelta(hours=7 * i + (i % 3) + (240 if i >= 100 else 0)),
            amounts[(i * 5) % 8] * (1 + i % 4),
        )
        for i in range(n)
    ]


def test_out_of_order_event_is_rejected_and_changes_nothing():
    eng = StreamingEngine(RULES)
    eng.process_many(stream(40))
    before = json.dumps(eng.snapshot(), sort_keys=True)
    late = Event("late", "c1", T0, 10.0)
    with pytest.raises(OutOfOrderError, match="event 'late' of customer 'c1'"):
        eng.process_event(late)
    assert json.dumps(eng.snapshot(), sort_keys=True) == before


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            Event("x", "c1", T0 + timedelta(days=400), float("nan")),
            "'amount' of event 'x' must be a finite number",
        ),
        (Event("x", "c1", T0 + timedelta(days=400), -5.0), "'amount' of event 'x'"),
        (Event("x", "c1", T0 + timedelta(days=400), 1e20), "'amount' of event 'x'"),
        (
            Event("x", "c1", T0 + timedelta(days=400), "abc"),
            "'amount' of event 'x' must be a number",
        ),
        (
            Event("x", "c1", datetime(2026, 1, 1), 5.0),
            "'time' of event 'x' must be a timezone-aware UTC",
        ),
        (
            Event("x", "c1", T0 + timedelta(days=400), 5.0, "loan"),
            "'kind' of event 'x' must be one of",
        ),
        (Event("", "c1", T0, 5.0), "'id' of an event"),
        (
            Event("x", " c9", T0, 5.0),
            "'customer_id' of event 'x' must be a non-empty string id",
        ),
    ],
)
def test_bad_events_raise_validation_errors_and_keep_state(event, message):
    eng = StreamingEngine(RULES)
    eng.process_many(stream(40))
    before = json.dumps(eng.snapshot(), sort_keys=True)
    with pytest.raises(ValidationError, match=message):
        eng.process_event(event)
    assert json.dumps(eng.snapshot(), sort_keys=True) == before
    eng.process_event(Event("ok", "c1", T0 + timedelta(days=400), 5.0))  # still running


def test_unknown_customers_error_policy_rejects_per_event():
    eng = StreamingEngine(RULES, {"c0": CustomerContext(owner_id="rep")}, unknown_customers="error")
    eng.process_event(Event("a", "c0", T0, 5.0))
    with pytest.raises(UnknownCustomerError, match="customer 'zz' is unknown"):
        eng.process_event(Event("b", "zz", T0, 5.0))
    assert eng.customer_count() == 1


def test_transactions_and_events_give_the_same_alerts():
    rs = RuleSet(name="b", rules=[Threshold(name="t", at_least=100)])
    tx = Transaction(
        id="t1",
        customer_id="c",
        occurred_at=T0,
        amount=Money(Decimal("150.00"), "EUR"),
        kind="withdrawal",
    )
    [a] = StreamingEngine(rs).process(tx)
    [b] = StreamingEngine(rs).process_event(Event("t1", "c", T0, 150.0, "withdrawal"))
    assert a == b


def _split_run(make_uow):
    events = stream(160)
    whole = StreamingEngine(RULES)
    expected = whole.process_many(events)
    assert {a.rule for a in expected} == {"rz", "ew", "v", "c", "d"}
    first = StreamingEngine(RULES)
    got = first.process_many(events[:77])
    uow = make_uow()
    with uow:
        assert first.checkpoint(uow) == 1
        uow.commit()
    restarted = StreamingEngine(RULES)
    with uow:
        restarted.restore(uow)
    assert restarted.snapshot() == first.snapshot()  # the state round-trips exactly
    got += restarted.process_many(events[77:])
    assert got == expected
    assert restarted.snapshot() == whole.snapshot()
    with uow:
        assert restarted.checkpoint(uow) == 2
        uow.commit()
    return uow


def test_checkpoint_and_restore_through_the_memory_backend():
    _split_run(MemoryUnitOfWork)


def test_checkpoint_and_restore_through_sqlite(tmp_path):
    uow = _split_run(lambda: SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'a.db'}"))
    uow.close()


def test_stale_checkpoint_is_a_concurrency_error():
    uow = MemoryUnitOfWork()
    a, b = StreamingEngine(RULES), StreamingEngine(RULES)
    with uow:
        a.checkpoint(uow)
        b.checkpoint(uow)  # b read version 1 and writes 2
        with pytest.raises(ConcurrencyError):
            a.checkpoint(uow)  # a still believes version 1 is the latest


def test_restoring_state_of_other_rules_is_refused():
    eng = StreamingEngine(RULES)
    eng.process_many(stream(10))
    snap = eng.snapshot()
    other = StreamingEngine(RuleSet(name="s", rules=[Threshold(name="t", at_least=1)]))
    with pytest.raises(ConfigurationError, match="made by other rules"):
        other.load_snapshot(snap)
    broken = copy.deepcopy(snap)
    broken["customers"]["c1"] = [1, "x"]
    with pytest.raises(ValidationError, match="damaged"):
        eng.load_snapshot(broken)
