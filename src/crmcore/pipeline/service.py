"""Persistence of funnels, moves and edits through any unit of work (memory, SQL, a user's own).

These functions work inside the caller's unit of work: call them within
``with uow:`` and ``uow.commit()`` when done. Funnel definitions are
versioned JSON documents of kind ``"funnel"``; every move and every edit is
stored as an event, so the history is in the repository, and
:func:`load_history` reads it back as columns as it was known at any time.

Every operation on a stored opportunity takes the ``expected_version`` the
caller saw (an opportunity's version is the number of its last event): a
stale one raises :class:`~crmcore.errors.ConcurrencyError` and changes
nothing. A ``request_id`` (the client's id of the request, for example a
move id) makes a retry safe: the same id again returns the stored result,
``retried`` set, and stores nothing.

>>> from datetime import datetime, timezone
>>> from crmcore.repositories import MemoryUnitOfWork
>>> from crmcore.pipeline.presets import TOP_IN_BEST
>>> uow = MemoryUnitOfWork()
>>> t = datetime(2025, 3, 3, tzinfo=timezone.utc)
>>> with uow:
...     save_funnel(uow, TOP_IN_BEST)
...     o = create_opportunity(uow, TOP_IN_BEST, id="o-1", customer_id="c-1", owner_id="ann", at=t)
...     r = advance(uow, "o-1", "IN", expected_version=0, funnel=TOP_IN_BEST, by="ann", at=t,
...                 request_id="move-1")
...     uow.commit()
1
>>> with uow:
...     again = advance(uow, "o-1", "IN", expected_version=0, funnel=TOP_IN_BEST, by="ann", at=t,
...                     request_id="move-1")
...     again.retried, again.event == r.event, [e.to_stage for e in uow.opportunities.history("o-1")]
(True, True, ['TOP', 'IN'])
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import numpy as np

from crmcore.errors import ConcurrencyError, NotFoundError, TransitionError, ValidationError
from crmcore.model._fields import as_tuple, instance, tuple_of
from crmcore.model._records import evolve_valid
from crmcore.model._storable import COUNT_MAX
from crmcore.model.opportunity import FieldChange, Opportunity, StageChange
from crmcore.options import as_count, as_id, expect_instance
from crmcore.pipeline.currency import RateTable
from crmcore.pipeline.edits import edit_opportunity, replay
from crmcore.pipeline.funnel import Funnel, StageKind
from crmcore.pipeline.history import AS_OF_FIELDS, FunnelHistory
from crmcore.pipeline.moves import follow_up, move, open_opportunity, reopen, stage_of
from crmcore.pipeline.versions import FUNNEL_KIND, check_new_revision, in_version
from crmcore.repositories._events import utc_now
from crmcore.repositories._writes import check_document_key
from crmcore.repositories.protocols import UnitOfWork, expect_unit_of_work
from crmcore.serialization import from_dict, to_dict
from crmcore.timestamps import as_instant

__all__ = [
    "FUNNEL_KIND",
    "Advanced",
    "Edited",
    "advance",
    "create_opportunity",
    "edit",
    "load_funnel",
    "load_history",
    "load_opportunity",
    "reopen_opportunity",
    "save_funnel",
]


def save_funnel(uow: UnitOfWork, funnel: Funnel, *, expected_version: int | None = None) -> int:
    """Store ``funnel`` as a new revision of document ``("funnel", funnel.name)``; returns the
    revision number.

    ``expected_version`` is the revision read before changing it (None for a new funnel). A
    funnel of version ``n > 1`` (see :mod:`crmcore.pipeline.versions`) is refused unless it
    follows the stored version ``n - 1``.
    """
    uow = expect_unit_of_work(uow)
    expect_instance(funnel, Funnel, name="funnel")
    if expected_version is not None:
        as_count(expected_version, name="expected_version")
    check_new_revision(uow, funnel)  # the stored versions must still chain
    return uow.documents.put(
        FUNNEL_KIND, funnel.name, to_dict(funnel), expected_version=expected_version
    )


def load_funnel(uow: UnitOfWork, name: str, *, version: int | None = None) -> Funnel:
    """The stored funnel ``name`` (latest, or the given version), validated again when read."""
    uow = expect_unit_of_work(uow)
    if version is not None:
        as_count(version, name="version", low=1)
    check_document_key(FUNNEL_KIND, name, names=("kind", "name"))
    doc, _ = uow.documents.get(FUNNEL_KIND, name, version=version)
    return from_dict(Funnel, doc)


_CREATE_REQUESTS = uuid.uuid5(uuid.NAMESPACE_URL, "crmcore:create_opportunity")
"""The namespace of the opportunity ids derived from create requests' ids."""


