"""The memory store of service cases: :data:`~crmcore.repositories._service_cases.SERVICE_CASES`
applied by :class:`~crmcore.repositories.memory._records.MemoryRecordStore`.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> from crmcore.repositories._service_cases import ServiceCases
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     ServiceCases(MemoryServiceCaseStore(uow.session)).list(category="billing")
[]
"""

from __future__ import annotations

from crmcore.model import ServiceCase
from crmcore.repositories._service_cases import SERVICE_CASES
from crmcore.repositories.memory._records import MemoryRecordStore

__all__ = ["MemoryServiceCaseStore"]


class MemoryServiceCaseStore(MemoryRecordStore[ServiceCase]):
    """Service cases held in memory."""

    spec = SERVICE_CASES
