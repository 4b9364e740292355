"""Planner statistics after bulk loads, where the database needs them refreshed (PostgreSQL).

PostgreSQL plans from the statistics of the last ``ANALYZE``; autovacuum
refreshes them only after a delay, and never for a table whose rows were
loaded by a process that then died. A table that grew from nothing to
600,000 transactions still planned as empty: the idempotency lookups of a
re-run became sequential scans (148 s instead of about 20 s; 8.4 s after
``ANALYZE``). crmcore analyses a table when the rows added since its last
analysis reach the rows it had then (and at least :data:`MIN_ROWS`): the
statistics are never off by more than a factor of two, at a cost of
``log2(growth)`` analyses of a fixed-size sample each.

MariaDB/MySQL (InnoDB recalculates persistent statistics in the background
once 10% of a table changed) and SQLite (whose planner uses no statistics
unless an application ran ``ANALYZE``) need nothing.

>>> needs_analyze(reltuples=-1, modified=0, adding=60_000)
True
>>> needs_analyze(reltuples=400_000, modified=50_000, adding=50_000)
False
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["MIN_ROWS", "analyze", "is_stale", "needs_analyze"]

MIN_ROWS = 10_000
"""Below this many added rows the statistics are left to autovacuum."""


def needs_analyze(*, reltuples: float, modified: int, adding: int) -> bool:
    """Whether a table last analysed with ``reltuples`` rows (-1: never), changed by
    ``modified`` committed rows since and about to get ``adding`` more, needs ``ANALYZE``."""
    grown = modified + adding
    return grown >= MIN_ROWS and grown >= max(reltuples, 0.0)


def is_stale(conn: Connection, table: sa.Table, adding: int = 0) -> bool:
    """PostgreSQL: whether ``table``'s statistics need refreshing once ``adding`` more rows are
    stored (:func:`needs_analyze`, from ``pg_class`` and ``pg_stat_user_tables``); False on
    other databases."""
    if conn.dialect.name != "postgresql":
        return False
    name = conn.dialect.identifier_preparer.format_table(table)
    row = conn.execute(
        sa.text(
            "SELECT c.reltuples, COALESCE(s.n_mod_since_analyze, 0) FROM pg_class c "
            "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE c.oid = to_regclass(:name)"
        ),
        {"name": name},
    ).first()
    if row is None:
        return False
    return needs_analyze(reltuples=float(row[0]), modified=int(row[1]), adding=adding)


def analyze(conn: Connection, table: sa.Table) -> None:
    """``ANALYZE`` ``table`` on PostgreSQL (its transaction holds the table's SHARE UPDATE
    EXCLUSIVE lock until it ends, which blocks no reader or writer)."""
    conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.format_table(table)}")
