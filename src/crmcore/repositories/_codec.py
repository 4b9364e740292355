"""Storage encodings shared by every backend (so the memory backend refuses what SQL refuses).

* timestamps: int microseconds since the Unix epoch, UTC;
* money: int amount scaled by 10**6 (``amount_e6``, exact up to 6 decimal
  places) plus the currency code;
* what can be stored at all (text, integer ranges, id and key lengths, amounts) is the
  one rule of :mod:`crmcore.model._storable` (``to_e6``, ``check_key``, ... are re-exported).

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

import attrs

from crmcore.errors import ValidationError
from crmcore.model import CURRENCY_MINOR_UNITS, Money
from crmcore.model._storable import KEY_LENGTH, MAX_E6, check_key, to_e6

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


def iso_date(value: date | None) -> str | None:
    """A date as ISO text (for JSON-safe exports).

    >>> iso_date(date(2025, 1, 2))
    '2025-01-02'
    """
    return None if value is None else value.isoformat()


def check_storable(record: Any) -> None:
    """Refuse a record that no backend can store: the model's validators (which hold the
    storage rules of :mod:`crmcore.model._storable`) run again, for a record built around them.

    >>> from crmcore.model import CostEntry
    >>> check_storable(CostEntry(id="k", customer_id="c", incurred_at=EPOCH,
    ...                          amount=Money("4.20", "EUR"), category="visit")) is None
    True
    """
    attrs.validate(record)
