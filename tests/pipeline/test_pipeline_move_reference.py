"""A move against its reference: the funnel's rules, then the two records built the plain attrs
way (``attrs.evolve`` of the opportunity and ``StageChange(...)``, every validator run), for
random valid and invalid inputs (issue 14: the fast move builds the same records and raises
the same errors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import CRMError, TransitionError, ValidationError
from crmcore.model import FieldChange, Opportunity, StageChange
from crmcore.pipeline import Funnel, RequireFields, RequireReason, move, reopen
from crmcore.testing.strategies import opportunities

FUNNEL = Funnel.linear(
    "ref",
    {"lead": 0.2, "deal": 0.5, "talk": 0.7},
    guards={"talk": (RequireFields("amount"),), "lost": (RequireReason(),)},
)
OTHER = Funnel.linear("other", {"lead": 0.2, "deal": 0.5, "talk": 0.7})


def reference(
    opp: Opportunity,
    to: Any,
    *,
    funnel: Funnel,
    by: Any,
    at: Any,
    after: Any,
    reason: Any,
    reopening: bool = False,
) -> tuple[Opportunity, StageChange]:
    """What a move must return, written from its documented rules: the funnel allows the move
    (or it reopens a lost deal into an open stage), ``after`` is the deal's last event and ``at``
    is not before it, the target's guards pass, and the records are built by their validated
    constructors (which check ``by``, ``at``, ``reason``, the event's number and the times)."""
    if opp.funnel != funnel.name:
        raise TransitionError("another funnel")
    here = funnel.stage(opp.stage)
    if reopening:
        if here.kind.value != "lost" or funnel.stage(to).kind.value != "open":
            raise TransitionError("not a reopen")
    elif not isinstance(to, str) or to not in funnel.targets(opp.stage):
        raise TransitionError("not allowed")
    target = funnel.stage(to)
    kind = target.kind.value
    p = target.probability
    own = opp.probability
    if kind == "open" and here.kind.value == "open" and own is not None and own != here.probability:
        p = own  # a rep's own probability is kept between open stages
    event = StageChange(  # every value validated by the event's own rules
        opportunity_id=opp.id,
        sequence=after.sequence + 1 if isinstance(after, StageChange | FieldChange) else 1,
        from_stage=opp.stage,
        to_stage=to,
        at=at,
        by=by,
        reason=reason,
        amount=opp.amount,
        probability=p,
        customer_id=opp.customer_id,
        owner_id=opp.owner_id,
        funnel=funnel.name,
        product=opp.product,
        forecast_category=opp.forecast_category,
        funnel_version=funnel.version,
    )
    if type(reason) not in (str, type(None)):
        raise ValidationError("'reason' must be a plain string")
    if (
        not isinstance(after, StageChange | FieldChange)
        or after.opportunity_id != opp.id
        or (isinstance(after, StageChange) and after.to_stage != opp.stage)
    ):
        raise ValidationError("'after' must be the last event")
    if at < after.at:
        raise TransitionError("time cannot run backwards")
    for guard in target.guards:
        if guard.failure(opp, reason) is not None:
            raise TransitionError("guard")
    new = attrs.evolve(  # every validator of the opportunity and its rule across fields
        opp,
        stage=to,
        stage_entered_at=at,
        closed_at=None if kind == "open" else at,
        lost_reason=reason if kind == "lost" else None,
        probability=p,
    )
    return new, event


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except CRMError as e:
        return type(e).__name__, str(e)


# What can be wrong with each input (one at a time, so the error is determined).
_BAD_BY = st.sampled_from([" ann", "", 7, None, "x" * 200, "a\x00b", "\ud800"])
_BAD_AT = st.sampled_from(
    [
        datetime(2025, 3, 4),  # naive
        datetime(2025, 3, 4, tzinfo=timezone(timedelta(hours=1))),
        "2025-03-04T00:00:00+00:00",
        None,
    ]
)
_BAD_REASON = st.sampled_from([3, "a\x00b", "\ud800", b"price"])
_FAULTS = (
    None,
    "by",
    "at",
    "reason",
    "to",
    "funnel",
    "after-id",
    "after-stage",
    "after-late",
    "after-last",
    "after-edit",
    "after-not-event",
    "before-created",
)


@settings(max_examples=300)
@given(
    opportunities(),
    st.sampled_from(["lead", "deal", "talk"]),
    st.sampled_from(_FAULTS),
    st.data(),
)
def test_a_move_gives_the_records_and_errors_of_the_plain_attrs_construction(
    opp: Opportunity, stage: str, fault: str | None, data: st.DataObject
) -> None:
    funnel = FUNNEL
    to = data.draw(st.sampled_from(sorted(FUNNEL.targets(stage))))  # a move the funnel allows
    opp = attrs.evolve(opp, funnel="ref", stage=stage, closed_at=None, lost_reason=None)
    start = max(opp.created_at, opp.stage_entered_at or opp.created_at)
    after: Any = StageChange(opp.id, data.draw(st.integers(0, 50)), None, stage, start, "ann")
    at: Any = start + timedelta(seconds=data.draw(st.integers(0, 10**8)))
    by: Any = data.draw(st.sampled_from(["ann", "rep-2", "b" * 128]))
    reason: Any = data.draw(st.none() | st.sampled_from(["price", "timing", ""]))
    if fault == "by":
        by = data.draw(_BAD_BY)
    elif fault == "at":
        at = data.draw(_BAD_AT)
    elif fault == "reason":
        reason = data.draw(_BAD_REASON)
    elif fault == "to":
        to = data.draw(st.sampled_from(["nowhere", stage, "won"]))
    elif fault == "funnel":
        funnel = OTHER
    elif fault == "after-id":
        after = attrs.evolve(after, opportunity_id=opp.id + "x")
    elif fault == "after-stage":
        after = attrs.evolve(after, to_stage="won" if stage != "won" else "lead")
    elif fault == "after-late":
        after = attrs.evolve(
            after, at=at + timedelta(microseconds=data.draw(st.integers(1, 10**9)))
        )
    elif fault == "after-last":
        after = attrs.evolve(after, sequence=2**31 - 1)  # the next number no backend can store
    elif fault == "after-edit":  # the deal's last event is an edit (valid)
        after = FieldChange(opp.id, after.sequence, "product", None, "erp", start, "ann")
    elif fault == "after-not-event":
        after = data.draw(st.sampled_from([None, "e-1", opp]))
    elif fault == "before-created":  # an earlier event passed as 'after': the deal's own rule
        earlier = opp.created_at - timedelta(seconds=data.draw(st.integers(1, 10**6)))
        after = attrs.evolve(after, at=earlier - timedelta(days=1))
        at = earlier

    got = _outcome(lambda: move(opp, to, funnel=funnel, by=by, at=at, after=after, reason=reason))
    want = _outcome(
        lambda: reference(opp, to, funnel=funnel, by=by, at=at, after=after, reason=reason)
    )
    assert got[0] == want[0], (got, want)
    if got[0] == "ok":
        (new, event), (ref_new, ref_event) = got[1], want[1]
        assert type(new) is Opportunity and type(event) is StageChange
        assert new == ref_new and event == ref_event
        assert attrs.asdict(new, recurse=False) == attrs.asdict(ref_new, recurse=False)
        assert attrs.asdict(event, recurse=False) == attrs.asdict(ref_event, recurse=False)
        assert list(new.__dict__) == list(ref_new.__dict__)
        assert list(event.__dict__) == list(ref_event.__dict__)
    elif want[0] == "ValidationError" and fault in (
        "by",
        "at",
        "reason",
        "after-last",
        "before-created",
    ):
        assert got[1] == want[1]  # the records' own validators' message, word for word


@settings(max_examples=100)
@given(
    opportunities(),
    st.sampled_from(["lead", "deal", "won", "lost"]),
    st.sampled_from([None, "by", "at", "reason"]),
    st.data(),
)
def test_a_reopen_gives_the_records_and_errors_of_the_plain_attrs_construction(
    opp: Opportunity, to: str, fault: str | None, data: st.DataObject
) -> None:
    opp = attrs.evolve(opp, funnel="ref", stage="lost", lost_reason="price")
    start = max(
        opp.created_at, opp.stage_entered_at or opp.created_at, opp.closed_at or opp.created_at
    )
    opp = attrs.evolve(opp, closed_at=start)
    after = StageChange(opp.id, 3, "lead", "lost", start, "ann", reason="price")
    at: Any = start + timedelta(hours=data.draw(st.integers(0, 10**4)))
    by: Any = "boss"
    reason: Any = "budget found"
    if fault == "by":
        by = data.draw(_BAD_BY)
    elif fault == "at":
        at = data.draw(_BAD_AT)
    elif fault == "reason":
        reason = data.draw(_BAD_REASON)

    got = _outcome(
        lambda: reopen(opp, funnel=FUNNEL, by=by, at=at, after=after, to=to, reason=reason)
    )
    want = _outcome(
        lambda: reference(
            opp, to, funnel=FUNNEL, by=by, at=at, after=after, reason=reason, reopening=True
        )
    )
    assert got[0] == want[0], (got, want)
    if got[0] == "ok":
        assert got[1] == want[1]
        assert got[1][0].is_closed is False and got[1][0].lost_reason is None
    elif want[0] == "ValidationError":
        assert got[1] == want[1]


def test_the_reference_refuses_what_it_should() -> None:
    """The reference is not vacuous: it refuses a move the funnel does not allow."""
    t = datetime(2025, 1, 1, tzinfo=UTC)
    o = Opportunity(id="o", customer_id="c", owner_id="r", funnel="ref", stage="lead", created_at=t)
    e = StageChange("o", 0, None, "lead", t, "r")
    with pytest.raises(TransitionError):
        reference(o, "won", funnel=FUNNEL, by="r", at=t, after=e, reason=None)
    new, ev = reference(o, "deal", funnel=FUNNEL, by="r", at=t, after=e, reason=None)
    assert (new.stage, ev.sequence, ev.from_stage) == ("deal", 1, "lead")
