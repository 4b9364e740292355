"""Customer transactions: purchases, refunds, deposits, withdrawals, ...

The amount is never negative: the ``kind`` says which way the money moved
(``TransactionKind.sign`` gives +1 for money coming in to the firm or the
account, -1 for money going out).

>>> from datetime import datetime, timezone
>>> from crmcore.model.money import Money
>>> t = Transaction(id="t-1", customer_id="c-1", occurred_at=datetime(1997, 1, 1, tzinfo=timezone.utc),
...                 amount=Money("29.33", "USD"), kind="purchase", quantity=2)
>>> t.kind.sign
1
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

from crmcore.model._fields import count64, money_field, opt_key, opt_str, record_id, to_enum, utc
from crmcore.model.money import Money

__all__ = ["Transaction", "TransactionKind"]


class TransactionKind(StrEnum):
    """What a transaction is."""

    PURCHASE = "purchase"
    REFUND = "refund"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    PAYMENT = "payment"
    FEE = "fee"
    TRANSFER_IN = "transfer_in"
    TRANSFER_OUT = "transfer_out"

    @property
    def sign(self) -> int:
        """+1 where money comes in (purchase, deposit, ...), -1 where it goes out.

        >>> TransactionKind.WITHDRAWAL.sign
        -1
        """
        return -1 if self in _OUTGOING else 1

    @property
    def code(self) -> int:
        """A small stable integer used in columnar tables.

        >>> TransactionKind.PURCHASE.code, TransactionKind.WITHDRAWAL.code
        (0, 3)
        """
        return _CODES[self]


_OUTGOING = frozenset(
    {TransactionKind.REFUND, TransactionKind.WITHDRAWAL, TransactionKind.TRANSFER_OUT}
)
_CODES = {k: i for i, k in enumerate(TransactionKind)}


def _to_transaction_kind(value: object) -> TransactionKind:
    return to_enum(TransactionKind, value, field="kind")


@attrs.frozen
class Transaction:
    """One money movement of a customer.

    >>> from datetime import datetime, timezone
    >>> Transaction(id="t", customer_id="c", occurred_at=datetime(2020, 1, 1, tzinfo=timezone.utc),
    ...             amount=Money("-5", "USD"), kind="purchase")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'amount' must be >= 0 (the kind gives the direction): -5
    """

    id: str = attrs.field(validator=record_id)
    customer_id: str = attrs.field(validator=record_id)
    occurred_at: datetime = attrs.field(validator=utc)
    amount: Money = attrs.field(validator=money_field(what="the kind gives the direction"))
    kind: TransactionKind = attrs.field(
        default=TransactionKind.PURCHASE, converter=_to_transaction_kind
    )
    quantity: int = attrs.field(default=1, validator=count64)
    product: str | None = attrs.field(default=None, validator=opt_str)
    category: str | None = attrs.field(default=None, validator=opt_str)
    channel: str | None = attrs.field(default=None, validator=opt_str)
    external_ref: str | None = attrs.field(default=None, validator=opt_key)

    @property
    def signed_amount(self) -> Money:
        """The amount with the kind's sign.

        >>> from datetime import datetime, timezone
        >>> Transaction(id="t", customer_id="c", occurred_at=datetime(2020, 1, 1, tzinfo=timezone.utc),
        ...             amount=Money("5", "USD"), kind="refund").signed_amount.amount
        Decimal('-5')
        """
        return self.amount if self.kind.sign > 0 else -self.amount
