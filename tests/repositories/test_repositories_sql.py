"""What only the SQL backend has: query plans, encodings, schema versioning, engines/connections."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from crmcore.errors import ConcurrencyError, DuplicateError, RepositoryError, ValidationError
from crmcore.model import Customer, Interaction, Money, Transaction
from crmcore.repositories import SqlUnitOfWork, configure_sqlite_engine
from crmcore.repositories.sql import schema
from crmcore.tables import TransactionLog


def _t(y: int, m: int = 1, d: int = 1) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


@pytest.fixture
def uow(tmp_path: Path) -> Iterator[SqlUnitOfWork]:
    u = SqlUnitOfWork.from_url(tmp_path / "crm.db")
    yield u
    u.close()


class Recorder:
    """Records the SQL statements an engine executes."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        self.statements.append((statement, params))

    def matching(self, text: str) -> list[tuple[str, Any]]:
        return [s for s in self.statements if text in s[0]]


def _plan(uow: SqlUnitOfWork, statement: str, params: Any) -> str:
    with uow.engine.connect() as c:
        rows = c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
    return " | ".join(str(r[-1]) for r in rows)


def test_meetings_and_calls_of_three_years_ago_is_an_index_range_scan(uow: SqlUnitOfWork) -> None:
    with uow:
        uow.interactions.add_many(
            Interaction(
                id=f"i-{i}",
                customer_id=f"c-{i % 50}",
                channel=["phone", "meeting", "email", "web"][i % 4],
                direction="inbound",
                occurred_at=_t(2018) + timedelta(days=i),
                rep_id=f"rep-{i % 5}",
            )
            for i in range(2000)
        )
        uow.commit()
    rec = Recorder(uow.engine)
    with uow:
        got = uow.interactions.list(channels=["meeting", "phone"], start=_t(2022), end=_t(2023))
    assert got and all(i.channel.value in ("meeting", "phone") for i in got)
    statement, params = rec.matching("FROM interactions")[-1]
    plan = _plan(uow, statement, params)
    assert "SEARCH interactions USING INDEX" in plan, plan
    assert "SCAN interactions" not in plan.replace("SCAN interactions USING", ""), plan
    assert "occurred_at>? AND occurred_at<?" in plan, plan


def test_read_log_scans_the_covering_index(uow: SqlUnitOfWork) -> None:
    with uow:
        uow.transactions.add(
            Transaction(id="t", customer_id="c", occurred_at=_t(2020), amount=Money("1", "EUR"))
        )
        traced: list[str] = []  # read_log uses the raw DBAPI cursor: trace it at the driver
        uow._conn().connection.driver_connection.set_trace_callback(traced.append)  # type: ignore[union-attr]  # pysqlite connection
        uow.transactions.read_log()
        uow.transactions.read_log(customer_ids=["c"], start=_t(2019), end=_t(2021))
        uow._conn().connection.driver_connection.set_trace_callback(None)  # type: ignore[union-attr]  # as above
    order = "ORDER BY transactions.customer_id, transactions.occurred_at"
    reads = [s for s in traced if order in s]
    assert len(reads) == 2
    # read_log returns the transaction ids (issue 15): the ordered scan takes each row's rowid
    # from the covering index, and the ids come from one scan of the primary key's index
    for statement in reads:
        plan = _plan(uow, statement, ())
        assert "COVERING INDEX ix_transactions_customer_time" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    id_scans = [s for s in traced if "group_concat(transactions.id" in s]
    assert len(id_scans) == 2
    for statement in id_scans:
        assert "COVERING INDEX sqlite_autoindex_transactions" in _plan(uow, statement, ())


def test_update_is_one_conditional_statement(uow: SqlUnitOfWork) -> None:
    with uow:
        uow.customers.add(Customer(id="c-1", name="Ada"))
        c = uow.customers.get("c-1")
        rec = Recorder(uow.engine)
        uow.customers.update(c.with_changes(name="Ada L."))
    updates = rec.matching("UPDATE customers")
    assert len(updates) == 1
    assert "WHERE customers.id = ? AND customers.version = ?" in updates[0][0]


def test_storage_encodings(uow: SqlUnitOfWork) -> None:
    with uow:
        uow.transactions.add(
            Transaction(
                id="t-1",
                customer_id="c-1",
                occurred_at=datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC),
                amount=Money("19.990001", "USD"),
                kind="withdrawal",
            )
        )
        row = uow._conn().execute(sa.select(schema.transactions)).one()._mapping
    assert (row["occurred_at"], row["amount_e6"], row["currency"], row["kind"]) == (
        1_000_005,
        19_990_001,
        "USD",
        3,
    )


def test_sqlite_connection_settings(uow: SqlUnitOfWork) -> None:
    with uow:
        c = uow._conn()
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


