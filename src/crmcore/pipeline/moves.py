"""Moving opportunities through a funnel: open, move, reopen, win with follow-up.

Every function returns the new :class:`~crmcore.model.Opportunity` (the old
one is unchanged) and the :class:`~crmcore.model.StageChange` event that
records the move. Events are chained: a move names the event it comes
``after`` (the previous move, or the creation event), which numbers the new
event and guarantees that time never runs backwards.

What each move a funnel allows needs (the target stage, its probability,
whether it closes the deal, its guards) is worked out once per funnel, so
finding a move is three dictionary look-ups. Every move (``move``,
``reopen``, ``win``, and ``replay`` of :mod:`crmcore.pipeline.edits`) goes
through one set of checks, which validates each new value once: the moved
opportunity is the old one's dictionary copied with its stage fields
changed, and the event is filled with those values, so neither record runs
the validators of the values it copies from the validated opportunity and
funnel again. The records are plain frozen attrs classes, equal to what
``attrs.evolve`` and ``StageChange`` build (the tests compare them), whose
instance dictionaries share their keys with every record of their class.

>>> from datetime import datetime, timezone
>>> from crmcore.model import Money
>>> from crmcore.pipeline.presets import TOP_IN_BEST
>>> t = lambda d: datetime(2025, 3, d, tzinfo=timezone.utc)
>>> opp, ev = open_opportunity(TOP_IN_BEST, id="o-1", customer_id="c-1", owner_id="ann",
...                            at=t(1), amount=Money("5000", "EUR"))
>>> opp, ev = move(opp, "IN", funnel=TOP_IN_BEST, by="ann", at=t(4), after=ev)
>>> opp.stage, opp.probability, ev.sequence, ev.from_stage
('IN', 0.3, 1, 'TOP')
>>> move(opp, "WIN", funnel=TOP_IN_BEST, by="ann", at=t(5), after=ev)
Traceback (most recent call last):
crmcore.errors.TransitionError: cannot move opportunity 'o-1' from 'IN' to 'WIN' in funnel 'top-in-best': allowed targets are ['BEST', 'LOST']
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import attrs

from crmcore.errors import TransitionError, ValidationError
from crmcore.model._fields import instance, new_id
from crmcore.model._records import evolve_valid
from crmcore.model._storable import COUNT_MAX, check_text
from crmcore.model.money import Money
from crmcore.model.opportunity import NO_CUSTOM, FieldChange, Opportunity, StageChange
from crmcore.options import as_id, expect_instance
from crmcore.pipeline.funnel import Funnel, Stage, StageKind
from crmcore.timestamps import utc_problem

__all__ = ["Won", "follow_up", "move", "open_opportunity", "reopen", "win"]


def _check_at(at: object) -> datetime:
    if type(at) is datetime and at.tzinfo is UTC:  # the common case, valid by the rule below
        return at
    problem = utc_problem(at)  # the rule of the records' times
    if problem is not None:
        raise ValidationError(f"'at' {problem}: {at!r}")
    assert isinstance(at, datetime)  # utc_problem refuses anything else
    return at


def _check_reason(reason: object) -> str | None:
    if reason is not None:
        if type(reason) is not str:
            raise ValidationError(f"'reason' must be a string or None: {reason!r}")
        check_text(reason, "reason")
    return reason


def _check_objects(opportunity: object, funnel: object) -> None:
    expect_instance(opportunity, Opportunity, name="opportunity")
    expect_instance(funnel, Funnel, name="funnel")


def _check_guards(opp: Opportunity, target: Stage, reason: str | None, funnel_name: str) -> None:
    for guard in target.guards:
        why = guard.failure(opp, reason)
        if why is not None:
            raise TransitionError(
                f"cannot move opportunity {opp.id!r} from {opp.stage!r} to {target.name!r} in "
                f"funnel {funnel_name!r}: {why}"
            )


def check_after(opp: Opportunity, after: StageChange | FieldChange, at: datetime) -> None:
    """``after`` is the opportunity's last event (a move into its stage, or an edit of it), and
    ``at`` not before it: the rule that numbers a new event and keeps time running forwards."""
    if type(after) is not StageChange and type(after) is not FieldChange:
        raise ValidationError(
            f"'after' must be the opportunity's last event (a StageChange or a FieldChange): "
            f"{after!r}"
        )
    if after.opportunity_id != opp.id or (
        type(after) is StageChange and after.to_stage != opp.stage
    ):
        into = f" into {after.to_stage!r}" if type(after) is StageChange else ""
        raise ValidationError(
            f"'after' must be the last event of opportunity {opp.id!r} in stage {opp.stage!r}: "
            f"event {after.sequence} of {after.opportunity_id!r}{into}"
        )
    if at < after.at:
        raise TransitionError(
            f"time cannot run backwards for opportunity {opp.id!r}: 'at' {at.isoformat()} is "
            f"before the previous event at {after.at.isoformat()}"
        )


def open_opportunity(
    funnel: Funnel,
    *,
    id: str | None = None,
    customer_id: str,
    owner_id: str,
    at: datetime,
    by: str | None = None,
    stage: str | None = None,
    amount: Money | None = None,
    expected_close: date | None = None,
    product: str | None = None,
    parent_id: str | None = None,
    kind: str = "new",
    custom: Mapping[str, Any] | None = None,
) -> tuple[Opportunity, StageChange]:
    """A new opportunity in an entry stage of ``funnel`` and its creation event (sequence 0).

    The creation event carries everything the deal starts with (what
    :func:`~crmcore.pipeline.replay` needs); ``custom`` holds the application's
    own fields (names to strings, integers, finite floats or booleans).

    >>> from datetime import datetime, timezone
    >>> from crmcore.pipeline.presets import B2B
    >>> o, e = open_opportunity(B2B, id="o-9", customer_id="c", owner_id="bob",
    ...                         at=datetime(2025, 1, 2, tzinfo=timezone.utc))
    >>> o.stage, e.sequence, e.from_stage, e.by
    ('lead', 0, None, 'bob')
    """
    expect_instance(funnel, Funnel, name="funnel")
    name = stage if stage is not None else funnel.entry[0]
    if name not in funnel.entry:
        raise TransitionError(
            f"cannot open an opportunity in stage {name!r} of funnel {funnel.name!r}: "
            f"entry stages are {list(funnel.entry)}"
        )
    target = funnel.stage(name)
    opp = Opportunity(
        id=id if id is not None else new_id(),
        customer_id=customer_id,
        owner_id=owner_id,
        funnel=funnel.name,
        stage=name,
        created_at=at,
        amount=amount,
        expected_close=expected_close,
        probability=target.probability,
        product=product,
        stage_entered_at=at,
        parent_id=parent_id,
        kind=kind,
        custom=custom,
    )
    _check_guards(opp, target, None, funnel.name)
    event = StageChange(
        opportunity_id=opp.id,
        sequence=0,
        from_stage=None,
        to_stage=name,
        at=at,
        by=by if by is not None else owner_id,
        amount=amount,
        probability=target.probability,
        customer_id=customer_id,
        owner_id=owner_id,
        funnel=funnel.name,
        product=product,
        expected_close=expected_close,
        parent_id=parent_id,
        deal_kind=kind,
        custom=opp.custom,
        funnel_version=funnel.version,
    )
    return opp, event


def move(
    opportunity: Opportunity,
    to: str,
    *,
    funnel: Funnel,
    by: str,
    at: datetime,
    after: StageChange | FieldChange,
    reason: str | None = None,
) -> tuple[Opportunity, StageChange]:
    """Move ``opportunity`` to stage ``to``: the moved opportunity and its event.

    The probability becomes the target stage's default; a won or lost stage
    sets ``closed_at``; a lost stage keeps ``reason`` as ``lost_reason``.
    Illegal moves and failed guards raise :class:`~crmcore.errors.TransitionError`.

    >>> from datetime import datetime, timezone
    >>> from crmcore.pipeline.presets import B2B
    >>> t = datetime(2025, 1, 2, tzinfo=timezone.utc)
    >>> o, e = open_opportunity(B2B, id="o-1", customer_id="c", owner_id="bob", at=t)
    >>> o, e = move(o, "qualified", funnel=B2B, by="bob", at=t, after=e)
    >>> move(o, "proposal", funnel=B2B, by="bob", at=t, after=e)
    Traceback (most recent call last):
    crmcore.errors.TransitionError: cannot move opportunity 'o-1' from 'qualified' to 'proposal' in funnel 'b2b': 'amount' is required
    >>> o, e = move(o, "lost", funnel=B2B, by="bob", at=t, after=e, reason="price")
    >>> o.is_closed, o.lost_reason, e.reason
    (True, 'price', 'price')
    """
    try:  # the plan of this move: three look-ups (the funnel's plans are built on first use)
        step = _STEPS[id(funnel)][opportunity.stage][to]
    except (KeyError, AttributeError, TypeError):
        step = _plan(opportunity, to, funnel)  # builds the funnel's plans, or refuses the move
    return _apply(opportunity, step, by, at, after, reason)


def stage_of(opportunity: Opportunity, funnel: Funnel) -> Stage:
    """The stage ``opportunity`` is in, in ``funnel``; a TransitionError when the funnel (this
    version of it) has no such stage: a deal in a stage of another version of the funnel
    (a stage a redesign split or renamed) moves and is edited with a version that has it."""
    stage = funnel._by_name.get(opportunity.stage)
    if stage is None:
        which = f"funnel {funnel.name!r}"
        hint = ""
        if funnel.version > 1:
            which = f"version {funnel.version} of funnel {funnel.name!r}"
            hint = (
                " (a stage of another version of the funnel: the deal moves and is edited with "
                "a version that has its stage)"
            )
        raise TransitionError(
            f"opportunity {opportunity.id!r} is in stage {opportunity.stage!r}, which {which} "
            f"does not have; stages are {list(funnel.stage_names)}{hint}"
        )
    return stage


def _plan(opportunity: object, to: object, funnel: object) -> _Step:
    """The plan of a move the fast look-up did not find: the funnel's plans built on its first
    move; else the objects are refused by name, or the move by the funnel's rules."""
    steps = _STEPS.get(id(funnel))
    if steps is None:
        steps = _steps(funnel)  # type: ignore[arg-type]  # checks that funnel is a Funnel
    _check_objects(opportunity, funnel)
    assert isinstance(opportunity, Opportunity) and isinstance(funnel, Funnel)
    row = steps.get(opportunity.stage)
    step = row.get(to) if row is not None and isinstance(to, str) else None
    if step is None:
        _refuse(opportunity, to, funnel)
    assert step is not None  # _refuse raised when None
    return step


