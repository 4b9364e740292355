"""The memory store of opportunities and their events (storage only: the checks and messages
are the front's, :class:`crmcore.repositories._opportunities.Opportunities`).

The change set holds each opportunity under ``opportunities`` and the tuple
of its events (stage and field changes, in sequence order) under
``stage_changes``, both keyed by the opportunity's id.

>>> from datetime import UTC, datetime
>>> from crmcore.model import Opportunity
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> t = datetime(2025, 1, 6, tzinfo=UTC)
>>> with uow:
...     _ = uow.opportunities.add(Opportunity(id="o-1", customer_id="c-1", owner_id="ann",
...                                           funnel="b2b", stage="lead", created_at=t))
...     h = uow.opportunities.read_history(owner_id="ann")
>>> h.opportunity_ids.tolist(), h.sequence.tolist()
(['o-1'], [0])
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from crmcore.errors import DuplicateError
from crmcore.model import FieldChange, Opportunity, StageChange
from crmcore.repositories._codec import to_e6, to_micros
from crmcore.repositories._events import Event, Tail
from crmcore.repositories._opportunities import (
    OPPORTUNITIES,
    STAGE_CHANGES,
    ChangesQuery,
    SavePlan,
)
from crmcore.repositories._spec import Query, predicate, sort_key
from crmcore.repositories.memory._store import MUST_NOT_EXIST
from crmcore.tables import FieldHistory, StageHistory

if TYPE_CHECKING:
    from crmcore.repositories.memory._session import MemorySession

__all__ = ["MemoryOpportunityStore", "history_from_rows"]


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


def _recorded(e: Event) -> int:
    return to_micros(e.recorded_at or e.at, "recorded_at")


class MemoryOpportunityStore:
    """Opportunities held in a memory unit of work's change set
    (:class:`~crmcore.repositories._opportunities.OpportunityStore`)."""

    def __init__(self, session: MemorySession) -> None:
        self._changes = session.changes
        self._by_id = sort_key(OPPORTUNITIES)

    def insert(self, opportunity: Opportunity, created: StageChange) -> None:
        cs = self._changes()
        if cs.get("opportunities", opportunity.id) is not None:
            raise DuplicateError(opportunity.id)  # the front words the message
        cs.put("opportunities", opportunity.id, opportunity, expected=MUST_NOT_EXIST)
        cs.put("stage_changes", opportunity.id, (created,), expected=None)

    def fetch(self, opportunity_id: str) -> Opportunity | None:
        found: Opportunity | None = self._changes().get("opportunities", opportunity_id)
        return found

    def save(self, opportunity_id: str, plan: SavePlan) -> Opportunity | None:
        cs = self._changes()
        stored: Opportunity | None = cs.get("opportunities", opportunity_id)
        if stored is None:
            return None
        old: tuple[Event, ...] = cs.get("stage_changes", opportunity_id) or ()

        def used(ids: set[str]) -> set[str]:
            return {e.request_id for e in old if e.request_id is not None and e.request_id in ids}

        saved, new = plan(stored, Tail.of(old[-1]), used)
        cs.put("opportunities", opportunity_id, saved, expected=stored.version)
        cs.put("stage_changes", opportunity_id, old + new, expected=None)
        return saved

    def select(self, query: Query, limit: int | None) -> builtins.list[Opportunity]:
        keep = predicate(OPPORTUNITIES, query)
        rows = sorted(self._changes().values("opportunities", keep), key=self._by_id)
        return rows if limit is None else rows[:limit]

    def events(
        self, opportunity_id: str, *, request_id: str | None, stages_only: bool
    ) -> builtins.list[Event] | None:
        cs = self._changes()
        if cs.get("opportunities", opportunity_id) is None:
            return None
        evs: tuple[Event, ...] = cs.get("stage_changes", opportunity_id) or ()
        return [
            e
            for e in evs
            if (not stages_only or isinstance(e, StageChange))
            and (request_id is None or e.request_id == request_id)
        ]

    def _all_events(self) -> Iterator[Event]:
        for evs in self._changes().values("stage_changes"):
            yield from evs

    def read_history(self, query: Query, seen: int | None) -> StageHistory:
        keep = predicate(STAGE_CHANGES, query)
        return history_from_rows(
            [
                e
                for e in self._all_events()
                if isinstance(e, StageChange) and keep(e) and (seen is None or _recorded(e) <= seen)
            ]
        )

    def read_changes(self, query: ChangesQuery) -> FieldHistory:
        cs = self._changes()
        funnel, wanted, hi, seen = query.funnel, query.fields, query.hi, query.seen
        out: builtins.list[FieldChange] = []
        for opp in cs.values("opportunities"):
            if funnel is None or opp.funnel == funnel:
                out.extend(
                    e
                    for e in cs.get("stage_changes", opp.id) or ()
                    if isinstance(e, FieldChange)
                    and (wanted is None or e.field in wanted)
                    and (hi is None or to_micros(e.at, "at") < hi)
                    and (seen is None or _recorded(e) <= seen)
                )
        return FieldHistory.from_changes(sorted(out, key=lambda e: (e.opportunity_id, e.sequence)))
