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
