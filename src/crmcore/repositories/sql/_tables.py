"""crmcore's tables, defined once for any namespace (a table-name prefix and a schema).

:func:`namespace` builds (once per prefix and schema) the SQLAlchemy tables
of crmcore with every table, index and constraint name prefixed, in the
schema given; :mod:`crmcore.repositories.sql.schema` is the public face
(the default namespace's tables, the version, opening and migrating).

>>> namespace(table_prefix="crm_").transactions.name
'crm_transactions'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.ext.compiler import compiles

from crmcore.errors import ValidationError
from crmcore.model._storable import KEY_LENGTH, MAX_ID_LENGTH
from crmcore.options import expect_instance

__all__ = ["STAMP", "Namespace", "crmcore_metadata", "exact_collation", "is_exact", "namespace"]

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
        ix("interactions_opportunity_time", "opportunity_id", "occurred_at"),
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
        # the customer's timeline: a (customer, time) range scan on either time column
        ix("activities_customer_done", "customer_id", "done_at"),
        ix("activities_customer_due", "customer_id", "due_at"),
        ix("activities_opportunity_done", "opportunity_id", "done_at"),
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
        "service_cases",
        sa.Column("id", _id(), primary_key=True),
        sa.Column("customer_id", _id(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("opened_at", _time(), nullable=False),
        sa.Column("category", _key(), nullable=False),
        sa.Column("owner_id", _id(), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("resolved_at", _time()),
        sa.Column("satisfaction", sa.SmallInteger),
        sa.Column("sla_due_at", _time()),
        sa.Column("subject", _text()),
        sa.Column("resolution", _text()),
        ix("service_cases_customer_time", "customer_id", "opened_at"),
        ix("service_cases_time", "opened_at"),
        ix("service_cases_owner_time", "owner_id", "opened_at"),
        ix("service_cases_category_time", "category", "opened_at"),
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
        self.service_cases = t["service_cases"]
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


def is_exact(column: sa.Column[Any]) -> bool:
    """Whether ``column`` is an id or key column (compared byte-wise, no padding).

    >>> is_exact(namespace().customers.c.id), is_exact(namespace().customers.c.name)
    (True, False)
    """
    return isinstance(column.type, _Exact)
