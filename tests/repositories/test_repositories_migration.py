"""The current schema from every earlier version (1, 2 and 3), in the default namespace and in
a prefixed or schema namespace.

A database written by schema 2 (or 1) holds stage changes without recording times, owners
or funnels (reads fell back to the opportunity), and opportunities stored without any
event or saved without one. Opening it with this crmcore migrates it in place; then the
history reads as before and the service works on the old deals. Schema 3 lacks the funnel
version of stage changes and, on MariaDB, compared ids with a padding collation
(``'c-1 '`` found ``'c-1'``). SQLite files, and fresh PostgreSQL and MariaDB databases
(skipped when the servers are unreachable).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
import sqlalchemy as sa

from crmcore.model import Customer, FieldChange, StageChange
from crmcore.pipeline import B2B, advance, create_opportunity, edit, load_history, replay
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql import make_engine, schema
from crmcore.repositories.sql._migrations import _fk_clause, index_name

from .conftest import _server_database

T = datetime(2023, 3, 1, 9, tzinfo=UTC)
US = 1_000_000


def _micros(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * US)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield e
        e.dispose()
        return
    gen = _server_database(request.param)
    e = make_engine(next(gen))
    try:
        yield e
    finally:
        e.dispose()
        next(gen, None)


def _padding_ids_on_mysql(conn: sa.Connection, ns: schema.Namespace) -> None:
    """MariaDB: id and key columns back to ``utf8mb4_bin`` (PAD SPACE), as schema 3 made them."""
    if conn.dialect.name != "mysql":
        return
    prep = conn.dialect.identifier_preparer
    inspector = sa.inspect(conn)
    tables = [t for t in ns.tables.values() if inspector.has_table(t.name, schema=t.schema)]
    fks = [(t, fk) for t in tables for fk in t.foreign_key_constraints]
    for t, fk in fks:  # as text: SQLAlchemy's Add/DropConstraint change the shared metadata
        conn.exec_driver_sql(f"ALTER TABLE {prep.format_table(t)} DROP FOREIGN KEY {fk.name}")
    for table in tables:
        parts = [
            f"MODIFY {prep.quote(c.name)} VARCHAR({c.type.length}) CHARACTER SET utf8mb4 "  # type: ignore[attr-defined]
            f"COLLATE utf8mb4_bin {'NULL' if c.nullable else 'NOT NULL'}"
            for c in table.columns
            if type(c.type).__name__ == "_Exact"
        ]
        if parts:
            conn.exec_driver_sql(f"ALTER TABLE {prep.format_table(table)} {', '.join(parts)}")
    for t, fk in fks:
        conn.exec_driver_sql(f"ALTER TABLE {prep.format_table(t)} ADD {_fk_clause(conn, fk)}")


def _as_schema(conn: sa.Connection, version: int, ns: schema.Namespace = schema.DEFAULT) -> None:
    """Turn a fresh database of the current schema into what schema ``version`` created."""
    prep = conn.dialect.identifier_preparer
    _padding_ids_on_mysql(conn, ns)
    for v in range(schema.SCHEMA_VERSION, version, -1):
        for base, names in schema.ADDED_INDEXES.get(v, {}).items():
            table = ns.tables[base]
            for ix in names:
                name = prep.quote(index_name(table, ix))
                if conn.dialect.name in ("mysql", "mariadb"):
                    conn.execute(sa.text(f"DROP INDEX {name} ON {prep.format_table(table)}"))
                elif table.schema is not None:
                    conn.execute(sa.text(f"DROP INDEX {prep.quote(table.schema)}.{name}"))
                else:
                    conn.execute(sa.text(f"DROP INDEX {name}"))
        for base, dropped in schema.DROPPED_INDEXES.get(v, {}).items():
            table = ns.tables[base]
            for ix, cols in dropped.items():
                conn.execute(
                    sa.text(
                        f"CREATE INDEX {prep.quote(index_name(table, ix))} ON "
                        f"{prep.format_table(table)} ({', '.join(map(prep.quote, cols))})"
                    )
                )
        for base in schema.ADDED_TABLES.get(v, ()):
            conn.execute(sa.text(f"DROP TABLE {prep.format_table(ns.tables[base])}"))
        for base, columns in schema.ADDED_COLUMNS.get(v, {}).items():
            for col in columns:
                conn.execute(
                    sa.text(
                        f"ALTER TABLE {prep.format_table(ns.tables[base])} DROP COLUMN {prep.quote(col)}"
                    )
                )
    conn.execute(sa.update(ns.schema_table).values(version=version))


def _legacy_rows(conn: sa.Connection, ns: schema.Namespace = schema.DEFAULT) -> None:
    """Deals as schema 2 stored them: events without owner, funnel or recording time."""
    o = sa.table(
        ns.opportunities.name,
        *(sa.column(c) for c in ("id", "customer_id", "owner_id", "funnel", "stage", "created_at",
                                 "amount_e6", "currency", "probability", "product", "lost_reason",
                                 "stage_entered_at", "closed_at", "kind", "version")),
        schema=ns.schema,
    )  # fmt: skip
    s = sa.table(
        ns.stage_changes.name,
        *(sa.column(c) for c in ("opportunity_id", "sequence", "from_stage", "to_stage", "at",
                                 "by", "reason", "amount_e6", "currency", "probability")),
        schema=ns.schema,
    )  # fmt: skip
    t0, t1 = _micros(T), _micros(T + timedelta(days=10))
    conn.execute(
        sa.insert(o),
        [
            # lost for price, with its two events (no owner, funnel or recording time on them)
            {"id": "old-1", "customer_id": "c-1", "owner_id": "ann", "funnel": "b2b", "stage": "lost",
                 "created_at": t0, "amount_e6": 5_000_000_000, "currency": "EUR", "probability": 0.0,
                 "product": "crm", "lost_reason": "price", "stage_entered_at": t1, "closed_at": t1,
                 "kind": "new", "version": 3},  # saved once more without an event: version 3
            # stored without any event (add() with no creation event)
            {"id": "old-2", "customer_id": "c-2", "owner_id": "bob", "funnel": "b2b", "stage": "lead",
                 "created_at": t0, "amount_e6": None, "currency": None, "probability": 0.05, "product": None,
                 "lost_reason": None, "stage_entered_at": t0, "closed_at": None, "kind": "new", "version": 0},
        ],
    )  # fmt: skip
    conn.execute(
        sa.insert(s),
        [
            {"opportunity_id": "old-1", "sequence": 0, "from_stage": None, "to_stage": "lead", "at": t0,
                 "by": "ann", "reason": None, "amount_e6": 5_000_000_000, "currency": "EUR", "probability": 0.05},
            {"opportunity_id": "old-1", "sequence": 1, "from_stage": "lead", "to_stage": "lost", "at": t1,
                 "by": "ann", "reason": "price", "amount_e6": 5_000_000_000, "currency": "EUR",
                 "probability": 0.0},
        ],
    )  # fmt: skip


def _namespace(engine: sa.Engine, own: bool) -> schema.Namespace:
    """The default namespace, or one of crmcore's own: a schema on PostgreSQL, a prefix elsewhere."""
    if not own:
        return schema.DEFAULT
    if engine.dialect.name == "postgresql":
        return schema.namespace(schema="crm")
    return schema.namespace(table_prefix="crm_")


