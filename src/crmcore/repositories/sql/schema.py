"""The SQL schema (SQLAlchemy Core tables), its version and the migration hook.

Encodings: timestamps are BIGINT microseconds since the Unix epoch (UTC);
money is BIGINT ``amount_e6`` (the amount times 10**6, exact to 6 decimal
places) plus a ``currency`` column; enums are their string value, except the
transaction kind, stored as its small int code (``TransactionKind.code``).
A customer's nested value parts (contact points, address, tags,
relationships, consent, birthday) are one JSON text column ``profile``; the
queried parts are real, indexed columns.

Identifiers compare and sort by code point on every server: ``COLLATE "C"``
on PostgreSQL, ``utf8mb4_bin`` tables on MariaDB/MySQL.

>>> sorted(metadata.tables)[:3]
['activities', 'costs', 'crmcore_schema']
>>> SCHEMA_VERSION
3
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Connection

from crmcore.errors import RepositoryError
from crmcore.model._storable import KEY_LENGTH, MAX_ID_LENGTH
from crmcore.options import expect_instance

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "activities",
    "costs",
    "create_missing_indexes",
    "customers",
    "documents",
    "ensure_schema",
    "field_changes",
    "index_build_memory",
    "interactions",
    "metadata",
    "opportunities",
    "schema_table",
    "stage_changes",
    "surveys",
    "transactions",
]

SCHEMA_VERSION = 3
"""The schema version this release writes (see :data:`MIGRATIONS` for what each changed)."""

metadata = sa.MetaData()
_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def _id() -> sa.types.TypeEngine[str]:
    n = MAX_ID_LENGTH
    return sa.String(n).with_variant(postgresql.VARCHAR(n, collation="C"), "postgresql")


def _key() -> sa.types.TypeEngine[str]:
    n = KEY_LENGTH
    return sa.String(n).with_variant(postgresql.VARCHAR(n, collation="C"), "postgresql")


def _text() -> sa.types.TypeEngine[str]:
    """Free text: LONGTEXT on MariaDB/MySQL (whose TEXT holds only 64 KiB, so that a long
    comment or a large document would pass the other backends and fail there), TEXT elsewhere."""
    return sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def _time() -> sa.types.TypeEngine[int]:
    return sa.BigInteger()


schema_table = sa.Table(
    "crmcore_schema",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    **_MYSQL,
)

customers = sa.Table(
    "customers",
    metadata,
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
    sa.Index("ix_customers_owner", "owner_id"),
    sa.Index("ix_customers_segment", "segment"),
    sa.Index("ix_customers_acquired", "acquired_at"),
    sa.Index("ix_customers_external_key", "external_key"),
    **_MYSQL,
)

interactions = sa.Table(
    "interactions",
    metadata,
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
    sa.Index("ix_interactions_customer_time", "customer_id", "occurred_at"),
    sa.Index("ix_interactions_time", "occurred_at"),
    sa.Index("ix_interactions_rep_time", "rep_id", "occurred_at"),
    sa.Index("ix_interactions_channel_time", "channel", "occurred_at"),
    **_MYSQL,
)

transactions = sa.Table(
    "transactions",
    metadata,
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
    sa.Index(
        "ix_transactions_customer_time",
        "customer_id",
        "occurred_at",
        "amount_e6",
        "kind",
        "quantity",
        "currency",
    ),
    sa.Index("ix_transactions_time", "occurred_at"),
    sa.Index("ix_transactions_external_ref", "external_ref"),
    **_MYSQL,
)

opportunities = sa.Table(
    "opportunities",
    metadata,
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
    sa.Index("ix_opportunities_owner", "owner_id", "closed_at"),
    sa.Index("ix_opportunities_customer", "customer_id"),
    sa.Index("ix_opportunities_funnel_stage", "funnel", "stage"),
    **_MYSQL,
)

stage_changes = sa.Table(
    "stage_changes",
    metadata,
    sa.Column(
        "opportunity_id",
        _id(),
        sa.ForeignKey("opportunities.id", name="fk_stage_changes_opportunity"),
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
    sa.Index("ix_stage_changes_at", "at"),
    sa.Index("ix_stage_changes_owner_at", "owner_id", "at"),
    **_MYSQL,
)

field_changes = sa.Table(
    "field_changes",
    metadata,
    sa.Column(
        "opportunity_id",
        _id(),
        sa.ForeignKey("opportunities.id", name="fk_field_changes_opportunity"),
        primary_key=True,
    ),
    sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("field", _key(), nullable=False),
    sa.Column("old", _text()),  # JSON of the value (crmcore.model.opportunity.encode_field_value)
    sa.Column("new", _text()),
    sa.Column("at", _time(), nullable=False),
    sa.Column("recorded_at", _time(), nullable=False),
    sa.Column("by", _id(), nullable=False),
    sa.Column("reason", _text()),
    sa.Column("request_id", _id()),
    sa.Index("ix_field_changes_field_at", "field", "at"),
    **_MYSQL,
)

activities = sa.Table(
    "activities",
    metadata,
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
    sa.Index("ix_activities_rep_due", "rep_id", "due_at"),
    sa.Index("ix_activities_rep_done", "rep_id", "done_at"),
    sa.Index("ix_activities_due", "due_at"),
    sa.Index("ix_activities_done", "done_at"),
    sa.Index("ix_activities_customer", "customer_id"),
    sa.Index("ix_activities_opportunity", "opportunity_id"),
    **_MYSQL,
)

surveys = sa.Table(
    "surveys",
    metadata,
    sa.Column("id", _id(), primary_key=True),
    sa.Column("customer_id", _id(), nullable=False),
    sa.Column("responded_at", _time(), nullable=False),
    sa.Column("csat", sa.SmallInteger),
    sa.Column("nps", sa.SmallInteger),
    sa.Column("comment", _text()),
    sa.Column("survey", _key()),
    sa.Column("channel", _text()),
    sa.Index("ix_surveys_customer_time", "customer_id", "responded_at"),
    sa.Index("ix_surveys_time", "responded_at"),
    sa.Index("ix_surveys_survey_time", "survey", "responded_at"),
    **_MYSQL,
)

costs = sa.Table(
    "costs",
    metadata,
    sa.Column("id", _id(), primary_key=True),
    sa.Column("customer_id", _id(), nullable=False),
    sa.Column("incurred_at", _time(), nullable=False),
    sa.Column("amount_e6", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("category", _key(), nullable=False),
    sa.Column("channel", _text()),
    sa.Column("note", _text()),
    sa.Index("ix_costs_customer_time", "customer_id", "incurred_at"),
    sa.Index("ix_costs_time", "incurred_at"),
    sa.Index("ix_costs_category_time", "category", "incurred_at"),
    **_MYSQL,
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("kind", _key(), primary_key=True),
    sa.Column("key", _key(), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("body", _text(), nullable=False),
    **_MYSQL,
)

Migration = Callable[[Connection], None]


def _present_columns(conn: Connection, table: sa.Table) -> set[str]:
    inspector = sa.inspect(conn)
    if not inspector.has_table(table.name):
        return set()
    return {c["name"] for c in inspector.get_columns(table.name)}


def _longtext_on_mysql(conn: Connection) -> None:
    """1 → 2: free-text columns become LONGTEXT on MariaDB/MySQL (nothing changes elsewhere)."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        return
    q = conn.dialect.identifier_preparer.quote
    for table in metadata.sorted_tables:
        present = _present_columns(conn, table)  # columns of later versions come with them
        for col in table.columns:
            if isinstance(col.type, sa.Text) and col.name in present:
                null = "NULL" if col.nullable else "NOT NULL"
                conn.exec_driver_sql(
                    f"ALTER TABLE {q(table.name)} MODIFY {q(col.name)} LONGTEXT {null}"
                )