def _wrong_funnel(opportunity: Opportunity, funnel_name: str) -> TransitionError:
    return TransitionError(
        f"opportunity {opportunity.id!r} is in funnel {opportunity.funnel!r}, not {funnel_name!r}"
    )


def _refuse(opportunity: Opportunity, to: object, funnel: Funnel) -> None:
    src = opportunity.stage
    if opportunity.funnel != funnel.name:
        raise _wrong_funnel(opportunity, funnel.name)
    allowed = funnel._targets.get(src)
    if allowed is None:
        stage_of(opportunity, funnel)  # raises: the funnel has no such stage
    assert allowed is not None
    hint = ""
    if funnel._by_name[src].kind is StageKind.LOST:
        hint = " (a lost deal is reopened with reopen())"
    raise TransitionError(
        f"cannot move opportunity {opportunity.id!r} from {src!r} to {to!r} in funnel "
        f"{funnel.name!r}: allowed targets are {sorted(allowed)}{hint}"
    )


_Step = tuple[
    str,  # name: the target stage's
    float | None,  # probability: the target stage's
    bool,  # closes: the target is a won or lost stage (the move sets closed_at)
    bool,  # lost: the target is a lost stage (the move keeps the reason as lost_reason)
    bool,  # keeps_own: open -> open (a rep's own probability is kept)
    float | None,  # from_probability: the source stage's (a probability unlike it is a rep's own)
    Stage,  # target: the target stage (its guards)
    str,  # the funnel's name (the opportunity's funnel must be it)
    int,  # the funnel's version (the event records it)
]
"""The plan of a move from one stage to another, worked out once per funnel: everything a
move needs that does not depend on the call (a plain tuple: unpacked in one step)."""


