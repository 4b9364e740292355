"""End-to-end transaction imports on the memory and SQLite backends: modes, batches, idempotency."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ImportRejectedError, RepositoryError
from crmcore.ingest import ImportReport, RejectedImportError, import_transactions
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
from crmcore.serialization import from_json, to_json


@pytest.fixture(params=["memory", "sqlite"])
def make_uow(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    def make() -> Any:
        if request.param == "memory":
            return MemoryUnitOfWork()
        return SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'crm.db'}")

    return make


def rows(n: int, *, bad_every: int = 0) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(n):
        r: dict[str, object] = {
            "external_ref": f"o-{i:04d}",
            "customer_id": f"c-{i % 7}",
            "occurred_at": f"2024-01-{1 + i % 28:02d}T10:00:00+02:00",
            "amount": f"{i}.25",
            "kind": "refund" if i % 5 == 0 else "purchase",
            "quantity": str(1 + i % 3),
        }
        if bad_every and i % bad_every == bad_every - 1:
            r["amount"] = "-1"
        out.append(r)
    return out


def stored_refs(uow: Any) -> list[str]:
    with uow:
        return sorted(t.external_ref for t in uow.transactions.list())


def test_good_rows_are_stored_bad_rows_reported_and_none_of_them_stored(make_uow: Any) -> None:
    uow = make_uow()
    data = rows(40, bad_every=4)
    report = import_transactions(uow, data, currency="USD", batch_size=15)
    assert (report.rows_read, report.stored, report.rejected, report.skipped) == (40, 30, 10, 0)
    assert report.batches_committed == 3
    assert [e.row for e in report.errors] == list(range(4, 41, 4))
    assert {e.column for e in report.errors} == {"amount"}
    good = sorted(str(r["external_ref"]) for r in data if r["amount"] != "-1")
    assert stored_refs(uow) == good
    with uow:
        t = uow.transactions.get("t:o-0000")
    assert t.occurred_at.isoformat() == "2024-01-01T08:00:00+00:00"
    assert (t.kind.value, t.quantity, str(t.amount.amount)) == ("refund", 1, "0.25")


def test_a_rerun_stores_nothing_new(make_uow: Any) -> None:
    uow = make_uow()
    first = import_transactions(uow, rows(30, bad_every=10), currency="USD", batch_size=8)
    again = import_transactions(uow, rows(30, bad_every=10), currency="USD", batch_size=8)
    assert (again.stored, again.skipped, again.rejected) == (0, first.stored, 3)
    assert again.batches_committed == 0
    assert len(stored_refs(uow)) == first.stored


def test_all_or_nothing_raises_with_the_report_and_stores_nothing(make_uow: Any) -> None:
    uow = make_uow()
    with pytest.raises(ImportRejectedError) as info:
        import_transactions(
            uow, rows(30, bad_every=29), currency="USD", batch_size=5, all_or_nothing=True
        )
    assert isinstance(info.value, RejectedImportError)
    report = info.value.report
    assert (report.stored, report.rejected, report.batches_committed) == (0, 1, 0)
    assert "row 29" in info.value.problems[0]
    assert stored_refs(uow) == []
    ok = import_transactions(uow, rows(30), currency="USD", batch_size=5, all_or_nothing=True)
    assert (ok.stored, ok.batches_committed) == (30, 1)


def test_rows_without_external_ref_get_content_keys(make_uow: Any) -> None:
    uow = make_uow()
    base = {"customer_id": "c-1", "occurred_at": "2024-01-01", "amount": "5", "currency": "EUR"}
    data = [dict(base), dict(base), dict(base, amount="5.00"), dict(base, amount="6")]
    first = import_transactions(uow, data)
    # identical content twice is two transactions; "5" and "5.00" are the same content
    assert first.stored == 4
    refs = stored_refs(uow)
    assert [r.startswith("row:") for r in refs] == [True] * 4
    assert sum("#" in r for r in refs) == 2  # the 2nd and 3rd repetition of the same content
    again = import_transactions(uow, data, batch_size=1)
    assert (again.stored, again.skipped) == (0, 4)


def test_repeated_external_refs_in_one_import_keep_the_first(make_uow: Any) -> None:
    uow = make_uow()
    data = rows(3)
    data.append(dict(data[0], amount="99"))
    report = import_transactions(uow, data, currency="USD", batch_size=2)
    assert (report.stored, report.skipped) == (3, 1)
    with uow:
        assert str(uow.transactions.get("t:o-0000").amount.amount) == "0.25"


def test_mixed_currencies_are_stored_per_currency(make_uow: Any) -> None:
    uow = make_uow()
    data = [
        dict(r, currency=c)
        for r, c in zip(rows(6), ["USD", "EUR", "usd", "JPY", "EUR", "USD"], strict=True)
    ]
    report = import_transactions(uow, data)
    assert report.stored == 6
    with uow:
        currencies = sorted(t.amount.currency for t in uow.transactions.list())
    assert currencies == ["EUR", "EUR", "JPY", "USD", "USD", "USD"]


def test_time_format_and_naive_policy(make_uow: Any) -> None:
    uow = make_uow()
    data = [{"external_ref": "a", "customer_id": "c", "occurred_at": "03/02/2024", "amount": "1"}]
    report = import_transactions(uow, data, currency="USD", time_format="%d/%m/%Y")
    assert report.stored == 1
    with uow:
        assert uow.transactions.get("t:a").occurred_at.isoformat() == "2024-02-03T00:00:00+00:00"
    strict = import_transactions(
        uow,
        [dict(data[0], external_ref="b", occurred_at="2024-01-01T00:00:00")],
        currency="USD",
        assume_utc=False,
    )
    assert strict.rejected == 1 and "UTC offset" in strict.errors[0].reason


class _FailingTransactions:
    """Wraps a repository: its (k+1)-th write (``add_validated`` or ``add_log``) raises (a crash
    mid-import)."""

    def __init__(self, inner: Any, k: int) -> None:
        self.inner, self.k, self.calls = inner, k, 0

    def _tick(self) -> None:
        self.calls += 1
        if self.calls > self.k:
            raise RepositoryError("disk full (injected)")

    def add_validated(self, rows: Any) -> int:
        self._tick()
        return int(self.inner.add_validated(rows))

    def add_log(self, log: Any) -> int:
        self._tick()
        return int(self.inner.add_log(log))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@settings(max_examples=15)
@given(n=st.integers(1, 40), batch=st.integers(1, 9), k=st.integers(0, 5))
def test_a_crash_mid_import_leaves_whole_batches_and_a_rerun_completes(
    n: int, batch: int, k: int
) -> None:
    uow = MemoryUnitOfWork()
    real = uow.transactions
    uow.transactions = _FailingTransactions(real, k)  # type: ignore[assignment]  # injected fault
    data = rows(n, bad_every=6)
    good = [str(r["external_ref"]) for r in data if r["amount"] != "-1"]
    batches = [data[i : i + batch] for i in range(0, n, batch)]
    good_per_batch = [sum(r["amount"] != "-1" for r in b) for b in batches]
    calls_needed = sum(1 for g in good_per_batch if g)
    if calls_needed > k:
        with pytest.raises(RepositoryError):
            import_transactions(uow, data, currency="USD", batch_size=batch)
        # exactly the first k non-empty batches are stored, whole
        done = [g for g in good_per_batch if g][:k]
        assert len(stored_refs(uow)) == sum(done)
    else:
        import_transactions(uow, data, currency="USD", batch_size=batch)
    uow.transactions = real  # type: ignore[assignment]  # the fault is gone
    rerun = import_transactions(uow, data, currency="USD", batch_size=batch)
    assert stored_refs(uow) == sorted(good)
    assert rerun.stored + rerun.skipped == len(good)


def test_report_round_trips_through_json() -> None:
    report = import_transactions(MemoryUnitOfWork(), rows(5, bad_every=2), currency="USD")
    text = to_json(report)
    assert json.loads(text)["errors"][0]["column"] == "amount"
    assert from_json(ImportReport, text) == report


class _LogOnly:
    """A repository of the protocol alone (no ``add_validated``), as a user's backend may be."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def add_log(self, log: Any) -> int:
        return int(self.inner.add_log(log))

    def existing_external_refs(self, refs: Any) -> set[str]:
        return set(self.inner.existing_external_refs(refs))

    def count(self) -> int:
        return int(self.inner.count())


