"""DataFrames out, written once: ``to_pandas()``, ``to_polars()``, ``to_arrow()`` and
``_repr_html_`` of every tabular result.

A result class inherits :class:`Tabular` and declares its columns once, in
``_columns()``: an ordered mapping of column name to a 1-D numpy array, every
array of the same length (one row per customer, stage, month, parameter...).
Ids and labels are given as the caller gave them (decoded from codes), never as
codes. Everything else is generic and lives here; so does the one rule that
turns a numpy column into a typed frame column:

==============================  ==========================  ======================  ========================
numpy column                    pandas                      polars                  Arrow
==============================  ==========================  ======================  ========================
floats                          ``float64`` (NaN)           ``Float64`` (null)      ``double`` (null)
integers                        ``int64``                   ``Int64``               ``int64``
booleans                        ``bool``                    ``Boolean``             ``bool``
instants (``datetime64[us]``)   ``datetime64[us, UTC]``     ``Datetime(us, UTC)``   ``timestamp[us, UTC]``
calendar days, months           ``datetime64[s]``           ``Date``                ``date32``
text (``str`` or object)        ``str`` (pandas' default)   ``String``              ``string``
integer ids (object of int)     ``int64``                   ``Int64``               ``int64``
nullable integers, flags [#]_  ``Int64``, ``boolean``      ``Int64``, ``Boolean``  ``int64``, ``bool``
==============================  ==========================  ======================  ========================

.. [#] a masked array (``np.ma.masked_array``), or object labels with None: a null
   where masked or None.

A float NaN (a documented "undefined" value, or a ``nan_policy="propagate"``
row) is pandas' missing value and a null in polars and Arrow; ``NaT`` and a
``None`` in a text column are missing everywhere. Instants keep crmcore's
microseconds (the years 1-9999 that crmcore accepts do not fit nanoseconds).
The scalar fields of the result (``as_of``, ``currency``, ``time_unit``,
``confidence``...) go to ``DataFrame.attrs`` in pandas and to the schema
metadata (as text) in Arrow, and head the HTML table.

Each library is imported when its method is called; a missing one raises
:class:`~crmcore.errors.MissingDependencyError` naming the extra to install
(``pandas``, ``polars``, ``arrow``). ``_repr_html_`` (how Jupyter shows a
result) needs none of them: a compact, escaped table of the first
:data:`HTML_ROWS` rows with a note of how many more there are.

>>> import attrs
>>> @attrs.frozen
... class Scores(Tabular):
...     customer_ids: np.ndarray
...     score: np.ndarray
...     def _columns(self):
...         return {"customer_id": self.customer_ids, "score": self.score}
>>> s = Scores(np.array(["a", "b"], dtype=object), np.array([0.5, np.nan]))
>>> s.to_pandas()
  customer_id  score
0           a    0.5
1           b    NaN
>>> s.to_polars()["score"].null_count(), s.to_arrow().column_names
(1, ['customer_id', 'score'])
>>> print(s._repr_html_()[:60])
<div class="crmcore-table"><p><b>Scores</b>: 2 rows</p><tabl
"""

from __future__ import annotations

import datetime as _dt
import html
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.errors import require

if TYPE_CHECKING:  # the edge libraries are optional extras
    import pandas as pd
    import polars as pl
    import pyarrow as pa

__all__ = [
    "HTML_COLUMNS",
    "HTML_ROWS",
    "Columns",
    "Tabular",
    "decode",
    "flat",
    "frame_columns",
    "long_form",
    "texts",
    "wide",
]

HTML_ROWS = 20
"""Rows shown by ``_repr_html_`` (a note says how many more there are)."""
HTML_COLUMNS = 30
"""Columns shown by ``_repr_html_`` (a note says how many more there are)."""

Columns = dict[str, npt.NDArray[Any]]
"""What ``_columns()`` returns: column name -> 1-D numpy array, in order."""

Kind = Literal["float", "int", "bool", "instant", "date", "text"]

_US = np.dtype("datetime64[us]")
_DAY = np.dtype("datetime64[D]")
_CALENDAR = frozenset({"Y", "M", "W", "D"})


@attrs.frozen
class _Column:
    name: str
    kind: Kind
    values: npt.NDArray[Any]
    missing: npt.NDArray[np.bool_] | None = None  # integers and flags: which rows are null


