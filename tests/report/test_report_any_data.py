"""Whatever valid transactions a database holds, the report is built: every section is there,
and a section that cannot compute its figures says so (hypothesis over small logs: one
customer, zero amounts, refunds, one day, many purchases of one customer)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.report import SECTION_IDS, build_report
from crmcore.repositories import MemoryUnitOfWork
from crmcore.tables import TransactionLog

rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c<i>", "d", "e"]),
        st.integers(0, 800),  # day
        st.sampled_from([0.0, 0.01, 5.0, 19.99, 250.0, 1e6]),
        st.sampled_from(["purchase", "purchase", "purchase", "refund"]),
    ),
    min_size=1,
    max_size=40,
)


@pytest.fixture(autouse=True)
def _no_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # the data path, not the drawing


@settings(max_examples=15)
@given(rows)
def test_any_small_base_gives_a_report(data: list[tuple[str, int, float, str]]) -> None:
    uow = MemoryUnitOfWork()
    with uow:
        uow.transactions.add_log(
            TransactionLog.from_arrays(
                customer_ids=[r[0] for r in data],
                timestamps=np.datetime64("2024-01-01", "D") + np.array([r[1] for r in data]),
                amounts=[r[2] for r in data],
                kinds=[r[3] for r in data],
                currency="USD",
                ids=[f"t{i}" for i in range(len(data))],
            )
        )
        uow.commit()
    report = build_report(uow)
    assert [s.id for s in report.sections] == list(SECTION_IDS)
    for s in report.sections:
        assert len(s.sentences) >= 2, s.id
        assert all(x.strip() and "nan" not in x.lower().split() for x in s.sentences), s.id
    assert report.section("base").available
