"""The memory storage part of versioned JSON documents (the checks are
:mod:`crmcore.repositories._documents`'): the texts of a key's versions as one tuple.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> store = MemoryDocumentStore(uow.session)
>>> with uow:
...     store.append("rule", "a", "[1]", None), store.append("rule", "a", "[2]", None)
...     store.read("rule", "a", None), store.keys("rule")
(None, 1)
(('[1]', 1), ['a'])
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from crmcore.repositories.memory._store import DELETED, MUST_NOT_EXIST

if TYPE_CHECKING:
    from crmcore.repositories.memory._session import MemorySession

__all__ = ["MemoryDocumentStore"]

_TABLE = "documents"


class MemoryDocumentStore:
    """Versioned JSON documents held in memory
    (:class:`~crmcore.repositories._documents.DocumentStore`)."""

    def __init__(self, session: MemorySession) -> None:
        self._changes = session.changes

    def append(self, kind: str, key: str, text: str, expected: int | None) -> int | None:
        """Store ``text`` as the next version if the latest is ``expected``; the latest before."""
        cs = self._changes()
        versions: tuple[str, ...] = cs.get(_TABLE, (kind, key)) or ()
        latest = len(versions) if versions else None
        if latest == expected:
            cs.put(
                _TABLE,
                (kind, key),
                (*versions, text),
                expected=MUST_NOT_EXIST if latest is None else latest,
            )
        return latest

    def read(self, kind: str, key: str, version: int | None) -> tuple[str, int] | None:
        """The text and number of the given (None: the latest) version, or None."""
        versions: tuple[str, ...] = self._changes().get(_TABLE, (kind, key)) or ()
        v = len(versions) if version is None else version
        if not 1 <= v <= len(versions):
            return None
        return versions[v - 1], v

    def keys(self, kind: str) -> builtins.list[str]:
        """The keys stored for ``kind``, sorted."""
        return sorted(k for (kd, k), _ in self._items() if kd == kind)

    def _items(self) -> builtins.list[tuple[tuple[str, str], Any]]:
        cs = self._changes()
        with cs.store.lock:
            keys = set(cs.store.tables[_TABLE]) | set(cs.writes[_TABLE])
        return [(k, v) for k in keys if (v := cs.get(_TABLE, k)) is not None]

    def remove(self, kind: str, key: str) -> bool:
        """Remove every version of a key; False when it has none."""
        cs = self._changes()
        versions = cs.get(_TABLE, (kind, key))
        if not versions:
            return False
        cs.put(_TABLE, (kind, key), DELETED, expected=len(versions))
        return True