def _kind(
    name: str, values: npt.NDArray[Any], owner: str
) -> tuple[Kind, npt.NDArray[Any], npt.NDArray[np.bool_] | None]:
    """The logical kind of a numpy column, its values in the kind's numpy form and, for
    integers and flags, which rows are missing (None: none)."""
    k = values.dtype.kind
    if k == "f":
        return "float", values.astype(np.float64, copy=False), None
    if k == "b":
        return "bool", values, None
    if k in "iu":
        if values.dtype == np.uint64 and len(values) and values.max() > np.iinfo(np.int64).max:
            raise TypeError(f"{owner}: column {name!r} holds integers beyond int64")
        return "int", values.astype(np.int64, copy=False), None
    if k == "M":
        unit = np.datetime_data(values.dtype)[0]
        if unit in _CALENDAR:
            return "date", values.astype(_DAY), None
        return "instant", values.astype(_US), None
    if k in "US":
        return "text", values.astype(str, copy=False) if k == "S" else values, None
    if k == "O":
        return _object_kind(values)
    raise TypeError(f"{owner}: column {name!r} has dtype {values.dtype}, not a table column")


def _object_kind(
    values: npt.NDArray[Any],
) -> tuple[Kind, npt.NDArray[Any], npt.NDArray[np.bool_] | None]:
    """Labels in an object array: integers stay integers, text stays text (None missing)."""
    types = set(map(type, values))  # one pass in C
    present = types - {type(None)}
    missing = None
    if present != types:
        missing = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    if present and present <= {bool, np.bool_}:
        filled = values if missing is None else np.where(missing, False, values)
        return "bool", filled.astype(bool), missing
    if present and all(issubclass(t, int | np.integer) for t in present):
        try:
            filled = values if missing is None else np.where(missing, 0, values)
            return "int", filled.astype(np.int64), missing
        except OverflowError:  # beyond int64: their text
            pass
    if present <= {str}:
        return "text", values, None
    # dates, bytes, a mixture: their text (a label is shown as it prints)
    shown = np.array([None if v is None else _text(v) for v in values], dtype=object)
    return "text", shown, None


def _text(v: object) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    if isinstance(v, _dt.date):
        return v.isoformat()
    return str(v)


def _masked(
    kind: Kind, values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]:
    """A masked column's values with the kind's own missing value, or a mask to keep."""
    if kind in ("int", "bool"):
        return values, mask
    if kind == "float":
        return np.where(mask, np.nan, values), None
    if kind in ("instant", "date"):
        return np.where(mask, np.datetime64("NaT"), values).astype(values.dtype), None
    out = values.astype(object)
    out[mask] = None
    return out, None


def frame_columns(result: Tabular) -> list[_Column]:
    """The checked columns of a result: names text, 1-D arrays of one length.

    A numpy masked array declares a column that may have missing values, of any type (an
    integer column with nulls: ``np.ma.masked_array([3, 0], mask=[False, True])``);
    integers and flags then get pandas' nullable types even where none is missing.

    >>> class Two(Tabular):
    ...     def _columns(self):
    ...         return {"a": np.arange(2), "b": np.arange(3)}
    >>> frame_columns(Two())
    Traceback (most recent call last):
    TypeError: Two: column 'b' has 3 rows, column 'a' 2
    """
    owner = type(result).__name__
    out: list[_Column] = []
    for name, raw in result._columns().items():
        if not isinstance(name, str):
            raise TypeError(f"{owner}: column names must be text: {name!r}")
        mask = np.ma.getmaskarray(raw) if isinstance(raw, np.ma.MaskedArray) else None
        values = np.asarray(np.ma.getdata(raw) if mask is not None else raw)
        if values.ndim != 1:
            raise TypeError(f"{owner}: column {name!r} must be 1-D: shape {values.shape}")
        if out and len(values) != len(out[0].values):
            raise TypeError(
                f"{owner}: column {name!r} has {len(values)} rows, "
                f"column {out[0].name!r} {len(out[0].values)}"
            )
        kind, normal, missing = _kind(name, values, owner)
        if mask is not None:  # declared nullable: a nullable type even without a null
            normal, missing = _masked(kind, normal, mask if missing is None else mask | missing)
        out.append(_Column(name, kind, normal, missing))
    return out


def _meta(result: object) -> dict[str, Any]:
    """The scalar fields of an attrs result (text, numbers, flags, instants), None left out."""
    if not attrs.has(type(result)):
        return {}
    out: dict[str, Any] = {}
    kind: Any = type(result)
    for f in attrs.fields(kind):
        if f.name.startswith("_"):
            continue
        v = getattr(result, f.name)
        if isinstance(v, np.datetime64):
            out[f.name] = v
        elif isinstance(v, np.generic) and v.ndim == 0 and v.dtype.kind in "biuf":
            out[f.name] = v.item()
        elif isinstance(v, str | bool | int | float | _dt.date) and not isinstance(v, type):
            out[f.name] = v
    return out


