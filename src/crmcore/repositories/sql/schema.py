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
4
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles

from crmcore.errors import RepositoryError, ValidationError
from crmcore.model._storable import KEY_LENGTH, MAX_ID_LENGTH
from crmcore.options import expect_instance
from crmcore.repositories.sql._migrations import (
    ADDED_COLUMNS,
    ADDED_TABLES,
    MIGRATIONS,
    Migration,
    columns_at,
)

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
    "schema_table",
    "stage_changes",
    "surveys",
    "transactions",
]

SCHEMA_VERSION = 4
"""The schema version this release writes (see :data:`MIGRATIONS` for what each changed)."""

STAMP = "crmcore_schema"
"""The base name of the version-stamp table (one row: ``name='crmcore'``, ``version``)."""

_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}
_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,29}")


class _Exact(sa.String):
    """An id or key column: VARCHAR compared byte-wise without padding on every server."""

    cache_ok = True


def exact_collation(dialect: sa.Dialect) -> str:
    """The MariaDB/MySQL collation of id and key columns: binary and NO PAD (``'c-1 '`` is
    not ``'c-1'``): ``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL 8.0.17+
    (and when the server is not known yet), ``utf8mb4_bin`` on older MySQL, which has no
    NO PAD collation.

    >>> from sqlalchemy.dialects import mysql
    >>> exact_collation(mysql.dialect())
    'utf8mb4_0900_bin'
    """
    expect_instance(dialect, sa.Dialect, name="dialect", what="an SQLAlchemy Dialect")
    if getattr(dialect, "is_mariadb", False):
        return "utf8mb4_nopad_bin"
    version = getattr(dialect, "server_version_info", None)
    if version is not None and tuple(version[:3]) < (8, 0, 17):
        return "utf8mb4_bin"
    return "utf8mb4_0900_bin"


@compiles(_Exact, "mysql")
@compiles(_Exact, "mariadb")
def _exact_on_mysql(type_: _Exact, compiler: Any, **kw: Any) -> str:
    return (
        f"VARCHAR({type_.length}) CHARACTER SET utf8mb4 COLLATE {exact_collation(compiler.dialect)}"
    )


def _id() -> sa.types.TypeEngine[str]:
    n = MAX_ID_LENGTH
    return _Exact(n).with_variant(postgresql.VARCHAR(n, collation="C"), "postgresql")


def _key() -> sa.types.TypeEngine[str]:
    n = KEY_LENGTH
    return _Exact(n).with_variant(postgresql.VARCHAR(n, collation="C"), "postgresql")


def _text() -> sa.types.TypeEngine[str]:
    """Free text: LONGTEXT on MariaDB/MySQL (whose TEXT holds only 64 KiB, so that a long
    comment or a large document would pass the other backends and fail there), TEXT elsewhere."""
    return sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def _time() -> sa.types.TypeEngine[int]:
    return sa.BigInteger()


