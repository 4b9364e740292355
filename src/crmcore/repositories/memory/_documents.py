"""The memory repository of versioned JSON documents."""

from __future__ import annotations

import builtins
import json
from typing import TYPE_CHECKING, Any

from crmcore.errors import ConcurrencyError, NotFoundError
from crmcore.repositories._args import (
    check_filters,
)
from crmcore.repositories._writes import (
    check_document_key,
    check_expected_version,
    dump_document,
)
from crmcore.repositories.memory._store import DELETED, MUST_NOT_EXIST, ChangeSet

if TYPE_CHECKING:
    from crmcore.repositories.memory._session import MemorySession

__all__ = ["MemoryDocumentRepository"]


class MemoryDocumentRepository:
    """Versioned JSON documents held in memory (see :class:`~crmcore.repositories.DocumentRepository`)."""

    def __init__(self, session: MemorySession) -> None:
        self._session = session

    def _cs(self) -> ChangeSet:
        return self._session.changes()

    def put(self, kind: str, key: str, document: Any, *, expected_version: int | None) -> int:
        """Store a new version; returns its number (1 for a new key)."""
        check_document_key(kind, key)
        expected_version = check_expected_version(expected_version)
        text = dump_document(document)
        cs = self._cs()
        versions: tuple[str, ...] = cs.get("documents", (kind, key)) or ()
        latest = len(versions) if versions else None
        if latest != expected_version:
            raise ConcurrencyError(
                f"document {kind}/{key} is at version {latest}, the write expected "
                f"{expected_version}; nothing was changed"
            )
        cs.put(
            "documents",
            (kind, key),
            (*versions, text),
            expected=MUST_NOT_EXIST if latest is None else latest,
        )
        return len(versions) + 1

    def get(self, kind: str, key: str, *, version: int | None = None) -> tuple[Any, int]:
        """``(document, version)``: the latest or the given version."""
        check_document_key(kind, key)
        versions: tuple[str, ...] = self._cs().get("documents", (kind, key)) or ()
        if not versions:
            raise NotFoundError(f"document {kind}/{key} not found")
        v = len(versions) if version is None else version
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= len(versions):
            raise NotFoundError(f"document {kind}/{key} has no version {version!r}")
        return json.loads(versions[v - 1]), v

    def keys(self, kind: str) -> builtins.list[str]:
        """The keys stored for ``kind``, sorted."""
        check_filters(kind=kind)
        return sorted(k for (kd, k), _ in self._items() if kd == kind)

    def _items(self) -> builtins.list[tuple[tuple[str, str], Any]]:
        cs = self._cs()
        with cs.store.lock:
            keys = set(cs.store.tables["documents"]) | set(cs.writes["documents"])
        return [(k, v) for k in keys if (v := cs.get("documents", k)) is not None]

    def delete(self, kind: str, key: str) -> None:
        """Remove every version of a key."""
        check_document_key(kind, key)
        cs = self._cs()
        versions = cs.get("documents", (kind, key))
        if not versions:
            raise NotFoundError(f"document {kind}/{key} not found")
        cs.put("documents", (kind, key), DELETED, expected=len(versions))
