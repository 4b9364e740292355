"""Benchmark: one saved move of an opportunity through the SQL unit of work vs hand-written SQL.

The round trip that issue 15 measured: in one transaction, read an
opportunity by id, save it moved to another stage with its stage-change
event (optimistic concurrency: ``UPDATE ... WHERE id = ? AND version = ?``),
commit. Three ways, on the same SQLite file (WAL, ``synchronous=NORMAL``,
the pragmas :func:`crmcore.repositories.configure_sqlite_engine` sets), each
on its own 1,000 seeded opportunities that bounce between two stages:

* ``sqlite3 (hand-written)``: the stdlib driver, the least SQL that does the
  work: ``BEGIN``; ``SELECT`` the row by id; ``UPDATE`` its stage, stage
  time and version where the version is the one read (one row changed, or
  stop); ``INSERT`` the event row; ``COMMIT``. Parameters are plain tuples,
  nothing is validated;
* ``crmcore repository round trip``: ``with uow:`` ``get``, the moved
  opportunity and its ``StageChange`` built with their validated
  constructors, ``save(moved, [event])``, ``commit()`` -- what an
  application using the repositories writes;
* ``crmcore advance()``: :func:`crmcore.pipeline.service.advance` in a
  ``with uow:`` block with ``commit()`` (the funnel's rules, the caller's
  ``expected_version``, the event continuing the stored ones).

Times are CPU seconds of this process (SQLite runs in-process, so they
include its work; the machine is shared, and wall time is printed beside
them). Rounds alternate the three ways and the best round of each is
reported with the median; the ratio is crmcore / sqlite3 of the best rounds.
Target (issue 15): the repository round trip within 10x of the sqlite3 one.
The statements of each round trip are those SQLite runs (its trace
callback: ``BEGIN`` and ``COMMIT`` included), counted in an untimed pass.

Run: .venv/bin/python benchmarks/bench_repositories_uow.py [--moves N] [--rounds R] [--show-sql]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import sqlalchemy as sa

from crmcore.model import Opportunity, StageChange
from crmcore.pipeline import Funnel, Stage
from crmcore.pipeline.service import advance
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql._engine import BUSY_TIMEOUT_MS, CACHE_KIB

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
MICROS = int((T0 - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000
N_OPPS = 1000
OTHER = {"a": "b", "b": "a"}
FUNNEL = Funnel(
    name="bounce",
    stages=(Stage("a", probability=0.3), Stage("b", probability=0.6), Stage("won", kind="won")),
    transitions=(("a", "b"), ("b", "a"), ("b", "won")),
)


def seed(uow: SqlUnitOfWork, prefix: str) -> None:
    with uow:
        for i in range(N_OPPS):
            uow.opportunities.add(
                Opportunity(
                    id=f"{prefix}-{i:05d}",
                    customer_id=f"c-{i % 97}",
                    owner_id="ann",
                    funnel="bounce",
                    stage="a",
                    created_at=T0,
                )
            )
        uow.commit()


# --- the hand-written SQL ------------------------------------------------------------------

SELECT = "SELECT * FROM opportunities WHERE id = ?"
UPDATE = (
    "UPDATE opportunities SET stage = ?, stage_entered_at = ?, version = ? "
    "WHERE id = ? AND version = ?"
)
INSERT = (
    "INSERT INTO stage_changes (opportunity_id, sequence, from_stage, to_stage, at, by, reason, "
    "amount_e6, currency, probability, customer_id, owner_id, funnel, product, recorded_at, "
    "request_id, forecast_category, expected_close, parent_id, deal_kind, custom) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def raw_connection(path: pathlib.Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
        "PRAGMA foreign_keys = ON",
        f"PRAGMA cache_size = -{CACHE_KIB}",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
    ):
        db.execute(pragma)
    return db


def raw_move(db: sqlite3.Connection, opp_id: str) -> None:
    db.execute("BEGIN")
    row = db.execute(SELECT, (opp_id,)).fetchone()
    # columns: id, customer_id, owner_id, funnel, stage, ..., version (16)
    stage, version = row[4], row[16]
    to = OTHER[stage]
    cur = db.execute(UPDATE, (to, MICROS, version + 1, opp_id, version))
    if cur.rowcount != 1:
        raise RuntimeError("stale")
    db.execute(
        INSERT,
        (
            opp_id,
            version + 1,
            stage,
            to,
            MICROS,
            "ann",
            None,
            None,
            None,
            None,
            row[1],
            row[2],
            row[3],
            None,
            MICROS,
            None,
            None,
            None,
            None,
            None,
            None,
        ),
    )
    db.execute("COMMIT")


# --- crmcore -------------------------------------------------------------------------------


def crm_move(uow: SqlUnitOfWork, opp_id: str) -> None:
    with uow:
        o = uow.opportunities.get(opp_id)
        to = OTHER[o.stage]
        event = StageChange(
            opportunity_id=o.id,
            sequence=o.version + 1,
            from_stage=o.stage,
            to_stage=to,
            at=T0,
            by="ann",
        )
        uow.opportunities.save(attrs.evolve(o, stage=to, stage_entered_at=T0), [event])
        uow.commit()


def crm_advance(uow: SqlUnitOfWork, opp_id: str, versions: dict[str, int]) -> None:
    with uow:
        v = versions[opp_id]
        to = "b" if v % 2 == 0 else "a"
        r = advance(uow, opp_id, to, expected_version=v, funnel=FUNNEL, by="ann", at=T0)
        uow.commit()
    versions[opp_id] = r.opportunity.version


# --- timing --------------------------------------------------------------------------------


def timed(fn: Callable[[int], None], n: int) -> tuple[float, float]:
    """(CPU, wall) seconds per call of ``fn(i)`` for i in range(n)."""
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.process_time() - c0) / n, (time.perf_counter() - w0) / n


def count_statements(engine: sa.Engine, fn: Callable[[], None]) -> tuple[int, list[str]]:
    """How many statements SQLite runs for ``fn()`` (its trace callback: BEGIN and COMMIT too)."""
    seen: list[str] = []

    def checkout(dbapi_conn: Any, *_: Any) -> None:
        dbapi_conn.set_trace_callback(seen.append)

    sa.event.listen(engine, "checkout", checkout)
    try:
        fn()
    finally:
        sa.event.remove(engine, "checkout", checkout)
        with engine.connect() as c:  # the pool hands out the traced connection first
            dbapi_conn = c.connection.dbapi_connection
            assert dbapi_conn is not None
            dbapi_conn.set_trace_callback(None)
    return len(seen), seen


def raw_statements(db: sqlite3.Connection, fn: Callable[[], None]) -> int:
    seen: list[str] = []
    db.set_trace_callback(seen.append)
    try:
        fn()
    finally:
        db.set_trace_callback(None)
    return len(seen)


def read_by_id(
    uow: SqlUnitOfWork,
    db: sqlite3.Connection,
    raw_id: Callable[[int], str],
    crm_id: Callable[[int], str],
    rounds: int,
    n: int,
) -> dict[str, float]:
    """Best CPU per read of one opportunity by id, each way inside one open transaction."""
    best = {"sqlite3 (hand-written)": float("inf"), "crmcore opportunities.get": float("inf")}
    for _ in range(rounds):
        db.execute("BEGIN")
        c, _w = timed(lambda i: db.execute(SELECT, (raw_id(i),)).fetchone(), n)
        db.execute("COMMIT")
        best["sqlite3 (hand-written)"] = min(best["sqlite3 (hand-written)"], c)
        with uow:
            c, _w = timed(lambda i: uow.opportunities.get(crm_id(i)), n)
        best["crmcore opportunities.get"] = min(best["crmcore opportunities.get"], c)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=1000, help="moves per round and way")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--show-sql", action="store_true", help="print the statements SQLite ran")
    args = ap.parse_args()
    path = pathlib.Path(tempfile.mkdtemp()) / "crm.db"
    uow = SqlUnitOfWork.from_url(path)
    for prefix in ("raw", "crm", "adv"):
        seed(uow, prefix)
    db = raw_connection(path)
    versions = {f"adv-{i:05d}": 0 for i in range(N_OPPS)}

    def ids(prefix: str) -> Callable[[int], str]:
        return lambda i: f"{prefix}-{i % N_OPPS:05d}"

    raw_id, crm_id, adv_id = ids("raw"), ids("crm"), ids("adv")
    ways: dict[str, Callable[[int], None]] = {
        "sqlite3 (hand-written)": lambda i: raw_move(db, raw_id(i)),
        "crmcore repository round trip": lambda i: crm_move(uow, crm_id(i)),
        "crmcore advance()": lambda i: crm_advance(uow, adv_id(i), versions),
    }
    cpu: dict[str, list[float]] = {k: [] for k in ways}
    wall: dict[str, list[float]] = {k: [] for k in ways}
    for fn in ways.values():  # warm up (caches, compiled statements)
        timed(fn, 50)
    offset = 50
    for _ in range(args.rounds):
        for name, fn in ways.items():
            c, w = timed(lambda i, fn=fn, at=offset: fn(at + i), args.moves)
            cpu[name].append(c)
            wall[name].append(w)
        offset += args.moves
    n_raw = raw_statements(db, lambda: raw_move(db, raw_id(offset)))
    n_crm, crm_sql = count_statements(uow.engine, lambda: crm_move(uow, crm_id(offset)))
    n_adv, adv_sql = count_statements(
        uow.engine, lambda: crm_advance(uow, adv_id(offset), versions)
    )
    load = os.getloadavg()[0]
    print(
        f"one saved move on an SQLite file ({args.rounds} rounds x {args.moves} moves, "
        f"load average {load:.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
    )
    statements = {
        "sqlite3 (hand-written)": n_raw,
        "crmcore repository round trip": n_crm,
        "crmcore advance()": n_adv,
    }
    base = min(cpu["sqlite3 (hand-written)"])
    for name in ways:
        best, med = min(cpu[name]), statistics.median(cpu[name])
        print(
            f"  {name:32s} {best * 1e6:8.1f} us CPU (median {med * 1e6:7.1f}, "
            f"wall {min(wall[name]) * 1e6:7.1f})  {statements[name]:2d} statements  "
            f"{best / base:6.1f}x"
        )
    ratio = min(cpu["crmcore repository round trip"]) / base
    print(f"repository round trip / sqlite3: {ratio:.1f}x (target <= 10x)")
    reads = read_by_id(uow, db, raw_id, crm_id, args.rounds, args.moves)
    print("one read by id inside an open transaction (the row as a tuple / as an Opportunity)")
    for name, best in reads.items():
        print(
            f"  {name:32s} {best * 1e6:8.1f} us CPU  {best / reads['sqlite3 (hand-written)']:6.1f}x"
        )
    if args.show_sql:
        for name, sql in (("repository round trip", crm_sql), ("advance()", adv_sql)):
            print(f"statements of the {name}:")
            for s in sql:
                print("   ", " ".join(s.split())[:110])
    uow.close()
    db.close()


if __name__ == "__main__":
    main()
