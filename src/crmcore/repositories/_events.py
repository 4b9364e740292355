"""The rules of an opportunity's event stream: the one place every backend checks its writes.

An opportunity changes only through its events, numbered together from 0
(:class:`~crmcore.model.StageChange` for the creation and every move,
:class:`~crmcore.model.FieldChange` for every edit of a field). The memory and
the SQL backends (and a user's own) call :func:`creation_event` from
``add()`` and :func:`appended_events` from ``save()`` with what they stored,
and store what these return, so every backend accepts and refuses the same
streams:

* creation first: event 0 creates the deal (no ``from_stage``, at its creation
  time, into its stage); no later event creates it again;
* numbering: the new events continue the stored ones without a gap (a number
  already stored is a :class:`~crmcore.errors.DuplicateError`);
* a move starts from the stage the deal is in (``from_stage``);
* time order: no event is dated before the previous one, none later than the
  repository's clock plus :data:`FUTURE_TOLERANCE` (a move dated in 2205 is
  refused);
* recording time: ``recorded_at`` is stamped from the repository's clock
  (never before the previous event's), or, when the caller set it, must be
  that clock's time within :data:`FUTURE_TOLERANCE`;
* state only through events: the saved opportunity must be the stored one
  with the events applied. A change of stage, amount, owner, expected close
  date, probability, forecast category, product or custom field without its
  event is refused, and so is a change of what is fixed at creation;
* a client's ``request_id`` names one request: a stored id is not used again.

The snapshot fields of a stage change (amount, owner, customer, funnel,
product, forecast category) left None are filled from the deal; a given one
must match it. Its ``probability`` left None keeps the deal's.

>>> from datetime import datetime, timezone
>>> from crmcore.model import Opportunity
>>> t = datetime(2025, 1, 6, tzinfo=timezone.utc)
>>> o = Opportunity(id="o-1", customer_id="c-1", owner_id="ann", funnel="b2b", stage="lead",
...                 created_at=t)
>>> e = creation_event(o, None, now=t)
>>> (e.sequence, e.from_stage, e.to_stage, e.by, e.recorded_at == t)
(0, None, 'lead', 'ann', True)
>>> creation_event(o, None, now=datetime(2024, 1, 1, tzinfo=timezone.utc))
Traceback (most recent call last):
crmcore.errors.ValidationError: event 0 of opportunity 'o-1' is dated 2025-01-06T00:00:00+00:00, after the repository's clock (2024-01-01T00:00:00+00:00) plus 0:05:00: effective times cannot be in the future
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from crmcore.errors import ArgumentTypeError, DuplicateError, ValidationError
from crmcore.model import FieldChange, Opportunity, StageChange
from crmcore.model.opportunity import CUSTOM_PREFIX, EDITABLE_FIELDS, same_value
from crmcore.repositories._codec import check_storable
from crmcore.timestamps import utc_problem

__all__ = [
    "FUTURE_TOLERANCE",
    "Clock",
    "Event",
    "Tail",
    "appended_events",
    "check_clock",
    "clock_now",
    "creation_event",
    "utc_now",
]

Event = StageChange | FieldChange
"""An opportunity's event: a stage change or a field change."""
Clock = Callable[[], datetime]
"""A clock: returns the current time as an aware UTC datetime."""

FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far after the repository's clock an event may be dated (clock skew between the
application and the database): a later effective time is refused, and a ``recorded_at``
given by the caller must be within this of the clock."""

_FIXED = ("customer_id", "funnel", "created_at", "parent_id", "kind")
_SNAPSHOT = ("customer_id", "owner_id", "funnel", "product", "amount", "forecast_category")
_CREATION_ONLY = ("expected_close", "parent_id", "deal_kind")


def utc_now() -> datetime:
    """The system clock as an aware UTC datetime (the default clock of the units of work).

    >>> utc_now().tzinfo is UTC
    True
    """
    return datetime.now(UTC)


def check_clock(clock: object) -> Clock:
    """``clock`` when it is callable (None: :func:`utc_now`); the time it gives is checked
    each time it is read (:func:`clock_now`).

    >>> check_clock(None) is utc_now
    True
    >>> check_clock("now")
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'clock' must be a callable returning an aware UTC datetime: 'now'
    """
    if clock is None:
        return utc_now
    if not callable(clock):
        raise ArgumentTypeError(
            f"'clock' must be a callable returning an aware UTC datetime: {clock!r}"
        )
    return clock


def clock_now(clock: Clock) -> datetime:
    """Read ``clock``: an aware UTC datetime, or ValidationError naming what it returned.

    >>> clock_now(lambda: datetime(2025, 1, 1))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: the clock must return a timezone-aware UTC datetime: it returned datetime.datetime(2025, 1, 1, 0, 0) (must be timezone-aware (naive datetimes are ambiguous))
    """
    now = clock()
    problem = utc_problem(now)
    if problem is not None:
        raise ValidationError(
            f"the clock must return a timezone-aware UTC datetime: it returned {now!r} ({problem})"
        )
    return now


@attrs.frozen
class Tail:
    """What a backend knows of an opportunity's stored events: the last one's number and times.

    >>> t = datetime(2025, 1, 6, tzinfo=UTC)
    >>> Tail(sequence=0, at=t, recorded_at=t).sequence
    0
    """

    sequence: int
    at: datetime
    recorded_at: datetime | None

    @classmethod
    def of(cls, event: Event) -> Tail:
        """The tail after ``event``.

        >>> t = datetime(2025, 1, 6, tzinfo=UTC)
        >>> Tail.of(StageChange(opportunity_id="o", sequence=4, from_stage="a", to_stage="b",
        ...                     at=t, by="r")).sequence
        4
        """
        return cls(event.sequence, event.at, event.recorded_at)


def _where(opp_id: str, seq: int) -> str:
    return f"event {seq} of opportunity {opp_id!r}"


def _check_times(ev: Event, prev: Tail | None, now: datetime) -> Event:
    """Time order, the future bound, and the recording stamp; returns the stamped event."""
    where = _where(ev.opportunity_id, ev.sequence)
    if ev.at > now + FUTURE_TOLERANCE:
        raise ValidationError(
            f"{where} is dated {ev.at.isoformat()}, after the repository's clock "
            f"({now.isoformat()}) plus {FUTURE_TOLERANCE}: effective times cannot be in the future"
        )
    if prev is not None and ev.at < prev.at:
        raise ValidationError(
            f"{where} is dated {ev.at.isoformat()}, before event {prev.sequence} "
            f"({prev.at.isoformat()}): events are in time order"
        )
    floor = prev.recorded_at if prev is not None else None
    if ev.recorded_at is None:
        stamp = now if floor is None or now >= floor else floor
        return attrs.evolve(ev, recorded_at=stamp)
    if abs(ev.recorded_at - now) > FUTURE_TOLERANCE:
        raise ValidationError(
            f"{where}: 'recorded_at' is the time it is stored ({now.isoformat()} by the "
            f"repository's clock, within {FUTURE_TOLERANCE}): {ev.recorded_at.isoformat()}"
        )
    if floor is not None and ev.recorded_at < floor:
        raise ValidationError(
            f"{where}: 'recorded_at' {ev.recorded_at.isoformat()} is before that of event "
            f"{prev.sequence if prev is not None else 0} ({floor.isoformat()})"
        )
    return ev


def _fill_snapshot(ev: StageChange, state: Opportunity, names: Sequence[str]) -> StageChange:
    """Fill the snapshot fields left None from ``state``; a given one must equal it."""
    where = _where(ev.opportunity_id, ev.sequence)
    fill: dict[str, Any] = {}
    for name in names:
        given, held = getattr(ev, name), getattr(state, name)
        if given is None:
            if held is not None:
                fill[name] = held
        elif given != held:
            raise ValidationError(
                f"{where}: {name!r} is {given!r} but the opportunity holds {held!r} "
                f"(a change of {name!r} is a FieldChange of its own)"
            )
    return attrs.evolve(ev, **fill) if fill else ev


def creation_event(opportunity: Opportunity, event: object, *, now: datetime) -> StageChange:
    """The creation event to store with a new ``opportunity``: ``event`` checked, its
    snapshot filled and its recording time stamped, or (``event`` None) one made from the
    opportunity, by its owner at its creation time.

    >>> from crmcore.model import Opportunity
    >>> t = datetime(2025, 1, 6, tzinfo=UTC)
    >>> o = Opportunity(id="o-1", customer_id="c", owner_id="ann", funnel="f", stage="a", created_at=t)
    >>> creation_event(o, StageChange(opportunity_id="o-1", sequence=0, from_stage=None,
    ...                to_stage="b", at=t, by="ann"), now=t)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: event 0 of opportunity 'o-1' creates it in stage 'b' but it is in stage 'a'
    """
    if event is None:
        event = StageChange(
            opportunity_id=opportunity.id,
            sequence=0,
            from_stage=None,
            to_stage=opportunity.stage,
            at=opportunity.created_at,
            by=opportunity.owner_id,
        )
    if not isinstance(event, StageChange):
        raise ValidationError(f"the creation event must be a StageChange: {event!r}")
    check_storable(event)
    where = _where(opportunity.id, event.sequence)
    if event.opportunity_id != opportunity.id:
        raise ValidationError(
            f"the creation event of {opportunity.id!r} names opportunity {event.opportunity_id!r}"
        )
    if event.sequence != 0 or event.from_stage is not None:
        raise ValidationError(
            f"{where} cannot create it: the creation event is number 0, with no 'from_stage' "
            f"(got from_stage {event.from_stage!r})"
        )
    if event.to_stage != opportunity.stage:
        raise ValidationError(
            f"{where} creates it in stage {event.to_stage!r} but it is in stage "
            f"{opportunity.stage!r}"
        )
    if event.at != opportunity.created_at:
        raise ValidationError(
            f"{where} is dated {event.at.isoformat()} but the opportunity was created at "
            f"{opportunity.created_at.isoformat()}"
        )
    for name, allowed in (
        ("stage_entered_at", opportunity.created_at),
        ("closed_at", opportunity.created_at),
        ("lost_reason", event.reason),
    ):
        value = getattr(opportunity, name)
        if value is not None and value != allowed:
            raise ValidationError(
                f"opportunity {opportunity.id!r}: a new opportunity's {name!r} is None or "
                f"that of its creation ({allowed!r}): {value!r}; later states are stored with "
                "the events that made them"
            )
    if event.custom and dict(event.custom) != dict(opportunity.custom):
        raise ValidationError(
            f"{where}: 'custom' is {dict(event.custom)!r} but the opportunity holds "
            f"{dict(opportunity.custom)!r}"
        )
    snapshot = (*_SNAPSHOT, "probability", "expected_close", "parent_id")
    event = _fill_snapshot(event, opportunity, snapshot)
    kind_fill: dict[str, Any] = {}
    if event.deal_kind is None:
        kind_fill["deal_kind"] = opportunity.kind
    elif event.deal_kind != opportunity.kind:
        raise ValidationError(
            f"{where}: 'deal_kind' is {event.deal_kind!r} but the opportunity is of kind "
            f"{opportunity.kind!r}"
        )
    if opportunity.custom and not event.custom:
        kind_fill["custom"] = opportunity.custom
    if kind_fill:
        event = attrs.evolve(event, **kind_fill)
    stamped = _check_times(event, None, now)
    assert isinstance(stamped, StageChange)
    return stamped


def _apply_stage(ev: StageChange, state: Opportunity) -> tuple[StageChange, Opportunity]:
    where = _where(ev.opportunity_id, ev.sequence)
    if ev.from_stage is None:
        raise ValidationError(
            f"{where} has no 'from_stage': only event 0 creates the opportunity, every later "
            "stage change moves it"
        )
    if ev.from_stage != state.stage:
        raise ValidationError(
            f"{where} moves from stage {ev.from_stage!r} but the opportunity is in stage "
            f"{state.stage!r}"
        )
    if ev.to_stage == ev.from_stage:
        raise ValidationError(f"{where} moves from stage {ev.from_stage!r} to itself")
    for name in _CREATION_ONLY:
        if getattr(ev, name) is not None:
            raise ValidationError(
                f"{where}: {name!r} is carried by the creation event only (an edit is a "
                f"FieldChange): {getattr(ev, name)!r}"
            )
    if ev.custom:
        raise ValidationError(
            f"{where}: 'custom' is carried by the creation event only (an edit of a custom "
            f"field is a FieldChange): {dict(ev.custom)!r}"
        )
    ev = _fill_snapshot(ev, state, _SNAPSHOT)
    if ev.probability is None and state.probability is not None:
        ev = attrs.evolve(ev, probability=state.probability)
    state = attrs.evolve(
        state, stage=ev.to_stage, stage_entered_at=ev.at, probability=ev.probability
    )
    return ev, state


def _apply_field(ev: FieldChange, state: Opportunity) -> Opportunity:
    where = _where(ev.opportunity_id, ev.sequence)
    held = state.value_of(ev.field)
    if not same_value(ev.old, held):
        raise ValidationError(
            f"{where} changes {ev.field!r} from {ev.old!r} but the opportunity holds {held!r}"
        )
    if same_value(ev.new, ev.old):
        raise ValidationError(f"{where} changes {ev.field!r} to the value it holds: {ev.new!r}")
    if ev.field.startswith(CUSTOM_PREFIX):
        custom = dict(state.custom)
        name = ev.field[len(CUSTOM_PREFIX) :]
        if ev.new is None:
            custom.pop(name, None)
        else:
            custom[name] = ev.new
        return attrs.evolve(state, custom=custom)
    return attrs.evolve(state, **{ev.field: ev.new})


def appended_events(
    stored: Opportunity,
    tail: Tail,
    saved: Opportunity,
    events: Sequence[object],
    *,
    now: datetime,
    used_request_ids: Callable[[set[str]], set[str]],
) -> tuple[Event, ...]:
    """The events to append when ``saved`` replaces ``stored`` (whose last event is ``tail``):
    ``events`` checked against the rules of the module docstring, filled and stamped.

    ``used_request_ids(ids)`` returns those of ``ids`` that stored events of the
    opportunity already carry. The caller checks ``saved.version`` against the
    stored version first (a stale save is a ConcurrencyError, whatever else is wrong);
    the stored version becomes the sequence number of the last appended event.

    >>> t = datetime(2025, 1, 6, tzinfo=UTC)
    >>> o = Opportunity(id="o-1", customer_id="c", owner_id="ann", funnel="f", stage="a", created_at=t)
    >>> moved = attrs.evolve(o, stage="b", stage_entered_at=t)
    >>> appended_events(o, Tail(0, t, t), moved, [], now=t, used_request_ids=lambda ids: set())
    Traceback (most recent call last):
    crmcore.errors.ValidationError: opportunity 'o-1' changes only through events: save() needs at least one StageChange or FieldChange
    """
    events = tuple(events)
    if not events:
        raise ValidationError(
            f"opportunity {stored.id!r} changes only through events: save() needs at least "
            "one StageChange or FieldChange"
        )
    for name in _FIXED:
        if getattr(saved, name) != getattr(stored, name):
            raise ValidationError(
                f"opportunity {stored.id!r}: {name!r} is fixed at creation: "
                f"{getattr(stored, name)!r}, not {getattr(saved, name)!r}"
            )
    state = stored
    prev = tail
    out: list[Event] = []
    last_stage: StageChange | None = None
    requests: set[str] = set()
    for i, ev in enumerate(events):
        if not isinstance(ev, StageChange | FieldChange):
            raise ValidationError(f"'events[{i}]' must be a StageChange or a FieldChange: {ev!r}")
        check_storable(ev)
        if ev.opportunity_id != stored.id:
            raise ValidationError(
                f"'events[{i}].opportunity_id' must be {stored.id!r}: {ev.opportunity_id!r}"
            )
        want = prev.sequence + 1
        if ev.sequence <= tail.sequence:
            raise DuplicateError(
                f"{_where(stored.id, ev.sequence)} is already stored (the next is {want})"
            )
        if ev.sequence != want:
            raise ValidationError(
                f"{_where(stored.id, ev.sequence)} does not follow event {prev.sequence}: "
                f"events are numbered without gaps (the next is {want})"
            )
        if isinstance(ev, StageChange):
            ev, state = _apply_stage(ev, state)
            last_stage = ev
        else:
            state = _apply_field(ev, state)
        stamped = _check_times(ev, prev, now)
        if stamped.request_id is not None:
            requests.add(stamped.request_id)
        out.append(stamped)
        prev = Tail.of(stamped)
    used = used_request_ids(requests) if requests else set()
    if used:
        raise DuplicateError(
            f"opportunity {stored.id!r}: request id {sorted(used)[0]!r} was used by a stored "
            "event (a retried request returns the stored result)"
        )
    _check_state(stored, saved, state, last_stage)
    return tuple(out)


def _check_state(
    stored: Opportunity, saved: Opportunity, state: Opportunity, last_stage: StageChange | None
) -> None:
    """``saved`` must be ``state`` (the stored opportunity with the events applied)."""
    if saved.stage != state.stage:
        raise ValidationError(
            f"opportunity {stored.id!r} is saved in stage {saved.stage!r} but its events leave "
            f"it in {state.stage!r}: a change of stage is a StageChange"
        )
    for name in (*EDITABLE_FIELDS, "custom"):
        a, b = getattr(saved, name), getattr(state, name)
        if name == "custom":
            a, b = dict(a), dict(b)
        if a != b:
            hint = (
                "a move sets it from the stage"
                if name == "probability" and last_stage is not None
                else "a change of it is a FieldChange"
            )
            raise ValidationError(
                f"opportunity {stored.id!r} is saved with {name!r} {a!r} but its events leave "
                f"it at {b!r} ({hint})"
            )
    if last_stage is None:
        for name in ("stage_entered_at", "closed_at", "lost_reason"):
            if getattr(saved, name) != getattr(stored, name):
                raise ValidationError(
                    f"opportunity {stored.id!r}: {name!r} follows the stage, which no event of "
                    f"this save changes: {getattr(stored, name)!r}, not {getattr(saved, name)!r}"
                )
        return
    at = last_stage.at
    if saved.stage_entered_at != at:
        raise ValidationError(
            f"opportunity {stored.id!r}: 'stage_entered_at' must be the time of its last move "
            f"({at.isoformat()}): {saved.stage_entered_at!r}"
        )
    if saved.closed_at not in (None, at):
        raise ValidationError(
            f"opportunity {stored.id!r}: 'closed_at' is None or the time of its last move "
            f"({at.isoformat()}): {saved.closed_at!r}"
        )
    if saved.lost_reason not in (None, last_stage.reason):
        raise ValidationError(
            f"opportunity {stored.id!r}: 'lost_reason' is None or the reason of its last move "
            f"({last_stage.reason!r}): {saved.lost_reason!r}"
        )
