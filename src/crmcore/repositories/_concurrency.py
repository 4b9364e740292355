"""Read-modify-write loops used to prove that no update is lost (threads and processes).

The process worker lives here (not in a test module) so that ``spawn``
children can import it.

>>> from crmcore.model import Customer
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.customers.add(Customer(id="c-1", name="Ada"))
...     uow.commit()
>>> increment_loop(uow, "c-1", 3)
(3, 0)
"""

from __future__ import annotations

import random
import time

from crmcore.errors import ConcurrencyError
from crmcore.repositories.protocols import UnitOfWork

__all__ = ["increment_loop", "process_worker"]


def increment_loop(
    uow: UnitOfWork, customer_id: str, updates: int, *, max_attempts: int = 10_000
) -> tuple[int, int]:
    """Do ``updates`` successful read-modify-write updates of one customer's tags.

    Each update reads the customer, appends a tag counting its own updates
    and writes it back; a ConcurrencyError (stale version or a lock
    conflict) rolls the block back and retries. Returns ``(successes,
    conflicts)``.
    """
    done = conflicts = attempts = 0
    while done < updates and attempts < max_attempts:
        attempts += 1
        try:
            with uow:
                c = uow.customers.get(customer_id)
                uow.customers.update(c.with_changes(segment=f"v{c.version + 1}"))
                uow.commit()
            done += 1
        except ConcurrencyError:
            conflicts += 1
            time.sleep(random.random() * 0.002)
    return done, conflicts


def process_worker(url: str, customer_id: str, updates: int) -> tuple[int, int]:
    """:func:`increment_loop` in a fresh process on the database at ``url``."""
    from crmcore.repositories.sql import SqlUnitOfWork

    uow = SqlUnitOfWork.from_url(url)
    try:
        return increment_loop(uow, customer_id, updates)
    finally:
        uow.close()
