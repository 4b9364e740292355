"""The one validating front of the append-only record repositories: interactions,
transactions, activities, survey responses and cost entries, for every backend.

A front (:class:`Interactions`, :class:`Transactions`, :class:`Activities`,
:class:`Surveys`, :class:`Costs`) implements the public protocol of
:mod:`crmcore.repositories.protocols`: it checks every argument (the record's type
and storability, in-batch duplicates, the id looked up, the filters through
:func:`~crmcore.repositories._spec.parse_query`, the limit and batch size) and
writes every error message; then it calls its backend part, a store
(:class:`RecordStore`, :class:`TransactionStore`, :class:`BulkLoadStore`) that
only stores and selects. The table of each kind is described once here
(:data:`INTERACTIONS`, :data:`TRANSACTIONS`, :data:`ACTIVITIES`, :data:`SURVEYS`,
:data:`COSTS`): what ``list()`` filters on, its time range and its order, which
the memory store applies with :func:`~crmcore.repositories._spec.predicate` and
the SQL store with :func:`crmcore.repositories.sql._query.where`.

>>> from datetime import datetime, timezone
>>> from crmcore.repositories import MemoryUnitOfWork
>>> from crmcore.model import Interaction
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.interactions.add(Interaction(id="i-1", customer_id="c-1", channel="phone",
...             direction="inbound", occurred_at=datetime(2024, 3, 1, tzinfo=timezone.utc)))
...     uow.commit()
>>> with uow:
...     [i.id for i in uow.interactions.list(channels=["phone"], start="2024-01-01")]
['i-1']
>>> with uow:
...     uow.interactions.add_many([uow.interactions.get("i-1")])
Traceback (most recent call last):
crmcore.errors.DuplicateError: interaction 'i-1' is already stored; none was added
>>> with uow:
...     uow.interactions.list(limit=-1)
Traceback (most recent call last):
crmcore.errors.ValidationError: 'limit' must be >= 0: -1
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from crmcore.errors import DuplicateError, NotFoundError
from crmcore.model import (
    Activity,
    Channel,
    CostEntry,
    Interaction,
    SurveyResponse,
    Transaction,
    TransactionKind,
)
from crmcore.repositories._args import (
    check_batch,
    check_ids,
    check_iterable,
    check_limit,
    check_lookup,
)
from crmcore.repositories._columnar import (
    LOG_COLUMNS,
    OPTIONAL_COLUMNS,
    ValidatedRows,
    log_rows,
    validated_columns,
)
from crmcore.repositories._record_columns import RecordColumns, check_columns
from crmcore.repositories._spec import (
    Filter,
    Query,
    TableSpec,
    parse_channels_set,
    parse_kinds_set,
    parse_query,
)
from crmcore.repositories._writes import check_record
from crmcore.tables import TransactionLog

__all__ = [
    "ACTIVITIES",
    "COSTS",
    "INTERACTIONS",
    "SURVEYS",
    "TRANSACTIONS",
    "Activities",
    "BulkLoadStore",
    "BulkTransactions",
    "ColumnReads",
    "Costs",
    "Interactions",
    "RecordStore",
    "Records",
    "Surveys",
    "TransactionStore",
    "Transactions",
]


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Identified)


def _parse_ids_set(values: Any) -> frozenset[str] | None:
    """``read_log``'s ``customer_ids``: a sequence of string ids (None: no filter)."""
    return None if values is None else frozenset(check_ids(values, "customer_ids"))


def _kind_code(kind: TransactionKind) -> int:
    return kind.code


def _customer() -> Filter:
    return Filter("customer_id")


def _customers() -> Filter:
    """``customer_ids`` of the columnar reads (``read_log``, ``read_columns``)."""
    return Filter("customer_ids", "customer_id", parse=_parse_ids_set)


