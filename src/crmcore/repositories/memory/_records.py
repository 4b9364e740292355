"""Memory repositories of the append-only records: interactions, transactions, activities,
surveys, costs."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import numpy as np

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
    check_filters,
    check_ids,
    check_iterable,
    check_limit,
    check_lookup,
    parse_channels,
    parse_kinds,
    time_bounds,
)
from crmcore.repositories._codec import from_e6, to_e6, to_micros
from crmcore.repositories._columnar import (
    ValidatedRows,
    build_log,
    log_rows,
    single_currency,
    validated_columns,
)
from crmcore.repositories._writes import check_record
from crmcore.repositories.memory._store import MUST_NOT_EXIST, ChangeSet
from crmcore.tables import TransactionLog

if TYPE_CHECKING:
    from crmcore.repositories.memory._session import MemorySession

__all__ = [
    "MemoryActivityRepository",
    "MemoryCostRepository",
    "MemoryInteractionRepository",
    "MemorySurveyRepository",
    "MemoryTransactionRepository",
]

R = TypeVar("R")
_NEVER = -(2**62)


def _in_range(t: datetime | None, lo: int | None, hi: int | None) -> bool:
    if t is None:
        return False
    m = to_micros(t, "time")
    return (lo is None or m >= lo) and (hi is None or m < hi)


def _open(lo: int | None, hi: int | None) -> bool:
    return lo is None and hi is None


class _Records(Generic[R]):
    """Add / get / replace / select for one append-only table."""

    table: str
    kind: type[Any]
    label: str

    def __init__(self, session: MemorySession) -> None:
        self._session = session

    def _cs(self) -> ChangeSet:
        return self._session.changes()

    def _order(self, record: R) -> tuple[Any, ...]:
        raise NotImplementedError

    def _check(self, record: object) -> R:
        return cast(R, check_record(record, self.kind))

    def add(self, record: R) -> R:
        """Store a new record; a stored id raises DuplicateError."""
        self._check(record)
        cs = self._cs()
        rid = record.id  # type: ignore[attr-defined]  # every record type has an id
        if cs.get(self.table, rid) is not None:
            raise DuplicateError(f"{self.label} {rid!r} is already stored")
        cs.put(self.table, rid, record, expected=MUST_NOT_EXIST)
        return record

    def add_many(self, records: Iterable[R]) -> int:
        """Store new records; any duplicate raises DuplicateError and none is stored."""
        items = [self._check(r) for r in check_iterable(records, "records")]
        cs = self._cs()
        seen: set[str] = set()
        for r in items:
            rid = r.id  # type: ignore[attr-defined]  # every record type has an id
            if rid in seen or cs.get(self.table, rid) is not None:
                raise DuplicateError(f"{self.label} {rid!r} is already stored; none was added")
            seen.add(rid)
        for r in items:
            cs.put(self.table, r.id, r, expected=MUST_NOT_EXIST)  # type: ignore[attr-defined]  # as above
        return len(items)

    def get(self, record_id: str) -> R:
        """The record, or NotFoundError."""
        check_lookup(record_id, "record_id")
        found = self._cs().get(self.table, record_id)
        if found is None:
            raise NotFoundError(f"{self.label} {record_id!r} not found")
        return found  # type: ignore[no-any-return]  # the table holds only R

    def replace(self, record: R) -> R:
        """Overwrite a stored record with the same id (privacy erasure, corrections)."""
        self._check(record)
        rid = record.id  # type: ignore[attr-defined]  # every record type has an id
        self.get(rid)
        self._cs().put(self.table, rid, record, expected=None)
        return record

    def _select(self, keep: Callable[[R], bool], limit: int | None) -> builtins.list[R]:
        limit = check_limit(limit)
        rows = sorted(self._cs().values(self.table, keep), key=self._order)
        return rows if limit is None else rows[:limit]


class MemoryInteractionRepository(_Records[Interaction]):
    """Interactions held in memory (see :class:`~crmcore.repositories.InteractionRepository`)."""

    table, kind, label = "interactions", Interaction, "interaction"

    def _order(self, r: Interaction) -> tuple[Any, ...]:
        return (r.occurred_at, r.id)

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
        """Interactions matching every filter, in time order."""
        check_filters(customer_id=customer_id, rep_id=rep_id)
        lo, hi = time_bounds(start, end)
        chans = parse_channels(channels)

        def keep(r: Interaction) -> bool:
            return (
                (customer_id is None or r.customer_id == customer_id)
                and (rep_id is None or r.rep_id == rep_id)
                and (chans is None or r.channel in chans)
                and (_open(lo, hi) or _in_range(r.occurred_at, lo, hi))
            )

        return self._select(keep, limit)

    def iter(
        self,
        *,
        customer_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Interaction]:
        """Matching interactions, streamed in time order."""
        check_filters(customer_id=customer_id)
        check_batch(batch_size)
        yield from self.list(customer_id=customer_id, start=start, end=end)


class MemoryTransactionRepository(_Records[Transaction]):
    """Transactions held in memory (see :class:`~crmcore.repositories.TransactionRepository`)."""

    table, kind, label = "transactions", Transaction, "transaction"

    def _order(self, r: Transaction) -> tuple[Any, ...]:
        return (r.occurred_at, r.id)

    def _filter(
        self,
        customer_ids: Sequence[str] | None,
        kinds: Sequence[TransactionKind | str] | None,
        start: datetime | None,
        end: datetime | None,
    ) -> Callable[[Transaction], bool]:
        lo, hi = time_bounds(start, end)
        ks = parse_kinds(kinds)
        wanted = None if customer_ids is None else set(check_ids(customer_ids, "customer_ids"))

        def keep(r: Transaction) -> bool:
            return (
                (wanted is None or r.customer_id in wanted)
                and (ks is None or r.kind in ks)
                and (_open(lo, hi) or _in_range(r.occurred_at, lo, hi))
            )

        return keep

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
        check_filters(customer_id=customer_id)
        ids = None if customer_id is None else [customer_id]
        return self._select(self._filter(ids, kinds, start, end), limit)

    def iter(
        self,
        *,
        customer_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Transaction]:
        """Matching transactions, streamed in time order."""
        check_filters(customer_id=customer_id)
        check_batch(batch_size)
        yield from self.list(customer_id=customer_id, start=start, end=end)

    def add_log(self, log: TransactionLog) -> int:
        """Store every row of a log carrying ``ids`` and ``currency``; all or nothing."""
        return self._add_columns(log_rows(log))

    def add_validated(self, rows: ValidatedRows) -> int:
        """:meth:`add_log` for the rows that :mod:`crmcore.ingest` built and validated."""
        return self._add_columns(validated_columns(rows))

    def _add_columns(self, cols: Mapping[str, Sequence[Any]]) -> int:
        n = len(cols["id"])
        none: list[None] = [None] * n
        product, category, channel, ref = (
            cols.get(c, none) for c in ("product", "category", "channel", "external_ref")
        )
        records = [
            Transaction(
                id=cols["id"][i],
                customer_id=cols["customer_id"][i],
                occurred_at=_from_micros(cols["occurred_at"][i]),
                amount=from_e6(cols["amount_e6"][i], cols["currency"][i]),
                kind=_KINDS[cols["kind"][i]],
                quantity=int(cols["quantity"][i]),
                product=product[i],
                category=category[i],
                channel=channel[i],
                external_ref=ref[i],
            )
            for i in range(n)
        ]
        return self.add_many(records)

    def existing_external_refs(self, refs: Sequence[str]) -> set[str]:
        """The subset of ``refs`` already stored as ``external_ref``."""
        wanted = set(check_ids(refs, "refs"))
        return {
            r.external_ref
            for r in self._cs().values(self.table)
            if r.external_ref is not None and r.external_ref in wanted
        }

    def read_log(
        self,
        *,
        customer_ids: Sequence[str] | None = None,
        kinds: Sequence[TransactionKind | str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> TransactionLog:
        """Matching transactions as columns with their ids, in the total order of
        transactions: customer id, time, transaction id."""
        rows = self._cs().values(self.table, self._filter(customer_ids, kinds, start, end))
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
        """How many transactions are stored."""
        return len(self._cs().values(self.table))


def _from_micros(v: int) -> datetime:
    from crmcore.repositories._codec import from_micros

    return from_micros(v)


_KINDS = list(TransactionKind)


class MemoryActivityRepository(_Records[Activity]):
    """Activities held in memory (see :class:`~crmcore.repositories.ActivityRepository`)."""

    table, kind, label = "activities", Activity, "activity"

    def _order(self, r: Activity) -> tuple[Any, ...]:
        t = r.done_at or r.due_at
        return (_NEVER if t is None else to_micros(t, "time"), r.id)

    def update(self, activity: Activity) -> Activity:
        """Replace a stored activity (activities are not versioned)."""
        return self.replace(activity)

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
        """Activities matching the filters, ordered by done (else due) time, then id."""
        check_filters(rep_id=rep_id, customer_id=customer_id, opportunity_id=opportunity_id)
        lo, hi = time_bounds(start, end)

        def keep(r: Activity) -> bool:
            return (
                (rep_id is None or r.rep_id == rep_id)
                and (customer_id is None or r.customer_id == customer_id)
                and (opportunity_id is None or r.opportunity_id == opportunity_id)
                and (_open(lo, hi) or _in_range(r.due_at, lo, hi) or _in_range(r.done_at, lo, hi))
            )

        return self._select(keep, limit)


class MemorySurveyRepository(_Records[SurveyResponse]):
    """Survey responses held in memory (see :class:`~crmcore.repositories.SurveyRepository`)."""

    table, kind, label = "surveys", SurveyResponse, "survey response"

    def _order(self, r: SurveyResponse) -> tuple[Any, ...]:
        return (r.responded_at, r.id)

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
        check_filters(customer_id=customer_id, survey=survey)
        lo, hi = time_bounds(start, end)

        def keep(r: SurveyResponse) -> bool:
            return (
                (customer_id is None or r.customer_id == customer_id)
                and (survey is None or r.survey == survey)
                and (_open(lo, hi) or _in_range(r.responded_at, lo, hi))
            )

        return self._select(keep, limit)


class MemoryCostRepository(_Records[CostEntry]):
    """Cost entries held in memory (see :class:`~crmcore.repositories.CostRepository`)."""

    table, kind, label = "costs", CostEntry, "cost entry"

    def _order(self, r: CostEntry) -> tuple[Any, ...]:
        return (r.incurred_at, r.id)

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
        check_filters(customer_id=customer_id, category=category)
        lo, hi = time_bounds(start, end)

        def keep(r: CostEntry) -> bool:
            return (
                (customer_id is None or r.customer_id == customer_id)
                and (category is None or r.category == category)
                and (_open(lo, hi) or _in_range(r.incurred_at, lo, hi))
            )

        return self._select(keep, limit)
