"""Reminders for a large customer base: ``plan_reminders`` vs a pandas floor of the same occasions.

A memory unit of work holds N customers (birthdays, acquisition dates, owners, consent,
contact points) and, for a fifth of them, 5 purchases each. One run of a rule set with a
birthday, an anniversary and a dormant-customer rule over a 1-day window (the daily job)
is timed end to end: reading every customer through the repository protocol, reading the
purchases as a columnar log, finding the occasions, and building and storing the planned
activities. The floor, in the same run, is the pandas computation of the same occasions
(birthdays and anniversaries due in the window, the dormant customers by their own gap
quantile) from frames already in memory: no repository read, no activity built.

    .venv/bin/python benchmarks/bench_relationship_reminders.py              # 1,000,000 customers
    .venv/bin/python benchmarks/bench_relationship_reminders.py -n 200000
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from crmcore.model import Consent, ContactPoint, Customer
from crmcore.relationship import (
    Anniversary,
    Birthday,
    DormantCustomer,
    ReminderRules,
    plan_reminders,
)
from crmcore.repositories import MemoryUnitOfWork
from crmcore.tables import TransactionLog

AS_OF = date(2026, 3, 12)
RULES = ReminderRules(
    name="daily",
    rules=[
        Birthday(name="birthday", days_ahead=3, queue="service-team"),
        Anniversary(name="anniversary", days_ahead=7, queue="service-team"),
        DormantCustomer(name="quiet", factor=1.5, quantile=0.9, queue="service-team"),
    ],
)
EMAIL = (ContactPoint("email", "someone@example.com"),)


def build(n: int, seed: int = 7) -> tuple[MemoryUnitOfWork, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    bdays = np.datetime64("1940-01-01") + rng.integers(0, 60 * 365, n)
    acq = np.datetime64("2010-01-01") + rng.integers(0, 16 * 365, n)
    owners = rng.integers(-1, 200, n)
    consent = rng.random(n) < 0.8
    ids = [f"c-{i:07d}" for i in range(n)]
    customers = []
    for i in range(n):
        b = bdays[i].astype(date)
        a = acq[i].astype(date)
        customers.append(
            Customer(
                id=ids[i],
                name="N",
                birthday=b,
                acquired_at=datetime(a.year, a.month, a.day, tzinfo=UTC),
                owner_id=None if owners[i] < 0 else f"rep-{owners[i]}",
                consent=Consent(contact=bool(consent[i])),
                contact_points=EMAIL,
            )
        )
    buyers = np.flatnonzero(rng.random(n) < 0.2)
    per = 5
    cust = np.repeat(buyers, per)
    gaps = rng.integers(5, 60, len(cust))
    start = rng.integers(0, 600, len(buyers))
    days = np.repeat(start, per) + np.cumsum(gaps.reshape(-1, per), axis=1).ravel()
    times = np.datetime64("2024-06-01", "D") + days
    ids_arr = np.array(ids, dtype=object)
    log = TransactionLog.from_arrays(
        customer_ids=ids_arr[cust],
        timestamps=times.astype("datetime64[us]"),
        amounts=np.full(len(cust), 10.0),
        currency="EUR",
        ids=np.array([f"t-{k}" for k in range(len(cust))], dtype=object),
    )
    uow = MemoryUnitOfWork()
    with uow:
        uow.customers.add_many(customers)
        uow.transactions.add_log(log)
        uow.commit()
    cframe = pd.DataFrame({"id": ids, "birthday": bdays, "acquired": acq, "consent": consent})
    tframe = pd.DataFrame({"customer": ids_arr[cust], "day": times})
    return uow, cframe, tframe


def pandas_floor(c: pd.DataFrame, tx: pd.DataFrame) -> int:
    """The occasions of the same rules, in pandas (the floor: columns already in memory)."""
    lo = pd.Timestamp(AS_OF)
    found = 0
    for col, ahead, yearly_from_next in (("birthday", 3, False), ("acquired", 7, True)):
        d = c[col]
        for year in (lo.year, lo.year + 1):
            month, day = d.dt.month, d.dt.day
            first = pd.to_datetime(
                pd.DataFrame({"year": year, "month": month, "day": 1}), errors="coerce"
            )
            dim = first.dt.days_in_month
            occ = first + pd.to_timedelta(np.minimum(day, dim) - 1, unit="D")
            due = occ - pd.Timedelta(days=ahead)
            hit = (due >= lo) & (due < lo + pd.Timedelta(days=1))
            if yearly_from_next:
                hit &= d.dt.year < year
            found += int(hit.sum())
    t = tx.drop_duplicates().sort_values(["customer", "day"])
    t["gap"] = t.groupby("customer")["day"].diff().dt.days
    g = t.groupby("customer")
    usual = g["gap"].quantile(0.9, interpolation="lower")
    n_gaps = g["gap"].count()
    last = g["day"].max()
    quiet = (lo - last).dt.days > np.floor(1.5 * usual)
    found += int((quiet & (n_gaps >= 2)).sum())
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="customers")
    args = ap.parse_args()
    t0 = time.perf_counter()
    uow, cframe, tframe = build(args.n)
    print(
        f"built {args.n:,} customers, {len(tframe):,} purchases in {time.perf_counter() - t0:.1f} s"
    )
    t0 = time.perf_counter()
    floor_found = pandas_floor(cframe, tframe)
    floor = time.perf_counter() - t0
    t0 = time.perf_counter()
    with uow:
        n_read = sum(1 for _ in uow.customers.iter(batch_size=10_000))
        t1 = time.perf_counter()
        log = uow.transactions.read_log(kinds=["purchase"])
    t2 = time.perf_counter()
    print(
        f"repository reads alone: customers.iter {t1 - t0:.2f} s ({n_read:,}), "
        f"read_log {t2 - t1:.2f} s ({len(log):,} rows)"
    )
    del log
    t0 = time.perf_counter()
    with uow:
        plan = plan_reminders(uow, RULES, as_of=AS_OF.isoformat(), days=1)
        uow.commit()
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    with uow:
        again = plan_reminders(uow, RULES, as_of=AS_OF.isoformat(), days=1)
    rerun = time.perf_counter() - t0
    # dormant: the plan counts a customer whose quiet day is today or earlier; the floor too
    print(
        f"plan_reminders: {ours:.2f} s for {args.n:,} customers "
        f"({plan.planned:,} planned, {plan.skipped:,} skipped, {len(plan):,} occasions; "
        f"pandas floor found {floor_found:,})"
    )
    print(
        f"re-run (idempotent): {rerun:.2f} s, {again.planned} planned, {again.existing:,} existing"
    )
    print(f"pandas floor (same occasions from frames): {floor:.2f} s")
    print(
        f"ratio crmcore / floor: {ours / floor:.2f}x; target < 10 s: {'met' if ours < 10 else 'NOT met'}"
    )
    assert again.planned == 0


if __name__ == "__main__":
    main()
