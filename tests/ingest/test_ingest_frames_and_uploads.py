"""Imports from a DataFrame, an Arrow table and a file object store what the same CSV file
stores, and reject the same rows."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.ingest import import_customers, import_transactions
from crmcore.repositories import MemoryUnitOfWork

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")


def _stored(uow: MemoryUnitOfWork) -> list[tuple[str, str, Decimal, str]]:
    with uow:
        return sorted(
            (t.customer_id, t.occurred_at.isoformat(), t.amount.amount, t.amount.currency)
            for t in uow.transactions.list()
        )


def _csv(rows: list[tuple[str, str, str]]) -> str:
    return "customer_id,occurred_at,amount\n" + "".join(f"{c},{t},{a}\n" for c, t, a in rows)


def _import(source: Any) -> tuple[list[Any], list[tuple[int, str | None]]]:
    uow = MemoryUnitOfWork()
    report = import_transactions(uow, source, currency="EUR")
    return _stored(uow), [(e.row, e.column) for e in report.errors]


rows = st.lists(
    st.tuples(
        st.sampled_from(["c-1", "c-2", "c-3"]),
        st.sampled_from(["2024-01-05", "2024-02-29T13:30:00", "2024-03-01T08:00:00+02:00", "x"]),
        st.sampled_from(["9.90", "0", "12", "-1", "1.5", "abc"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=10, deadline=None)
@given(rows)
def test_a_frame_and_an_upload_store_what_the_csv_file_stores(
    data: list[tuple[str, str, str]],
) -> None:
    text = _csv(data)
    expected = _import(io.StringIO(text))
    frame = pd.DataFrame(data, columns=["customer_id", "occurred_at", "amount"])
    for source in (
        io.BytesIO(text.encode()),
        frame,
        pl.from_pandas(frame),
        pl.from_pandas(frame).lazy(),
        pa.Table.from_pandas(frame, preserve_index=False),
    ):
        assert _import(source) == expected, type(source).__name__


def test_typed_frame_columns() -> None:
    """Float amounts are read as their decimal text, times as instants (naive: UTC), a
    missing cell is a missing value whatever the library calls it."""
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", None],
            "occurred_at": pd.to_datetime(
                ["2024-01-01", "2024-01-02T10:00", None], format="ISO8601"
            ),
            "amount": [19.99, float("nan"), 3.0],
        }
    )
    aware = frame.assign(occurred_at=frame["occurred_at"].dt.tz_localize("Europe/Berlin"))
    for source in (frame, pl.from_pandas(frame), pa.Table.from_pandas(frame)):
        stored, errors = _import(source)
        assert stored == [("a", "2024-01-01T00:00:00+00:00", Decimal("19.99"), "EUR")]
        assert errors == [(2, "amount"), (3, "customer_id"), (3, "occurred_at")]
    stored, _ = _import(aware)
    assert stored == [("a", "2023-12-31T23:00:00+00:00", Decimal("19.99"), "EUR")]


def test_float_amounts_are_not_rounded() -> None:
    frame = pd.DataFrame(
        {"customer_id": ["a"], "occurred_at": ["2024-01-01"], "amount": [0.1 + 0.2]}
    )
    stored, errors = _import(frame)
    assert stored == []
    assert errors == [(1, "amount")]


def test_upload_names_and_file_level_problems() -> None:
    upload = io.BytesIO(b"customer_id,when,amount\na,2024-01-01,1\n")
    upload.name = "/tmp/browser/orders.csv"  # type: ignore[misc]
    with pytest.raises(
        ValidationError, match=r"orders.csv, line 1: missing column\(s\) \[.occurred_at.\]"
    ):
        import_transactions(MemoryUnitOfWork(), upload, currency="EUR")
    report = import_transactions(
        MemoryUnitOfWork(),
        io.StringIO("customer_id,occurred_at,amount\na,2024-01-01,1\n"),
        currency="EUR",
    )
    assert (report.source, report.stored) == ("<upload>", 1)
    frame = pd.DataFrame({"customer_id": ["a"], "occurred_at": ["2024-01-01"]})
    with pytest.raises(ValidationError, match=r"missing column\(s\) \['amount'\]"):
        import_transactions(MemoryUnitOfWork(), frame, currency="EUR")
    with pytest.raises(ValidationError, match="file object must give text or bytes"):
        import_transactions(MemoryUnitOfWork(), _Odd(), currency="EUR")


class _Odd:
    def read(self, n: int = -1) -> int:
        return 0


def test_customers_from_a_frame_with_renamed_columns() -> None:
    frame = pl.DataFrame({"key": ["k1", "k2"], "full_name": ["Ada", "Bob"]})
    uow = MemoryUnitOfWork()
    report = import_customers(
        uow, frame.lazy(), columns={"key": "external_key", "full_name": "name"}
    )
    assert report.stored == 2
    with uow:
        assert sorted(c.name for c in uow.customers.list()) == ["Ada", "Bob"]
