"""The shipped CDNOW sample, imported through the validated path (for the demo and the docs).

>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> print(import_cdnow_sample(uow).summary())
CDNOW_sample.txt → transactions: 6919 rows read, 6919 stored, 0 rejected, 0 skipped (already present), 1 batch committed
>>> import_cdnow_sample(uow).skipped
6919
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

import attrs

from crmcore.errors import ValidationError
from crmcore.ingest.customers import import_customers
from crmcore.ingest.report import ImportReport
from crmcore.ingest.transactions import import_transactions
from crmcore.options import as_count
from crmcore.repositories.protocols import UnitOfWork

__all__ = ["CDNOW_FILE", "cdnow_customer_id", "import_cdnow_sample"]

CDNOW_FILE = "CDNOW_sample.txt"
"""The shipped file: full-set id, sample id (1-2357), date (YYYYMMDD), CDs, dollars."""


def cdnow_customer_id(sample_id: int) -> str:
    """The crmcore id given to a CDNOW sample customer.

    >>> cdnow_customer_id(7)
    'cdnow-0007'
    """
    return f"cdnow-{as_count(sample_id, name='sample_id'):04d}"


def _lines() -> Iterator[list[str]]:
    text = resources.files("crmcore.datasets").joinpath(CDNOW_FILE).read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.strip():
            yield line.split()


def _transaction_rows() -> Iterator[dict[str, object]]:
    seen: dict[tuple[str, str], int] = {}
    for n, parts in enumerate(_lines(), start=1):
        if len(parts) != 5:
            raise ValidationError(f"{CDNOW_FILE}, line {n}: expected 5 fields: {parts!r}")
        _, sid, day, cds, dollars = parts
        k = seen.get((sid, day), 0)
        seen[(sid, day)] = k + 1
        yield {
            "customer_id": cdnow_customer_id(int(sid)),
            "occurred_at": day,
            "amount": dollars,
            "quantity": cds,
            "external_ref": f"{int(sid)}:{day}" + (f":{k}" if k else ""),
        }


def import_cdnow_sample(uow: UnitOfWork, *, batch_size: int = 50_000) -> ImportReport:
    """Import the 2,357 CDNOW sample customers and their 6,919 purchases (USD); returns the
    transactions' report.

    Customers get ids ``cdnow-0001`` … (see :func:`cdnow_customer_id`) and
    external keys ``cdnow:<sample id>``; purchases are timestamped at UTC
    midnight, ``quantity`` is the number of CDs, and their external refs are
    ``cdnow:<sample id>:<YYYYMMDD>`` (``:k`` for a repeated day), so a
    re-run stores nothing new. Both go through the validated import.
    """
    rows = list(_transaction_rows())
    ids = sorted({str(r["customer_id"]) for r in rows})
    customers = import_customers(
        uow,
        (
            {
                "id": cid,
                "external_key": "cdnow:" + str(int(cid[6:])),
                "name": f"CDNOW customer {cid[6:]}",
            }
            for cid in ids
        ),
        batch_size=batch_size,
    )
    if not customers.ok:  # pragma: no cover - the shipped file is valid
        raise ValidationError(customers.summary())
    return attrs.evolve(
        import_transactions(
            uow,
            rows,
            currency="USD",
            time_format="%Y%m%d",
            ref_prefix="cdnow:",
            batch_size=batch_size,
        ),
        source=CDNOW_FILE,
    )
