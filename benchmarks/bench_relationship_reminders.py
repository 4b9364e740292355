"""Reminders for a large customer base: ``plan_reminders`` vs a pandas floor of the same occasions.

A unit of work (``--backend memory``, or ``sqlite``: the embedded default, a SQLite file)
holds N customers (birthdays, acquisition dates, owners for most, contact consent for 80 %,
an e-mail address, a phone for a third), for a fifth of them 5 purchases each, and for 2 %
of them three interactions (the channels the planner learns preferences from). The SQLite
file is built with the bulk paths (``customers.add_many`` in batches, ``transactions.add_log``);
``--db PATH`` keeps it and reuses it (the reminders of an earlier run are deleted first).

One run of a rule set with a birthday, an anniversary and a dormant-customer rule over a
1-day window (the daily job) is timed end to end, wall clock and CPU: reading the customers
as columns (``customers.read_columns()``), the purchases as a columnar log, finding the
occasions, learning the channels of the customers who get a reminder, and building and
storing the planned activities. On a fresh base the dormant rule plans every customer
quiet beyond their own gap (about 12 % of the base: the first run's backlog); the re-run
(idempotent: 0 planned) is timed too. The floor, in the same run, is the pandas
computation of the same occasions from frames already in memory: no repository read, no
activity built.

    .venv/bin/python benchmarks/bench_relationship_reminders.py                    # memory, 1,000,000
    .venv/bin/python benchmarks/bench_relationship_reminders.py --backend sqlite   # SQLite file
    .venv/bin/python benchmarks/bench_relationship_reminders.py -n 200000 --backend sqlite --db /tmp/r.db
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmcore.model import Consent, ContactPoint, Customer, Interaction
from crmcore.relationship import (
    Anniversary,
    Birthday,
    DormantCustomer,
    ReminderRules,
    plan_reminders,
)
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
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
EMAIL = ContactPoint("email", "someone@example.com")
PHONE = ContactPoint("mobile", "+44 7700 900123")
CHANNELS = ("phone", "email", "sms", "visit")


class Base:
    """The generated customer base as arrays (the same for every backend)."""

    def __init__(self, n: int, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        self.ids = np.array([f"c-{i:07d}" for i in range(n)], dtype=object)
        self.bdays = np.datetime64("1940-01-01") + rng.integers(0, 60 * 365, n)
        self.acq = np.datetime64("2010-01-01") + rng.integers(0, 16 * 365, n)
        self.owners = rng.integers(-1, 200, n)
        self.consent = rng.random(n) < 0.8
        self.phone = rng.random(n) < 0.33
        buyers = np.flatnonzero(rng.random(n) < 0.2)
        per = 5
        self.tx_cust = np.repeat(buyers, per)
        gaps = rng.integers(5, 60, len(self.tx_cust))
        start = rng.integers(0, 600, len(buyers))
        days = np.repeat(start, per) + np.cumsum(gaps.reshape(-1, per), axis=1).ravel()
        self.tx_time = np.datetime64("2024-06-01", "D") + days
        talkers = np.flatnonzero(rng.random(n) < 0.02)
        self.ix_cust = np.repeat(talkers, 3)
        self.ix_channel = rng.integers(0, len(CHANNELS), len(self.ix_cust))
        self.ix_day = rng.integers(0, 700, len(self.ix_cust))

    def customers(self, lo: int, hi: int) -> list[Customer]:
        out = []
        for i in range(lo, hi):
            b = self.bdays[i].astype(date)
            a = self.acq[i].astype(date)
            out.append(
                Customer(
                    id=self.ids[i],
                    name="N",
                    birthday=b,
                    acquired_at=datetime(a.year, a.month, a.day, tzinfo=UTC),
                    owner_id=None if self.owners[i] < 0 else f"rep-{self.owners[i]}",
                    consent=Consent(contact=bool(self.consent[i])),
                    contact_points=(EMAIL, PHONE) if self.phone[i] else (EMAIL,),
                )
            )
        return out

    def log(self) -> TransactionLog:
        return TransactionLog.from_arrays(
            customer_ids=self.ids[self.tx_cust],
            timestamps=self.tx_time.astype("datetime64[us]"),
            amounts=np.full(len(self.tx_cust), 10.0),
            currency="EUR",
            ids=np.array([f"t-{k}" for k in range(len(self.tx_cust))], dtype=object),
        )

    def interactions(self) -> list[Interaction]:
        t0 = datetime(2024, 1, 1, 10, tzinfo=UTC)
        return [
            Interaction(
                id=f"i-{k}",
                customer_id=self.ids[c],
                channel=CHANNELS[ch],
                direction="inbound",
                occurred_at=t0 + timedelta(days=int(d)),
            )
            for k, (c, ch, d) in enumerate(
                zip(
                    self.ix_cust.tolist(),
                    self.ix_channel.tolist(),
                    self.ix_day.tolist(),
                    strict=True,
                )
            )
        ]

    def load(self, uow: Any, batch: int = 50_000) -> None:
        for lo in range(0, self.n, batch):
            with uow:
                uow.customers.add_many(self.customers(lo, min(lo + batch, self.n)))
                uow.commit()
        with uow:
            uow.transactions.add_log(self.log())
            uow.interactions.add_many(self.interactions())
            uow.commit()

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        c = pd.DataFrame({"birthday": self.bdays, "acquired": self.acq, "consent": self.consent})
        t = pd.DataFrame({"customer": self.ids[self.tx_cust], "day": self.tx_time})
        return c, t


def pandas_floor(c: pd.DataFrame, tx: pd.DataFrame) -> int:
    """The occasions of the same rules, in pandas (the floor: columns already in memory);
    the dormant rule sees the purchases strictly before AS_OF (00:00 UTC), as crmcore does."""
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
    t = tx[tx["day"] < lo]  # purchases strictly before as_of, as plan_reminders reads them
    t = t.drop_duplicates().sort_values(["customer", "day"])
    t["gap"] = t.groupby("customer")["day"].diff().dt.days
    g = t.groupby("customer")
    usual = g["gap"].quantile(0.9, interpolation="lower")
    n_gaps = g["gap"].count()
    last = g["day"].max()
    quiet = (lo - last).dt.days > np.floor(1.5 * usual)
    found += int((quiet & (n_gaps >= 2)).sum())
    return found


def open_uow(args: argparse.Namespace, base: Base) -> tuple[Any, str]:
    if args.backend == "memory":
        uow = MemoryUnitOfWork()
        base.load(uow)
        return uow, "memory"
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "crm.db"
    fresh = not path.exists()
    uow = SqlUnitOfWork.from_url(path)
    if fresh:
        base.load(uow)
    else:  # a kept file: forget the reminders of earlier runs
        with uow:
            with uow.session.writing("deleting earlier reminders") as conn:
                table = uow.session.namespace.tables["activities"]
                conn.execute(table.delete().where(table.c.id.like("rem-%")))
            uow.commit()
    return uow, f"SQLite file {path} ({path.stat().st_size / 1e6:,.0f} MB)"


def timed(uow: Any) -> tuple[Any, float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    with uow:
        plan = plan_reminders(uow, RULES, as_of=AS_OF.isoformat(), days=1)
        uow.commit()
    return plan, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="customers")
    ap.add_argument("--backend", choices=("memory", "sqlite"), default="memory")
    ap.add_argument("--db", help="SQLite file to build once and reuse (--backend sqlite)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    base = Base(args.n)
    uow, where = open_uow(args, base)
    print(
        f"{where}: {args.n:,} customers, {len(base.tx_cust):,} purchases, "
        f"{len(base.ix_cust):,} interactions (ready in {time.perf_counter() - t0:.1f} s)"
    )
    cframe, tframe = base.frames()
    t0 = time.perf_counter()
    floor_found = pandas_floor(cframe, tframe)
    floor = time.perf_counter() - t0
    t0 = time.perf_counter()
    with uow:
        n_read = len(uow.customers.read_columns())
        t1 = time.perf_counter()
        log = uow.transactions.read_log(kinds=["purchase"])
    t2 = time.perf_counter()
    print(
        f"repository reads alone: customers.read_columns {t1 - t0:.2f} s ({n_read:,}), "
        f"read_log {t2 - t1:.2f} s ({len(log):,} rows)"
    )
    del log
    plan, ours, cpu = timed(uow)
    again, rerun, rerun_cpu = timed(uow)
    print(
        f"plan_reminders: {ours:.2f} s wall, {cpu:.2f} s CPU for {args.n:,} customers "
        f"({plan.planned:,} planned, {plan.skipped:,} skipped)"
    )
    print(
        f"occasions: crmcore {len(plan):,}, pandas floor {floor_found:,} "
        f"({'agree' if len(plan) == floor_found else 'DIFFER'})"
    )
    print(
        f"re-run (idempotent): {rerun:.2f} s wall, {rerun_cpu:.2f} s CPU, {again.planned} "
        f"planned, {again.existing:,} existing"
    )
    print(f"pandas floor (same occasions from frames): {floor:.2f} s")
    print(
        f"ratio crmcore / floor: {ours / floor:.2f}x wall, {cpu / floor:.2f}x CPU; "
        f"target < 10 s: {'met' if min(ours, cpu) < 10 else 'NOT met'} (CPU {cpu:.2f} s)"
    )
    assert again.planned == 0
    assert len(plan) == floor_found, (len(plan), floor_found)
    if isinstance(uow, SqlUnitOfWork):
        uow.close()


if __name__ == "__main__":
    main()