def _step(here: Stage, target: Stage, funnel: Funnel) -> _Step:
    open_ = target.kind is StageKind.OPEN
    return (
        target.name,
        target.probability,
        not open_,
        target.kind is StageKind.LOST,
        open_ and here.kind is StageKind.OPEN,
        here.probability,
        target,
        funnel.name,
        funnel.version,
    )


_STEPS: dict[int, dict[str, dict[str, _Step]]] = {}
"""The steps of every live funnel, by ``id(funnel)``, then source and target stage: an entry is
dropped when its funnel is (so an id is never reused while it has an entry)."""


def _steps(funnel: Funnel) -> dict[str, dict[str, _Step]]:
    """The plan of every move ``funnel`` allows, by source and target stage (built once)."""
    expect_instance(funnel, Funnel, name="funnel")
    by_name = funnel._by_name
    steps = {
        source: {to: _step(by_name[source], target, funnel) for to, target in row.items()}
        for source, row in funnel._targets_by_stage.items()
    }
    key = id(funnel)
    _STEPS[key] = steps
    weakref.finalize(funnel, _STEPS.pop, key, None)
    return steps


_BY = attrs.fields(StageChange).by
_SEQUENCE = attrs.fields(StageChange).sequence
_by_rule: Any = _BY.validator  # the event's own rules of who moved and of the event number
_sequence_rule: Any = _SEQUENCE.validator
_CHECKED_BY: set[str] = set()
"""The ``by`` ids that passed the event's rule (the reps who move deals: a few, each checked
once; a plain ``str`` is immutable, so it stays valid; cleared when it grows large)."""


