"""Repository and unit-of-work protocols: the storage-agnostic API.

Every backend (``MemoryUnitOfWork``, ``SqlUnitOfWork`` and a user's own)
implements these. Filters are keyword-only. Reads that can return many rows
have an ``iter_*`` form that streams in batches. Time ranges are half-open
``[start, end)`` in UTC and are answered by an index range scan in the SQL
backend.

A unit of work is a context manager: changes are visible to other units of
work only after ``commit()``; leaving the block without committing rolls
everything back.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> from crmcore.model import Customer
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.customers.add(Customer(id="c-1", name="Ada"))
...     uow.commit()
>>> with uow:
...     uow.customers.get("c-1").name
'Ada'
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from crmcore.model import (
    Activity,
    CostEntry,
    Customer,
    FieldChange,
    Interaction,
    Opportunity,
    ServiceCase,
    StageChange,
    SurveyResponse,
    Transaction,
)
from crmcore.model.interaction import Channel
from crmcore.model.transaction import TransactionKind
from crmcore.options import expect_instance
from crmcore.repositories._columnar import ValidatedRows
from crmcore.repositories._customers import CustomerColumns
from crmcore.repositories._record_columns import RecordColumns
from crmcore.tables import FieldHistory, StageHistory, TransactionLog

__all__ = [
    "ActivityRepository",
    "BulkTransactionLoader",
    "ColumnarRecordReader",
    "CostRepository",
    "CustomerColumnReader",
    "CustomerRepository",
    "DocumentRepository",
    "InteractionRepository",
    "OpportunityRepository",
    "ServiceCaseRepository",
    "ServiceCaseUnitOfWork",
    "SurveyRepository",
    "TransactionRepository",
    "UnitOfWork",
]


class CustomerRepository(Protocol):
    """Customers, with optimistic concurrency on ``version``."""

    def add(self, customer: Customer) -> Customer:
        """Store a new customer (its version must be 0); returns it. Duplicate id → DuplicateError."""
        ...

    def add_many(self, customers: Iterable[Customer]) -> int:
        """Store new customers in bulk; returns how many. Any duplicate → DuplicateError, none stored."""
        ...

    def get(self, customer_id: str) -> Customer:
        """The customer, or NotFoundError."""
        ...

    def find(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        ...

    def update(self, customer: Customer) -> Customer:
        """Store a changed customer whose ``version`` is the stored one; returns it with version + 1.

        A stale version raises ConcurrencyError and changes nothing.
        """
        ...

    def list(
        self,
        *,
        owner_id: str | None = None,
        segment: str | None = None,
        acquired_from: datetime | None = None,
        acquired_to: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[Customer]:
        """Customers matching every given filter, ordered by id."""
        ...

    def iter(self, *, batch_size: int = 1000) -> Iterator[Customer]:
        """Every customer, streamed in id order."""
        ...

    def by_external_keys(self, keys: Sequence[str]) -> dict[str, str]:
        """``external_key → customer id`` for the keys that are stored (idempotent imports)."""
        ...

    def count(self) -> int:
        """How many customers are stored."""
        ...


@runtime_checkable
class CustomerColumnReader(Protocol):
    """The optional columnar read of a customer repository: ``read_columns()`` (crmcore's
    ``uow.customers`` on every backend).

    It returns every stored customer as :class:`~crmcore.repositories.CustomerColumns`
    (owner, segment, birthday, acquisition time, consents, erased, address present, the
    kinds of the contact points), one row per customer in id order, without one Python
    object per customer: what daily jobs over the whole base read
    (:func:`crmcore.relationship.plan_reminders`), which fall back to
    ``customer_columns(customers.iter())`` on a repository without it. The columns are
    exactly those of the same customers read with ``iter``; the capability contract
    :class:`crmcore.testing.contract.CustomerColumnsContract` tests it.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> isinstance(MemoryUnitOfWork().customers, CustomerColumnReader)
    True
    """

    def read_columns(self) -> CustomerColumns:
        """Every customer as columns, in id order."""
        ...


class InteractionRepository(Protocol):
    """The interaction history of every channel (append-only)."""

    def add(self, interaction: Interaction) -> Interaction: ...

    def add_many(self, interactions: Iterable[Interaction]) -> int: ...

    def get(self, interaction_id: str) -> Interaction: ...

    def replace(self, interaction: Interaction) -> Interaction:
        """Overwrite the stored interaction with the same id (privacy erasure, corrections).

        A missing id raises NotFoundError.
        """
        ...

    def list(
        self,
        *,
        customer_id: str | None = None,
        rep_id: str | None = None,
        channels: Sequence[Channel | str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[Interaction]:
        """Interactions matching every filter, in time order (``[start, end)`` is an index range scan)."""
        ...

    def iter(
        self,
        *,
        customer_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Interaction]: ...


class TransactionRepository(Protocol):
    """Customer transactions (append-only), with a columnar read into a TransactionLog."""

    def add(self, transaction: Transaction) -> Transaction: ...

    def add_many(self, transactions: Iterable[Transaction]) -> int: ...

    def get(self, transaction_id: str) -> Transaction: ...

    def list(
        self,
        *,
        customer_id: str | None = None,
        kinds: Sequence[TransactionKind | str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[Transaction]: ...

    def iter(
        self,
        *,
        customer_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Transaction]: ...

    def add_log(self, log: TransactionLog) -> int:
        """Columnar bulk insert of a log that carries ``ids`` and a ``currency``; returns the count.

        The fast path of validated imports: no Python object per row. A
        duplicate id raises DuplicateError and nothing of the log is stored.
        """
        ...

    def existing_external_refs(self, refs: Sequence[str]) -> set[str]:
        """The subset of ``refs`` already stored as ``external_ref`` (idempotent imports)."""
        ...

    def read_log(
        self,
        *,
        customer_ids: Sequence[str] | None = None,
        kinds: Sequence[TransactionKind | str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> TransactionLog:
        """The matching transactions as columns, without one Python object per row.

        Rows are ordered by customer id, then time; ``customer_ids`` of the log
        are the sorted ids of the selected rows; a selection that mixes
        currencies raises ValidationError.
        """
        ...

    def count(self) -> int: ...


class OpportunityRepository(Protocol):
    """Opportunities (aggregates with a version) and their events.

    An opportunity changes only through its events, numbered together from 0:
    :class:`~crmcore.model.StageChange` (its creation and every move) and
    :class:`~crmcore.model.FieldChange` (every edit of a field). ``add`` and
    ``save`` refuse streams that break the rules of
    :mod:`crmcore.repositories._events` (numbering, moves from the current
    stage, time order, nothing dated in the future, a change of state without
    its event) and stamp each event's ``recorded_at`` from the unit of work's
    clock. The version of an opportunity is the number of its last event.
    """

    def add(self, opportunity: Opportunity, event: StageChange | None = None) -> Opportunity:
        """Store a new opportunity (version 0) with its creation event (made from the
        opportunity, by its owner, when None)."""
        ...

    def get(self, opportunity_id: str) -> Opportunity: ...

    def find(self, opportunity_id: str) -> Opportunity | None: ...

    def save(
        self, opportunity: Opportunity, events: Sequence[StageChange | FieldChange] = ()
    ) -> Opportunity:
        """Store a changed opportunity whose ``version`` is the stored one, appending ``events``
        (at least one; the saved opportunity must be the stored one with them applied).

        Returns it with the version of its last event; a stale version raises
        ConcurrencyError and changes nothing.
        """
        ...

    def list(
        self,
        *,
        owner_id: str | None = None,
        customer_id: str | None = None,
        funnel: str | None = None,
        stage: str | None = None,
        open_only: bool = False,
        limit: int | None = None,
    ) -> builtins.list[Opportunity]: ...

    def history(self, opportunity_id: str) -> builtins.list[StageChange]:
        """The opportunity's stage changes in sequence order."""
        ...

    def events(
        self, opportunity_id: str, *, request_id: str | None = None
    ) -> builtins.list[StageChange | FieldChange]:
        """Every event of the opportunity (stage and field changes) in sequence order, or
        those a request with the client's ``request_id`` made."""
        ...

    def read_history(
        self,
        *,
        funnel: str | None = None,
        owner_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        known_at: datetime | None = None,
    ) -> StageHistory:
        """Stage changes as columns, with who (``by``), why (``reason``), when recorded, the
        probability and forecast category after each and the funnel version each was made
        under (``funnel_version``; 0 for events stored before schema 4, whose version
        :class:`~crmcore.pipeline.FunnelVersions` reads from their time); ordered by
        opportunity, then sequence.

        ``[start, end)`` bounds the effective time, ``owner_id`` is the owner at the
        time of the move, ``known_at`` leaves out what was recorded after it.
        """
        ...

    def read_changes(
        self,
        *,
        funnel: str | None = None,
        fields: Sequence[str] | None = None,
        end: datetime | None = None,
        known_at: datetime | None = None,
    ) -> FieldHistory:
        """Field changes (of ``fields``; all when None) of the funnel's opportunities dated
        before ``end`` and recorded by ``known_at``, as columns ordered by opportunity, then
        sequence."""
        ...