def create_opportunity(
    uow: UnitOfWork, funnel: Funnel, *, request_id: str | None = None, **fields: Any
) -> Opportunity:
    """Open an opportunity (see :func:`~crmcore.pipeline.moves.open_opportunity`) and store it
    with its creation event (version 0).

    A ``request_id`` (the client's id of the create request) makes a retry safe,
    as for moves: the same id again returns the stored opportunity as it was
    created and stores nothing. Without an ``id``, the opportunity's id is
    derived from the request id (a UUID 5), so a retry finds it; the same
    request id for a deal of another customer, funnel or entry stage is refused.

    >>> from datetime import datetime, timezone
    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> from crmcore.pipeline.presets import B2B
    >>> uow, t = MemoryUnitOfWork(), datetime(2025, 3, 3, tzinfo=timezone.utc)
    >>> with uow:
    ...     a = create_opportunity(uow, B2B, customer_id="c-1", owner_id="ann", at=t,
    ...                            request_id="req-7")
    ...     uow.commit()
    >>> with uow:  # the client did not get the answer and sends the request again
    ...     b = create_opportunity(uow, B2B, customer_id="c-1", owner_id="ann", at=t,
    ...                            request_id="req-7")
    ...     a == b, len(uow.opportunities.list())
    (True, 1)
    """
    uow = expect_unit_of_work(uow)
    if request_id is None:
        opp, event = open_opportunity(funnel, **fields)
        return uow.opportunities.add(opp, event)
    as_id(request_id, name="request_id")
    if fields.get("id") is None:
        fields["id"] = uuid.uuid5(_CREATE_REQUESTS, request_id).hex
    opp, event = open_opportunity(funnel, **fields)
    if uow.opportunities.find(opp.id) is not None:
        done = uow.opportunities.events(opp.id, request_id=request_id)
        if done and done[0].sequence == 0 and isinstance(done[0], StageChange):
            first = done[0]
            same = (first.customer_id, first.funnel, first.to_stage)
            if same != (event.customer_id, event.funnel, event.to_stage):
                raise ValidationError(
                    f"request id {request_id!r} created opportunity {opp.id!r} of customer "
                    f"{first.customer_id!r} in {first.funnel!r} stage {first.to_stage!r}, not "
                    "this request"
                )
            return replay([first], funnel=funnel)
    return uow.opportunities.add(opp, evolve_valid(event, {"request_id": request_id}))


@attrs.frozen
class Advanced:
    """What :func:`advance` or :func:`reopen_opportunity` stored: the moved opportunity, its
    event, and any follow-up it opened; ``retried`` when the request had been made before
    (the stored result, nothing stored again)."""

    opportunity: Opportunity = attrs.field(validator=instance(Opportunity, "an Opportunity"))
    event: StageChange = attrs.field(validator=instance(StageChange, "a StageChange"))
    follow_up: Opportunity | None = attrs.field(
        default=None, validator=instance(Opportunity, "an Opportunity", optional=True)
    )
    retried: bool = attrs.field(default=False, validator=instance(bool, "a bool"))


@attrs.frozen
class Edited:
    """What :func:`edit` stored: the edited opportunity and one event per changed field;
    ``retried`` when the request had been made before."""

    opportunity: Opportunity = attrs.field(validator=instance(Opportunity, "an Opportunity"))
    changes: tuple[FieldChange, ...] = attrs.field(
        converter=as_tuple, validator=tuple_of(FieldChange, "a FieldChange")
    )
    retried: bool = attrs.field(default=False, validator=instance(bool, "a bool"))


def _now(uow: UnitOfWork) -> datetime:
    """The unit of work's time (its ``now()``; the system clock for a backend without one)."""
    now = getattr(uow, "now", None)
    return now() if callable(now) else utc_now()


