"""The memory repository of opportunities and their events."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs
import numpy as np

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
from crmcore.repositories._codec import to_e6, to_micros
from crmcore.repositories._events import Event, Tail, appended_events, creation_event
from crmcore.repositories._writes import (
    check_new_version,
    check_record,
)
from crmcore.repositories.memory._store import MUST_NOT_EXIST, ChangeSet
from crmcore.tables import FieldHistory, StageHistory

if TYPE_CHECKING:
    from crmcore.repositories.memory._session import MemorySession

__all__ = ["MemoryOpportunityRepository", "history_from_rows"]


def history_from_rows(rows: Sequence[StageChange]) -> StageHistory:
    """A StageHistory of stage-change events (stored events carry their snapshot: owner,
    product, probability, forecast category), with who, why, when recorded and the funnel
    version (0: unknown)."""
    rows = sorted(rows, key=lambda e: (e.opportunity_id, e.sequence))
    amounts = [np.nan if e.amount is None else to_e6(e.amount.amount, "amount") / 1e6 for e in rows]
    micros = np.array(
        [[to_micros(e.at, "at"), to_micros(e.recorded_at or e.at, "recorded_at")] for e in rows],
        dtype=np.int64,
    ).reshape(len(rows), 2)
    return StageHistory.from_arrays(
        opportunity_ids=np.array([e.opportunity_id for e in rows], dtype=str),
        sequence=np.array([e.sequence for e in rows], dtype=np.int64),
        from_stage=[e.from_stage for e in rows],
        to_stage=np.array([e.to_stage for e in rows], dtype=str),
        at=micros[:, 0].copy().view("datetime64[us]"),
        amount=np.array(amounts, dtype=np.float64),
        owner_ids=np.array([e.owner_id or "" for e in rows], dtype=str),
        products=[e.product for e in rows],
        probability=np.array(
            [np.nan if e.probability is None else e.probability for e in rows], dtype=np.float64
        ),
        by=np.array([e.by for e in rows], dtype=str),
        reasons=[e.reason for e in rows],
        recorded_at=micros[:, 1].copy().view("datetime64[us]"),
        categories=[e.forecast_category for e in rows],
        currencies=[None if e.amount is None else e.amount.currency for e in rows],
        funnel_versions=np.array([e.funnel_version or 0 for e in rows], dtype=np.int64),
    )


class MemoryOpportunityRepository:
    """Opportunities held in memory (see :class:`~crmcore.repositories.OpportunityRepository`)."""

    def __init__(self, session: MemorySession) -> None:
        self._session = session

    def _cs(self) -> ChangeSet:
        return self._session.changes()

    @staticmethod
    def _check(opportunity: object) -> Opportunity:
        return check_record(opportunity, Opportunity)

    def _events(self, opportunity_id: str) -> tuple[Event, ...]:
        events: tuple[Event, ...] = self._cs().get("stage_changes", opportunity_id) or ()
        return events

    def add(self, opportunity: Opportunity, event: StageChange | None = None) -> Opportunity:
        """Store a new opportunity (version 0) with its creation event (made when None)."""
        self._check(opportunity)
        check_new_version(opportunity, "opportunity")
        created = creation_event(opportunity, event, now=self._session.now())
        cs = self._cs()
        if cs.get("opportunities", opportunity.id) is not None:
            raise DuplicateError(f"opportunity {opportunity.id!r} is already stored")
        cs.put("opportunities", opportunity.id, opportunity, expected=MUST_NOT_EXIST)
        cs.put("stage_changes", opportunity.id, (created,), expected=None)
        return opportunity

    def get(self, opportunity_id: str) -> Opportunity:
        """The opportunity, or NotFoundError."""
        found = self.find(opportunity_id)
        if found is None:
            raise NotFoundError(f"opportunity {opportunity_id!r} not found")
        return found

    def find(self, opportunity_id: str) -> Opportunity | None:
        """The opportunity, or None."""
        check_lookup(opportunity_id, "opportunity_id")
        found: Opportunity | None = self._cs().get("opportunities", opportunity_id)
        return found

    def save(
        self, opportunity: Opportunity, events: Sequence[StageChange | FieldChange] = ()
    ) -> Opportunity:
        """Store a changed opportunity at the stored version, appending ``events``."""
        self._check(opportunity)
        check_iterable(events, "events")
        cs = self._cs()
        current = self.get(opportunity.id)
        if current.version != opportunity.version:
            raise ConcurrencyError(
                f"opportunity {opportunity.id!r} is at version {current.version}, "
                f"the save was based on version {opportunity.version}; nothing was changed"
            )
        old = self._events(opportunity.id)

        def used(ids: set[str]) -> set[str]:
            return {e.request_id for e in old if e.request_id is not None and e.request_id in ids}

        new = appended_events(
            current,
            Tail.of(old[-1]),
            opportunity,
            list(events),
            now=self._session.now(),
            used_request_ids=used,
        )
        stored = attrs.evolve(opportunity, version=new[-1].sequence)
        cs.put("opportunities", opportunity.id, stored, expected=opportunity.version)
        cs.put("stage_changes", opportunity.id, old + new, expected=None)
        return stored

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
        """Opportunities matching every filter, ordered by id."""
        check_filters(owner_id=owner_id, customer_id=customer_id, funnel=funnel, stage=stage)
        limit = check_limit(limit)

        def keep(o: Opportunity) -> bool:
            return (
                (owner_id is None or o.owner_id == owner_id)
                and (customer_id is None or o.customer_id == customer_id)
                and (funnel is None or o.funnel == funnel)
                and (stage is None or o.stage == stage)
                and (not open_only or o.closed_at is None)
            )

        rows = sorted(self._cs().values("opportunities", keep), key=lambda o: o.id)
        return rows if limit is None else rows[:limit]

    def history(self, opportunity_id: str) -> builtins.list[StageChange]:
        """The opportunity's stage changes in sequence order."""
        self.get(opportunity_id)
        return [e for e in self._events(opportunity_id) if isinstance(e, StageChange)]

    def events(
        self, opportunity_id: str, *, request_id: str | None = None
    ) -> builtins.list[StageChange | FieldChange]:
        """Every event of the opportunity in sequence order (those of one request)."""
        check_filters(request_id=request_id)
        self.get(opportunity_id)
        evs = self._events(opportunity_id)
        if request_id is not None:
            return [e for e in evs if e.request_id == request_id]
        return builtins.list(evs)

    def read_history(
        self,
        *,
        funnel: str | None = None,
        owner_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        known_at: datetime | None = None,
    ) -> StageHistory:
        """Stage changes as columns, ordered by opportunity then sequence."""
        check_filters(funnel=funnel, owner_id=owner_id)
        lo, hi = time_bounds(start, end)
        _, seen = time_bounds(None, known_at, names=("start", "known_at"))
        rows: list[StageChange] = []
        for e in self._all_events(funnel):
            if not isinstance(e, StageChange):
                continue
            t = to_micros(e.at, "at")
            if (
                (owner_id is None or e.owner_id == owner_id)
                and (lo is None or t >= lo)
                and (hi is None or t < hi)
                and (seen is None or to_micros(e.recorded_at or e.at, "recorded_at") <= seen)
            ):
                rows.append(e)
        return history_from_rows(rows)

    def _all_events(self, funnel: str | None) -> Iterator[Event]:
        cs = self._cs()
        for opp in cs.values("opportunities"):
            if funnel is None or opp.funnel == funnel:
                yield from cs.get("stage_changes", opp.id) or ()

    def read_changes(
        self,
        *,
        funnel: str | None = None,
        fields: Sequence[str] | None = None,
        end: datetime | None = None,
        known_at: datetime | None = None,
    ) -> FieldHistory:
        """Field changes (of ``fields``) dated before ``end`` and recorded by ``known_at``."""
        check_filters(funnel=funnel)
        wanted = None if fields is None else set(check_ids(fields, "fields"))
        _, hi = time_bounds(None, end)
        _, seen = time_bounds(None, known_at, names=("start", "known_at"))
        out = [
            e
            for e in self._all_events(funnel)
            if isinstance(e, FieldChange)
            and (wanted is None or e.field in wanted)
            and (hi is None or to_micros(e.at, "at") < hi)
            and (seen is None or to_micros(e.recorded_at or e.at, "recorded_at") <= seen)
        ]
        return FieldHistory.from_changes(sorted(out, key=lambda e: (e.opportunity_id, e.sequence)))
