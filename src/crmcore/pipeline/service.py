"""Persistence of funnels and moves through any unit of work (memory, SQL, a user's own).

These functions work inside the caller's unit of work: call them within
``with uow:`` and ``uow.commit()`` when done (several moves can share one
commit). Funnel definitions are versioned JSON documents of kind
``"funnel"``; every move is stored with its event, so the stage history is
in the repository and :func:`load_history` reads it back as columns.

>>> from datetime import datetime, timezone
>>> from crmcore.repositories import MemoryUnitOfWork
>>> from crmcore.pipeline.presets import TOP_IN_BEST
>>> uow = MemoryUnitOfWork()
>>> t = datetime(2025, 3, 3, tzinfo=timezone.utc)
>>> with uow:
...     save_funnel(uow, TOP_IN_BEST)
...     o = create_opportunity(uow, TOP_IN_BEST, id="o-1", customer_id="c-1", owner_id="ann", at=t)
...     r = advance(uow, "o-1", "IN", funnel=TOP_IN_BEST, by="ann", at=t)
...     uow.commit()
1
>>> with uow:
...     load_funnel(uow, "top-in-best") == TOP_IN_BEST, [e.to_stage for e in uow.opportunities.history("o-1")]
(True, ['TOP', 'IN'])
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import numpy as np

from crmcore.errors import ValidationError
from crmcore.model._fields import instance
from crmcore.model.opportunity import Opportunity, StageChange
from crmcore.options import as_count, as_id, expect_instance
from crmcore.pipeline.funnel import Funnel, StageKind
from crmcore.pipeline.history import FunnelHistory
from crmcore.pipeline.moves import follow_up, move, open_opportunity, reopen
from crmcore.repositories._writes import check_document_key
from crmcore.repositories.protocols import UnitOfWork, expect_unit_of_work
from crmcore.serialization import from_dict, to_dict
from crmcore.timestamps import as_instant

__all__ = [
    "FUNNEL_KIND",
    "Advanced",
    "advance",
    "create_opportunity",
    "load_funnel",
    "load_history",
    "save_funnel",
]

FUNNEL_KIND = "funnel"
"""The document kind funnel definitions are stored under (key: the funnel's name)."""


def save_funnel(uow: UnitOfWork, funnel: Funnel, *, expected_version: int | None = None) -> int:
    """Store ``funnel`` as a new version of document ``("funnel", funnel.name)``; returns the version.

    ``expected_version`` is the version read before changing it (None for a new funnel).
    """
    uow = expect_unit_of_work(uow)
    expect_instance(funnel, Funnel, name="funnel")
    if expected_version is not None:
        as_count(expected_version, name="expected_version")
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


def create_opportunity(uow: UnitOfWork, funnel: Funnel, **fields: Any) -> Opportunity:
    """Open an opportunity (see :func:`~crmcore.pipeline.moves.open_opportunity`) and store it with its event."""
    uow = expect_unit_of_work(uow)
    opp, event = open_opportunity(funnel, **fields)
    return uow.opportunities.add(opp, event)


@attrs.frozen
class Advanced:
    """What :func:`advance` stored: the moved opportunity, its event, and any follow-up it opened."""

    opportunity: Opportunity = attrs.field(validator=instance(Opportunity, "an Opportunity"))
    event: StageChange = attrs.field(validator=instance(StageChange, "a StageChange"))
    follow_up: Opportunity | None = attrs.field(
        default=None, validator=instance(Opportunity, "an Opportunity", optional=True)
    )


def advance(
    uow: UnitOfWork,
    opportunity_id: str,
    to: str,
    *,
    funnel: Funnel,
    by: str,
    at: datetime,
    reason: str | None = None,
    open_follow_up: bool = True,
    follow_up_id: str | None = None,
) -> Advanced:
    """Move a stored opportunity and save it with the event (a lost one is reopened explicitly into ``to``).

    A win in a funnel with a follow-up setting also stores the follow-up
    opportunity (unless ``open_follow_up`` is false).
    """
    uow = expect_unit_of_work(uow)
    expect_instance(funnel, Funnel, name="funnel")
    opp = uow.opportunities.get(as_id(opportunity_id, name="opportunity_id"))
    events = uow.opportunities.history(opportunity_id)
    if not events:
        raise ValidationError(
            f"opportunity {opportunity_id!r} has no stored events to continue from"
        )
    last = events[-1]
    if funnel.stage(opp.stage).kind is StageKind.LOST:
        moved, event = reopen(
            opp, funnel=funnel, by=by, at=at, after=last, to=to, reason=reason or "reopened"
        )
    else:
        moved, event = move(opp, to, funnel=funnel, by=by, at=at, after=last, reason=reason)
    stored = uow.opportunities.save(moved, [event])
    nxt = None
    if open_follow_up and funnel.follow_up is not None and funnel.stage(to).kind is StageKind.WON:
        f_opp, f_event = follow_up(stored, funnel=funnel, at=at, id=follow_up_id, by=by)
        nxt = uow.opportunities.add(f_opp, f_event)
    return Advanced(stored, event, nxt)


def load_history(
    uow: UnitOfWork,
    funnel: Funnel,
    *,
    as_of: datetime | None = None,
    owner_id: str | None = None,
    start: datetime | None = None,
    with_reasons: bool = True,
) -> FunnelHistory:
    """The funnel's stored stage history as a :class:`FunnelHistory` (lost reasons included).

    Lost reasons come from the stored lost opportunities' ``lost_reason``
    (one look-up per lost deal), placed on their last event.
    """
    uow = expect_unit_of_work(uow)
    expect_instance(funnel, Funnel, name="funnel")
    for name, bound in (("as_of", as_of), ("start", start)):
        if bound is not None:
            as_instant(bound, name=name)  # named here, not as the repository's 'end'
    hist = uow.opportunities.read_history(
        funnel=funnel.name, owner_id=owner_id, start=start, end=as_of
    ).sorted()
    reasons: list[str | None] | None = None
    if with_reasons and len(hist):
        col: list[str | None] = [None] * len(hist)
        ids = hist.opportunity_ids
        last = np.flatnonzero(np.append(hist.opportunity[1:] != hist.opportunity[:-1], True))
        last_of = dict(zip(hist.opportunity[last].tolist(), last.tolist(), strict=True))
        for lost_name in funnel.names_of(StageKind.LOST):
            for o in uow.opportunities.list(funnel=funnel.name, stage=lost_name, owner_id=owner_id):
                code = int(np.searchsorted(ids, o.id))
                if code < len(ids) and ids[code] == o.id and code in last_of:
                    col[last_of[code]] = o.lost_reason
        reasons = col
    return FunnelHistory.build(hist, funnel, as_of=as_of, reasons=reasons)
