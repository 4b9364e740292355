"""The columnar validator accepts exactly the rows that the model constructor accepts.

The reference below is written independently of ``crmcore.ingest``: each row
is turned into keyword arguments with the documented cell rules (an empty
cell is missing; timestamps through ``datetime.fromisoformat``, naive ones
taken as UTC; quantities through ``int``) and handed to ``Transaction`` and
``Money``; the storage rules of every backend (``check_storable``: 6 decimal
places, 255-character keys) and the int64 quantity column complete it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.ingest import validate_transaction_columns
from crmcore.ingest._bytecells import ByteCells
from crmcore.ingest._sources import CsvSource
from crmcore.model import Money, Transaction
from crmcore.repositories._codec import check_storable

FIELDS = ("customer_id", "occurred_at", "amount", "currency", "kind", "quantity", "external_ref")


def model_accepts(row: dict[str, Any], *, assume_utc: bool = True) -> bool:
    cells = {k: (None if v == "" else v) for k, v in row.items()}
    try:
        t = cells["occurred_at"]
        when = None
        if isinstance(t, str):
            when = datetime.fromisoformat(t)
            if when.tzinfo is None:
                if not assume_utc:
                    return False
                when = when.replace(tzinfo=UTC)
            when = when.astimezone(UTC)
        kwargs: dict[str, Any] = {
            "id": "t-1",
            "customer_id": cells["customer_id"],
            "occurred_at": when,
            "amount": Money(cells["amount"], cells["currency"]),
            "external_ref": cells["external_ref"],
        }
        if cells["kind"] is not None:
            kwargs["kind"] = cells["kind"]
        if cells["quantity"] is not None:
            kwargs["quantity"] = int(cells["quantity"])
            if kwargs["quantity"] > 2**63 - 1:
                return False
        check_storable(Transaction(**kwargs))
    except (ValidationError, ValueError, ArithmeticError):  # OverflowError, decimal.Overflow
        return False
    return True


def _stamp(y: int, mo: int, d: int, h: int, mi: int, s: int, sep: str, tz: str, form: str) -> str:
    date = f"{y:04d}-{mo:02d}-{d:02d}"
    if form == "date":
        return date
    frac = ".250" if form == "frac" else ""
    return f"{date}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{tz}"


stamps = st.one_of(
    st.builds(
        _stamp,
        st.sampled_from([0, 1, 1900, 1970, 2000, 2024, 9999]),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.integers(0, 60),
        st.integers(0, 61),
        st.sampled_from(["T", " ", "t", "_"]),
        st.sampled_from(["", "Z", "+00:00", "+05:30", "-08:00", "+23:59", "+24:00", "z", "+0530"]),
        st.sampled_from(["date", "datetime", "frac"]),
    ),
    st.sampled_from(
        ["", "now", "NaT", "2024", "2024-01", "20240102", "2024-01-02T03:04", "2024-01-02\x00"]
    ),
    st.text(max_size=12),
)
amounts = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(min_value=-10, max_value=10**13, places=7).map(str),
    st.integers(-(10**14), 10**14).map(str),
    st.sampled_from(
        ["", "0", "-0", "1.", ".5", "1e3", " 5 ", "1_000", "NaN", "1.1234567", "abc", ".", "١٢"]
    ),
    st.text(alphabet="0123456789.-+e ", max_size=10),
)
ids = st.one_of(
    st.text(alphabet="abc-_09", min_size=1, max_size=8),
    st.sampled_from(["", " x", "x ", "x" * 128, "x" * 129, "a\x00"]),
    st.text(max_size=6),
)
good_stamps = st.builds(
    _stamp,
    st.integers(1900, 2100),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from(["T", " "]),
    st.sampled_from(["", "Z", "+00:00", "+05:30", "-08:00"]),
    st.sampled_from(["date", "datetime", "frac"]),
)
GOOD: dict[str, st.SearchStrategy[str]] = {
    "customer_id": st.text(alphabet="abc-_09", min_size=1, max_size=8),
    "occurred_at": good_stamps,
    "amount": st.decimals(min_value=0, max_value=10**9, places=2).map(str),
    "currency": st.sampled_from(["USD", "usd", " eur ", "JPY"]),
    "kind": st.sampled_from(["", "purchase", "refund"]),
    "quantity": st.sampled_from(["", "1", "3", "12"]),
    "external_ref": st.one_of(st.just(""), st.text(min_size=1, max_size=5)),
}
EDGE: dict[str, st.SearchStrategy[str]] = {
    "customer_id": ids,
    "occurred_at": stamps,
    "amount": amounts,
    "currency": st.sampled_from(["USD", "usd", " eur ", "JPY", "XXX", "EURO", ""]),
    "kind": st.sampled_from(["", "purchase", "refund", "withdrawal", "Purchase", " fee", "gift"]),
    "quantity": st.one_of(
        st.integers(-3, 2**64).map(str),
        st.sampled_from(["", "1.5", " 3", "+2", "x", "1_0"]),
    ),
    "external_ref": st.one_of(
        st.just(""), st.text(max_size=5), st.sampled_from(["x" * 255, "x" * 256])
    ),
}


@st.composite
def rows(draw: st.DrawFn) -> dict[str, str]:
    """A good row with up to three cells replaced by edge cases (good or bad)."""
    row = {f: draw(GOOD[f]) for f in FIELDS}
    for f in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        row[f] = draw(EDGE[f])
    return row


def _columns(batch: list[dict[str, Any]]) -> dict[str, list[object]]:
    return {f: [r[f] for r in batch] for f in FIELDS}


@settings(max_examples=150)
@given(st.lists(rows(), min_size=1, max_size=30), st.booleans())
def test_columnar_validator_accepts_exactly_what_the_model_accepts(
    batch: list[dict[str, Any]], assume_utc: bool
) -> None:
    checked = validate_transaction_columns(_columns(batch), assume_utc=assume_utc)
    expected = [model_accepts(r, assume_utc=assume_utc) for r in batch]
    assert checked.good.tolist() == expected
    bad_rows = {i for i, _, _ in checked.errors}
    assert bad_rows == {i for i, ok in enumerate(expected) if not ok}


@settings(max_examples=60)
@given(st.lists(rows(), min_size=1, max_size=20))
def test_accepted_values_equal_the_model_values(batch: list[dict[str, Any]]) -> None:
    checked = validate_transaction_columns(_columns(batch))
    for i, r in enumerate(batch):
        if not checked.good[i]:
            continue
        when = datetime.fromisoformat(r["occurred_at"])
        when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
        micros = (when - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1e6
        assert abs(int(checked.micros[i]) - micros) < 1
        assert checked.amounts[i] == float(Money(r["amount"], "USD").amount)
        assert checked.currencies[i] == r["currency"].strip().upper()


def test_mixed_native_values_follow_the_model() -> None:
    """Cells from mappings keep their Python types: floats are refused as amounts, like Money."""
    from decimal import Decimal

    cols: dict[str, list[object]] = {
        "customer_id": ["c", "c", "c", 7, "c"],
        "occurred_at": [
            datetime(2024, 1, 1, tzinfo=UTC),
            datetime(2024, 1, 1),
            "2024-01-01",
            "2024-01-01",
            1700000000,
        ],
        "amount": [Decimal("1.5"), 3, 2.5, "1", "1"],
        "currency": ["USD"] * 5,
        "quantity": [2, True, None, 1, 1],
    }
    checked = validate_transaction_columns(cols)
    assert checked.good.tolist() == [True, False, False, False, False]
    fields = {(i, f) for i, f, _ in checked.errors}
    assert fields == {
        (1, "occurred_at"),
        (1, "quantity"),
        (2, "amount"),
        (3, "customer_id"),
        (4, "occurred_at"),
    }
    # a naive datetime object is ambiguous, as in the model, even with assume_utc=True
    # (which is about strings without an offset: crmcore.timestamps)
    naive = validate_transaction_columns({k: v[1:2] for k, v in cols.items()}, assume_utc=True)
    assert {f for _, f, _ in naive.errors} == {"occurred_at", "quantity"}


def _ref_micros(cell: str, assume_utc: bool) -> int | None:
    """fromisoformat, less the offsets ISO 8601 does not allow but Python reads (``+01:60``)."""
    offset = re.search(r"[Tt ].*[+-](\d\d):?(\d\d)$", cell)
    if offset is not None and (int(offset[1]) > 23 or int(offset[2]) > 59):
        return None
    try:
        when = datetime.fromisoformat(cell)
        if when.tzinfo is None:
            if not assume_utc:
                return None
            when = when.replace(tzinfo=UTC)
        when = when.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return (when - datetime(1970, 1, 1, tzinfo=UTC)) // (datetime.resolution)


_STAMP_EDGES: dict[str, st.SearchStrategy[Any]] = {
    "y": st.sampled_from([0, 1, 9999]),
    "h": st.sampled_from([23, 24]),
    "mi": st.sampled_from([59, 60]),
    "s": st.sampled_from([59, 60]),
    "sep": st.sampled_from(["t", "_", "x"]),
    "tz": st.sampled_from(["+24:00", "+01:60", "-23:59", "+23:59", "z", "+0530", "-00:00"]),
}


@st.composite
def focused_stamps(draw: st.DrawFn) -> str:
    """A valid timestamp with at most one component pushed to an edge (a bad day, hour 24, ...)."""
    p: dict[str, Any] = {
        "y": draw(st.sampled_from([1, 2, 1900, 2000, 2023, 2024, 2100, 9998])),
        "mo": draw(st.integers(1, 12)),
        "d": draw(st.integers(1, 28)),
        "h": draw(st.integers(0, 23)),
        "mi": draw(st.integers(0, 59)),
        "s": draw(st.integers(0, 59)),
        "sep": draw(st.sampled_from(["T", " "])),
        "tz": draw(st.sampled_from(["", "Z", "+00:00", "+05:30", "-08:00"])),
        "form": draw(st.sampled_from(["date", "datetime", "datetime", "frac"])),
    }
    edge = draw(st.sampled_from([None, "day", "month", *_STAMP_EDGES]))
    if edge == "day":
        p["mo"] = draw(st.sampled_from([2, 4, 6, 9, 11, 1, 12]))
        p["d"] = draw(st.sampled_from([0, 29, 30, 31, 32]))
    elif edge == "month":
        p["mo"] = draw(st.sampled_from([0, 13]))
    elif edge is not None:
        p[edge] = draw(_STAMP_EDGES[edge])
    return _stamp(p["y"], p["mo"], p["d"], p["h"], p["mi"], p["s"], p["sep"], p["tz"], p["form"])


def _assert_times_match(
    cells: list[str], micros: Any, errors: list[tuple[int, str]], assume_utc: bool
) -> None:
    """Every cell accepted exactly when fromisoformat's reference accepts it, with its value."""
    bad = {i for i, _ in errors}
    for i, cell in enumerate(cells):
        expected = _ref_micros(cell, assume_utc)
        assert (i not in bad) == (expected is not None), cell
        if expected is not None:
            assert int(micros[i]) == expected, cell