INTERACTIONS = TableSpec(
    "interactions",
    Interaction,
    "interaction",
    filters=(
        _customer(),
        _customers(),
        Filter("rep_id"),
        Filter("channels", "channel", parse=parse_channels_set),
    ),
    time=("occurred_at",),
    order=(("occurred_at",), ("id",)),
)
TRANSACTIONS = TableSpec(
    "transactions",
    Transaction,
    "transaction",
    filters=(
        _customer(),
        _customers(),
        Filter("kinds", "kind", parse=parse_kinds_set, stored=_kind_code),
    ),
    time=("occurred_at",),
    order=(("occurred_at",), ("id",)),
)
ACTIVITIES = TableSpec(
    "activities",
    Activity,
    "activity",
    filters=(Filter("rep_id"), _customer(), _customers(), Filter("opportunity_id")),
    time=("due_at", "done_at"),
    order=(("done_at", "due_at"), ("id",)),
)
SURVEYS = TableSpec(
    "surveys",
    SurveyResponse,
    "survey response",
    filters=(_customer(), _customers(), Filter("survey")),
    time=("responded_at",),
    order=(("responded_at",), ("id",)),
)
COSTS = TableSpec(
    "costs",
    CostEntry,
    "cost entry",
    filters=(_customer(), Filter("category")),
    time=("incurred_at",),
    order=(("incurred_at",), ("id",)),
)


# -- the backend parts ---------------------------------------------------------------------------
class RecordStore(Protocol[R]):
    """What a backend does for one table of records (its :class:`TableSpec`), given
    arguments the front has checked."""

    def insert(self, records: Sequence[R]) -> str | None:
        """Store new records, all or none: the id of one that is already stored or repeated
        in ``records`` (then nothing is stored), else None."""
        ...

    def fetch(self, record_id: str) -> R | None:
        """The stored record, or None."""
        ...

    def overwrite(self, record: R) -> bool:
        """Replace the stored record with ``record``'s id; False (nothing changed) if none."""
        ...

    def select(self, query: Query, limit: int | None) -> builtins.list[R]:
        """The records ``query`` selects in the table's order, at most ``limit``."""
        ...

    def stream(self, query: Query, batch_size: int) -> Iterator[R]:
        """What :meth:`select` returns without a limit, read ``batch_size`` at a time."""
        ...

    def read_columns(self, query: Query, columns: Sequence[str]) -> RecordColumns:
        """The records ``query`` selects as the checked ``columns`` (in any row order)."""
        ...


class TransactionStore(RecordStore[Transaction], Protocol):
    """The transactions' store, with the columnar bridge."""

    def insert_columns(self, columns: Mapping[str, Sequence[Any]]) -> str | None:
        """Store the rows of storage columns (:data:`~crmcore.repositories._columnar.LOG_COLUMNS`;
        an absent optional column is NULL; at least one row) like :meth:`insert`."""
        ...

    def external_refs(self, refs: Sequence[str]) -> set[str]:
        """The subset of ``refs`` stored as ``external_ref``."""
        ...

    def read_log(self, query: Query) -> TransactionLog:
        """The selected transactions as columns with their ids, in the total order of
        transactions (customer id, time, transaction id)."""
        ...

    def count(self) -> int:
        """How many transactions are stored."""
        ...


class BulkLoadStore(TransactionStore, Protocol):
    """A transactions' store that also manages the database around a bulk load (SQL)."""

    def reserve_writes(self) -> None:
        """Take the database's write lock now (where the database has one)."""
        ...

    def refresh_statistics(self) -> bool:
        """Refresh stale planner statistics; True when it did."""
        ...

    def defer_indexes(self, rows: int) -> builtins.list[str]:
        """Drop the costly indexes before a load of about ``rows`` rows; their names."""
        ...

    def restore_indexes(self) -> builtins.list[str]:
        """Re-create every missing index; their names."""
        ...


