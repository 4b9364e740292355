"""Schema 3 (issue 14: every change of an opportunity is an event) from every earlier version.

A database written by schema 2 (or 1) holds stage changes without recording times, owners
or funnels (reads fell back to the opportunity), and opportunities stored without any
event or saved without one. Opening it with this crmcore migrates it in place; then the
history reads as before and the service works on the old deals. SQLite files, and fresh
PostgreSQL and MariaDB databases (skipped when the servers are unreachable).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmcore.model import FieldChange, StageChange
from crmcore.pipeline import B2B, advance, edit, load_history, replay
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql import make_engine, schema

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


def _as_schema(conn: sa.Connection, version: int) -> None:
    """Turn a fresh schema-3 database into what schema ``version`` (1 or 2) created."""
    q = conn.dialect.identifier_preparer.quote
    conn.execute(sa.text(f"DROP TABLE {q('field_changes')}"))
    for table, columns in schema._V3_COLUMNS.items():
        for col in columns:
            conn.execute(sa.text(f"ALTER TABLE {q(table)} DROP COLUMN {q(col)}"))
    conn.execute(sa.update(schema.schema_table).values(version=version))


def _legacy_rows(conn: sa.Connection) -> None:
    """Deals as schema 2 stored them: events without owner, funnel or recording time."""
    o = sa.table(
        "opportunities",
        *(sa.column(c) for c in ("id", "customer_id", "owner_id", "funnel", "stage", "created_at",
                                 "amount_e6", "currency", "probability", "product", "lost_reason",
                                 "stage_entered_at", "closed_at", "kind", "version")),
    )  # fmt: skip
    s = sa.table(
        "stage_changes",
        *(sa.column(c) for c in ("opportunity_id", "sequence", "from_stage", "to_stage", "at",
                                 "by", "reason", "amount_e6", "currency", "probability")),
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


@pytest.mark.parametrize("version", [1, 2])
def test_an_old_database_is_migrated_and_its_deals_work(engine: sa.Engine, version: int) -> None:
    with engine.begin() as conn:
        schema.ensure_schema(conn)
        _as_schema(conn, version)
        _legacy_rows(conn)
    now = T + timedelta(days=400)
    uow = SqlUnitOfWork(engine, clock=lambda: now)
    with uow:  # the first unit of work migrates
        pass
    with engine.connect() as conn:
        assert conn.execute(sa.select(schema.schema_table.c.version)).scalar() == 3
        present = {c["name"] for c in sa.inspect(conn).get_columns("stage_changes")}
        assert set(schema._V3_COLUMNS["stage_changes"]) <= present
        assert sa.inspect(conn).has_table("field_changes")
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


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'twice.db'}")
    try:
        with engine.begin() as conn:
            schema.ensure_schema(conn)
            _as_schema(conn, 2)
            _legacy_rows(conn)
        with engine.begin() as conn:
            assert schema.ensure_schema(conn) == 3
            before = conn.execute(sa.text("SELECT * FROM stage_changes ORDER BY 1, 2")).all()
            schema._event_history(conn)  # the step again on a migrated database
            after = conn.execute(sa.text("SELECT * FROM stage_changes ORDER BY 1, 2")).all()
        assert before == after
    finally:
        engine.dispose()