def _stamp(
    events: Sequence[Any], after: StageChange | FieldChange, now: datetime, request: str | None
) -> list[Any]:
    """The events with their recording time (never before ``after``'s) and the request id."""
    floor = after.recorded_at
    at = now if floor is None or now >= floor else floor
    # rebuilt by the validated constructor: the records to store are checked whole, and keep
    # the compact key-shared dict (a move's own event is built fast, for the caller)
    return [attrs.evolve(e, recorded_at=at, request_id=request) for e in events]


def _stored(
    uow: UnitOfWork,
    opportunity_id: str,
    *,
    expected_version: object,
    funnel: object,
    request_id: str | None,
) -> tuple[Opportunity, list[StageChange | FieldChange]]:
    """The checked arguments' opportunity, and the events stored for ``request_id`` (a retry)."""
    expect_instance(funnel, Funnel, name="funnel")
    as_id(opportunity_id, name="opportunity_id")
    as_count(expected_version, name="expected_version", high=COUNT_MAX)
    if request_id is not None:
        as_id(request_id, name="request_id")
    opp = uow.opportunities.get(opportunity_id)
    done = (
        uow.opportunities.events(opportunity_id, request_id=request_id)
        if request_id is not None
        else []
    )
    return opp, done


def _check_version(opp: Opportunity, expected_version: object) -> None:
    if opp.version != expected_version:
        raise ConcurrencyError(
            f"opportunity {opp.id!r} is at version {opp.version}, the caller saw version "
            f"{expected_version}: it changed meanwhile; nothing was changed"
        )


def _last(uow: UnitOfWork, opp: Opportunity) -> StageChange | FieldChange:
    events = uow.opportunities.events(opp.id)
    if not events:
        raise ValidationError(f"opportunity {opp.id!r} has no stored events to continue from")
    return events[-1]


def _as_of_event(uow: UnitOfWork, opp: Opportunity, funnel: Funnel, sequence: int) -> Opportunity:
    """The opportunity right after its event ``sequence`` (rebuilt from its events)."""
    events = [e for e in uow.opportunities.events(opp.id) if e.sequence <= sequence]
    return replay(events, funnel=funnel)


def _follow_up_of(uow: UnitOfWork, won: Opportunity, at: datetime) -> Opportunity | None:
    for o in uow.opportunities.list(customer_id=won.customer_id):
        if o.parent_id == won.id and o.created_at == at:
            return o
    return None


def _retried_move(
    uow: UnitOfWork,
    opp: Opportunity,
    done: list[StageChange | FieldChange],
    funnel: Funnel,
    *,
    to: str | None,
    request_id: str,
) -> Advanced:
    event = done[0]
    if not isinstance(event, StageChange) or (to is not None and event.to_stage != to):
        made = (
            f"a move to {event.to_stage!r}"
            if isinstance(event, StageChange)
            else f"an edit of {event.field!r}"
        )
        raise ValidationError(
            f"request id {request_id!r} of opportunity {opp.id!r} made {made}, not this request"
        )
    state = _as_of_event(uow, opp, funnel, event.sequence)
    nxt = None
    if funnel.stage(event.to_stage).kind is StageKind.WON:
        nxt = _follow_up_of(uow, state, event.at)
    return Advanced(state, event, nxt, retried=True)


def advance(
    uow: UnitOfWork,
    opportunity_id: str,
    to: str,
    *,
    expected_version: int,
    funnel: Funnel,
    by: str,
    at: datetime,
    reason: str | None = None,
    request_id: str | None = None,
    open_follow_up: bool = True,
    follow_up_id: str | None = None,
) -> Advanced:
    """Move a stored opportunity to stage ``to`` and save it with its event.

    ``expected_version`` is the version the caller saw (stale: ConcurrencyError,
    nothing changed). A lost deal is not moved: it is reopened explicitly with
    :func:`reopen_opportunity`. A ``request_id`` already used by this opportunity
    returns the stored result (``retried``) whatever the version is now. A win
    in a funnel with a follow-up setting also stores the follow-up opportunity
    (unless ``open_follow_up`` is false).
    """
    uow = expect_unit_of_work(uow)
    opp, done = _stored(
        uow, opportunity_id, expected_version=expected_version, funnel=funnel, request_id=request_id
    )
    if done:
        assert request_id is not None
        return _retried_move(uow, opp, done, funnel, to=to, request_id=request_id)
    _check_version(opp, expected_version)
    if opp.funnel == funnel.name and stage_of(opp, funnel).kind is StageKind.LOST:
        raise TransitionError(
            f"opportunity {opp.id!r} is lost (stage {opp.stage!r}): reopen it explicitly with "
            "reopen_opportunity() before moving it"
        )
    last = _last(uow, opp)
    moved, event = move(opp, to, funnel=funnel, by=by, at=at, after=last, reason=reason)
    (event,) = _stamp([event], last, _now(uow), request_id)
    stored = uow.opportunities.save(moved, [event])
    nxt = None
    if open_follow_up and funnel.follow_up is not None and funnel.stage(to).kind is StageKind.WON:
        f_opp, f_event = follow_up(stored, funnel=funnel, at=at, id=follow_up_id, by=by)
        nxt = uow.opportunities.add(f_opp, f_event)
    return Advanced(stored, event, nxt)


