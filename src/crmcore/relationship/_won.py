"""Which closed deals are won: one rule for the reminders (``WinFollowUp``) and CRM health.

A deal is won when it is closed (``closed_at`` set) in a won stage. The won stages are the
caller's ``won_stages`` when given; by default (None) they are those of the deal's own
funnel, its stages of kind :attr:`~crmcore.pipeline.StageKind.WON`: the funnel stored under
the deal's funnel name (:func:`~crmcore.pipeline.save_funnel`, every stored version, so a
redesigned funnel still knows its old won stages), else crmcore's preset of that name
(:data:`~crmcore.pipeline.PRESETS`), else the stage named ``"won"``.

>>> from datetime import UTC, datetime
>>> from crmcore.model import Opportunity
>>> from crmcore.repositories import MemoryUnitOfWork
>>> t = datetime(2025, 1, 1, tzinfo=UTC)
>>> deal = Opportunity(id="o", customer_id="c", owner_id="r", funnel="top-in-best", stage="WIN",
...                    created_at=t, closed_at=t)
>>> with MemoryUnitOfWork() as uow:
...     is_won = won_deals(uow, None)
...     is_won(deal), won_deals(uow, ["won"])(deal)
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmcore.errors import NotFoundError, ValidationError
from crmcore.model import Opportunity
from crmcore.model._fields import as_tuple
from crmcore.pipeline import PRESETS, StageKind, load_funnel
from crmcore.pipeline.versions import FUNNEL_KIND
from crmcore.repositories.protocols import UnitOfWork

__all__ = ["as_won_stages", "won_deals", "won_stages_of"]

_FALLBACK = frozenset({"won"})


def as_won_stages(value: Any, *, name: str = "won_stages") -> frozenset[str] | None:
    """``won_stages`` checked: None (each funnel's own won stages) or a non-empty list of
    stage names.

    >>> as_won_stages(["WIN"]), as_won_stages(None)
    (frozenset({'WIN'}), None)
    >>> as_won_stages([])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'won_stages' must be None (each deal's funnel's won stages) or a non-empty list of stage names: []
    """
    if value is None:
        return None
    items = as_tuple(value)
    if not isinstance(items, tuple) or not items or not all(isinstance(s, str) for s in items):
        raise ValidationError(
            f"{name!r} must be None (each deal's funnel's won stages) or a non-empty list of "
            f"stage names: {value!r}"
        )
    return frozenset(items)


def _funnel_won_stages(uow: UnitOfWork, funnel: str) -> frozenset[str]:
    try:
        _, latest = uow.documents.get(FUNNEL_KIND, funnel)
    except (NotFoundError, ValidationError):
        for preset in PRESETS:
            if preset.name == funnel:
                return frozenset(s.name for s in preset.stages if s.kind is StageKind.WON)
        return _FALLBACK
    won: set[str] = set()
    for version in range(1, latest + 1):
        try:
            f = load_funnel(uow, funnel, version=version)
        except NotFoundError:  # a version removed by hand: the others still count
            continue
        won |= {s.name for s in f.stages if s.kind is StageKind.WON}
    return frozenset(won)


def won_stages_of(
    uow: UnitOfWork, won_stages: frozenset[str] | None
) -> Callable[[str], frozenset[str]]:
    """The won stages of a funnel by its name (see the module docstring); funnels read once."""
    if won_stages is not None:
        given = won_stages
        return lambda _funnel: given
    cache: dict[str, frozenset[str]] = {}

    def of(funnel: str) -> frozenset[str]:
        stages = cache.get(funnel)
        if stages is None:
            stages = cache[funnel] = _funnel_won_stages(uow, funnel)
        return stages

    return of


def won_deals(uow: UnitOfWork, won_stages: frozenset[str] | None) -> Callable[[Opportunity], bool]:
    """The test "this deal is won" (see the module docstring); funnels read once each."""
    of = won_stages_of(uow, won_stages)
    return lambda o: o.closed_at is not None and o.stage in of(o.funnel)