def _check_by(by: object) -> None:
    _by_rule(None, _BY, by)
    if len(_CHECKED_BY) >= 4096:
        _CHECKED_BY.clear()
    _CHECKED_BY.add(by)  # type: ignore[arg-type]  # a str: the rule passed


_new = object.__new__
_setattr = object.__setattr__
_OPPORTUNITY_FIELDS = attrs.fields(Opportunity)


def _apply(
    opp: Opportunity,
    step: _Step,
    by: str,
    at: datetime,
    after: StageChange | FieldChange,
    reason: str | None,
) -> tuple[Opportunity, StageChange]:
    """The one set of checks of a move (already allowed by the funnel: ``step``), and its records.

    Each value of the two records is validated once: ``at``, ``reason`` and
    ``after`` here (the rules of the records' times and texts; ``reason``
    must be a plain string), ``by`` and the event's ``sequence`` by the
    event's own validators (called directly: a move checks its inputs even
    where attrs' validators are disabled); the stage, its probability and the
    deal's own values come from the validated funnel and opportunity. Each
    check tests the common valid case first, by the rule's own terms, and
    leaves the rest to the rule (which explains a refusal). The opportunity is
    copied with only its stage fields changed and the event is filled field by
    field (:mod:`crmcore.model._records`: both dictionaries share their keys
    with every record of their class). ``Opportunity.__attrs_post_init__``
    (a stage entered, a deal closed, not before its creation) can fail here
    only when ``at`` is before ``created_at``: it runs then, and raises.
    """
    name, p, closes, lost, keeps_own, from_probability, target, funnel_name, version = step
    plain = type(opp) is Opportunity
    if plain:  # its fields read from its dictionary (Python 3.11 reads a field of a record
        od = opp.__dict__  # whose dictionary shares its keys by the slow, generic path)
    else:  # a subclass (its own fields and rules) or not an opportunity
        expect_instance(opp, Opportunity, name="opportunity")
        od = {a.name: getattr(opp, a.name) for a in _OPPORTUNITY_FIELDS}
    if od["funnel"] != funnel_name:
        raise _wrong_funnel(opp, funnel_name)
    if type(at) is not datetime or at.tzinfo is not UTC:  # else valid by _check_at's rule
        _check_at(at)
    if reason is not None:
        _check_reason(reason)
    oid, source = od["id"], od["stage"]
    if (  # the common case, valid by check_after's rule; check_after explains the others
        type(after) is not StageChange
        or (ad := after.__dict__)["opportunity_id"] != oid
        or ad["to_stage"] != source
        or at < ad["at"]
    ):
        check_after(opp, after, at)
    sequence = after.sequence + 1  # an int >= 1: after's number passed the same rule
    if sequence > COUNT_MAX:  # the one way it can fail; the rule says why
        _sequence_rule(None, _SEQUENCE, sequence)
    if type(by) is not str or by not in _CHECKED_BY:
        _check_by(by)
    if target.guards:
        _check_guards(opp, target, reason, funnel_name)
    if keeps_own:
        own = od["probability"]
        if own is not None and own != from_probability:
            p = own  # a rep's own probability (not the stage's) is kept between open stages
    if plain:
        values = od.copy()  # key-shared, like the original's
        values["stage"] = name
        values["stage_entered_at"] = at
        values["closed_at"] = at if closes else None
        values["lost_reason"] = reason if lost else None
        values["probability"] = p
        new = _new(Opportunity)
        _setattr(new, "__dict__", values)
        if at < od["created_at"]:  # the one way the class's rule across fields can fail here
            new.__attrs_post_init__()  # raises its error
    else:
        new = evolve_valid(
            opp,
            {
                "stage": name,
                "stage_entered_at": at,
                "closed_at": at if closes else None,
                "lost_reason": reason if lost else None,
                "probability": p,
            },
            check=(),
        )
    event = _new(StageChange)
    e = event.__dict__  # filled in field order: key-shared with every StageChange
    e["opportunity_id"] = oid
    e["sequence"] = sequence
    e["from_stage"] = source
    e["to_stage"] = name
    e["at"] = at
    e["by"] = by
    e["reason"] = reason
    e["amount"] = od["amount"]
    e["probability"] = p
    e["customer_id"] = od["customer_id"]
    e["owner_id"] = od["owner_id"]
    e["funnel"] = funnel_name
    e["product"] = od["product"]
    e["recorded_at"] = None
    e["request_id"] = None
    e["forecast_category"] = od["forecast_category"]
    e["expected_close"] = None
    e["parent_id"] = None
    e["deal_kind"] = None
    e["custom"] = NO_CUSTOM
    e["funnel_version"] = version
    return new, event