def reopen_opportunity(
    uow: UnitOfWork,
    opportunity_id: str,
    *,
    expected_version: int,
    funnel: Funnel,
    by: str,
    at: datetime,
    to: str | None = None,
    reason: str = "reopened",
    request_id: str | None = None,
) -> Advanced:
    """Reopen a stored lost opportunity into the open stage ``to`` (default: the first entry
    stage) and save it with its event; ``expected_version`` and ``request_id`` as in
    :func:`advance`."""
    uow = expect_unit_of_work(uow)
    opp, done = _stored(
        uow, opportunity_id, expected_version=expected_version, funnel=funnel, request_id=request_id
    )
    if done:
        assert request_id is not None
        return _retried_move(uow, opp, done, funnel, to=to, request_id=request_id)
    _check_version(opp, expected_version)
    last = _last(uow, opp)
    moved, event = reopen(opp, funnel=funnel, by=by, at=at, after=last, to=to, reason=reason)
    (event,) = _stamp([event], last, _now(uow), request_id)
    return Advanced(uow.opportunities.save(moved, [event]), event)


def edit(
    uow: UnitOfWork,
    opportunity_id: str,
    *,
    expected_version: int,
    changes: Mapping[str, Any],
    funnel: Funnel,
    by: str,
    at: datetime,
    reason: str | None = None,
    request_id: str | None = None,
) -> Edited:
    """Change fields of a stored opportunity (amount, owner, expected close date, probability,
    forecast category, product, custom fields) and save it with one
    :class:`~crmcore.model.FieldChange` per changed field (who, when, why, old, new).

    ``changes`` and its rules are those of :func:`~crmcore.pipeline.edits.edit_opportunity`;
    ``expected_version`` and ``request_id`` as in :func:`advance`.
    """
    uow = expect_unit_of_work(uow)
    opp, done = _stored(
        uow, opportunity_id, expected_version=expected_version, funnel=funnel, request_id=request_id
    )
    if done:
        if not all(isinstance(e, FieldChange) for e in done):
            raise ValidationError(
                f"request id {request_id!r} of opportunity {opp.id!r} made a move, not this edit"
            )
        state = _as_of_event(uow, opp, funnel, done[-1].sequence)
        return Edited(state, tuple(e for e in done if isinstance(e, FieldChange)), retried=True)
    _check_version(opp, expected_version)
    last = _last(uow, opp)
    edited, fields = edit_opportunity(
        opp, changes, funnel=funnel, by=by, at=at, after=last, reason=reason
    )
    stamped = _stamp(fields, last, _now(uow), request_id)
    return Edited(uow.opportunities.save(edited, stamped), tuple(stamped))


def _visible(
    events: Sequence[StageChange | FieldChange],
    as_of: np.datetime64 | None,
    known_at: np.datetime64 | None,
) -> list[StageChange | FieldChange]:
    out = []
    for e in events:
        if as_of is not None and np.datetime64(e.at.replace(tzinfo=None), "us") >= as_of:
            break
        recorded = e.recorded_at or e.at
        if known_at is not None and np.datetime64(recorded.replace(tzinfo=None), "us") > known_at:
            break
        out.append(e)
    return out


