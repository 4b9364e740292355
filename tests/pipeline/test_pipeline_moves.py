"""Moves: legal and illegal transitions, guards, time order, reopen, follow-up, replay, validated records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.errors import TransitionError, ValidationError
from crmcore.model import Money, Opportunity, StageChange
from crmcore.pipeline import (
    B2B,
    FOUR_PHASES,
    TOP_IN_BEST,
    Funnel,
    move,
    open_opportunity,
    reopen,
    replay,
    win,
)
from crmcore.testing.strategies import opportunities

T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)


def _open(funnel=B2B, **kw):  # type: ignore[no-untyped-def]
    return open_opportunity(funnel, id="o-1", customer_id="c-1", owner_id="ann", at=T0, **kw)


def test_illegal_move_names_from_to_and_allowed_targets() -> None:
    o, e = _open()
    with pytest.raises(TransitionError) as info:
        move(o, "won", funnel=B2B, by="ann", at=T0, after=e)
    msg = str(info.value)
    assert "from 'lead' to 'won'" in msg
    assert "allowed targets are ['lost', 'qualified']" in msg


def test_unknown_target_and_wrong_funnel() -> None:
    o, e = _open()
    with pytest.raises(TransitionError, match="'nowhere'"):
        move(o, "nowhere", funnel=B2B, by="ann", at=T0, after=e)
    with pytest.raises(TransitionError, match="is in funnel 'b2b', not 'top-in-best'"):
        move(o, "IN", funnel=TOP_IN_BEST, by="ann", at=T0, after=e)


def test_guard_requires_fields_then_passes() -> None:
    o, e = _open()
    o, e = move(o, "qualified", funnel=B2B, by="ann", at=T0, after=e)
    with pytest.raises(TransitionError, match="'amount' is required"):
        move(o, "proposal", funnel=B2B, by="ann", at=T0, after=e)
    o = attrs.evolve(o, amount=Money("100", "EUR"))
    with pytest.raises(TransitionError, match="'expected_close' is required"):
        move(o, "proposal", funnel=B2B, by="ann", at=T0, after=e)
    o = attrs.evolve(o, expected_close=date(2025, 6, 30))
    o2, e2 = move(o, "proposal", funnel=B2B, by="ann", at=T0, after=e)
    assert (o2.stage, e2.amount, e2.probability) == ("proposal", Money("100", "EUR"), 0.4)


def test_lost_needs_a_reason_and_keeps_it() -> None:
    o, e = _open()
    with pytest.raises(TransitionError, match="a reason is required"):
        move(o, "lost", funnel=B2B, by="ann", at=T0, after=e)
    o, e = move(o, "lost", funnel=B2B, by="ann", at=T0, after=e, reason="price")
    assert (o.lost_reason, o.closed_at, o.probability, e.reason) == ("price", T0, 0.0, "price")


def test_time_cannot_run_backwards() -> None:
    o, e = _open()
    with pytest.raises(TransitionError, match="time cannot run backwards"):
        move(o, "qualified", funnel=B2B, by="ann", at=T0 - timedelta(seconds=1), after=e)


def test_inputs_are_validated() -> None:
    o, e = _open()
    with pytest.raises(ValidationError, match="'at' must be timezone-aware"):
        move(o, "qualified", funnel=B2B, by="ann", at=datetime(2025, 3, 4), after=e)
    cet = timezone(timedelta(hours=1))
    with pytest.raises(ValidationError, match="'at'"):
        move(o, "qualified", funnel=B2B, by="ann", at=datetime(2025, 3, 4, tzinfo=cet), after=e)
    with pytest.raises(ValidationError, match="'by'"):
        move(o, "qualified", funnel=B2B, by=" ann", at=T0, after=e)
    with pytest.raises(ValidationError, match="'reason'"):
        move(o, "qualified", funnel=B2B, by="ann", at=T0, after=e, reason=3)  # type: ignore[arg-type]


def test_after_must_be_the_last_event_of_this_opportunity() -> None:
    o, e0 = _open()
    o1, e1 = move(o, "qualified", funnel=B2B, by="ann", at=T0, after=e0)
    with pytest.raises(ValidationError, match="'after' must be the last event"):
        move(o1, "lost", funnel=B2B, by="ann", at=T0, after=e0, reason="x")
    other = attrs.evolve(e1, opportunity_id="o-2")
    with pytest.raises(ValidationError, match="'after' must be the last event"):
        move(o1, "lost", funnel=B2B, by="ann", at=T0, after=other, reason="x")


def test_lost_is_left_only_by_an_explicit_reopen() -> None:
    o, e = _open()
    o, e = move(o, "lost", funnel=B2B, by="ann", at=T0, after=e, reason="timing")
    with pytest.raises(TransitionError, match="reopened with reopen"):
        move(o, "lead", funnel=B2B, by="ann", at=T0, after=e)
    o2, e2 = reopen(o, funnel=B2B, by="boss", at=T0 + timedelta(days=1), after=e, to="qualified")
    assert (o2.stage, o2.closed_at, o2.lost_reason) == ("qualified", None, None)
    assert (e2.from_stage, e2.to_stage, e2.sequence, e2.reason) == (
        "lost",
        "qualified",
        2,
        "reopened",
    )
    with pytest.raises(TransitionError, match="only a lost opportunity can be reopened"):
        reopen(o2, funnel=B2B, by="boss", at=T0 + timedelta(days=1), after=e2)


def test_won_is_terminal_and_opens_the_follow_up_cycle() -> None:
    o, e = _open(FOUR_PHASES)
    for s in ("design", "closing"):
        o, e = move(o, s, funnel=FOUR_PHASES, by="ann", at=T0, after=e)
    w = win(o, funnel=FOUR_PHASES, by="ann", at=T0 + timedelta(days=2), after=e, follow_up_id="o-2")
    assert w.opportunity.closed_at == T0 + timedelta(days=2)
    assert w.follow_up is not None and w.follow_up_event is not None
    assert (w.follow_up.parent_id, w.follow_up.kind, w.follow_up.customer_id) == (
        "o-1",
        "repurchase",
        "c-1",
    )
    assert (w.follow_up_event.sequence, w.follow_up_event.to_stage) == (0, "needs")
    with pytest.raises(TransitionError, match="allowed targets are \\[\\]"):
        move(
            w.opportunity,
            "needs",
            funnel=FOUR_PHASES,
            by="ann",
            at=T0 + timedelta(days=3),
            after=w.event,
        )


def test_replay_reproduces_state_and_rejects_gaps() -> None:
    o, e0 = _open(amount=Money("10", "EUR"))
    o, e1 = move(o, "qualified", funnel=B2B, by="ann", at=T0 + timedelta(days=1), after=e0)
    o, e2 = move(o, "lost", funnel=B2B, by="bob", at=T0 + timedelta(days=2), after=e1, reason="fit")
    o, e3 = reopen(o, funnel=B2B, by="bob", at=T0 + timedelta(days=3), after=e2)
    assert replay([e3, e1, e0, e2], funnel=B2B, base=o) == o
    plain = replay([e0, e1, e2, e3], funnel=B2B)
    assert (plain.stage, plain.stage_entered_at, plain.amount) == (
        "lead",
        e3.at,
        Money("10", "EUR"),
    )
    with pytest.raises(ValidationError, match="without gaps"):
        replay([e0, e2], funnel=B2B)
    with pytest.raises(ValidationError, match="creation event"):
        replay([e1, e2], funnel=B2B)


@given(opportunities(), st.sampled_from(["lead", "won", "lost"]), st.none() | st.text(max_size=5))
def test_a_move_builds_the_records_of_the_validated_constructors(
    opp: Opportunity, stage: str, reason: str | None
) -> None:
    """A move validates only its new values, yet its opportunity is attrs.evolve's and its event
    what StageChange's validated constructor builds from the same values (issue 14)."""
    funnel = Funnel.linear("f", {"lead": 0.2, "deal": 0.5})
    opp = attrs.evolve(opp, funnel="f", stage="lead", closed_at=None, lost_reason=None)
    _, e0 = open_opportunity(
        funnel, id=opp.id, customer_id=opp.customer_id, owner_id=opp.owner_id, at=opp.created_at
    )
    at = max(opp.stage_entered_at or opp.created_at, opp.created_at) + timedelta(days=1)
    to = {"won": "deal"}.get(stage, stage)
    if funnel.stage(to).kind.value == "lost":
        reason = reason or "price"
    try:
        new, ev = move(opp, to, funnel=funnel, by="rep", at=at, after=e0, reason=reason)
    except (ValidationError, TransitionError):
        return  # a reason no backend can store, refused by the event's validator
    kind = funnel.stage(to).kind.value
    own = opp.probability is not None and opp.probability != funnel.stage("lead").probability
    assert new == attrs.evolve(
        opp,
        stage=to,
        stage_entered_at=at,
        closed_at=None if kind == "open" else at,
        lost_reason=reason if kind == "lost" else None,
        # a rep's own probability is kept between open stages (issue 14)
        probability=opp.probability if own and kind == "open" else funnel.stage(to).probability,
    )
    assert type(new) is Opportunity and type(ev) is StageChange
    assert (ev.sequence, ev.from_stage, ev.to_stage, ev.by) == (1, opp.stage, to, "rep")
    fields = attrs.asdict(ev, recurse=False)
    assert StageChange(**fields) == ev  # every value passes the event's own validators
    assert fields == {
        **attrs.asdict(StageChange(opp.id, 1, opp.stage, to, at, "rep"), recurse=False),
        "reason": reason,
        "amount": opp.amount,
        "probability": new.probability,
        "customer_id": opp.customer_id,
        "owner_id": opp.owner_id,
        "funnel": "f",
        "product": opp.product,
        "forecast_category": opp.forecast_category,
        "funnel_version": funnel.version,
    }
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        new.stage = "x"  # type: ignore[misc]


