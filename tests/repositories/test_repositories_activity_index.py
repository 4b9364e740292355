"""Schema 6: the activities' (customer, time) indexes.

* a database of every earlier schema version (1 to 5) is migrated: ``ix_activities_customer``
  is dropped and the two (customer, done time) / (customer, due time) indexes are created,
  in the default and in an own namespace, on SQLite, PostgreSQL and MariaDB; its activities
  still read back by customer;
* the customer timeline's activity read is an index range search on them (SQLite's plan).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crmcore.model import Activity, Customer
from crmcore.relationship import customer_timeline
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql import schema
from crmcore.repositories.sql._migrations import index_name

from .test_repositories_migration import _as_schema, _namespace, engine  # noqa: F401

T = datetime(2024, 3, 1, tzinfo=UTC)
NEW = ("activities_customer_done", "activities_customer_due")


def _indexes(conn: sa.Connection, table: sa.Table) -> set[str]:
    return {str(ix["name"]) for ix in sa.inspect(conn).get_indexes(table.name, schema=table.schema)}


@pytest.mark.parametrize("own", [False, True], ids=["default", "own-namespace"])
@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
def test_every_earlier_schema_gets_the_activity_indexes(
    engine: sa.Engine,  # noqa: F811  # the fixture of test_repositories_migration
    version: int,
    own: bool,
) -> None:
    ns = _namespace(engine, own)
    table = ns.activities
    a = Activity(id="a-1", kind="call", rep_id="rep-1", customer_id="c-1", status="done",
                 done_at=T)  # fmt: skip
    with engine.begin() as conn:
        schema.ensure_schema(conn, ns)
        conn.execute(
            sa.insert(table).values(id="a-1", kind="call", rep_id="rep-1", customer_id="c-1",
                                    status="done", done_at=int(T.timestamp()) * 1_000_000)
        )  # fmt: skip
        _as_schema(conn, version, ns)
    with engine.connect() as conn:
        assert schema.check_schema(conn, ns) == version
        present = _indexes(conn, table)
        assert index_name(table, "activities_customer") in present
        assert not {index_name(table, ix) for ix in NEW} & present
        plan = schema.schema_plan(conn, ns)
    assert any(p.startswith("migrate schema 5 -> 6: activities get (customer, time)") for p in plan)
    uow = SqlUnitOfWork(engine, table_prefix=ns.table_prefix, schema=ns.schema if own else None)
    with uow:
        assert uow.activities.list(customer_id="c-1") == [a]
    with engine.connect() as conn:
        assert schema.check_schema(conn, ns) == schema.SCHEMA_VERSION == 6
        assert schema.schema_plan(conn, ns) == []
        present = _indexes(conn, table)
    assert {index_name(table, ix) for ix in NEW} <= present
    assert index_name(table, "activities_customer") not in present
    with engine.begin() as conn:  # the step is idempotent
        schema.MIGRATIONS[5](conn, ns.tables)
        assert schema.ensure_schema(conn, ns) == 6


def test_the_timeline_reads_activities_by_a_customer_time_index_range() -> None:
    eng = sa.create_engine("sqlite://")
    uow = SqlUnitOfWork(eng)
    with uow:
        uow.customers.add(Customer(id="c-1", name="Ann"))
        uow.activities.add_many(
            Activity(id=f"a-{k}", kind="call", rep_id="rep-1", customer_id=f"c-{k % 50}",
                     status="done", done_at=T + timedelta(hours=k))
            for k in range(500)
        )  # fmt: skip
        uow.commit()
    plans: list[str] = []

    def capture(conn: object, cursor: object, stmt: str, params: object, *rest: object) -> None:
        if "activities" in stmt and stmt.lstrip().upper().startswith("SELECT"):
            plans.append(stmt)

    with uow:
        page = customer_timeline(uow, "c-1", kinds=["activity"], limit=3)
        sa.event.listen(eng, "before_cursor_execute", capture)
        customer_timeline(uow, "c-1", kinds=["activity"], cursor=page.next_cursor, limit=3)
        sa.event.remove(eng, "before_cursor_execute", capture)
    assert plans
    with eng.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for stmt in plans:
            n = stmt.count("?")
            args = ["c-1"] + [0] * (n - 1)
            detail = " ".join(r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + stmt, args))
            assert "ix_activities_customer_done (customer_id=? AND done_at>?" in detail, detail
            assert "ix_activities_customer_due (customer_id=? AND due_at>?" in detail, detail
