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
    "service_cases",
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
    """The uncommitted writes of one unit of work (a change log over the committed state).

    A write staged with an expected version is based on the committed record this unit of
    work last read (:meth:`get`) at that version; :meth:`apply` refuses it when the key is no
    longer at that version, or no longer holds that very record: an erasure rewrites a
    record (a document's versions, a deal without custom text) in place, keeping its version,
    and a save staged before it must not write the erased values back.
    """

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.writes: dict[str, dict[Any, Any]] = {name: {} for name in TABLES}
        self.expected: dict[tuple[str, Any], int | None] = {}
        self.read: dict[tuple[str, Any], Any] = {}
        self.based_on: dict[tuple[str, Any], Any] = {}

    def get(self, table: str, key: Any) -> Any:
        """The record as this unit of work sees it, or None."""
        pending = self.writes[table]
        if key in pending:
            value = pending[key]
            return None if value is DELETED else value
        found = self.store.tables[table].get(key)
        if found is not None:
            self.read[(table, key)] = found
        return found

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
        where = (table, key)
        if where not in self.expected:
            self.expected[where] = expected
            seen = self.read.get(where)
            if expected is not None and seen is not None and _version_of(table, seen) == expected:
                self.based_on[where] = seen
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
                elif (
                    current is None
                    or _version_of(table, current) != expected
                    or self.based_on.get((table, key), current) is not current
                ):
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
