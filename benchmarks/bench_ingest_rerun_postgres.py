"""A re-run of an import into PostgreSQL after a crash: stale statistics against crmcore's ANALYZE.

Issue 15 measured 148 s for a re-run of 600,000 rows whose first run had died:
the table the dead run filled had never been analysed, so the re-run's
idempotency lookups (``external_ref IN (...)``, 500 keys each) were planned as
sequential scans; 8.4 s after ``ANALYZE``. This script stores N rows behind
crmcore's back into a new database (one ``INSERT ... SELECT``, as a killed first
import leaves them: committed, the table never analysed; autovacuum off for the
table so it cannot step in),
then times ``import_transactions`` of the same N rows (all skipped: the work is
the lookups) twice: with the statistics left as they are (crmcore's refresh
turned off, as before) and as crmcore runs it (it analyses the stale table
before the first lookup). Needs the local PostgreSQL server.

Measured (PostgreSQL 15, shared 2-core machine, load 2.4), 600,000 rows: 65.13 s
stale against 3.71 s with crmcore's ANALYZE, 17.6x; benchmarks/README.md.

    .venv/bin/python benchmarks/bench_ingest_rerun_postgres.py              # 200,000 rows
    .venv/bin/python benchmarks/bench_ingest_rerun_postgres.py --size 600000
"""

from __future__ import annotations

import argparse
import os
import secrets
import time

import sqlalchemy as sa

from crmcore.ingest import import_transactions
from crmcore.ingest import transactions as _importer
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql import make_engine

URL = os.environ.get(
    "CRMCORE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _rows(n: int) -> list[dict[str, object]]:
    return [
        {"external_ref": f"o-{i}", "customer_id": f"c-{i % 5000}", "occurred_at": "1970-01-01",
         "amount": "1", "currency": "EUR"}
        for i in range(n)
    ]  # fmt: skip


def _crashed_table(url: str, n: int) -> sa.Engine:
    """A fresh database whose transactions table holds ``n`` committed, never-analysed rows."""
    engine = make_engine(url)
    with SqlUnitOfWork(engine):
        pass
    with engine.begin() as c:
        c.exec_driver_sql("ALTER TABLE transactions SET (autovacuum_enabled = false)")
        c.exec_driver_sql("ANALYZE transactions")  # analysed while empty, as autovacuum may
    with engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO transactions (id, customer_id, occurred_at, amount_e6, currency, kind, "
            "quantity, external_ref) SELECT 't:o-' || i, 'c-' || mod(i, 5000), 0, 1000000, "
            f"'EUR', 0, 1, 'o-' || i FROM generate_series(0, {n - 1}) AS i"
        )
    engine.dispose()  # the server process ends: its counters reach pg_stat_user_tables
    time.sleep(1.0)
    return make_engine(url)


def _rerun(engine: sa.Engine, rows: list[dict[str, object]], refresh: bool) -> float:
    saved = _importer.refresh_statistics
    if not refresh:
        _importer.refresh_statistics = lambda uow: False  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        report = import_transactions(SqlUnitOfWork(engine), rows, batch_size=50_000)
        took = time.perf_counter() - t0
    finally:
        _importer.refresh_statistics = saved  # type: ignore[assignment]
    assert report.stored == 0 and report.skipped == len(rows), report.summary()
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=200_000, help="rows (default 200,000)")
    args = ap.parse_args()
    admin = sa.create_engine(URL, isolation_level="AUTOCOMMIT")
    rows = _rows(args.size)
    times = {}
    for refresh in (False, True):
        name = f"crmcore_bench_{secrets.token_hex(4)}"
        with admin.connect() as c:
            c.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            engine = _crashed_table(sa.make_url(URL).set(database=name), args.size)
            times[refresh] = _rerun(engine, rows, refresh)
            engine.dispose()
        finally:
            with admin.connect() as c:
                c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    n = args.size
    print(f"re-run of {n:,} rows after a crash (all skipped: {n // 500:,} lookups of 500 keys)")
    print(
        f"  statistics left stale (before):      {times[False]:8.2f} s  ({n / times[False]:,.0f} rows/s)"
    )
    print(
        f"  crmcore (ANALYZE before the lookups): {times[True]:8.2f} s  ({n / times[True]:,.0f} rows/s)"
    )
    print(f"  ratio: {times[False] / times[True]:.1f}x faster")


if __name__ == "__main__":
    main()
