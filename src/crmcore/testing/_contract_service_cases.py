"""The service-case capability contract: what ``uow.service_cases``
(:class:`~crmcore.repositories.ServiceCaseUnitOfWork`) guarantees.

Cases read back exactly as stored (every field, open and resolved), duplicates
and missing ids are refused with nothing stored, ``replace`` resolves a case,
``list`` filters by customer, owner, channels, category, ``open_only`` and the
``[start, end)`` range of ``opened_at`` in the order (opening time, id), ``iter``
returns what ``list`` does, nothing is visible before ``commit()``, and the
privacy export holds the cases while the erasure removes their free texts.

Subclassing :class:`ServiceCaseContract` makes the capability required;
:class:`~crmcore.testing.contract.RepositoryContract` runs these tests only when
the backend has it (``service_cases_optional = True``: skipped otherwise).

>>> from crmcore.repositories import MemoryUnitOfWork
>>> class Check(ServiceCaseContract):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> Check().test_service_cases_round_trip()
>>> service_case(1).id, service_case(2, resolved=True).is_open
('sc-1', False)
"""

from __future__ import annotations

import json
import unittest
from datetime import timedelta
from typing import Any

import attrs

from crmcore.errors import DuplicateError, NotFoundError, ValidationError
from crmcore.model import Customer, ServiceCase
from crmcore.repositories.privacy import erase_customer, export_customer
from crmcore.repositories.protocols import ServiceCaseRepository, ServiceCaseUnitOfWork, UnitOfWork
from crmcore.testing._contract_base import ContractBase, raises, ts

__all__ = ["ServiceCaseContract", "service_case"]

_CHANNELS = ("phone", "email", "chat")
_CATEGORIES = ("billing", "delivery")


def service_case(i: int, *, resolved: bool = False, **kw: Any) -> ServiceCase:
    """A sample case ``sc-<i>`` of ``c-<i % 2 + 1>`` owned by ``rep-<i % 3>``, opened on day
    ``i % 5`` of 2024 (times tie), resolved a day later with satisfaction when ``resolved``
    (helper of the suite)."""
    opened = ts(2024) + timedelta(days=i % 5)
    case = ServiceCase(
        id=f"sc-{i}",
        customer_id=f"c-{i % 2 + 1}",
        channel=_CHANNELS[i % 3],
        opened_at=opened,
        category=_CATEGORIES[i % 2],
        owner_id=f"rep-{i % 3}",
        priority=("low", "normal", "high", "urgent")[i % 4],
        sla_due_at=opened + timedelta(hours=36) if i % 2 else None,
        subject=f"case {i}: the parcel of Mrs Zqx never came",
    )
    if resolved:
        case = case.resolve(
            opened + timedelta(days=1), satisfaction=1 + i % 5, resolution="refunded Mrs Zqx"
        )
    return attrs.evolve(case, **kw) if kw else case


