"""The customer-columns capability contract: what a
:class:`~crmcore.repositories.protocols.CustomerColumnReader` guarantees.

``customers.read_columns()`` returns every customer as
:class:`~crmcore.repositories.CustomerColumns`: the tests hold it to exactly the
columns of the same customers read one by one with ``iter()``
(:func:`~crmcore.repositories.customer_columns`), for varied profiles (leap-day and
missing birthdays, every contact kind, addresses, both consents, erased customers,
acquisition times to the microsecond, ids beyond ASCII), in id order, with the
uncommitted writes of the block and without those rolled back.

Subclassing :class:`CustomerColumnsContract` makes the capability required;
:class:`~crmcore.testing.contract.RepositoryContract` runs these tests only when the
backend has it (``customer_columns_optional = True``: skipped otherwise).

>>> from crmcore.repositories import MemoryUnitOfWork
>>> class Check(CustomerColumnsContract):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> Check().test_customer_columns_equal_those_of_iter()
>>> len(varied_customers()) > 10
True
"""

from __future__ import annotations

import unittest
from datetime import UTC, date, datetime
from typing import Any

from crmcore.model import Address, Consent, ContactKind, ContactPoint, Customer
from crmcore.repositories._customers import CustomerColumns, customer_columns
from crmcore.repositories.protocols import CustomerColumnReader, UnitOfWork
from crmcore.testing._contract_base import ContractBase

__all__ = ["CustomerColumnsContract", "varied_customers"]

_FIELDS = (
    "ids",
    "owner_ids",
    "segments",
    "birthdays",
    "acquired_at",
    "contact_consent",
    "data_use_consent",
    "erased",
    "has_address",
    "contact_kinds",
)

_POINTS = {
    ContactKind.EMAIL: "x@example.com",
    ContactKind.PHONE: "+86 10 1234",
    ContactKind.MOBILE: "+44 7700 900123",
    ContactKind.FAX: "+1 555 0100",
    ContactKind.WEB: "https://example.com",
    ContactKind.SOCIAL: "@someone",
    ContactKind.POSTAL: "PO Box 7",
}


def varied_customers() -> list[Customer]:
    """Customers covering what :class:`~crmcore.repositories.CustomerColumns` holds, not in
    id order (helper of the suite).

    >>> sorted(c.id for c in varied_customers())[:3]
    ['c-00', 'c-01', 'c-02']
    """
    kinds = list(ContactKind)
    out = []
    for i in range(16):
        points = [
            ContactPoint(kinds[(i + k) % len(kinds)], _POINTS[kinds[(i + k) % len(kinds)]])
            for k in range(i % 3)
        ]
        out.append(
            Customer(
                id=f"c-{(i * 7) % 16:02d}",
                name=f"Customer {i}",
                owner_id=None if i % 4 == 0 else f"rep-{i % 3}",
                segment=None if i % 5 == 0 else ("gold", "silver")[i % 2],
                birthday=(None, date(1980, 2, 29), date(1899, 12, 31), date(2001, 7, 4))[i % 4],
                acquired_at=None
                if i % 6 == 0
                else datetime(1965 + i * 3, 1 + i % 12, 1 + i, 23, 59, 59, i * 37, tzinfo=UTC),
                consent=Consent(contact=i % 2 == 0, data_use=i % 3 == 0),
                contact_points=points,
                address=Address(country="CN", city="Beijing") if i % 3 == 1 else None,
            )
        )
    out.append(Customer(id="c-é-李", name="Wei", birthday=date(2000, 1, 1)))
    out.append(Customer(id="c-9", name="Gone", erased=True))
    return out


def _as_lists(cols: CustomerColumns) -> dict[str, list[Any]]:
    return {f: getattr(cols, f).tolist() for f in _FIELDS}


class CustomerColumnsContract(ContractBase):
    """Tests of the customer-columns capability (see the module docstring). Set
    ``customer_columns_optional = True`` to skip them for a backend without it."""

    customer_columns_optional = False
    """Skip (``unittest.SkipTest``) instead of failing when ``uow.customers`` has no
    ``read_columns()``."""

    def _reader(self, uow: UnitOfWork) -> CustomerColumnReader:
        repo = uow.customers
        if isinstance(repo, CustomerColumnReader):
            return repo
        if self.customer_columns_optional:
            raise unittest.SkipTest("uow.customers has no read_columns()")
        raise AssertionError(
            "uow.customers must have read_columns() "
            f"(crmcore.repositories.CustomerColumnReader): {type(repo).__name__}"
        )

    def test_customer_columns_is_advertised(self) -> None:
        with self.make_uow() as uow:
            assert isinstance(self._reader(uow), CustomerColumnReader)

    def test_customer_columns_equal_those_of_iter(self) -> None:
        uow = self._seeded(*varied_customers())
        with uow:
            got = self._reader(uow).read_columns()
            want = customer_columns(uow.customers.iter())
        assert isinstance(got, CustomerColumns)
        assert _as_lists(got) == _as_lists(want)
        for f in _FIELDS:
            assert getattr(got, f).dtype == getattr(want, f).dtype, f

    def test_customer_columns_are_in_id_order(self) -> None:
        uow = self._seeded(*varied_customers())
        with uow:
            ids = self._reader(uow).read_columns().ids.tolist()
        assert ids == sorted(c.id for c in varied_customers())

    def test_customer_columns_of_an_empty_store(self) -> None:
        with self.make_uow() as uow:
            got = self._reader(uow).read_columns()
        assert len(got) == 0
        assert _as_lists(got) == _as_lists(customer_columns([]))

    def test_customer_columns_follow_the_block(self) -> None:
        uow = self._seeded(*varied_customers()[:3])
        with uow:
            uow.customers.add(Customer(id="c-new", name="New", birthday=date(1990, 5, 6)))
            changed = uow.customers.get(varied_customers()[0].id).with_changes(owner_id="rep-x")
            uow.customers.update(changed)
            cols = self._reader(uow).read_columns()
            row = cols.ids.tolist().index(changed.id)
            assert "c-new" in cols.ids.tolist() and cols.owner_ids[row] == "rep-x"
            uow.rollback()
            cols = self._reader(uow).read_columns()
            assert "c-new" not in cols.ids.tolist()
            assert cols.owner_ids[cols.ids.tolist().index(changed.id)] != "rep-x"
