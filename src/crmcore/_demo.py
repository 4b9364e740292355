"""The arguments every demo section takes (``demo(write, *, transactions)``), checked once.

>>> check_demo_args(print, None)
Traceback (most recent call last):
crmcore.errors.ArgumentTypeError: 'transactions' must be a TransactionLog: None
"""

from __future__ import annotations

from crmcore.options import expect_callable, expect_instance
from crmcore.tables import TransactionLog

__all__ = ["check_demo_args"]


def check_demo_args(write: object, transactions: object) -> TransactionLog:
    """``write`` is a function of one line; ``transactions`` a :class:`TransactionLog`."""
    expect_callable(write, name="write")
    return expect_instance(transactions, TransactionLog, name="transactions")