@settings(max_examples=300)
@given(
    st.lists(st.one_of(focused_stamps(), focused_stamps(), stamps), min_size=10, max_size=40),
    st.booleans(),
)
def test_timestamps_match_fromisoformat(cells: list[str], assume_utc: bool) -> None:
    from crmcore.ingest._times import parse_times

    micros, errors = parse_times(cells, assume_utc=assume_utc)
    _assert_times_match(cells, micros, errors, assume_utc)


focused_amounts = st.one_of(
    st.builds(
        lambda i, f: f"{i}{f}",
        st.sampled_from(["", "0", "7", "999999999999", "1000000000000", "9223372036854"]),
        st.sampled_from(["", ".", ".5", ".123456", ".1234567", ".000000", "e2", "E-7"]),
    ),
    amounts,
)


@settings(max_examples=300)
@given(st.lists(focused_amounts, min_size=10, max_size=40))
def test_amounts_match_money(cells: list[str]) -> None:
    from crmcore.ingest._cells import parse_amounts

    values, errors = parse_amounts(cells)
    bad = {i for i, _ in errors}
    for i, cell in enumerate(cells):
        try:
            m = Money(cell or None, "USD")
            ok = m.amount >= 0
            if ok:
                check_storable(
                    Transaction(id="t", customer_id="c", occurred_at=datetime.now(UTC), amount=m)
                )
        except (ValidationError, ArithmeticError):  # decimal.Overflow from the storage check
            ok = False
        assert (i not in bad) == ok, cell
        if ok:
            assert values[i] == float(m.amount), cell