class ServiceCaseContract(ContractBase):
    """The tests of the service-case capability (see the module docstring). Set
    ``service_cases_optional = True`` to skip them for a backend without it instead of
    failing.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> class Mine(ServiceCaseContract):
    ...     def make_uow(self):
    ...         return MemoryUnitOfWork()
    >>> Mine().test_service_cases_list_filters_and_order()
    """

    service_cases_optional = False
    """Skip (``unittest.SkipTest``) instead of failing when the unit of work has no
    ``service_cases``."""

    def _cases(self, uow: UnitOfWork) -> ServiceCaseRepository:
        if isinstance(uow, ServiceCaseUnitOfWork):
            return uow.service_cases
        if self.service_cases_optional:
            raise unittest.SkipTest(
                "the unit of work has no service_cases: the backend stores none"
            )
        raise AssertionError(
            "the unit of work must have service_cases "
            f"(crmcore.repositories.ServiceCaseUnitOfWork): {type(uow).__name__}"
        )

    def _stored(self, *cases: ServiceCase) -> UnitOfWork:
        uow = self.make_uow()
        with uow:
            self._cases(uow).add_many(cases)
            uow.commit()
        return uow

    def _sample(self) -> tuple[UnitOfWork, list[ServiceCase]]:
        cases = [service_case(i, resolved=i % 3 == 0) for i in range(12)]
        return self._stored(*reversed(cases)), cases

    def test_service_cases_are_advertised(self) -> None:
        uow = self.make_uow()
        with uow:
            assert self._cases(uow).list() == []

    def test_service_cases_round_trip(self) -> None:
        uow, cases = self._sample()
        with uow:
            repo = self._cases(uow)
            for c in cases:
                assert repo.get(c.id) == c
            assert sorted(repo.list(), key=lambda c: c.id) == sorted(cases, key=lambda c: c.id)

    def test_service_case_duplicates_store_nothing(self) -> None:
        uow = self._stored(service_case(1))
        with uow:
            repo = self._cases(uow)
            with raises(DuplicateError):
                repo.add(service_case(1))
            with raises(DuplicateError):
                repo.add_many([service_case(2), service_case(1)])
            with raises(DuplicateError):
                repo.add_many([service_case(3), service_case(3)])
            assert [c.id for c in repo.list()] == ["sc-1"]
            with raises(ValidationError):
                repo.add("sc-9")  # type: ignore[arg-type]  # the check under test

    def test_service_case_missing_ids_raise(self) -> None:
        uow = self.make_uow()
        with uow:
            repo = self._cases(uow)
            with raises(NotFoundError):
                repo.get("sc-1")
            with raises(NotFoundError):
                repo.replace(service_case(1))

    def test_service_case_replace_resolves(self) -> None:
        uow = self._stored(service_case(1))
        done = service_case(1, resolved=True)
        with uow:
            assert self._cases(uow).replace(done) == done
            uow.commit()
        with uow:
            repo = self._cases(uow)
            assert repo.get("sc-1") == done
            assert repo.list(open_only=True) == []

    def test_service_cases_list_filters_and_order(self) -> None:
        uow, cases = self._sample()
        by_order = sorted(cases, key=lambda c: (c.opened_at, c.id))

        def want(keep: Any) -> list[str]:
            return [c.id for c in by_order if keep(c)]

        with uow:
            repo = self._cases(uow)
            assert [c.id for c in repo.list()] == want(lambda c: True)
            assert [c.id for c in repo.list(customer_id="c-1")] == want(
                lambda c: c.customer_id == "c-1"
            )
            assert [c.id for c in repo.list(owner_id="rep-2")] == want(
                lambda c: c.owner_id == "rep-2"
            )
            assert [c.id for c in repo.list(channels=["chat", "email"])] == want(
                lambda c: c.channel.value in ("chat", "email")
            )
            assert [c.id for c in repo.list(category="billing")] == want(
                lambda c: c.category == "billing"
            )
            assert [c.id for c in repo.list(open_only=True)] == want(lambda c: c.is_open)
            lo, hi = ts(2024, 1, 2), ts(2024, 1, 4)
            assert [c.id for c in repo.list(start=lo, end=hi)] == want(
                lambda c: lo <= c.opened_at < hi
            )
            assert [
                c.id for c in repo.list(customer_id="c-2", open_only=True, end=hi, limit=2)
            ] == want(lambda c: c.customer_id == "c-2" and c.is_open and c.opened_at < hi)[:2]
            assert [c.id for c in repo.iter(batch_size=5)] == want(lambda c: True)
            assert [c.id for c in repo.iter(customer_id="c-1", start=lo, batch_size=2)] == want(
                lambda c: c.customer_id == "c-1" and c.opened_at >= lo
            )

    def test_service_cases_need_a_commit(self) -> None:
        uow = self.make_uow()
        with uow:
            self._cases(uow).add(service_case(1))
        with uow:
            assert self._cases(uow).list() == []

    def test_service_cases_are_exported_and_erased(self) -> None:
        uow = self._stored(service_case(1, resolved=True), service_case(3), service_case(2))
        with uow:
            uow.customers.add(Customer(id="c-2", name="Zqx"))
            uow.commit()
        with uow:
            data = export_customer(uow, "c-2")
        assert [c["id"] for c in data["service_cases"]] == ["sc-1", "sc-3"]
        assert "Zqx" in json.dumps(data["service_cases"])
        with uow:
            counts = erase_customer(uow, "c-2")
            uow.commit()
        assert counts["service_cases"] == 2
        with uow:
            repo = self._cases(uow)
            erased = repo.get("sc-1")
            assert (erased.subject, erased.resolution) == (None, None)
            assert (erased.satisfaction, erased.category) == (
                service_case(1, resolved=True).satisfaction,
                "delivery",
            )
            assert repo.get("sc-2").subject is not None  # another customer's case
            assert "Zqx" not in json.dumps(export_customer(uow, "c-2")["service_cases"])
