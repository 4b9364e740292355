"""Columns ⇄ storage rows for the bridge (``add_log``, ``read_log``, ``read_history``).

Shared by every backend so that the memory backend gives bit-identical
columns to the SQL one (amounts go through the same ``amount_e6`` integers).

>>> import numpy as np
>>> log = build_log(np.array([0]), ["c-1"], np.array([0]), np.array([2_500_000]),
...                 np.array([0]), None, "EUR")
>>> log.amount.tolist(), log.time.astype(str).tolist()
([2.5], ['1970-01-01T00:00:00.000000'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.errors import ValidationError
from crmcore.model import Transaction, TransactionKind
from crmcore.model._storable import KEY_LENGTH, MAX_E6, MAX_ID_LENGTH, bad_text_rows
from crmcore.model.money import _to_currency
from crmcore.repositories._codec import from_e6, from_micros
from crmcore.tables import TransactionLog
from crmcore.tables._order import total_order

__all__ = [
    "LOG_COLUMNS",
    "OPTIONAL_COLUMNS",
    "LogRows",
    "ValidatedRows",
    "build_log",
    "log_rows",
    "validated_columns",
]

LogRows = dict[str, list[Any]]
"""Per-column Python lists, ready for an ``executemany``."""

LOG_COLUMNS = (
    "id",
    "customer_id",
    "occurred_at",
    "amount_e6",
    "currency",
    "kind",
    "quantity",
    "product",
    "category",
    "channel",
    "external_ref",
)
"""The stored columns of a transaction, in table order."""
OPTIONAL_COLUMNS = frozenset({"product", "category", "channel", "external_ref"})


def _check_columns(instance: object, attribute: object, cols: object) -> None:
    """The structural rule of :class:`ValidatedRows` (names and lengths of the columns)."""
    if not isinstance(cols, Mapping):
        raise ValidationError(
            f"'columns' of ValidatedRows must map column names to sequences: {type(cols).__name__}"
        )
    missing = sorted(c for c in LOG_COLUMNS if c not in OPTIONAL_COLUMNS and c not in cols)
    if missing:
        raise ValidationError(f"ValidatedRows lacks the column(s) {missing} ('columns')")
    unknown = sorted(repr(c) for c in cols if c not in LOG_COLUMNS)
    if unknown:
        raise ValidationError(
            f"ValidatedRows has unknown column(s) [{', '.join(unknown)}] ('columns'); "
            f"the columns are {list(LOG_COLUMNS)}"
        )
    not_sequences = sorted(
        c for c, v in cols.items() if not isinstance(v, Sequence) or isinstance(v, str | bytes)
    )
    if not_sequences:
        raise ValidationError(
            f"ValidatedRows columns {not_sequences} must be sequences of values (lists)"
        )
    n = len(cols["id"])
    uneven = sorted(c for c, v in cols.items() if len(v) != n)
    if uneven:
        raise ValidationError(f"ValidatedRows columns {uneven} are not {n} rows long")


@attrs.frozen(eq=False)
class ValidatedRows:
    """New transactions as plain storage columns: what :mod:`crmcore.ingest` hands a
    :class:`~crmcore.repositories.BulkTransactionLoader` (``add_validated``).

    ``columns`` maps the names of :data:`LOG_COLUMNS` to equally long sequences
    (lists) of plain Python values in their storage encoding:

    ============== ======================================================
    ``id``          the transaction id, ``str`` (unique, not stored yet)
    ``customer_id`` ``str``
    ``occurred_at`` ``int``, microseconds since 1970-01-01T00:00Z (UTC)
    ``amount_e6``   ``int``, the amount times 10**6 (exact, >= 0)
    ``currency``    ``str``, an ISO 4217 code
    ``kind``        ``int``, :attr:`TransactionKind.code <crmcore.model.TransactionKind.code>`
    ``quantity``    ``int``
    ``product``, ``category``, ``channel``, ``external_ref``
                    ``str`` or None; an optional column that is absent is None in every row
    ============== ======================================================

    The import builds them from cells it validated with the model's and the storage rules
    (:mod:`crmcore.model._storable`), so a backend may store them without checking each
    value again; construction checks only the structure (the column names, that each is a
    sequence, equal lengths) and refuses anything else with a ValidationError. Nothing but
    the import should build them for real data (build :class:`~crmcore.model.Transaction`
    objects and use ``add_many``, or a ``TransactionLog`` and ``add_log``, instead).
    :meth:`transactions` decodes the rows into model objects, which is all a backend that
    stores objects needs (``return self.add_many(rows.transactions())``).

    >>> rows = ValidatedRows({"id": ["t:1"], "customer_id": ["c-1"],
    ...     "occurred_at": [1_700_000_000_000_000], "amount_e6": [19_990_000],
    ...     "currency": ["EUR"], "kind": [0], "quantity": [1], "external_ref": ["order-1"]})
    >>> len(rows), rows.columns["amount_e6"]
    (1, [19990000])
    >>> t = rows.transactions()[0]
    >>> t.amount, t.occurred_at.isoformat(), t.kind.value, t.product
    (Money(amount=Decimal('19.99'), currency='EUR'), '2023-11-14T22:13:20+00:00', 'purchase', None)
    >>> ValidatedRows({"id": ["t:1"]})
    Traceback (most recent call last):
    crmcore.errors.ValidationError: ValidatedRows lacks the column(s) ['amount_e6', 'currency', 'customer_id', 'kind', 'occurred_at', 'quantity'] ('columns')
    """

    columns: Mapping[str, Sequence[Any]] = attrs.field(validator=_check_columns)
    """Column name → values of every row (see the table above)."""

    def __len__(self) -> int:
        """The number of rows."""
        return len(self.columns["id"])

    def transactions(self) -> list[Transaction]:
        """The rows as :class:`~crmcore.model.Transaction` objects, in row order (built and
        validated by the model, one object per row: the path of a backend that stores objects;
        crmcore's SQL backend inserts the columns as they are instead).

        >>> ValidatedRows({"id": [], "customer_id": [], "occurred_at": [], "amount_e6": [],
        ...                "currency": [], "kind": [], "quantity": []}).transactions()
        []
        """
        cols = self.columns
        n = len(cols["id"])
        none: list[None] = [None] * n
        product, category, channel, ref = (
            cols.get(c, none) for c in ("product", "category", "channel", "external_ref")
        )
        kinds = list(TransactionKind)
        return [
            Transaction(
                id=cols["id"][i],
                customer_id=cols["customer_id"][i],
                occurred_at=from_micros(cols["occurred_at"][i]),
                amount=from_e6(cols["amount_e6"][i], cols["currency"][i]),
                kind=kinds[cols["kind"][i]],
                quantity=int(cols["quantity"][i]),
                product=product[i],
                category=category[i],
                channel=channel[i],
                external_ref=ref[i],
            )
            for i in range(n)
        ]


def validated_columns(rows: ValidatedRows) -> Mapping[str, Sequence[Any]]:
    """The columns of ``rows``, which must be :class:`ValidatedRows` (the entry check of
    ``add_validated``; the structure is checked again, for an instance changed around its
    validator).

    >>> validated_columns({"id": ["t:1"]})
    Traceback (most recent call last):
    crmcore.errors.ValidationError: add_validated takes the ValidatedRows of crmcore.ingest (use add_log or add_many): dict
    """
    if not isinstance(rows, ValidatedRows):
        raise ValidationError(
            f"add_validated takes the ValidatedRows of crmcore.ingest (use add_log or add_many): "
            f"{type(rows).__name__}"
        )
    _check_columns(rows, None, rows.columns)
    return rows.columns


_N_KINDS = len(TransactionKind)


def _text_list(col: npt.NDArray[Any] | None, n: int, name: str, *, key: bool) -> list[Any]:
    if col is None:
        return [None] * n
    out: list[Any] = col.tolist()
    for i, v in enumerate(out):
        if v is None:
            continue
        if not isinstance(v, str):
            raise ValidationError(f"{name!r} must hold strings or None: {v!r} at row {i}")
        if key and len(v) > KEY_LENGTH:
            raise ValidationError(
                f"{name!r} must be at most {KEY_LENGTH} characters to be stored: row {i}"
            )
    _check_texts(out, name)
    return out


def _check_texts(values: list[Any], name: str, where: str = "row") -> None:
    """Refuse the first text no backend can store (crmcore.model._storable)."""
    bad = bad_text_rows(values)
    if bad:
        i, reason = bad[0]
        raise ValidationError(f"{name!r} {reason} at {where} {i}")


def log_rows(log: TransactionLog) -> LogRows:
    """Validate a log for storage and return its columns as lists (ids, customer ids, ...).

    The log must carry ``ids`` (unique transaction ids) and a ``currency``;
    amounts must be finite, >= 0 and exact to 6 decimal places.

    >>> import numpy as np
    >>> log = TransactionLog.from_arrays(customer_ids=["a"], timestamps=["2020-01-01"], amounts=[1.5])
    >>> log_rows(log)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'ids' are needed to store a TransactionLog (build it with ids=...)
    """
    if not isinstance(log, TransactionLog):
        raise ValidationError(f"expected a TransactionLog: {type(log).__name__}")
    n = len(log)
    if log.ids is None:
        raise ValidationError("'ids' are needed to store a TransactionLog (build it with ids=...)")
    if log.currency is None:
        raise ValidationError(
            "'currency' is needed to store a TransactionLog (build it with currency=...)"
        )
    currency = _to_currency(log.currency)
    ids = log.ids.tolist()
    for i, v in enumerate(ids):
        if not isinstance(v, str) or not v or v != v.strip() or len(v) > MAX_ID_LENGTH:
            raise ValidationError(
                f"'ids' must be non-empty string ids of at most {MAX_ID_LENGTH} characters: "
                f"{v!r} at row {i}"
            )
    _check_texts(ids, "ids")
    if len(set(ids)) != n:
        seen: set[str] = set()
        for v in ids:
            if v in seen:
                raise ValidationError(f"'ids' must be unique within the log: {v!r} repeats")
            seen.add(v)
    labels = np.asarray(log.customer_ids)
    label_list = [str(x) for x in labels.tolist()]
    for v in label_list:
        if not v or v != v.strip() or len(v) > MAX_ID_LENGTH:
            raise ValidationError(f"'customer_id' must be a valid id: {v!r}")
    _check_texts(label_list, "customer_ids", "label")
    amount = np.asarray(log.amount, dtype=np.float64)
    if not np.isfinite(amount).all():
        i = int(np.flatnonzero(~np.isfinite(amount))[0])
        raise ValidationError(f"'amount' must be finite: {amount[i]!r} at row {i}")
    if (amount < 0).any():
        i = int(np.flatnonzero(amount < 0)[0])
        raise ValidationError(f"'amount' must be >= 0: {amount[i]!r} at row {i}")
    scaled = amount * 1e6
    if (scaled > MAX_E6).any():
        i = int(np.flatnonzero(scaled > MAX_E6)[0])
        raise ValidationError(f"'amount' is too large to store: {amount[i]!r} at row {i}")
    e6 = np.rint(scaled)
    tol = np.maximum(1e-3, 4 * np.spacing(np.abs(scaled)))
    inexact = np.abs(scaled - e6) > tol
    if inexact.any():
        i = int(np.flatnonzero(inexact)[0])
        raise ValidationError(
            f"'amount' can be stored with at most 6 decimal places: {amount[i]!r} at row {i}"
        )
    kinds = np.asarray(log.kind)
    if n and (kinds.min() < 0 or kinds.max() >= _N_KINDS):
        raise ValidationError(f"'kind' codes must be in [0, {_N_KINDS - 1}]")
    quantity = [1] * n if log.quantity is None else np.asarray(log.quantity).tolist()
    micros = np.asarray(log.time).astype("datetime64[us]").view(np.int64)
    return {
        "id": ids,
        "customer_id": np.asarray(label_list, dtype=object)[log.customer].tolist(),
        "occurred_at": micros.tolist(),
        "amount_e6": e6.astype(np.int64).tolist(),
        "currency": [currency] * n,
        "kind": kinds.astype(np.int64).tolist(),
        "quantity": quantity,
        "product": _text_list(log.products, n, "products", key=False),
        "category": _text_list(log.categories, n, "categories", key=False),
        "channel": _text_list(log.channels, n, "channels", key=False),
        "external_ref": _text_list(log.external_refs, n, "external_refs", key=True),
    }


def build_log(
    codes: npt.NDArray[Any],
    labels: Sequence[str],
    micros: npt.NDArray[Any],
    e6: npt.NDArray[Any],
    kinds: npt.NDArray[Any],
    quantity: npt.NDArray[Any] | None,
    currency: str | None,
    ids: npt.NDArray[Any] | Sequence[str] | None = None,
) -> TransactionLog:
    """A TransactionLog from stored columns (customer codes into ``labels``), in the total
    order of transactions: customer id, time, transaction id, ids compared by code point
    (:func:`crmcore.tables._order.total_order`).

    Whatever order a database delivered (its collation, its choice of plan), the log
    comes out the same: labels not in code-point order are re-coded and ties re-ordered.

    >>> import numpy as np
    >>> log = build_log(np.array([0, 0, 1]), ["b", "a"], np.array([5, 5, 1]),
    ...                 np.array([1, 2, 3]), np.array([0, 0, 0]), None, "EUR",
    ...                 ["t-9", "t-10", "t-1"])
    >>> log.customer_ids.tolist(), log.ids.tolist()
    (['a', 'b'], ['t-1', 't-10', 't-9'])
    """
    codes = np.asarray(codes, dtype=np.int64)
    micros = np.asarray(micros, dtype=np.int64)
    labels = list(labels)
    if any(labels[i] >= labels[i + 1] for i in range(len(labels) - 1)):
        ranked = sorted(set(labels))  # the database's collation differs from code points
        rank = {v: i for i, v in enumerate(ranked)}
        codes = np.array([rank[v] for v in labels], dtype=np.int64)[codes]
        labels = ranked
    id_col: npt.NDArray[Any] | None = None
    if ids is not None:
        id_col = np.empty(len(codes), dtype=object)
        id_col[:] = ids
    order = total_order(codes, micros, id_col)
    if order is not None:
        codes, micros, e6, kinds = (
            codes[order],
            micros[order],
            np.asarray(e6)[order],
            np.asarray(kinds)[order],
        )
        quantity = None if quantity is None else np.asarray(quantity)[order]
        id_col = None if id_col is None else id_col[order]
    return TransactionLog(
        customer=codes,
        time=micros.view("datetime64[us]"),
        amount=np.asarray(e6, dtype=np.int64).astype(np.float64) / 1e6,
        kind=np.asarray(kinds).astype(np.int8),
        customer_ids=np.asarray(labels, dtype=str),
        quantity=None if quantity is None else np.asarray(quantity, dtype=np.int64),
        currency=currency,
        ids=id_col,
    )


def single_currency(currencies: Sequence[str]) -> str | None:
    """The one currency of a selection (None when empty); several → ValidationError.

    >>> single_currency(["EUR"]), single_currency([])
    ('EUR', None)
    """
    distinct = sorted(set(currencies))
    if len(distinct) > 1:
        raise ValidationError(
            f"the selected transactions mix currencies {distinct}: "
            "filter by customer or read each currency's customers separately"
        )
    return distinct[0] if distinct else None
