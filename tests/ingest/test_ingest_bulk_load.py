"""The bulk-load paths: the plain-CSV fast split against the csv module, and the SQLite import
that sets the ordering indexes aside (restored after the load, or on the next open after a crash).
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import RepositoryError
from crmcore.ingest import import_transactions
from crmcore.ingest._bytecells import ByteCells
from crmcore.ingest._sources import CsvSource
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
from crmcore.repositories.sql import _transactions

_ALL = ["ix_transactions_customer_time", "ix_transactions_external_ref", "ix_transactions_time"]

# cells without quotes, CR, LF or the delimiter; spaces, NUL and non-ASCII included
_cell = st.text(
    alphabet=st.characters(blacklist_characters='",\r\n', blacklist_categories=("Cs",)),
    max_size=6,
)


@settings(max_examples=40)
@given(
    rows=st.lists(st.lists(_cell, min_size=3, max_size=3), min_size=0, max_size=12),
    eol=st.sampled_from(["\n", "\r\n"]),
    trailing=st.booleans(),
    bom=st.booleans(),
    batch=st.integers(1, 5),
)
def test_the_plain_split_equals_the_csv_module(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[list[str]],
    eol: str,
    trailing: bool,
    bom: bool,
    batch: int,
) -> None:
    # a row of empty cells is still a line with two delimiters (never a blank line)
    text = eol.join(",".join(r) for r in [["a", "b", "c"], *rows]) + (eol if trailing else "")
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"))
    src = CsvSource(path, fields=("a", "c"), required=("a",), column_of={})
    got = list(src.batches(batch))
    expected = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))[1:]
    assert [c for b in got for c in b.columns["a"]] == [r[0] for r in expected]
    assert [c for b in got for c in b.columns["c"]] == [r[2] for r in expected]
    lines = [int(x) for b in got for x in (b.lines if b.lines is not None else [])]
    assert lines == list(range(2, 2 + len(expected)))
    assert src._plain is not None  # the fast path was taken
    # the same cells kept as bytes of the file: one by one, and all at once
    raw = list(src.batches(batch, raw=True))
    assert all(isinstance(b.columns["c"], ByteCells) for b in raw)
    one = [b.columns["c"][i] for b in raw for i in range(len(b))]
    assert one == [c for b in raw for c in b.columns["c"]] == [r[2] for r in expected]
    assert [c for b in raw for c in b.columns["a"]] == [r[0] for r in expected]


def test_quotes_take_the_csv_module_path(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('a,b\n"x,1",2\n', encoding="utf-8")
    src = CsvSource(path, fields=("a", "b"), required=("a",), column_of={})
    (b,) = src.batches(10)
    assert b.columns["a"] == ["x,1"] and src._plain is None


def _csv(path: Path, n: int) -> None:
    rng = np.random.default_rng(3)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["external_ref", "customer_id", "occurred_at", "amount", "currency"])
        for i in range(n):
            day = int(rng.integers(1, 28))
            amount = "-1" if i % 13 == 5 else f"{int(rng.integers(0, 999))}.5"
            w.writerow(
                [f"o-{i}", f"c-{int(rng.integers(0, 9))}", f"2024-02-{day:02d}", amount, "EUR"]
            )


def _indexes(db: Path) -> list[str]:
    uow = SqlUnitOfWork.from_url(f"sqlite:///{db}")
    try:
        with uow.engine.connect() as c:
            names = (r[1] for r in c.exec_driver_sql("PRAGMA index_list(transactions)"))
            return sorted(n for n in names if n.startswith("ix_"))
    finally:
        uow.close()


class _Dies:
    """Wraps a repository: ``add_validated`` raises on its (k+1)-th call; ``restore_indexes``
    too (as if the process died before the rebuild)."""

    def __init__(self, inner: Any, k: int) -> None:
        self.inner, self.k, self.calls = inner, k, 0

    def add_validated(self, rows: Any) -> int:
        self.calls += 1
        if self.calls > self.k:
            raise RepositoryError("killed (injected)")
        return int(self.inner.add_validated(rows))

    def restore_indexes(self) -> list[str]:
        raise RepositoryError("killed before the rebuild (injected)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("all_or_nothing", [False, True])
def test_a_bulk_import_into_sqlite_equals_the_memory_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, all_or_nothing: bool
) -> None:
    monkeypatch.setattr(_transactions, "_DEFER_INDEXES_ROWS", 10)
    path = tmp_path / "t.csv"
    _csv(path, 60)
    db = tmp_path / "crm.db"
    sql = SqlUnitOfWork.from_url(f"sqlite:///{db}")
    mem = MemoryUnitOfWork()
    kw: dict[str, Any] = {"batch_size": 7}
    if all_or_nothing:
        path.write_text(path.read_text().replace(",-1,", ",1,"), encoding="utf-8")
        kw["all_or_nothing"] = True
    a = import_transactions(sql, path, **kw)
    b = import_transactions(mem, path, **kw)
    assert (a.stored, a.rejected, a.errors) == (b.stored, b.rejected, b.errors)
    with sql, mem:
        x, y = sql.transactions.read_log(), mem.transactions.read_log()

    def content(log: Any) -> list[tuple[str, int, float]]:
        labels = log.customer_ids[log.customer]
        micros = log.time.astype(np.int64)
        return sorted(zip(labels.tolist(), micros.tolist(), log.amount.tolist(), strict=True))

    assert content(x) == content(y) and len(x) == a.stored
    sql.close()
    assert _indexes(db) == _ALL
    assert import_transactions(SqlUnitOfWork.from_url(f"sqlite:///{db}"), path).stored == 0


def test_a_crash_mid_bulk_import_keeps_whole_batches_and_the_next_open_rebuilds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transactions, "_DEFER_INDEXES_ROWS", 10)
    path = tmp_path / "t.csv"
    _csv(path, 60)
    db = tmp_path / "crm.db"
    uow = SqlUnitOfWork.from_url(f"sqlite:///{db}")
    real = uow.transactions
    uow.transactions = _Dies(real, 3)  # type: ignore[assignment]  # injected crash
    with pytest.raises(RepositoryError, match="killed"):
        import_transactions(uow, path, batch_size=10)
    uow.transactions = real  # type: ignore[assignment]
    with uow:
        stored = uow.transactions.count()
    uow.close()
    good_per_batch = [sum(1 for i in range(j, j + 10) if i % 13 != 5) for j in range(0, 60, 10)]
    assert stored == sum(good_per_batch[:3])  # whole batches only
    with SqlUnitOfWork.from_url(f"sqlite:///{db}").engine.connect() as c:  # no schema setup yet
        raw = [r[1] for r in c.exec_driver_sql("PRAGMA index_list(transactions)")]
        left = sorted(n for n in raw if n.startswith("ix_"))
    assert left == ["ix_transactions_external_ref"]  # the ordering indexes were set aside
    again = SqlUnitOfWork.from_url(f"sqlite:///{db}")  # a new process: the open rebuilds them
    rerun = import_transactions(again, path, batch_size=10)
    assert rerun.stored == sum(good_per_batch[3:]) and rerun.skipped == stored
    again.close()
    assert _indexes(db) == _ALL


def test_a_failure_mid_bulk_import_restores_the_indexes_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transactions, "_DEFER_INDEXES_ROWS", 10)
    path = tmp_path / "t.csv"
    _csv(path, 40)
    db = tmp_path / "crm.db"
    uow = SqlUnitOfWork.from_url(f"sqlite:///{db}")
    real = uow.transactions
    calls = {"n": 0}

    def failing(rows: Any) -> int:
        calls["n"] += 1
        if calls["n"] > 2:
            raise RepositoryError("disk full (injected)")
        return int(real.add_validated(rows))

    monkeypatch.setattr(real, "add_validated", failing)
    with pytest.raises(RepositoryError, match="disk full"):
        import_transactions(uow, path, batch_size=10)
    with uow:
        raw = [r[1] for r in uow._conn().exec_driver_sql("PRAGMA index_list(transactions)")]
        names = sorted(n for n in raw if n.startswith("ix_"))
    assert names == _ALL
    uow.close()


def test_small_or_relatively_small_loads_keep_the_indexes(tmp_path: Path) -> None:
    uow = SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'crm.db'}")
    with uow:
        assert uow.transactions.defer_indexes(49_999) == []
        assert uow.transactions.defer_indexes(50_000) == [
            "ix_transactions_customer_time",
            "ix_transactions_time",
        ]
        assert uow.transactions.restore_indexes() == [
            "ix_transactions_customer_time",
            "ix_transactions_time",
        ]
        assert uow.transactions.restore_indexes() == []
    uow.close()


def test_a_failed_commit_while_the_next_batch_is_parsed_keeps_whole_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next batch of a CSV file is parsed beside the commit of the current one: a failed
    commit still leaves whole batches only, raises, and leaves no helper thread behind."""
    import threading

    path = tmp_path / "t.csv"
    _csv(path, 60)
    uow = SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'crm.db'}")
    real_commit = uow.commit
    calls = {"n": 0}

    def failing_commit() -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RepositoryError("disk full at commit (injected)")
        real_commit()

    monkeypatch.setattr(uow, "commit", failing_commit)
    threads = threading.active_count()
    with pytest.raises(RepositoryError, match="at commit"):
        import_transactions(uow, path, batch_size=10)
    assert threading.active_count() == threads
    monkeypatch.setattr(uow, "commit", real_commit)
    with uow:
        stored = uow.transactions.count()
    good_per_batch = [sum(1 for i in range(j, j + 10) if i % 13 != 5) for j in range(0, 60, 10)]
    # commit 1 is the import's opening one (indexes), 2 the first batch, 3 the second: failed
    assert stored == good_per_batch[0]
    rerun = import_transactions(uow, path, batch_size=10)
    assert rerun.stored == sum(good_per_batch[1:]) and rerun.skipped == stored
    uow.close()


def test_an_error_while_parsing_ahead_surfaces_after_the_batches_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmcore.ingest import transactions

    path = tmp_path / "t.csv"
    _csv(path, 60)
    real = transactions.validate_transaction_columns
    calls = {"n": 0}

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("parser bug (injected)")
        return real(*args, **kwargs)

    monkeypatch.setattr(transactions, "validate_transaction_columns", failing)
    uow = MemoryUnitOfWork()
    with pytest.raises(RuntimeError, match="parser bug"):
        import_transactions(uow, path, batch_size=10)
    with uow:
        stored = uow.transactions.count()
    assert stored == sum(sum(1 for i in range(j, j + 10) if i % 13 != 5) for j in (0, 10, 20))