def load_opportunity(
    uow: UnitOfWork,
    opportunity_id: str,
    *,
    funnel: Funnel,
    as_of: datetime | None = None,
    known_at: datetime | None = None,
) -> Opportunity:
    """The stored opportunity as it was at ``as_of`` (events dated before it) as far as was
    known at ``known_at`` (events recorded by then), rebuilt from its events.

    Without either, the current state (rebuilt: equal to the stored opportunity).
    NotFoundError when it did not exist yet, or was not yet recorded.
    """
    uow = expect_unit_of_work(uow)
    expect_instance(funnel, Funnel, name="funnel")
    cut = None if as_of is None else as_instant(as_of, name="as_of")
    seen = None if known_at is None else as_instant(known_at, name="known_at")
    events = _visible(
        uow.opportunities.events(as_id(opportunity_id, name="opportunity_id")), cut, seen
    )
    if not events:
        raise NotFoundError(
            f"opportunity {opportunity_id!r} has no event before as_of {as_of!r} recorded by "
            f"known_at {known_at!r}"
        )
    return replay(events, funnel=funnel)


def load_history(
    uow: UnitOfWork,
    funnel: Funnel,
    *,
    as_of: datetime | None = None,
    known_at: datetime | None = None,
    owner_id: str | None = None,
    start: datetime | None = None,
    with_reasons: bool = True,
    currency: str | None = None,
    rates: RateTable | None = None,
) -> FunnelHistory:
    """The funnel's stored history as a :class:`FunnelHistory`, as it was at ``as_of`` (default:
    just after now by the unit of work's clock, or after the last event when it is dated
    within the clock's tolerance) as far as was known at ``known_at``.

    Stage, amount, owner, probability, forecast category and lost reason are
    the values true at ``as_of``: each deal's last move before it, and the
    edits that followed it; events recorded after ``known_at`` are invisible
    (a back-test sees only what was known at its cut-off). ``owner_id`` keeps
    the deals that rep owned at ``as_of`` (whole histories, also of deals
    reassigned to them); ``start`` keeps the deals active in the window
    ``[start, as_of)`` -- with a stage event in it (created, moved, closed,
    reopened) or open all along -- with their whole histories from their true
    creation: a cycle that began before ``start`` is not cut (a deal created 62
    days before it and won inside it has a 62-day cycle), and deals closed
    before ``start`` are left out. Lost
    reasons are the reasons of the stored events (``with_reasons=False``: none).
    Amounts are in one currency (``currency`` and ``rates``: see
    :meth:`FunnelHistory.build`); stored deals in several currencies need
    ``rates``.
    """
    uow = expect_unit_of_work(uow)
    expect_instance(funnel, Funnel, name="funnel")
    cut = as_instant(as_of, name="as_of") if as_of is not None else None
    seen = as_instant(known_at, name="known_at") if known_at is not None else None
    lo = as_instant(start, name="start") if start is not None else None
    if owner_id is not None:
        as_id(owner_id, name="owner_id")
    end = None if cut is None else _as_datetime(cut)
    known = None if seen is None else _as_datetime(seen)
    hist = uow.opportunities.read_history(funnel=funnel.name, end=end, known_at=known)
    hist = in_version(
        uow, funnel, hist
    )  # history of older (or newer) versions, in this one's terms
    changes = uow.opportunities.read_changes(
        funnel=funnel.name, fields=AS_OF_FIELDS, end=end, known_at=known
    )
    if cut is None:  # just after now, or after a last event dated within the clock's tolerance
        cut = as_instant(_now(uow), name="as_of")
        for times in (hist.at, changes.at):
            if len(times):
                cut = max(cut, times.max())
        cut = cut + np.timedelta64(1, "us")
    fh = FunnelHistory.build(
        hist,
        funnel,
        as_of=cut,
        known_at=seen,
        changes=changes,
        reasons=None if with_reasons else (np.full(len(hist), -1, dtype=np.int64), []),
        currency=currency,
        rates=rates,
    )
    if owner_id is None and lo is None:
        return fh
    keep = np.ones(fh.n_opportunities, dtype=bool)
    if owner_id is not None:
        keep &= fh.owner_ids[fh.owner] == owner_id
    if lo is not None:  # active in [start, as_of): an event in it, or open all along
        active = fh.is_open.copy()
        active[fh.ev_opp[fh.ev_at >= lo]] = True
        keep &= active
    return fh.select(keep)


def _as_datetime(t: np.datetime64) -> datetime:
    micros = int(t.astype("datetime64[us]").astype(np.int64))
    return datetime(1970, 1, 1, tzinfo=UTC) + np.timedelta64(micros, "us").item()
