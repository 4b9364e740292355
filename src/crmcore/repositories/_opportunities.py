"""The one validating front of the opportunity repositories, over a thin backend store.

:class:`Opportunities` implements
:class:`~crmcore.repositories.OpportunityRepository` for every backend: the
type and storability checks, the version rule, the rules of the event
stream (:mod:`crmcore.repositories._events`), the filters of ``list()``
(:data:`OPPORTUNITIES`, parsed by :func:`~crmcore.repositories._spec.parse_query`)
and of the columnar reads, and every error message, written here once. What
it stores and reads goes through an :class:`OpportunityStore`: the memory
backend's (:mod:`crmcore.repositories.memory._opportunities`) and the SQL
backend's (:mod:`crmcore.repositories.sql._opportunities`) hold storage only.

>>> from datetime import UTC, datetime
>>> from crmcore.model import Opportunity
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> type(uow.opportunities).__name__
'Opportunities'
>>> t = datetime(2025, 1, 6, tzinfo=UTC)
>>> with uow:
...     o = uow.opportunities.add(Opportunity(id="o-1", customer_id="c-1", owner_id="ann",
...                                           funnel="b2b", stage="lead", created_at=t))
...     [x.id for x in uow.opportunities.list(open_only=True, funnel="b2b")]
['o-1']
>>> with uow:
...     uow.opportunities.list(open_only="yes")
Traceback (most recent call last):
crmcore.errors.ArgumentTypeError: 'open_only' must be True or False, not str: 'yes'
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from crmcore.errors import ConcurrencyError, DuplicateError, NotFoundError
from crmcore.model import FieldChange, Opportunity, StageChange
from crmcore.repositories._args import (
    check_filters,
    check_ids,
    check_iterable,
    check_limit,
    check_lookup,
    time_bounds,
)
from crmcore.repositories._events import Event, Tail, appended_events, creation_event
from crmcore.repositories._spec import Filter, Query, TableSpec, parse_query
from crmcore.repositories._writes import check_new_version, check_record
from crmcore.tables import FieldHistory, StageHistory

__all__ = [
    "OPPORTUNITIES",
    "STAGE_CHANGES",
    "ChangesQuery",
    "Opportunities",
    "OpportunityStore",
    "SavePlan",
    "UsedRequestIds",
    "lost_race",
]

OPPORTUNITIES = TableSpec(
    "opportunities",
    Opportunity,
    "opportunity",
    filters=(
        Filter("owner_id"),
        Filter("customer_id"),
        Filter("funnel"),
        Filter("stage"),
        Filter("open_only", "closed_at", flag=True),
    ),
    order=(("id",),),
)
"""What ``list()`` filters on (``open_only``: not closed, ``closed_at`` None) and its order (id)."""

STAGE_CHANGES = TableSpec(
    "stage_changes",
    StageChange,
    "stage change",
    filters=(Filter("funnel"), Filter("owner_id")),
    time=("at",),
    order=(("opportunity_id",), ("sequence",)),
)
"""What ``read_history()`` filters on: the funnel, the owner at the time of the move (both as
the event's snapshot holds them) and ``[start, end)`` of its effective time ``at``; ordered by
opportunity, then sequence. (``known_at`` bounds the recording time, ``recorded_at`` or, when
None, ``at``: see :meth:`OpportunityStore.read_history`.)"""

UsedRequestIds = Callable[[set[str]], set[str]]
"""Those of the given request ids that stored events of the opportunity carry."""

SavePlan = Callable[[Opportunity, Tail, UsedRequestIds], tuple[Opportunity, tuple[Event, ...]]]
"""What a save stores, from the stored opportunity, its last event and the request ids in use:
the saved opportunity (at its new version) and the events to append."""


@attrs.frozen
class ChangesQuery:
    """The checked arguments of ``read_changes()`` (None: not filtered).

    >>> ChangesQuery(funnel="b2b", fields=frozenset({"amount"}), hi=None, seen=0).fields
    frozenset({'amount'})
    """

    funnel: str | None
    fields: frozenset[str] | None
    hi: int | None
    """Effective time before this (µs)."""
    seen: int | None
    """Recorded (``recorded_at``, or ``at`` when None) at or before this (µs)."""


def lost_race(opportunity_id: str) -> ConcurrencyError:
    """The error of a save whose conditional write found the row changed by another unit of
    work between its read and its write (raised by a store).

    >>> lost_race("o-1")
    ConcurrencyError("opportunity 'o-1' was changed by another unit of work while it was saved; nothing was changed")
    """
    return ConcurrencyError(
        f"opportunity {opportunity_id!r} was changed by another unit of work while it was saved; "
        "nothing was changed"
    )


class OpportunityStore(Protocol):
    """The storage of one backend under :class:`Opportunities`: no checks, no messages (the
    front checked every argument; a store raises only what the storage itself finds, such as
    :func:`lost_race` or a driver error translated by its session)."""

    def insert(self, opportunity: Opportunity, created: StageChange) -> None:
        """Store a new opportunity with its creation event (DuplicateError: the id is stored)."""
        ...

    def fetch(self, opportunity_id: str) -> Opportunity | None:
        """The stored opportunity, or None."""
        ...

    def save(self, opportunity_id: str, plan: SavePlan) -> Opportunity | None:
        """In one write: read the stored opportunity and its last event, call ``plan`` with
        them, store the saved opportunity where the stored version is still the one read
        (else raise :func:`lost_race`) and append the new events. Returns the saved
        opportunity, or None (``plan`` not called, nothing written) when none is stored."""
        ...

    def select(self, query: Query, limit: int | None) -> builtins.list[Opportunity]:
        """The opportunities :data:`OPPORTUNITIES` selects for ``query``, ordered by id."""
        ...

    def events(
        self, opportunity_id: str, *, request_id: str | None, stages_only: bool
    ) -> builtins.list[Event] | None:
        """The opportunity's events in sequence order (only its stage changes; only those of
        one request), or None when no opportunity of that id is stored."""
        ...

    def read_history(self, query: Query, seen: int | None) -> StageHistory:
        """The stage changes :data:`STAGE_CHANGES` selects for ``query``, recorded (their
        ``recorded_at``, else ``at``) at or before ``seen`` (µs; None: any time), as columns
        ordered by opportunity, then sequence."""
        ...

    def read_changes(self, query: ChangesQuery) -> FieldHistory:
        """The field changes ``query`` selects, as columns ordered by opportunity, then
        sequence."""
        ...


def _not_found(opportunity_id: str) -> NotFoundError:
    return NotFoundError(f"opportunity {opportunity_id!r} not found")


class Opportunities:
    """Opportunities (aggregates with a version) and their events.

    An opportunity changes only through its events, numbered together from 0:
    :class:`~crmcore.model.StageChange` (its creation and every move) and
    :class:`~crmcore.model.FieldChange` (every edit of a field). ``add`` and
    ``save`` refuse streams that break the rules of
    :mod:`crmcore.repositories._events` (numbering, moves from the current
    stage, time order, nothing dated in the future, a change of state without
    its event) and stamp each event's ``recorded_at`` from the unit of work's
    clock. The version of an opportunity is the number of its last event.

    ``store`` is the backend's :class:`OpportunityStore`, ``now`` the unit of work's clock.
    """

    __slots__ = ("_events", "_fetch", "_insert", "_now", "_save", "_store")

    def __init__(self, store: OpportunityStore, now: Callable[[], datetime]) -> None:
        self._store = store
        self._now = now
        # bound once: a move is a get and a save, on the hot path of every application
        self._fetch = store.fetch
        self._save = store.save
        self._insert = store.insert
        self._events = store.events

    def add(self, opportunity: Opportunity, event: StageChange | None = None) -> Opportunity:
        """Store a new opportunity (version 0) with its creation event (made from the
        opportunity, by its owner, when None)."""
        check_record(opportunity, Opportunity)
        check_new_version(opportunity, "opportunity")
        created = creation_event(opportunity, event, now=self._now())
        try:
            self._insert(opportunity, created)
        except DuplicateError as e:
            raise DuplicateError(f"opportunity {opportunity.id!r} is already stored") from e
        return opportunity

    def get(self, opportunity_id: str) -> Opportunity:
        """The opportunity, or NotFoundError."""
        found = self._fetch(check_lookup(opportunity_id, "opportunity_id"))
        if found is None:
            raise _not_found(opportunity_id)
        return found

    def find(self, opportunity_id: str) -> Opportunity | None:
        """The opportunity, or None."""
        return self._fetch(check_lookup(opportunity_id, "opportunity_id"))

    def save(
        self, opportunity: Opportunity, events: Sequence[StageChange | FieldChange] = ()
    ) -> Opportunity:
        """Store a changed opportunity whose ``version`` is the stored one, appending ``events``
        (at least one; the saved opportunity must be the stored one with them applied).

        Returns it with the version of its last event; a stale version raises
        ConcurrencyError and changes nothing.
        """
        check_record(opportunity, Opportunity)
        given = builtins.list(check_iterable(events, "events"))
        now = self._now

        def plan(
            stored: Opportunity, tail: Tail, used: UsedRequestIds
        ) -> tuple[Opportunity, tuple[Event, ...]]:
            if stored.version != opportunity.version:
                raise ConcurrencyError(
                    f"opportunity {opportunity.id!r} is at version {stored.version}, the save "
                    f"was based on version {opportunity.version}; nothing was changed"
                )
            new = appended_events(
                stored, tail, opportunity, given, now=now(), used_request_ids=used
            )
            return attrs.evolve(opportunity, version=new[-1].sequence), new

        saved = self._save(opportunity.id, plan)
        if saved is None:
            raise _not_found(opportunity.id)
        return saved

    def list(
        self,
        *,
        owner_id: str | None = None,
        customer_id: str | None = None,
        funnel: str | None = None,
        stage: str | None = None,
        open_only: bool = False,
        limit: int | None = None,
    ) -> builtins.list[Opportunity]:
        """Opportunities matching every filter (``open_only``: not closed), ordered by id."""
        query = parse_query(
            OPPORTUNITIES,
            owner_id=owner_id,
            customer_id=customer_id,
            funnel=funnel,
            stage=stage,
            open_only=open_only,
        )
        return self._store.select(query, check_limit(limit))

    def history(self, opportunity_id: str) -> builtins.list[StageChange]:
        """The opportunity's stage changes in sequence order."""
        found = self._events(
            check_lookup(opportunity_id, "opportunity_id"), request_id=None, stages_only=True
        )
        if found is None:
            raise _not_found(opportunity_id)
        return found  # type: ignore[return-value]  # stages_only: stage changes only

    def events(
        self, opportunity_id: str, *, request_id: str | None = None
    ) -> builtins.list[StageChange | FieldChange]:
        """Every event of the opportunity (stage and field changes) in sequence order, or
        those a request with the client's ``request_id`` made."""
        check_filters(request_id=request_id)
        found = self._events(
            check_lookup(opportunity_id, "opportunity_id"),
            request_id=request_id,
            stages_only=False,
        )
        if found is None:
            raise _not_found(opportunity_id)
        return found

    def read_history(
        self,
        *,
        funnel: str | None = None,
        owner_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        known_at: datetime | None = None,
    ) -> StageHistory:
        """Stage changes as columns, with who (``by``), why (``reason``), when recorded, the
        probability and forecast category after each and the funnel version each was made
        under (``funnel_version``; 0 for events stored before schema 4, whose version
        :class:`~crmcore.pipeline.FunnelVersions` reads from their time); ordered by
        opportunity, then sequence.

        ``[start, end)`` bounds the effective time, ``owner_id`` is the owner at the
        time of the move, ``known_at`` leaves out what was recorded after it.
        """
        query = parse_query(STAGE_CHANGES, funnel=funnel, owner_id=owner_id, start=start, end=end)
        _, seen = time_bounds(None, known_at, names=("start", "known_at"))
        return self._store.read_history(query, seen)

    def read_changes(
        self,
        *,
        funnel: str | None = None,
        fields: Sequence[str] | None = None,
        end: datetime | None = None,
        known_at: datetime | None = None,
    ) -> FieldHistory:
        """Field changes (of ``fields``; all when None) of the funnel's opportunities dated
        before ``end`` and recorded by ``known_at``, as columns ordered by opportunity, then
        sequence."""
        check_filters(funnel=funnel)
        wanted = None if fields is None else frozenset(check_ids(fields, "fields"))
        _, hi = time_bounds(None, end)
        _, seen = time_bounds(None, known_at, names=("start", "known_at"))
        return self._store.read_changes(ChangesQuery(funnel, wanted, hi, seen))
