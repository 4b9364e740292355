"""The schema migrations: what each version added, and the step from each version to the next.

Each step takes a connection and the namespace's tables by base name
(``tables["stage_changes"]`` is ``<prefix>stage_changes`` in its schema) and
is idempotent: it looks at what is there and does only what is missing, so
a step interrupted on MariaDB/MySQL (whose DDL commits statement by
statement) completes on the next open.

>>> sorted(MIGRATIONS), ADDED_COLUMNS[4], ADDED_TABLES[5], DROPPED_INDEXES[6]
([1, 2, 3, 4, 5], {'stage_changes': ('funnel_version',)}, ('service_cases',), {'activities': {'activities_customer': ('customer_id',), 'activities_opportunity': ('opportunity_id',)}})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmcore.repositories.sql._tables import exact_collation, is_exact

__all__ = [
    "ADDED_COLUMNS",
    "ADDED_INDEXES",
    "ADDED_TABLES",
    "DROPPED_INDEXES",
    "MIGRATIONS",
    "Migration",
    "columns_at",
]

Tables = Mapping[str, sa.Table]
"""A namespace's tables by base name (``"customers"``, ...)."""

Migration = Callable[[Connection, Tables], None]
"""One step: moves the namespace's tables from one version to the next, in place."""

ADDED_COLUMNS: dict[int, dict[str, tuple[str, ...]]] = {
    3: {
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
    },
    4: {"stage_changes": ("funnel_version",)},
}
"""``version → {table base name: columns}``: the columns that version added to older tables."""

ADDED_TABLES: dict[int, tuple[str, ...]] = {3: ("field_changes",), 5: ("service_cases",)}
"""``version → table base names``: the tables that version added."""

ADDED_INDEXES: dict[int, dict[str, tuple[str, ...]]] = {
    6: {
        "activities": (
            "activities_customer_done",
            "activities_customer_due",
            "activities_opportunity_done",
        ),
        "interactions": ("interactions_opportunity_time",),
    },
}
"""``version → {table base name: index base names}``: the indexes that version added to
older tables (``ensure_schema`` creates every missing index after the steps)."""

DROPPED_INDEXES: dict[int, dict[str, dict[str, tuple[str, ...]]]] = {
    6: {
        "activities": {
            "activities_customer": ("customer_id",),
            "activities_opportunity": ("opportunity_id",),
        }
    },
}
"""``version → {table base name: {index base name: its columns}}``: the indexes that version
dropped (the step drops them; a test re-creates them to build the older schema)."""


def columns_at(table: sa.Table, version: int) -> set[str]:
    """The columns ``table`` (current definition) had at schema ``version``.

    >>> from crmcore.repositories.sql._tables import namespace
    >>> stage_changes = namespace().stage_changes
    >>> len(stage_changes.columns) - len(columns_at(stage_changes, 2))
    8
    """
    base = table.info.get("base", table.name)
    later = {c for v, added in ADDED_COLUMNS.items() if v > version for c in added.get(base, ())}
    return {c.name for c in table.columns} - later


def _present_columns(conn: Connection, table: sa.Table) -> set[str]:
    inspector = sa.inspect(conn)
    if not inspector.has_table(table.name, schema=table.schema):
        return set()
    return {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}


def _name(conn: Connection, table: sa.Table) -> str:
    """The quoted, schema-qualified name of ``table`` for a DDL string."""
    return str(conn.dialect.identifier_preparer.format_table(table))


def _add_columns(conn: Connection, table: sa.Table, names: tuple[str, ...]) -> None:
    """``ALTER TABLE ... ADD COLUMN`` (nullable) for each of ``names`` that is missing."""
    q = conn.dialect.identifier_preparer.quote
    present = _present_columns(conn, table)
    for col_name in names:
        if col_name not in present:
            kind = table.c[col_name].type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(
                f"ALTER TABLE {_name(conn, table)} ADD COLUMN {q(col_name)} {kind} NULL"
            )


