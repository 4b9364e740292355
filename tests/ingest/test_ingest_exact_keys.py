"""Issue 15: a row without an order reference is keyed on its exact amount.

The finding: the content key hashed the float amount, so a transaction of
10000000000.000002 was skipped as "already present" after one of
10000000000.000001 (both are the same float64). Below 2**33 units every two
storable amounts have distinct floats, and the keys stay those earlier releases
stored (a re-run of an old import finds them); from there on the key hashes the
exact amount (amount x 10**6).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.ingest import import_transactions
from crmcore.ingest._keys import Occurrences
from crmcore.ingest._store import EXACT_FLOAT_E6, keys_for
from crmcore.ingest.transactions import validate_transaction_columns
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork


@pytest.fixture(params=["memory", "sqlite"])
def make_uow(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    def make() -> Any:
        if request.param == "memory":
            return MemoryUnitOfWork()
        return SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'crm.db'}")

    return make


def _row(amount: str, **kw: str) -> dict[str, object]:
    return {"customer_id": "c-1", "occurred_at": "2024-01-01", "amount": amount,
            "currency": "EUR", **kw}  # fmt: skip


def _keys(amounts: list[str]) -> list[str]:
    checked = validate_transaction_columns(
        {"customer_id": ["c-1"] * len(amounts), "occurred_at": ["2024-01-01"] * len(amounts),
         "amount": amounts, "currency": ["EUR"] * len(amounts)},
    )  # fmt: skip
    return keys_for(checked, "", Occurrences()).keys


def test_amounts_that_share_a_float_are_two_transactions(make_uow: Any) -> None:
    uow = make_uow()
    data = [_row("10000000000.000001"), _row("10000000000.000002"), _row("9200000000000.000001")]
    assert float(Decimal("10000000000.000001")) == float(Decimal("10000000000.000002"))
    first = import_transactions(uow, data, batch_size=1)
    assert (first.stored, first.skipped) == (3, 0)
    with uow:
        amounts = sorted(str(t.amount.amount) for t in uow.transactions.list())
    assert amounts == ["10000000000.000001", "10000000000.000002", "9200000000000.000001"]
    again = import_transactions(uow, data)  # idempotent: the same keys again
    assert (again.stored, again.skipped) == (0, 3)


def test_keys_below_the_float_limit_are_those_of_earlier_releases() -> None:
    """Golden keys computed by the release before this change (commit 5e64995): a re-run of
    an import stored then finds its rows."""
    assert _keys(["19.99", "8589934591.999999"]) == [
        "row:25a3d167fd99cc1d1646960cee765347",
        "row:0f1c6b4f08bfec55dfe0cc7e3a046568",
    ]
    assert EXACT_FLOAT_E6 == 8_589_934_592 * 10**6


_E6 = st.integers(min_value=0, max_value=9_200_000_000_000 * 10**6 - 1)


@given(_E6, _E6)
def test_distinct_amounts_have_distinct_keys(a: int, b: int) -> None:
    text = [f"{Decimal(x).scaleb(-6):f}" for x in (a, b)]
    keys = [k.split("#")[0] for k in _keys(text)]  # the content part (#1: a repetition)
    assert (keys[0] == keys[1]) == (a == b), (text, keys)


@given(st.integers(min_value=EXACT_FLOAT_E6 - 10**7, max_value=EXACT_FLOAT_E6 + 10**7))
def test_neighbours_of_the_limit_have_distinct_keys(a: int) -> None:
    amounts = [f"{Decimal(x).scaleb(-6):f}" for x in (a - 1, a, a + 1)]
    keys = _keys(amounts)
    assert len(set(keys)) == 3 and all(k.startswith("row:") and "#" not in k for k in keys)
    assert np.all(np.array([len(k) for k in keys]) == 36)
