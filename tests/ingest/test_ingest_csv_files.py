"""Malformed CSV files raise a ValidationError naming file, line and column, and store nothing."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from crmcore.errors import ValidationError
from crmcore.ingest import import_customers, import_transactions
from crmcore.repositories import MemoryUnitOfWork

HEADER = "external_ref,customer_id,occurred_at,amount,currency\n"
GOOD = "o-1,c-1,2024-01-01T10:00:00Z,10.00,USD\n"


def _write(tmp_path: Path, text: str | bytes, name: str = "t.csv") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def _count(uow: MemoryUnitOfWork) -> int:
    with uow:
        return uow.transactions.count()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "t.csv, line 1: the file is empty"),
        (b"\n\n", "t.csv, line 1: the file is empty"),
        (b"customer_id,occurred_at\nc,2024-01-01\n", "missing column(s) ['amount', 'currency']"),
        (
            (HEADER + GOOD + "o-2,c-1,2024-01-01,5\n" + GOOD).encode(),
            "t.csv, line 3: 4 fields, the header has 5 (ragged row)",
        ),
        (
            (HEADER + GOOD).encode() + b"o-2,c-\xe9,2024-01-01,5,USD\n",
            "t.csv, line 3, byte 7 of the line, column 'customer_id': not utf-8 text",
        ),
        (codecs.BOM_UTF16_LE + HEADER.encode("utf-16-le"), "UTF-16/32 byte order mark"),
        (b"amount,amount,customer_id,occurred_at,currency\n", "repeated column name(s) ['amount']"),
        (b"amount,,customer_id\n", "t.csv, line 1, column 2: blank column name"),
    ],
)
def test_file_level_errors_name_the_place_and_store_nothing(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    uow = MemoryUnitOfWork()
    p = _write(tmp_path, content)
    with pytest.raises(ValidationError) as info:
        import_transactions(uow, p, batch_size=1)
    assert needle in str(info.value)
    assert _count(uow) == 0


def test_a_bad_line_late_in_the_file_stores_nothing_even_with_small_batches(
    tmp_path: Path,
) -> None:
    rows = "".join(f"o-{i},c-1,2024-01-01,1,USD\n" for i in range(50))
    p = _write(tmp_path, (HEADER + rows).encode() + b"o-x,c-1,2024-01-01,1,USD,extra\n")
    uow = MemoryUnitOfWork()
    with pytest.raises(ValidationError, match="line 52"):
        import_transactions(uow, p, batch_size=5)
    assert _count(uow) == 0


def test_utf8_bom_blank_lines_quoted_newlines_and_line_numbers(tmp_path: Path) -> None:
    text = (
        "\ufeff"
        + HEADER.replace("currency", "currency,product")
        + "o-1,c-1,2024-01-01,1.00,USD,plain\n"
        + "\n"
        + 'o-2,c-1,2024-01-01,2.00,USD,"two\nlines"\n'
        + "o-3,c-1,2024-01-01,-3,USD,bad\n"
    )
    p = _write(tmp_path, text)
    uow = MemoryUnitOfWork()
    report = import_transactions(uow, p)
    assert (report.rows_read, report.stored, report.rejected) == (3, 2, 1)
    (err,) = report.errors
    assert (err.row, err.line, err.column) == (3, 6, "amount")
    with uow:
        stored = uow.transactions.list()
    assert sorted(t.product or "" for t in stored) == ["plain", "two\nlines"]


def test_column_mapping_and_fixed_currency(tmp_path: Path) -> None:
    p = _write(tmp_path, "Order,Client,When,Total\nA-1,c-9,2024-03-01 12:00:00,7.5\n")
    uow = MemoryUnitOfWork()
    report = import_transactions(
        uow,
        p,
        columns={
            "Order": "external_ref",
            "Client": "customer_id",
            "When": "occurred_at",
            "Total": "amount",
        },
        currency="eur",
    )
    assert report.stored == 1
    with uow:
        (t,) = uow.transactions.list()
    assert (t.customer_id, t.amount.currency, str(t.amount.amount), t.external_ref) == (
        "c-9",
        "EUR",
        "7.50",
        "A-1",
    )
    assert t.occurred_at.isoformat() == "2024-03-01T12:00:00+00:00"


def test_other_encodings_and_delimiters(tmp_path: Path) -> None:
    text = (
        "external_ref;customer_id;occurred_at;amount;currency;product\nx;c;2024-01-01;1;USD;Café\n"
    )
    p = tmp_path / "latin.csv"
    p.write_bytes(text.encode("latin-1"))
    uow = MemoryUnitOfWork()
    report = import_transactions(uow, p, delimiter=";", encoding="latin-1")
    assert report.stored == 1
    with uow:
        assert uow.transactions.list()[0].product == "Café"


def test_customers_file_needs_an_identity_column(tmp_path: Path) -> None:
    p = _write(tmp_path, "name,email\nAda,ada@example.com\n", name="people.csv")
    with pytest.raises(
        ValidationError, match="people.csv: needs an 'id' or an 'external_key' column"
    ):
        import_customers(MemoryUnitOfWork(), p)


def test_bad_options_are_refused() -> None:
    uow = MemoryUnitOfWork()
    with pytest.raises(ValidationError, match="'batch_size' must be >= 1: 0"):
        import_transactions(uow, [], batch_size=0)
    with pytest.raises(ValidationError, match="'currency' must be an ISO 4217 code: 'EURO'"):
        import_transactions(uow, [], currency="EURO")
    with pytest.raises(ValidationError, match="unknown field 'colour'"):
        import_transactions(uow, [], columns={"x": "colour"})
    with pytest.raises(ValidationError, match="row 1 must be a mapping"):
        import_transactions(uow, [["c", "2024-01-01", "1"]], currency="USD")  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="cannot read the file"):
        import_transactions(uow, "/nonexistent/file.csv")