def test_a_repository_without_the_trusted_path_stores_the_same(
    make_uow: Any, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    lines = ["external_ref,customer_id,occurred_at,amount,currency,kind,quantity,channel"]
    for i in range(60):
        ref = "" if i % 7 == 0 else f"o-{i % 50}"  # content keys, and repeats across batches
        cur = "EUR" if i % 3 else "usd"
        amount = "-2" if i % 11 == 4 else f"{i}.{i:02d}"
        channel = "web" if i % 2 else ""
        lines.append(f"{ref},c-{i % 5},2024-03-{1 + i % 28:02d},{amount},{cur},refund,2,{channel}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    trusted = make_uow()
    plain = MemoryUnitOfWork()
    plain.transactions = _LogOnly(plain.transactions)  # type: ignore[assignment]
    a = import_transactions(trusted, path, batch_size=9)
    b = import_transactions(plain, path, batch_size=9)
    assert (a.stored, a.skipped, a.rejected, a.errors) == (
        b.stored,
        b.skipped,
        b.rejected,
        b.errors,
    )
    with trusted:
        x = sorted(trusted.transactions.list(), key=lambda t: t.id)
    with plain:
        y = sorted(plain.transactions.inner.list(), key=lambda t: t.id)  # type: ignore[attr-defined]
    assert x == y and len(x) == a.stored


def test_amounts_are_stored_exactly_to_six_places(make_uow: Any, tmp_path: Path) -> None:
    """Amounts beyond float precision (2**53 micro-units) keep every digit."""
    path = tmp_path / "big.csv"
    amounts = ["999999999999.123456", "9007199254.740993", "0.000001", "123456789012.345677"]
    rows_ = [f"o-{i},c-1,2024-01-01T00:00:00Z,{a},EUR" for i, a in enumerate(amounts)]
    path.write_text(
        "external_ref,customer_id,occurred_at,amount,currency\n" + "\n".join(rows_) + "\n",
        encoding="utf-8",
    )
    uow = make_uow()
    assert import_transactions(uow, path).stored == 4
    with uow:
        got = {t.external_ref: t.amount.amount for t in uow.transactions.list()}
    assert got == {f"o-{i}": Decimal(a) for i, a in enumerate(amounts)}
