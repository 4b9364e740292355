"""Timestamp cells of the import: :mod:`crmcore.timestamps`' rule, with the import's per-row errors.

The rule itself (the vectorised canonical shapes and the reference rule) is
:mod:`crmcore.timestamps`; this wrapper adds the import's missing-cell rule
and collects one error per bad row instead of raising at the first.

>>> micros, errors = parse_times(["2024-01-02T03:04:05Z", "20240102", "soon"], assume_utc=True)
>>> micros[:2].astype("datetime64[us]").astype(str).tolist(), errors
(['2024-01-02T03:04:05.000000', '2024-01-02T00:00:00.000000'], [(2, "must be an ISO 8601 timestamp: 'soon'")])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

from crmcore.ingest._cells import Errors, _apply, _missing_rows, _str_rows, _text_only
from crmcore.timestamps import iso_strings, time_ref

__all__ = ["parse_times"]


def parse_times(
    cells: Sequence[object], *, assume_utc: bool = True, time_format: str | None = None
) -> tuple[npt.NDArray[np.int64], Errors]:
    """Timestamps as int64 microseconds since the epoch (UTC).

    Strings are ISO 8601 as :meth:`datetime.fromisoformat` reads them (or
    parsed with ``time_format`` for :meth:`datetime.strptime`); an offset is
    converted to UTC, a missing offset means UTC unless ``assume_utc=False``.
    Other values follow :func:`crmcore.timestamps.time_ref` (aware datetimes,
    dates; naive datetimes, NaT and numbers are errors).

    >>> parse_times(["2024-01-01T08:00:00+08:00"])[0].astype("datetime64[us]").astype(str).tolist()
    ['2024-01-01T00:00:00.000000']
    >>> parse_times(["2024-01-01"], assume_utc=False)[1]
    [(0, "must have a UTC offset (naive timestamps are rejected with assume_utc=False): '2024-01-01'")]
    """
    n = len(cells)
    out = np.zeros(n, dtype=np.int64)
    errors: Errors = []
    text = _text_only(cells)
    missing = _missing_rows(cells, text)
    errors.extend((int(i), "is required") for i in np.flatnonzero(missing))
    rows = np.flatnonzero(~missing)
    slow = rows
    if time_format is None and len(rows):
        str_rows = rows if text else rows[_str_rows(cells, rows)]
        texts = cast("Sequence[str]", cells)
        strs = [texts[i] for i in str_rows] if len(str_rows) < n else list(texts)
        micros, fast = iso_strings(strs, assume_utc=assume_utc)
        out[str_rows[fast]] = micros[fast]
        rest = str_rows[~fast]
        slow = rest if text else np.sort(np.concatenate([np.setdiff1d(rows, str_rows), rest]))
    for i, r in _apply(
        cells, slow, lambda v: time_ref(v, assume_utc=assume_utc, time_format=time_format), errors
    ):
        out[i] = r
    errors.sort()
    return out, errors
