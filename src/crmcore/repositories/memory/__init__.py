"""The in-memory backend.

>>> from crmcore.repositories.memory import MemoryUnitOfWork
>>> with MemoryUnitOfWork() as uow:
...     uow.customers.count()
0
"""

from __future__ import annotations

from crmcore.repositories.memory._store import MemoryStore
from crmcore.repositories.memory.uow import MemoryUnitOfWork

__all__ = ["MemoryStore", "MemoryUnitOfWork"]
