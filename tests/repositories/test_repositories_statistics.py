"""Issue 15: PostgreSQL statistics after bulk loads.

The finding: a re-run after a crash took 148 s for 600,000 rows instead of about 20 s: the
table the crashed run filled had never been analysed, and the idempotency lookups
(``external_ref IN (...)``) ran as sequential scans; 8.4 s after ``ANALYZE``. Now a load that
doubles the table is analysed after its commit, and an import analyses a table left stale
before its first lookup. Autovacuum is off for the table here, so only crmcore analyses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from crmcore.ingest import import_transactions
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql import make_engine
from crmcore.repositories.sql._statistics import MIN_ROWS, needs_analyze
from crmcore.tables import TransactionLog

from .conftest import _server_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    gen = _server_database("postgres")
    e = make_engine(next(gen))
    with SqlUnitOfWork(e):
        pass
    with e.begin() as c:
        c.exec_driver_sql("ALTER TABLE transactions SET (autovacuum_enabled = false)")
        c.exec_driver_sql("ANALYZE transactions")  # as the table was: analysed while empty
    try:
        yield e
    finally:
        e.dispose()
        next(gen, None)


def _reltuples(engine: sa.Engine) -> float:
    with engine.connect() as c:
        return float(
            c.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'transactions'::regclass"
            ).scalar_one()
        )


def _log(lo: int, hi: int) -> TransactionLog:
    n = hi - lo
    return TransactionLog.from_arrays(
        customer_ids=[f"c-{i % 500}" for i in range(lo, hi)],
        timestamps=["2024-01-02"] * n,
        amounts=[10.0] * n,
        currency="EUR",
        ids=[f"t-{i}" for i in range(lo, hi)],
        external_refs=[f"o-{i}" for i in range(lo, hi)],
    )


def _lookup_estimate(engine: sa.Engine) -> int:
    """The planner's estimate of the rows 500 keys of the import's lookup match (at most 500)."""
    keys = ", ".join(f"'o-{i}'" for i in range(0, 1000, 2))
    with engine.connect() as c:
        plan = c.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) SELECT external_ref FROM transactions "
            f"WHERE external_ref IN ({keys})"
        ).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


def test_a_load_that_doubles_the_table_is_analysed(engine: sa.Engine) -> None:
    uow = SqlUnitOfWork(engine)
    with uow:
        uow.transactions.add_log(_log(0, MIN_ROWS + 5_000))
        uow.commit()
    assert _reltuples(engine) == MIN_ROWS + 5_000
    with uow:  # a small load later: left to autovacuum
        uow.transactions.add_log(_log(MIN_ROWS + 5_000, MIN_ROWS + 6_000))
        uow.commit()
    assert _reltuples(engine) == MIN_ROWS + 5_000


def test_an_import_after_a_crash_analyses_first(engine: sa.Engine) -> None:
    # what a killed import leaves: 60,000 committed rows the statistics never saw
    other = make_engine(engine.url)
    with other.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO transactions (id, customer_id, occurred_at, amount_e6, currency, kind, "
            "quantity, external_ref) SELECT 't:o-' || i, 'c-' || mod(i, 500), 0, 1000000, 'EUR', "
            "0, 1, 'o-' || i FROM generate_series(0, 59999) AS i"
        )
    other.dispose()  # the server process ends: its counters are flushed
    with engine.connect() as c:
        for _ in range(50):  # the counters reach pg_stat_user_tables within a moment
            mods = c.exec_driver_sql(
                "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'transactions'"
            ).scalar_one()
            if mods >= 60_000:
                break
            time.sleep(0.1)
    assert _reltuples(engine) == 0
    assert _lookup_estimate(engine) > 2_000  # the finding: no statistics, 500 keys look like many
    rows = [
        {"external_ref": f"o-{i}", "customer_id": f"c-{i % 500}", "occurred_at": "1970-01-01",
         "amount": "1", "currency": "EUR"}
        for i in range(59_000, 61_000)
    ]  # fmt: skip
    report = import_transactions(SqlUnitOfWork(engine), rows, batch_size=500)
    assert (report.stored, report.skipped) == (1_000, 1_000)
    assert _reltuples(engine) >= 60_000  # analysed before the first lookup
    assert _lookup_estimate(engine) <= 1_000


def test_the_rule() -> None:
    assert needs_analyze(reltuples=0, modified=MIN_ROWS, adding=0)
    assert not needs_analyze(reltuples=0, modified=MIN_ROWS - 1, adding=0)
    assert needs_analyze(reltuples=100_000, modified=60_000, adding=40_000)
    assert not needs_analyze(reltuples=100_000, modified=59_999, adding=40_000)