# -- the plain-CSV path: cells parsed from the file's bytes ----------------------------------
def byte_cells(cells: list[str]) -> Any:
    """``cells`` as a ByteCells column (each cell followed by a line feed in one buffer)."""
    from crmcore.ingest._bytecells import ByteCells

    encoded = [c.encode("utf-8") for c in cells]
    data = b"".join(e + b"\n" for e in encoded)
    sizes = np.array([len(e) + 1 for e in encoded], dtype=np.int64)
    start = np.cumsum(sizes) - sizes
    end = start + sizes - 1
    return ByteCells(data, np.frombuffer(data, dtype=np.uint8), start, end)


def _plain(cell: str) -> str:
    """A cell that a plain CSV line can hold (no quote, delimiter, CR or LF)."""
    return cell.translate({ord(","): ";", ord('"'): "'", ord("\r"): " ", ord("\n"): " "})


@settings(max_examples=150)
@given(st.lists(rows(), min_size=1, max_size=30), st.booleans())
def test_a_plain_csv_file_is_validated_like_the_model(
    tmp_path_factory: pytest.TempPathFactory, batch: list[dict[str, Any]], assume_utc: bool
) -> None:
    """The byte path (a plain CSV file) accepts exactly the model's rows, with the same values
    and messages as the string path (itself checked against the model above)."""
    batch = [{f: _plain(v) for f, v in r.items()} for r in batch]
    path = tmp_path_factory.mktemp("plain") / "t.csv"
    lines = [",".join(FIELDS)] + [",".join(r[f] for f in FIELDS) for r in batch]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    src = CsvSource(path, fields=FIELDS, required=(), column_of={})
    (got,) = src.batches(len(batch), raw=True)
    assert src._plain is not None and isinstance(got.columns["amount"], ByteCells)
    on_bytes = validate_transaction_columns(got.columns, assume_utc=assume_utc)
    assert on_bytes.good.tolist() == [model_accepts(r, assume_utc=assume_utc) for r in batch]
    on_str = validate_transaction_columns(_columns(batch), assume_utc=assume_utc)
    assert on_bytes.errors == on_str.errors
    good = on_str.good
    for name in ("micros", "amounts_e6", "amounts", "kinds", "quantities"):
        a, b = getattr(on_bytes, name)[good], getattr(on_str, name)[good]
        assert a.tolist() == b.tolist(), name
    for name in ("customer_ids", "currencies", "external_refs", "products"):
        a, b = getattr(on_bytes, name), getattr(on_str, name)
        assert [a[i] for i in np.flatnonzero(good)] == [b[i] for i in np.flatnonzero(good)], name


