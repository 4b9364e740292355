"""Memory stores of the append-only records (interactions, transactions, activities, surveys,
costs): the backend parts of :mod:`crmcore.repositories._records`, which checks every argument.

Each store filters with :func:`~crmcore.repositories._spec.predicate` and orders with
:func:`~crmcore.repositories._spec.sort_key` of its table's spec, as the SQL stores do
with :mod:`crmcore.repositories.sql._query`.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> from crmcore.repositories._records import Costs
>>> uow = MemoryUnitOfWork()
>>> costs = Costs(MemoryCostStore(uow.session))
>>> with uow:
...     costs.list(category="support")
[]
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic

import numpy as np

from crmcore.model import (
    Activity,
    CostEntry,
    Interaction,
    SurveyResponse,
    Transaction,
)
from crmcore.repositories._codec import to_e6, to_micros
from crmcore.repositories._columnar import ValidatedRows, build_log, single_currency
from crmcore.repositories._record_columns import READABLE, TIME, RecordColumns, encode
from crmcore.repositories._records import (
    ACTIVITIES,
    COSTS,
    INTERACTIONS,
    SURVEYS,
    TRANSACTIONS,
    R,
)
from crmcore.repositories._spec import Query, TableSpec, predicate, sort_key
from crmcore.repositories.memory._store import MUST_NOT_EXIST
from crmcore.tables import TransactionLog

if TYPE_CHECKING:
    from crmcore.repositories.memory._session import MemorySession

__all__ = [
    "MemoryActivityStore",
    "MemoryCostStore",
    "MemoryInteractionStore",
    "MemoryRecordStore",
    "MemorySurveyStore",
    "MemoryTransactionStore",
]


class MemoryRecordStore(Generic[R]):
    """A :class:`~crmcore.repositories._records.RecordStore` over the unit of work's change set."""

    spec: ClassVar[TableSpec]

    def __init__(self, session: MemorySession) -> None:
        self._session = session
        self._table = self.spec.table
        self._order = sort_key(self.spec)

    def _keep(self, query: Query) -> Callable[[Any], bool] | None:
        if not query.values and query.lo is None and query.hi is None:
            return None
        return predicate(self.spec, query)

    def insert(self, records: Sequence[R]) -> str | None:
        """Stage new records; the id of one already visible (nothing staged), else None."""
        cs = self._session.changes()
        table = self._table
        seen: set[str] = set()
        for r in records:
            if r.id in seen or cs.get(table, r.id) is not None:
                return r.id
            seen.add(r.id)
        for r in records:
            cs.put(table, r.id, r, expected=MUST_NOT_EXIST)
        return None

    def fetch(self, record_id: str) -> R | None:
        """The record as this unit of work sees it, or None."""
        found: R | None = self._session.changes().get(self._table, record_id)
        return found

    def overwrite(self, record: R) -> bool:
        """Stage the new version of a visible record; False when there is none."""
        cs = self._session.changes()
        if cs.get(self._table, record.id) is None:
            return False
        cs.put(self._table, record.id, record, expected=None)
        return True

    def select(self, query: Query, limit: int | None) -> builtins.list[R]:
        """The selected records, sorted by the spec's order."""
        rows: builtins.list[R] = self._session.changes().values(self._table, self._keep(query))
        rows.sort(key=self._order)
        return rows if limit is None else rows[:limit]

    def stream(self, query: Query, batch_size: int) -> Iterator[R]:
        """:meth:`select`, read when the iteration starts."""
        yield from self.select(query, None)

    def read_columns(self, query: Query, columns: Sequence[str]) -> RecordColumns:
        """The selected records' ``columns`` (:data:`~crmcore.repositories._record_columns.READABLE`)."""
        rows: builtins.list[Any] = self._session.changes().values(self._table, self._keep(query))
        kinds = {c: READABLE[self._table][c] for c in columns}
        return encode(
            {c: [_plain(getattr(r, c), kinds[c], c) for r in rows] for c in columns}, kinds
        )


def _plain(value: Any, kind: str, name: str) -> Any:
    """A record's attribute in the encoding of :func:`~crmcore.repositories._record_columns.encode`."""
    if value is None:
        return None
    if kind == TIME:
        return to_micros(value, name)
    return getattr(value, "value", value)  # an enum member as its value


class MemoryInteractionStore(MemoryRecordStore[Interaction]):
    """Interactions held in memory."""

    spec = INTERACTIONS


class MemoryActivityStore(MemoryRecordStore[Activity]):
    """Activities held in memory."""

    spec = ACTIVITIES


class MemorySurveyStore(MemoryRecordStore[SurveyResponse]):
    """Survey responses held in memory."""

    spec = SURVEYS


class MemoryCostStore(MemoryRecordStore[CostEntry]):
    """Cost entries held in memory."""

    spec = COSTS


class MemoryTransactionStore(MemoryRecordStore[Transaction]):
    """Transactions held in memory, with the columnar bridge (a
    :class:`~crmcore.repositories._records.TransactionStore`)."""

    spec = TRANSACTIONS

    def insert_columns(self, columns: Mapping[str, Sequence[Any]]) -> str | None:
        """The rows of storage columns as :class:`~crmcore.model.Transaction` objects
        (:meth:`~crmcore.repositories._columnar.ValidatedRows.transactions`), staged by
        :meth:`insert`."""
        return self.insert(ValidatedRows(columns).transactions())

    def external_refs(self, refs: Sequence[str]) -> set[str]:
        """The subset of ``refs`` stored as ``external_ref``."""
        wanted = set(refs)
        return {
            r.external_ref
            for r in self._session.changes().values(self._table)
            if r.external_ref is not None and r.external_ref in wanted
        }

    def read_log(self, query: Query) -> TransactionLog:
        """The selected transactions as columns with their ids, in the total order of
        transactions: customer id, time, transaction id."""
        rows: list[Transaction] = self._session.changes().values(self._table, self._keep(query))
        rows.sort(key=lambda r: (r.customer_id, r.occurred_at, r.id))
        currency = single_currency([r.amount.currency for r in rows])
        labels = sorted({r.customer_id for r in rows})
        index = {c: i for i, c in enumerate(labels)}
        return build_log(
            np.array([index[r.customer_id] for r in rows], dtype=np.int64),
            labels,
            np.array([to_micros(r.occurred_at, "occurred_at") for r in rows], dtype=np.int64),
            np.array([to_e6(r.amount.amount, "amount") for r in rows], dtype=np.int64),
            np.array([r.kind.code for r in rows], dtype=np.int8),
            np.array([r.quantity for r in rows], dtype=np.int64),
            currency,
            [r.id for r in rows],
        )

    def count(self) -> int:
        """How many transactions are visible."""
        return len(self._session.changes().values(self._table))
