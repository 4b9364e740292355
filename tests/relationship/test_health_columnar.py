"""crm_health reads the same touches through the columnar read (``read_columns``: memory and
SQLite) as through the records of a repository without it (the fallback): random
interactions and activities (reps that only plan, touches after the end, customers not
stored, deals linked or not) give equal health tables on the three paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.model import Activity, Customer, Interaction
from crmcore.relationship import crm_health
from crmcore.repositories import ColumnarRecordReader, MemoryUnitOfWork, SqlUnitOfWork

T0 = datetime(2025, 12, 1, tzinfo=UTC)


class _RecordsOnly:
    """A repository without ``read_columns``: only what the protocol requires."""

    def __init__(self, repo: Any) -> None:
        self._repo = repo

    def list(self, **kw: Any) -> Any:
        return self._repo.list(**kw)

    def iter(self, **kw: Any) -> Any:
        return self._repo.iter(**kw)


def _data(draw: Any) -> tuple[list[Interaction], list[Activity]]:
    reps = [None, "ann", "bob", "cy"]
    custs = ["c-1", "c-2", "c-3", "c-x"]
    hours = st.integers(0, 24 * 70)
    ints = [
        Interaction(
            id=f"i-{k}",
            customer_id=draw(st.sampled_from(custs)),
            channel="phone",
            direction="outbound",
            occurred_at=T0 + timedelta(hours=draw(hours)),
            rep_id=draw(st.sampled_from(reps)),
            opportunity_id=draw(st.sampled_from([None, "o-1"])),
        )
        for k in range(draw(st.integers(0, 15)))
    ]
    acts = []
    for k in range(draw(st.integers(0, 10))):
        done = draw(st.booleans())
        at = T0 + timedelta(hours=draw(hours))
        acts.append(
            Activity(
                id=f"a-{k}",
                kind="call",
                rep_id=draw(st.sampled_from([*reps[1:], "dee"])),
                customer_id=draw(st.sampled_from([None, *custs])),
                status="done" if done else "planned",
                done_at=at if done else None,
                due_at=None if done else at,
            )
        )
    return ints, acts


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_columnar_and_record_reads_give_the_same_health(data: st.DataObject) -> None:
    ints, acts = _data(data.draw)
    results = []
    for make in ("memory", "sqlite", "records"):
        uow: Any = SqlUnitOfWork.from_url("sqlite://") if make == "sqlite" else MemoryUnitOfWork()
        with uow:
            uow.customers.add_many(
                Customer(id=f"c-{i}", name=f"N{i}", owner_id=("ann", "bob", None)[i % 3])
                for i in (1, 2, 3)
            )
            uow.interactions.add_many(ints)
            uow.activities.add_many(acts)
            uow.commit()
        if make == "records":
            uow.interactions = _RecordsOnly(uow.interactions)
            uow.activities = _RecordsOnly(uow.activities)
            assert not isinstance(uow.interactions, ColumnarRecordReader)
        with uow:
            h = crm_health(uow, start="2026-01-01", end="2026-02-01", teams={"ann": "n"})
        results.append((h.adoption.to_pandas(), h.trends.to_pandas(), h.fields.to_pandas()))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            pd.testing.assert_frame_equal(a, b)
