"""Repositories: protocols, unit of work, memory and SQL backends.

>>> from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork, UnitOfWork
>>> isinstance(MemoryUnitOfWork(), UnitOfWork)
True
"""

from __future__ import annotations

from crmcore.repositories.memory import MemoryStore, MemoryUnitOfWork
from crmcore.repositories.protocols import (
    ActivityRepository,
    CostRepository,
    CustomerRepository,
    DocumentRepository,
    InteractionRepository,
    OpportunityRepository,
    SurveyRepository,
    TransactionRepository,
    UnitOfWork,
)
from crmcore.repositories.sql import SqlUnitOfWork, configure_sqlite_engine

__all__ = [
    "ActivityRepository",
    "CostRepository",
    "CustomerRepository",
    "DocumentRepository",
    "InteractionRepository",
    "MemoryStore",
    "MemoryUnitOfWork",
    "OpportunityRepository",
    "SqlUnitOfWork",
    "SurveyRepository",
    "TransactionRepository",
    "UnitOfWork",
    "configure_sqlite_engine",
]