def test_a_moves_new_values_are_validated_with_the_records_errors() -> None:
    """What a move does not copy from the validated opportunity and funnel is validated, with
    the error the validated constructors raise for it."""
    o, e = _open()

    def error(fn):  # type: ignore[no-untyped-def]
        with pytest.raises(ValidationError) as info:
            fn()
        return str(info.value)

    for by in (" ann", "", 7, "x" * 200):
        assert error(lambda by=by: move(o, "qualified", funnel=B2B, by=by, at=T0, after=e)) == (
            error(lambda by=by: StageChange("o-1", 1, "lead", "qualified", T0, by))
        )
    for reason in (3, "a\x00b", "\ud800"):
        assert "'reason'" in error(
            lambda r=reason: move(o, "lost", funnel=B2B, by="ann", at=T0, after=e, reason=r)
        )
    for at in (datetime(2025, 3, 4), datetime(2025, 3, 4, tzinfo=timezone(timedelta(hours=1)))):
        assert error(lambda at=at: move(o, "qualified", funnel=B2B, by="ann", at=at, after=e)) == (
            error(lambda at=at: StageChange("o-1", 1, "lead", "qualified", at, "ann"))
        )
    last = attrs.evolve(e, sequence=2**31 - 1)  # the next number no backend can store
    assert error(lambda: move(o, "qualified", funnel=B2B, by="ann", at=T0, after=last)) == error(
        lambda: StageChange("o-1", 2**31, "lead", "qualified", T0, "ann")
    )


def test_a_moves_records_take_the_memory_of_constructed_ones() -> None:
    """The moved opportunity and its event share their dictionaries' keys with the records the
    constructors build (no per-record key table), and a funnel's move plans go with it."""
    import gc
    import sys

    from crmcore.pipeline import moves

    funnel = Funnel.linear("mem", {"lead": 0.2, "deal": 0.5})
    o, e = open_opportunity(funnel, id="o-1", customer_id="c-1", owner_id="ann", at=T0)
    moved, ev = move(o, "deal", funnel=funnel, by="ann", at=T0, after=e)
    built = StageChange(**attrs.asdict(ev, recurse=False))
    assert built == ev
    assert sys.getsizeof(ev.__dict__) == sys.getsizeof(built.__dict__)
    assert sys.getsizeof(moved.__dict__) == sys.getsizeof(attrs.evolve(o, stage="deal").__dict__)
    key = id(funnel)
    assert key in moves._STEPS
    del funnel
    gc.collect()
    assert key not in moves._STEPS