def _longtext_on_mysql(conn: Connection, tables: Tables) -> None:
    """1 → 2: free-text columns become LONGTEXT on MariaDB/MySQL (nothing changes elsewhere)."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        return
    q = conn.dialect.identifier_preparer.quote
    for table in sorted(tables.values(), key=lambda t: t.name):
        present = _present_columns(conn, table)  # columns of later versions come with them
        for col in table.columns:
            if isinstance(col.type, sa.Text) and col.name in present:
                null = "NULL" if col.nullable else "NOT NULL"
                conn.exec_driver_sql(
                    f"ALTER TABLE {_name(conn, table)} MODIFY {q(col.name)} LONGTEXT {null}"
                )


def _event_history(conn: Connection, tables: Tables) -> None:
    """2 → 3: every change of an opportunity is an event (recording times, field changes).

    See :mod:`crmcore.repositories._events`. Adds the recording time, request id, forecast category and creation
    snapshot to ``stage_changes``, the forecast category and custom fields to
    ``opportunities`` (``field_changes`` is created with the other tables);
    fills the events' owner, customer, funnel and product from their
    opportunity where they were NULL (what reads fell back to before) and
    their recording time from their effective time (all that is known of
    older events); gives an opportunity stored without events its creation
    event; and sets each opportunity's version to its last event's number.
    """
    for base, columns in ADDED_COLUMNS[3].items():
        _add_columns(conn, tables[base], columns)
    stage_changes, opportunities = tables["stage_changes"], tables["opportunities"]
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


def _exact_ids_on_mysql(conn: Connection, tables: Tables) -> None:
    """MariaDB/MySQL: id and key columns to the binary NO PAD collation
    (:func:`~crmcore.repositories.sql.schema.exact_collation`), one ``ALTER TABLE`` per table
    that has a column in another collation (each rebuilds its table). The foreign keys to
    ``opportunities.id`` are dropped first and added back after (both ends of a foreign key
    must share the collation, and neither can change while it exists)."""
    wanted = exact_collation(conn.dialect)
    q = conn.dialect.identifier_preparer.quote
    stale: dict[str, list[sa.Column[Any]]] = {}
    for base, table in sorted(tables.items()):
        rows = conn.execute(
            sa.text(
                "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :name"
            ),
            {"schema": table.schema, "name": table.name},
        ).all()
        collation = {str(r[0]): r[1] for r in rows}
        cols = [
            c for c in table.columns if is_exact(c) and collation.get(c.name) not in (None, wanted)
        ]
        if cols:
            stale[base] = cols
    if not stale:
        return
    inspector = sa.inspect(conn)
    fks = [
        (table, fk)
        for table in tables.values()
        if inspector.has_table(table.name, schema=table.schema)
        for fk in table.foreign_key_constraints
    ]
    present_fks = {
        (t.name, fk["name"])
        for t, _ in fks
        for fk in inspector.get_foreign_keys(t.name, schema=t.schema)
    }
    # DDL text, not SQLAlchemy's AddConstraint / DropConstraint: those mark the shared
    # table's constraint as created apart, so later CREATE TABLEs would leave it out
    for table, fk in fks:
        if (table.name, fk.name) in present_fks:
            conn.exec_driver_sql(
                f"ALTER TABLE {_name(conn, table)} DROP FOREIGN KEY {q(str(fk.name))}"
            )
    for base, cols in stale.items():
        table = tables[base]
        parts = ", ".join(
            f"MODIFY {q(c.name)} {c.type.compile(dialect=conn.dialect)} "
            f"{'NULL' if c.nullable else 'NOT NULL'}"
            for c in cols
        )
        conn.exec_driver_sql(f"ALTER TABLE {_name(conn, table)} {parts}")
    for table, fk in fks:
        conn.exec_driver_sql(f"ALTER TABLE {_name(conn, table)} ADD {_fk_clause(conn, fk)}")


def _fk_clause(conn: Connection, fk: sa.ForeignKeyConstraint) -> str:
    """``CONSTRAINT name FOREIGN KEY (...) REFERENCES parent (...)`` of ``fk``."""
    q = conn.dialect.identifier_preparer.quote
    parent = fk.elements[0].column.table
    mine = ", ".join(q(c.name) for c in fk.columns)
    theirs = ", ".join(q(e.column.name) for e in fk.elements)
    return (
        f"CONSTRAINT {q(str(fk.name))} FOREIGN KEY ({mine}) "
        f"REFERENCES {_name(conn, parent)} ({theirs})"
    )


def _funnel_versions(conn: Connection, tables: Tables) -> None:
    """3 → 4: stage changes carry their funnel version; ids and keys match exactly on MariaDB.

    ``stage_changes.funnel_version`` is NULL for older events (read from their time); on
    MariaDB/MySQL ids and keys compare byte-wise without padding (``'c-1 '`` no longer finds
    ``'c-1'``: :func:`_exact_ids_on_mysql`)."""
    _add_columns(conn, tables["stage_changes"], ADDED_COLUMNS[4]["stage_changes"])
    if conn.dialect.name in ("mysql", "mariadb"):
        _exact_ids_on_mysql(conn, tables)


def _service_cases(conn: Connection, tables: Tables) -> None:
    """4 → 5: service cases (a new table, created with the other missing tables).

    Nothing of the older tables changes: ``ensure_schema`` creates the new table, its
    indexes and (on MariaDB/MySQL) its exact id collation after the steps, so this step
    has nothing to do and is idempotent."""
    del conn, tables


def index_name(table: sa.Table, base: str) -> str:
    """The name of the index ``base`` of ``table`` in its namespace (``ix_<prefix><base>``).

    >>> from crmcore.repositories.sql._tables import namespace
    >>> index_name(namespace(table_prefix="crm_").activities, "activities_customer")
    'ix_crm_activities_customer'
    """
    prefix = table.name[: len(table.name) - len(table.info.get("base", table.name))]
    return f"ix_{prefix}{base}"


def _drop_index(conn: Connection, table: sa.Table, name: str) -> None:
    """``DROP INDEX`` of ``table``'s index ``name`` when it is there (idempotent)."""
    present = {ix["name"] for ix in sa.inspect(conn).get_indexes(table.name, schema=table.schema)}
    if name not in present:
        return
    q = conn.dialect.identifier_preparer.quote
    if conn.dialect.name in ("mysql", "mariadb"):
        conn.exec_driver_sql(f"DROP INDEX {q(name)} ON {_name(conn, table)}")
    elif table.schema is not None:
        conn.exec_driver_sql(f"DROP INDEX {q(table.schema)}.{q(name)}")
    else:
        conn.exec_driver_sql(f"DROP INDEX {q(name)}")