# -- the fronts ----------------------------------------------------------------------------------
class Records(Generic[R]):
    """The checks and messages shared by every record repository; a subclass names its
    :class:`TableSpec` and gives the protocol's public methods."""

    spec: ClassVar[TableSpec]

    def __init__(self, store: RecordStore[R]) -> None:
        self._store = store
        self._kind: type[Any] = self.spec.kind
        self._label = self.spec.label

    def _add(self, record: R) -> R:
        check_record(record, self._kind)
        clash = self._store.insert([record])
        if clash is not None:
            raise DuplicateError(f"{self._label} {clash!r} is already stored")
        return record

    def _add_many(self, records: Iterable[R], name: str) -> int:
        kind = self._kind
        items = [check_record(r, kind) for r in check_iterable(records, name)]
        if not items:
            return 0
        seen: set[str] = set()
        for r in items:
            if r.id in seen:
                raise DuplicateError(
                    f"{self._label} {r.id!r} is given twice in {name!r}; none was added"
                )
            seen.add(r.id)
        clash = self._store.insert(items)
        if clash is not None:
            raise DuplicateError(f"{self._label} {clash!r} is already stored; none was added")
        return len(items)

    def _get(self, record_id: str, name: str) -> R:
        check_lookup(record_id, name)
        found = self._store.fetch(record_id)
        if found is None:
            raise NotFoundError(f"{self._label} {record_id!r} not found")
        return found

    def _replace(self, record: R) -> R:
        check_record(record, self._kind)
        if not self._store.overwrite(record):
            raise NotFoundError(f"{self._label} {record.id!r} not found")
        return record

    def _list(self, limit: int | None, start: Any, end: Any, **filters: Any) -> builtins.list[R]:
        query = parse_query(self.spec, start=start, end=end, **filters)
        return self._store.select(query, check_limit(limit))

    def _iter(self, batch_size: int, start: Any, end: Any, **filters: Any) -> Iterator[R]:
        query = parse_query(self.spec, start=start, end=end, **filters)
        return self._store.stream(query, check_batch(batch_size))


