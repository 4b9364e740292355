"""The contract's tests of exact comparison: ids and keys match byte for byte on every backend.

A lookup or filter with ``'c-1 '`` (a trailing space), ``'C-1'`` or
``'c-1\\t'`` finds nothing stored as ``'c-1'``, and two ids that differ only
in trailing spaces are two records: what Python's ``==`` says, on every
backend (MariaDB/MySQL's ``PAD SPACE`` collations say otherwise; crmcore's
id and key columns use a binary ``NO PAD`` one). Part of
:class:`crmcore.testing.contract.RepositoryContract`.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> class Check(ExactIdContract):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> Check().test_lookups_with_trailing_space_find_nothing()
"""

from __future__ import annotations

from crmcore.errors import NotFoundError
from crmcore.testing._contract_base import (
    ContractBase,
    customer,
    event,
    opportunity,
    raises,
    transaction,
    ts,
)

__all__ = ["ExactIdContract"]

_NEAR = ("c-1 ", "c-1  ", "C-1", "c-1\t", " c-1")
"""Strings that equal ``'c-1'`` under a padding or case-insensitive collation, never in Python."""


class ExactIdContract(ContractBase):
    """Ids and keys compare exactly: no padding of trailing spaces, case-sensitive."""

    def test_lookups_with_trailing_space_find_nothing(self) -> None:
        uow = self._seeded(customer(1, segment="gold", owner_id="rep-1"))
        with uow:
            uow.transactions.add(transaction(1, "c-1", ts(2024)))
            uow.commit()
        with uow:
            for near in _NEAR:
                assert uow.customers.find(near) is None, near
                with raises(NotFoundError):
                    uow.customers.get(near)
                with raises(NotFoundError):
                    uow.transactions.get(near.replace("c", "t"))
                assert uow.customers.list(owner_id=near.replace("c-1", "rep-1")) == [], near
                assert uow.customers.list(segment=near.replace("c-1", "gold")) == [], near
                assert uow.transactions.list(customer_id=near) == [], near
                assert len(uow.transactions.read_log(customer_ids=[near])) == 0, near

    def test_keys_match_exactly(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.customers.add(customer(1, external_key="crm:1"))
            uow.transactions.add(transaction(1, "c-1", ts(2024), external_ref="order-1"))
            uow.opportunities.add(opportunity(1), event("o-1", 0, None, "lead", ts(2024)))
            uow.documents.put("funnel", "b2b", {"v": 1}, expected_version=None)
            uow.commit()
        with uow:
            assert uow.customers.by_external_keys(["crm:1 ", "CRM:1"]) == {}
            assert uow.transactions.existing_external_refs(["order-1 ", "Order-1"]) == set()
            assert uow.opportunities.list(funnel="b2b ") == []
            assert uow.opportunities.list(stage="lead ") == []
            assert uow.opportunities.find("o-1 ") is None
            with raises(NotFoundError):
                uow.documents.get("funnel", "b2b ")

    def test_keys_differing_in_trailing_space_are_distinct(self) -> None:
        uow = self.make_uow()
        with uow:
            uow.customers.add_many(
                [customer(1, segment="gold", external_key="k"), customer(2, segment="gold ")]
            )
            uow.transactions.add_many(
                [
                    transaction(1, "c-1", ts(2024), external_ref="order-1"),
                    transaction(2, "c-1", ts(2024), external_ref="order-1 "),
                ]
            )
            uow.documents.put("funnel", "b2b", {"v": 1}, expected_version=None)
            uow.documents.put("funnel", "b2b ", {"v": 2}, expected_version=None)
            uow.commit()
        with uow:
            assert [c.id for c in uow.customers.list(segment="gold")] == ["c-1"]
            assert [c.id for c in uow.customers.list(segment="gold ")] == ["c-2"]
            assert uow.transactions.existing_external_refs(["order-1"]) == {"order-1"}
            assert uow.documents.get("funnel", "b2b")[0] == {"v": 1}
            assert uow.documents.get("funnel", "b2b ")[0] == {"v": 2}
            assert uow.documents.keys("funnel") == ["b2b", "b2b "]