def _activity_timeline_index(conn: Connection, tables: Tables) -> None:
    """5 → 6: activities get (customer, time) indexes for the customer's timeline.

    ``ix_activities_customer`` and ``ix_activities_opportunity`` are dropped;
    ``ensure_schema`` then creates ``ix_activities_customer_done`` and
    ``ix_activities_customer_due`` (customer, done and due time; they serve every lookup by
    customer too), ``ix_activities_opportunity_done`` and
    ``ix_interactions_opportunity_time`` (the columnar reads of the deals activities and
    interactions are about, ``read_columns``). Idempotent."""
    for base, dropped in DROPPED_INDEXES[6].items():
        for ix in sorted(dropped):
            _drop_index(conn, tables[base], index_name(tables[base], ix))


MIGRATIONS: dict[int, Migration] = {
    1: _longtext_on_mysql,
    2: _event_history,
    3: _funnel_versions,
    4: _service_cases,
    5: _activity_timeline_index,
}
"""``from_version → step``: each step moves a namespace from that version to the next.

A later release that changes the schema bumps ``SCHEMA_VERSION``, declares
what it adds in :data:`ADDED_COLUMNS` / :data:`ADDED_TABLES` and registers
``MIGRATIONS[old] = step``; ``ensure_schema`` runs the missing steps in
order inside the caller's transaction. Version 2 made free-text columns
LONGTEXT on MariaDB/MySQL; version 3 keeps every change of an opportunity as
an event (recording times, field changes, see :func:`_event_history`);
version 4 adds the funnel version of stage changes and the exact id
collation on MariaDB/MySQL (:func:`_funnel_versions`); version 5 adds the
service cases' table (:func:`_service_cases`); version 6 the activities' (customer,
time) indexes (:func:`_activity_timeline_index`).
"""