def reopen(
    opportunity: Opportunity,
    *,
    funnel: Funnel,
    by: str,
    at: datetime,
    after: StageChange | FieldChange,
    to: str | None = None,
    reason: str | None = "reopened",
) -> tuple[Opportunity, StageChange]:
    """Reopen a lost deal into an open stage (default: the first entry stage); the event records it.

    >>> from datetime import datetime, timezone
    >>> from crmcore.pipeline.presets import B2B
    >>> t = datetime(2025, 1, 2, tzinfo=timezone.utc)
    >>> o, e = open_opportunity(B2B, id="o-1", customer_id="c", owner_id="bob", at=t)
    >>> o, e = move(o, "lost", funnel=B2B, by="bob", at=t, after=e, reason="timing")
    >>> o, e = reopen(o, funnel=B2B, by="boss", at=t, after=e, reason="budget found")
    >>> o.stage, o.is_closed, o.lost_reason, (e.from_stage, e.to_stage, e.reason)
    ('lead', False, None, ('lost', 'lead', 'budget found'))
    """
    _check_objects(opportunity, funnel)
    if opportunity.funnel != funnel.name:
        raise TransitionError(
            f"opportunity {opportunity.id!r} is in funnel {opportunity.funnel!r}, not {funnel.name!r}"
        )
    current = stage_of(opportunity, funnel)
    if current.kind is not StageKind.LOST:
        raise TransitionError(
            f"only a lost opportunity can be reopened: {opportunity.id!r} is in "
            f"{current.kind.value} stage {current.name!r}"
        )
    target = funnel.stage(to if to is not None else funnel.entry[0])
    if target.kind is not StageKind.OPEN:
        raise TransitionError(
            f"a lost opportunity is reopened into an open stage, not {target.kind.value} "
            f"stage {target.name!r}"
        )
    return _apply(opportunity, _step(current, target, funnel), by, at, after, reason)