def _instant(v: object) -> bool:
    return isinstance(v, np.datetime64) and np.datetime_data(v.dtype)[0] not in _CALENDAR


def _meta_text(v: object) -> str:
    if isinstance(v, np.datetime64):
        return _cell_instant(v) if np.datetime_data(v.dtype)[0] not in _CALENDAR else str(v)
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


class Tabular:
    """The DataFrame methods of a tabular result, from the columns its ``_columns()`` declares.

    See the module docstring for the column types, missing values and metadata.
    """

    __slots__ = ()

    def _columns(self) -> Mapping[str, npt.NDArray[Any]]:
        """Column name -> 1-D numpy array, in order; ids and labels as given, not codes."""
        raise NotImplementedError

    def to_pandas(self) -> pd.DataFrame:
        """The result as a pandas DataFrame (needs the ``pandas`` extra).

        Columns are named and typed as documented in :mod:`crmcore._frames`; the
        result's scalar fields (``as_of``, ``currency``...) are in ``DataFrame.attrs``.
        """
        pandas: Any = require("pandas", "pandas")
        string = "str" if int(pandas.__version__.split(".")[0]) >= 3 else object
        data: dict[str, Any] = {}
        for c in frame_columns(self):
            if c.kind == "instant":
                data[c.name] = pandas.Series(c.values, copy=False).dt.tz_localize("UTC")
            elif c.kind == "date":
                data[c.name] = pandas.Series(c.values.astype("datetime64[s]"), copy=False)
            elif c.kind == "text":
                data[c.name] = pandas.Series(c.values, dtype=string)
            elif c.missing is not None:  # integers or flags with nulls: nullable dtypes
                cls = pandas.arrays.IntegerArray if c.kind == "int" else pandas.arrays.BooleanArray
                data[c.name] = pandas.Series(cls(c.values, c.missing))
            else:
                data[c.name] = pandas.Series(c.values, copy=False)
        df = pandas.DataFrame(data)
        for k, v in _meta(self).items():  # instants as UTC Timestamps, like the columns
            if isinstance(v, np.datetime64):  # calendar days as datetime.date
                v = pandas.Timestamp(v).tz_localize("UTC") if _instant(v) else v.item()
            df.attrs[k] = v
        return df

    def to_polars(self) -> pl.DataFrame:
        """The result as a polars DataFrame (needs the ``polars`` extra).

        Columns are named and typed as documented in :mod:`crmcore._frames`; a float
        NaN is a null.
        """
        polars: Any = require("polars", "polars")
        series = []
        for c in frame_columns(self):
            if c.kind == "float":
                series.append(polars.Series(c.name, c.values, nan_to_null=True))
            elif c.kind == "instant":
                s = polars.Series(c.name, c.values).dt.replace_time_zone("UTC")
                series.append(s)
            elif c.kind == "date":
                series.append(polars.Series(c.name, c.values, dtype=polars.Date))
            elif c.kind == "text":
                text = c.values.tolist() if c.values.dtype == object else c.values
                series.append(polars.Series(c.name, text, dtype=polars.String))
            else:
                dtype = polars.Int64 if c.kind == "int" else polars.Boolean
                values = c.values if c.missing is None else _with_none(c)
                series.append(polars.Series(c.name, values, dtype=dtype))
        frame: pl.DataFrame = polars.DataFrame(series)
        return frame

    def to_arrow(self) -> pa.Table:
        """The result as a pyarrow Table (needs the ``arrow`` extra).

        Columns are named and typed as documented in :mod:`crmcore._frames`; the
        result's scalar fields are in the schema metadata, as text.
        """
        pyarrow: Any = require("pyarrow", "arrow")
        types = {
            "float": pyarrow.float64(),
            "int": pyarrow.int64(),
            "bool": pyarrow.bool_(),
            "instant": pyarrow.timestamp("us", tz="UTC"),
            "date": pyarrow.date32(),
            "text": pyarrow.string(),
        }
        cols = frame_columns(self)
        arrays = [
            pyarrow.array(c.values, type=types[c.kind], from_pandas=True, mask=c.missing)
            for c in cols
        ]
        schema = pyarrow.schema(
            [pyarrow.field(c.name, types[c.kind]) for c in cols],
            metadata={k: _meta_text(v) for k, v in _meta(self).items()},
        )
        return pyarrow.Table.from_arrays(arrays, schema=schema)

    def _repr_html_(self) -> str:
        """A compact HTML table for Jupyter: escaped, the first rows, no dependency."""
        cols = frame_columns(self)
        n = len(cols[0].values) if cols else 0
        shown = cols[:HTML_COLUMNS]
        head = f"<b>{html.escape(type(self).__name__)}</b>: {n:,} row{'s' if n != 1 else ''}"
        meta = "; ".join(
            f"{html.escape(k)} {html.escape(_short(_meta_text(v)))}" for k, v in _meta(self).items()
        )
        parts = [f'<div class="crmcore-table"><p>{head}' + (f" ({meta})" if meta else "") + "</p>"]
        parts.append('<table border="1" class="dataframe"><thead><tr>')
        parts.extend(f"<th>{html.escape(c.name)}</th>" for c in shown)
        parts.append("</tr></thead><tbody>")
        cells = [
            [
                _cell(c.kind, v)
                for v in (c.values if c.missing is None else _with_none(c))[:HTML_ROWS]
            ]
            for c in shown
        ]
        parts.extend(
            "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
            for row in zip(*cells, strict=True)
        )
        parts.append("</tbody></table>")
        notes = []
        if n > HTML_ROWS:
            notes.append(f"... {n - HTML_ROWS:,} more rows")
        if len(cols) > HTML_COLUMNS:
            more = ", ".join(c.name for c in cols[HTML_COLUMNS:])
            notes.append(f"... {len(cols) - HTML_COLUMNS} more columns: {_short(more)}")
        parts.extend(f"<p>{html.escape(note)}</p>" for note in notes)
        parts.append("</div>")
        return "".join(parts)