def test_schema_version_is_recorded_and_a_newer_one_is_refused(
    uow: SqlUnitOfWork, tmp_path: Path
) -> None:
    with uow:
        v = uow._conn().execute(sa.select(schema.schema_table.c.version)).scalar()
    assert v == schema.SCHEMA_VERSION
    with uow.engine.begin() as c:
        c.execute(sa.update(schema.schema_table).values(version=schema.SCHEMA_VERSION + 1))
    other = SqlUnitOfWork.from_url(tmp_path / "crm.db")
    with pytest.raises(RepositoryError, match="newer than this crmcore"):
        other.__enter__()
    other.close()


def test_migration_hook_runs_missing_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = SqlUnitOfWork.from_url(tmp_path / "old.db")
    with first:
        pass
    first.close()
    ran: list[int] = []

    def step(conn: sa.Connection, tables: Mapping[str, sa.Table]) -> None:
        assert tables["customers"] is schema.customers  # the namespace's tables by base name
        ran.append(1)
        conn.exec_driver_sql("CREATE TABLE crmcore_extra (x INTEGER)")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    monkeypatch.setitem(schema.MIGRATIONS, schema.SCHEMA_VERSION - 1, step)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as c:
        assert schema.ensure_schema(c) == schema.SCHEMA_VERSION
    with engine.begin() as c:
        assert schema.ensure_schema(c) == schema.SCHEMA_VERSION  # idempotent
        assert c.execute(sa.select(schema.schema_table.c.version)).scalar() == schema.SCHEMA_VERSION
    assert ran == [1]
    engine.dispose()


def test_joined_connection_is_never_committed_by_us(tmp_path: Path) -> None:
    engine = configure_sqlite_engine(sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}"))
    with engine.connect() as conn:
        outer = conn.begin()
        uow = SqlUnitOfWork(connection=conn)
        with uow:
            uow.customers.add(Customer(id="c-1", name="Ada"))
            uow.commit()  # releases our savepoint only
        with uow:
            uow.customers.add(Customer(id="c-2", name="Bob"))  # not committed: rolled back
        with uow:
            assert [c.id for c in uow.customers.list()] == ["c-1"]
        assert conn.in_transaction() and not conn.closed
        outer.rollback()  # the application decides
        with uow:
            assert uow.customers.count() == 0
            uow.customers.add(Customer(id="c-3", name="Cy"))
            uow.commit()
        conn.commit()
    check = SqlUnitOfWork(engine)
    with check:
        assert [c.id for c in check.customers.list()] == ["c-3"]
    engine.dispose()


def test_own_engine_is_left_alone(tmp_path: Path) -> None:
    engine = configure_sqlite_engine(sa.create_engine(f"sqlite:///{tmp_path / 'mine.db'}"))
    uow = SqlUnitOfWork(engine)
    with uow:
        uow.customers.add(Customer(id="c-1", name="Ada"))
        uow.commit()
    uow.close()
    with engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM customers").scalar() == 1
    engine.dispose()


def test_driver_errors_are_translated(uow: SqlUnitOfWork) -> None:
    with uow:
        pass
    with uow.engine.begin() as c:
        c.exec_driver_sql("DROP TABLE surveys")
    with uow, pytest.raises(RepositoryError) as info:
        uow.surveys.list()
    assert isinstance(info.value.__cause__, sa.exc.OperationalError)
    assert "surveys" in str(info.value)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValidationError):
        SqlUnitOfWork()
    with pytest.raises(ValidationError):
        SqlUnitOfWork("sqlite://")  # type: ignore[arg-type]  # the wrong type is the point
    with pytest.raises(RepositoryError):
        SqlUnitOfWork.from_url("nosuchdb://x")


def test_a_writer_holding_the_lock_makes_a_stale_reader_conflict(tmp_path: Path) -> None:
    """SQLite: a block that read before another committed cannot write (snapshot is stale)."""
    a = SqlUnitOfWork.from_url(tmp_path / "w.db")
    b = SqlUnitOfWork.from_url(tmp_path / "w.db")
    with a:
        a.customers.add(Customer(id="c-1", name="Ada"))
        a.commit()
    with a:
        seen = a.customers.get("c-1")
        with b:
            b.customers.update(b.customers.get("c-1").with_changes(segment="x"))
            b.commit()
        with pytest.raises(ConcurrencyError):
            a.customers.update(seen.with_changes(segment="y"))
    a.close()
    b.close()


def test_add_log_of_many_chunks_is_all_or_nothing(tmp_path: Path) -> None:
    uow = SqlUnitOfWork(
        configure_sqlite_engine(sa.create_engine(f"sqlite:///{tmp_path / 'c.db'}")), batch_size=7
    )
    n = 50
    log = TransactionLog.from_arrays(
        customer_ids=[f"c-{i % 4}" for i in range(n)],
        timestamps=np.datetime64("2020-01-01", "us") + np.arange(n).astype("timedelta64[h]"),
        amounts=np.arange(n) * 1.25,
        currency="EUR",
        ids=[f"x-{i}" for i in range(n)],
    )
    with uow:
        assert uow.transactions.add_log(log) == n
        assert len(uow.transactions.read_log()) == n
        uow.rollback()
        # x-49 is in the last of 8 chunks: the 7 chunks before it must be undone too
        uow.transactions.add(
            Transaction(id="x-49", customer_id="c", occurred_at=_t(2020), amount=Money("1", "EUR"))
        )
        with pytest.raises(DuplicateError, match="already stored"):
            uow.transactions.add_log(log)
        assert uow.transactions.count() == 1