@attrs.frozen
class Won:
    """The result of :func:`win`: the won deal, its event, and the follow-up it opened (if any)."""

    opportunity: Opportunity = attrs.field(validator=instance(Opportunity, "an Opportunity"))
    event: StageChange = attrs.field(validator=instance(StageChange, "a StageChange"))
    follow_up: Opportunity | None = attrs.field(
        validator=instance(Opportunity, "an Opportunity", optional=True)
    )
    follow_up_event: StageChange | None = attrs.field(
        validator=instance(StageChange, "a StageChange", optional=True)
    )


def follow_up(
    won: Opportunity,
    *,
    funnel: Funnel,
    at: datetime,
    id: str | None = None,
    by: str | None = None,
    amount: Money | None = None,
) -> tuple[Opportunity, StageChange]:
    """Open the follow-up of a won deal (repurchase, cross-sell, up-sell): the next cycle.

    >>> from datetime import datetime, timezone
    >>> from crmcore.pipeline.presets import FOUR_PHASES as F
    >>> t = datetime(2025, 1, 2, tzinfo=timezone.utc)
    >>> o, e = open_opportunity(F, id="o-1", customer_id="c", owner_id="bob", at=t)
    >>> for s in ("design", "closing", "follow_up"):
    ...     o, e = move(o, s, funnel=F, by="bob", at=t, after=e)
    >>> nxt, ev = follow_up(o, funnel=F, at=t, id="o-2")
    >>> nxt.stage, nxt.parent_id, nxt.kind, ev.sequence
    ('needs', 'o-1', 'repurchase', 0)
    """
    expect_instance(won, Opportunity, name="won")
    expect_instance(funnel, Funnel, name="funnel")
    if funnel.follow_up is None:
        raise TransitionError(f"funnel {funnel.name!r} has no follow-up setting")
    if funnel.stage(won.stage).kind is not StageKind.WON or won.closed_at is None:
        raise TransitionError(
            f"only a won opportunity opens a follow-up: {won.id!r} is in {won.stage!r}"
        )
    if at < won.closed_at:
        raise TransitionError(
            f"the follow-up of {won.id!r} cannot open before the win: 'at' {at.isoformat()} is "
            f"before {won.closed_at.isoformat()}"
        )
    return open_opportunity(
        funnel,
        id=id,
        customer_id=won.customer_id,
        owner_id=won.owner_id,
        at=at,
        by=by,
        stage=funnel.follow_up.stage,
        amount=amount,
        product=won.product,
        parent_id=won.id,
        kind=funnel.follow_up.kind,
    )


def win(
    opportunity: Opportunity,
    *,
    funnel: Funnel,
    by: str,
    at: datetime,
    after: StageChange | FieldChange,
    to: str | None = None,
    follow_up_id: str | None = None,
) -> Won:
    """Move to the (first) won stage and, when the funnel says so, open the follow-up opportunity.

    >>> from datetime import datetime, timezone
    >>> from crmcore.pipeline.presets import FOUR_PHASES as F
    >>> t = datetime(2025, 1, 2, tzinfo=timezone.utc)
    >>> o, e = open_opportunity(F, id="o-1", customer_id="c", owner_id="bob", at=t)
    >>> o, e = move(o, "design", funnel=F, by="bob", at=t, after=e)
    >>> o, e = move(o, "closing", funnel=F, by="bob", at=t, after=e)
    >>> w = win(o, funnel=F, by="bob", at=t, after=e, follow_up_id="o-2")
    >>> w.opportunity.stage, w.follow_up.parent_id, w.follow_up.stage
    ('follow_up', 'o-1', 'needs')
    """
    _check_objects(opportunity, funnel)
    if follow_up_id is not None:
        as_id(follow_up_id, name="follow_up_id")
    target = to if to is not None else funnel.names_of(StageKind.WON)[0]
    if funnel.stage(target).kind is not StageKind.WON:
        raise TransitionError(f"win() moves to a won stage, not {target!r}")
    opp, event = move(opportunity, target, funnel=funnel, by=by, at=at, after=after)
    if funnel.follow_up is None:
        return Won(opp, event, None, None)
    nxt, nev = follow_up(opp, funnel=funnel, at=at, id=follow_up_id, by=by)
    return Won(opp, event, nxt, nev)
