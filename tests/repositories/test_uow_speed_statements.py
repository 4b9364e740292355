"""What a saved move costs in statements, and that the fast path keeps every guarantee.

Issue 15: a move saved through the SQL unit of work cost 230x the hand-written
SQL. The hot path now runs prepared statements on the driver's cursor
(:mod:`crmcore.repositories.sql._prepared`); these tests pin what SQLite runs
for one move (its trace callback), that nothing is compiled, reflected or
set per transaction, and, on SQLite, PostgreSQL and MariaDB, that the update
is the one conditional statement setting only what changed, that a failed
event insert undoes the update, that a block goes on in a fresh transaction
after ``commit()``, and that concurrent movers lose no move. Speed itself is
measured by ``benchmarks/bench_repositories_uow.py`` (no timed tests).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from crmcore.errors import ConcurrencyError, DuplicateError, ValidationError
from crmcore.model import Customer, Opportunity, StageChange
from crmcore.repositories import SqlUnitOfWork, configure_sqlite_engine
from crmcore.repositories.sql import _prepared, schema

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
OTHER = {"a": "b", "b": "a"}

BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=BACKENDS)
def uow(request: pytest.FixtureRequest) -> SqlUnitOfWork:
    """An emptied unit of work on each SQL backend."""
    factory: Callable[[], SqlUnitOfWork] = request.getfixturevalue(f"{request.param}_factory")
    return factory()


@pytest.fixture
def sqlite_uow(tmp_path: Path) -> Iterator[SqlUnitOfWork]:
    u = SqlUnitOfWork.from_url(tmp_path / "crm.db")
    yield u
    u.close()


def _seed(uow: SqlUnitOfWork, n: int = 3) -> None:
    with uow:
        for i in range(n):
            uow.opportunities.add(
                Opportunity(
                    id=f"o-{i}",
                    customer_id="c-1",
                    owner_id="ann",
                    funnel="f",
                    stage="a",
                    created_at=T0,
                    probability=0.3,
                )
            )
        uow.commit()


def _move(uow: SqlUnitOfWork, opp_id: str, *, commit: bool = True) -> Opportunity:
    """One saved move: read by id, save moved with its event, commit."""
    with uow:
        o = uow.opportunities.get(opp_id)
        to = OTHER[o.stage]
        ev = StageChange(
            opportunity_id=o.id,
            sequence=o.version + 1,
            from_stage=o.stage,
            to_stage=to,
            at=T0,
            by="ann",
        )
        saved = uow.opportunities.save(attrs.evolve(o, stage=to, stage_entered_at=T0), [ev])
        if commit:
            uow.commit()
    return saved


@contextmanager
def sqlite_trace(engine: sa.Engine) -> Iterator[list[str]]:
    """Every statement SQLite runs on connections checked out meanwhile (BEGIN, COMMIT too)."""
    seen: list[str] = []

    def on(dbapi_conn: Any, *_: Any) -> None:
        dbapi_conn.set_trace_callback(seen.append)

    def off(dbapi_conn: Any, *_: Any) -> None:
        dbapi_conn.set_trace_callback(None)

    sa.event.listen(engine, "checkout", on)
    sa.event.listen(engine, "checkin", off)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "checkout", on)
        sa.event.remove(engine, "checkin", off)


@contextmanager
def cursor_events(engine: sa.Engine) -> Iterator[list[str]]:
    """The statements a ``before_cursor_execute`` listener sees (any backend)."""
    seen: list[str] = []

    def on(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", on)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", on)


def _verb(statement: str) -> str:
    words = statement.split()
    if words[0] in ("SAVEPOINT", "RELEASE"):
        return words[0]
    if words[0] == "SELECT":
        return "SELECT+TAIL" if "tail_stage_at" in statement else "SELECT"
    if words[0] == "UPDATE":
        return f"UPDATE {words[1]}"
    if words[0] == "INSERT":
        return f"INSERT {words[2]}"
    return words[0]


# -- SQLite: what the driver runs ---------------------------------------------------------------


def test_a_saved_move_runs_eight_statements_on_sqlite(sqlite_uow: SqlUnitOfWork) -> None:
    _seed(sqlite_uow)
    _move(sqlite_uow, "o-0")  # first use: statements compiled, connection made
    with sqlite_trace(sqlite_uow.engine) as seen:
        _move(sqlite_uow, "o-1")
    assert [_verb(s) for s in seen] == [
        "BEGIN",
        "SELECT",  # get()
        "SAVEPOINT",  # save(): a refused write undoes itself only
        "SELECT+TAIL",  # the stored row and its last event's times, one statement
        "UPDATE opportunities",
        "INSERT stage_changes",
        "RELEASE",
        "COMMIT",
    ], seen


def test_nothing_is_reflected_compiled_or_set_per_transaction(
    sqlite_uow: SqlUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(sqlite_uow)
    _move(sqlite_uow, "o-0")  # a -> b sets stage, stage_entered_at and version
    _move(sqlite_uow, "o-0")  # b -> a at the same time: stage and version
    made: list[str] = []
    real = _prepared._Compiled.__init__

    def counting(self: Any, *args: Any, **kw: Any) -> None:
        real(self, *args, **kw)
        made.append(self.sql)

    monkeypatch.setattr(_prepared._Compiled, "__init__", counting)
    with sqlite_trace(sqlite_uow.engine) as seen:
        for _ in range(5):
            _move(sqlite_uow, "o-1")
            _move(sqlite_uow, "o-0")
    assert made == []  # every statement was compiled by the first moves
    assert len(seen) == 10 * 8
    for s in seen:
        assert not s.startswith("PRAGMA"), s
        assert "sqlite_master" not in s and "crmcore_schema" not in s, s


def test_an_idle_block_runs_nothing(sqlite_uow: SqlUnitOfWork) -> None:
    _seed(sqlite_uow)
    with sqlite_trace(sqlite_uow.engine) as seen:
        with sqlite_uow:
            pass
        with sqlite_uow:
            sqlite_uow.commit()
            sqlite_uow.rollback()
    assert seen == []


def test_a_listener_sees_what_the_driver_runs(sqlite_uow: SqlUnitOfWork) -> None:
    """With a cursor listener (or echo) the same SQL goes through ``exec_driver_sql``."""
    _seed(sqlite_uow)
    _move(sqlite_uow, "o-0")
    with sqlite_trace(sqlite_uow.engine) as traced, cursor_events(sqlite_uow.engine) as heard:
        _move(sqlite_uow, "o-1")
    # the trace shows the parameters in place; COMMIT is the driver's commit(), no statement
    assert [_verb(s) for s in heard] == [_verb(s) for s in traced[:-1]]
    assert len(heard) == 7 and traced[-1] == "COMMIT"


def test_echo_takes_the_observed_path(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    u = SqlUnitOfWork.from_url(tmp_path / "crm.db", echo=True)
    try:
        _seed(u, 1)
        caplog.clear()
        with caplog.at_level("INFO", logger="sqlalchemy.engine"):
            _move(u, "o-0")
        logged = " ".join(r.getMessage() for r in caplog.records)
        assert "UPDATE opportunities SET" in logged and "INSERT INTO stage_changes" in logged
    finally:
        u.close()


def test_a_version_without_its_event_is_refused(sqlite_uow: SqlUnitOfWork) -> None:
    """The last event is read as the one numbered as the version; a database edited by hand so
    that none is falls back to the highest numbered event, and the save is refused as before."""
    _seed(sqlite_uow, 1)
    with sqlite_uow.engine.begin() as c:
        c.exec_driver_sql("UPDATE opportunities SET version = 5 WHERE id = 'o-0'")
    with sqlite_uow:
        o = sqlite_uow.opportunities.get("o-0")
        ev = StageChange(
            opportunity_id="o-0", sequence=6, from_stage="a", to_stage="b", at=T0, by="ann"
        )
        with pytest.raises(ValidationError, match="does not follow event 0"):
            sqlite_uow.opportunities.save(attrs.evolve(o, stage="b", stage_entered_at=T0), [ev])
        assert sqlite_uow.opportunities.get("o-0") == o


# -- every backend -------------------------------------------------------------------------------


def test_the_update_sets_only_what_changed_with_the_version_check(uow: SqlUnitOfWork) -> None:
    _seed(uow)
    _move(uow, "o-0")
    with cursor_events(uow.engine) as heard:
        saved = _move(uow, "o-1")
    verbs = [_verb(s) for s in heard if not s.startswith("BEGIN")]
    assert verbs == [
        "SELECT",
        "SAVEPOINT",
        "SELECT+TAIL",
        "UPDATE opportunities",
        "INSERT stage_changes",
        "RELEASE",
    ], heard
    (update,) = [s for s in heard if s.startswith("UPDATE")]
    set_part, where = update.split(" WHERE ")
    assert [p.split("=")[0].strip() for p in set_part.split(" SET ")[1].split(",")] == [
        "stage",
        "stage_entered_at",
        "version",
    ]
    assert "opportunities.id = " in where and "opportunities.version = " in where
    assert saved.version == 1
    with uow:
        assert uow.opportunities.get("o-1") == saved
        assert [e.to_stage for e in uow.opportunities.history("o-1")] == ["a", "b"]


def test_a_failed_event_insert_undoes_the_update(uow: SqlUnitOfWork) -> None:
    """A stray event numbered where the next one goes: the insert fails after the update
    succeeded, the savepoint undoes both, and the block goes on (PostgreSQL included)."""
    _seed(uow, 1)
    with uow.engine.begin() as c:
        c.execute(
            sa.insert(schema.stage_changes).values(
                opportunity_id="o-0", sequence=1, from_stage="a", to_stage="x", at=0, by="z"
            )
        )
    with uow:
        before = uow.opportunities.get("o-0")
        ev = StageChange(
            opportunity_id="o-0", sequence=1, from_stage="a", to_stage="b", at=T0, by="ann"
        )
        with pytest.raises(DuplicateError):
            uow.opportunities.save(attrs.evolve(before, stage="b", stage_entered_at=T0), [ev])
        assert uow.opportunities.get("o-0") == before
        uow.customers.add(Customer(id="c-1", name="Ada"))  # the block is intact
        uow.commit()
    with uow:
        assert uow.opportunities.get("o-0") == before
        assert uow.customers.get("c-1").name == "Ada"


def test_a_block_goes_on_in_a_fresh_transaction_after_commit(uow: SqlUnitOfWork) -> None:
    """The next transaction begins with the next statement: it sees what others committed
    in between (SQLite and MariaDB read from a snapshot within one transaction)."""
    _seed(uow, 1)
    other = SqlUnitOfWork(uow.engine)
    with uow:
        assert uow.opportunities.get("o-0").version == 0
        uow.commit()
        done = threading.Thread(target=_move, args=(other, "o-0"))
        done.start()
        done.join()
        assert uow.opportunities.get("o-0").version == 1
        saved = _move_in_block(uow, "o-0")
        uow.commit()
    assert saved.version == 2
    with uow:
        assert [e.sequence for e in uow.opportunities.events("o-0")] == [0, 1, 2]


def _move_in_block(uow: SqlUnitOfWork, opp_id: str) -> Opportunity:
    o = uow.opportunities.get(opp_id)
    to = OTHER[o.stage]
    ev = StageChange(
        opportunity_id=o.id, sequence=o.version + 1, from_stage=o.stage, to_stage=to, at=T0, by="x"
    )
    return uow.opportunities.save(attrs.evolve(o, stage=to, stage_entered_at=T0), [ev])


def test_concurrent_movers_lose_no_move(uow: SqlUnitOfWork) -> None:
    """Threads move one deal with retries: every saved move is stored once, in one chain."""
    _seed(uow, 1)
    threads, moves = 4, 5
    done: list[int] = []

    def mover() -> None:
        ok = 0
        for _ in range(10_000):
            if ok == moves:
                break
            try:
                _move(uow, "o-0")
                ok += 1
            except ConcurrencyError:
                pass
        done.append(ok)

    workers = [threading.Thread(target=mover) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sum(done) == threads * moves
    with uow:
        o = uow.opportunities.get("o-0")
        events = uow.opportunities.events("o-0")
    assert o.version == threads * moves
    assert [e.sequence for e in events] == list(range(threads * moves + 1))
    for prev, ev in itertools.pairwise(events):
        assert isinstance(ev, StageChange) and isinstance(prev, StageChange)
        assert ev.from_stage == prev.to_stage
    assert o.stage == events[-1].to_stage


def test_a_joined_connection_gets_a_savepoint_only_when_used(tmp_path: Path) -> None:
    engine = configure_sqlite_engine(sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}"))
    with engine.connect() as conn:
        app_tx = conn.begin()
        u = SqlUnitOfWork(connection=conn)
        with u:
            pass  # tables made inside the application's transaction
        with cursor_events(engine) as heard, u:
            pass
        assert not [s for s in heard if "SAVEPOINT" in s]
        _seed(u, 1)
        _move(u, "o-0")
        with u:
            assert u.opportunities.get("o-0").version == 1
        app_tx.rollback()
        with u:
            assert u.opportunities.find("o-0") is None
        conn.rollback()
    engine.dispose()


def test_reads_by_id_and_the_customer_update_are_prepared(
    sqlite_uow: SqlUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One statement each, compiled once: the issue's "one select by id" on every kind."""
    from crmcore.model import Interaction, Money, Transaction

    with sqlite_uow:
        sqlite_uow.customers.add(Customer(id="c-1", name="Ada"))
        sqlite_uow.interactions.add(
            Interaction(
                id="i-1", customer_id="c-1", channel="phone", direction="inbound", occurred_at=T0
            )
        )
        sqlite_uow.transactions.add(
            Transaction(id="t-1", customer_id="c-1", occurred_at=T0, amount=Money("5", "EUR"))
        )
        sqlite_uow.commit()

    def once() -> None:
        with sqlite_uow:
            c = sqlite_uow.customers.get("c-1")
            sqlite_uow.customers.update(c.with_changes(segment=f"v{c.version + 1}"))
            sqlite_uow.interactions.get("i-1")
            sqlite_uow.transactions.get("t-1")
            sqlite_uow.commit()

    once()
    made: list[str] = []
    real = _prepared._Compiled.__init__

    def counting(self: Any, *args: Any, **kw: Any) -> None:
        real(self, *args, **kw)
        made.append(self.sql)

    monkeypatch.setattr(_prepared._Compiled, "__init__", counting)
    with sqlite_trace(sqlite_uow.engine) as seen:
        once()
    assert made == []
    assert [s.split()[0] for s in seen] == [
        "BEGIN",
        "SELECT",
        "SAVEPOINT",
        "UPDATE",
        "RELEASE",
        "SELECT",
        "SELECT",
        "COMMIT",
    ]
    with sqlite_uow:
        assert sqlite_uow.customers.get("c-1").segment == "v2"
