"""Validated, idempotent, batched import of transactions, column-wise (no object per row).

>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> rows = [
...     {"external_ref": "o-1", "customer_id": "c-1", "occurred_at": "2024-05-01T10:00:00Z",
...      "amount": "19.90", "kind": "purchase"},
...     {"external_ref": "o-2", "customer_id": "c-1", "occurred_at": "2024-05-02", "amount": "-3"},
... ]
>>> report = import_transactions(uow, rows, currency="EUR")
>>> print(report.summary())
<rows> → transactions: 2 rows read, 1 stored, 1 rejected, 0 skipped (already present), 1 batch committed
  row 2, column 'amount', value '-3': must be >= 0 (the kind gives the direction): '-3'
>>> import_transactions(uow, rows, currency="EUR").skipped
1
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._results import array
from crmcore.arrays import check_same_length
from crmcore.errors import ConcurrencyError, DuplicateError, RepositoryError, ValidationError
from crmcore.ingest import _bytecells
from crmcore.ingest._attempts import _Reserving, attempt, describe, refresh_statistics
from crmcore.ingest._bytecells import ByteCells
from crmcore.ingest._cells import (
    Errors,
    currency_code,
    parse_currencies,
    parse_ids,
    parse_kinds,
    parse_money,
    parse_quantities,
    parse_texts,
    show,
)
from crmcore.ingest._keys import Occurrences
from crmcore.ingest._sources import (
    Batch,
    CsvSource,
    MappingSource,
    Source,
    check_import_options,
    check_time_format,
    open_source,
    resolve_columns,
)
from crmcore.ingest._store import Keyed, KeyFilter, keys_for, store
from crmcore.ingest._times import parse_times
from crmcore.ingest.report import (
    ImportInterruptedError,
    ImportReport,
    RejectedImportError,
    RowError,
    log_rejected,
)
from crmcore.model._fields import instance
from crmcore.parallel import get_threads
from crmcore.progress import Progress, check_progress, stage
from crmcore.repositories._codec import KEY_LENGTH
from crmcore.repositories.protocols import UnitOfWork

_log = logging.getLogger("crmcore.ingest")

__all__ = [
    "TRANSACTION_FIELDS",
    "TransactionColumns",
    "import_transactions",
    "validate_transaction_columns",
]

TRANSACTION_FIELDS: tuple[str, ...] = (
    "customer_id",
    "occurred_at",
    "amount",
    "currency",
    "kind",
    "quantity",
    "product",
    "category",
    "channel",
    "external_ref",
)
"""The fields a transaction row can carry (default column names)."""

DEFAULT_BATCH_SIZE = 50_000
V = TypeVar("V")


_CELLS = instance(list, "a list of parsed cells")


@attrs.frozen(eq=False)
class TransactionColumns:
    """A validated batch: parsed columns for every row, ``good`` rows, and the errors of the others.

    ``errors`` holds ``(row index, field, reason)``; ``good[i]`` is False for
    every row with at least one error. ``amounts_e6`` are the exact amounts
    times 10**6 (the storage encoding), ``amounts`` the same as float64.
    """

    customer_ids: list[object] = attrs.field(validator=_CELLS)
    micros: npt.NDArray[np.int64] = attrs.field(validator=array("i"))
    amounts: npt.NDArray[np.float64] = attrs.field(validator=array(lo=0, length="micros"))
    kinds: npt.NDArray[np.int8] = attrs.field(validator=array("i", 0, length="micros"))
    quantities: npt.NDArray[np.int64] = attrs.field(validator=array("i", 0, length="micros"))
    currencies: list[str | None] = attrs.field(validator=_CELLS)
    products: list[object] = attrs.field(validator=_CELLS)
    categories: list[object] = attrs.field(validator=_CELLS)
    channels: list[object] = attrs.field(validator=_CELLS)
    external_refs: list[object] = attrs.field(validator=_CELLS)
    errors: list[tuple[int, str, str]] = attrs.field(validator=instance(list, "a list of errors"))
    good: npt.NDArray[np.bool_] = attrs.field(validator=array("b", length="micros"))
    amounts_e6: npt.NDArray[np.int64] = attrs.field(validator=array("i", 0, length="micros"))

    def __attrs_post_init__(self) -> None:
        lists = ("customer_ids", "currencies", "products", "categories", "channels")
        check_same_length(micros=self.micros, **{k: getattr(self, k) for k in lists})


def _fixed_currency(currency: str | None) -> str | None:
    if currency is None:
        return None
    try:
        return currency_code(currency)
    except ValidationError:
        raise ValidationError(f"'currency' must be an ISO 4217 code: {currency!r}") from None


def validate_transaction_columns(
    columns: Mapping[str, Sequence[object]],
    *,
    currency: str | None = None,
    assume_utc: bool = True,
    time_format: str | None = None,
    ref_prefix: str = "",
) -> TransactionColumns:
    """Validate the cells of a batch, field by field, with the rules of ``Transaction``.

    ``columns`` maps field names (:data:`TRANSACTION_FIELDS`) to equally long
    lists of cells; an absent field is all missing. ``currency`` fixes the
    currency of every row (the ``currency`` field is then ignored).

    >>> v = validate_transaction_columns({"customer_id": ["c", "c"], "occurred_at": ["2024-01-01", "x"],
    ...                                   "amount": ["1", "2"]}, currency="USD")
    >>> v.good.tolist(), v.errors
    ([True, False], [(1, 'occurred_at', "must be an ISO 8601 timestamp: 'x'")])
    """
    if not isinstance(columns, Mapping):
        raise ValidationError(f"'columns' must be a mapping of field name to cells: {columns!r}")
    for name, cells in columns.items():
        if not isinstance(cells, Sized) or isinstance(cells, str | bytes | Mapping):
            raise ValidationError(f"'columns[{name}]' must be a sequence of cells: {cells!r}")
    check_time_format(time_format)
    n = len(next(iter(columns.values()))) if columns else 0
    for name, cells in columns.items():
        if len(cells) != n:
            raise ValidationError(f"column {name!r} has {len(cells)} cells, expected {n}")
    empty: list[object] = [None] * n

    def col(name: str) -> Sequence[object]:
        return columns.get(name, empty)

    errors: list[tuple[int, str, str]] = []

    def take(name: str, errs: Errors) -> None:
        errors.extend((i, name, reason) for i, reason in errs)

    def parse(
        name: str,
        on_bytes: Callable[[ByteCells], tuple[V, Errors]],
        on_cells: Callable[[Sequence[object]], tuple[V, Errors]],
    ) -> V:
        cells = col(name)  # a plain CSV file's cells are parsed from its bytes
        got, e = on_bytes(cells) if isinstance(cells, ByteCells) else on_cells(cells)
        take(name, e)
        return got

    customer_ids = parse("customer_id", _bytecells.parse_ids, parse_ids)
    if time_format is None:
        micros = parse(
            "occurred_at",
            lambda c: _bytecells.parse_times(c, assume_utc=assume_utc),
            lambda c: parse_times(c, assume_utc=assume_utc),
        )
    else:
        micros = parse(
            "occurred_at",
            lambda c: parse_times(c, assume_utc=assume_utc, time_format=time_format),
            lambda c: parse_times(c, assume_utc=assume_utc, time_format=time_format),
        )
    amounts_e6, amounts = parse("amount", _pair(_bytecells.parse_money), _pair(parse_money))
    if currency is not None:
        code = _fixed_currency(currency)
        currencies: list[str | None] = [code] * n
    else:
        currencies = parse("currency", _bytecells.parse_currencies, parse_currencies)
    kinds = parse("kind", _bytecells.parse_kinds, parse_kinds)
    quantities = parse("quantity", _bytecells.parse_quantities, parse_quantities)
    texts: dict[str, list[object]] = {}
    for name in ("product", "category", "channel"):
        if name in columns:
            texts[name] = parse(name, _bytecells.parse_texts, parse_texts)
        else:
            texts[name] = [None] * n  # absent: None in every row
    limit = KEY_LENGTH - len(ref_prefix)
    refs = parse(
        "external_ref",
        lambda c: _bytecells.parse_texts(c, max_length=limit),
        lambda c: parse_texts(c, max_length=limit),
    )
    good = np.ones(n, dtype=bool)
    if errors:
        good[[i for i, _, _ in errors]] = False
        order = {f: j for j, f in enumerate(TRANSACTION_FIELDS)}
        errors.sort(key=lambda t: (t[0], order[t[1]]))
    return TransactionColumns(
        customer_ids,
        micros,
        amounts,
        kinds,
        quantities,
        currencies,
        texts["product"],
        texts["category"],
        texts["channel"],
        refs,
        errors,
        good,
        amounts_e6,
    )


def _pair(
    fn: Callable[[Any], tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], Errors]],
) -> Callable[[Any], tuple[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]], Errors]]:
    """A money parser as ``((amount_e6, amounts), errors)``."""

    def run(cells: Any) -> tuple[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]], Errors]:
        e6, amounts, errors = fn(cells)
        return (e6, amounts), errors

    return run


def _row_errors(
    batch: Batch, checked: TransactionColumns, column_of: Mapping[str, str]
) -> list[RowError]:
    out: list[RowError] = []
    if not checked.errors:
        return out
    rows = batch.rows.tolist()
    lines = None if batch.lines is None else batch.lines.tolist()
    # the bad cells, fetched column by column (a plain file's cells are decoded only here)
    wanted: dict[str, list[int]] = {}
    for i, field, _ in checked.errors:
        wanted.setdefault(field, []).append(i)
    values: dict[tuple[str, int], object] = {}
    for field, idx in wanted.items():
        cells = batch.columns.get(field)
        if cells is not None:
            got = cells.take(idx) if isinstance(cells, ByteCells) else [cells[i] for i in idx]
            values.update(zip(((field, i) for i in idx), got, strict=True))
    for i, field, reason in checked.errors:
        cell = values.get((field, i))
        out.append(
            RowError(
                row=rows[i],
                line=None if lines is None else lines[i],
                column=column_of.get(field, field),
                value=None if cell is None else show(cell),
                reason=reason,
            )
        )
    return out


@runtime_checkable
class _BulkLoading(Protocol):
    """A repository that can set its costly indexes aside for a bulk load (SQL on SQLite)."""

    def defer_indexes(self, rows: int) -> list[str]: ...

    def restore_indexes(self) -> list[str]: ...


def _expected_rows(src: CsvSource | MappingSource) -> int:
    if isinstance(src, CsvSource):
        return len(src.line_starts)
    return len(src.rows) if isinstance(src.rows, Sized) else 0


def import_transactions(
    uow: UnitOfWork,
    source: Source,
    *,
    columns: Mapping[str, str] | None = None,
    currency: str | None = None,
    time_format: str | None = None,
    assume_utc: bool = True,
    ref_prefix: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    all_or_nothing: bool = False,
    delimiter: str = ",",
    encoding: str = "utf-8",
    progress: Progress | None = None,
) -> ImportReport:
    """Validate and store transactions from a CSV file (a path, or a text or binary file object such
    as a web upload), a pandas or polars DataFrame (a LazyFrame is collected), a pyarrow
    Table, or an iterable of mappings (see :mod:`crmcore.ingest._uploads` for frames).

    * ``columns``: ``{source column: field}`` for the columns not named like
      :data:`TRANSACTION_FIELDS`; ``customer_id``, ``occurred_at`` and
      ``amount`` are required, ``currency`` too unless given here as a fixed code.
    * ``occurred_at``: ISO 8601 (an offset is converted to UTC; none means
      UTC, or a rejected row with ``assume_utc=False``), or ``time_format``
      for :meth:`datetime.strptime`.
    * Default mode stores the good rows in batches of ``batch_size``, one
      commit each; ``all_or_nothing=True`` stores everything in one commit
      only if every row is good, else stores nothing and raises
      :class:`~crmcore.ingest.RejectedImportError` (an ``ImportRejectedError``)
      carrying the report.
    * Idempotent: rows whose external key (``ref_prefix + external_ref``, or
      the content key, see :mod:`crmcore.ingest._keys`) is stored already, or
      repeated in this import, are skipped.

    * Bulk load: on SQLite, an import of >= 50,000 rows and at least as many
      as the table holds drops the two ordering indexes of ``transactions``
      first and rebuilds them at the end (also after a failure); after a crash
      the next open of the database rebuilds them (docs/ingest.md). The next
      batch of a CSV file is parsed on a helper thread while the current one
      commits.

    ``uow`` must not be inside a ``with`` block: the import opens its own.
    A file-level problem raises ValidationError before anything is stored.
    ``progress`` (:mod:`crmcore.progress`) hears of the rows done after each batch
    (stage ``"import transactions"``; ``total`` the rows of a CSV file or a sized
    iterable, else None).
    """
    uow = check_import_options(uow, batch_size=batch_size, time_format=time_format)
    check_progress(progress)
    fixed = _fixed_currency(currency)
    if not isinstance(ref_prefix, str):
        raise ValidationError(f"'ref_prefix' must be a string: {ref_prefix!r}")
    column_of = resolve_columns(columns, TRANSACTION_FIELDS)
    required = ["customer_id", "occurred_at", "amount"] + ([] if fixed else ["currency"])
    src = open_source(
        source,
        fields=[f for f in TRANSACTION_FIELDS if not (fixed and f == "currency")],
        required=required,
        column_of=column_of,
        delimiter=delimiter,
        encoding=encoding,
    )
    src.present()  # a CSV file is checked whole here, before anything is stored
    expected = _expected_rows(src)
    tick = stage(progress, "import transactions", total=expected or None)
    occurrences = Occurrences()
    errors: list[RowError] = []
    counts = {"read": 0, "stored": 0, "rejected": 0, "skipped": 0, "batches": 0}

    def prepare(batch: Batch) -> tuple[TransactionColumns, Keyed]:
        checked = validate_transaction_columns(
            batch.columns,
            currency=fixed,
            assume_utc=assume_utc,
            time_format=time_format,
            ref_prefix=ref_prefix,
        )
        counts["read"] += len(batch)
        bad = len(batch) - int(checked.good.sum())
        if bad:
            counts["rejected"] += bad
            errors.extend(_row_errors(batch, checked, column_of))
        return checked, keys_for(checked, ref_prefix, occurrences)

    fresh: KeyFilter | None = None
    repo = uow.transactions
    bulk = repo if isinstance(repo, _BulkLoading) else None
    if all_or_nothing:
        try:
            with uow:
                if isinstance(repo, _Reserving):  # SQLite: nobody commits in between
                    repo.reserve_writes()
                refresh_statistics(uow)
                if uow.transactions.count() == 0:
                    fresh = KeyFilter()
                if bulk is not None:  # one transaction: the rebuild commits with the rows
                    bulk.defer_indexes(expected)
                for batch in src.batches(batch_size, raw=True):
                    checked, keyed = prepare(batch)
                    tick.advance(len(checked.micros))
                    if counts["rejected"]:
                        continue
                    stored, skipped = store(uow, checked, keyed, fresh)
                    counts["stored"] += stored
                    counts["skipped"] += skipped
                if counts["rejected"]:
                    uow.rollback()
                else:
                    if bulk is not None:
                        bulk.restore_indexes()
                    uow.commit()
                    counts["batches"] = 1
        except (ConcurrencyError, DuplicateError, RepositoryError) as e:
            report = _report(src.name, counts, errors, True, stored=0)
            raise ImportInterruptedError(report, f"storing the rows failed: {e}") from e
        if counts["rejected"]:
            raise RejectedImportError(_report(src.name, counts, errors, True, stored=0))
        tick.finish()
        return _report(src.name, counts, errors, True)

    def interrupted(what: str) -> ImportInterruptedError:
        return ImportInterruptedError(_report(src.name, counts, errors, False), what)

    def start() -> tuple[KeyFilter | None, list[str]]:
        refresh_statistics(uow)
        empty = uow.transactions.count() == 0
        dropped = bulk.defer_indexes(expected) if bulk is not None else []
        return (KeyFilter() if empty else None), dropped

    fresh, deferred = attempt(uow, start, what="starting the import", interrupted=interrupted)
    batches = iter(src.batches(batch_size, raw=True))

    def prepare_next() -> tuple[TransactionColumns, Keyed] | None:
        batch = next(batches, None)
        return None if batch is None else prepare(batch)

    def look_everything_up() -> bool:
        """A key this import did not store was there: another import is writing to the same
        table, so every key is looked up from now on (one retry)."""
        nonlocal fresh
        if fresh is None:
            return False
        fresh = None
        return True

    # A CSV file's next batch is parsed on a helper thread while SQLite commits the current
    # one: the commit (WAL write, checkpoint, fsync) releases the GIL, and the inserts, which
    # take and drop the GIL once per statement, never run beside the parsing. Batches are
    # still parsed, stored and committed one after the other, in order. Rows from an
    # iterable are read on the caller's thread only (they may come from a thread-bound
    # cursor). With crmcore.parallel's setting at 1 thread everything runs inline.
    ahead_ok = isinstance(src, CsvSource) and get_threads() > 1
    pool = ThreadPoolExecutor(1, "crmcore-ingest") if ahead_ok else None
    try:
        item = prepare_next()
        number = 0
        while item is not None:
            checked, keyed = item
            number += 1
            ahead: list[Future[tuple[TransactionColumns, Keyed] | None]] = []

            def store_batch(
                checked: TransactionColumns = checked,
                keyed: Keyed = keyed,
                ahead: list[Future[Any]] = ahead,
            ) -> Any:
                result = store(uow, checked, keyed, fresh)
                if pool is not None and not ahead:  # parsed while this batch commits
                    ahead.append(pool.submit(prepare_next))
                return result

            stored, skipped = attempt(
                uow,
                store_batch,
                what=f"storing batch {number}",
                interrupted=interrupted,
                on_duplicate=look_everything_up,
            )
            if stored:
                counts["batches"] += 1
            counts["stored"] += stored
            counts["skipped"] += skipped
            tick.advance(len(checked.micros))
            item = prepare_next() if not ahead else ahead[0].result()
    except BaseException as e:
        if pool is not None:
            pool.shutdown(wait=True)  # a failed commit waits for the batch being parsed
        if deferred and bulk is not None:
            # committed batches stay; the indexes come back now, or on the next open
            try:
                attempt(uow, bulk.restore_indexes, what="rebuilding", interrupted=interrupted)
            except ImportInterruptedError as again:
                _log.warning("%s (after: %s)", again, describe(e))
        raise
    if pool is not None:
        pool.shutdown(wait=True)
    if deferred and bulk is not None:
        attempt(
            uow,
            bulk.restore_indexes,
            what="rebuilding the transaction indexes (the next open of the database by a new "
            "engine rebuilds them)",
            interrupted=interrupted,
        )
    tick.finish()
    return _report(src.name, counts, errors, False)


def _report(
    source: str,
    counts: dict[str, int],
    errors: list[RowError],
    all_or_nothing: bool,
    *,
    stored: int | None = None,
) -> ImportReport:
    read = counts["read"]
    rejected = counts["rejected"]
    stored_n = counts["stored"] if stored is None else stored
    report = ImportReport(
        source=source,
        target="transactions",
        rows_read=read,
        stored=stored_n,
        rejected=rejected,
        skipped=read - rejected - stored_n if stored is None else 0,
        batches_committed=0 if stored == 0 else counts["batches"],
        all_or_nothing=all_or_nothing,
        errors=tuple(errors),
    )
    return log_rejected(report)
