"""Column-wise parsing of timestamps: a vectorised path for canonical ISO strings, the reference rule for the rest.

>>> micros, errors = parse_times(["2024-01-02T03:04:05Z", "2024-01-02", "soon"], assume_utc=True)
>>> micros[:2].astype("datetime64[us]").astype(str).tolist(), errors
(['2024-01-02T03:04:05.000000', '2024-01-02T00:00:00.000000'], [(2, "must be an ISO 8601 timestamp: 'soon'")])
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from crmcore.errors import ValidationError
from crmcore.ingest._cells import (
    Errors,
    _apply,
    _missing_rows,
    _str_rows,
    _text_only,
    show,
)

__all__ = ["iso_matrix", "parse_times"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_MIN_MICROS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _US
_MAX_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) // _US


def _char_matrix(strs: Sequence[str], width: int) -> npt.NDArray[np.uint32]:
    """Code points as an ``(n, width)`` matrix, zero-padded (a numpy ``U`` array viewed as uint32)."""
    arr = np.array(strs, dtype=f"U{max(width, 1)}")
    return arr.view(np.uint32).reshape(len(strs), max(width, 1))


def _days_from_civil(
    y: npt.NDArray[np.int64], m: npt.NDArray[np.int64], d: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm, years >= 0)."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days: npt.NDArray[np.int64] = era * 146097 + doe - 719468
    return days


_DIM = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _iso_fast(
    strs: list[str],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """:func:`iso_matrix` of strings."""
    n = len(strs)
    lengths = np.fromiter(map(len, strs), dtype=np.int64, count=n)
    raw = _char_matrix(strs, 25)[:, :25] if n else np.zeros((0, 25), np.uint32)
    if raw.shape[1] < 25:
        raw = np.pad(raw, ((0, 0), (0, 25 - raw.shape[1])))
    return iso_matrix(raw, lengths)


def iso_matrix(
    m: npt.NDArray[np.unsignedinteger[Any]], lengths: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Vectorised parse of ``YYYY-MM-DD[(T| )hh:mm:ss[Z|±hh:mm]]``.

    ``m`` is ``(n, 25)``: the first 25 code units of each cell (code points, or UTF-8
    bytes: the shape is ASCII), anything past a cell's length is never read for a
    verdict. Returns micros, ``canonical`` (the cell has that shape: its verdict is
    final) and ``valid`` (a real instant in years 1-9999 once in UTC).
    """
    v = m.view(np.int32) - 48 if m.dtype == np.uint32 else m.astype(np.int32) - 48
    dig = (m - m.dtype.type(48)) <= 9  # wraps around below '0'

    def num(*cols: int) -> npt.NDArray[np.int64]:
        out = v[:, cols[0]].astype(np.int64)
        for c in cols[1:]:
            out = out * 10 + v[:, c]
        return out

    date_ok = dig[:, [0, 1, 2, 3, 5, 6, 8, 9]].all(axis=1) & (m[:, 4] == 45) & (m[:, 7] == 45)
    time_ok = (
        ((m[:, 10] == 84) | (m[:, 10] == 32))
        & dig[:, [11, 12, 14, 15, 17, 18]].all(axis=1)
        & (m[:, 13] == 58)
        & (m[:, 16] == 58)
    )
    zulu = m[:, 19] == 90
    off_ok = (
        ((m[:, 19] == 43) | (m[:, 19] == 45))
        & dig[:, [20, 21, 23, 24]].all(axis=1)
        & (m[:, 22] == 58)
    )
    canonical = date_ok & (
        (lengths == 10)
        | (time_ok & ((lengths == 19) | ((lengths == 20) & zulu) | ((lengths == 25) & off_ok)))
    )
    has_time = lengths >= 19
    year, month, day = num(0, 1, 2, 3), num(5, 6), num(8, 9)
    hour = np.where(has_time, num(11, 12), 0)
    minute = np.where(has_time, num(14, 15), 0)
    second = np.where(has_time, num(17, 18), 0)
    has_off = lengths == 25
    off_h = np.where(has_off, num(20, 21), 0)
    off_m = np.where(has_off, num(23, 24), 0)
    sign = np.where(m[:, 19] == 45, -1, 1)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_c = np.clip(month, 0, 12)
    dim = _DIM[month_c] + ((month_c == 2) & leap)
    valid = (
        canonical
        & (year >= 1)
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= dim)
        & (hour < 24)
        & (minute < 60)
        & (second < 60)
        & (off_h < 24)
        & (off_m < 60)
    )
    days = _days_from_civil(year, month_c, day)
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - sign * (off_h * 3600 + off_m * 60)
    micros = seconds * 1_000_000
    valid &= (micros >= _MIN_MICROS) & (micros <= _MAX_MICROS)
    return micros, canonical, valid


def _time_ref(value: object, *, assume_utc: bool, time_format: str | None) -> int:
    """The reference rule for one timestamp cell: microseconds since the epoch, UTC."""
    if isinstance(value, str):
        try:
            if time_format is None:
                dt = datetime.fromisoformat(value)
            else:
                dt = datetime.strptime(value, time_format)
        except ValueError:
            expected = (
                "an ISO 8601 timestamp" if time_format is None else f"a {time_format!r} timestamp"
            )
            raise ValidationError(f"must be {expected}: {show(value)}") from None
    elif isinstance(value, datetime):
        dt = value
    else:
        raise ValidationError(f"must be a timestamp string or a datetime: {show(value)}")
    if dt.utcoffset() is None:
        if not assume_utc:
            raise ValidationError(
                f"must have a UTC offset (naive timestamps are rejected with assume_utc=False): {show(value)}"
            )
        dt = dt.replace(tzinfo=UTC)
    try:
        dt = dt.astimezone(UTC)
    except OverflowError:
        raise ValidationError(
            f"is out of the range of years 1-9999 in UTC: {show(value)}"
        ) from None
    return (dt - _EPOCH) // _US


def parse_times(
    cells: Sequence[object], *, assume_utc: bool = True, time_format: str | None = None
) -> tuple[npt.NDArray[np.int64], Errors]:
    """Timestamps as int64 microseconds since the epoch (UTC).

    Strings are ISO 8601 as :meth:`datetime.fromisoformat` reads them (or
    parsed with ``time_format`` for :meth:`datetime.strptime`); an offset is
    converted to UTC, a missing offset means UTC unless ``assume_utc=False``.
    ``datetime`` values follow the same rule.

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
        micros, canonical, valid = _iso_fast(strs)
        if not assume_utc:  # naive canonical strings take the slow path to be rejected
            lengths = np.fromiter(map(len, strs), dtype=np.int64, count=len(strs))
            canonical &= (lengths == 20) | (lengths == 25)
        fast = canonical & valid
        out[str_rows[fast]] = micros[fast]
        rest = str_rows[~fast]
        slow = rest if text else np.sort(np.concatenate([np.setdiff1d(rows, str_rows), rest]))
    for i, r in _apply(
        cells, slow, lambda v: _time_ref(v, assume_utc=assume_utc, time_format=time_format), errors
    ):
        out[i] = r
    errors.sort()
    return out, errors
