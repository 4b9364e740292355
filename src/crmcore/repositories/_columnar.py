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

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from crmcore.errors import ValidationError
from crmcore.model import TransactionKind
from crmcore.model.money import _to_currency
from crmcore.repositories._codec import KEY_LENGTH, MAX_E6
from crmcore.tables import TransactionLog

__all__ = ["LogRows", "build_log", "log_rows"]

LogRows = dict[str, list[Any]]
"""Per-column Python lists, ready for an ``executemany``."""

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
    return out


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
        if not isinstance(v, str) or not v or v != v.strip() or len(v) > 128:
            raise ValidationError(
                f"'ids' must be non-empty string ids of at most 128 characters: {v!r} at row {i}"
            )
    if len(set(ids)) != n:
        seen: set[str] = set()
        for v in ids:
            if v in seen:
                raise ValidationError(f"'ids' must be unique within the log: {v!r} repeats")
            seen.add(v)
    labels = np.asarray(log.customer_ids)
    label_list = [str(x) for x in labels.tolist()]
    for v in label_list:
        if not v or v != v.strip() or len(v) > 128:
            raise ValidationError(f"'customer_id' must be a valid id: {v!r}")
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
) -> TransactionLog:
    """A TransactionLog from stored columns (customer codes into sorted ``labels``)."""
    return TransactionLog(
        customer=np.asarray(codes, dtype=np.int64),
        time=np.asarray(micros, dtype=np.int64).view("datetime64[us]"),
        amount=np.asarray(e6, dtype=np.int64).astype(np.float64) / 1e6,
        kind=np.asarray(kinds).astype(np.int8),
        customer_ids=np.asarray(list(labels), dtype=str),
        quantity=None if quantity is None else np.asarray(quantity, dtype=np.int64),
        currency=currency,
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