def _define(md: sa.MetaData, prefix: str) -> None:
    """crmcore's tables in ``md``: ``prefix`` before every table, index and constraint name.
    Each index keeps its unprefixed name in ``info["base"]``."""

    def ix(suffix: str, *columns: str) -> sa.Index:
        return sa.Index(f"ix_{prefix}{suffix}", *columns, info={"base": f"ix_{suffix}"})

    def table(base: str, *items: Any) -> sa.Table:
        return sa.Table(prefix + base, md, *items, info={"base": base}, **_MYSQL)

    table(
        STAMP,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    table(
        "customers",
        sa.Column("id", _id(), primary_key=True),
        sa.Column("name", _text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("owner_id", _id()),
        sa.Column("segment", _key()),
        sa.Column("acquired_at", _time()),
        sa.Column("acquisition_channel", _text()),
        sa.Column("external_key", _key()),
        sa.Column("erased", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("profile", _text(), nullable=False),
        ix("customers_owner", "owner_id"),
        ix("customers_segment", "segment"),
        ix("customers_acquired", "acquired_at"),
        ix("customers_external_key", "external_key"),
    )
    table(
        "interactions",
        sa.Column("id", _id(), primary_key=True),
        sa.Column("customer_id", _id(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("occurred_at", _time(), nullable=False),
        sa.Column("rep_id", _id()),
        sa.Column("subject", _text()),
        sa.Column("outcome", _text()),
        sa.Column("duration_seconds", sa.BigInteger),
        sa.Column("opportunity_id", _id()),
        ix("interactions_customer_time", "customer_id", "occurred_at"),
        ix("interactions_time", "occurred_at"),
        ix("interactions_rep_time", "rep_id", "occurred_at"),
        ix("interactions_channel_time", "channel", "occurred_at"),
    )
    table(
        "transactions",
        sa.Column("id", _id(), primary_key=True),
        sa.Column("customer_id", _id(), nullable=False),
        sa.Column("occurred_at", _time(), nullable=False),
        sa.Column("amount_e6", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("product", _text()),
        sa.Column("category", _text()),
        sa.Column("channel", _text()),
        sa.Column("external_ref", _key()),
        # covering index of the columnar read (read_log scans it in customer/time order)
        ix(
            "transactions_customer_time",
            "customer_id",
            "occurred_at",
            "amount_e6",
            "kind",
            "quantity",
            "currency",
        ),
        ix("transactions_time", "occurred_at"),
        ix("transactions_external_ref", "external_ref"),
    )
    opportunities = table(
        "opportunities",
        sa.Column("id", _id(), primary_key=True),
        sa.Column("customer_id", _id(), nullable=False),
        sa.Column("owner_id", _id(), nullable=False),
        sa.Column("funnel", _key(), nullable=False),
        sa.Column("stage", _key(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("amount_e6", sa.BigInteger),
        sa.Column("currency", sa.String(3)),
        sa.Column("expected_close", sa.Date),
        sa.Column("probability", sa.Double),
        sa.Column("product", _text()),
        sa.Column("lost_reason", _text()),
        sa.Column("stage_entered_at", _time()),
        sa.Column("closed_at", _time()),
        sa.Column("parent_id", _id()),
        sa.Column("kind", _text(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("forecast_category", _key()),
        sa.Column("custom", _text()),  # JSON object of the custom fields (NULL: none)
        ix("opportunities_owner", "owner_id", "closed_at"),
        ix("opportunities_customer", "customer_id"),
        ix("opportunities_funnel_stage", "funnel", "stage"),
    )
    table(
        "stage_changes",
        sa.Column(
            "opportunity_id",
            _id(),
            sa.ForeignKey(opportunities.c.id, name=f"fk_{prefix}stage_changes_opportunity"),
            primary_key=True,
        ),
        sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("from_stage", _key()),
        sa.Column("to_stage", _key(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("by", _id(), nullable=False),
        sa.Column("reason", _text()),
        sa.Column("amount_e6", sa.BigInteger),
        sa.Column("currency", sa.String(3)),
        sa.Column("probability", sa.Double),
        sa.Column("customer_id", _id()),
        sa.Column("owner_id", _id()),
        sa.Column("funnel", _key()),
        sa.Column("product", _text()),
        sa.Column("recorded_at", _time()),
        sa.Column("request_id", _id()),
        sa.Column("forecast_category", _key()),
        # the creation event (sequence 0) also carries what rebuilding the deal needs
        sa.Column("expected_close", sa.Date),
        sa.Column("parent_id", _id()),
        sa.Column("deal_kind", _text()),
        sa.Column("custom", _text()),
        sa.Column("funnel_version", sa.Integer),  # the funnel version the move was made under
        ix("stage_changes_at", "at"),
        ix("stage_changes_owner_at", "owner_id", "at"),
    )
    table(
        "field_changes",
        sa.Column(
            "opportunity_id",
            _id(),
            sa.ForeignKey(opportunities.c.id, name=f"fk_{prefix}field_changes_opportunity"),
            primary_key=True,
        ),
        sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("field", _key(), nullable=False),
        sa.Column(
            "old", _text()
        ),  # JSON of the value (crmcore.model.opportunity.encode_field_value)
        sa.Column("new", _text()),
        sa.Column("at", _time(), nullable=False),
        sa.Column("recorded_at", _time(), nullable=False),
        sa.Column("by", _id(), nullable=False),
        sa.Column("reason", _text()),
        sa.Column("request_id", _id()),
        ix("field_changes_field_at", "field", "at"),
    )
    table(
        "activities",
        sa.Column("id", _id(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rep_id", _id(), nullable=False),
        sa.Column("customer_id", _id()),
        sa.Column("opportunity_id", _id()),
        sa.Column("subject", _text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", _time()),
        sa.Column("done_at", _time()),
        sa.Column("outcome", _text()),
        ix("activities_rep_due", "rep_id", "due_at"),
        ix("activities_rep_done", "rep_id", "done_at"),
        ix("activities_due", "due_at"),
        ix("activities_done", "done_at"),
        ix("activities_customer", "customer_id"),
        ix("activities_opportunity", "opportunity_id"),
    )
    table(
        "surveys",
        sa.Column("id", _id(), primary_key=True),
        sa.Column("customer_id", _id(), nullable=False),
        sa.Column("responded_at", _time(), nullable=False),
        sa.Column("csat", sa.SmallInteger),
        sa.Column("nps", sa.SmallInteger),
        sa.Column("comment", _text()),
        sa.Column("survey", _key()),
        sa.Column("channel", _text()),
        ix("surveys_customer_time", "customer_id", "responded_at"),
        ix("surveys_time", "responded_at"),
        ix("surveys_survey_time", "survey", "responded_at"),
    )
    table(
        "costs",
        sa.Column("id", _id(), primary_key=True),
        sa.Column("customer_id", _id(), nullable=False),
        sa.Column("incurred_at", _time(), nullable=False),
        sa.Column("amount_e6", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("category", _key(), nullable=False),
        sa.Column("channel", _text()),
        sa.Column("note", _text()),
        ix("costs_customer_time", "customer_id", "incurred_at"),
        ix("costs_time", "incurred_at"),
        ix("costs_category_time", "category", "incurred_at"),
    )
    table(
        "documents",
        sa.Column("kind", _key(), primary_key=True),
        sa.Column("key", _key(), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("body", _text(), nullable=False),
    )


class Namespace:
    """Where crmcore's tables live in a database: a table-name prefix and a schema, with the
    SQLAlchemy tables named accordingly (one object per prefix and schema: :func:`namespace`).

    ``tables`` maps each base name (``"customers"``, ...) to its table; the
    attributes ``customers``, ``transactions``, ... are the same tables.

    >>> ns = namespace(table_prefix="crm_")
    >>> ns.customers.name, ns.tables["customers"] is ns.customers, ns.schema_table.name
    ('crm_customers', True, 'crm_crmcore_schema')
    """

    def __init__(self, table_prefix: str = "", schema: str | None = None) -> None:
        table_prefix, schema = _check_prefix(table_prefix), _check_schema_name(schema)
        self.table_prefix = table_prefix
        """The prefix of every table, index and constraint name ("" by default)."""
        self.schema = schema
        """The schema the tables are in (None: the connection's default schema)."""
        md = sa.MetaData(schema=schema)
        _define(md, table_prefix)
        self.metadata = md
        """The :class:`sqlalchemy.MetaData` holding the namespace's tables."""
        self.tables: Mapping[str, sa.Table] = {t.info["base"]: t for t in md.sorted_tables}
        """Every table by its base name."""
        t = self.tables
        self.schema_table = t[STAMP]
        self.customers = t["customers"]
        self.interactions = t["interactions"]
        self.transactions = t["transactions"]
        self.opportunities = t["opportunities"]
        self.stage_changes = t["stage_changes"]
        self.field_changes = t["field_changes"]
        self.activities = t["activities"]
        self.surveys = t["surveys"]
        self.costs = t["costs"]
        self.documents = t["documents"]

    def __repr__(self) -> str:
        return f"Namespace(table_prefix={self.table_prefix!r}, schema={self.schema!r})"

    def where(self) -> str:
        """How messages name the namespace: ``'schema "crm"'``, ``'prefix "crm_"'`` or
        ``"the default namespace"``.

        >>> namespace(table_prefix="crm_", schema="app").where()
        'schema "app", prefix "crm_"'
        """
        parts = [f'schema "{self.schema}"'] if self.schema is not None else []
        if self.table_prefix:
            parts.append(f'prefix "{self.table_prefix}"')
        return ", ".join(parts) or "the default namespace"


def _check_prefix(value: object) -> str:
    if not isinstance(value, str) or (value and not _PREFIX.fullmatch(value)):
        raise ValidationError(
            "'table_prefix' must be lowercase ASCII letters, digits and '_', not starting with "
            f"a digit, at most 30 characters (it goes before every table and index name): {value!r}"
        )
    return value


def _check_schema_name(value: object) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not value.strip()
        or value != value.strip()
        or len(value) > 63
        or "\x00" in value
    ):
        raise ValidationError(
            "'schema' must be None or a schema name of 1 to 63 characters without surrounding "
            f"blanks or NUL: {value!r}"
        )
    return value


@functools.cache
def _namespace(table_prefix: str, schema: str | None) -> Namespace:
    return Namespace(table_prefix, schema)


def namespace(*, table_prefix: str = "", schema: str | None = None) -> Namespace:
    """The :class:`Namespace` of ``table_prefix`` and ``schema`` (checked; one object each: use
    this rather than the class, whose every instance has its own ``MetaData``).

    >>> namespace() is namespace(table_prefix="", schema=None)
    True
    >>> namespace(table_prefix="CRM-")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'table_prefix' must be lowercase ASCII letters, digits and '_', not starting with a digit, at most 30 characters (it goes before every table and index name): 'CRM-'
    """
    return _namespace(_check_prefix(table_prefix), _check_schema_name(schema))


def crmcore_metadata(*, table_prefix: str = "", schema: str | None = None) -> sa.MetaData:
    """crmcore's SQLAlchemy ``MetaData`` for a table prefix and a schema: what a host
    application's Alembic environment adds to its ``target_metadata`` so that autogenerate
    neither drops nor re-creates crmcore's tables (docs/repositories.md, *Embedding*).

    The same arguments return the same object; the tables are those that
    ``SqlUnitOfWork(table_prefix=..., schema=...)`` uses.

    >>> md = crmcore_metadata(table_prefix="crm_")
    >>> md is crmcore_metadata(table_prefix="crm_"), "crm_transactions" in md.tables
    (True, True)
    """
    return namespace(table_prefix=table_prefix, schema=schema).metadata


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
documents = DEFAULT.documents


def create_missing_indexes(
    conn: Connection, table: sa.Table, *, only: tuple[str, ...] | None = None
) -> list[str]:
    """Create the indexes of ``table`` that the database lacks (``CREATE INDEX``, one sort each);
    returns their names. ``only``: the base names (``info["base"]``) to consider.

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
    missing = [
        ix
        for ix in sorted(table.indexes, key=lambda ix: str(ix.name))
        if ix.name not in present and (only is None or ix.info.get("base") in only)
    ]
    if missing:
        with index_build_memory(conn):
            for index in missing:
                # IF NOT EXISTS on SQLite: a concurrent opener may have just made it
                conn.execute(
                    sa.schema.CreateIndex(index, if_not_exists=conn.dialect.name == "sqlite")
                )
    return [str(ix.name) for ix in missing]


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
    (None, 4, 4)
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
    partial namespace that the next open completes). The indexes of
    ``transactions`` that an interrupted bulk load left dropped are
    re-created (:func:`create_missing_indexes`).

    >>> import sqlalchemy as sa
    >>> with sa.create_engine("sqlite://").begin() as conn:
    ...     ensure_schema(conn), ensure_schema(conn, namespace(table_prefix="crm_"))
    (4, 4)
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
    while version < SCHEMA_VERSION:  # the steps first: new tables reference migrated ones
        step = MIGRATIONS.get(version)
        if step is None:  # pragma: no cover (every version below SCHEMA_VERSION has a step)
            raise RepositoryError(f"no migration from schema version {version}")
        step(conn, ns.tables)
        version += 1
        conn.execute(sa.update(stamp).where(stamp.c.name == "crmcore").values(version=version))
    ns.metadata.create_all(conn, checkfirst=True)
    create_missing_indexes(conn, ns.transactions)
    return version


assert set(ADDED_COLUMNS) | set(ADDED_TABLES) <= set(range(2, SCHEMA_VERSION + 1))
assert set(MIGRATIONS) == set(range(1, SCHEMA_VERSION))
