"""Shared plumbing of :mod:`crmcore.dask`: the lazy Dask import, the shuffle by customer,
map_partitions with the meta computed by the partition function itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmcore.errors import ValidationError, require
from crmcore.model.transaction import TransactionKind


def dd() -> Any:
    """``dask.dataframe``, or a MissingDependencyError naming ``crmcore[dask]``."""
    return require("dask.dataframe", "dask")


def check_frame(frame: Any, *columns: str | None) -> None:
    """``frame`` is a Dask DataFrame holding ``columns`` (None entries skipped)."""
    if not isinstance(frame, dd().DataFrame):
        raise ValidationError(f"'frame' must be a dask.dataframe.DataFrame: {type(frame).__name__}")
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        raise ValidationError(f"the frame has no column(s) {missing}; found {list(frame.columns)}")


def by_customer(frame: Any, customer: str) -> Any:
    """Every customer's rows in one partition (a hash shuffle on the customer column)."""
    return frame.shuffle(on=customer)


def on_partitions(
    frame: Any, fn: Callable[..., Any], *, shared: dict[str, Any] | None = None, **options: Any
) -> Any:
    """``fn(partition, **options, **shared)`` on every partition; the meta is ``fn`` of the
    empty frame. ``shared`` values (large: value counts of the whole base) enter the task
    graph once, as one object every partition's task depends on, not a copy per task."""
    shared = shared or {}
    meta = fn(frame._meta, **options, **shared)
    dask: Any = require("dask", "dask")
    once = {k: dask.delayed(v, traverse=False) for k, v in shared.items()}
    return frame.map_partitions(fn, meta=meta, **options, **once)


def kinds_mask(frame: Any, kind: str | None, kinds: tuple[str, ...]) -> Any:
    """The rows of ``kinds`` (None: every row counts, the column being absent)."""
    codes = [TransactionKind(k).code for k in kinds]
    if kind is None:
        if TransactionKind.PURCHASE.code in codes:
            return None
        raise ValidationError("the log holds no transactions of the kinds " + repr(kinds))
    col = frame[kind]
    if col.dtype.kind in "iu":
        return col.isin(codes)
    return col.isin([TransactionKind(k).value for k in kinds])
