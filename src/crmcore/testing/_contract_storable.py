"""The contract's tests of storability: every backend stores exactly what the model accepts.

What a value must be to be stored at all (text without NUL characters or lone
surrogates, ids of at most 128 and keys of at most 255 characters, integers
within 64 bits, versions and sequence numbers within 32 bits, amounts exact
at 6 decimal places below 9.2e12) is one rule, :mod:`crmcore.model._storable`.
The model refuses anything else at construction; these tests hold a backend
to the other half: it stores every value at those limits exactly, and refuses
a record forged around the model's validators with a ValidationError (not a
driver error), storing nothing. Part of
:class:`crmcore.testing.contract.RepositoryContract`.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> class Check(StorableContract):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> Check().test_text_at_the_storable_limits_round_trips()
"""

from __future__ import annotations

from typing import Any

from crmcore.errors import ValidationError
from crmcore.model import ContactPoint, Money
from crmcore.model._storable import INT64_MAX, KEY_LENGTH, MAX_ID_LENGTH
from crmcore.tables import TransactionLog
from crmcore.testing._contract_base import (
    ContractBase,
    customer,
    interaction,
    raises,
    transaction,
    ts,
)

__all__ = ["StorableContract"]

_TEXT = "Zoë 李伟 \U0001f600 \t\u200b end"  # non-ASCII, astral plane, tab, zero-width space


def _forged(record: Any, **fields: object) -> Any:
    """``record`` with ``fields`` set around its validators (what a buggy caller could build)."""
    for name, value in fields.items():
        object.__setattr__(record, name, value)
    return record


class StorableContract(ContractBase):
    """Values at the storable limits round-trip; forged unstorable records are refused."""

    def test_text_at_the_storable_limits_round_trips(self) -> None:
        c = customer(
            "x" * (MAX_ID_LENGTH - 2),
            name=_TEXT * 200,
            segment="s" * (KEY_LENGTH - 1) + "é",
            external_key="k" * KEY_LENGTH,
            tags=[_TEXT],
            contact_points=[ContactPoint("web", _TEXT)],
        )
        uow = self.make_uow()
        with uow:
            uow.customers.add(c)
            uow.commit()
        with uow:
            assert uow.customers.get(c.id) == c

    def test_long_text_and_large_documents_round_trip(self) -> None:
        long = _TEXT * 5000  # about 120,000 characters: beyond a 64 KiB TEXT column
        c = customer(1, name=long, contact_points=[ContactPoint("web", long)])
        uow = self.make_uow()
        with uow:
            uow.customers.add(c)
            uow.documents.put("notes", "big", {"text": long}, expected_version=None)
            uow.commit()
        with uow:
            assert uow.customers.get(c.id) == c
            assert uow.documents.get("notes", "big")[0] == {"text": long}

    def test_integers_at_the_64_bit_limit_round_trip(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.transactions.add(transaction(1, "c-1", ts(2020), quantity=INT64_MAX))
            uow.interactions.add(interaction(1, "web", ts(2020), duration_seconds=INT64_MAX))
            uow.commit()
        with uow:
            assert uow.transactions.get("t-1").quantity == INT64_MAX
            assert uow.interactions.get("i-1").duration_seconds == INT64_MAX

    def test_largest_amount_round_trips_exactly(self) -> None:
        largest = Money("9223372036854.775807", "EUR")  # amount_e6 = 2**63 - 1
        uow = self.make_uow()
        with uow:
            uow.transactions.add(transaction(1, "c-1", ts(2020), str(largest.amount)))
            uow.commit()
        with uow:
            assert uow.transactions.get("t-1").amount == largest

    def test_forged_unstorable_text_is_refused_and_nothing_stored(self) -> None:
        for bad in ("a\x00b", "a\ud800b"):
            with self.make_uow() as uow:
                with raises(ValidationError):
                    uow.customers.add(_forged(customer(1), name=bad))
                with raises(ValidationError):
                    uow.transactions.add(_forged(transaction(1, "c-1", ts(2020)), product=bad))
                with raises(ValidationError):
                    uow.interactions.add(_forged(interaction(1, "web", ts(2020)), subject=bad))
                assert uow.customers.count() == 0
                assert uow.transactions.count() == 0

    def test_forged_out_of_range_integers_are_refused_and_nothing_stored(self) -> None:
        with self.make_uow() as uow:
            for q in (INT64_MAX + 1, -(2**63) - 1):
                with raises(ValidationError):
                    uow.transactions.add(_forged(transaction(1, "c-1", ts(2020)), quantity=q))
            with raises(ValidationError):
                uow.customers.add(_forged(customer(1), id="x" * (MAX_ID_LENGTH + 1)))
            assert uow.transactions.count() == 0
            assert uow.customers.count() == 0

    def test_add_log_refuses_unstorable_text(self) -> None:
        for bad in ("t\x00", "t\udc80"):
            log = TransactionLog.from_arrays(
                customer_ids=["a", "b"],
                timestamps=["2020-01-01", "2020-01-02"],
                amounts=[1.0, 2.0],
                currency="EUR",
                ids=["t-1", bad],
            )
            with self.make_uow() as uow:
                with raises(ValidationError):
                    uow.transactions.add_log(log)
                assert uow.transactions.count() == 0

    def test_documents_keep_any_text_and_refuse_unstorable_keys(self) -> None:
        body = {"note": "nul \x00 and lone \ud800 surrogate", "text": _TEXT}
        uow = self.make_uow()
        with uow:
            uow.documents.put("notes", "k-1", body, expected_version=None)
            for key in ("k\x00", "k\udfff", "k" * (KEY_LENGTH + 1)):
                with raises(ValidationError):
                    uow.documents.put("notes", key, body, expected_version=None)
            uow.commit()
        with uow:
            assert uow.documents.get("notes", "k-1")[0] == body
