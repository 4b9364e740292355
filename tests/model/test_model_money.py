"""Money: exact Decimal arithmetic in one currency; mixed currencies and floats refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.model import CURRENCY_MINOR_UNITS, Money, money_sum
from crmcore.testing.strategies import money

amounts = st.decimals(min_value=-(10**12), max_value=10**12, allow_nan=False, places=4)


@given(amounts, amounts)
def test_addition_is_exact_decimal_addition(a: Decimal, b: Decimal) -> None:
    assert (Money(a, "EUR") + Money(b, "EUR")).amount == a + b


@given(amounts, amounts, amounts)
def test_addition_is_associative_and_commutative(a: Decimal, b: Decimal, c: Decimal) -> None:
    x, y, z = (Money(v, "USD") for v in (a, b, c))
    assert (x + y) + z == x + (y + z)
    assert x + y == y + x


@given(amounts)
def test_subtracting_itself_is_zero(a: Decimal) -> None:
    m = Money(a, "JPY")
    assert m - m == Money.zero("JPY")
    assert (-m) + m == Money.zero("JPY")


@given(money("EUR"), money("USD"))
def test_mixed_currencies_are_refused_everywhere(a: Money, b: Money) -> None:
    for op in (lambda: a + b, lambda: a - b, lambda: a < b, lambda: a >= b):
        with pytest.raises(ValidationError, match="cannot combine EUR and USD"):
            op()


@given(amounts, amounts)
def test_ordering_matches_decimal_ordering(a: Decimal, b: Decimal) -> None:
    assert (Money(a, "GBP") < Money(b, "GBP")) == (a < b)


@pytest.mark.parametrize("bad", [1.5, float("nan"), True])
def test_floats_and_bools_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError, match="'amount'"):
        Money(bad, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-inf", "12,50", "abc", ""])
def test_non_finite_or_malformed_strings_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="'amount'"):
        Money(bad, "EUR")


@pytest.mark.parametrize("bad", ["EURO", "XXX", "", "us", 978])
def test_unknown_currencies_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError, match="'currency'"):
        Money("1", bad)  # type: ignore[arg-type]


def test_from_float_rounds_half_even_to_minor_unit() -> None:
    assert Money.from_float(0.125, "EUR").amount == Decimal("0.12")
    assert Money.from_float(2.5, "JPY").amount == Decimal("2")
    assert Money.from_float(1.0005, "KWD").amount == Decimal(
        "1.000"
    )  # a tie goes to the even digit
    with pytest.raises(ValidationError):
        Money.from_float(float("inf"), "EUR")


def test_minor_units_of_well_known_currencies() -> None:
    assert CURRENCY_MINOR_UNITS["EUR"] == 2
    assert CURRENCY_MINOR_UNITS["JPY"] == 0
    assert CURRENCY_MINOR_UNITS["KWD"] == 3
    assert CURRENCY_MINOR_UNITS["CNY"] == 2


def test_division_and_multiplication() -> None:
    assert Money("10", "EUR") / 4 == Money("2.5", "EUR")
    assert 3 * Money("1.10", "EUR") == Money("3.30", "EUR")
    with pytest.raises(ValidationError, match="by zero"):
        Money("1", "EUR") / 0
    with pytest.raises(ValidationError):
        Money("1", "EUR") * 1.5  # type: ignore[operator]


def test_money_sum() -> None:
    assert money_sum([], "EUR") == Money("0", "EUR")
    assert money_sum([Money("1.1", "EUR")] * 3, "EUR") == Money("3.3", "EUR")