_V3_COLUMNS = {
    "opportunities": ("forecast_category", "custom"),
    "stage_changes": (
        "recorded_at",
        "request_id",
        "forecast_category",
        "expected_close",
        "parent_id",
        "deal_kind",
        "custom",
    ),
}


def _event_history(conn: Connection) -> None:
    """2 → 3: every change of an opportunity is an event (:mod:`crmcore.repositories._events`).

    Adds the recording time, request id, forecast category and creation
    snapshot to ``stage_changes``, the forecast category and custom fields to
    ``opportunities`` (``field_changes`` is created with the other tables);
    fills the events' owner, customer, funnel and product from their
    opportunity where they were NULL (what reads fell back to before) and
    their recording time from their effective time (all that is known of
    older events); gives an opportunity stored without events its creation
    event; and sets each opportunity's version to its last event's number.
    """
    q = conn.dialect.identifier_preparer.quote
    for name, columns in _V3_COLUMNS.items():
        table = metadata.tables[name]
        present = _present_columns(conn, table)
        for col_name in columns:
            if col_name not in present:
                col = table.c[col_name]
                kind = col.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {q(name)} ADD COLUMN {q(col_name)} {kind} NULL")
    s, o = stage_changes.c, opportunities.c
    made = {  # the creation event of an opportunity stored without one: what it holds
        "opportunity_id": o.id,
        "sequence": sa.literal(0),
        "from_stage": sa.null(),
        "to_stage": o.stage,
        "at": o.created_at,
        "by": o.owner_id,
        "amount_e6": o.amount_e6,
        "currency": o.currency,
        "probability": o.probability,
    }
    conn.execute(
        sa.insert(stage_changes).from_select(
            list(made),
            sa.select(*made.values()).where(~sa.exists().where(s.opportunity_id == o.id)),
        )
    )
    for name in ("owner_id", "customer_id", "funnel", "product"):
        conn.execute(
            sa.update(stage_changes)
            .where(s[name].is_(None))
            .values({name: sa.select(o[name]).where(o.id == s.opportunity_id).scalar_subquery()})
        )
    conn.execute(sa.update(stage_changes).where(s.recorded_at.is_(None)).values(recorded_at=s.at))
    creation = {
        "expected_close": o.expected_close,
        "parent_id": o.parent_id,
        "deal_kind": o.kind,
    }
    conn.execute(
        sa.update(stage_changes)
        .where(s.sequence == 0)
        .values(
            {
                k: sa.select(col).where(o.id == s.opportunity_id).scalar_subquery()
                for k, col in creation.items()
            }
        )
    )
    last = sa.select(sa.func.max(s.sequence)).where(s.opportunity_id == o.id).scalar_subquery()
    conn.execute(sa.update(opportunities).values(version=last))


