"""Storage encodings (properties), bad input, and bulk paths that cross chunk boundaries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import RepositoryError, ValidationError
from crmcore.model import Customer, Money, Transaction
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
from crmcore.repositories._codec import from_e6, from_micros, to_e6, to_micros
from crmcore.repositories.protocols import UnitOfWork
from crmcore.tables import TransactionLog

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(st.integers(-(10**18), 10**18), st.sampled_from(["EUR", "JPY", "KWD"]))
def test_amount_e6_round_trips_every_integer(e6: int, currency: str) -> None:
    money = from_e6(e6, currency)
    assert to_e6(money.amount, "amount") == e6
    assert money.amount == Decimal(e6) / Decimal(10**6)  # independent: exact decimal division


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=6, allow_nan=False))
def test_six_decimal_places_are_exact(amount: Decimal) -> None:
    assert from_e6(to_e6(amount, "amount"), "EUR").amount == amount


_decimals = st.one_of(
    st.builds(
        lambda sign, coeff, exp: Decimal((sign, tuple(int(c) for c in str(coeff)), exp)),
        st.integers(0, 1),
        st.integers(0, 10**40),
        st.integers(-40, 40),
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
)


@given(_decimals)
def test_to_e6_is_exact_on_any_decimal(amount: Decimal) -> None:
    """Independent reference: the exact rational ``amount * 10**6`` (no 28-digit context)."""
    from fractions import Fraction

    exp = amount.as_tuple().exponent
    assert isinstance(exp, int)
    if exp > 60:  # the reference would build a huge integer: beyond any storable amount
        with pytest.raises(ValidationError, match="too large"):
            to_e6(amount, "amount")
        return
    scaled = Fraction(amount) * 10**6
    if scaled.denominator != 1:
        with pytest.raises(ValidationError, match="at most 6 decimal places"):
            to_e6(amount, "amount")
    elif abs(scaled) > 2**63 - 1:
        with pytest.raises(ValidationError, match="too large"):
            to_e6(amount, "amount")
    else:
        assert to_e6(amount, "amount") == scaled


def test_to_e6_refuses_huge_exponents_at_once() -> None:
    for text in ("1E+999999999", "-9E+99999"):
        with pytest.raises(ValidationError, match="too large"):
            to_e6(Decimal(text), "amount")
    assert to_e6(Decimal("0E+999999999"), "amount") == 0
    # 29 significant digits: 28-digit Decimal arithmetic would round this to 1.000000
    with pytest.raises(ValidationError, match="at most 6 decimal places"):
        to_e6(Decimal("1.0000000000000000000000000001"), "amount")


@given(st.integers(7, 12), st.integers(1, 9))
def test_more_places_are_refused_naming_the_value(places: int, digit: int) -> None:
    amount = Decimal(digit).scaleb(-places)
    with pytest.raises(ValidationError, match="at most 6 decimal places"):
        to_e6(amount, "amount")


def test_overflow_is_refused() -> None:
    with pytest.raises(ValidationError, match="too large"):
        to_e6(Decimal("1e13"), "amount")


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )
)
def test_micros_round_trip(t: datetime) -> None:
    m = to_micros(t, "at")
    assert from_micros(m) == t
    d = t - EPOCH  # independent: from the timedelta's parts
    assert m == d.days * 86_400_000_000 + d.seconds * 1_000_000 + d.microseconds


@pytest.fixture(params=["memory", "sqlite"])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWork]:
    if request.param == "memory":
        yield MemoryUnitOfWork()
        return
    u = SqlUnitOfWork.from_url(tmp_path / "enc.db")
    yield u
    u.close()


def test_bad_arguments_are_refused(uow: UnitOfWork) -> None:
    with uow:
        with pytest.raises(ValidationError, match="'limit'"):
            uow.customers.list(limit=-1)
        with pytest.raises(ValidationError, match="'batch_size'"):
            list(uow.customers.iter(batch_size=0))
        with pytest.raises(ValidationError, match="'channels' must be one of"):
            uow.interactions.list(channels=["pigeon"])
        with pytest.raises(ValidationError, match="not one string"):
            uow.transactions.read_log(customer_ids="c-1")
        with pytest.raises(ValidationError, match="expected Customer"):
            uow.customers.add("c-1")  # type: ignore[arg-type]  # the wrong type is the point
        with pytest.raises(ValidationError, match="'segment' must be at most 255"):
            uow.customers.add(Customer(id="c", name="x", segment="s" * 256))
        with pytest.raises(ValidationError, match="'kind' must be a non-empty string"):
            uow.documents.put("", "k", 1, expected_version=None)


def test_outside_a_block_is_an_error(uow: UnitOfWork) -> None:
    with pytest.raises(RepositoryError, match="not active"):
        uow.transactions.count()


def test_bulk_lookups_cross_chunk_boundaries(uow: UnitOfWork) -> None:
    n = 1234
    with uow:
        uow.customers.add_many(
            Customer(id=f"c-{i:04d}", name="x", external_key=f"k-{i}") for i in range(n)
        )
        log = TransactionLog.from_arrays(
            customer_ids=[f"c-{i:04d}" for i in range(n)],
            timestamps=np.datetime64("2020-01-01", "us") + np.arange(n).astype("timedelta64[m]"),
            amounts=np.arange(n) / 100,
            currency="EUR",
            ids=[f"t-{i}" for i in range(n)],
            external_refs=[f"r-{i}" for i in range(n)],
        )
        uow.transactions.add_log(log)
        wanted = [f"k-{i}" for i in range(0, 2 * n, 2)]
        assert uow.customers.by_external_keys(wanted) == {
            f"k-{i}": f"c-{i:04d}" for i in range(0, n, 2)
        }
        refs = uow.transactions.existing_external_refs([f"r-{i}" for i in range(0, 2 * n, 3)])
        assert refs == {f"r-{i}" for i in range(0, n, 3)}
        some = [f"c-{i:04d}" for i in range(0, n, 2)] + ["c-none"]
        part = uow.transactions.read_log(customer_ids=some)
        assert part.customer_ids.tolist() == sorted(some[:-1])
        assert np.allclose(part.amount, np.arange(0, n, 2) / 100)
        streamed = list(uow.customers.iter(batch_size=100))
        assert [c.id for c in streamed] == [f"c-{i:04d}" for i in range(n)]


@settings(max_examples=15)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=40), st.integers(1, 7))
def test_iter_keyset_with_ties_yields_each_row_once(hours: list[int], batch: int) -> None:
    uow = MemoryUnitOfWork()
    with uow:
        uow.transactions.add_many(
            Transaction(
                id=f"t-{i}",
                customer_id="c",
                occurred_at=EPOCH + timedelta(hours=h),
                amount=Money("1", "EUR"),
            )
            for i, h in enumerate(hours)
        )
        got = [t.id for t in uow.transactions.iter(batch_size=batch)]
    want = [tid for _, tid in sorted((h, f"t-{i}") for i, h in enumerate(hours))]
    assert got == want


def test_sql_keyset_with_ties_yields_each_row_once(tmp_path: Path) -> None:
    uow = SqlUnitOfWork.from_url(tmp_path / "ties.db")
    hours = [3, 1, 1, 1, 2, 3, 3, 0, 1, 2, 2, 2, 3]
    with uow:
        uow.transactions.add_many(
            Transaction(
                id=f"t-{i:02d}",
                customer_id="c",
                occurred_at=EPOCH + timedelta(hours=h),
                amount=Money("1", "EUR"),
            )
            for i, h in enumerate(hours)
        )
        for batch in (1, 2, 3, 5, 20):
            got = [t.id for t in uow.transactions.iter(batch_size=batch)]
            assert got == [f"t-{i:02d}" for _, i in sorted((h, i) for i, h in enumerate(hours))]
    uow.close()
