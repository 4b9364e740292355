"""The in-memory unit of work: same semantics as the SQL backend, for tests and notebooks."""

from __future__ import annotations

import threading
from datetime import datetime
from types import TracebackType
from typing import Self

from crmcore.errors import RepositoryError
from crmcore.options import expect_instance
from crmcore.repositories._customers import Customers
from crmcore.repositories._documents import Documents
from crmcore.repositories._events import Clock, check_clock, clock_now
from crmcore.repositories._opportunities import Opportunities
from crmcore.repositories._records import (
    Activities,
    Costs,
    Interactions,
    Surveys,
    Transactions,
)
from crmcore.repositories._service_cases import ServiceCases
from crmcore.repositories.memory._customers import MemoryCustomerStore
from crmcore.repositories.memory._documents import MemoryDocumentStore
from crmcore.repositories.memory._erasure import MemoryEraser
from crmcore.repositories.memory._opportunities import MemoryOpportunityStore
from crmcore.repositories.memory._records import (
    MemoryActivityStore,
    MemoryCostStore,
    MemoryInteractionStore,
    MemorySurveyStore,
    MemoryTransactionStore,
)
from crmcore.repositories.memory._service_cases import MemoryServiceCaseStore
from crmcore.repositories.memory._session import MemorySession
from crmcore.repositories.memory._store import ChangeSet, MemoryStore
from crmcore.repositories.protocols import (
    ActivityRepository,
    CostRepository,
    CustomerRepository,
    DocumentRepository,
    InteractionRepository,
    OpportunityRepository,
    ServiceCaseRepository,
    SurveyRepository,
    TransactionRepository,
)

__all__ = ["MemoryUnitOfWork"]


class MemoryUnitOfWork:
    """A unit of work over records held in memory.

    Each thread that enters ``with uow:`` gets its own change set over the
    shared committed state (so one object may serve several threads); reads
    see the committed state plus this block's own changes. ``commit()``
    checks every versioned write against the committed state and applies
    all of them at once, or raises :class:`~crmcore.errors.ConcurrencyError`
    (first committer wins). Leaving the block without ``commit()`` discards
    the changes. Pass ``store=`` to share the state of another unit of work,
    ``clock=`` (a callable returning an aware UTC datetime) to set the time
    that stamps events as recorded (tests, imports of history).

    >>> from crmcore.model import Customer
    >>> uow = MemoryUnitOfWork()
    >>> with uow:
    ...     uow.customers.add(Customer(id="c-1", name="Ada")).version
    ...     uow.commit()
    0
    >>> with uow:
    ...     c = uow.customers.update(uow.customers.get("c-1").with_changes(segment="gold"))
    >>> with uow:
    ...     uow.customers.get("c-1").segment is None
    True
    """

    def __init__(self, store: MemoryStore | None = None, *, clock: Clock | None = None) -> None:
        self.store = (
            MemoryStore() if store is None else expect_instance(store, MemoryStore, name="store")
        )
        self.clock: Clock = check_clock(clock)
        """The clock that stamps events' ``recorded_at`` and bounds their effective times."""
        self._local = threading.local()
        self.session: MemorySession = _Session(self)
        """What the repositories use of this unit of work (:class:`~crmcore.repositories.memory._session.MemorySession`)."""
        self.customers: CustomerRepository = Customers(MemoryCustomerStore(self.session))
        self.interactions: InteractionRepository = Interactions(
            MemoryInteractionStore(self.session)
        )
        self.transactions: TransactionRepository = Transactions(
            MemoryTransactionStore(self.session)
        )
        self.opportunities: OpportunityRepository = Opportunities(
            MemoryOpportunityStore(self.session), self.session.now
        )
        self.activities: ActivityRepository = Activities(MemoryActivityStore(self.session))
        self.surveys: SurveyRepository = Surveys(MemorySurveyStore(self.session))
        self.costs: CostRepository = Costs(MemoryCostStore(self.session))
        self.service_cases: ServiceCaseRepository = ServiceCases(
            MemoryServiceCaseStore(self.session)
        )
        """Service cases (the optional capability :class:`~crmcore.repositories.ServiceCaseUnitOfWork`)."""
        self.documents: DocumentRepository = Documents(MemoryDocumentStore(self.session))

    def now(self) -> datetime:
        """The current time by :attr:`clock`.

        >>> MemoryUnitOfWork().now().tzinfo is not None
        True
        """
        return clock_now(self.clock)

    def eraser(self) -> MemoryEraser:
        """What :func:`~crmcore.repositories.privacy.erase_customer` rewrites in place with
        (:class:`~crmcore.repositories.privacy.Eraser`).

        >>> MemoryUnitOfWork().eraser().purge()
        []
        """
        return MemoryEraser(self.session)

    def _changes(self) -> ChangeSet:
        """This thread's change set (the session's)."""
        cs: ChangeSet | None = getattr(self._local, "changes", None)
        if cs is None:
            raise RepositoryError(
                "the unit of work is not active: use the repositories inside `with uow:`"
            )
        return cs

    def __enter__(self) -> Self:
        if getattr(self._local, "changes", None) is not None:
            raise RepositoryError("this unit of work is already active in this thread")
        self._local.changes = ChangeSet(self.store)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._local.changes = None

    def commit(self) -> None:
        """Apply this block's changes atomically; a stale write raises ConcurrencyError.

        When the commit fails, every change of the block is discarded.
        """
        cs = self._changes()
        self._local.changes = ChangeSet(self.store)
        cs.apply()

    def rollback(self) -> None:
        """Discard the changes made since the last commit."""
        self._changes()
        self._local.changes = ChangeSet(self.store)

    @property
    def active(self) -> bool:
        """True inside ``with uow:`` in this thread.

        >>> MemoryUnitOfWork().active
        False
        """
        return getattr(self._local, "changes", None) is not None


class _Session:
    """The :class:`~crmcore.repositories.memory._session.MemorySession` of one unit of work."""

    __slots__ = ("changes", "now")

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self.changes = uow._changes
        self.now = uow.now