MIGRATIONS: dict[int, Migration] = {1: _longtext_on_mysql, 2: _event_history}
"""``from_version → step``: each step moves a database from that version to the next.

A later release that changes the schema bumps :data:`SCHEMA_VERSION` and
registers ``MIGRATIONS[old] = upgrade_function``; :func:`ensure_schema` runs
the missing steps in order inside the caller's transaction. Version 2 made
free-text columns LONGTEXT on MariaDB/MySQL; version 3 keeps every change of
an opportunity as an event (recording times, field changes, see
:func:`_event_history`).
"""


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
    present = {ix["name"] for ix in sa.inspect(conn).get_indexes(table.name)}
    missing = [
        ix for ix in sorted(table.indexes, key=lambda ix: str(ix.name)) if ix.name not in present
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


def ensure_schema(conn: Connection) -> int:
    """Create the tables on first use, or migrate an older schema; returns the version.

    A database written by a newer crmcore (higher version) raises RepositoryError.
    The indexes of ``transactions`` that an interrupted bulk load left dropped
    are re-created (:func:`create_missing_indexes`).

    >>> import sqlalchemy as sa
    >>> with sa.create_engine("sqlite://").begin() as conn:
    ...     ensure_schema(conn)
    3
    """
    expect_instance(conn, Connection, name="conn", what="an SQLAlchemy Connection")
    metadata.create_all(conn, checkfirst=True)
    create_missing_indexes(conn, transactions)
    row = conn.execute(
        sa.select(schema_table.c.version).where(schema_table.c.name == "crmcore")
    ).first()
    if row is None:
        conn.execute(sa.insert(schema_table).values(name="crmcore", version=SCHEMA_VERSION))
        return SCHEMA_VERSION
    version = int(row[0])
    if version > SCHEMA_VERSION:
        raise RepositoryError(
            f"the database schema is version {version}, newer than this crmcore "
            f"understands ({SCHEMA_VERSION}): upgrade crmcore"
        )
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise RepositoryError(f"no migration from schema version {version}")
        step(conn)
        version += 1
        conn.execute(
            sa.update(schema_table).where(schema_table.c.name == "crmcore").values(version=version)
        )
    return version
