"""The first page of one customer's timeline among millions of stored rows, on an SQLite file.

Builds (once; reused while ``--db`` holds the same sizes) an SQLite file with ``--rows``
stored rows (default 10,000,000): one customer with ``--events`` timeline events (default
10,000: 40 % interactions, 40 % transactions, 10 % surveys, 10 % activities), the rest
transactions of 1,000,000 other customers, bulk-loaded with ``add_log`` in chunks of
1,000,000 (seeded). Then times, CPU per call, best and median of ``--repeat`` rounds:

* ``customer_timeline(uow, customer, limit=50)``: the first page (crmcore);
* the same reads written by hand on the stdlib ``sqlite3`` driver (one
  ``SELECT * ... WHERE customer_id = ? ORDER BY time, id LIMIT 51`` per table, rows as
  tuples merged in Python, no objects): the floor;
* a page deep in the history (after the cursor of the 5,000th event);

prints the ratio crmcore / floor, and the query plan of every SQL statement the first
page runs (``EXPLAIN QUERY PLAN``), which must be an index search on the customer
(``SEARCH ... USING INDEX ... (customer_id=?)``), never a table scan.

Run: ``.venv/bin/python benchmarks/bench_relationship_timeline.py [--rows N] [--events N]
[--db PATH] [--repeat R]``
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from crmcore.model import Activity, Customer, Interaction, SurveyResponse
from crmcore.relationship import customer_timeline, iter_timeline
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql import make_engine
from crmcore.tables import TransactionLog

TARGET = "c-target"
CHUNK = 1_000_000
OTHERS = 1_000_000
T0 = datetime(2015, 1, 1, tzinfo=UTC)
SPAN_S = 10 * 365 * 86_400


def _log(n: int, seed: int, first_id: int, customers: np.ndarray[Any, Any]) -> TransactionLog:
    rng = np.random.default_rng(seed)
    offsets = rng.integers(0, SPAN_S, n).astype("timedelta64[s]")
    return TransactionLog.from_arrays(
        customer_ids=customers,
        timestamps=np.datetime64("2015-01-01T00:00:00", "us") + offsets,
        amounts=rng.integers(100, 50_000, n) / 100,
        kinds=np.zeros(n, dtype=np.int8),
        quantities=np.ones(n, dtype=np.int64),
        currency="EUR",
        ids=np.char.add("t-", np.arange(first_id, first_id + n).astype(str)).astype(object),
    )


def build(path: Path, rows: int, events: int) -> None:
    """The file: the target customer's events and ``rows - events`` other transactions."""
    n_int, n_tx = int(events * 0.4), int(events * 0.4)
    n_srv = int(events * 0.1)
    n_act = events - n_int - n_tx - n_srv
    rng = np.random.default_rng(11)

    def when(k: int) -> list[datetime]:
        return [T0 + timedelta(seconds=int(s)) for s in rng.integers(0, SPAN_S, k)]

    engine = make_engine(f"sqlite:///{path}")
    uow = SqlUnitOfWork(engine)
    t0 = time.perf_counter()
    with uow:
        uow.customers.add(Customer(id=TARGET, name="Target"))
        chans = ["phone", "email", "web", "meeting", "sms"]
        uow.interactions.add_many(
            Interaction(id=f"i-{k}", customer_id=TARGET, channel=chans[k % 5],
                        direction="inbound" if k % 3 else "outbound", occurred_at=at)
            for k, at in enumerate(when(n_int))
        )  # fmt: skip
        uow.surveys.add_many(
            SurveyResponse(id=f"s-{k}", customer_id=TARGET, responded_at=at, nps=k % 11)
            for k, at in enumerate(when(n_srv))
        )
        uow.activities.add_many(
            Activity(id=f"a-{k}", kind="call", rep_id="rep-1", customer_id=TARGET,
                     status="done", done_at=at)
            for k, at in enumerate(when(n_act))
        )  # fmt: skip
        uow.transactions.add_log(_log(n_tx, 5, 0, np.full(n_tx, TARGET, dtype=object)))
        uow.commit()
    done, chunk = n_tx, 0
    others = rows - events
    while others > 0:
        n = min(CHUNK, others)
        ids = np.char.add("c-", np.random.default_rng(chunk).integers(0, OTHERS, n).astype(str))
        with uow:
            uow.transactions.add_log(_log(n, 100 + chunk, done, ids.astype(object)))
            uow.commit()
        done += n
        others -= n
        chunk += 1
        print(f"  built {done + n_int + n_srv + n_act:,} rows ({time.perf_counter() - t0:.0f} s)")
    engine.dispose()


def counts(path: Path) -> tuple[int, int]:
    """(stored rows of the four timeline tables, events of the target customer)."""
    con = sqlite3.connect(path)
    try:
        tables = ("interactions", "transactions", "surveys", "activities")
        total = sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)
        mine = sum(
            con.execute(f"SELECT count(*) FROM {t} WHERE customer_id = ?", (TARGET,)).fetchone()[0]
            for t in tables
        )
        return total, mine
    except sqlite3.OperationalError:
        return 0, 0
    finally:
        con.close()


