"""CRM health over many interactions: the health arithmetic vs a pandas group-by floor.

Two measurements:

1. **Columns** (the target: 10,000,000 interactions in < 10 s): the health computation of
   ``crm_health`` (``crmcore.relationship._health_core.compute_health``: adoption per rep
   and team, last touch and freshness per customer, field completeness per source,
   duplicates and consent per source, monthly trends) over columns of N interactions,
   1,000,000 customers and 2,000 reps, against the pandas floor of the same core figures
   (logged per rep, customers touched per owner, last touch per customer, logged, active
   reps and customers touched per month: ``groupby`` / ``drop_duplicates``).
2. **Through a unit of work** (``crm_health(uow, ...)`` end to end: every interaction read
   as an object through the repository protocol): a memory store of M interactions;
   reported in interactions per second. The repositories have no columnar read of
   interactions, so this path is bounded by building one Interaction object per row.

    .venv/bin/python benchmarks/bench_relationship_health.py                 # N = 10,000,000
    .venv/bin/python benchmarks/bench_relationship_health.py -n 2000000 -m 100000
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from crmcore.model import Consent, ContactPoint, Customer, Interaction
from crmcore.relationship import CUSTOMER_FIELDS_CHECKED, crm_health
from crmcore.relationship._health_core import HealthColumns, compute_health
from crmcore.repositories import MemoryUnitOfWork

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
        touch_rep=rng.integers(-1, reps, n),
        touch_time=lo - span // 4 + rng.integers(0, span + span // 4, n),
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


def through_uow(m: int, seed: int = 5) -> tuple[float, int]:
    rng = np.random.default_rng(seed)
    customers = max(m // 20, 10)
    uow = MemoryUnitOfWork()
    span = int((END - START).total_seconds())
    with uow:
        uow.customers.add_many(
            Customer(
                id=f"c-{i}",
                name=f"Name {i % 5000}",
                owner_id=f"rep-{i % 50}",
                acquisition_channel=("web", "fair")[i % 2],
                consent=Consent(contact=bool(i % 3)),
                contact_points=(ContactPoint("email", f"x{i}@example.com"),),
            )
            for i in range(customers)
        )
        secs = rng.integers(0, span, m)
        who = rng.integers(0, customers, m)
        uow.interactions.add_many(
            Interaction(
                id=f"i-{k}",
                customer_id=f"c-{who[k]}",
                channel="phone",
                direction="outbound",
                occurred_at=START + timedelta(seconds=int(secs[k])),
                rep_id=f"rep-{k % 50}",
            )
            for k in range(m)
        )
        uow.commit()
    t0 = time.perf_counter()
    with uow:
        h = crm_health(uow, start=START, end=END)
    took = time.perf_counter() - t0
    return took, int(h.adoption.logged[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000_000, help="interactions (columns)")
    ap.add_argument("-m", type=int, default=200_000, help="interactions (through a unit of work)")
    args = ap.parse_args()
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
        f"health over {args.n:,} interactions: {ours:.2f} s "
        f"({len(h.adoption):,} adoption rows, {len(h.fields)} field rows, {len(h.trends)} months)"
    )
    print(f"pandas floor (logged, touched, last touch, monthly figures): {floor:.2f} s")
    print(
        f"ratio crmcore / floor: {ours / floor:.2f}x; target < 10 s: {'met' if ours < 10 else 'NOT met'}"
    )
    if args.m:
        took, logged = through_uow(args.m)
        print(
            f"crm_health through a memory unit of work, {args.m:,} interactions: {took:.2f} s "
            f"({args.m / took:,.0f} interactions/s; {logged:,} logged)"
        )


if __name__ == "__main__":
    main()
