"""Issue 15: imports that meet another writer tell the truth and keep their report.

The finding: two imports into one SQLite file; one that had committed every batch raised
"ConcurrencyError ... nothing was changed, retry" while rebuilding its indexes, and its
reject report was lost. Now each block of an import takes SQLite's write lock first and is
retried when another writer got in the way (a duplicate another import stored: once, with
every key looked up); what still fails raises ImportInterruptedError (a RepositoryError)
saying what is stored, with the report so far.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from crmcore.errors import ConcurrencyError, RepositoryError
from crmcore.ingest import ImportInterruptedError, ImportReport, _attempts, import_transactions
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql import _engine
from crmcore.repositories.sql.schema import schema_plan


def _rows(lo: int, hi: int, *, bad_every: int = 0) -> list[dict[str, object]]:
    return [
        {"external_ref": f"o-{i:06d}", "customer_id": f"c-{i % 997}",
         "occurred_at": f"2024-01-{1 + i % 28:02d}T10:00:00Z",
         "amount": "-1" if bad_every and i % bad_every == 0 else f"{1 + i % 50}.25",
         "currency": "EUR"}
        for i in range(lo, hi)
    ]  # fmt: skip


def test_two_bulk_imports_into_one_sqlite_file_both_succeed(tmp_path: Path) -> None:
    """Two threads, each with its own engine (as two processes would be), import 60,000 rows
    each into an empty file (both set the indexes aside), 20,000 of them the same orders."""
    db = tmp_path / "crm.db"
    SqlUnitOfWork.from_url(db).__enter__()  # the schema, so both start on an empty table
    data = [_rows(0, 60_000), _rows(40_000, 100_000)]
    reports: list[ImportReport | BaseException] = [RuntimeError("not run")] * 2
    go = threading.Barrier(2)

    def run(i: int) -> None:
        uow = SqlUnitOfWork.from_url(db)
        go.wait()
        try:
            reports[i] = import_transactions(uow, data[i], batch_size=10_000)
        except BaseException as e:
            reports[i] = e
        finally:
            uow.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, ImportReport) for r in reports), reports
    done = [r for r in reports if isinstance(r, ImportReport)]
    assert sum(r.stored for r in done) == 100_000  # each order once
    assert [r.stored + r.skipped for r in done] == [60_000, 60_000]
    check = SqlUnitOfWork.from_url(db)
    with check:
        assert check.transactions.count() == 100_000
        refs = check.transactions.existing_external_refs([f"o-{i:06d}" for i in range(100_000)])
        assert len(refs) == 100_000
    with check.engine.connect() as conn:
        assert schema_plan(conn) == []  # every index is back
    check.close()


class _Conflicts:
    """Wraps a repository: ``add_validated`` raises ConcurrencyError on the calls listed."""

    def __init__(self, inner: Any, failing: set[int]) -> None:
        self.inner, self.failing, self.calls = inner, failing, 0

    def add_validated(self, rows: Any) -> int:
        self.calls += 1
        if self.calls in self.failing:
            raise ConcurrencyError("database is locked (injected)")
        return int(self.inner.add_validated(rows))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_attempts, "PAUSE_S", 0.001)


def test_a_batch_that_meets_a_lock_is_retried(tmp_path: Path, quick: None) -> None:
    uow = SqlUnitOfWork.from_url(tmp_path / "crm.db")
    uow.transactions = _Conflicts(uow.transactions, {2, 3})  # type: ignore[misc]
    report = import_transactions(uow, _rows(0, 50, bad_every=7), batch_size=10)
    assert (report.stored, report.rejected, report.batches_committed) == (42, 8, 5)
    with uow:
        assert uow.transactions.count() == 42


def test_a_batch_that_keeps_failing_stops_with_the_truth_and_the_report(
    tmp_path: Path, quick: None
) -> None:
    uow = SqlUnitOfWork.from_url(tmp_path / "crm.db")
    uow.transactions = _Conflicts(uow.transactions, set(range(3, 100)))  # type: ignore[misc]
    with pytest.raises(ImportInterruptedError) as err:
        import_transactions(uow, _rows(0, 50, bad_every=7), batch_size=10)
    e = err.value
    assert isinstance(e, RepositoryError) and isinstance(e.__cause__, ConcurrencyError)
    assert "storing batch 3 failed 5 times" in str(e)
    assert "17 rows in 2 committed batches are stored and stay" in str(e)
    assert "nothing was changed" not in str(e).split("; ")[-1]
    # the report so far: three batches read, their rejected rows with their reasons
    assert (e.report.rows_read, e.report.stored, e.report.rejected) == (30, 17, 5)
    assert [r.row for r in e.report.errors] == [1, 8, 15, 22, 29]
    with uow:
        assert uow.transactions.count() == 17
    again = import_transactions(SqlUnitOfWork.from_url(tmp_path / "crm.db"), _rows(0, 50))
    assert (again.stored, again.skipped) == (50 - 17, 17)


def test_a_lock_held_past_the_busy_timeout_stores_nothing_and_says_so(
    tmp_path: Path, quick: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_engine, "BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(_attempts, "RETRIES", 2)
    db = tmp_path / "crm.db"
    uow = SqlUnitOfWork.from_url(db, connect_args={"timeout": 0.05})
    with uow:
        pass
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program writing, for longer than we wait
    try:
        with pytest.raises(ImportInterruptedError) as err:
            import_transactions(uow, _rows(0, 20), batch_size=10)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "starting the import failed 2 times" in str(err.value)
    assert str(err.value).endswith("nothing was stored (run the import again)")
    assert err.value.report.stored == 0
    with uow:
        assert uow.transactions.count() == 0
    assert import_transactions(uow, _rows(0, 20)).stored == 20
