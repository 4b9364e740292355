"""Edits of an opportunity's fields as events, and a deal rebuilt from its events alone.

An edit changes the amount, owner, expected close date, probability,
forecast category, product or custom fields of an opportunity and returns
one :class:`~crmcore.model.FieldChange` per changed field (who, when, why,
old and new value), numbered after the event it comes ``after``, like a move.
:func:`replay` folds the creation event, moves and edits back into the
opportunity: its state at any time is a pure function of its events.

>>> from datetime import datetime, timezone
>>> import attrs
>>> from crmcore.model import Money
>>> from crmcore.pipeline.moves import open_opportunity, move
>>> from crmcore.pipeline.presets import B2B
>>> t = lambda d: datetime(2025, 3, d, tzinfo=timezone.utc)
>>> o, e0 = open_opportunity(B2B, id="o-1", customer_id="c-1", owner_id="ann", at=t(1))
>>> o, changes = edit_opportunity(o, {"amount": Money("9000", "EUR"), "owner_id": "bob"},
...                               funnel=B2B, by="boss", at=t(2), after=e0, reason="new territory")
>>> [(c.sequence, c.field, c.old, c.new) for c in changes]
[(1, 'amount', None, Money(amount=Decimal('9000'), currency='EUR')), (2, 'owner_id', 'ann', 'bob')]
>>> o, e3 = move(o, "qualified", funnel=B2B, by="bob", at=t(3), after=changes[-1])
>>> replay([e0, *changes, e3], funnel=B2B) == attrs.evolve(o, version=3)
True
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from crmcore.errors import TransitionError, ValidationError
from crmcore.model._records import evolve_valid
from crmcore.model.opportunity import (
    CUSTOM_PREFIX,
    FieldChange,
    Opportunity,
    StageChange,
    field_name_problem,
    field_value_problem,
    same_value,
)
from crmcore.options import as_enum, expect_instance
from crmcore.pipeline.funnel import ForecastCategory, Funnel, RequireFields, StageKind
from crmcore.pipeline.moves import check_after, move, reopen, stage_of

__all__ = ["edit_opportunity", "replay"]


def _wanted(changes: object) -> dict[str, Any]:
    """``changes`` as ``{field: value}``, a ``"custom"`` mapping spread into ``custom.<name>``."""
    if not isinstance(changes, Mapping):
        raise ValidationError(
            f"'changes' must be a mapping of field names to new values: {changes!r}"
        )
    out: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "custom":
            if not isinstance(value, Mapping):
                raise ValidationError(
                    f"'changes[\"custom\"]' must map custom field names to values: {value!r}"
                )
            for name, item in value.items():
                out[f"{CUSTOM_PREFIX}{name}"] = item
            continue
        problem = field_name_problem(field)
        if problem is not None:
            raise ValidationError(
                f"'changes' key {field!r} {problem} (the stage changes with a move)"
                if field in ("stage", "lost_reason", "closed_at", "stage_entered_at")
                else f"'changes' key {problem}: {field!r}"
            )
        out[field] = value
    if not out:
        raise ValidationError("'changes' must name at least one field: {}")
    return out


def _resolve(opp: Opportunity, field: str, value: Any, funnel: Funnel) -> Any:
    """The value ``field`` takes: a probability of None is the stage's, a forecast category
    is one of :class:`ForecastCategory` (None: the stage's); refusals name the field."""
    stage = stage_of(opp, funnel)
    if field in ("probability", "forecast_category") and stage.kind is not StageKind.OPEN:
        raise TransitionError(
            f"opportunity {opp.id!r} is {stage.kind.value} (stage {stage.name!r}): its "
            f"{field!r} follows the stage"
        )
    if field == "probability" and value is None:
        return stage.probability
    if field == "forecast_category" and value is not None:
        category = as_enum(value, ForecastCategory, name="forecast_category")
        if category is ForecastCategory.CLOSED:
            raise ValidationError(
                f"'forecast_category' of open opportunity {opp.id!r} cannot be 'closed'"
            )
        return category.value
    if field == "probability" and type(value) is int:
        value = float(value)
    problem = field_value_problem(field, value)
    if problem is not None:
        raise ValidationError(f"{field!r} {problem}: {value!r}")
    return value


def _assign(opp: Opportunity, field: str, value: Any) -> Opportunity:
    if field.startswith(CUSTOM_PREFIX):
        custom = dict(opp.custom)
        name = field[len(CUSTOM_PREFIX) :]
        if value is None:
            custom.pop(name, None)
        else:
            custom[name] = value
        return evolve_valid(opp, {"custom": custom})
    return evolve_valid(opp, {field: value})


def edit_opportunity(
    opportunity: Opportunity,
    changes: Mapping[str, Any],
    *,
    funnel: Funnel,
    by: str,
    at: datetime,
    after: StageChange | FieldChange,
    reason: str | None = None,
    request_id: str | None = None,
) -> tuple[Opportunity, tuple[FieldChange, ...]]:
    """Change fields of ``opportunity``: the edited opportunity and one event per changed field.

    ``changes`` maps fields of :data:`~crmcore.model.EDITABLE_FIELDS` (and
    ``custom.<name>``, or ``"custom"`` with a mapping) to their new values; a
    field given its current value is left out, and an edit that changes
    nothing is refused. A ``probability`` of None goes back to the stage's
    (a rep's own probability is kept by moves between open stages); a
    ``forecast_category`` of None goes back to the stage's; both are refused
    on a closed deal. A custom field set to None is removed. A field that the
    current stage requires (a :class:`~crmcore.pipeline.RequireFields` guard)
    cannot be emptied.

    >>> from datetime import datetime, timezone
    >>> from crmcore.pipeline.moves import open_opportunity
    >>> from crmcore.pipeline.presets import B2B
    >>> t = datetime(2025, 3, 1, tzinfo=timezone.utc)
    >>> o, e = open_opportunity(B2B, id="o-1", customer_id="c", owner_id="ann", at=t)
    >>> o, (c,) = edit_opportunity(o, {"probability": 0.35}, funnel=B2B, by="ann", at=t, after=e)
    >>> (o.probability, c.old, c.new)
    (0.35, 0.05, 0.35)
    >>> edit_opportunity(o, {"stage": "won"}, funnel=B2B, by="ann", at=t, after=c)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'changes' key 'stage' must be one of ['amount', 'owner_id', 'expected_close', 'probability', 'forecast_category', 'product'] or 'custom.<name>' (the stage changes with a move)
    """
    expect_instance(opportunity, Opportunity, name="opportunity")
    expect_instance(funnel, Funnel, name="funnel")
    if opportunity.funnel != funnel.name:
        raise TransitionError(
            f"opportunity {opportunity.id!r} is in funnel {opportunity.funnel!r}, not {funnel.name!r}"
        )
    wanted = _wanted(changes)
    check_after(opportunity, after, at)
    new = opportunity
    made: list[FieldChange] = []
    for field, value in wanted.items():
        value = _resolve(opportunity, field, value, funnel)
        old = new.value_of(field)
        if same_value(old, value):
            continue
        made.append(
            FieldChange(
                opportunity_id=opportunity.id,
                sequence=after.sequence + 1 + len(made),
                field=field,
                old=old,
                new=value,
                at=at,
                by=by,
                reason=reason,
                request_id=request_id,
            )
        )
        new = _assign(new, field, value)
    if not made:
        raise ValidationError(
            f"'changes' leave opportunity {opportunity.id!r} as it is: {dict(changes)!r}"
        )
    for guard in funnel.stage(new.stage).guards:
        if isinstance(guard, RequireFields):
            why = guard.failure(new, None)
            if why is not None:
                raise TransitionError(
                    f"opportunity {opportunity.id!r} is in stage {new.stage!r} of funnel "
                    f"{funnel.name!r}, which requires it: {why}"
                )
    return new, tuple(made)


def _created(first: StageChange, funnel: Funnel, base: Opportunity | None) -> Opportunity:
    if first.sequence != 0 or first.from_stage is not None:
        raise ValidationError(
            "'events' must start at the creation event (sequence 0, no from_stage): "
            f"event {first.sequence} from {first.from_stage!r}"
        )
    if first.customer_id is None and base is None:
        raise ValidationError("the creation event has no 'customer_id': pass base=")
    if first.funnel is not None and first.funnel != funnel.name:
        raise ValidationError(
            f"the creation event of {first.opportunity_id!r} is in funnel {first.funnel!r}, "
            f"not {funnel.name!r}"
        )
    funnel.stage(first.to_stage)

    def pick(name: str, fallback: Any) -> Any:
        value = getattr(first, name)
        if value is None and base is not None:
            return getattr(base, name)
        return fallback if value is None else value

    return Opportunity(
        id=first.opportunity_id,
        customer_id=pick("customer_id", None),
        owner_id=first.owner_id or first.by,
        funnel=funnel.name,
        stage=first.to_stage,
        created_at=first.at,
        amount=first.amount,
        expected_close=pick("expected_close", None),
        probability=first.probability,
        product=first.product,
        stage_entered_at=first.at,
        parent_id=pick("parent_id", None),
        kind=first.deal_kind or (base.kind if base is not None else "new"),
        forecast_category=first.forecast_category,
        custom=first.custom or (base.custom if base is not None else {}),
    )


def replay(
    events: Iterable[StageChange | FieldChange],
    *,
    funnel: Funnel,
    base: Opportunity | None = None,
) -> Opportunity:
    """The opportunity rebuilt from its events alone: the creation event, then every move
    (re-validated by ``funnel``) and every edit, in sequence order.

    Its ``version`` is the number of the last event (what a repository stores),
    or ``base.version`` when ``base`` is given. ``base`` supplies what events of
    crmcore 0.1 did not carry (customer, expected close date, parent, kind);
    for such histories, amount and owner changes that were not recorded as
    edits are taken from the next move's snapshot.

    >>> from datetime import datetime, timezone
    >>> from crmcore.pipeline.moves import open_opportunity, move
    >>> from crmcore.pipeline.presets import B2B
    >>> t = datetime(2025, 1, 2, tzinfo=timezone.utc)
    >>> o, e0 = open_opportunity(B2B, id="o-1", customer_id="c", owner_id="bob", at=t)
    >>> o, e1 = move(o, "qualified", funnel=B2B, by="bob", at=t, after=e0)
    >>> import attrs
    >>> replay([e1, e0], funnel=B2B) == attrs.evolve(o, version=1)
    True
    """
    expect_instance(funnel, Funnel, name="funnel")
    if base is not None:
        expect_instance(base, Opportunity, name="base")
    if isinstance(events, str | bytes | dict) or not isinstance(events, Iterable):
        raise ValidationError(f"'events' must be a sequence of StageChange events: {events!r}")
    evs = list(events)
    for i, ev in enumerate(evs):
        if not isinstance(ev, FieldChange):
            expect_instance(ev, StageChange, name=f"events[{i}]")
    evs.sort(key=lambda e: e.sequence)
    if not evs:
        raise ValidationError("'events' must hold at least the creation event: []")
    first = evs[0]
    if not isinstance(first, StageChange):
        raise ValidationError(
            f"'events' must start at the creation event, a StageChange: event {first.sequence} "
            f"is a FieldChange of {first.field!r}"
        )
    for a, b in itertools.pairwise(evs):
        if b.sequence != a.sequence + 1:
            raise ValidationError(
                f"'events' of {first.opportunity_id!r} must be numbered without gaps: "
                f"{a.sequence} then {b.sequence}"
            )
        if b.opportunity_id != first.opportunity_id:
            raise ValidationError(
                f"'events' must be those of one opportunity: {first.opportunity_id!r} and "
                f"{b.opportunity_id!r}"
            )
    opp = _created(first, funnel, base)
    prev: StageChange | FieldChange = first
    for ev in evs[1:]:
        if isinstance(ev, FieldChange):
            opp = _replay_edit(opp, ev, funnel, prev)
        else:
            opp = _replay_move(opp, ev, funnel, prev)
        prev = ev
    return evolve_valid(opp, {"version": base.version if base is not None else evs[-1].sequence})


def _replay_edit(
    opp: Opportunity, ev: FieldChange, funnel: Funnel, prev: StageChange | FieldChange
) -> Opportunity:
    held = opp.value_of(ev.field)
    if not same_value(held, ev.old):
        raise ValidationError(
            f"event {ev.sequence} of {opp.id!r} changes {ev.field!r} from {ev.old!r} but the "
            f"opportunity holds {held!r}"
        )
    new, _ = edit_opportunity(
        opp, {ev.field: ev.new}, funnel=funnel, by=ev.by, at=ev.at, after=prev, reason=ev.reason
    )
    return new


def _replay_move(
    opp: Opportunity, ev: StageChange, funnel: Funnel, prev: StageChange | FieldChange
) -> Opportunity:
    # crmcore 0.1 kept no edits: its moves' snapshots carry the amount and owner of the time
    if ev.amount != opp.amount:
        opp = evolve_valid(opp, {"amount": ev.amount})
    if ev.owner_id is not None and ev.owner_id != opp.owner_id:
        opp = evolve_valid(opp, {"owner_id": ev.owner_id})
    if ev.from_stage != opp.stage:
        raise ValidationError(
            f"event {ev.sequence} of {opp.id!r} moves from {ev.from_stage!r} but the "
            f"opportunity is in {opp.stage!r}"
        )
    if funnel.stage(opp.stage).kind is StageKind.LOST:
        opp, made = reopen(
            opp, funnel=funnel, by=ev.by, at=ev.at, after=prev, to=ev.to_stage, reason=ev.reason
        )
    else:
        opp, made = move(
            opp, ev.to_stage, funnel=funnel, by=ev.by, at=ev.at, after=prev, reason=ev.reason
        )
    if ev.probability is not None and made.probability != ev.probability:
        opp = evolve_valid(opp, {"probability": ev.probability})
    return opp