@settings(max_examples=200)
@given(st.lists(focused_amounts.map(lambda c: c.replace("\n", " ")), min_size=10, max_size=40))
def test_byte_amounts_match_money(cells: list[str]) -> None:
    from crmcore.ingest import _bytecells

    e6, values, errors = _bytecells.parse_money(byte_cells(cells))
    bad = {i for i, _ in errors}
    for i, cell in enumerate(cells):
        try:
            m = Money(cell or None, "USD")
            ok = m.amount >= 0 and abs(m.amount) < Decimal(2**63) / 10**6
            exact = m.amount.scaleb(6)
            ok = ok and exact == exact.to_integral_value()
        except (ValidationError, ArithmeticError):
            ok = False
        assert (i not in bad) == ok, cell
        if ok:
            assert int(e6[i]) == int(m.amount.scaleb(6)), cell
            assert values[i] == float(m.amount), cell


@settings(max_examples=200)
@given(
    st.lists(
        st.one_of(focused_stamps(), stamps).map(lambda c: c.replace("\n", " ")),
        min_size=10,
        max_size=40,
    ),
    st.booleans(),
)
def test_byte_timestamps_match_fromisoformat(cells: list[str], assume_utc: bool) -> None:
    from crmcore.ingest import _bytecells

    micros, errors = _bytecells.parse_times(byte_cells(cells), assume_utc=assume_utc)
    _assert_times_match(cells, micros, errors, assume_utc)


_category_cells = st.one_of(
    st.sampled_from(["", "purchase", "refund", "withdrawal", "transfer_out", " fee", "Purchase"]),
    st.sampled_from(["USD", "usd", " eur ", "EURO", "XXX", "JPY"]),
    st.sampled_from(["1", "0", "12", "007", "+2", " 3", "1_0", "-1", "1.5", "x", "٣"]),
    st.integers(0, 2**64).map(str),
    st.text(max_size=20).map(lambda c: c.replace("\n", " ")),
)


@settings(max_examples=200)
@given(st.lists(_category_cells, min_size=1, max_size=60))
def test_byte_kinds_currencies_quantities_and_ids_equal_the_string_parsers(
    cells: list[str],
) -> None:
    """Categories are peeled off 16 distinct values at a time, the rest goes to the reference
    parser: the results and messages are those of the string parsers, cell by cell."""
    from crmcore.ingest import _bytecells, _cells

    b = byte_cells(cells)
    for name in ("parse_kinds", "parse_quantities"):
        (x, ex), (y, ey) = getattr(_bytecells, name)(b), getattr(_cells, name)(cells)
        assert x.tolist() == y.tolist() and sorted(ex) == sorted(ey), name
    for name in ("parse_currencies", "parse_ids"):
        (p, ep), (q, eq) = getattr(_bytecells, name)(b), getattr(_cells, name)(cells)
        assert list(p) == list(q) and sorted(ep) == sorted(eq), name
    (t, et), (u, eu) = (
        _bytecells.parse_texts(b, max_length=5),
        _cells.parse_texts(cells, max_length=5),
    )
    assert t == u and et == eu
