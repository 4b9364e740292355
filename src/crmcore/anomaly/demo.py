"""The anomaly section of ``python -m crmcore demo``: rules over the CDNOW purchases.

>>> from crmcore.datasets import load_cdnow_sample
>>> lines = []
>>> demo(lines.append, transactions=load_cdnow_sample())
>>> lines[0]
'Rule set "cdnow-watch" (5 rules) over 6,919 purchases of 2,357 customers'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from crmcore._demo import check_demo_args
from crmcore.anomaly.alerts import Alert, summarize
from crmcore.anomaly.batch import detect
from crmcore.anomaly.context import CustomerContext
from crmcore.anomaly.rules import (
    BehaviourChange,
    Dormant,
    RobustZ,
    RuleSet,
    Threshold,
    Velocity,
)
from crmcore.anomaly.streaming import Event, StreamingEngine
from crmcore.model.transaction import TransactionKind
from crmcore.options import as_seed, expect_items
from crmcore.tables import TransactionLog

__all__ = ["DEMO_RULES", "demo", "synthetic_owners"]

DEMO_RULES = RuleSet(
    name="cdnow-watch",
    rules=[
        RobustZ(name="unusually-large-order", lookback=10, min_history=4, z=6.0, min_scale=5.0),
        Threshold(name="order-over-500", at_least=500),
        Velocity(name="buying-spree", window="30d", measure="count", at_least=4),
        BehaviourChange(name="spend-jump", window="90d", measure="sum", ratio=5.0, min_history=2),
        Dormant(name="reactivated-after-9-months", gap="270d"),
    ],
)
"""The rules the demo runs (a music retailer's view of "abnormal for this customer")."""


def synthetic_owners(customer_ids: list[str], *, seed: int = 7) -> dict[str, CustomerContext]:
    """Synthetic account owners: five reps; one customer in six has none (team queue).

    >>> sorted({c.owner_id for c in synthetic_owners([str(i) for i in range(50)]).values()}, key=str)
    [None, 'rep-1', 'rep-2', 'rep-3', 'rep-4', 'rep-5']
    """
    customer_ids = expect_items(customer_ids, str, name="customer_ids")
    rng = np.random.default_rng(as_seed(seed))
    picks = rng.integers(0, 6, len(customer_ids))
    return {
        cid: CustomerContext(owner_id=None if k == 5 else f"rep-{k + 1}", segment="music")
        for cid, k in zip(customer_ids, picks.tolist(), strict=True)
    }


def demo(write: Callable[[str], None], *, transactions: TransactionLog) -> None:
    """Write the anomaly section: alerts found, routed to synthetic owners, summarised."""
    check_demo_args(write, transactions)
    log = transactions
    ids = [str(c) for c in log.customer_ids]
    owners = synthetic_owners(ids)
    write(
        f'Rule set "{DEMO_RULES.name}" ({len(DEMO_RULES.rules)} rules) over {len(log):,} '
        f"purchases of {log.n_customers:,} customers"
    )
    t0 = time.perf_counter()
    found = detect(log, DEMO_RULES, owners)
    alerts = found.alerts()
    batch_ms = (time.perf_counter() - t0) * 1000
    write(f"batch engine: {len(alerts):,} alerts in {batch_ms:.0f} ms")
    for name, n in found.counts().items():
        write(f"  {name:<28}{n:6,}")
    write("examples (one per rule):")
    shown = set()
    for a in alerts:
        if a.rule not in shown:
            shown.add(a.rule)
            write(f"  customer {a.customer_id:>5} -> {a.routed_to:<16} {a.explanation}")

    # the same purchases one at a time, in time order (ties by transaction id, the batch
    # engine's order; a log without ids keeps its row order), through the streaming engine
    epoch = np.datetime64("1970-01-01T00:00:00", "us")
    micros = (log.time.astype("datetime64[us]") - epoch).astype(np.int64)
    if log.ids is None:
        names = [f"row:{i}" for i in range(len(log))]
        order = np.argsort(micros, kind="stable")
    else:
        names = [str(v) for v in log.ids.tolist()]
        order = np.lexsort((np.array(names, dtype=object), micros))
    kinds = [k.value for k in TransactionKind]
    engine = StreamingEngine(DEMO_RULES, owners)
    t0 = time.perf_counter()
    streamed: list[Alert] = []
    for i in order.tolist():
        streamed += engine.process_event(
            Event(
                names[i],
                ids[log.customer[i]],
                int(micros[i]),
                float(log.amount[i]),
                kinds[log.kind[i]],
            )
        )
    stream_ms = (time.perf_counter() - t0) * 1000
    same = sorted(a.id for a in streamed) == sorted(a.id for a in alerts)
    write(
        f"streaming engine: {len(streamed):,} alerts in {stream_ms:.0f} ms, "
        f"{'identical to' if same else 'DIFFERENT FROM'} the batch alerts"
    )
    end = datetime(1998, 7, 1, tzinfo=UTC)
    s = summarize(alerts, start=datetime(1998, 1, 1, tzinfo=UTC), end=end)
    write("owners are synthetic (seeded): rep-1..rep-5; no owner -> team:unassigned")
    write(f"first half of 1998: {s.total:,} alerts for {s.customers:,} customers")
    write("  by owner   " + ", ".join(f"{k} {v}" for k, v in s.by_owner.items()))
    write("  by rule    " + ", ".join(f"{k} {v}" for k, v in s.by_rule.items()))
