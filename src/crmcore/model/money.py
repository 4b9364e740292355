"""Money: a ``Decimal`` amount with an ISO 4217 currency.

Arithmetic and comparison refuse to mix currencies. Floats are refused at
construction (binary floats cannot hold most cents exactly); convert with
:meth:`Money.from_float`, which rounds to the currency's minor unit.

>>> Money("19.99", "usd")
Money(amount=Decimal('19.99'), currency='USD')
>>> Money("1", "EUR") + Money("1", "USD")
Traceback (most recent call last):
crmcore.errors.ValidationError: cannot combine EUR and USD amounts: convert one first
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import attrs

from crmcore.errors import ValidationError
from crmcore.options import expect_items

__all__ = ["CURRENCY_MINOR_UNITS", "Money"]

# ISO 4217 active codes with their minor units (number of decimal places).
_ISO_4217 = """
AED2 AFN2 ALL2 AMD2 ANG2 AOA2 ARS2 AUD2 AWG2 AZN2 BAM2 BBD2 BDT2 BGN2 BHD3 BIF0 BMD2 BND2
BOB2 BOV2 BRL2 BSD2 BTN2 BWP2 BYN2 BZD2 CAD2 CDF2 CHE2 CHF2 CHW2 CLF4 CLP0 CNY2 COP2 COU2
CRC2 CUC2 CUP2 CVE2 CZK2 DJF0 DKK2 DOP2 DZD2 EGP2 ERN2 ETB2 EUR2 FJD2 FKP2 GBP2 GEL2 GHS2
GIP2 GMD2 GNF0 GTQ2 GYD2 HKD2 HNL2 HTG2 HUF2 IDR2 ILS2 INR2 IQD3 IRR2 ISK0 JMD2 JOD3 JPY0
KES2 KGS2 KHR2 KMF0 KPW2 KRW0 KWD3 KYD2 KZT2 LAK2 LBP2 LKR2 LRD2 LSL2 LYD3 MAD2 MDL2 MGA2
MKD2 MMK2 MNT2 MOP2 MRU2 MUR2 MVR2 MWK2 MXN2 MXV2 MYR2 MZN2 NAD2 NGN2 NIO2 NOK2 NPR2 NZD2
OMR3 PAB2 PEN2 PGK2 PHP2 PKR2 PLN2 PYG0 QAR2 RON2 RSD2 RUB2 RWF0 SAR2 SBD2 SCR2 SDG2 SEK2
SGD2 SHP2 SLE2 SLL2 SOS2 SRD2 SSP2 STN2 SVC2 SYP2 SZL2 THB2 TJS2 TMT2 TND3 TOP2 TRY2 TTD2
TWD2 TZS2 UAH2 UGX0 USD2 USN2 UYI0 UYU2 UYW4 UZS2 VED2 VES2 VND0 VUV0 WST2 XAF0 XCD2 XCG2
XOF0 XPF0 YER2 ZAR2 ZMW2 ZWG2 ZWL2
"""
CURRENCY_MINOR_UNITS: dict[str, int] = {tok[:3]: int(tok[3:]) for tok in _ISO_4217.split()}


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, (bool, float)):
        raise ValidationError(
            f"'amount' must be a Decimal, int or numeric string, not {type(value).__name__}: "
            f"{value!r} (use Money.from_float to convert a float explicitly)"
        )
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int | str):
        try:
            d = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise ValidationError(f"'amount' must be a number: {value!r}") from None
    else:
        raise ValidationError(f"'amount' must be a Decimal, int or numeric string: {value!r}")
    if not d.is_finite():
        raise ValidationError(f"'amount' must be finite: {value!r}")
    return d


def _to_currency(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"'currency' must be an ISO 4217 code string: {value!r}")
    code = value.strip().upper()
    if code not in CURRENCY_MINOR_UNITS:
        raise ValidationError(f"'currency' must be an ISO 4217 code: {value!r}")
    return code


@attrs.frozen(order=False)
class Money:
    """An exact amount in one currency.

    >>> m = Money("10", "EUR")
    >>> (m * 3).amount, (m / 4).amount, (-m).amount
    (Decimal('30'), Decimal('2.5'), Decimal('-10'))
    >>> Money(1.5, "EUR")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'amount' must be a Decimal, int or numeric string, not float: 1.5 (use Money.from_float to convert a float explicitly)
    """

    amount: Decimal = attrs.field(converter=_to_decimal)
    currency: str = attrs.field(converter=_to_currency)

    @classmethod
    def from_float(cls, value: float, currency: str) -> Money:
        """Convert a float explicitly, rounded half-even to the currency's minor unit.

        >>> Money.from_float(0.1 + 0.2, "USD")
        Money(amount=Decimal('0.30'), currency='USD')
        """
        code = _to_currency(currency)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"'amount' must be a real number: {value!r}")
        d = Decimal(repr(float(value)))
        if not d.is_finite():
            raise ValidationError(f"'amount' must be finite: {value!r}")
        q = Decimal(1).scaleb(-CURRENCY_MINOR_UNITS[code])
        return cls(d.quantize(q, rounding=ROUND_HALF_EVEN), code)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in ``currency``.

        >>> Money.zero("JPY")
        Money(amount=Decimal('0'), currency='JPY')
        """
        return cls(Decimal(0), currency)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise ValidationError(f"expected Money, got {type(other).__name__}: {other!r}")
        if other.currency != self.currency:
            raise ValidationError(
                f"cannot combine {self.currency} and {other.currency} amounts: convert one first"
            )
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int | Decimal):
            raise ValidationError(f"Money can be multiplied by an int or Decimal: {factor!r}")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __truediv__(self, divisor: int | Decimal) -> Money:
        if isinstance(divisor, bool) or not isinstance(divisor, int | Decimal):
            raise ValidationError(f"Money can be divided by an int or Decimal: {divisor!r}")
        if divisor == 0:
            raise ValidationError("cannot divide Money by zero")
        return Money(self.amount / divisor, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def __bool__(self) -> bool:
        return bool(self.amount)

    def rounded(self) -> Money:
        """Round half-even to the currency's minor unit.

        >>> Money("2.345", "EUR").rounded().amount
        Decimal('2.34')
        """
        q = Decimal(1).scaleb(-CURRENCY_MINOR_UNITS[self.currency])
        return Money(self.amount.quantize(q, rounding=ROUND_HALF_EVEN), self.currency)

    def __float__(self) -> float:
        return float(self.amount)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def money_sum(values: Any, currency: str) -> Money:
    """Sum Money values of one currency (zero for none).

    >>> money_sum([Money("1", "EUR"), Money("2.5", "EUR")], "EUR")
    Money(amount=Decimal('3.5'), currency='EUR')
    """
    total = Money.zero(currency)
    for v in expect_items(values, Money, name="values"):
        total = total + v
    return total
