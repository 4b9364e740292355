"""The columnar reads of opportunities' events give the same columns on every backend and path.

SQLite reads a funnel's stage changes as one concatenated string per column; a text that
holds the separator falls back to the row-by-row read. Both, and the memory backend, must
give identical columns (names, times, amounts, probabilities to the last bit, who and why,
recording times), for deals with and without amounts, reasons, products and categories.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crmcore.model import Money
from crmcore.pipeline import B2B, advance, create_opportunity, edit
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork, UnitOfWork
from crmcore.repositories.sql import _history
from crmcore.tables import StageHistory

T = datetime(2024, 2, 5, 9, tzinfo=UTC)


def _store(uow: UnitOfWork, reasons: list[str]) -> None:
    with uow:
        for i, reason in enumerate(reasons):
            oid = f"o-{i}"
            create_opportunity(
                uow, B2B, id=oid, customer_id=f"c-{i}", owner_id=f"rep-{i % 3}",
                at=T + timedelta(hours=i), amount=None if i % 4 == 0 else Money(f"{i}.25", "EUR"),
                product=None if i % 2 else "crm",
            )  # fmt: skip
            at = T + timedelta(hours=i, minutes=30)
            edit(uow, oid, expected_version=0, changes={"probability": 1 / 3 + i * 1e-9,
                 "forecast_category": None if i % 3 else "best_case"},
                 funnel=B2B, by="mgr", at=at)  # fmt: skip
            v = uow.opportunities.get(oid).version
            advance(uow, oid, "lost" if i % 2 else "qualified", expected_version=v, funnel=B2B,
                    by=f"rep-{i % 3}", at=at + timedelta(minutes=1), reason=reason)  # fmt: skip
        uow.commit()


def _columns(h: StageHistory) -> dict[str, Any]:
    def names(codes: Any, labels: Any) -> list[Any]:
        return [None if c < 0 else str(labels[c]) for c in codes.tolist()]

    assert h.probability is not None and h.recorded_at is not None
    return {
        "id": names(h.opportunity, h.opportunity_ids),
        "sequence": h.sequence.tolist(),
        "from": names(h.from_stage, h.stages),
        "to": names(h.to_stage, h.stages),
        "at": h.at.tolist(),
        "amount": [None if np.isnan(a) else a for a in h.amount.tolist()],
        "owner": names(h.owner, h.owner_ids),
        "product": names(h.product, h.products),
        "probability": [None if np.isnan(p) else p for p in h.probability.tolist()],
        "by": names(h.by, h.by_ids),
        "reason": names(h.reason, h.reason_labels),
        "recorded_at": h.recorded_at.tolist(),
        "category": names(h.category, h.category_labels),
    }


@pytest.mark.parametrize(
    "reasons",
    [
        ["price", "competitor", "no, budget", "timing", "price", "fit"],
        ["price", "a\x1fb", "li 王, \u00e9t\u00e9", "x" * 300, "competitor", "price"],
    ],
    ids=["plain", "separator-in-a-reason"],
)
def test_sqlite_paths_and_memory_give_the_same_columns(tmp_path: Path, reasons: list[str]) -> None:
    clock = lambda: T + timedelta(days=1)  # noqa: E731  # one recording time for both stores
    memory = MemoryUnitOfWork(clock=clock)
    sqlite = SqlUnitOfWork.from_url(tmp_path / "crm.db", clock=clock)
    try:
        _store(memory, reasons)
        _store(sqlite, reasons)
        with memory:
            want = _columns(memory.opportunities.read_history(funnel="b2b"))
        filters = {"funnel": "b2b", "owner_id": None, "lo": None, "hi": None, "seen": None}
        with sqlite:
            conn = sqlite._conn()
            concatenated = _history._concatenated(conn, sqlite.namespace.stage_changes, filters)
            rows = _history._rows(conn, sqlite.namespace.stage_changes, filters)
            read = sqlite.opportunities.read_history(funnel="b2b")
        assert _columns(rows) == want
        assert _columns(read) == want
        if any("\x1f" in r for r in reasons):
            assert concatenated is None  # the separator in a text: read row by row
        else:
            assert concatenated is not None and _columns(concatenated) == want
        assert 1 / 3 + 2e-9 in want["probability"]  # a rep's own, to the last bit
        assert want["amount"][:2] == [None, None] and want["product"][0] == "crm"
    finally:
        sqlite.close()
