"""Streaming operations: the storage taken by checkpoints (all kept vs the last N) and the cost
of de-duplicating events by id.

A streaming engine with a robust z, an EW baseline and a velocity rule runs over synthetic
events (seeded; those of bench_anomaly_streaming.py) of 5,000 customers and checkpoints its
state 20 times into an SQLite file, once keeping every checkpoint (``keep_checkpoints=None``,
what crmcore did before) and once with the default (the last 3). Then the event rate with
and without ``dedup_window="1d"``, and with 5% of the events delivered twice.

    .venv/bin/python benchmarks/bench_anomaly_checkpoints.py
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_anomaly_streaming import best_rates, synthetic_events
from crmcore.anomaly import Event, EWBaseline, RobustZ, RuleSet, StreamingEngine, Velocity
from crmcore.repositories import SqlUnitOfWork

RULES = RuleSet(
    name="bench",
    rules=[
        RobustZ(name="robust-z", lookback=20, min_history=5, z=6),
        EWBaseline(name="ew", alpha=0.1, min_history=5, z=6),
        Velocity(name="velocity", window="1d", at_least=4),
    ],
)


def checkpoint_run(events: list[Event], keep: int | None, n_checkpoints: int, path: Path) -> dict:
    """Process ``events`` and checkpoint ``n_checkpoints`` times into an SQLite file."""
    uow = SqlUnitOfWork.from_url(f"sqlite:///{path}")
    engine = StreamingEngine(RULES, keep_checkpoints=keep)
    step = len(events) // n_checkpoints
    seconds = 0.0
    for k in range(n_checkpoints):
        engine.process_many(events[k * step : (k + 1) * step])
        t0 = time.process_time()
        with uow:
            engine.checkpoint(uow)
            uow.commit()
        seconds += time.process_time() - t0
    with uow:
        kept = len(uow.documents.keys("anomaly_state"))
    uow.close()
    con = sqlite3.connect(path)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    free = con.execute("PRAGMA freelist_count").fetchone()[0]
    con.close()
    return {
        "kept": kept,
        "file": path.stat().st_size,
        "live": (pages - free) * page,
        "customers": engine.customer_count(),
        "seconds": seconds / n_checkpoints,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=200_000, help="events (n/40 customers)")
    ap.add_argument("--checkpoints", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    events = synthetic_events(args.size)
    light = [Event(e.id, e.customer_id, e.time, e.amount, e.kind) for e in events]
    print(f"synthetic stream: {len(light):,} events of {args.size // 40:,} customers (seeded)")
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            keep: checkpoint_run(light, keep, args.checkpoints, Path(tmp) / f"k{keep}.db")
            for keep in (None, 3)
        }
    for keep, r in runs.items():
        label = "every checkpoint kept" if keep is None else f"keep_checkpoints={keep}"
        print(
            f"{args.checkpoints} checkpoints of {r['customers']:,} customers, {label:<22}: "
            f"{r['kept']:>2} stored, {r['live'] / 1e6:6.1f} MB of pages in use "
            f"(file {r['file'] / 1e6:.1f} MB), {r['seconds'] * 1000:.0f} ms CPU per checkpoint"
        )
    ratio = runs[None]["live"] / runs[3]["live"]
    print(f"ratio storage all kept / last 3: {ratio:.1f}x")

    rng = np.random.default_rng(1)
    again = set(rng.choice(len(light), len(light) // 20, replace=False).tolist())
    noisy: list[Event] = []
    for i, e in enumerate(light):
        noisy.append(e)
        if i in again:
            noisy.append(e)  # delivered twice, right after itself
    contenders = [
        ("no de-duplication", lambda: StreamingEngine(RULES).process_event, light),
        (
            'dedup_window="1d"',
            lambda: StreamingEngine(RULES, dedup_window="1d").process_event,
            light,
        ),
        (
            'dedup_window="1d", 5% delivered twice',
            lambda: StreamingEngine(RULES, dedup_window="1d").process_event,
            noisy,
        ),
    ]
    rates = best_rates([(make, items) for _, make, items in contenders], args.rounds)
    print(f"events per CPU-second, best of {args.rounds} rounds:")
    for (label, _, _), rate in zip(contenders, rates, strict=True):
        print(f"  {label:<40}: {rate:>10,.0f} events/s")
    print(f"ratio de-duplication cost: {rates[0] / rates[1]:.2f}x the time per event")
    twice = StreamingEngine(RULES, dedup_window="1d")
    alerts = twice.process_many(noisy)
    once = StreamingEngine(RULES).process_many(light)
    print(
        f"with 5% delivered twice: {twice.duplicates:,} skipped, "
        f"alerts {'identical to' if alerts == once else 'DIFFERENT FROM'} the clean stream's"
    )


if __name__ == "__main__":
    main()
