"""The trusted bulk path of imports (``add_validated``) and the key lookups, on every backend.

The expected rows are model objects built directly; the columns handed to
``add_validated`` are their storage encoding (``to_micros``, ``to_e6``, the
kind code), so what a backend reads back must be those objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crmcore.errors import DuplicateError, ValidationError
from crmcore.model import Money, Transaction, TransactionKind
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
from crmcore.repositories._codec import to_e6, to_micros
from crmcore.repositories._columnar import ValidatedRows
from crmcore.repositories.protocols import UnitOfWork
from crmcore.repositories.sql import _transactions as sql_transactions

BACKENDS = ["memory", "sqlite", "postgres", "mysql"]


@pytest.fixture(params=BACKENDS)
def make(request: pytest.FixtureRequest) -> Iterator[Callable[[], UnitOfWork]]:
    if request.param == "memory":
        yield MemoryUnitOfWork
        return
    factory: Callable[[], SqlUnitOfWork] = request.getfixturevalue(f"{request.param}_factory")
    yield factory


def _transactions(n: int) -> list[Transaction]:
    kinds = list(TransactionKind)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        Transaction(
            id=f"t:o-{i:05d}",
            customer_id=f"c-{i % 7}",
            occurred_at=t0 + timedelta(minutes=37 * i, microseconds=i),
            amount=Money(f"{i * 13}.{i % 1000:03d}5", "JPY" if i % 5 == 0 else "EUR"),
            kind=kinds[i % len(kinds)],
            quantity=i % 4,
            product=None if i % 3 else f"p-{i % 9}",
            channel="web" if i % 2 else None,
            external_ref=f"o-{i:05d}",
        )
        for i in range(n)
    ]


def _rows(ts: list[Transaction], *, with_channel: bool = True) -> ValidatedRows:
    cols: dict[str, list[Any]] = {
        "id": [t.id for t in ts],
        "customer_id": [t.customer_id for t in ts],
        "occurred_at": [to_micros(t.occurred_at, "occurred_at") for t in ts],
        "amount_e6": [to_e6(t.amount.amount, "amount") for t in ts],
        "currency": [t.amount.currency for t in ts],
        "kind": [t.kind.code for t in ts],
        "quantity": [t.quantity for t in ts],
        "product": [t.product for t in ts],
        "external_ref": [t.external_ref for t in ts],
    }
    if with_channel:
        cols["channel"] = [t.channel for t in ts]
    return ValidatedRows(cols)


@pytest.fixture(params=[3, 128])
def group(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Rows per INSERT statement on SQLite (the default 128, and 3 for many small groups)."""
    monkeypatch.setattr(sql_transactions, "_ROWS_PER_INSERT", request.param)
    return int(request.param)


@pytest.mark.parametrize("n", [1, 127, 128, 300, 1000])
def test_add_validated_stores_the_rows_exactly(
    make: Callable[[], UnitOfWork], group: int, n: int
) -> None:
    """``n`` around the groups of SQLite's multi-row insert."""
    uow = make()
    ts = _transactions(n)
    with uow:
        assert uow.transactions.add_validated(_rows(ts)) == n  # type: ignore[attr-defined]
        uow.commit()
    with uow:
        got = sorted(uow.transactions.list(), key=lambda t: t.id)
    assert got == ts


def test_an_absent_optional_column_is_null(make: Callable[[], UnitOfWork]) -> None:
    uow = make()
    ts = _transactions(40)
    with uow:
        uow.transactions.add_validated(_rows(ts, with_channel=False))  # type: ignore[attr-defined]
        uow.commit()
    with uow:
        got = sorted(uow.transactions.list(), key=lambda t: t.id)
    assert [t.channel for t in got] == [None] * 40
    assert [t.product for t in got] == [t.product for t in ts]


@pytest.mark.parametrize("dup", [0, 200, 298])
def test_a_duplicate_id_stores_nothing_of_the_rows(
    make: Callable[[], UnitOfWork], group: int, dup: int
) -> None:
    """The duplicate sits in the first group, a middle group, or the rows after the last group
    (300 rows: two groups of 128 and 44 more; or a hundred groups of 3)."""
    uow = make()
    ts = _transactions(300)
    with uow:
        uow.transactions.add(ts[dup])
        uow.commit()
        with pytest.raises(DuplicateError):
            uow.transactions.add_validated(_rows(ts))  # type: ignore[attr-defined]
        assert uow.transactions.count() == 1
        # the unit of work goes on: the other rows can still be stored
        rest = ts[:dup] + ts[dup + 1 :]
        assert uow.transactions.add_validated(_rows(rest)) == 299  # type: ignore[attr-defined]
        uow.commit()
    with uow:
        assert uow.transactions.count() == 300


def test_add_validated_takes_only_validated_rows(make: Callable[[], UnitOfWork]) -> None:
    uow = make()
    ts = _transactions(3)
    good = _rows(ts).columns
    with uow:
        repo: Any = uow.transactions
        with pytest.raises(ValidationError, match="ValidatedRows of crmcore.ingest"):
            repo.add_validated(dict(good))
        with pytest.raises(ValidationError, match=r"lacks the column\(s\) \['amount_e6'\]"):
            repo.add_validated(ValidatedRows({k: v for k, v in good.items() if k != "amount_e6"}))
        with pytest.raises(ValidationError, match="unknown column"):
            repo.add_validated(ValidatedRows({**good, "colour": ["x"] * 3}))
        with pytest.raises(ValidationError, match="not 3 rows long"):
            repo.add_validated(ValidatedRows({**good, "kind": [0]}))
        assert repo.count() == 0


def test_existing_external_refs_across_chunks(make: Callable[[], UnitOfWork]) -> None:
    """More keys than one lookup statement takes (500): every stored key is found, no other."""
    uow = make()
    ts = _transactions(1200)
    with uow:
        uow.transactions.add_validated(_rows(ts[::2]))  # type: ignore[attr-defined]
        uow.commit()
    asked = [t.external_ref for t in ts if t.external_ref] + ["nope", "o-1", "O-00000"]
    with uow:
        found = uow.transactions.existing_external_refs(asked)
    assert found == {t.external_ref for t in ts[::2]}
