"""The SQL schema (SQLAlchemy Core tables), its namespace, its version and the migrations.

Encodings: timestamps are BIGINT microseconds since the Unix epoch (UTC);
money is BIGINT ``amount_e6`` (the amount times 10**6, exact to 6 decimal
places) plus a ``currency`` column; enums are their string value, except the
transaction kind, stored as its small int code (``TransactionKind.code``).
A customer's nested value parts (contact points, address, tags,
relationships, consent, birthday) are one JSON text column ``profile``; the
queried parts are real, indexed columns.

Identifiers and keys compare byte-wise, by code point, on every server, with
no padding of trailing spaces: ``COLLATE "C"`` on PostgreSQL, a binary
NO PAD collation on MariaDB (``utf8mb4_nopad_bin``) and MySQL 8
(``utf8mb4_0900_bin``); SQLite's ``BINARY``.

**Namespace.** An application that embeds crmcore in its own database gives
crmcore's tables a name prefix and/or a schema (:func:`crmcore_metadata`,
``SqlUnitOfWork(table_prefix=, schema=)``); every table, index and
constraint name of the namespace carries the prefix, and the namespace has
its own version stamp (table ``<prefix>crmcore_schema``). Opening a
namespace checks that every table of it that exists is crmcore's (version
stamp and columns) and refuses a foreign one naming it
(:func:`ensure_schema`).

>>> sorted(metadata.tables)[:3]
['activities', 'costs', 'crmcore_schema']
>>> sorted(crmcore_metadata(table_prefix="crm_", schema="app").tables)[:2]
['app.crm_activities', 'app.crm_costs']
>>> SCHEMA_VERSION
6
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmcore.errors import RepositoryError
from crmcore.options import expect_instance
from crmcore.repositories.sql._migrations import (
    ADDED_COLUMNS,
    ADDED_INDEXES,
    ADDED_TABLES,
    DROPPED_INDEXES,
    MIGRATIONS,
    Migration,
    columns_at,
)
from crmcore.repositories.sql._tables import (
    Namespace,
    crmcore_metadata,
    exact_collation,
    namespace,
)

_log = logging.getLogger("crmcore.repositories")

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "Namespace",
    "activities",
    "check_schema",
    "costs",
    "create_missing_indexes",
    "crmcore_metadata",
    "customers",
    "documents",
    "ensure_schema",
    "exact_collation",
    "field_changes",
    "index_build_memory",
    "interactions",
    "metadata",
    "namespace",
    "opportunities",
    "schema_plan",
    "schema_table",
    "service_cases",
    "stage_changes",
    "surveys",
    "transactions",
]

SCHEMA_VERSION = 6
"""The schema version this release writes (see :data:`MIGRATIONS` for what each changed)."""

DEFAULT = namespace()
metadata = DEFAULT.metadata
"""The tables of the default namespace (no prefix, the connection's default schema)."""
schema_table = DEFAULT.schema_table
customers = DEFAULT.customers
interactions = DEFAULT.interactions
transactions = DEFAULT.transactions
opportunities = DEFAULT.opportunities
stage_changes = DEFAULT.stage_changes
field_changes = DEFAULT.field_changes
activities = DEFAULT.activities
surveys = DEFAULT.surveys
costs = DEFAULT.costs
service_cases = DEFAULT.service_cases
documents = DEFAULT.documents


def create_missing_indexes(conn: Connection, table: sa.Table) -> list[str]:
    """Create the indexes of ``table`` that the database lacks (``CREATE INDEX``, one sort each);
    returns their names.

    A bulk load into SQLite may drop secondary indexes and commit batches
    before it rebuilds them; if it dies in between, the data is complete and
    this (run by :func:`ensure_schema` on every first open) brings them back.

    >>> import sqlalchemy as sa
    >>> with sa.create_engine("sqlite://").begin() as conn:
    ...     _ = ensure_schema(conn)
    ...     _ = conn.exec_driver_sql("DROP INDEX ix_transactions_time")
    ...     create_missing_indexes(conn, transactions)
    ['ix_transactions_time']
    """
    expect_instance(conn, Connection, name="conn", what="an SQLAlchemy Connection")
    expect_instance(table, sa.Table, name="table", what="an SQLAlchemy Table")
    present = {ix["name"] for ix in sa.inspect(conn).get_indexes(table.name, schema=table.schema)}
    missing = [ix for ix in table.indexes if ix.name not in present]
    return _create_indexes(conn, missing)


def _create_indexes(conn: Connection, indexes: list[sa.Index]) -> list[str]:
    indexes = sorted(indexes, key=lambda ix: str(ix.name))
    if indexes:
        with index_build_memory(conn):
            for index in indexes:
                # IF NOT EXISTS on SQLite: a concurrent opener may have just made it
                conn.execute(
                    sa.schema.CreateIndex(index, if_not_exists=conn.dialect.name == "sqlite")
                )
    return [str(ix.name) for ix in indexes]


def _missing_indexes(conn: Connection, ns: Namespace) -> list[sa.Index]:
    """The indexes of the namespace's existing tables that the database lacks (one query)."""
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names(schema=ns.schema))
    tables = [t for t in ns.metadata.sorted_tables if t.name in present]
    found = inspector.get_multi_indexes(schema=ns.schema, filter_names=[t.name for t in tables])
    names = {key[1]: {ix["name"] for ix in ixs} for key, ixs in found.items()}
    return [ix for t in tables for ix in t.indexes if ix.name not in names.get(t.name, ())]


