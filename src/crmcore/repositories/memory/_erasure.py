"""The memory backend's part of erasure: overwrite events and document versions in place.

What to erase is decided once for every backend (:mod:`crmcore.repositories._personal_data`,
:func:`crmcore.repositories.privacy.erase_customer`); this only stores it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from crmcore.errors import ConcurrencyError, NotFoundError, ValidationError
from crmcore.model import FieldChange, Opportunity, StageChange
from crmcore.repositories._writes import check_document_key, check_record, dump_document
from crmcore.repositories.memory._store import ChangeSet

if TYPE_CHECKING:
    from crmcore.repositories.memory._session import MemorySession

__all__ = ["MemoryEraser"]


class MemoryEraser:
    """Rewrites in place for :func:`~crmcore.repositories.privacy.erase_customer` (see
    :class:`~crmcore.repositories.privacy.Eraser`); the change set's checks (version, and
    the record read) make a concurrent save of the same opportunity or document fail at
    commit."""

    def __init__(self, session: MemorySession) -> None:
        self._session = session

    def _cs(self) -> ChangeSet:
        return self._session.changes()

    def start(self) -> None:
        """Nothing to prepare: memory keeps no physical copies."""
        self._cs()

    def now(self) -> datetime:
        """The unit of work's clock."""
        return self._session.now()

    def rewrite_opportunity(
        self,
        opportunity: Opportunity,
        events: Sequence[StageChange | FieldChange],
        appended: Sequence[FieldChange] = (),
    ) -> None:
        """Overwrite the opportunity (at its stored version) and the events of the same numbers,
        append ``appended``; the version becomes the last appended number."""
        check_record(opportunity, Opportunity)
        cs = self._cs()
        stored: Opportunity | None = cs.get("opportunities", opportunity.id)
        if stored is None:
            raise NotFoundError(f"opportunity {opportunity.id!r} not found")
        if stored.version != opportunity.version:
            raise ConcurrencyError(
                f"opportunity {opportunity.id!r} is at version {stored.version}, the erasure "
                f"was based on version {opportunity.version}; nothing was changed"
            )
        current = list(cs.get("stage_changes", opportunity.id) or ())
        at = {e.sequence: i for i, e in enumerate(current)}
        for e in events:
            if not isinstance(e, StageChange | FieldChange):
                raise ValidationError(f"'events' must hold StageChange or FieldChange: {e!r}")
            check_record(e, type(e))
            i = at.get(e.sequence)
            if e.opportunity_id != opportunity.id or i is None or type(current[i]) is not type(e):
                raise NotFoundError(
                    f"opportunity {opportunity.id!r} has no stored {type(e).__name__} "
                    f"number {e.sequence} to overwrite"
                )
            current[i] = e
        version = opportunity.version
        for e in appended:
            if not isinstance(e, FieldChange):
                raise ValidationError(f"'appended' must hold FieldChange: {e!r}")
            check_record(e, FieldChange)
            if e.opportunity_id != opportunity.id or e.sequence != version + 1:
                raise ValidationError(
                    f"the erasure's event {e.sequence} of {e.opportunity_id!r} does not follow "
                    f"event {version} of opportunity {opportunity.id!r}"
                )
            current.append(e)
            version = e.sequence
        cs.put(
            "opportunities",
            opportunity.id,
            attrs.evolve(opportunity, version=version),
            expected=stored.version,
        )
        cs.put("stage_changes", opportunity.id, tuple(current), expected=None)

    def rewrite_document(self, kind: str, key: str, bodies: Mapping[int, Any]) -> None:
        """Overwrite the given versions of a document (every other version stays)."""
        check_document_key(kind, key)
        cs = self._cs()
        versions: list[str] = list(cs.get("documents", (kind, key)) or ())
        for v, body in bodies.items():
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= len(versions):
                raise NotFoundError(f"document {kind}/{key} has no version {v!r}")
            versions[v - 1] = dump_document(body)
        cs.put("documents", (kind, key), tuple(versions), expected=len(versions))

    def purge(self) -> list[str]:
        """Nothing to run: memory keeps no physical copies."""
        return []
