"""Backends for the repository tests: memory, SQLite files, and the PostgreSQL / MariaDB servers.

Server URLs default to the servers of this machine and can be overridden with
``CRMCORE_TEST_POSTGRES_URL`` / ``CRMCORE_TEST_MYSQL_URL``. Each test session
creates its own database with a random name (so concurrent runs do not
collide) and drops it at the end. An unreachable server skips its tests with
the reason, unless ``CRMCORE_REQUIRE_SERVERS=1`` (CI), which fails them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql import make_engine
from crmcore.repositories.sql.schema import metadata

DEFAULT_URLS = {
    "postgres": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306/test",
}
ENV = {"postgres": "CRMCORE_TEST_POSTGRES_URL", "mysql": "CRMCORE_TEST_MYSQL_URL"}
LABEL = {"postgres": "PostgreSQL", "mysql": "MariaDB/MySQL"}


def _server_database(kind: str) -> Iterator[str]:
    url = sa.make_url(os.environ.get(ENV[kind], DEFAULT_URLS[kind]))
    shown = url.render_as_string(hide_password=True)
    try:
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        with admin.connect() as c:
            c.execute(sa.text("SELECT 1"))
    except Exception as e:  # any driver or network error means "not reachable"
        reason = f"{LABEL[kind]} not reachable at {shown}: {str(e).splitlines()[0]}"
        if os.environ.get("CRMCORE_REQUIRE_SERVERS") == "1":
            pytest.fail(reason + " (CRMCORE_REQUIRE_SERVERS=1)")
        pytest.skip(reason)
    name = f"crmcore_test_{secrets.token_hex(5)}"
    with admin.connect() as c:
        if kind == "mysql":
            c.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        else:
            c.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            if kind == "postgres":
                c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database for this session."""
    yield from _server_database("postgres")


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """The URL of a fresh MariaDB/MySQL database for this session."""
    yield from _server_database("mysql")


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[sa.Engine]:
    # test data need no fsync per commit: keeps the suite fast on a shared machine
    engine = make_engine(postgres_url, connect_args={"options": "-c synchronous_commit=off"})
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def mysql_engine(mysql_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(mysql_url)
    yield engine
    engine.dispose()


def empty_uow(engine: sa.Engine) -> SqlUnitOfWork:
    """A unit of work on ``engine`` with every crmcore table emptied."""
    uow = SqlUnitOfWork(engine)
    with uow:  # creates the schema on first use
        pass
    with engine.begin() as c:
        for table in reversed(metadata.sorted_tables):
            if table.name != "crmcore_schema":
                c.execute(table.delete())
    return uow


@pytest.fixture(scope="session")
def postgres_factory(postgres_engine: sa.Engine) -> Callable[[], SqlUnitOfWork]:
    """Makes units of work on the session's PostgreSQL database, emptied each time."""
    return lambda: empty_uow(postgres_engine)


@pytest.fixture(scope="session")
def mysql_factory(mysql_engine: sa.Engine) -> Callable[[], SqlUnitOfWork]:
    """Makes units of work on the session's MariaDB database, emptied each time."""
    return lambda: empty_uow(mysql_engine)


@pytest.fixture(scope="session")
def sqlite_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[], SqlUnitOfWork]]:
    """Makes units of work on one SQLite file for the session, emptied each time."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'crm.db'}")
    yield lambda: empty_uow(engine)
    engine.dispose()


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def sql_module_uow(request: pytest.FixtureRequest) -> Iterator[SqlUnitOfWork]:
    """One SQL database per backend for a test module (an in-memory SQLite database, or the
    servers' emptied one); each hypothesis example runs in a block that rolls back."""
    if request.param == "sqlite":
        uow = SqlUnitOfWork.from_url("sqlite://")
        yield uow
        uow.close()
        return
    factory: Callable[[], SqlUnitOfWork] = request.getfixturevalue(f"{request.param}_factory")
    yield factory()