def _open(engine: sa.Engine, ns: schema.Namespace, **kwargs: object) -> SqlUnitOfWork:
    return SqlUnitOfWork(engine, table_prefix=ns.table_prefix, schema=ns.schema, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("own", [False, True], ids=["default", "namespaced"])
@pytest.mark.parametrize("version", [1, 2])
def test_an_old_database_is_migrated_and_its_deals_work(
    engine: sa.Engine, version: int, own: bool
) -> None:
    ns = _namespace(engine, own)
    with engine.begin() as conn:
        schema.ensure_schema(conn, ns)
        _as_schema(conn, version, ns)
        _legacy_rows(conn, ns)
    now = T + timedelta(days=400)
    uow = _open(engine, ns, clock=lambda: now)
    with uow:  # the first unit of work migrates
        pass
    with engine.connect() as conn:
        assert conn.execute(sa.select(ns.schema_table.c.version)).scalar() == schema.SCHEMA_VERSION
        inspector = sa.inspect(conn)
        present = {
            c["name"] for c in inspector.get_columns(ns.stage_changes.name, schema=ns.schema)
        }
        assert {c.name for c in ns.stage_changes.columns} == present
        assert inspector.has_table(ns.field_changes.name, schema=ns.schema)
        if own:  # nothing of crmcore's outside its namespace
            assert not inspector.has_table("opportunities")
    with uow:
        old1, old2 = uow.opportunities.get("old-1"), uow.opportunities.get("old-2")
        ev1, ev2 = uow.opportunities.events("old-1"), uow.opportunities.events("old-2")
        # the versions are the numbers of the last events; the events carry what reads need
        assert (old1.version, old2.version) == (1, 0)
        assert [(e.sequence, e.owner_id, e.funnel, e.customer_id, e.product) for e in ev1] == [
            (0, "ann", "b2b", "c-1", "crm"),
            (1, "ann", "b2b", "c-1", "crm"),
        ]
        assert all(isinstance(e, StageChange) and e.recorded_at == e.at for e in ev1)
        assert [(e.sequence, e.from_stage, e.to_stage, e.at, e.by) for e in ev2] == [  # type: ignore[union-attr]
            (0, None, "lead", T, "bob")
        ]
        assert (ev1[0].deal_kind, ev1[1].deal_kind) == ("new", None)  # type: ignore[union-attr]
        assert replay(ev1, funnel=B2B) == old1 and replay(ev2, funnel=B2B) == old2
        fh = load_history(uow, B2B)
        assert fh.owner_ids[fh.owner].tolist() == ["ann", "bob"]
        # the service works on the old deals
        advance(uow, "old-2", "qualified", expected_version=0, funnel=B2B, by="bob", at=now)
        edit(uow, "old-2", expected_version=1, changes={"owner_id": "cho"}, funnel=B2B,
             by="boss", at=now)  # fmt: skip
        uow.commit()
    with uow:
        last = uow.opportunities.events("old-2")[-1]
        assert isinstance(last, FieldChange) and (last.sequence, last.new) == (2, "cho")
        assert uow.opportunities.get("old-2").version == 2


@pytest.mark.parametrize("own", [False, True], ids=["default", "namespaced"])
def test_a_version_3_database_is_migrated(engine: sa.Engine, own: bool) -> None:
    """3 -> 4: the funnel version column is added (NULL on older events) and, on MariaDB, the
    ids stop matching with trailing spaces; the data stays."""
    ns = _namespace(engine, own)
    now = T + timedelta(days=2)
    writer = make_engine(engine.url)  # its own engine: the other one has not seen the schema yet
    uow = _open(writer, ns, clock=lambda: now)
    with uow:
        create_opportunity(uow, B2B, id="c-1", customer_id="c-1", owner_id="ann", at=T)
        advance(uow, "c-1", "qualified", expected_version=0, funnel=B2B, by="ann", at=T)
        uow.customers.add(Customer(id="c-1", name="Ann"))
        uow.commit()
    with uow:
        before = uow.opportunities.events("c-1")
    writer.dispose()
    with engine.begin() as conn:
        _as_schema(conn, 3, ns)
    with engine.connect() as conn:  # the padding collation of schema 3 (MariaDB)
        padded = conn.execute(
            sa.select(sa.func.count()).where(ns.customers.c.id == "c-1 ")
        ).scalar()
        assert padded == (1 if engine.dialect.name == "mysql" else 0)
    migrated = _open(engine, ns)
    with migrated:  # the events written under version 1 of the funnel: not known before 4
        assert [e.funnel_version for e in before if isinstance(e, StageChange)] == [1, 1]
        assert migrated.opportunities.events("c-1") == [
            attrs.evolve(e, funnel_version=None) if isinstance(e, StageChange) else e
            for e in before
        ]
        assert migrated.customers.find("c-1 ") is None
        assert migrated.opportunities.find("c-1 ") is None
        assert migrated.customers.get("c-1").name == "Ann"
    with engine.connect() as conn:
        assert conn.execute(sa.select(ns.schema_table.c.version)).scalar() == schema.SCHEMA_VERSION
        if engine.dialect.name == "mysql":
            collations = conn.execute(
                sa.text(
                    "SELECT DISTINCT COLLATION_NAME FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t AND COLUMN_NAME "
                    "IN ('id', 'customer_id', 'owner_id', 'segment', 'external_key')"
                ),
                {"t": ns.customers.name},
            ).all()
            assert collations == [("utf8mb4_nopad_bin",)]


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'twice.db'}")
    try:
        with engine.begin() as conn:
            schema.ensure_schema(conn)
            _as_schema(conn, 2)
            _legacy_rows(conn)
        with engine.begin() as conn:
            assert schema.ensure_schema(conn) == schema.SCHEMA_VERSION
            names = [t.name for t in schema.metadata.sorted_tables]
            before = {
                n: conn.execute(sa.text(f"SELECT * FROM {n} ORDER BY 1, 2")).all() for n in names
            }
            for step in schema.MIGRATIONS.values():  # every step again on a migrated database
                step(conn, schema.DEFAULT.tables)
            after = {
                n: conn.execute(sa.text(f"SELECT * FROM {n} ORDER BY 1, 2")).all() for n in names
            }
        assert before == after
    finally:
        engine.dispose()
