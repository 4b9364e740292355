"""The committed state of the memory backend and one thread's open change set."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from crmcore.errors import ConcurrencyError, DuplicateError

__all__ = ["TABLES", "ChangeSet", "MemoryStore"]

TABLES = (
    "customers",
    "interactions",
    "transactions",
    "opportunities",
    "stage_changes",
    "activities",
    "surveys",
    "costs",
    "documents",
)

DELETED: Any = object()
"""Marks a key removed in a change set."""

MUST_NOT_EXIST = -1
"""Expected version of a key that the change set creates."""


def _version_of(table: str, record: Any) -> int:
    if table == "documents":
        return len(record)
    return int(getattr(record, "version", 0))


class MemoryStore:
    """Committed records shared by every :class:`MemoryUnitOfWork` built on it.

    >>> store = MemoryStore()
    >>> sorted(store.tables)[:2]
    ['activities', 'costs']
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, dict[Any, Any]] = {name: {} for name in TABLES}


class ChangeSet:
    """The uncommitted writes of one unit of work (a change log over the committed state)."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.writes: dict[str, dict[Any, Any]] = {name: {} for name in TABLES}
        self.expected: dict[tuple[str, Any], int | None] = {}

    def get(self, table: str, key: Any) -> Any:
        """The record as this unit of work sees it, or None."""
        pending = self.writes[table]
        if key in pending:
            value = pending[key]
            return None if value is DELETED else value
        return self.store.tables[table].get(key)

    def values(self, table: str, keep: Callable[[Any], bool] | None = None) -> list[Any]:
        """Every visible record of ``table`` (optionally filtered), unordered."""
        with self.store.lock:
            committed = list(self.store.tables[table].items())
        pending = self.writes[table]
        out = [v for k, v in committed if k not in pending]
        out += [v for v in pending.values() if v is not DELETED]
        if keep is not None:
            out = [v for v in out if keep(v)]
        return out

    def put(self, table: str, key: Any, record: Any, *, expected: int | None) -> None:
        """Stage a write; ``expected`` is the committed version it is based on.

        ``MUST_NOT_EXIST`` for a new key, None when no check is wanted.
        """
        self.expected.setdefault((table, key), expected)
        self.writes[table][key] = record

    def apply(self) -> None:
        """Validate against the committed state and apply atomically (first committer wins)."""
        store = self.store
        with store.lock:
            for (table, key), expected in self.expected.items():
                if expected is None:
                    continue
                current = store.tables[table].get(key)
                if expected == MUST_NOT_EXIST:
                    if current is not None:
                        if table == "documents":
                            raise ConcurrencyError(
                                f"document {key!r} was created by another unit of work "
                                "meanwhile; nothing was committed"
                            )
                        raise DuplicateError(
                            f"{table[:-1]} {key!r} was stored by another unit of work meanwhile; "
                            "nothing was committed"
                        )
                elif current is None or _version_of(table, current) != expected:
                    raise ConcurrencyError(
                        f"{table[:-1]} {key!r} was changed by another unit of work meanwhile "
                        f"(based on version {expected}); nothing was committed"
                    )
            for table, pending in self.writes.items():
                target = store.tables[table]
                for key, value in pending.items():
                    if value is DELETED:
                        target.pop(key, None)
                    else:
                        target[key] = value
