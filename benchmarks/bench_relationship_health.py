"""CRM health over many interactions: the health arithmetic vs a pandas group-by floor, and
``crm_health`` end to end on an SQLite file.

Two measurements:

1. **Columns**: the health computation of ``crm_health``
   (``crmcore.relationship._health_core.compute_health``: adoption per rep and team, last
   touch and freshness per customer, field completeness per source, duplicates and consent
   per source, monthly trends) over columns of N interactions, 1,000,000 customers and
   2,000 reps, against the pandas floor of the same core figures (logged per rep, customers
   touched per owner, last touch per customer, logged, active reps and customers touched
   per month: ``groupby`` / ``drop_duplicates``).
2. **End to end** (the target: 10,000,000 interactions in < 10 s): ``crm_health(uow, ...)``
   on an SQLite file (``--db``, built once with bulk inserts and reused while it holds
   ``--rows`` interactions): 100,000 customers (500 reps), ``--rows`` interactions over
   15 months, 1,000,000 activities (80 % done), 3,000 opportunities. The touches come from
   the columnar reads (``read_columns``: (customer, time), (rep, time) and the linked
   deals, each a scan of one index); the phases are printed in CPU seconds. The floor: the
   same touches read with the stdlib ``sqlite3`` driver (``SELECT customer_id, rep_id,
   occurred_at``) into pandas and the group-bys of (1).

    .venv/bin/python benchmarks/bench_relationship_health.py                 # N = 10,000,000
    .venv/bin/python benchmarks/bench_relationship_health.py -n 2000000 --rows 1000000 \
        --db /tmp/crmcore-bench-health-1m.db
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from crmcore.model import Consent, ContactPoint, Customer, Money, Opportunity
from crmcore.relationship import CUSTOMER_FIELDS_CHECKED, crm_health
from crmcore.relationship._health import read_health_columns
from crmcore.relationship._health_core import HealthColumns, compute_health
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql import make_engine

START, END = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
US = 1_000_000


def columns(n: int, customers: int, reps: int, seed: int = 3) -> HealthColumns:
    rng = np.random.default_rng(seed)
    lo = int(START.timestamp()) * US
    span = int((END - START).total_seconds()) * US
    f = len(CUSTOMER_FIELDS_CHECKED)
    return HealthColumns(
        reps=tuple(f"rep-{i}" for i in range(reps)),
        sources=("web", "fair", "referral", "(unknown)"),
        owner=rng.integers(-1, reps, customers),
        source=rng.integers(0, 4, customers),
        acquired=lo - rng.integers(0, 5 * 365 * 86_400, customers) * US,
        consent=rng.random(customers) < 0.7,
        duplicate=rng.random(customers) < 0.02,
        filled=rng.random((customers, f)) < 0.8,
        applies=np.ones((customers, f), dtype=bool),
        touch_customer=rng.integers(-1, customers, n),
        touch_time=lo - span // 4 + rng.integers(0, span + span // 4, n),
        touch_rep=rng.integers(-1, reps, n),
        rep_touch_time=lo - span // 4 + rng.integers(0, span + span // 4, n),
        won_owner=rng.integers(0, reps, 50_000),
        won_time=lo + rng.integers(0, span, 50_000),
        won_amount=rng.random(50_000) * 1000,
        won_represented=rng.random(50_000) < 0.6,
        funnels=("deals",),
        opp_funnel=np.zeros(100_000, dtype=np.int64),
        opp_filled=rng.random((100_000, 4)) < 0.9,
        opp_updated=lo + rng.integers(0, span, (100_000, 4)),
    )


def pandas_floor(c: HealthColumns) -> None:
    lo = int(START.timestamp()) * US
    hi = int(END.timestamp()) * US
    t = pd.DataFrame({"c": c.touch_customer, "r": c.touch_rep, "t": c.touch_time})
    before = t[t.t < hi]
    last = before[before.c >= 0].groupby("c")["t"].max()  # freshness
    p = before[before.t >= lo]
    logged = p[p.r >= 0].groupby("r").size()
    touched = pd.Series(False, index=range(len(c.owner)))
    touched[p.c[p.c >= 0].unique()] = True
    cust = pd.DataFrame({"owner": c.owner, "touched": touched.values})
    per_owner = cust[cust.owner >= 0].groupby("owner")["touched"].agg(["size", "sum"])
    month = pd.to_datetime(p.t, unit="us").dt.to_period("M")
    by_month = p.assign(m=month)
    monthly_logged = by_month[by_month.r >= 0].groupby("m").size()
    active = by_month[by_month.r >= 0].drop_duplicates(["m", "r"]).groupby("m").size()
    monthly_touched = by_month[by_month.c >= 0].drop_duplicates(["m", "c"]).groupby("m").size()
    _ = (last, logged, per_owner, monthly_logged, active, monthly_touched)


CHUNK = 1_000_000


def build(path: Path, n: int, customers: int, reps: int, activities: int, opps: int) -> None:
    """The file: customers and deals through a unit of work, interactions and activities
    by bulk inserts with the indexes dropped, then re-created by the next open (seeded)."""
    rng = np.random.default_rng(7)
    engine = make_engine(f"sqlite:///{path}")
    uow = SqlUnitOfWork(engine)
    t0 = time.perf_counter()
    with uow:
        uow.customers.add_many(
            Customer(
                id=f"c-{i}",
                name=f"Name {i}",
                owner_id=f"rep-{i % reps}",
                acquisition_channel=("web", "fair", "referral")[i % 3],
                acquired_at=START - timedelta(days=int(i % 1500)),
                consent=Consent(contact=bool(i % 3)),
                contact_points=(ContactPoint("email", f"x{i}@example.com"),),
            )
            for i in range(customers)
        )
        for k in range(opps):
            created = START + timedelta(days=k % 300)
            won = k % 3 == 0
            uow.opportunities.add(
                Opportunity(
                    id=f"o-{k}",
                    customer_id=f"c-{k % customers}",
                    owner_id=f"rep-{k % reps}",
                    funnel="deals",
                    stage="won" if won else "lead",
                    created_at=created,
                    amount=Money(1000 + k, "EUR"),
                    closed_at=created if won else None,
                )
            )
        uow.commit()
    print(f"  customers and opportunities in {time.perf_counter() - t0:.0f} s")
    engine.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-262144")
    dropped = [
        r[0]
        for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name IN ('interactions','activities') AND sql IS NOT NULL"
        )
    ]
    for name in dropped:
        con.execute(f"DROP INDEX {name}")
    lo = int(START.timestamp()) * US
    span = int((END - START).total_seconds()) * US
    chans = np.array(["phone", "email", "web", "meeting", "sms"], dtype=object)
    done = 0
    while done < n:
        m = min(CHUNK, n - done)
        cust = rng.integers(0, customers, m)
        rep = rng.integers(-reps // 10, reps, m)  # some interactions without a rep
        t = lo - span // 4 + rng.integers(0, span + span // 4, m)
        ch = chans[rng.integers(0, 5, m)]
        opp = rng.integers(0, opps * 50, m)
        rows = zip(
            (f"i-{k}" for k in range(done, done + m)),
            (f"c-{c}" for c in cust.tolist()),
            ch.tolist(),
            ("outbound" if k % 2 else "inbound" for k in range(m)),
            t.tolist(),
            (f"rep-{r}" if r >= 0 else None for r in rep.tolist()),
            (f"o-{o}" if o < opps else None for o in opp.tolist()),
            strict=False,
        )
        con.executemany(
            "INSERT INTO interactions (id, customer_id, channel, direction, occurred_at, rep_id, opportunity_id) VALUES (?,?,?,?,?,?,?)",
            rows,
        )
        con.commit()
        done += m
        print(f"  {done:,} interactions ({time.perf_counter() - t0:.0f} s)")
    cust = rng.integers(0, customers, activities)
    t = lo - span // 4 + rng.integers(0, span + span // 4, activities)
    st = rng.random(activities) < 0.8
    rows = zip(
        (f"a-{k}" for k in range(activities)),
        ("call" for _ in range(activities)),
        (f"rep-{k % reps}" for k in range(activities)),
        (f"c-{c}" for c in cust.tolist()),
        (None for _ in range(activities)),
        ("done" if s else "planned" for s in st.tolist()),
        (None if s else x for s, x in zip(st.tolist(), t.tolist(), strict=False)),
        (x if s else None for s, x in zip(st.tolist(), t.tolist(), strict=False)),
        strict=False,
    )
    con.executemany(
        "INSERT INTO activities (id, kind, rep_id, customer_id, opportunity_id, status, due_at, done_at) VALUES (?,?,?,?,?,?,?,?)",
        rows,
    )
    con.commit()
    con.close()
    print(f"  rows in {time.perf_counter() - t0:.0f} s; indexes...")
    engine = make_engine(f"sqlite:///{path}")
    with SqlUnitOfWork(engine):  # the first open re-creates the missing indexes
        pass
    engine.dispose()
    con = sqlite3.connect(path)
    con.execute("ANALYZE")
    con.close()
    print(f"  built in {time.perf_counter() - t0:.0f} s")


def stored(path: Path) -> int:
    """How many interactions the file holds (0: no file or no table)."""
    try:
        con = sqlite3.connect(path)
        try:
            return int(con.execute("SELECT count(*) FROM interactions").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


def sqlite_floor(path: Path) -> float:
    """CPU seconds of the floor: the touches read with sqlite3 into pandas, grouped."""
    c0 = time.process_time()
    hi = int(END.timestamp()) * US
    con = sqlite3.connect(path)
    t = pd.DataFrame(
        con.execute(
            "SELECT customer_id, rep_id, occurred_at FROM interactions WHERE occurred_at < ?",
            (hi,),
        ).fetchall(),
        columns=["c", "r", "t"],
    )
    con.close()
    lo = int(START.timestamp()) * US
    _ = t.groupby("c")["t"].max()
    p = t[t.t >= lo]
    _ = p.groupby("r").size()
    month = pd.to_datetime(p.t, unit="us").dt.to_period("M")
    by_month = p.assign(m=month)
    _ = by_month.drop_duplicates(["m", "r"]).groupby("m").size()
    _ = by_month.drop_duplicates(["m", "c"]).groupby("m").size()
    return time.process_time() - c0


def end_to_end(path: Path, rows: int, repeat: int) -> None:
    """``crm_health`` on the SQLite file: its phases, then best CPU and wall of ``repeat``."""
    if stored(path) != rows:
        path.unlink(missing_ok=True)
        print(f"building {path}: {rows:,} interactions (bulk inserts)")
        build(path, rows, 100_000, 500, 1_000_000, 3_000)
    engine = make_engine(f"sqlite:///{path}")
    uow = SqlUnitOfWork(engine)
    with uow:  # the first open checks (and migrates) the schema: not timed
        pass
    reps = {f"rep-{i}": f"t{i % 20}" for i in range(500)}
    with uow:
        phases: dict[str, float] = {}
        cols, cur = read_health_columns(
            uow, end=END, won_stages=frozenset({"won"}), min_score=0.8, phases=phases
        )
        c0 = time.process_time()
        compute_health(cols, start=START, end=END, teams=reps, currency=cur)
        phases["compute"] = time.process_time() - c0
    print(f"{path}: {rows:,} interactions, 1,000,000 activities, 100,000 customers")
    print("  phases (CPU s): " + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        with uow:
            h = crm_health(uow, start=START, end=END, teams=reps)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    floor = sqlite_floor(path)
    best = min(cpu)
    print(
        f"crm_health end to end: best {best:.2f} s CPU, {min(wall):.2f} s wall of {repeat} "
        f"({int(h.adoption.logged[-1]):,} logged in the period, {len(h.adoption)} adoption rows)"
    )
    print(f"floor (sqlite3 + pandas group-bys of the interactions alone): {floor:.2f} s CPU")
    print(
        f"ratio crmcore / floor: {best / floor:.2f}x; target < 10 s: "
        f"{'met' if best < 10 else 'NOT met'} (CPU; wall {'met' if min(wall) < 10 else 'NOT met'})"
    )
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000_000, help="interactions (columns)")
    ap.add_argument("--rows", type=int, default=10_000_000, help="interactions (SQLite file)")
    ap.add_argument("--db", type=Path, default=Path("/tmp/crmcore-bench-health.db"))
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-columns", action="store_true", help="only the end-to-end part")
    args = ap.parse_args()
    if not args.skip_columns:
        t0 = time.perf_counter()
        cols = columns(args.n, 1_000_000, 2_000)
        print(f"built {args.n:,} interaction columns in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        pandas_floor(cols)
        floor = time.perf_counter() - t0
        t0 = time.perf_counter()
        h = compute_health(
            cols, start=START, end=END, teams={f"rep-{i}": f"t{i % 20}" for i in range(2000)}
        )
        ours = time.perf_counter() - t0
        print(
            f"health over {args.n:,} interaction columns: {ours:.2f} s "
            f"({len(h.adoption):,} adoption rows, {len(h.fields)} field rows, {len(h.trends)} months)"
        )
        print(f"pandas floor (logged, touched, last touch, monthly figures): {floor:.2f} s")
        print(f"ratio crmcore / floor: {ours / floor:.2f}x")
    if args.rows:
        end_to_end(args.db, args.rows, args.repeat)


if __name__ == "__main__":
    main()
