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

from collections.abc import Iterable, Mapping, Sequence, Sized
from os import PathLike
from typing import Any, Protocol, runtime_checkable

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.errors import ValidationError
from crmcore.ingest._cells import (
    Errors,
    currency_code,
    parse_amounts,
    parse_currencies,
    parse_ids,
    parse_kinds,
    parse_quantities,
    parse_texts,
    show,
)
from crmcore.ingest._keys import Occurrences, content_hashes, content_keys, transaction_ids
from crmcore.ingest._sources import Batch, CsvSource, MappingSource, open_source, resolve_columns
from crmcore.ingest._times import parse_times
from crmcore.ingest.report import ImportReport, RejectedImportError, RowError
from crmcore.repositories._codec import KEY_LENGTH
from crmcore.repositories.protocols import UnitOfWork
from crmcore.tables import TransactionLog

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


@attrs.frozen(eq=False)
class TransactionColumns:
    """A validated batch: parsed columns for every row, ``good`` rows, and the errors of the others.

    ``errors`` holds ``(row index, field, reason)``; ``good[i]`` is False for
    every row with at least one error.
    """

    customer_ids: list[object]
    micros: npt.NDArray[np.int64]
    amounts: npt.NDArray[np.float64]
    kinds: npt.NDArray[np.int8]
    quantities: npt.NDArray[np.int64]
    currencies: list[str | None]
    products: list[object]
    categories: list[object]
    channels: list[object]
    external_refs: list[object]
    errors: list[tuple[int, str, str]]
    good: npt.NDArray[np.bool_]


def _check_options(batch_size: int, currency: str | None) -> str | None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValidationError(f"'batch_size' must be a positive integer: {batch_size!r}")
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

    customer_ids, e = parse_ids(col("customer_id"))
    take("customer_id", e)
    micros, e = parse_times(col("occurred_at"), assume_utc=assume_utc, time_format=time_format)
    take("occurred_at", e)
    amounts, e = parse_amounts(col("amount"))
    take("amount", e)
    if currency is not None:
        code = _check_options(1, currency)
        currencies: list[str | None] = [code] * n
    else:
        currencies, e = parse_currencies(col("currency"))
        take("currency", e)
    kinds, e = parse_kinds(col("kind"))
    take("kind", e)
    quantities, e = parse_quantities(col("quantity"))
    take("quantity", e)
    texts: dict[str, list[object]] = {}
    for name in ("product", "category", "channel"):
        texts[name], e = parse_texts(col(name))
        take(name, e)
    refs, e = parse_texts(col("external_ref"), max_length=KEY_LENGTH - len(ref_prefix))
    take("external_ref", e)
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
    )


def _row_errors(
    batch: Batch, checked: TransactionColumns, column_of: Mapping[str, str]
) -> list[RowError]:
    out = []
    for i, field, reason in checked.errors:
        cells = batch.columns.get(field)
        value = None if cells is None or cells[i] is None else show(cells[i])
        out.append(
            RowError(
                row=int(batch.rows[i]),
                line=None if batch.lines is None else int(batch.lines[i]),
                column=column_of.get(field, field),
                value=value,
                reason=reason,
            )
        )
    return out


@attrs.define
class _Keyed:
    rows: npt.NDArray[np.intp]  # batch indices of the good rows, in order
    keys: list[str]


def _keys_for(checked: TransactionColumns, ref_prefix: str, occurrences: Occurrences) -> _Keyed:
    rows = np.flatnonzero(checked.good)
    refs = [checked.external_refs[i] for i in rows]
    keys: list[str | None] = [None if r is None else ref_prefix + str(r) for r in refs]
    need = np.array([k is None for k in keys], dtype=bool)
    if need.any():
        sub = rows[need]

        def pick(values: Sequence[Any]) -> list[Any]:
            return [values[i] for i in sub]

        h1, h2 = content_hashes(
            [
                pick(checked.customer_ids),
                pick(checked.currencies),
                pick(checked.products),
                pick(checked.categories),
                pick(checked.channels),
            ],
            [
                checked.micros[sub],
                checked.amounts[sub],
                checked.kinds[sub],
                checked.quantities[sub],
            ],
        )
        derived = content_keys(h1, h2, occurrences.next(h1))
        for j, k in zip(np.flatnonzero(need), derived, strict=True):
            keys[j] = k
    return _Keyed(rows, [k for k in keys if k is not None])


def _factorize(values: list[Any]) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    labels: list[str] = sorted(dict.fromkeys(values))  # validated str ids
    index = {v: j for j, v in enumerate(labels)}
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
    label_arr = np.empty(len(labels), dtype=object)
    label_arr[:] = labels
    return codes, label_arr


def _objects(values: list[object]) -> npt.NDArray[Any]:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


class _KeyFilter:
    """Keys stored by this import, as 64-bit hashes, for imports into an empty table.

    When the table held no transaction at the start, a key can only be
    stored already if this import stored it: only keys whose hash was seen
    are looked up in the repository (exactly), the rest are new for sure.
    """

    def __init__(self) -> None:
        self.hashes = np.zeros(0, dtype=np.int64)

    @staticmethod
    def hash(keys: list[str]) -> npt.NDArray[np.int64]:
        return np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))

    def candidates(self, keys: list[str]) -> list[str]:
        h = self.hash(keys)
        if not len(self.hashes):
            return []
        pos = np.minimum(np.searchsorted(self.hashes, h), len(self.hashes) - 1)
        hit = self.hashes[pos] == h
        return [k for k, c in zip(keys, hit, strict=True) if c]

    def add(self, keys: list[str]) -> None:
        # a plain sort (not np.union1d, whose hash-based unique is slow on large arrays)
        self.hashes = np.sort(np.concatenate([self.hashes, self.hash(keys)]))


