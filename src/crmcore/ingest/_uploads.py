"""Import sources beyond paths and mappings: CSV file objects (a web upload) and frames.

A **file object** (text or binary: ``io.StringIO``, ``open(..., "rb")``, a Django
``UploadedFile``, a ``SpooledTemporaryFile``) is copied in chunks to a temporary
file that the import reads like any CSV file (checked whole before anything is
stored, its messages naming the upload's own name), and that is deleted with the
source. A text object is written as UTF-8, whatever ``encoding`` says.

A **frame** (pandas or polars DataFrame, a polars LazyFrame, which is collected,
a pyarrow Table or RecordBatch) is read column by column, one batch of rows at a
time, into the same cells as an iterable of mappings: a missing value (None,
NaN, NaT, a null) is a missing cell; an integer becomes its decimal text (integer
customer ids, as CDNOW's, are ids like ``"1"`` in a CSV file), a float its shortest
decimal text (``repr``) and a time its ISO 8601 text (aware ones with their offset), so that
the money and ``assume_utc`` rules decide exactly as for the same CSV file. Rows are numbered from 1 in frame order
(``frame.index[row - 1]`` is a pandas row's label).

>>> import pandas as pd
>>> from crmcore.repositories import MemoryUnitOfWork
>>> from crmcore.ingest import import_transactions
>>> frame = pd.DataFrame({"customer_id": ["c-1", "c-2"], "occurred_at": ["2024-01-05", "x"],
...                       "amount": [9.9, 5.0]})
>>> r = import_transactions(MemoryUnitOfWork(), frame, currency="EUR")
>>> r.stored, r.errors[0].row, r.errors[0].column
(1, 2, 'occurred_at')

(An upload is read once: a file object is consumed by the import.)
"""

from __future__ import annotations

import datetime as _dt
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from crmcore.errors import ValidationError
from crmcore.ingest._sources import Batch, MappingSource
from crmcore.tables._frame_in import FrameColumns, collect

__all__ = ["FrameSource", "frame_of", "frame_rows", "spool_upload", "upload_name"]

_CHUNK = 1 << 20


def upload_name(source: Any) -> str:
    """The name of a file object for messages: its file name, else ``<upload>``.

    >>> import io
    >>> with open(__file__, "rb") as f:
    ...     upload_name(io.StringIO("")), upload_name(f)
    ('<upload>', '_uploads.py')
    """
    name = getattr(source, "name", None)
    if isinstance(name, str) and name:
        return Path(name).name
    return "<upload>"


def spool_upload(source: Any, encoding: str) -> tuple[Path, Any, str]:
    """Copy a file object to a temporary file: its path, the open temporary file (deleted
    when closed or collected) and the encoding to read it with."""
    spool = tempfile.NamedTemporaryFile(prefix="crmcore-upload-", suffix=".csv")  # noqa: SIM115 (kept open by the source: deleted with it)
    try:
        first = source.read(0)
        if isinstance(first, str):
            while chunk := source.read(_CHUNK):
                spool.write(chunk.encode("utf-8", "surrogatepass"))
            encoding = "utf-8"
        elif isinstance(first, bytes | bytearray | memoryview):
            shutil.copyfileobj(source, spool, _CHUNK)
        else:
            raise ValidationError(
                f"'source' file object must give text or bytes, not {type(first).__name__}"
            )
        spool.flush()
    except OSError as e:
        spool.close()
        raise ValidationError(f"{upload_name(source)}: cannot read the upload: {e}") from e
    except BaseException:
        spool.close()
        raise
    return Path(spool.name), spool, encoding


def frame_of(source: Any) -> Any:
    """The source as a frame (a LazyFrame collected), or None when it is no frame."""
    kind = type(source).__module__.partition(".")[0]
    if kind not in ("pandas", "polars", "pyarrow"):
        return None
    source = collect(source)
    if hasattr(source, "columns") or hasattr(source, "column_names"):
        return source
    return None


def frame_rows(frame: Any) -> int:
    """The number of rows of a frame."""
    return int(frame.num_rows if hasattr(frame, "num_rows") else len(frame))


def _python(values: list[Any]) -> list[object]:
    """Cells as the import reads them: None where missing, times as ISO 8601 text, integers as
    their decimal text, floats as their shortest decimal text (what a CSV file holds: amounts are never read through a
    binary float, so 0.1 + 0.2 is refused for its digits rather than rounded)."""
    out: list[object] = []
    for v in values:
        if isinstance(v, float | np.floating):
            out.append(None if math.isnan(v) else repr(float(v)))
        elif isinstance(v, np.datetime64):
            out.append(None if np.isnat(v) else str(np.datetime_as_string(v)))
        elif isinstance(v, _dt.datetime):
            if str(v) == "NaT":  # pandas.NaT is a datetime
                out.append(None)
            else:
                out.append(v.isoformat())
        elif isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_):
            out.append(str(int(v)))  # an id or a count as a CSV file holds it
        elif isinstance(v, np.generic):
            out.append(v.item())
        elif type(v).__name__ in ("NAType", "NaTType"):
            out.append(None)
        else:
            out.append(v)
    return out


@attrs.define
class FrameSource(MappingSource):
    """A DataFrame or an Arrow table as an import source (see the module docstring)."""

    frame: Any = None
    required: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        kind = type(self.frame).__name__
        self.name = f"<{kind}>"

    def present(self) -> frozenset[str]:
        """The wanted fields that the frame has a column for; a missing required one raises."""
        cols = FrameColumns.of(self.frame)
        missing = [f for f in self.required if not cols.has(self.column_of.get(f, f))]
        if missing:
            raise ValidationError(
                f"{self.name}: missing column(s) {[self.column_of.get(f, f) for f in missing]}; "
                f"found {list(cols.names)}"
            )
        return frozenset(f for f in self.fields if cols.has(self.column_of.get(f, f)))

    def batches(self, batch_size: int, *, raw: bool = False) -> Iterator[Batch]:
        """The rows in batches of cells; a column the frame lacks is a missing cell."""
        cols = FrameColumns.of(self.frame)
        present = self.present()
        n = frame_rows(self.frame)
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            cells: dict[str, list[object]] = {}
            for f in self.fields:
                if f in present:
                    cells[f] = _python(_slice(cols.raw(self.column_of.get(f, f)), start, stop))
                else:
                    cells[f] = [None] * (stop - start)
            yield Batch(dict(cells), np.arange(start + 1, stop + 1, dtype=np.int64), None)


def _slice(column: Any, start: int, stop: int) -> list[Any]:
    """Rows ``[start, stop)`` of a pandas, polars or Arrow column as a Python list."""
    if hasattr(column, "iloc"):  # pandas Series
        return list(column.iloc[start:stop].astype(object).tolist())
    if hasattr(column, "to_pylist"):  # Arrow
        return list(column.slice(start, stop - start).to_pylist())
    if hasattr(column, "to_list"):  # polars Series, pandas Index
        return list(column[start:stop].to_list())
    return list(np.asarray(column)[start:stop].tolist())