class ColumnReads:
    """``read_columns``: the columnar read of a record front (interactions, activities,
    survey responses), the :class:`~crmcore.repositories.ColumnarRecordReader` capability."""

    spec: ClassVar[TableSpec]
    _store: RecordStore[Any]

    def read_columns(
        self,
        columns: Sequence[str],
        *,
        customer_ids: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> RecordColumns:
        """The records of ``customer_ids`` (None: every customer) in ``[start, end)`` (the time
        range of :meth:`list`) as :class:`~crmcore.repositories.RecordColumns` of ``columns``
        (names of :data:`~crmcore.repositories._record_columns.READABLE`), without one Python
        object per record; rows in no particular order."""
        names = check_columns(columns, self.spec.table)
        query = parse_query(self.spec, start=start, end=end, customer_ids=customer_ids)
        return self._store.read_columns(query, names)


class Interactions(ColumnReads, Records[Interaction]):
    """The interaction history of every channel (append-only): the front of
    :class:`~crmcore.repositories.InteractionRepository` over a :class:`RecordStore`."""

    spec = INTERACTIONS

    def add(self, interaction: Interaction) -> Interaction:
        """Store a new interaction; a stored id raises DuplicateError."""
        return self._add(interaction)

    def add_many(self, interactions: Iterable[Interaction]) -> int:
        """Store new interactions; returns how many. Any duplicate → DuplicateError, none stored."""
        return self._add_many(interactions, "interactions")

    def get(self, interaction_id: str) -> Interaction:
        """The interaction, or NotFoundError."""
        return self._get(interaction_id, "interaction_id")

    def replace(self, interaction: Interaction) -> Interaction:
        """Overwrite the stored interaction with the same id (privacy erasure, corrections).

        A missing id raises NotFoundError.
        """
        return self._replace(interaction)

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
        return self._list(
            limit, start, end, customer_id=customer_id, rep_id=rep_id, channels=channels
        )

    def iter(
        self,
        *,
        customer_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Interaction]:
        """Matching interactions in time order, fetched ``batch_size`` at a time."""
        return self._iter(batch_size, start, end, customer_id=customer_id)


class Transactions(Records[Transaction]):
    """Customer transactions (append-only), with a columnar read into a TransactionLog: the
    front of :class:`~crmcore.repositories.TransactionRepository` over a :class:`TransactionStore`."""

    spec = TRANSACTIONS

    def __init__(self, store: TransactionStore) -> None:
        super().__init__(store)
        self._tx = store

    def add(self, transaction: Transaction) -> Transaction:
        """Store a new transaction; a stored id raises DuplicateError."""
        return self._add(transaction)

    def add_many(self, transactions: Iterable[Transaction]) -> int:
        """Store new transactions; returns how many. Any duplicate → DuplicateError, none stored."""
        return self._add_many(transactions, "transactions")

    def get(self, transaction_id: str) -> Transaction:
        """The transaction, or NotFoundError."""
        return self._get(transaction_id, "transaction_id")

    def replace(self, transaction: Transaction) -> Transaction:
        """Overwrite the stored transaction with the same id (privacy erasure, corrections).

        A missing id raises NotFoundError.
        """
        return self._replace(transaction)

    def list(
        self,
        *,
        customer_id: str | None = None,
        kinds: Sequence[TransactionKind | str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[Transaction]:
        """Transactions matching every filter, in time order."""
        return self._list(limit, start, end, customer_id=customer_id, kinds=kinds)

    def iter(
        self,
        *,
        customer_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Transaction]:
        """Matching transactions in time order, fetched ``batch_size`` at a time."""
        return self._iter(batch_size, start, end, customer_id=customer_id)

    def add_log(self, log: TransactionLog) -> int:
        """Columnar bulk insert of a log that carries ``ids`` and a ``currency``; returns the count.

        The fast path of validated imports: no Python object per row. A
        duplicate id raises DuplicateError and nothing of the log is stored.
        """
        cols = log_rows(log)
        n = len(cols["id"])
        # an optional column that is None in every row is left out (fewer binds per row)
        return self._insert_columns(
            {
                c: cols[c]
                for c in LOG_COLUMNS
                if c not in OPTIONAL_COLUMNS or cols[c].count(None) != n
            }
        )

    def add_validated(self, rows: ValidatedRows) -> int:
        """:meth:`add_log` for the rows that :mod:`crmcore.ingest` built and validated: the
        values are not checked again (see :class:`~crmcore.repositories._columnar.ValidatedRows`).
        """
        return self._insert_columns(validated_columns(rows))

    def _insert_columns(self, cols: Mapping[str, Sequence[Any]]) -> int:
        n = len(cols["id"])
        if n == 0:
            return 0
        clash = self._tx.insert_columns(cols)
        if clash is None:
            return n
        if list(cols["id"]).count(clash) > 1:  # trusted rows that repeat an id
            raise DuplicateError(f"transaction {clash!r} is given twice in 'rows'; none was added")
        raise DuplicateError(f"transaction {clash!r} is already stored; none was added")

    def existing_external_refs(self, refs: Sequence[str]) -> set[str]:
        """The subset of ``refs`` already stored as ``external_ref`` (idempotent imports)."""
        return self._tx.external_refs(check_ids(refs, "refs"))

    def read_log(
        self,
        *,
        customer_ids: Sequence[str] | None = None,
        kinds: Sequence[TransactionKind | str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> TransactionLog:
        """The matching transactions as columns, without one Python object per row.

        Rows are in the total order of transactions: customer id, time, transaction id
        (the log carries the ids); ``customer_ids`` of the log are the sorted ids of the
        selected rows; a selection that mixes currencies raises ValidationError.
        """
        query = parse_query(self.spec, start=start, end=end, customer_ids=customer_ids, kinds=kinds)
        return self._tx.read_log(query)

    def count(self) -> int:
        """How many transactions are stored."""
        return self._tx.count()


class BulkTransactions(Transactions):
    """:class:`Transactions` over a store that also manages the database around bulk loads
    (the SQL backend): what :mod:`crmcore.ingest` uses when it is there."""

    def __init__(self, store: BulkLoadStore) -> None:
        super().__init__(store)
        self._bulk = store

    def reserve_writes(self) -> None:
        """SQLite: take the database's write lock now, waiting up to the busy timeout for
        another writer; call it first in a block that reads, then writes (an import's batch).
        Other databases: nothing (their writers lock rows, not the database).

        >>> from crmcore.repositories import SqlUnitOfWork
        >>> with SqlUnitOfWork.from_url("sqlite://") as uow:
        ...     uow.transactions.reserve_writes()
        """
        self._bulk.reserve_writes()

    def refresh_statistics(self) -> bool:
        """Refresh the planner statistics of the table where the database needs it and they
        are stale (``ANALYZE`` on PostgreSQL); True when it ran. :meth:`add_log` does this
        after the commit of a load that doubles the table; an import calls this first, for
        the rows a crashed run stored.

        >>> from crmcore.repositories import SqlUnitOfWork
        >>> with SqlUnitOfWork.from_url("sqlite://") as uow:
        ...     uow.transactions.refresh_statistics()
        False
        """
        return self._bulk.refresh_statistics()

    def defer_indexes(self, rows: int) -> builtins.list[str]:
        """Before a bulk load of about ``rows`` rows in several committed batches: on SQLite,
        when ``rows`` >= 50,000 and >= the rows stored, drop the two ordering indexes so that
        :meth:`add_log` only appends; returns their names (empty: nothing dropped).

        Call :meth:`restore_indexes` after the load (in a ``finally``). Until then reads
        are correct but slower; if the process dies in between, the next open of the
        database re-creates the indexes.

        >>> from crmcore.repositories import SqlUnitOfWork
        >>> uow = SqlUnitOfWork.from_url("sqlite://")
        >>> with uow:
        ...     uow.transactions.defer_indexes(10), uow.transactions.restore_indexes()
        ([], [])
        """
        return self._bulk.defer_indexes(rows)

    def restore_indexes(self) -> builtins.list[str]:
        """Re-create every missing index of the table (after :meth:`defer_indexes`); returns
        their names. Idempotent: a no-op when every index is there."""
        return self._bulk.restore_indexes()


class Activities(ColumnReads, Records[Activity]):
    """Reps' activities, planned and done: the front of
    :class:`~crmcore.repositories.ActivityRepository` over a :class:`RecordStore`."""

    spec = ACTIVITIES

    def add(self, activity: Activity) -> Activity:
        """Store a new activity; a stored id raises DuplicateError."""
        return self._add(activity)

    def add_many(self, activities: Iterable[Activity]) -> int:
        """Store new activities; returns how many. Any duplicate → DuplicateError, none stored."""
        return self._add_many(activities, "activities")

    def get(self, activity_id: str) -> Activity:
        """The activity, or NotFoundError."""
        return self._get(activity_id, "activity_id")

    def update(self, activity: Activity) -> Activity:
        """Replace a stored activity (activities are not versioned)."""
        return self._replace(activity)

    def replace(self, activity: Activity) -> Activity:
        """Overwrite the stored activity with the same id (privacy erasure, corrections).

        A missing id raises NotFoundError.
        """
        return self._replace(activity)

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
        """Activities matching the filters; the time range applies to ``due_at`` or ``done_at``.
        Ordered by done (else due) time, then id; an activity with neither comes first."""
        return self._list(
            limit,
            start,
            end,
            rep_id=rep_id,
            customer_id=customer_id,
            opportunity_id=opportunity_id,
        )


class Surveys(ColumnReads, Records[SurveyResponse]):
    """Survey responses (append-only): the front of
    :class:`~crmcore.repositories.SurveyRepository` over a :class:`RecordStore`."""

    spec = SURVEYS

    def add(self, response: SurveyResponse) -> SurveyResponse:
        """Store a new response; a stored id raises DuplicateError."""
        return self._add(response)

    def add_many(self, responses: Iterable[SurveyResponse]) -> int:
        """Store new responses; returns how many. Any duplicate → DuplicateError, none stored."""
        return self._add_many(responses, "responses")

    def get(self, response_id: str) -> SurveyResponse:
        """The response, or NotFoundError."""
        return self._get(response_id, "response_id")

    def replace(self, response: SurveyResponse) -> SurveyResponse:
        """Overwrite the stored response with the same id (privacy erasure). Missing → NotFoundError."""
        return self._replace(response)

    def list(
        self,
        *,
        customer_id: str | None = None,
        survey: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[SurveyResponse]:
        """Responses matching every filter, in time order."""
        return self._list(limit, start, end, customer_id=customer_id, survey=survey)


class Costs(Records[CostEntry]):
    """Cost-to-serve entries (append-only): the front of
    :class:`~crmcore.repositories.CostRepository` over a :class:`RecordStore`."""

    spec = COSTS

    def add(self, entry: CostEntry) -> CostEntry:
        """Store a new entry; a stored id raises DuplicateError."""
        return self._add(entry)

    def add_many(self, entries: Iterable[CostEntry]) -> int:
        """Store new entries; returns how many. Any duplicate → DuplicateError, none stored."""
        return self._add_many(entries, "entries")

    def get(self, entry_id: str) -> CostEntry:
        """The entry, or NotFoundError."""
        return self._get(entry_id, "entry_id")

    def replace(self, entry: CostEntry) -> CostEntry:
        """Overwrite the stored entry with the same id (privacy erasure). Missing → NotFoundError."""
        return self._replace(entry)

    def list(
        self,
        *,
        customer_id: str | None = None,
        category: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[CostEntry]:
        """Cost entries matching every filter, in time order."""
        return self._list(limit, start, end, customer_id=customer_id, category=category)