def _store(
    uow: UnitOfWork, checked: TransactionColumns, keyed: _Keyed, fresh: _KeyFilter | None
) -> tuple[int, int]:
    """Store the good rows whose key is new; returns ``(stored, skipped)``."""
    rows, keys = keyed.rows, keyed.keys
    if not len(rows):
        return 0, 0
    first = dict.fromkeys(keys)
    keep = np.ones(len(rows), dtype=bool)
    if len(first) != len(keys):
        seen: set[str] = set()
        for j, k in enumerate(keys):
            if k in seen:
                keep[j] = False
            seen.add(k)
    lookup = list(first) if fresh is None else fresh.candidates(list(first))
    existing = uow.transactions.existing_external_refs(lookup) if lookup else set()
    if existing:
        keep &= np.fromiter((k not in existing for k in keys), dtype=bool, count=len(keys))
    sel = rows[keep]
    kept_keys = [k for k, ok in zip(keys, keep, strict=True) if ok]
    skipped = len(rows) - len(sel)
    if not len(sel):
        return 0, skipped
    ids = transaction_ids(kept_keys)
    if fresh is not None:
        fresh.add(kept_keys)
    currencies = [checked.currencies[i] for i in sel]
    groups: dict[str | None, list[int]] = {}
    if len(set(currencies)) == 1:
        groups[currencies[0]] = list(range(len(sel)))
    else:
        for j, c in enumerate(currencies):
            groups.setdefault(c, []).append(j)
    stored = 0
    for cur, members in groups.items():
        part = np.asarray(members, dtype=np.intp)
        idx = sel[part]
        codes, labels = _factorize([checked.customer_ids[i] for i in idx])
        log = TransactionLog(
            customer=codes,
            time=checked.micros[idx].view("datetime64[us]"),
            amount=checked.amounts[idx],
            kind=checked.kinds[idx],
            customer_ids=labels,
            quantity=checked.quantities[idx],
            currency=cur,
            ids=_objects([ids[j] for j in part]),
            external_refs=_objects([kept_keys[j] for j in part]),
            products=_objects([checked.products[i] for i in idx]),
            categories=_objects([checked.categories[i] for i in idx]),
            channels=_objects([checked.channels[i] for i in idx]),
        )
        stored += uow.transactions.add_log(log)
    return stored, skipped


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
    source: str | PathLike[str] | Iterable[Mapping[str, object]],
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
) -> ImportReport:
    """Validate and store transactions from a CSV file (a path) or an iterable of mappings.

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
      the next open of the database rebuilds them (docs/ingest.md).

    ``uow`` must not be inside a ``with`` block: the import opens its own.
    A file-level problem raises ValidationError before anything is stored.
    """
    fixed = _check_options(batch_size, currency)
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
    occurrences = Occurrences()
    errors: list[RowError] = []
    counts = {"read": 0, "stored": 0, "rejected": 0, "skipped": 0, "batches": 0}

    def prepare(batch: Batch) -> tuple[TransactionColumns, _Keyed]:
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
        return checked, _keys_for(checked, ref_prefix, occurrences)

    fresh: _KeyFilter | None = None
    repo = uow.transactions
    bulk = repo if isinstance(repo, _BulkLoading) else None
    if all_or_nothing:
        with uow:
            if uow.transactions.count() == 0:
                fresh = _KeyFilter()
            if bulk is not None:  # one transaction: the rebuild commits with the rows
                bulk.defer_indexes(_expected_rows(src))
            for batch in src.batches(batch_size):
                checked, keyed = prepare(batch)
                if counts["rejected"]:
                    continue
                stored, skipped = _store(uow, checked, keyed, fresh)
                counts["stored"] += stored
                counts["skipped"] += skipped
            if counts["rejected"]:
                uow.rollback()
            else:
                if bulk is not None:
                    bulk.restore_indexes()
                uow.commit()
                counts["batches"] = 1
        if counts["rejected"]:
            raise RejectedImportError(_report(src.name, counts, errors, True, stored=0))
        return _report(src.name, counts, errors, True)
    deferred: list[str] = []
    with uow:
        if uow.transactions.count() == 0:
            fresh = _KeyFilter()
        if bulk is not None:
            deferred = bulk.defer_indexes(_expected_rows(src))
            uow.commit()
    try:
        for batch in src.batches(batch_size):
            checked, keyed = prepare(batch)
            with uow:
                stored, skipped = _store(uow, checked, keyed, fresh)
                if stored:
                    uow.commit()
                    counts["batches"] += 1
            counts["stored"] += stored
            counts["skipped"] += skipped
    finally:
        if deferred and bulk is not None:
            # committed batches stay; a crash before this point is repaired on the next open
            with uow:
                bulk.restore_indexes()
                uow.commit()
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
    return ImportReport(
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
