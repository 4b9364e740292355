"""Repositories: protocols, unit of work, memory and SQL backends.

>>> from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork, UnitOfWork
>>> isinstance(MemoryUnitOfWork(), UnitOfWork)
True

Bulk load is an optional capability of a transaction repository
(:class:`BulkTransactionLoader`: ``add_validated`` of :class:`ValidatedRows`, which
:mod:`crmcore.ingest` uses when a backend has it); both crmcore backends have it:

>>> from crmcore.repositories import BulkTransactionLoader, ValidatedRows
>>> sql = SqlUnitOfWork.from_url("sqlite://")
>>> isinstance(sql.transactions, BulkTransactionLoader)
True
>>> sql.close()
"""

from __future__ import annotations

from crmcore.repositories._columnar import ValidatedRows
from crmcore.repositories._customers import CustomerColumns, customer_columns
from crmcore.repositories._record_columns import RecordColumns
from crmcore.repositories.memory import MemoryStore, MemoryUnitOfWork
from crmcore.repositories.protocols import (
    ActivityRepository,
    BulkTransactionLoader,
    ColumnarRecordReader,
    CostRepository,
    CustomerColumnReader,
    CustomerRepository,
    DocumentRepository,
    InteractionRepository,
    OpportunityRepository,
    ServiceCaseRepository,
    ServiceCaseUnitOfWork,
    SurveyRepository,
    TransactionRepository,
    UnitOfWork,
)
from crmcore.repositories.sql import SqlUnitOfWork, configure_sqlite_engine

__all__ = [
    "ActivityRepository",
    "BulkTransactionLoader",
    "ColumnarRecordReader",
    "CostRepository",
    "CustomerColumnReader",
    "CustomerColumns",
    "CustomerRepository",
    "DocumentRepository",
    "InteractionRepository",
    "MemoryStore",
    "MemoryUnitOfWork",
    "OpportunityRepository",
    "RecordColumns",
    "ServiceCaseRepository",
    "ServiceCaseUnitOfWork",
    "SqlUnitOfWork",
    "SurveyRepository",
    "TransactionRepository",
    "UnitOfWork",
    "ValidatedRows",
    "configure_sqlite_engine",
    "customer_columns",
]
