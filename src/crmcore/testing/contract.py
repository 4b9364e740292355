"""The repository contract suite: what every backend (ours and yours) must do, by capability.

The suite is split into a core every backend must pass and capability
contracts that a backend opts into:

=============================== ============================================================
:class:`CoreContract`            every promise of :mod:`crmcore.repositories.protocols`:
                                 customers, the unit of work (commit, rollback, isolation,
                                 optimistic concurrency, threads), records, the columnar
                                 bridge, opportunities, documents, export and a simple erasure
:class:`BulkLoadContract`        ``add_validated`` (:class:`~crmcore.repositories.BulkTransactionLoader`):
                                 what an import stores through, all or nothing
:class:`CustomerColumnsContract` ``customers.read_columns()`` (:class:`~crmcore.repositories.CustomerColumnReader`):
                                 every customer as columns, exactly those of ``iter()``
:class:`ErasureContract`         ``uow.eraser()`` (:class:`~crmcore.repositories.privacy.Eraser`):
                                 no personal value readable after an erasure, in any event or
                                 document version
:class:`ExactIdContract`         ids and keys compare byte for byte (no padding, case-sensitive)
:class:`HistoryContract`         the full event-stream rules of opportunities (numbering, time
                                 order, recording times, ``known_at``, request ids)
:class:`ServiceCaseContract`     ``uow.service_cases`` (:class:`~crmcore.repositories.ServiceCaseUnitOfWork`):
                                 cases stored exactly, filters, order, export and erasure
:class:`OrderingContract`        one total order of every read, ties broken by id code points
:class:`StorableContract`        every value the model accepts is stored exactly, up to the
                                 limits; forged records are refused
=============================== ============================================================

:class:`RepositoryContract` is all of them: what crmcore's own backends
pass (memory, SQLite, PostgreSQL, MariaDB), as in earlier releases. Its
bulk-load, customer-columns and service-case tests run only for a backend that has the
capability (they are skipped otherwise). Subclass the pieces you want in a test module, name the
subclass ``Test...`` and give it ``make_uow()`` returning a fresh, empty unit
of work; pytest (or unittest-style runners that collect methods named
``test_*``) then runs every test of the pieces against your backend::

    from crmcore.testing.contract import BulkLoadContract, CoreContract

    class TestMyBackend(CoreContract, BulkLoadContract):
        def make_uow(self):
            return MyUnitOfWork()

The suite does not need pytest: failures are plain ``AssertionError``.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> class Check(RepositoryContract):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> Check().test_add_then_get_returns_equal_customer()
>>> len(contract_tests()) > 40
True
>>> sorted(CAPABILITIES)
['bulk load', 'customer columns', 'erasure', 'exact ids', 'history', 'ordering', 'service cases', 'storable']
"""

from __future__ import annotations

from crmcore.testing._contract_base import ContractBase, raises
from crmcore.testing._contract_bulk import BulkLoadContract
from crmcore.testing._contract_core import CoreContract
from crmcore.testing._contract_customer_columns import CustomerColumnsContract
from crmcore.testing._contract_erasure import ErasureContract
from crmcore.testing._contract_exact import ExactIdContract
from crmcore.testing._contract_history import HistoryContract
from crmcore.testing._contract_ordering import OrderingContract
from crmcore.testing._contract_service_cases import ServiceCaseContract
from crmcore.testing._contract_storable import StorableContract

__all__ = [
    "CAPABILITIES",
    "BulkLoadContract",
    "ContractBase",
    "CoreContract",
    "CustomerColumnsContract",
    "ErasureContract",
    "ExactIdContract",
    "HistoryContract",
    "OrderingContract",
    "RepositoryContract",
    "ServiceCaseContract",
    "StorableContract",
    "contract_tests",
    "raises",
]

CAPABILITIES: dict[str, type[ContractBase]] = {
    "bulk load": BulkLoadContract,
    "customer columns": CustomerColumnsContract,
    "erasure": ErasureContract,
    "exact ids": ExactIdContract,
    "history": HistoryContract,
    "ordering": OrderingContract,
    "service cases": ServiceCaseContract,
    "storable": StorableContract,
}
"""The capability contracts by name; :class:`CoreContract` is not one of them (every backend
passes it)."""


class RepositoryContract(
    CoreContract,
    StorableContract,
    OrderingContract,
    HistoryContract,
    ErasureContract,
    ExactIdContract,
    BulkLoadContract,
    ServiceCaseContract,
    CustomerColumnsContract,
):
    """The whole contract: the core and every capability, what crmcore's own backends pass.

    Override :meth:`make_uow`. Override :meth:`clone_uow` when one unit of
    work object must not be shared between threads (ours may: each thread
    gets its own transaction). The bulk-load tests are skipped for a backend
    without ``add_validated`` (``bulk_load_optional``), the service-case tests for one
    without ``uow.service_cases`` (``service_cases_optional``), the customer-columns tests
    for one without ``customers.read_columns()`` (``customer_columns_optional``).

    >>> issubclass(RepositoryContract, CoreContract), RepositoryContract.bulk_load_optional
    (True, True)
    """

    bulk_load_optional = True
    service_cases_optional = True
    customer_columns_optional = True


def contract_tests(contract: type[ContractBase] = RepositoryContract) -> list[str]:
    """The names of the test methods of ``contract`` (default: the whole contract), sorted.

    >>> "test_stale_update_raises_and_changes_nothing" in contract_tests()
    True
    >>> "test_stale_update_raises_and_changes_nothing" in contract_tests(BulkLoadContract)
    False
    >>> set(contract_tests(CoreContract)) <= set(contract_tests())
    True
    """
    if not (isinstance(contract, type) and issubclass(contract, ContractBase)):
        raise TypeError(
            "'contract' must be a contract class of crmcore.testing.contract "
            f"(a ContractBase subclass): {contract!r}"
        )
    return sorted(n for n in dir(contract) if n.startswith("test_"))
