"""``TransactionLog``: customers' transactions as numpy columns."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import array
from crmcore.arrays import (
    FloatArray,
    IntArray,
    as_float_array,
    as_int_array,
    check_nonnegative,
    check_same_length,
)
from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels, missing_mask
from crmcore.model._fields import instance
from crmcore.model.transaction import Transaction, TransactionKind
from crmcore.tables._frame_in import FrameColumns
from crmcore.tables._order import total_order
from crmcore.timestamps import as_instant, parse_timestamps

__all__ = ["KIND_CODES", "TransactionLog"]

KIND_CODES: dict[str, int] = {k.value: k.code for k in TransactionKind}
"""Transaction kind value → the int8 code used in the ``kind`` column."""


def _kind_codes(kinds: Any, n: int) -> npt.NDArray[np.int8]:
    if kinds is None:
        return np.zeros(n, dtype=np.int8)
    arr = np.asarray(kinds)
    if arr.dtype.kind in "iu":
        bad = (arr < 0) | (arr >= len(KIND_CODES))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                f"'kind' code must be in [0, {len(KIND_CODES) - 1}]: {arr[i]} at index {i}"
            )
        return arr.astype(np.int8)
    labels, codes = factorize_labels(kinds, name="kind")
    table = np.empty(len(labels), dtype=np.int8)
    for j, lab in enumerate(labels):
        if lab not in KIND_CODES:
            raise ValidationError(f"'kind' must be one of {sorted(KIND_CODES)}: {lab!r}")
        table[j] = KIND_CODES[lab]
    return table[codes]


_OPTIONAL = ("quantity", "ids", "external_refs", "products", "categories", "channels")


def _other_missing(arr: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Rows of an object column holding a missing value other than None (NaN, NaT, pd.NA).

    One vectorised pass in the common case: NaN and NaT are the values that
    differ from themselves; values that cannot be compared (pd.NA) fall back
    to :func:`crmcore.labels.missing_mask`.
    """
    try:
        with np.errstate(invalid="ignore"):
            odd = np.asarray(arr != arr, dtype=bool)
        if odd.shape == arr.shape:
            return odd
    except (TypeError, ValueError):
        pass
    not_none = np.fromiter((v is not None for v in arr), dtype=bool, count=len(arr))
    out: npt.NDArray[np.bool_] = missing_mask(arr) & not_none
    return out


def _text_column(values: Any, *, name: str) -> npt.NDArray[Any] | None:
    """An optional text column as a 1-D object array; NaN, NaT or pd.NA become None (missing)."""
    if values is None:
        return None
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValidationError(f"{name!r} must be 1-dimensional, got shape {arr.shape}")
    odd = _other_missing(arr)
    if odd.any():
        arr = arr.copy()  # never write into the caller's array
        arr[odd] = None
    return arr


_TEXT_SHAPE = array("O", length="customer", optional=True, scan=False)