SORT_CACHE_KIB = 2_000
"""SQLite page cache while it builds an index (its default size)."""


@contextmanager
def index_build_memory(conn: Connection) -> Iterator[None]:
    """On SQLite, build indexes with a small page cache, then restore the connection's own.

    ``CREATE INDEX`` sorts the keys in runs as large as the page cache and
    merges them: runs of 2 MB stay in the CPU caches and sort about a quarter
    faster than runs of the 64 MiB cache that crmcore gives each connection
    for bulk inserts (measured on 1,000,000 transactions: 2.2 s against 3.0 s
    for the two ordering indexes). Other dialects: nothing changes.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    before = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SORT_CACHE_KIB}")
    try:
        yield
    except BaseException:
        with suppress(sa.exc.SQLAlchemyError):  # the first error is the one to report
            conn.exec_driver_sql(f"PRAGMA cache_size = {before}")
        raise
    conn.exec_driver_sql(f"PRAGMA cache_size = {before}")


# -- opening a namespace: is every table there crmcore's? ------------------------------------
_EMBEDDING = (
    "give crmcore a namespace of its own with table_prefix= or schema= "
    "(docs/repositories.md, Embedding)"
)


def _ensure_container(conn: Connection, ns: Namespace) -> None:
    """The namespace's schema must exist: created on PostgreSQL, required elsewhere (a
    database on MariaDB/MySQL, an attached database on SQLite)."""
    if ns.schema is None:
        return
    inspector = sa.inspect(conn)
    if inspector.has_schema(ns.schema):
        return
    if conn.dialect.name == "postgresql":
        conn.execute(sa.schema.CreateSchema(ns.schema, if_not_exists=True))
        return
    what = {
        "sqlite": "attach it on every connection (ATTACH DATABASE ... AS name)",
        "mysql": "a schema is a database there: CREATE DATABASE it first",
    }.get(conn.dialect.name, "create it first")
    raise RepositoryError(f"schema {ns.schema!r} does not exist in the database: {what}")


def check_schema(conn: Connection, namespace: Namespace | None = None) -> int | None:
    """The schema version of ``namespace`` in the database (None: no crmcore table yet),
    after checking that each of its tables there is crmcore's; writes nothing.

    A table is crmcore's when the namespace's version stamp (table
    ``<prefix>crmcore_schema`` holding the row ``crmcore``) is there and the
    table has exactly the columns of that version. A table of the namespace's
    name without the stamp (an application's own ``customers``), or with other
    columns, raises RepositoryError naming it: crmcore neither uses, changes
    nor stamps a table that is not its own.

    >>> import sqlalchemy as sa
    >>> conn = sa.create_engine("sqlite://").connect()
    >>> check_schema(conn), ensure_schema(conn), check_schema(conn)
    (None, 6, 6)
    >>> _ = conn.exec_driver_sql("CREATE TABLE crm_customers (id INTEGER, email TEXT)")
    >>> check_schema(conn, namespace(table_prefix="crm_"))
    Traceback (most recent call last):
    crmcore.errors.RepositoryError: table 'crm_customers' is not crmcore's: the database has no crmcore version stamp (table 'crm_crmcore_schema') for prefix "crm_"; crmcore will not read, change or stamp it: give crmcore a namespace of its own with table_prefix= or schema= (docs/repositories.md, Embedding)
    >>> conn.close()
    """
    expect_instance(conn, Connection, name="conn", what="an SQLAlchemy Connection")
    ns = DEFAULT if namespace is None else expect_instance(namespace, Namespace, name="namespace")
    inspector = sa.inspect(conn)
    if ns.schema is not None and not inspector.has_schema(ns.schema):
        return None
    present = set(inspector.get_table_names(schema=ns.schema))
    ours = {t.name: base for base, t in ns.tables.items()}
    stamp = ns.schema_table
    clash = sorted(name for name in ours if name in present and name != stamp.name)
    if stamp.name not in present:
        if clash:
            raise RepositoryError(
                f"table {clash[0]!r} is not crmcore's: the database has no crmcore version "
                f"stamp (table {stamp.name!r}) for {ns.where()}; crmcore will not read, change or "
                f"stamp it: {_EMBEDDING}"
                + (f" (also present: {', '.join(map(repr, clash[1:]))})" if clash[1:] else "")
            )
        return None
    columns = {
        key[1]: {c["name"] for c in cols}
        for key, cols in inspector.get_multi_columns(
            schema=ns.schema, filter_names=[stamp.name, *clash]
        ).items()
    }
    if columns.get(stamp.name) != {"name", "version"}:
        raise RepositoryError(
            f"table {stamp.name!r} is not crmcore's version stamp (its columns are "
            f"{sorted(columns.get(stamp.name, ()))}, not ['name', 'version']): {_EMBEDDING}"
        )
    row = conn.execute(sa.select(stamp.c.version).where(stamp.c.name == "crmcore")).first()
    if row is None:
        if clash:  # an empty stamp table: crmcore stopped right after creating it
            raise RepositoryError(
                f"table {clash[0]!r} is not crmcore's: the version stamp {stamp.name!r} holds "
                f"no crmcore row for {ns.where()}: {_EMBEDDING}"
            )
        return None
    version = int(row[0])
    if version > SCHEMA_VERSION:
        raise RepositoryError(
            f"the database schema is version {version}, newer than this crmcore "
            f"understands ({SCHEMA_VERSION}): upgrade crmcore"
        )
    for name in clash:
        base = ours[name]
        required = columns_at(ns.tables[base], version)
        known = {c.name for c in ns.tables[base].columns}
        have = columns.get(name, set())
        missing, unknown = sorted(required - have), sorted(have - known)
        if missing or unknown:
            detail = "; ".join(
                part
                for part in (
                    f"missing {missing}" if missing else "",
                    f"unexpected {unknown}" if unknown else "",
                )
                if part
            )
            raise RepositoryError(
                f"table {name!r} is not crmcore's: its columns differ from those of crmcore's "
                f"schema version {version} ({detail}); crmcore will not read or change it: "
                f"{_EMBEDDING}"
            )
    return version


def ensure_schema(conn: Connection, namespace: Namespace | None = None) -> int:
    """Create the tables of ``namespace`` on first use, or migrate an older schema; returns
    the version.

    First :func:`check_schema` (a foreign table of the namespace's name raises
    RepositoryError before anything is written); a database written by a
    newer crmcore (higher version) raises RepositoryError. The migration steps
    run first, then the missing tables are created. The version stamp
    is written before the other tables are created (MariaDB/MySQL commit
    each ``CREATE TABLE`` at once: an interrupted first open leaves a stamped,
    partial namespace that the next open completes). Missing indexes (those
    of ``transactions`` that an interrupted bulk load left dropped) are
    re-created. :func:`schema_plan` lists what this would do.

    >>> import sqlalchemy as sa
    >>> with sa.create_engine("sqlite://").begin() as conn:
    ...     ensure_schema(conn), ensure_schema(conn, namespace(table_prefix="crm_"))
    (6, 6)
    """
    expect_instance(conn, Connection, name="conn", what="an SQLAlchemy Connection")
    ns = DEFAULT if namespace is None else expect_instance(namespace, Namespace, name="namespace")
    _ensure_container(conn, ns)
    version = check_schema(conn, ns)
    stamp = ns.schema_table
    if version is None:
        stamp.create(conn, checkfirst=True)
        conn.execute(sa.insert(stamp).values(name="crmcore", version=SCHEMA_VERSION))
        version = SCHEMA_VERSION
        _log.info("creating crmcore's tables at schema version %d (%s)", version, ns.where())
    while version < SCHEMA_VERSION:  # the steps first: new tables reference migrated ones
        step = MIGRATIONS.get(version)
        if step is None:  # pragma: no cover (every version below SCHEMA_VERSION has a step)
            raise RepositoryError(f"no migration from schema version {version}")
        step(conn, ns.tables)
        version += 1
        _log.info("migrated crmcore's tables to schema version %d (%s)", version, ns.where())
        conn.execute(sa.update(stamp).where(stamp.c.name == "crmcore").values(version=version))
    ns.metadata.create_all(conn, checkfirst=True)
    missing = _missing_indexes(conn, ns)
    if missing:
        _log.info("re-creating %d missing index(es) of crmcore's tables", len(missing))
    _create_indexes(conn, missing)
    return version


def _summary(step: Migration) -> str:
    """The first paragraph of a migration step's docstring, without its ``a → b:`` head."""
    text = " ".join((step.__doc__ or "").split("\n\n")[0].split())
    head, _, rest = text.partition(": ")
    return (rest or head).rstrip(".")


def schema_plan(conn: Connection, namespace: Namespace | None = None) -> list[str]:
    """What :func:`ensure_schema` would do to ``namespace`` in the database, one line per step
    (empty: up to date); writes nothing. A foreign table raises RepositoryError
    (:func:`check_schema`).

    >>> import sqlalchemy as sa
    >>> conn = sa.create_engine("sqlite://").connect()
    >>> schema_plan(conn)
    ["create crmcore's 12 tables at schema version 6 (the default namespace)"]
    >>> _ = ensure_schema(conn)
    >>> _ = conn.exec_driver_sql("DROP INDEX ix_transactions_time")
    >>> schema_plan(conn)
    ["create index 'ix_transactions_time' on 'transactions'"]
    >>> conn.close()
    """
    expect_instance(conn, Connection, name="conn", what="an SQLAlchemy Connection")
    ns = DEFAULT if namespace is None else expect_instance(namespace, Namespace, name="namespace")
    create = f"create crmcore's {len(ns.tables)} tables at schema version {SCHEMA_VERSION} ({ns.where()})"
    if ns.schema is not None and not sa.inspect(conn).has_schema(ns.schema):
        if conn.dialect.name != "postgresql":
            _ensure_container(conn, ns)  # raises: the schema must exist there
        return [f"create schema {ns.schema!r}", create]
    version = check_schema(conn, ns)
    if version is None:
        return [create]
    steps = [
        f"migrate schema {v} -> {v + 1}: {_summary(MIGRATIONS[v])}"
        for v in range(version, SCHEMA_VERSION)
    ]
    present = set(sa.inspect(conn).get_table_names(schema=ns.schema))
    steps += [
        f"create table {t.name!r}" for t in ns.metadata.sorted_tables if t.name not in present
    ]
    steps += [
        f"create index {str(ix.name)!r} on {ix.table.name!r}"  # type: ignore[union-attr]
        for ix in _missing_indexes(conn, ns)
    ]
    return steps


assert set(ADDED_COLUMNS) | set(ADDED_TABLES) | set(ADDED_INDEXES) | set(DROPPED_INDEXES) <= set(
    range(2, SCHEMA_VERSION + 1)
)
assert set(MIGRATIONS) == set(range(1, SCHEMA_VERSION))
