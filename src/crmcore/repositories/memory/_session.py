"""What a memory repository asks of its unit of work: the declared session interface.

The memory repositories hold a :class:`MemorySession`, never the unit of
work: reads and writes go to the block's :class:`~crmcore.repositories.memory._store.ChangeSet`
(the committed state plus this block's own changes).
:class:`~crmcore.repositories.MemoryUnitOfWork` implements it (``uow.session``).

>>> from crmcore.repositories import MemoryUnitOfWork
>>> isinstance(MemoryUnitOfWork().session, MemorySession)
True
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from crmcore.repositories.memory._store import ChangeSet

__all__ = ["MemorySession"]


@runtime_checkable
class MemorySession(Protocol):
    """The change-set side of one memory unit of work, as its repositories see it."""

    def changes(self) -> ChangeSet:
        """This thread's change set; RepositoryError outside ``with uow:``."""
        ...

    def now(self) -> datetime:
        """The unit of work's clock: stamps ``recorded_at``, bounds effective times."""
        ...
