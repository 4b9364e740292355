"""The repositories section of ``python -m crmcore demo``.

>>> from crmcore.datasets import load_cdnow_sample
>>> lines = []
>>> demo(lines.append, transactions=load_cdnow_sample())
>>> lines[0]
'Repositories: SQLite (WAL, schema version 2), memory, PostgreSQL and MariaDB share one contract'
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import numpy as np

from crmcore._demo import check_demo_args
from crmcore.model import Customer, Interaction
from crmcore.repositories.privacy import erase_customer, export_customer
from crmcore.repositories.sql import SqlUnitOfWork
from crmcore.repositories.sql.schema import SCHEMA_VERSION
from crmcore.tables import TransactionLog

__all__ = ["demo"]


def demo(write: Callable[[str], None], *, transactions: TransactionLog) -> None:
    """Store the transactions in a fresh SQLite file, read them back as columns and as objects,
    run an indexed time-range query and a privacy export/erase (synthetic customer)."""
    check_demo_args(write, transactions)
    log = transactions
    if log.ids is None:
        log = attrs.evolve(log, ids=np.array([f"demo-{i}" for i in range(len(log))], dtype=object))
    if log.currency is None:
        log = attrs.evolve(log, currency="USD")
    write(
        f"Repositories: SQLite (WAL, schema version {SCHEMA_VERSION}), memory, PostgreSQL and "
        "MariaDB share one contract"
    )
    with tempfile.TemporaryDirectory(prefix="crmcore-demo-") as tmp:
        uow = SqlUnitOfWork.from_url(Path(tmp) / "demo.db")
        try:
            _columns(write, uow, log)
            _queries(write, uow)
        finally:
            uow.close()


def _columns(write: Callable[[str], None], uow: SqlUnitOfWork, log: TransactionLog) -> None:
    with uow:
        t0 = time.perf_counter()
        n = uow.transactions.add_log(log)
        uow.commit()
        t_add = time.perf_counter() - t0
    with uow:
        t0 = time.perf_counter()
        back = uow.transactions.read_log()
        t_cols = time.perf_counter() - t0
        t0 = time.perf_counter()
        objects = list(uow.transactions.iter(batch_size=2000))
        t_obj = time.perf_counter() - t0
    same = abs(float(back.amount.sum()) - float(log.amount.sum())) < 1e-6
    write(f"  add_log: {n:,} transactions in {t_add:.3f} s ({n / max(t_add, 1e-9):,.0f} rows/s)")
    write(
        f"  read_log: {len(back):,} rows, {back.n_customers:,} customers, {back.currency} "
        f"in {t_cols * 1000:.1f} ms; totals match the input: {same}"
    )
    write(
        f"  as {len(objects):,} model objects: {t_obj * 1000:.0f} ms "
        f"({t_obj / max(t_cols, 1e-9):.0f}x the columnar read)"
    )


def _queries(write: Callable[[str], None], uow: SqlUnitOfWork) -> None:
    start = datetime(2021, 1, 1, tzinfo=UTC)
    channels = ["phone", "meeting", "email", "web"]
    with uow:
        uow.customers.add(Customer(id="demo-c", name="Synthetic Customer", tags=["vip"]))
        uow.interactions.add_many(
            Interaction(
                id=f"demo-i-{i}",
                customer_id="demo-c" if i % 100 == 0 else f"demo-c{i % 300}",
                channel=channels[i % 4],
                direction="outbound",
                occurred_at=start + timedelta(hours=13 * i),
                subject="synthetic note",
            )
            for i in range(3000)
        )
        uow.commit()
    lo, hi = datetime(2022, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)
    with uow:
        found = uow.interactions.list(channels=["meeting", "phone"], start=lo, end=hi)
        plan = (
            uow._conn()
            .exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM interactions WHERE channel IN ('meeting', 'phone') "
                "AND occurred_at >= ? AND occurred_at < ?",
                (0, 1),
            )
            .all()
        )
    write(
        f"  meetings and calls of 2022 (synthetic, 3,000 interactions): {len(found)} found by "
        f"{plan[0][-1].split(' (')[0]}"
    )
    with uow:
        exported = export_customer(uow, "demo-c")
        counts = erase_customer(uow, "demo-c")
        uow.commit()
    write(
        f"  privacy: export of the synthetic customer holds {len(exported['interactions'])} "
        f"interactions; erase rewrote {counts['interactions']} of them and the profile"
    )