def _text_labels(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Validator of an optional text column: object labels, None (and only None) for missing."""
    _TEXT_SHAPE(inst, attribute, value)
    if value is None or not len(value) or value.dtype.kind != "O":
        return
    odd = _other_missing(value)
    if odd.any():
        i = int(np.flatnonzero(odd)[0])
        raise ValidationError(
            f"{type(inst).__name__}: {attribute.name!r} must hold text or None "
            f"(None for missing; no NaN, NaT or NA): {value[i]!r} at index {i}"
        )


def _text_numbers(values: npt.NDArray[Any], *, name: str) -> list[int | float]:
    """A CSV column's text as Python numbers (an integer where the text is one), for the one
    numeric rule of :mod:`crmcore.arrays` to check; text that is no number is refused with
    its row.

    >>> _text_numbers(np.array(["2", "1.5"]), name="quantity")
    [2, 1.5]
    >>> _text_numbers(np.array(["1.5", "x"]), name="amount")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'amount' must hold numbers: 'x' at row 2 (after the header)
    """
    out: list[int | float] = []
    for i, v in enumerate(values.tolist()):
        try:
            out.append(int(v))
        except ValueError:
            try:
                out.append(float(v))
            except ValueError:
                raise ValidationError(
                    f"{name!r} must hold numbers: {v!r} at row {i + 1} (after the header)"
                ) from None
    return out


def _csv_rows(name: str, f: Iterable[str], delimiter: str) -> tuple[list[str], list[list[str]]]:
    reader = csv.reader(f, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise ValidationError(f"{name}: the file is empty (expected a header row)")
    return header, list(reader)


@attrs.frozen(eq=False)
class TransactionLog(Tabular):
    """Transactions as aligned columns; row ``i`` is one transaction.

    * ``customer``: int64 index into ``customer_ids`` (sorted unique ids);
    * ``time``: ``datetime64[us]`` UTC timestamps;
    * ``amount``: float64, never negative (``kind`` gives the direction);
    * ``kind``: int8 codes of :class:`~crmcore.model.TransactionKind` (``KIND_CODES``);
    * ``quantity``: optional int64 units per transaction;
    * ``currency``: the one currency of ``amount`` (None when unknown);
    * optional per-row text columns, present when the log is to be stored or
      came from storage: ``ids`` (transaction ids), ``external_refs``,
      ``products``, ``categories``, ``channels`` (object arrays, None = missing;
      ``from_arrays`` turns a NaN, NaT or ``pd.NA`` into None, the constructor refuses one).

    Build it with a ``from_*`` classmethod; the constructor only checks
    that the columns line up.
    """

    customer: IntArray = attrs.field(validator=array("i", scan=False))
    time: npt.NDArray[np.datetime64] = attrs.field(
        validator=array("M", length="customer", scan=False)
    )
    amount: FloatArray = attrs.field(validator=array(lo=0, length="customer"))
    kind: npt.NDArray[np.int8] = attrs.field(validator=array("i", length="customer", scan=False))
    customer_ids: npt.NDArray[Any] = attrs.field(validator=array("O"))  # unique: one pass
    quantity: IntArray | None = attrs.field(
        default=None, validator=array("i", length="customer", optional=True, scan=False)
    )
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "a currency code", optional=True)
    )
    ids: npt.NDArray[Any] | None = attrs.field(default=None, validator=_text_labels)
    external_refs: npt.NDArray[Any] | None = attrs.field(default=None, validator=_text_labels)
    products: npt.NDArray[Any] | None = attrs.field(default=None, validator=_text_labels)
    categories: npt.NDArray[Any] | None = attrs.field(default=None, validator=_text_labels)
    channels: npt.NDArray[Any] | None = attrs.field(default=None, validator=_text_labels)

    def __attrs_post_init__(self) -> None:
        cols = {
            "customer": self.customer,
            "time": self.time,
            "amount": self.amount,
            "kind": self.kind,
        }
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                cols[name] = value
        check_same_length(**cols)
        if len(self.customer) and (
            self.customer.min() < 0 or self.customer.max() >= len(self.customer_ids)
        ):
            raise ValidationError("'customer' codes must index into 'customer_ids'")

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        *,
        customer_ids: npt.ArrayLike,
        timestamps: Any,
        amounts: npt.ArrayLike,
        kinds: Any = None,
        quantities: npt.ArrayLike | None = None,
        currency: str | None = None,
        ids: Any = None,
        external_refs: Any = None,
        products: Any = None,
        categories: Any = None,
        channels: Any = None,
    ) -> TransactionLog:
        """Build from aligned array-likes, validating every column once.

        ``customer_ids`` are per-row ids (str or int; a missing id is refused
        with its row, see :mod:`crmcore.labels`); ``timestamps`` as for
        :func:`crmcore.timestamps.parse_timestamps`; ``kinds`` as kind
        values (``"purchase"``) or codes; default all purchases.

        >>> TransactionLog.from_arrays(customer_ids=["a"], timestamps=["2020-01-01"], amounts=[-1.0])
        Traceback (most recent call last):
        crmcore.errors.ValidationError: 'amount' must be >= 0: -1.0 at index 0
        """
        labels, codes = factorize_labels(customer_ids, name="customer_id")
        time = parse_timestamps(timestamps, name="time")
        amount = as_float_array(amounts, name="amount")
        check_nonnegative(amount, name="amount")
        check_same_length(customer_id=codes, time=time, amount=amount)
        qty = None
        if quantities is not None:
            qty = as_int_array(quantities, name="quantity")
            check_nonnegative(qty, name="quantity")
        if currency is not None:
            from crmcore.model.money import _to_currency

            currency = _to_currency(currency)
        texts = {
            "ids": ids,
            "external_refs": external_refs,
            "products": products,
            "categories": categories,
            "channels": channels,
        }
        text_cols = {k: _text_column(v, name=k) for k, v in texts.items()}
        return cls(
            codes, time, amount, _kind_codes(kinds, len(codes)), labels, qty, currency, **text_cols
        )

    @classmethod
    def from_transactions(cls, transactions: Iterable[Transaction]) -> TransactionLog:
        """Build from model objects (convenient for small sets; repositories read columns directly).

        >>> from datetime import datetime, timezone
        >>> from crmcore.model import Money
        >>> t = Transaction(id="t", customer_id="c", occurred_at=datetime(2020, 1, 1, tzinfo=timezone.utc),
        ...                 amount=Money("5", "EUR"))
        >>> TransactionLog.from_transactions([t]).currency
        'EUR'
        """
        ids: list[str] = []
        tx_ids: list[str] = []
        refs: list[str | None] = []
        products: list[str | None] = []
        categories: list[str | None] = []
        channels: list[str | None] = []
        times: list[datetime] = []
        amounts: list[float] = []
        kinds: list[int] = []
        qty: list[int] = []
        currencies: set[str] = set()
        for t in transactions:
            tx_ids.append(t.id)
            refs.append(t.external_ref)
            products.append(t.product)
            categories.append(t.category)
            channels.append(t.channel)
            ids.append(t.customer_id)
            times.append(t.occurred_at)
            amounts.append(float(t.amount.amount))
            kinds.append(t.kind.code)
            qty.append(t.quantity)
            currencies.add(t.amount.currency)
        if len(currencies) > 1:
            raise ValidationError(
                f"transactions mix currencies {sorted(currencies)}: convert first"
            )
        return cls.from_arrays(
            customer_ids=np.array(ids, dtype=str),
            timestamps=times,
            amounts=amounts,
            kinds=np.array(kinds, dtype=np.int8),
            quantities=qty,
            currency=next(iter(currencies), None),
            ids=tx_ids,
            external_refs=refs,
            products=products,
            categories=categories,
            channels=channels,
        )

    @classmethod
    def from_csv(
        cls,
        path: str | Path | IO[str] | IO[bytes],
        *,
        customer: str = "customer_id",
        time: str = "occurred_at",
        amount: str = "amount",
        kind: str | None = None,
        quantity: str | None = None,
        currency: str | None = None,
        delimiter: str = ",",
        encoding: str = "utf-8",
    ) -> TransactionLog:
        """Read a CSV file (a path, or a text or binary file object) with a header row; columns
        are named by the keyword arguments.

        >>> import io
        >>> log = TransactionLog.from_csv(io.StringIO("customer_id,occurred_at,amount\\na,2024-01-05,9.9\\n"))
        >>> log.row_customer_ids.tolist(), log.amount.tolist()
        (['a'], [9.9])

        For validated import into a repository (reject report, idempotency)
        use :mod:`crmcore.ingest`; this reads analytics input straight into columns.
        """
        if callable(getattr(path, "read", None)):  # a file object: text, or bytes to decode
            name = Path(str(getattr(path, "name", "") or "<file object>")).name
            data = path.read()  # type: ignore[union-attr]
            if isinstance(data, bytes | bytearray):
                try:
                    data = bytes(data).decode(encoding)
                except UnicodeDecodeError as e:
                    raise ValidationError(
                        f"{name}: not {encoding} text ({e.reason} at byte {e.start})"
                    ) from e
            if not isinstance(data, str):
                raise ValidationError(f"{name}: the file object gave {type(data).__name__}")
            header, rows = _csv_rows(name, io.StringIO(data, newline=""), delimiter)
        else:
            p = Path(path)  # type: ignore[arg-type]
            name = p.name
            try:
                with p.open(newline="", encoding=encoding) as f:
                    header, rows = _csv_rows(name, f, delimiter)
            except UnicodeDecodeError as e:
                raise ValidationError(
                    f"{p.name}: not {encoding} text ({e.reason} at byte {e.start})"
                ) from e
            except OSError as e:
                raise ValidationError(f"{p.name}: cannot read the file: {e.strerror}") from e
        wanted = [c for c in (customer, time, amount, kind, quantity) if c is not None]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise ValidationError(f"{name}: missing column(s) {missing}; found {header}")
        bad = [i + 2 for i, r in enumerate(rows) if len(r) != len(header)]
        if bad:
            raise ValidationError(
                f"{name}: line {bad[0]} has a different number of fields than the header "
                f"({len(bad)} such line(s))"
            )
        cols = list(zip(*rows, strict=True)) if rows else [() for _ in header]
        col = {name: np.array(cols[i], dtype=str) for i, name in enumerate(header)}
        return cls.from_arrays(
            customer_ids=col[customer],
            timestamps=col[time],
            amounts=_text_numbers(col[amount], name="amount"),
            kinds=col[kind] if kind else None,
            quantities=_text_numbers(col[quantity], name="quantity") if quantity else None,
            currency=currency,
        )

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        customer: str = "customer_id",
        time: str = "occurred_at",
        amount: str = "amount",
        kind: str | None = None,
        quantity: str | None = None,
        currency: str | None = None,
    ) -> TransactionLog:
        """Build from a pandas or polars DataFrame (a LazyFrame is collected), a pyarrow Table
        or a mapping of column name to array, reading the columns by name.

        The names are those of :meth:`to_columns` (so ``from_frame(log.to_pandas())`` gives
        the log back): ``customer_id``, ``occurred_at``, ``amount``, and, where the frame has
        them, ``kind``, ``quantity``, ``ids``, ``external_refs``, ``products``,
        ``categories`` and ``channels``; ``customer``, ``time``, ``amount``, ``kind`` and
        ``quantity`` name other columns (a name given must exist). A pandas index level
        counts as a column. ``currency`` defaults to the frame's own (``DataFrame.attrs`` or
        the Arrow schema metadata, as ``to_pandas`` and ``to_arrow`` write it). Aware times
        are converted to UTC; naive ones are taken as UTC.

        >>> import pandas as pd
        >>> df = pd.DataFrame({"customer_id": ["a", "b"], "amount": [5.0, 2.5],
        ...                    "occurred_at": pd.to_datetime(["2024-01-01", "2024-01-02"])})
        >>> log = TransactionLog.from_frame(df.set_index("customer_id"), currency="EUR")
        >>> log.to_pandas().columns.tolist()
        ['customer_id', 'occurred_at', 'amount', 'kind']
        >>> TransactionLog.from_frame(log.to_pandas()).currency
        'EUR'
        """
        cols = FrameColumns.of(frame)
        optional: dict[str, Any] = {
            name: cols.raw(name) for name in _OPTIONAL[1:] if cols.has(name)
        }
        kind_col = kind if kind is not None else "kind" if cols.has("kind") else None
        qty_col = quantity if quantity is not None else "quantity" if cols.has("quantity") else None
        return cls.from_arrays(
            customer_ids=cols.raw(customer),  # as given: categories, nulls (crmcore.labels)
            timestamps=cols.values(time),
            amounts=cols.values(amount),
            kinds=cols.values(kind_col) if kind_col else None,
            quantities=cols.values(qty_col) if qty_col else None,
            currency=currency if currency is not None else cols.metadata("currency"),
            **optional,
        )

    # -- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.customer)

    @property
    def n_customers(self) -> int:
        """Number of distinct customers the log can refer to."""
        return len(self.customer_ids)

    @property
    def row_customer_ids(self) -> npt.NDArray[Any]:
        """The customer id of every row."""
        return self.customer_ids[self.customer]

    def signed_amount(self) -> FloatArray:
        """Amounts with the kind's sign (refunds, withdrawals, transfers out negative).

        >>> log = TransactionLog.from_arrays(customer_ids=["a", "a"], timestamps=["2020-01-01"] * 2,
        ...                                  amounts=[5.0, 2.0], kinds=["deposit", "withdrawal"])
        >>> log.signed_amount().tolist()
        [5.0, -2.0]
        """
        signs = np.array([k.sign for k in TransactionKind], dtype=np.float64)
        return self.amount * signs[self.kind]

    def sorted(self) -> TransactionLog:
        """Rows in the total order of transactions: customer, then time, then transaction id
        (by code point; without ``ids`` ties keep their row order).

        >>> log = TransactionLog.from_arrays(customer_ids=["a", "a"], timestamps=["2020-01-01"] * 2,
        ...                                  amounts=[5.0, 2.0], ids=["t-9", "t-10"])
        >>> log.sorted().ids.tolist()
        ['t-10', 't-9']
        """
        order = total_order(self.customer, self.time, self.ids)
        return self if order is None else self.take(order)

    def take(self, rows: npt.NDArray[Any]) -> TransactionLog:
        """A log with the given rows (an index array or a boolean mask); ids are kept."""
        optional: dict[str, Any] = {
            name: None if getattr(self, name) is None else getattr(self, name)[rows]
            for name in _OPTIONAL
        }
        return attrs.evolve(
            self,
            customer=self.customer[rows],
            time=self.time[rows],
            amount=self.amount[rows],
            kind=self.kind[rows],
            **optional,
        )

    def select(
        self,
        *,
        customer_ids: Sequence[Any] | None = None,
        start: datetime | np.datetime64 | str | None = None,
        end: datetime | np.datetime64 | str | None = None,
        kinds: Sequence[TransactionKind | str] | None = None,
    ) -> TransactionLog:
        """Rows of some customers, in ``[start, end)``, of some kinds.

        >>> log = TransactionLog.from_arrays(customer_ids=["a", "b"], timestamps=["2020-01-01", "2021-01-01"],
        ...                                  amounts=[1.0, 2.0])
        >>> len(log.select(start="2020-06-01")), len(log.select(customer_ids=["a"]))
        (1, 1)
        """
        mask = np.ones(len(self), dtype=bool)
        if customer_ids is not None:
            wanted = np.isin(self.customer_ids, np.asarray(customer_ids))
            mask &= wanted[self.customer]
        if start is not None:
            mask &= self.time >= as_instant(start, name="start")
        if end is not None:
            mask &= self.time < as_instant(end, name="end")
        if kinds is not None:
            codes = [TransactionKind(k).code for k in kinds]
            mask &= np.isin(self.kind, codes)
        return self.take(mask)

    def to_columns(self) -> dict[str, npt.NDArray[Any]]:
        """The columns as a dict of arrays (ids per row), ready for ``pandas.DataFrame(...)``,
        named as :meth:`from_frame` reads them (``currency`` is the log's scalar field).

        >>> log = TransactionLog.from_arrays(customer_ids=["a"], timestamps=["2024-01-01"],
        ...                                  amounts=[5.0], currency="EUR")
        >>> list(log.to_columns())
        ['customer_id', 'occurred_at', 'amount', 'kind']
        >>> TransactionLog.from_frame(log.to_columns(), currency=log.currency).amount.tolist()
        [5.0]
        """
        out: dict[str, npt.NDArray[Any]] = {
            "customer_id": self.row_customer_ids,
            "occurred_at": self.time,
            "amount": self.amount,
            "kind": np.array([k.value for k in TransactionKind], dtype=object)[self.kind],
        }
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def _columns(self) -> Columns:
        return self.to_columns()