def test_big_first_load_rebuilds_indexes_and_a_failure_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmcore.repositories.sql import _transactions

    monkeypatch.setattr(_transactions, "_DEFER_INDEXES_ROWS", 10)
    uow = SqlUnitOfWork.from_url(tmp_path / "big.db")
    n = 40
    good = TransactionLog.from_arrays(
        customer_ids=[f"c-{i % 3}" for i in range(n)],
        timestamps=np.datetime64("2020-01-01", "us") + np.arange(n).astype("timedelta64[D]"),
        amounts=np.full(n, 2.5),
        currency="EUR",
        ids=[f"t-{i}" for i in range(n)],
    )

    def indexes() -> list[str]:
        with uow.engine.connect() as c:
            return sorted(r[1] for r in c.exec_driver_sql("PRAGMA index_list(transactions)"))

    with uow:
        pass
    before = indexes()
    real_create = sa.Index.create

    def failing_create(self: sa.Index, bind: Any, checkfirst: bool = False) -> None:
        raise sa.exc.OperationalError("CREATE INDEX", {}, Exception("disk full (simulated)"))

    with uow:
        monkeypatch.setattr(sa.Index, "create", failing_create)
        with pytest.raises(RepositoryError, match="disk full"):
            uow.transactions.add_log(good)  # fails after the drop and the insert
        monkeypatch.setattr(sa.Index, "create", real_create)
        assert uow.transactions.count() == 0
        assert "ix_transactions_time" in [
            r[1] for r in uow._conn().exec_driver_sql("PRAGMA index_list(transactions)")
        ]
        uow.transactions.add_log(good)
        uow.rollback()  # the savepoint and the rebuilt indexes go back to the empty table
        assert uow.transactions.count() == 0
        assert uow.transactions.add_log(good) == n
        uow.commit()
    assert indexes() == before and "ix_transactions_customer_time" in before
    with uow:
        assert len(uow.transactions.read_log(start=_t(2020, 1, 10))) == n - 9
    uow.close()


def test_index_builds_use_a_small_cache_and_give_the_connection_its_own_back(
    tmp_path: Path,
) -> None:
    """``CREATE INDEX`` sorts faster in small runs; the 64 MiB cache of bulk inserts returns
    after the build, and after a failed one."""
    uow = SqlUnitOfWork.from_url(tmp_path / "cache.db")
    with uow:
        conn = uow._conn()
        seen: list[int] = []
        with schema.index_build_memory(conn):
            seen.append(int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one()))
        assert seen == [-schema.SORT_CACHE_KIB]
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -65_536
        with pytest.raises(RuntimeError), schema.index_build_memory(conn):
            raise RuntimeError("boom")
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -65_536
        conn.exec_driver_sql("DROP INDEX ix_transactions_time")
        assert uow.transactions.restore_indexes() == ["ix_transactions_time"]
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -65_536
    uow.close()


def test_read_log_as_concatenated_columns_equals_the_row_by_row_read(
    uow: SqlUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite reads the columns as three joined strings; the result must be the row path's."""
    from crmcore.repositories.sql import _transactions

    rng = np.random.default_rng(3)
    with uow:
        for i in range(300):
            uow.transactions.add(
                Transaction(
                    id=f"t{i}",
                    customer_id=f"c{int(rng.integers(0, 40))}",
                    occurred_at=_t(2020) + timedelta(hours=int(rng.integers(0, 5000))),
                    amount=Money(
                        f"{int(rng.integers(0, 10**9))}.{int(rng.integers(0, 100)):02d}", "EUR"
                    ),
                    quantity=int(rng.integers(1, 5)),
                )
            )
        uow.commit()
    reads = []
    for limit in (_transactions._CONCAT_MAX, 0):  # 0: every read goes row by row
        monkeypatch.setattr(_transactions, "_CONCAT_MAX", limit)
        with uow:
            reads.append(uow.transactions.read_log())
            reads.append(uow.transactions.read_log(customer_ids=["c1", "c7"], start=_t(2020, 3)))
    for fast, slow in ((reads[0], reads[2]), (reads[1], reads[3])):
        assert len(fast) > 0
        assert fast.customer_ids.tolist() == slow.customer_ids.tolist()
        for name in ("customer", "time", "amount", "quantity", "kind", "ids"):
            np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
    # the whole table takes its ids from one scan of the id index (by rowid), the two
    # customers' rows from the table row by row: both name the stored transactions
    with uow:
        for log in reads[:2]:
            assert log.ids is not None
            for i in range(0, len(log), 17):
                t = uow.transactions.get(str(log.ids[i]))
                assert (t.customer_id, float(t.amount.amount)) == (
                    log.row_customer_ids[i],
                    log.amount[i],
                )
