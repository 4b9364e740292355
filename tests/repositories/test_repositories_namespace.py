"""Issue 15, living inside someone else's database: crmcore's tables in a namespace of their own
(``table_prefix=``, ``schema=``, an engine's ``schema_translate_map``), and a foreign table of
crmcore's name refused, on SQLite, PostgreSQL and MariaDB.

The finding: given a host database with its own ``customers`` table, crmcore adopted it,
stamped its schema version on the database, ``count()`` returned the host's rows and the
first write failed. Now the open refuses it, naming the table, before writing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmcore.errors import RepositoryError, ValidationError
from crmcore.model import Customer
from crmcore.pipeline import B2B, advance, create_opportunity
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.protocols import UnitOfWork
from crmcore.repositories.sql import make_engine
from crmcore.repositories.sql.schema import SCHEMA_VERSION, crmcore_metadata, namespace
from crmcore.tables import TransactionLog
from crmcore.testing.contract import RepositoryContract

from .conftest import _server_database

T = datetime(2024, 5, 1, tzinfo=UTC)


def _emptied(uow: SqlUnitOfWork) -> SqlUnitOfWork:
    """``uow`` with every table of its namespace emptied (the schema made on first use)."""
    with uow:
        pass
    with uow.engine.begin() as c:
        for table in reversed(uow.metadata.sorted_tables):
            if table is not uow.namespace.schema_table:
                c.execute(table.delete())
    return uow


# -- the contract in a namespace -------------------------------------------------------------
class TestSqlitePrefixedContract(RepositoryContract):
    @pytest.fixture(autouse=True)
    def _files(self, tmp_path: Path) -> Iterator[None]:
        self._dir = tmp_path
        self._made: list[SqlUnitOfWork] = []
        yield
        for uow in self._made:
            uow.close()

    def make_uow(self) -> UnitOfWork:
        uow = SqlUnitOfWork.from_url(self._dir / f"crm{len(self._made)}.db", table_prefix="crm_")
        self._made.append(uow)
        return uow


@pytest.mark.postgres
class TestPostgresSchemaContract(RepositoryContract):
    @pytest.fixture(autouse=True)
    def _engine(self, postgres_engine: sa.Engine) -> None:
        self._make: Callable[[], SqlUnitOfWork] = lambda: _emptied(
            SqlUnitOfWork(postgres_engine, schema="crm_contract")
        )

    def make_uow(self) -> UnitOfWork:
        return self._make()


@pytest.mark.mysql
class TestMysqlPrefixedContract(RepositoryContract):
    @pytest.fixture(autouse=True)
    def _engine(self, mysql_engine: sa.Engine) -> None:
        self._make: Callable[[], SqlUnitOfWork] = lambda: _emptied(
            SqlUnitOfWork(mysql_engine, table_prefix="crm_")
        )

    def make_uow(self) -> UnitOfWork:
        return self._make()


# -- a host database with its own tables -------------------------------------------------------
@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A fresh database of an application that has its own ``customers`` table with rows."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
        gen = None
    else:
        gen = _server_database(request.param)
        engine = make_engine(next(gen))
    with engine.begin() as c:
        c.exec_driver_sql(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL)"
        )
        c.exec_driver_sql("INSERT INTO customers VALUES (1, 'ann@example.com')")
    try:
        yield engine
    finally:
        engine.dispose()
        if gen is not None:
            next(gen, None)


def _tables(engine: sa.Engine, schema: str | None = None) -> set[str]:
    with engine.connect() as c:
        return set(sa.inspect(c).get_table_names(schema=schema))


def test_a_foreign_customers_table_is_refused_and_nothing_is_written(host: sa.Engine) -> None:
    uow = SqlUnitOfWork(host)
    with pytest.raises(RepositoryError, match="table 'customers' is not crmcore's") as err:
        uow.__enter__()
    assert "table_prefix=" in str(err.value) and "crmcore_schema" in str(err.value)
    assert _tables(host) == {"customers"}  # no stamp, no table of crmcore's
    with host.connect() as c:
        assert c.exec_driver_sql("SELECT id, email FROM customers").all() == [
            (1, "ann@example.com")
        ]


def test_a_prefix_lives_beside_the_hosts_tables(host: sa.Engine) -> None:
    uow = SqlUnitOfWork(host, table_prefix="crm_")
    with uow:
        uow.customers.add(Customer(id="c-1", name="Ann"))
        create_opportunity(uow, B2B, id="o-1", customer_id="c-1", owner_id="rep", at=T)
        advance(uow, "o-1", "qualified", expected_version=0, funnel=B2B, by="rep", at=T)
        uow.commit()
    with uow:
        assert uow.customers.count() == 1
        assert uow.opportunities.get("o-1").stage == "qualified"
    made = _tables(host) - {"customers"}
    assert made == {t.name for t in crmcore_metadata(table_prefix="crm_").sorted_tables}
    with host.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM customers").scalar() == 1
        indexes = {
            ix["name"]
            for t in made
            for ix in sa.inspect(c).get_indexes(t)
            if ix["name"] and not ix["name"].startswith("sqlite_")
        }
        assert indexes and all(name.startswith("ix_crm_") for name in indexes)
    again = SqlUnitOfWork(make_engine(host.url), table_prefix="crm_")  # a fresh open checks
    with again:
        assert again.customers.get("c-1").name == "Ann"
    again.engine.dispose()


def test_a_table_with_other_columns_is_refused(host: sa.Engine) -> None:
    """The stamp is there but a table of crmcore's name has other columns: not crmcore's."""
    uow = SqlUnitOfWork(host, table_prefix="crm_")
    with uow:
        pass
    with host.begin() as c:
        c.exec_driver_sql("DROP TABLE crm_surveys")
        c.exec_driver_sql("CREATE TABLE crm_surveys (id INTEGER PRIMARY KEY, score INTEGER)")
    fresh = SqlUnitOfWork(make_engine(host.url), table_prefix="crm_")
    with pytest.raises(RepositoryError, match="table 'crm_surveys' is not crmcore's") as err:
        fresh.__enter__()
    assert "missing ['channel', 'comment'" in str(err.value)
    assert "unexpected ['score']" in str(err.value)
    fresh.engine.dispose()


def test_a_foreign_stamp_table_is_refused(host: sa.Engine) -> None:
    with host.begin() as c:
        c.exec_driver_sql("CREATE TABLE crmcore_schema (id INTEGER PRIMARY KEY)")
    with pytest.raises(RepositoryError, match="'crmcore_schema' is not crmcore's version stamp"):
        SqlUnitOfWork(host).__enter__()


# -- schemas -------------------------------------------------------------------------------------
@pytest.mark.postgres
def test_postgres_schema_and_schema_translate_map() -> None:
    """``schema=`` creates and uses a PostgreSQL schema; an engine's ``schema_translate_map``
    puts the default namespace there too, the raw-cursor bulk paths included."""
    gen = _server_database("postgres")
    engine = make_engine(next(gen))
    try:
        with engine.begin() as c:
            c.exec_driver_sql("CREATE TABLE public.customers (id INTEGER PRIMARY KEY)")
        translated = engine.execution_options(schema_translate_map={None: "crm_mapped"})
        for uow in (SqlUnitOfWork(engine, schema="crm_named"), SqlUnitOfWork(translated)):
            log = TransactionLog.from_arrays(
                customer_ids=["c-1", "c-1", "c-2"],
                timestamps=["2024-01-02", "2024-01-03", "2024-01-04"],
                amounts=[10.0, 20.0, 30.0],
                currency="EUR",
                ids=["t-1", "t-2", "t-3"],
                external_refs=["o-1", "o-2", "o-3"],
            )
            with uow:
                uow.transactions.add_log(log)
                create_opportunity(uow, B2B, id="o-1", customer_id="c-1", owner_id="rep", at=T)
                uow.commit()
            with uow:
                assert uow.transactions.read_log().ids.tolist() == ["t-1", "t-2", "t-3"]
                assert uow.transactions.existing_external_refs(["o-2", "x"]) == {"o-2"}
                assert len(uow.opportunities.read_history()) == 1
                assert uow.customers.count() == 0
        assert uow.namespace.schema == "crm_mapped"
        for schema in ("crm_named", "crm_mapped"):
            assert "crmcore_schema" in _tables(engine, schema)
        assert _tables(engine) == {"customers"}  # public: only the application's table
    finally:
        engine.dispose()
        next(gen, None)


@pytest.mark.mysql
def test_mariadb_schema_is_another_database(mysql_url: str) -> None:
    """On MariaDB a schema is a database: crmcore uses one that exists and names one that
    does not."""
    gen = _server_database("mysql")
    other = sa.make_url(next(gen)).database
    engine = make_engine(mysql_url)
    try:
        uow = SqlUnitOfWork(engine, schema=other)
        with uow:
            uow.customers.add(Customer(id="c-1", name="Ann"))
            uow.commit()
        with uow:
            assert uow.customers.get("c-1").name == "Ann"
        assert "crmcore_schema" in _tables(engine, other)
        with pytest.raises(RepositoryError, match="schema 'no_such_db' does not exist"):
            SqlUnitOfWork(engine, schema="no_such_db").__enter__()
    finally:
        engine.dispose()
        next(gen, None)


def test_sqlite_schema_is_an_attached_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")

    @sa.event.listens_for(engine, "connect")
    def _attach(dbapi_conn: object, _record: object) -> None:
        dbapi_conn.execute(f"ATTACH DATABASE '{tmp_path / 'crm.db'}' AS crm")  # type: ignore[attr-defined]

    uow = SqlUnitOfWork(engine, schema="crm")
    with uow:
        uow.customers.add(Customer(id="c-1", name="Ann"))
        uow.commit()
    with uow:
        assert uow.customers.count() == 1
    assert _tables(engine) == set()
    assert "crmcore_schema" in _tables(engine, "crm")
    with pytest.raises(RepositoryError, match="schema 'nope' does not exist"):
        SqlUnitOfWork(engine, schema="nope").__enter__()
    engine.dispose()


# -- options -----------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["CRM_", "crm-", "1crm", "x" * 31, None, 5])
def test_bad_table_prefix_is_refused(prefix: object) -> None:
    with pytest.raises(ValidationError, match="'table_prefix' must be"):
        SqlUnitOfWork(sa.create_engine("sqlite://"), table_prefix=prefix)  # type: ignore[arg-type]


@pytest.mark.parametrize("schema", ["", " crm", "x" * 64, 3])
def test_bad_schema_is_refused(schema: object) -> None:
    with pytest.raises(ValidationError, match="'schema' must be None or"):
        namespace(schema=schema)  # type: ignore[arg-type]


def test_a_translate_map_that_translates_twice_is_refused() -> None:
    engine = sa.create_engine("sqlite://").execution_options(
        schema_translate_map={None: "a", "a": "b"}
    )
    with pytest.raises(ValidationError, match="translates once"):
        SqlUnitOfWork(engine)


def test_the_metadata_is_the_one_the_unit_of_work_uses() -> None:
    uow = SqlUnitOfWork(sa.create_engine("sqlite://"), table_prefix="app_crm_", schema="main")
    assert uow.metadata is crmcore_metadata(table_prefix="app_crm_", schema="main")
    with uow:
        uow.customers.add(Customer(id="c-1", name="Ann"))
        assert uow.customers.count() == 1
    assert SCHEMA_VERSION == 6