class ActivityRepository(Protocol):
    """Reps' activities, planned and done."""

    def add(self, activity: Activity) -> Activity: ...

    def add_many(self, activities: Iterable[Activity]) -> int: ...

    def get(self, activity_id: str) -> Activity: ...

    def update(self, activity: Activity) -> Activity:
        """Replace a stored activity (activities are not versioned)."""
        ...

    def list(
        self,
        *,
        rep_id: str | None = None,
        customer_id: str | None = None,
        opportunity_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[Activity]:
        """Activities matching the filters; the time range applies to ``due_at`` or ``done_at``."""
        ...


class SurveyRepository(Protocol):
    """Survey responses (append-only)."""

    def add(self, response: SurveyResponse) -> SurveyResponse: ...

    def add_many(self, responses: Iterable[SurveyResponse]) -> int: ...

    def get(self, response_id: str) -> SurveyResponse: ...

    def replace(self, response: SurveyResponse) -> SurveyResponse:
        """Overwrite the stored response with the same id (privacy erasure). Missing → NotFoundError."""
        ...

    def list(
        self,
        *,
        customer_id: str | None = None,
        survey: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[SurveyResponse]: ...


class CostRepository(Protocol):
    """Cost-to-serve entries (append-only)."""

    def add(self, entry: CostEntry) -> CostEntry: ...

    def add_many(self, entries: Iterable[CostEntry]) -> int: ...

    def get(self, entry_id: str) -> CostEntry: ...

    def replace(self, entry: CostEntry) -> CostEntry:
        """Overwrite the stored entry with the same id (privacy erasure). Missing → NotFoundError."""
        ...

    def list(
        self,
        *,
        customer_id: str | None = None,
        category: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[CostEntry]: ...


@runtime_checkable
class DocumentRepository(Protocol):
    """Versioned JSON documents of configuration (funnel definitions, rules, tier sets, state).

    Documents are JSON-safe values stored under ``(kind, key)``; each save of
    an existing key must carry the version it read (optimistic concurrency),
    and every version is kept so that a rule or funnel can be read as it was.
    """

    def put(self, kind: str, key: str, document: Any, *, expected_version: int | None) -> int:
        """Store a new version; ``expected_version`` is None for a new key. Returns the new version.

        A mismatch raises ConcurrencyError and changes nothing.
        """
        ...

    def get(self, kind: str, key: str, *, version: int | None = None) -> tuple[Any, int]:
        """``(document, version)``: the latest, or the given version. Missing → NotFoundError."""
        ...

    def keys(self, kind: str) -> builtins.list[str]:
        """The keys stored for ``kind``, sorted."""
        ...

    def delete(self, kind: str, key: str) -> None:
        """Remove every version of a key (NotFoundError when absent)."""
        ...


@runtime_checkable
class UnitOfWork(Protocol):
    """One atomic change across repositories: commit, or everything is rolled back."""

    customers: CustomerRepository
    interactions: InteractionRepository
    transactions: TransactionRepository
    opportunities: OpportunityRepository
    activities: ActivityRepository
    surveys: SurveyRepository
    costs: CostRepository
    documents: DocumentRepository

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None:
        """Make the changes of this block durable and visible."""
        ...

    def rollback(self) -> None:
        """Discard the changes made since the last commit."""
        ...


def expect_unit_of_work(value: object, *, name: str = "uow") -> UnitOfWork:
    """``value`` when it is a unit of work (anything with the :class:`UnitOfWork` shape), else an
    ArgumentTypeError naming the argument (the entry-point check of every function taking a ``uow``).

    >>> expect_unit_of_work({}, name="uow")
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'uow' must be a unit of work, not a dict: {}
    """
    # a runtime-checkable protocol is a valid isinstance() target; mypy wants a concrete class
    return expect_instance(value, UnitOfWork, name=name, what="a unit of work")  # type: ignore[type-abstract]


@runtime_checkable
class BulkTransactionLoader(Protocol):
    """The optional bulk-load capability of a transaction repository: ``add_validated``.

    :func:`crmcore.ingest.import_transactions` stores the new rows of each batch with one
    ``add_validated(rows)`` call when ``uow.transactions`` is a ``BulkTransactionLoader``,
    and otherwise through the protocol's ``add_log``, one
    :class:`~crmcore.tables.TransactionLog` per currency (a backend needs nothing more to
    be imported into; this is only faster). The rows are
    :class:`~crmcore.repositories.ValidatedRows`: plain columns in the storage encoding
    that the import validated already, so the backend need not check each value again.

    A backend that implements it guarantees, as ``add_log`` does:

    * **all or nothing**: it returns ``len(rows)`` once every row is stored in the current
      block; when it raises, no row of ``rows`` is stored, and the block goes on (the
      caller may store other rows and commit). Like every write, the rows are visible to
      other units of work after ``commit()`` only, and a rollback removes them.
    * **duplicates**: an id already stored, or repeated within ``rows``, raises
      :class:`~crmcore.errors.DuplicateError` (and nothing is stored). External
      references are not checked: the import looked them up with
      ``existing_external_refs`` and left out those already stored.
    * **order**: the rows come in the source's order; nothing read back depends on it
      (reads return their documented total order, see docs/repositories.md).
    * **the same data**: what is read back (``get``, ``list``, ``read_log``,
      ``existing_external_refs``) is exactly what the same transactions stored with
      ``add_many`` or ``add_log`` give; an absent optional column is None.
    * anything other than ``ValidatedRows`` is refused with a
      :class:`~crmcore.errors.ValidationError`.

    The capability contract :class:`crmcore.testing.contract.BulkLoadContract` tests
    these; ``rows.transactions()`` decodes the rows for a backend that stores objects.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> isinstance(MemoryUnitOfWork().transactions, BulkTransactionLoader)
    True
    >>> isinstance(object(), BulkTransactionLoader)
    False
    """

    def add_validated(self, rows: ValidatedRows) -> int:
        """Store every row of ``rows`` (all or nothing); returns how many were stored."""
        ...


@runtime_checkable
class ColumnarRecordReader(Protocol):
    """The optional columnar read of a record repository: ``read_columns`` (crmcore's
    ``uow.interactions``, ``uow.activities`` and ``uow.surveys`` on every backend).

    ``read_columns(columns, customer_ids=, start=, end=)`` returns the selected records
    (the customers given, the time range of ``list``) as
    :class:`~crmcore.repositories.RecordColumns`, without one Python object per record:
    what reports over millions of rows read (:func:`crmcore.relationship.crm_health`),
    which fall back to ``list``/``iter`` on a repository without it. Rows come in no particular order; a column that is not
    readable, or named twice, raises ValidationError
    (``tests/repositories/test_repositories_record_columns.py`` holds every backend to it).

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> isinstance(MemoryUnitOfWork().interactions, ColumnarRecordReader)
    True
    """

    def read_columns(
        self,
        columns: Sequence[str],
        *,
        customer_ids: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> RecordColumns:
        """The selected records as columns (see the class docstring)."""
        ...


class ServiceCaseRepository(Protocol):
    """Service cases (the customers' service history): added, corrected and resolved by
    replacing the stored case; not versioned. A unit of work has one when it is a
    :class:`ServiceCaseUnitOfWork`.

    >>> from datetime import datetime, timezone
    >>> from crmcore.model import ServiceCase
    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> t = datetime(2025, 3, 1, tzinfo=timezone.utc)
    >>> with MemoryUnitOfWork() as uow:
    ...     repo: ServiceCaseRepository = uow.service_cases
    ...     _ = repo.add(ServiceCase(id="sc-1", customer_id="c-1", channel="chat", opened_at=t,
    ...                              category="delivery", owner_id="rep-1"))
    ...     _ = repo.replace(repo.get("sc-1").resolve(t, satisfaction=4))
    ...     [(c.id, c.satisfaction) for c in repo.list(customer_id="c-1", open_only=False)]
    [('sc-1', 4)]
    """

    def add(self, case: ServiceCase) -> ServiceCase:
        """Store a new case; a stored id raises DuplicateError."""
        ...

    def add_many(self, cases: Iterable[ServiceCase]) -> int:
        """Store new cases; returns how many. Any duplicate → DuplicateError, none stored."""
        ...

    def get(self, case_id: str) -> ServiceCase:
        """The case, or NotFoundError."""
        ...

    def replace(self, case: ServiceCase) -> ServiceCase:
        """Overwrite the stored case with the same id (resolution, corrections, privacy
        erasure). A missing id raises NotFoundError."""
        ...

    def list(
        self,
        *,
        customer_id: str | None = None,
        owner_id: str | None = None,
        channels: Sequence[Channel | str] | None = None,
        category: str | None = None,
        open_only: bool = False,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[ServiceCase]:
        """Cases matching every filter (``open_only``: unresolved cases only; ``[start, end)``
        on ``opened_at``), in order of opening time, then id."""
        ...

    def iter(
        self,
        *,
        customer_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[ServiceCase]:
        """Matching cases in the order of :meth:`list`, fetched ``batch_size`` at a time."""
        ...


@runtime_checkable
class ServiceCaseUnitOfWork(UnitOfWork, Protocol):
    """The optional service-case capability of a unit of work: ``uow.service_cases``.

    :class:`UnitOfWork` does not require it, so a backend written before service cases
    existed stays a unit of work; the functions that use service cases
    (:func:`~crmcore.repositories.privacy.export_customer` and ``erase_customer``,
    :func:`crmcore.ingest.import_service_cases`, the customer timeline) check
    ``isinstance(uow, ServiceCaseUnitOfWork)``: export and erasure skip the cases of a
    backend without them, an import refuses it. crmcore's backends have it; the capability
    contract :class:`crmcore.testing.contract.ServiceCaseContract` tests it.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> isinstance(MemoryUnitOfWork(), ServiceCaseUnitOfWork)
    True
    """

    service_cases: ServiceCaseRepository
