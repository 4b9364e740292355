"""Reading a frame's columns by name: the one input edge of the ``from_frame`` classmethods.

A *frame* is a pandas DataFrame, a polars DataFrame or LazyFrame (collected
here: a LazyFrame is a query, and a table needs its rows), a pyarrow Table or
RecordBatch, or a mapping of column name to a 1-D array (what ``to_columns()``
returns). A pandas index level is a column by its name, so a frame indexed by
``customer_id`` reads like one that holds the column. Timezone-aware time
columns become UTC; a column is handed on as the frame holds it (categories,
nulls), so that :mod:`crmcore.labels` and :mod:`crmcore.timestamps` apply their
one rule to it. Nothing is imported to recognise a frame.

>>> cols = FrameColumns.of({"customer_id": ["a", "b"], "amount": [1.0, 2.0]})
>>> cols.has("amount"), cols.has("kind"), cols.values("amount").tolist()
(True, False, [1.0, 2.0])
>>> cols.values("kind")
Traceback (most recent call last):
crmcore.errors.ValidationError: the frame has no column 'kind'; it has ['customer_id', 'amount']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.errors import ValidationError
from crmcore.timestamps import pandas_utc

__all__ = ["FrameColumns", "collect", "renamed"]


def _module(obj: object) -> str:
    return type(obj).__module__.partition(".")[0]


def collect(frame: Any) -> Any:
    """A polars LazyFrame collected into a DataFrame; anything else as it is.

    >>> collect({"a": [1]})
    {'a': [1]}
    """
    if _module(frame) == "polars" and type(frame).__name__ == "LazyFrame":
        return frame.collect()
    return frame


@attrs.frozen
class FrameColumns:
    """The columns of one frame, read by name (see the module docstring)."""

    frame: Any
    names: tuple[str, ...]
    index_names: tuple[str, ...] = ()

    @classmethod
    def of(cls, frame: Any) -> FrameColumns:
        """Recognise the frame; anything else is refused naming what is accepted."""
        frame = collect(frame)
        kind = _module(frame)
        if kind == "pandas" and hasattr(frame, "columns") and hasattr(frame, "index"):
            index = tuple(str(n) for n in frame.index.names if n is not None)
            return cls(frame, tuple(str(c) for c in frame.columns), index)
        if kind == "polars" and hasattr(frame, "columns"):
            return cls(frame, tuple(frame.columns))
        if kind == "pyarrow" and hasattr(frame, "column_names"):
            return cls(frame, tuple(frame.column_names))
        if isinstance(frame, Mapping) and all(isinstance(k, str) for k in frame):
            return cls(frame, tuple(frame))
        raise ValidationError(
            "'frame' must be a pandas or polars DataFrame, a polars LazyFrame, a pyarrow "
            f"Table or a mapping of column name to array, not {type(frame).__name__}"
        )

    def has(self, name: str) -> bool:
        """Whether the frame has a column (or a pandas index level) of that name."""
        return name in self.names or name in self.index_names

    def raw(self, name: str) -> Any:
        """The column as the frame holds it (a pandas index level as an Index)."""
        if name in self.names:
            kind = _module(self.frame)
            if kind == "pyarrow":
                return self.frame.column(name)
            if kind == "pandas":  # a label that is not text (an integer) by its text
                return self.frame.iloc[:, [str(c) for c in self.frame.columns].index(name)]
            return self.frame[name]
        if name in self.index_names:
            return self.frame.index.get_level_values(name)
        raise ValidationError(
            f"the frame has no column {name!r}; it has {list(self.names + self.index_names)}"
        )

    def values(self, name: str) -> npt.NDArray[Any]:
        """The column as a numpy array; aware times as UTC ``datetime64``, a column of Python
        datetimes parsed by :func:`~crmcore.timestamps.parse_timestamps`."""
        from crmcore.timestamps import parse_timestamps

        c = pandas_utc(self.raw(name))
        if hasattr(c, "to_numpy"):
            try:
                arr = c.to_numpy()
            except TypeError:  # a chunked Arrow column
                arr = c.to_numpy(zero_copy_only=False)
        else:
            arr = np.asarray(c)
        if arr.dtype.kind == "O" and len(arr) and isinstance(arr[0], datetime):
            return parse_timestamps(arr, name=name)
        return np.asarray(arr)

    def metadata(self, key: str) -> str | None:
        """A scalar the frame carries beside its columns (``to_pandas`` puts a result's scalar
        fields in ``DataFrame.attrs``, ``to_arrow`` in the schema metadata), as text."""
        attrs_ = getattr(self.frame, "attrs", None)
        if isinstance(attrs_, Mapping) and attrs_.get(key) is not None:
            return str(attrs_[key])
        schema = getattr(self.frame, "schema", None)
        meta = getattr(schema, "metadata", None) if _module(self.frame) == "pyarrow" else None
        if meta and key.encode() in meta:
            return bytes(meta[key.encode()]).decode()
        return None


def renamed(
    cols: FrameColumns, columns: Mapping[str, str] | None, *, allowed: Iterable[str]
) -> FrameColumns:
    """The frame's columns under the table's names: ``columns`` maps a frame column to a
    table column; every target must be one of ``allowed`` and every source in the frame.

    >>> cols = renamed(FrameColumns.of({"deal": [1]}), {"deal": "opportunity_id"},
    ...                allowed=["opportunity_id"])
    >>> cols.names, cols.values("opportunity_id").tolist()
    (('opportunity_id',), [1])
    >>> renamed(cols, {"x": "y"}, allowed=["opportunity_id"])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'columns' maps 'x' to 'y', not a column of the table: ['opportunity_id']
    """
    if not columns:
        return cols
    if not isinstance(columns, Mapping):
        raise ValidationError(f"'columns' must map frame column -> table column: {columns!r}")
    known = list(allowed)
    for source, target in columns.items():
        if target not in known:
            raise ValidationError(
                f"'columns' maps {source!r} to {target!r}, not a column of the table: {known}"
            )
        if not cols.has(source):
            cols.raw(source)  # raises, naming what the frame has
    rename = dict(columns)
    data = {rename.get(n, n): cols.raw(n) for n in cols.names + cols.index_names}
    return FrameColumns(data, tuple(data))
