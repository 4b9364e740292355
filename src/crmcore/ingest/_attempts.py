"""The blocks of an import, retried where another writer got in the way.

Each block of an import (its start, each batch, the index rebuild at the end)
runs in a unit-of-work block of its own that first takes the database's write
lock where the repository can (SQLite: ``reserve_writes``; a block that read
before another import committed could otherwise not write at all), and is run
again, up to :data:`RETRIES` times with a growing pause, when it fails with a
ConcurrencyError (a lock held too long, a deadlock) or, once, with a
DuplicateError that another import's rows explain (the caller's
``on_duplicate`` turns off the shortcut that assumed no other writer). A batch
that fails is rolled back whole and retried from its lookups, so it stores each
row once. What cannot be retried raises the caller's error (an
:class:`~crmcore.ingest.ImportInterruptedError` with the report so far).

>>> from crmcore.repositories import MemoryUnitOfWork
>>> attempt(MemoryUnitOfWork(), lambda: 42, what="a block", interrupted=RuntimeError)
42
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from crmcore.errors import ConcurrencyError, DuplicateError, RepositoryError
from crmcore.repositories.protocols import UnitOfWork

__all__ = ["RETRIES", "attempt", "refresh_statistics"]

T = TypeVar("T")

RETRIES = 5
"""Attempts of one block before the import gives up."""
PAUSE_S = 0.05
"""The first pause between attempts (doubled each time, with jitter)."""


@runtime_checkable
class _Reserving(Protocol):
    """A repository that can take the database's write lock at the start of a block."""

    def reserve_writes(self) -> None: ...


@runtime_checkable
class _Statistics(Protocol):
    """A repository that refreshes the database's planner statistics when they are stale."""

    def refresh_statistics(self) -> bool: ...


def refresh_statistics(uow: UnitOfWork) -> bool:
    """``uow.transactions.refresh_statistics()`` where the repository has it (call inside a
    block): the rows a crashed import left are counted before the first lookup."""
    repo = uow.transactions
    return isinstance(repo, _Statistics) and repo.refresh_statistics()


def attempt(
    uow: UnitOfWork,
    work: Callable[[], T],
    *,
    what: str,
    interrupted: Callable[[str], BaseException],
    on_duplicate: Callable[[], bool] | None = None,
) -> T:
    """``work()`` in a block of ``uow`` that reserves the write lock first and commits after;
    retried on ConcurrencyError, and on DuplicateError when ``on_duplicate()`` says a retry
    can succeed. Otherwise a storage error raises ``interrupted(message)`` from it."""
    last: BaseException | None = None
    for n in range(RETRIES):
        try:
            with uow:
                repo = uow.transactions
                if isinstance(repo, _Reserving):
                    repo.reserve_writes()
                out = work()
                uow.commit()
            return out
        except ConcurrencyError as e:
            last = e
        except DuplicateError as e:
            if on_duplicate is None or not on_duplicate():
                raise interrupted(f"{what} failed: {e}") from e
            last = e
        except RepositoryError as e:
            raise interrupted(f"{what} failed: {e}") from e
        time.sleep(PAUSE_S * 2**n * (1 + random.random()))
    assert last is not None
    raise interrupted(f"{what} failed {RETRIES} times, the last time with: {last}") from last


def describe(error: BaseException) -> str:
    """The first line of an error's message (for a log line)."""
    text: Any = str(error).strip().splitlines()
    return str(text[0]) if text else type(error).__name__