_FLOOR = (
    ("interactions", "occurred_at"),
    ("transactions", "occurred_at"),
    ("surveys", "responded_at"),
    ("activities", "coalesce(done_at, due_at)"),
)


def floor_page(con: sqlite3.Connection, limit: int) -> list[tuple[int, str, str]]:
    """The first page written by hand: one ordered, limited select per table, merged."""
    out: list[tuple[int, str, str]] = []
    for table, col in _FLOOR:
        rows = con.execute(
            f"SELECT {col} AS t, * FROM {table} WHERE customer_id = ? ORDER BY t, id LIMIT ?",
            (TARGET, limit + 1),
        ).fetchall()
        out.extend((r[0], table, r[1]) for r in rows)
    out.sort()
    return out[:limit]


def timed(fn: Any, repeat: int) -> tuple[float, float]:
    """Best and median CPU seconds of ``repeat`` calls (CPU: robust on a loaded machine)."""
    cpu = []
    for _ in range(repeat):
        c0 = time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
    return min(cpu), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="stored rows in all")
    parser.add_argument("--events", type=int, default=10_000, help="the customer's events")
    parser.add_argument("--db", type=Path, default=Path("/tmp/crmcore-bench-timeline.db"))
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--limit", type=int, default=50, help="page size")
    args = parser.parse_args()
    total, mine = counts(args.db)
    if (total, mine) != (args.rows, args.events):
        args.db.unlink(missing_ok=True)
        print(f"building {args.db}: {args.rows:,} rows, {args.events:,} of them the customer's")
        t0 = time.perf_counter()
        build(args.db, args.rows, args.events)
        print(f"  built in {time.perf_counter() - t0:.0f} s")
        total, mine = counts(args.db)
    print(f"{args.db}: {total:,} stored rows, {mine:,} events of {TARGET!r}")

    engine = make_engine(f"sqlite:///{args.db}")
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, stmt: str, params: Any, context: Any, many: bool) -> None:
        statements.append((stmt, params))

    uow = SqlUnitOfWork(engine)
    with uow:
        page = customer_timeline(uow, TARGET, limit=args.limit)  # warm the caches
        sa.event.listen(engine, "before_cursor_execute", capture)
        page = customer_timeline(uow, TARGET, limit=args.limit)
        sa.event.remove(engine, "before_cursor_execute", capture)
        best, median = timed(lambda: customer_timeline(uow, TARGET, limit=args.limit), args.repeat)
        deep = None
        for k, e in enumerate(iter_timeline(uow, TARGET, page_size=1000)):
            if k == args.events // 2:
                deep = e.cursor
                break
        d_best, d_med = timed(
            lambda: customer_timeline(uow, TARGET, cursor=deep, limit=args.limit), args.repeat
        )
        first_page = statements[:]
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", capture)
        customer_timeline(uow, TARGET, cursor=deep, limit=args.limit)
        sa.event.remove(engine, "before_cursor_execute", capture)
        deep_page = statements[:]
    con = sqlite3.connect(args.db)
    want = [(e.kind, e.id) for e in page.events]
    got = floor_page(con, args.limit)
    kinds = {"interactions": "interaction", "transactions": "transaction", "surveys": "survey",
             "activities": "activity"}  # fmt: skip
    assert [(kinds[t], i) for _, t, i in got] == want, "the floor and crmcore disagree"
    f_best, f_med = timed(lambda: floor_page(con, args.limit), args.repeat)

    print(f"\nfirst page of {args.limit} events, CPU per call over {args.repeat} rounds:")
    print(
        f"  crmcore customer_timeline        best {best * 1e3:7.2f} ms  median {median * 1e3:7.2f} ms"
    )
    print(
        f"  hand-written sqlite3 (floor)     best {f_best * 1e3:7.2f} ms  median {f_med * 1e3:7.2f} ms"
    )
    print(
        f"  page after the {args.events // 2:,}th event   best {d_best * 1e3:7.2f} ms  median {d_med * 1e3:7.2f} ms"
    )
    print(f"  crmcore / floor: {best / f_best:.1f}x (best), {median / f_med:.1f}x (median); "
          f"target < 20 ms: {'met' if median < 0.020 else 'NOT met'}")  # fmt: skip

    for title, run in (("the first page", first_page), ("the page after a cursor", deep_page)):
        print(f"\nquery plans of {title}'s statements:")
        for stmt, params in run:
            text = " ".join(stmt.split())
            if not text.upper().startswith("SELECT"):
                continue
            plan = con.execute("EXPLAIN QUERY PLAN " + stmt, params).fetchall()
            print(f"  {text[:60]}... WHERE {text.partition(' WHERE ')[2][:80]}")
            for row in plan:
                print(f"      {row[-1]}")
    con.close()
    engine.dispose()


if __name__ == "__main__":
    main()
