"""Storage encodings shared by every backend (so the memory backend refuses what SQL refuses).

* timestamps: int microseconds since the Unix epoch, UTC;
* money: int amount scaled by 10**6 (``amount_e6``, exact up to 6 decimal
  places) plus the currency code;
* indexed text (segments, categories, external keys): at most 255 characters.

>>> from datetime import datetime, timezone
>>> to_micros(datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc), "at")
1000000
>>> from_e6(19_990_000, "USD")
Money(amount=Decimal('19.99'), currency='USD')
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crmcore.errors import ValidationError
from crmcore.model import CURRENCY_MINOR_UNITS, Money

__all__ = [
    "EPOCH",
    "KEY_LENGTH",
    "MAX_E6",
    "check_key",
    "from_e6",
    "from_micros",
    "opt_micros",
    "to_e6",
    "to_micros",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
KEY_LENGTH = 255
"""Longest text stored in an indexed column (segment, category, external key, ...)."""
MAX_E6 = 2**63 - 1
"""Largest storable ``amount_e6`` (about 9.2e12 in currency units)."""


def to_micros(value: datetime, field: str) -> int:
    """A UTC datetime as microseconds since the Unix epoch.

    >>> to_micros(datetime(2020, 1, 1), "at")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'at' must be a timezone-aware UTC datetime: datetime.datetime(2020, 1, 1, 0, 0)
    """
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError(f"{field!r} must be a timezone-aware UTC datetime: {value!r}")
    return (value - EPOCH) // _US


def opt_micros(value: datetime | None, field: str) -> int | None:
    """:func:`to_micros`, or None for None.

    >>> opt_micros(None, "closed_at") is None
    True
    """
    return None if value is None else to_micros(value, field)


def from_micros(value: int) -> datetime:
    """Microseconds since the epoch back to an aware UTC datetime.

    >>> from_micros(86_400_000_000)
    datetime.datetime(1970, 1, 2, 0, 0, tzinfo=datetime.timezone.utc)
    """
    return EPOCH + timedelta(microseconds=int(value))


def to_e6(amount: Decimal, field: str) -> int:
    """An exact amount scaled by 10**6; more than 6 decimal places or overflow → ValidationError.

    >>> to_e6(Decimal("0.1234567"), "amount")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'amount' can be stored with at most 6 decimal places: Decimal('0.1234567')
    """
    # exact on the digits (Decimal arithmetic would round to the context's 28 digits), and
    # never builds the huge int of an amount like 1E+999999
    sign, digits, exp = amount.as_tuple()
    if not isinstance(exp, int):
        raise ValidationError(f"{field!r} must be finite: {amount!r}")
    shift = exp + 6  # the exponent of amount * 10**6
    if not any(digits):
        return 0
    if shift < 0:
        if any(digits[shift:]):
            raise ValidationError(
                f"{field!r} can be stored with at most 6 decimal places: {amount!r}"
            )
        digits, shift = digits[:shift], 0
    if len(digits) + shift > 19:  # at least 10**19 (leading zeros are never stored)
        raise ValidationError(f"{field!r} is too large to store (|amount| < 9.2e12): {amount!r}")
    n: int = int("".join(map(str, digits))) * 10**shift
    if n > MAX_E6:
        raise ValidationError(f"{field!r} is too large to store (|amount| < 9.2e12): {amount!r}")
    return -n if sign else n


def from_e6(value: int, currency: str) -> Money:
    """``amount_e6`` back to Money, keeping at least the currency's minor-unit digits.

    >>> from_e6(10_000_000, "JPY"), from_e6(1_234_500, "EUR")
    (Money(amount=Decimal('10'), currency='JPY'), Money(amount=Decimal('1.2345'), currency='EUR'))
    """
    n = int(value)
    scale = 6
    keep = CURRENCY_MINOR_UNITS.get(currency, 2)
    while scale > keep and n % 10 == 0:
        n //= 10
        scale -= 1
    return Money(Decimal(n).scaleb(-scale), currency)


def money_e6(value: Money | None, field: str) -> tuple[int | None, str | None]:
    """``(amount_e6, currency)`` of optional Money.

    >>> money_e6(Money("1.5", "EUR"), "amount"), money_e6(None, "amount")
    ((1500000, 'EUR'), (None, None))
    """
    if value is None:
        return None, None
    return to_e6(value.amount, field), value.currency


def check_key(value: str | None, field: str) -> str | None:
    """Indexed text must fit in :data:`KEY_LENGTH` characters.

    >>> check_key("x" * 300, "segment")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'segment' must be at most 255 characters to be stored: 300 characters
    """
    if value is not None and len(value) > KEY_LENGTH:
        raise ValidationError(
            f"{field!r} must be at most {KEY_LENGTH} characters to be stored: "
            f"{len(value)} characters"
        )
    return value


def iso_date(value: date | None) -> str | None:
    """A date as ISO text (for JSON-safe exports).

    >>> iso_date(date(2025, 1, 2))
    '2025-01-02'
    """
    return None if value is None else value.isoformat()


def ensure_utc_arg(value: Any, field: str) -> int | None:
    """A query bound (None or UTC datetime) as microseconds.

    >>> ensure_utc_arg(None, "start") is None
    True
    """
    if value is None:
        return None
    return to_micros(value, field)


_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "Customer": ("segment", "external_key"),
    "Transaction": ("external_ref",),
    "Opportunity": ("funnel", "stage"),
    "StageChange": ("funnel", "from_stage", "to_stage"),
    "SurveyResponse": ("survey",),
    "CostEntry": ("category",),
}
_MONEY_FIELDS = ("amount",)
_TIME_FIELDS = (
    "acquired_at",
    "occurred_at",
    "created_at",
    "stage_entered_at",
    "closed_at",
    "at",
    "due_at",
    "done_at",
    "responded_at",
    "incurred_at",
)


def check_storable(record: Any) -> None:
    """Refuse what no backend can store exactly (precision, overflow, long keys).

    >>> from crmcore.model import CostEntry
    >>> check_storable(CostEntry(id="k", customer_id="c", incurred_at=EPOCH,
    ...                          amount=Money("0.0000001", "EUR"), category="visit"))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'amount' can be stored with at most 6 decimal places: Decimal('1E-7')
    """
    name = type(record).__name__
    for f in _KEY_FIELDS.get(name, ()):
        check_key(getattr(record, f), f)
    for f in _MONEY_FIELDS:
        m = getattr(record, f, None)
        if isinstance(m, Money):
            to_e6(m.amount, f)
    for f in _TIME_FIELDS:
        t = getattr(record, f, None)
        if isinstance(t, datetime):
            to_micros(t, f)
