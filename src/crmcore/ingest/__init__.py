"""Validated import: customers, transactions and service cases from CSV files and uploads, DataFrames, Arrow
tables or mappings, with a reject report.

Data quality is the product: every row is validated with the model's rules,
bad rows are reported (row, line, column, value, reason) and never stored,
good rows are committed in whole batches, and a re-run does not duplicate.
:func:`find_duplicate_customers` reports customers that may be one.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> import_customers(uow, [{"external_key": "k-1", "name": "Ada"}]).stored
1
"""

from __future__ import annotations

from crmcore.ingest.cdnow import cdnow_customer_id, import_cdnow_sample
from crmcore.ingest.customers import CUSTOMER_FIELDS, build_customer, import_customers
from crmcore.ingest.duplicates import (
    KEY_WEIGHTS,
    DuplicatePair,
    find_duplicate_customers,
    normalize_email,
    normalize_name,
    normalize_phone,
)
from crmcore.ingest.report import (
    ImportInterruptedError,
    ImportReport,
    RejectedImportError,
    RowError,
)
from crmcore.ingest.service_cases import SERVICE_CASE_FIELDS, import_service_cases
from crmcore.ingest.transactions import (
    TRANSACTION_FIELDS,
    TransactionColumns,
    import_transactions,
    validate_transaction_columns,
)

__all__ = [
    "CUSTOMER_FIELDS",
    "KEY_WEIGHTS",
    "SERVICE_CASE_FIELDS",
    "TRANSACTION_FIELDS",
    "DuplicatePair",
    "ImportInterruptedError",
    "ImportReport",
    "RejectedImportError",
    "RowError",
    "TransactionColumns",
    "build_customer",
    "cdnow_customer_id",
    "find_duplicate_customers",
    "import_cdnow_sample",
    "import_customers",
    "import_service_cases",
    "import_transactions",
    "normalize_email",
    "normalize_name",
    "normalize_phone",
    "validate_transaction_columns",
]
