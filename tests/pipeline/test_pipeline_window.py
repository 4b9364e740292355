"""load_history(start=...): the deals active in [start, as_of), with their true creation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from crmcore.model import Money
from crmcore.pipeline import (
    TOP_IN_BEST,
    advance,
    create_opportunity,
    load_history,
    sales_cycle,
    save_funnel,
    stage_conversion,
)
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork, UnitOfWork

T0 = datetime(2024, 1, 1, 9, tzinfo=UTC)
START = T0 + timedelta(days=45)
AS_OF = T0 + timedelta(days=90)


@pytest.fixture(params=["memory", "sqlite"])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWork]:
    if request.param == "memory":
        yield MemoryUnitOfWork()
    else:
        yield SqlUnitOfWork.from_url(tmp_path / "crm.db")


def _story(uow: UnitOfWork) -> None:
    """won62: created day 0, won day 62; lost10: lost day 10 (before the window);
    open0: created day 0, untouched since; new50: created day 50, moved day 55."""

    def moves(oid: str, steps: list[tuple[str, int, str | None]]) -> None:
        for version, (to, day, reason) in enumerate(steps):
            advance(
                uow,
                oid,
                to,
                expected_version=version,
                funnel=TOP_IN_BEST,
                by="ann",
                at=T0 + timedelta(days=day),
                reason=reason,
            )

    with uow:
        save_funnel(uow, TOP_IN_BEST)
        for oid, day in (("won62", 0), ("lost10", 0), ("open0", 0), ("new50", 50)):
            create_opportunity(
                uow,
                TOP_IN_BEST,
                id=oid,
                customer_id="c",
                owner_id="ann",
                at=T0 + timedelta(days=day),
                amount=Money("100", "EUR"),
            )
        moves("won62", [("IN", 20, None), ("BEST", 30, None), ("WIN", 62, None)])
        moves("lost10", [("LOST", 10, "price")])
        moves("new50", [("IN", 55, None)])
        uow.commit()


def test_a_window_keeps_whole_histories_of_the_deals_active_in_it(uow: UnitOfWork) -> None:
    _story(uow)
    with uow:
        fh = load_history(uow, TOP_IN_BEST, as_of=AS_OF, start=START)
        everything = load_history(uow, TOP_IN_BEST, as_of=AS_OF)
    ids = fh.opportunity_ids[fh.opportunity_codes].tolist()
    assert sorted(ids) == ["new50", "open0", "won62"]  # lost10 closed before the window
    # true creation: the won deal's cycle is 62 days, not the 17 days since START
    assert sales_cycle(fh).median_days == 62.0
    created = dict(zip(ids, fh.created.astype("M8[D]").astype(str).tolist(), strict=True))
    assert created["won62"] == "2024-01-01" and created["open0"] == "2024-01-01"
    # its path is whole: it reached TOP and IN before the window
    assert stage_conversion(fh).reached.tolist() == [3, 2, 1]
    assert everything.n_opportunities == 4
    assert np.array_equal(sales_cycle(everything).median_days, sales_cycle(fh).median_days)
