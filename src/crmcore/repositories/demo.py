"""The repositories section of ``python -m crmcore demo``.

>>> from crmcore.datasets import load_cdnow_sample
>>> lines = []
>>> demo(lines.append, transactions=load_cdnow_sample())
>>> lines[0]
'Repositories: SQLite (WAL, schema version 6), memory, PostgreSQL and MariaDB share one contract'
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from crmcore._demo import check_demo_args
from crmcore.errors import CRMError
from crmcore.model import Customer, FieldChange, Interaction, Opportunity, StageChange
from crmcore.repositories.privacy import erase_customer, export_customer
from crmcore.repositories.sql import SqlUnitOfWork
from crmcore.repositories.sql.schema import SCHEMA_VERSION
from crmcore.tables import TransactionLog

__all__ = ["demo"]


def demo(write: Callable[[str], None], *, transactions: TransactionLog) -> None:
    """Store the transactions in a fresh SQLite file, read them back as columns and as objects,
    run an indexed time-range query, a privacy export/erase (synthetic customer) and the
    record of a synthetic deal (as of and as known at past dates; refused writes)."""
    check_demo_args(write, transactions)
    log = transactions
    if log.ids is None:
        log = attrs.evolve(log, ids=np.array([f"demo-{i}" for i in range(len(log))], dtype=object))
    if log.currency is None:
        log = attrs.evolve(log, currency="USD")
    write(
        f"Repositories: SQLite (WAL, schema version {SCHEMA_VERSION}), memory, PostgreSQL and "
        "MariaDB share one contract"
    )
    with tempfile.TemporaryDirectory(prefix="crmcore-demo-") as tmp:
        uow = SqlUnitOfWork.from_url(Path(tmp) / "demo.db")
        try:
            _columns(write, uow, log)
            _queries(write, uow)
            _record(write, uow)
        finally:
            uow.close()


def _columns(write: Callable[[str], None], uow: SqlUnitOfWork, log: TransactionLog) -> None:
    with uow:
        t0 = time.perf_counter()
        n = uow.transactions.add_log(log)
        uow.commit()
        t_add = time.perf_counter() - t0
    with uow:
        t0 = time.perf_counter()
        back = uow.transactions.read_log()
        t_cols = time.perf_counter() - t0
        t0 = time.perf_counter()
        objects = list(uow.transactions.iter(batch_size=2000))
        t_obj = time.perf_counter() - t0
    same = abs(float(back.amount.sum()) - float(log.amount.sum())) < 1e-6
    write(f"  add_log: {n:,} transactions in {t_add:.3f} s ({n / max(t_add, 1e-9):,.0f} rows/s)")
    write(
        f"  read_log: {len(back):,} rows, {back.n_customers:,} customers, {back.currency} "
        f"in {t_cols * 1000:.1f} ms; totals match the input: {same}"
    )
    write(
        f"  as {len(objects):,} model objects: {t_obj * 1000:.0f} ms "
        f"({t_obj / max(t_cols, 1e-9):.0f}x the columnar read)"
    )


def _queries(write: Callable[[str], None], uow: SqlUnitOfWork) -> None:
    start = datetime(2021, 1, 1, tzinfo=UTC)
    channels = ["phone", "meeting", "email", "web"]
    with uow:
        uow.customers.add(Customer(id="demo-c", name="Synthetic Customer", tags=["vip"]))
        uow.interactions.add_many(
            Interaction(
                id=f"demo-i-{i}",
                customer_id="demo-c" if i % 100 == 0 else f"demo-c{i % 300}",
                channel=channels[i % 4],
                direction="outbound",
                occurred_at=start + timedelta(hours=13 * i),
                subject="synthetic note",
            )
            for i in range(3000)
        )
        uow.commit()
    lo, hi = datetime(2022, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)
    with uow:
        found = uow.interactions.list(channels=["meeting", "phone"], start=lo, end=hi)
        plan = (
            uow._conn()
            .exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM interactions WHERE channel IN ('meeting', 'phone') "
                "AND occurred_at >= ? AND occurred_at < ?",
                (0, 1),
            )
            .all()
        )
    write(
        f"  meetings and calls of 2022 (synthetic, 3,000 interactions): {len(found)} found by "
        f"{plan[0][-1].split(' (')[0]}"
    )
    with uow:
        exported = export_customer(uow, "demo-c")
        counts = erase_customer(uow, "demo-c")
        uow.commit()
    write(
        f"  privacy: export of the synthetic customer holds {len(exported['interactions'])} "
        f"interactions; erase rewrote {counts['interactions']} of them and the profile"
    )


class _Clock:
    """The demo's clock: when each event of the synthetic deal is typed in."""

    def __init__(self) -> None:
        self.now = datetime(2022, 3, 1, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _record(write: Callable[[str], None], uow: SqlUnitOfWork) -> None:
    """A synthetic deal lost for price, reopened, reassigned, and lost for a competitor in a loss
    typed three weeks after its date; the history read as of past dates, as then known."""
    clock = _Clock()
    rec = SqlUnitOfWork(uow.engine, clock=clock)
    deal = Opportunity(id="demo-o", customer_id="demo-c2", owner_id="ann", funnel="b2b",
                       stage="lead", created_at=clock.now, probability=0.05)  # fmt: skip
    steps: list[tuple[datetime, datetime, Any]] = [
        (datetime(2022, 3, 20, 9, tzinfo=UTC), datetime(2022, 3, 20, 9, tzinfo=UTC),
         ("lead", "lost", "price", {"closed_at": True, "lost_reason": "price", "probability": 0.0})),
        (datetime(2023, 2, 1, 9, tzinfo=UTC), datetime(2023, 2, 1, 9, tzinfo=UTC),
         ("lost", "qualified", "new budget", {"probability": 0.2})),
        (datetime(2023, 2, 1, 9, tzinfo=UTC), datetime(2023, 2, 1, 9, tzinfo=UTC), "bob"),
        (datetime(2023, 6, 30, 17, tzinfo=UTC), datetime(2023, 7, 20, 9, tzinfo=UTC),
         ("qualified", "lost", "competitor",
          {"closed_at": True, "lost_reason": "competitor", "probability": 0.0})),
    ]  # fmt: skip
    with rec:
        deal = rec.opportunities.add(deal)
        rec.commit()
    for at, typed, step in steps:
        clock.now = typed
        seq = deal.version + 1
        with rec:
            if isinstance(step, str):  # a reassignment: an edit of the owner
                change = FieldChange(opportunity_id=deal.id, sequence=seq, field="owner_id",
                                     old=deal.owner_id, new=step, at=at, by="boss")  # fmt: skip
                deal = rec.opportunities.save(attrs.evolve(deal, owner_id=step), [change])
            else:
                frm, to, why, fields = step
                move = StageChange(opportunity_id=deal.id, sequence=seq, from_stage=frm,
                                   to_stage=to, at=at, by=deal.owner_id, reason=why,
                                   probability=fields["probability"])  # fmt: skip
                moved = attrs.evolve(
                    deal, stage=to, stage_entered_at=at, probability=fields["probability"],
                    closed_at=at if fields.get("closed_at") else None,
                    lost_reason=fields.get("lost_reason"),
                )  # fmt: skip
                deal = rec.opportunities.save(moved, [move])
            rec.commit()

    def state(as_of: datetime, known_at: datetime | None = None) -> str:
        with rec:
            h = rec.opportunities.read_history(end=as_of, known_at=known_at)
        assert h.reason is not None and h.reason_labels is not None
        last = len(h) - 1
        why = "" if h.reason[last] < 0 else f" ({h.reason_labels[h.reason[last]]})"
        return f"{h.stages[h.to_stage[last]]}{why}"

    d = datetime(2023, 7, 1, tzinfo=UTC)
    write(
        "  a deal's record (synthetic): as of 2022-12-31 "
        f"{state(datetime(2022, 12, 31, tzinfo=UTC))}; as of 2023-07-01 as known that day "
        f"{state(d, d)}, as known now {state(d)} (the loss was typed on 2023-07-20)"
    )
    refused = []
    with rec:
        late = StageChange(opportunity_id=deal.id, sequence=deal.version + 1, from_stage="lost",
                           to_stage="lead", at=datetime(2205, 1, 1, tzinfo=UTC), by="ann")  # fmt: skip
        stale = attrs.evolve(deal, version=2)
        for what, opp, event in (("a move dated 2205", deal, late), ("a stale save", stale, late)):
            try:
                rec.opportunities.save(opp, [event])
            except CRMError as e:
                refused.append(f"{what} ({type(e).__name__})")
    write(f"  {deal.version + 1} events, version {deal.version}; refused: {', '.join(refused)}")
