"""The report reads a database through its URL, the path of an SQLite file or a unit of work,
and the three give the same page; a missing SQLite file is refused, not created."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from crmcore.errors import ValidationError
from crmcore.report import add_example_data, build_report
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork


def test_url_path_and_unit_of_work_give_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # tables only: the data path is tested
    db = tmp_path / "crm.db"
    sql = SqlUnitOfWork.from_url(f"sqlite:///{db}")
    added = add_example_data(sql, customers=40, deals=4, seed=5)
    memory = MemoryUnitOfWork()
    assert add_example_data(memory, customers=40, deals=4, seed=5) == added
    by_url = build_report(f"sqlite:///{db}", title="t")
    by_path = build_report(db, title="t")
    by_uow = build_report(sql, title="t")
    in_memory = build_report(memory, title="t")
    sql.close()
    assert by_url.html == by_path.html == by_uow.html
    assert [s.sentences for s in in_memory.sections] == [s.sentences for s in by_url.sections]
    assert all(s.available for s in by_url.sections[:2])


def test_a_missing_sqlite_file_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(ValidationError, match="does not exist"):
        build_report(f"sqlite:///{missing}")
    with pytest.raises(ValidationError, match="existing SQLite file"):
        build_report(missing)
    assert not missing.exists()


def test_costs_without_a_channel_or_in_another_currency(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from crmcore.model import CostEntry
    from crmcore.model.money import Money

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    uow = MemoryUnitOfWork()
    add_example_data(uow, customers=60, deals=0, seed=8)
    with uow:
        ids = [str(c) for c in uow.transactions.read_log().customer_ids.tolist()]
        at = datetime(2023, 6, 1, tzinfo=UTC)  # before the example's own entries
        uow.costs.add_many(
            [
                CostEntry(id="nochan", customer_id=ids[0], incurred_at=at, category="acquisition",
                          amount=Money("12.00", "USD")),
                CostEntry(id="eur", customer_id=ids[1], incurred_at=at, category="acquisition",
                          channel="search", amount=Money("30.00", "EUR")),
            ]
        )  # fmt: skip
        uow.commit()
    value = build_report(uow).section("value")
    cac = value.tables[-1]
    assert cac.caption == "CLV vs CAC by acquisition channel"
    assert cac.note is not None and "1 entry in another currency left out" in cac.note
    channels = [row[0] for row in cac.rows]
    assert "(no channel)" in channels  # its own row, not the spread label ("unattributed")
    only_eur = MemoryUnitOfWork()
    add_example_data(only_eur, customers=80, deals=0, seed=8)
    with only_eur:
        for c in only_eur.costs.list():
            only_eur.costs.replace(
                CostEntry(id=c.id, customer_id=c.customer_id, incurred_at=c.incurred_at,
                          category=c.category, channel=c.channel,
                          amount=Money(c.amount.amount, "EUR"))
            )  # fmt: skip
        only_eur.commit()
    r = build_report(only_eur)
    assert "another currency than the purchases" in " ".join(r.section("value").sentences)
    assert any("another currency" in n for n in r.section("segments").notes)
