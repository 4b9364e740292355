"""One currency per report: amounts in other currencies are refused, or converted by dated rates.

Money in crmcore is a ``Decimal`` with its ISO 4217 currency, and adding two
currencies raises. The array world keeps that rule: a pipeline report sums
amounts of one currency only. Amounts in several currencies (1,000 EUR and
1,000,000 JPY) are refused unless the caller passes a :class:`RateTable`;
then each amount is converted at the rate valid on its date, and the report
says which currency it is in.

A rate table is dated: each :class:`Rate` says how many units of the
table's ``base`` currency one unit of ``currency`` is worth from
``valid_from`` (a calendar day, inclusive) until the next rate of the same
currency. A conversion between two currencies that are not the base goes
through the base (``EUR -> base -> JPY``). Before a currency's first rate
there is no rate, and converting is refused with the currency and the day.

>>> from datetime import date
>>> from decimal import Decimal
>>> rates = RateTable.from_rows("EUR", [("JPY", date(2025, 1, 1), "0.0061"),
...                                      ("JPY", date(2025, 2, 1), "0.0064"),
...                                      ("USD", date(2025, 1, 1), "0.95")])
>>> rates.rate("JPY", date(2025, 1, 31)), rates.rate("JPY", date(2025, 2, 1))
(Decimal('0.0061'), Decimal('0.0064'))
>>> rates.convert(Money("1000000", "JPY"), date(2025, 2, 10))
Money(amount=Decimal('6400.00'), currency='EUR')
>>> rates.convert(Money("100", "USD"), date(2025, 1, 5), to="JPY")
Money(amount=Decimal('15574'), currency='JPY')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._messages import show
from crmcore.arrays import FloatArray, IntArray, as_float_array, as_int_array, check_same_length
from crmcore.errors import ValidationError
from crmcore.model._fields import tuple_of
from crmcore.model.money import CURRENCY_MINOR_UNITS, Money, _to_currency, _to_decimal
from crmcore.timestamps import as_date

__all__ = ["Rate", "RateTable"]


def _to_day(value: object) -> date:
    return as_date(value, name="valid_from")


def _positive_rate(value: object) -> Decimal:
    if isinstance(value, bool | float):
        raise ValidationError(
            f"'rate' must be a Decimal, int or numeric string (exact), not "
            f"{type(value).__name__}: {value!r}"
        )
    try:
        d = _to_decimal(value)
    except ValidationError:
        raise ValidationError(f"'rate' must be a finite number: {show(value)}") from None
    if d <= 0:
        raise ValidationError(f"'rate' must be > 0: {value!r}")
    return d


@attrs.frozen
class Rate:
    """From ``valid_from`` on, one unit of ``currency`` is worth ``rate`` units of the table's base.

    >>> Rate("usd", "2025-01-01", "0.95")
    Rate(currency='USD', valid_from=datetime.date(2025, 1, 1), rate=Decimal('0.95'))
    >>> Rate("USD", date(2025, 1, 1), 0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'rate' must be > 0: 0
    """

    currency: str = attrs.field(converter=_to_currency)
    valid_from: date = attrs.field(converter=_to_day)
    rate: Decimal = attrs.field(converter=_positive_rate)


def _to_rates(value: object) -> tuple[Rate, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError(f"'rates' must be a collection of Rate: {show(value)}")
    out = tuple(value)
    for i, r in enumerate(out):
        if not isinstance(r, Rate):
            raise ValidationError(f"'rates[{i}]' must be a Rate: {show(r)}")
    return tuple(sorted(out, key=lambda r: (r.currency, r.valid_from)))


def _to_base(value: object) -> str:
    try:
        return _to_currency(value)
    except ValidationError:
        raise ValidationError(f"'base' must be an ISO 4217 code: {show(value)}") from None


@attrs.frozen
class RateTable:
    """Dated conversion rates into ``base`` (see the module docstring).

    >>> RateTable("EUR", [Rate("USD", date(2025, 1, 1), "0.95"), Rate("USD", date(2025, 1, 1), "0.96")])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'rates' has two rates of USD valid from 2025-01-01
    """

    base: str = attrs.field(converter=_to_base)
    rates: tuple[Rate, ...] = attrs.field(converter=_to_rates, validator=tuple_of(Rate, "a Rate"))
    _days: dict[str, npt.NDArray[np.datetime64]] = attrs.field(init=False, repr=False, eq=False)
    _values: dict[str, FloatArray] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        days: dict[str, list[date]] = {}
        values: dict[str, list[float]] = {}
        for r in self.rates:
            if r.currency == self.base:
                raise ValidationError(
                    f"'rates' gives a rate of the base currency {self.base}: it is always 1"
                )
            if days.get(r.currency) and days[r.currency][-1] == r.valid_from:
                raise ValidationError(
                    f"'rates' has two rates of {r.currency} valid from {r.valid_from.isoformat()}"
                )
            days.setdefault(r.currency, []).append(r.valid_from)
            values.setdefault(r.currency, []).append(float(r.rate))
        object.__setattr__(self, "_days", {c: np.array(d, dtype="M8[D]") for c, d in days.items()})
        object.__setattr__(
            self, "_values", {c: np.array(v, dtype=np.float64) for c, v in values.items()}
        )

    @classmethod
    def from_rows(cls, base: str, rows: Iterable[Sequence[Any]]) -> RateTable:
        """A table from ``(currency, valid_from, rate)`` rows (rates exact: Decimal, int or text).

        >>> RateTable.from_rows("EUR", [("GBP", "2025-01-01", "1.19")]).currencies
        ('EUR', 'GBP')
        """
        if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
            raise ValidationError(f"'rows' must be (currency, valid_from, rate) rows: {show(rows)}")
        out = []
        for i, row in enumerate(rows):
            if isinstance(row, str | bytes) or not isinstance(row, Sequence) or len(row) != 3:
                raise ValidationError(
                    f"'rows[{i}]' must be a (currency, valid_from, rate) row: {show(row)}"
                )
            out.append(Rate(row[0], row[1], row[2]))
        return cls(base, out)

    @property
    def currencies(self) -> tuple[str, ...]:
        """The base and every currency with a rate, sorted.

        >>> RateTable("EUR", []).currencies
        ('EUR',)
        """
        return tuple(sorted({self.base, *self._days}))

    def rate(self, currency: str, on: date) -> Decimal:
        """Units of ``base`` for one unit of ``currency`` on day ``on`` (1 for the base itself).

        >>> RateTable("EUR", [Rate("USD", date(2025, 1, 1), "0.95")]).rate("USD", date(2024, 12, 31))
        Traceback (most recent call last):
        crmcore.errors.ValidationError: no rate of USD into EUR on 2024-12-31: its first rate is valid from 2025-01-01
        """
        code = _to_currency(currency)
        day = _to_day(on) if not isinstance(on, datetime) else on.date()
        if code == self.base:
            return Decimal(1)
        mine = [r for r in self.rates if r.currency == code and r.valid_from <= day]
        if not mine:
            raise ValidationError(self._no_rate(code, np.datetime64(day, "D")))
        return mine[-1].rate

    def convert(self, money: Money, on: date, *, to: str | None = None) -> Money:
        """``money`` in ``to`` (default: the base) at the rates valid on ``on``, rounded half-even
        to the target's minor unit.

        >>> RateTable("EUR", []).convert(Money("5", "EUR"), date(2025, 1, 1))
        Money(amount=Decimal('5.00'), currency='EUR')
        """
        if not isinstance(money, Money):
            raise ValidationError(f"'money' must be Money: {show(money)}")
        target = self.base if to is None else _to_currency(to)
        value = money.amount * self.rate(money.currency, on) / self.rate(target, on)
        q = Decimal(1).scaleb(-CURRENCY_MINOR_UNITS[target])
        return Money(value.quantize(q, rounding=ROUND_HALF_EVEN), target)

    def _no_rate(self, code: str, day: np.datetime64) -> str:
        if code not in self._days:
            return (
                f"no rate of {code} into {self.base}: the table has rates of "
                f"{list(self.currencies)}"
            )
        first = str(self._days[code][0])
        return f"no rate of {code} into {self.base} on {day}: its first rate is valid from {first}"

    def factors(
        self, currencies: Sequence[str], codes: IntArray, days: npt.NDArray[np.datetime64]
    ) -> FloatArray:
        """Per row, units of ``base`` for one unit of ``currencies[codes[i]]`` on ``days[i]``
        (vectorised: one binary search per currency). Rows with code -1 get NaN.

        >>> t = RateTable.from_rows("EUR", [("USD", "2025-01-01", "0.9"), ("USD", "2025-02-01", "0.8")])
        >>> t.factors(["EUR", "USD"], np.array([1, 1, 0]),
        ...           np.array(["2025-01-15", "2025-02-01", "2025-03-01"], dtype="M8[D]")).tolist()
        [0.9, 0.8, 1.0]
        """
        out = np.full(len(codes), np.nan)
        day = days.astype("M8[D]")
        for c, label in enumerate(currencies):
            rows = np.flatnonzero(codes == c)
            if not len(rows):
                continue
            code = _to_currency(label)
            if code == self.base:
                out[rows] = 1.0
                continue
            table = self._days.get(code)
            at = (
                np.searchsorted(table, day[rows], side="right") - 1
                if table is not None
                else np.full(len(rows), -1)
            )
            if (at < 0).any():
                raise ValidationError(self._no_rate(code, day[rows][int(np.argmax(at < 0))]))
            out[rows] = self._values[code][at]
        return out


def _days(value: object, n: int) -> npt.NDArray[np.datetime64]:
    try:
        out = np.asarray(value).astype("M8[D]")
    except (TypeError, ValueError):
        raise ValidationError(f"'days' must be dates (datetime64): {show(value)}") from None
    if out.shape != (n,):
        raise ValidationError(f"'days' must hold one date per amount ({n}): shape {out.shape}")
    return out


def one_currency(
    amounts: FloatArray,
    codes: IntArray,
    currencies: Sequence[str],
    days: npt.NDArray[np.datetime64] | None,
    *,
    currency: str | None = None,
    rates: RateTable | None = None,
    name: str = "amount",
) -> tuple[FloatArray, str | None]:
    """``amounts`` (float, NaN for none) in one currency, and that currency: the one rule.

    ``codes[i]`` indexes ``currencies`` (-1: no currency known). Without
    ``rates`` every amount must be in one currency (``currency`` when given)
    and is returned as it is (``days`` may then be None); with ``rates`` each amount is
    converted into
    ``currency`` (default: the table's base) at the rate of ``days[i]``. The
    currency is None only when no amount carries one (a table built without
    currencies). Amounts without a currency beside amounts with one are
    refused: they cannot be placed.

    >>> amt = np.array([1000.0, 1_000_000.0])
    >>> one_currency(amt, np.array([0, 1]), ["EUR", "JPY"], np.array(["2025-02-01"] * 2, dtype="M8[D]"))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'amount' holds amounts in 2 currencies (EUR, JPY): a report sums one currency; pass rates= (a RateTable) to convert them, or select one currency
    >>> rates = RateTable.from_rows("EUR", [("JPY", "2025-01-01", "0.0064")])
    >>> out, cur = one_currency(amt, np.array([0, 1]), ["EUR", "JPY"],
    ...                         np.array(["2025-02-01"] * 2, dtype="M8[D]"), rates=rates)
    >>> out.tolist(), cur
    ([1000.0, 6400.0], 'EUR')
    """
    amounts = as_float_array(amounts, name="amounts", allow_nan=True)
    codes = as_int_array(codes, name="codes")
    check_same_length(amounts=amounts, codes=codes)
    if isinstance(currencies, str | bytes) or not isinstance(currencies, Sequence):
        raise ValidationError(
            f"'currencies' must be a sequence of ISO 4217 codes: {show(currencies)}"
        )
    if len(codes) and (codes.min() < -1 or codes.max() >= len(currencies)):
        raise ValidationError(
            f"'codes' must index 'currencies' ({len(currencies)}) or be -1: "
            f"{int(codes.min())} to {int(codes.max())}"
        )
    has = ~np.isnan(amounts)
    used = np.flatnonzero(np.bincount(codes[has] + 1, minlength=len(currencies) + 1)) - 1
    known = used[used >= 0]
    names = [str(currencies[c]) for c in known]
    if (used < 0).any() and len(known):
        n = int(np.count_nonzero(has & (codes < 0)))
        raise ValidationError(
            f"{name!r} holds {n} amount(s) without a currency beside amounts in "
            f"{', '.join(names)}: give every amount its currency"
        )
    target = None if currency is None else _to_currency(currency)
    if rates is None:
        if len(names) > 1:
            raise ValidationError(
                f"{name!r} holds amounts in {len(names)} currencies ({', '.join(names)}): a "
                "report sums one currency; pass rates= (a RateTable) to convert them, or "
                "select one currency"
            )
        got = names[0] if names else None
        if target is not None and got is not None and got != target:
            raise ValidationError(
                f"{name!r} holds amounts in {got}, not in the report's currency {target}: "
                "pass rates= (a RateTable) to convert them"
            )
        return amounts, target if target is not None else got
    if not isinstance(rates, RateTable):
        raise ValidationError(f"'rates' must be a RateTable: {show(rates)}")
    if not len(names) and target is None:
        return amounts, rates.base
    if (used < 0).any():
        raise ValidationError(f"{name!r} has no currencies to convert with 'rates'")
    target = rates.base if target is None else target
    days = _days(days, len(codes))
    rows = np.flatnonzero(has)
    out = amounts.copy()
    factor = rates.factors(currencies, codes[rows], days[rows])
    if target != rates.base:
        t_codes = np.zeros(len(rows), dtype=np.int64)
        factor = factor / rates.factors([target], t_codes, days[rows])
    out[rows] = amounts[rows] * factor
    return out, target