def _with_none(c: _Column) -> list[Any]:
    """A nullable column's values as a list, None where missing."""
    assert c.missing is not None
    return [None if m else v for v, m in zip(c.values.tolist(), c.missing.tolist(), strict=True)]


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cell_instant(v: np.datetime64) -> str:
    if np.isnat(v):
        return ""
    return str(np.datetime_as_string(v.astype(_US), unit="auto")).replace("T", " ")


def _cell(kind: Kind, v: Any) -> str:
    """One value as the HTML table shows it (missing: empty)."""
    if kind == "float":
        return "NaN" if math.isnan(v) else f"{v:.6g}"
    if kind == "instant":
        return _cell_instant(v)
    if kind == "date":
        return "" if np.isnat(v) else str(v)
    if v is None:
        return ""
    return _short(str(v.item() if isinstance(v, np.generic) else v))


# -- helpers for the ``_columns()`` of result classes -----------------------------------------


def texts(values: Any) -> npt.NDArray[Any]:
    """A tuple of labels (stage names, reps) as a 1-D object column.

    >>> texts(("lead", "won")).tolist(), texts(()).shape
    (['lead', 'won'], (0,))
    """
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def decode(labels: Any, codes: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``labels[codes]`` as an object column; a negative code (no label) is None.

    >>> decode(("a", "b"), np.array([1, -1, 0])).tolist()
    ['b', None, 'a']
    """
    lab = labels if isinstance(labels, np.ndarray) else texts(labels)
    codes = np.asarray(codes)
    out = np.empty(len(codes), dtype=object)
    ok = codes >= 0
    out[ok] = lab[codes[ok]]
    out[~ok] = None
    return out


def flat(*arrays: npt.ArrayLike) -> list[npt.NDArray[Any]]:
    """Arrays broadcast together and flattened: the rows of a result broadcast from its inputs.

    >>> [a.tolist() for a in flat(2.0, np.array([1.0, 3.0]))]
    [[2.0, 2.0], [1.0, 3.0]]
    """
    return [np.ravel(a) for a in np.broadcast_arrays(*(np.asarray(a) for a in arrays))]


def wide(prefix: str, names: Any, matrix: npt.NDArray[Any]) -> Columns:
    """One column per column of ``matrix``, named ``prefix`` + name.

    >>> list(wide("share_", (1, 2), np.zeros((3, 2))))
    ['share_1', 'share_2']
    """
    return {f"{prefix}{name}": matrix[:, j] for j, name in enumerate(names)}


def long_form(
    row: tuple[str, Any], column: tuple[str, Any], **matrices: npt.NDArray[Any]
) -> Columns:
    """A matrix (rows x columns) in long form: one row per cell, row label then column label.

    >>> c = long_form(("owner", ("ann", "bob")), ("product", ("x",)), won=np.array([[1], [2]]))
    >>> {k: v.tolist() for k, v in c.items()}
    {'owner': ['ann', 'bob'], 'product': ['x', 'x'], 'won': [1, 2]}
    """
    rows = row[1] if isinstance(row[1], np.ndarray) else texts(row[1])
    cols = column[1] if isinstance(column[1], np.ndarray) else texts(column[1])
    out: Columns = {row[0]: np.repeat(rows, len(cols)), column[0]: np.tile(cols, len(rows))}
    for name, m in matrices.items():
        out[name] = np.asarray(m).reshape(len(rows) * len(cols))
    return out
