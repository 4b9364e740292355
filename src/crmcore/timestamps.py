"""Timestamps: the one rule by which crmcore reads a UTC instant, for columns and for ``as_of``.

Every timestamp column (``TransactionLog``, ``StageHistory``, the import) and
every analytical bound (``as_of``, ``calibration_end``, ``observation_end``,
``start`` / ``end``, ``closed_since``, repository query ranges) goes through
this module, so one value means one instant wherever it is given:

* **strings** are ISO 8601 as :meth:`datetime.fromisoformat` reads them, the
  extended forms (``2024-05-01``, ``2024-05-01T10:00:00``, ``...Z``,
  ``...+02:00``, fractions of a second) and the basic forms (``20240501``,
  ``20240501T100000``, ``...Z``, ``...+0200``), or an explicit ``time_format``
  for :meth:`datetime.strptime` where the entry point offers one; an offset is
  converted to UTC and **a string without an offset is UTC** (the import's
  ``assume_utc=False`` refuses such strings instead);
* **aware** ``datetime`` objects (pandas ``Timestamp`` included) are converted
  to UTC; a ``date`` is its midnight UTC;
* numpy ``datetime64`` values are UTC, and so are tz-naive pandas datetime
  columns; tz-aware pandas columns are converted to UTC;
* refused, with a :class:`~crmcore.errors.ValidationError` naming the field,
  the row and the value: naive ``datetime`` objects (ambiguous), ``NaT``,
  ``None`` and ``NaN``, numbers (epoch integers are ambiguous: convert them
  with ``np.asarray(x, dtype="datetime64[s]")``), and instants outside the
  years 1-9999 in UTC.

Columns take a vectorised path for the canonical shapes (``yyyy-mm-dd``,
``yyyymmdd`` and the same with ``Thh:mm:ss`` / ``Thhmmss`` and ``Z`` or an
offset), which gives exactly what the reference rule gives; every other cell
goes to the reference rule, one cell at a time.

>>> parse_timestamps(["20240501", "2024-05-01T02:00:00+02:00"], name="at").astype(str).tolist()
['2024-05-01T00:00:00.000000', '2024-05-01T00:00:00.000000']
>>> as_instant("19970101", name="as_of")
np.datetime64('1997-01-01T00:00:00.000000')
>>> as_instant(datetime(1997, 1, 1), name="as_of")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'as_of' must be timezone-aware (naive datetimes are ambiguous): datetime.datetime(1997, 1, 1, 0, 0)
"""

from __future__ import annotations

import math
import numbers
import re
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from crmcore._messages import show
from crmcore.errors import ValidationError

__all__ = ["as_date", "as_datetime", "as_instant", "parse_timestamps"]

TimeLike: TypeAlias = datetime | date | np.datetime64 | str
"""What an ``as_of`` / period bound accepts (see the module docstring for the rule)."""

DT = np.dtype("datetime64[us]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
MIN_MICROS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _US
"""Microseconds since the epoch of 0001-01-01T00:00:00Z, the earliest instant accepted."""
MAX_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) // _US
"""Microseconds since the epoch of the last instant of the year 9999 (UTC), the latest accepted."""
_WIDTH = 25  # the longest canonical shape: yyyy-mm-ddThh:mm:ss+hh:mm


# -- the reference rule: one value -----------------------------------------------------------
# a UTC offset after the time of day: hours must be below 24 and minutes below 60 (Python's
# fromisoformat reads ``+0260`` as three hours; ISO 8601 does not allow it)
_OFFSET = re.compile(r"[+-](\d\d):?(\d\d)")


def _bad_offset(text: str) -> bool:
    cut = max(text.find("T"), text.find(" "), text.find("t"))
    if cut < 0:
        return False
    found = _OFFSET.search(text, cut)
    return found is not None and (int(found[1]) > 23 or int(found[2]) > 59)


def time_ref(value: object, *, assume_utc: bool = True, time_format: str | None = None) -> int:
    """The reference rule for one value: microseconds since the epoch, UTC.

    Raises :class:`~crmcore.errors.ValidationError` whose message is the reason
    without the field (``"must be an ISO 8601 timestamp: 'soon'"``); callers
    prefix the field and add the row.

    >>> time_ref("20240501T100000+0200"), time_ref("2024-05-01T08:00:00Z")
    (1714550400000000, 1714550400000000)
    """
    if isinstance(value, str):
        try:
            if time_format is None:
                dt = datetime.fromisoformat(value)
            else:
                dt = datetime.strptime(value, time_format)
        except ValueError:
            dt = None
        if dt is None or (time_format is None and _bad_offset(value)):
            expected = (
                "an ISO 8601 timestamp" if time_format is None else f"a {time_format!r} timestamp"
            )
            raise ValidationError(f"must be {expected}: {show(value)}") from None
        if dt.utcoffset() is None:
            if not assume_utc:
                raise ValidationError(
                    "must have a UTC offset (naive timestamps are rejected with "
                    f"assume_utc=False): {show(value)}"
                )
            dt = dt.replace(tzinfo=UTC)
    elif isinstance(value, datetime):
        if value != value:  # pandas' NaT is a datetime that equals nothing
            raise ValidationError(f"must be a time, not NaT: {show(value)}")
        if value.utcoffset() is None:
            raise ValidationError(
                f"must be timezone-aware (naive datetimes are ambiguous): {show(value)}"
            )
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, np.datetime64):
        return int(_datetime64_micros(np.asarray([value]), name=None)[0])
    elif value is None:
        raise ValidationError("must be a time, not missing: None")
    elif isinstance(value, numbers.Number | np.generic):
        if isinstance(value, float | np.floating) and math.isnan(value):
            raise ValidationError(f"must be a time, not NaN: {show(value)}")
        raise ValidationError(
            f"must be a timestamp, not a number: {show(value)} (convert epoch numbers with "
            "np.asarray(x, dtype='datetime64[s]'))"
        )
    else:
        raise ValidationError(f"must be a timestamp string or a datetime: {show(value)}")
    try:
        utc = dt.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationError(
            f"is out of the range of years 1-9999 in UTC: {show(value)}"
        ) from None
    micros: int = (utc - _EPOCH) // _US
    return micros


# -- the vectorised path: canonical shapes ---------------------------------------------------
def _days_from_civil(
    y: npt.NDArray[np.int64], m: npt.NDArray[np.int64], d: npt.NDArray[np.integer[Any]]
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
# where each position of the extended layout comes from in the basic layout
# (yyyymmddThhmmss±hhmm); the separators (-1) are written in afterwards
_FROM_BASIC = np.array(
    [0, 1, 2, 3, -1, 4, 5, -1, 6, 7, 8, 9, 10, -1, 11, 12, -1, 13, 14, 15, 16, 17, -1, 18, 19]
)
_BASIC_LENGTHS = np.zeros(_WIDTH + 1, dtype=np.int64)
_BASIC_LENGTHS[[8, 15, 16, 20]] = [10, 19, 20, 25]  # basic length -> extended length


def _basic_to_extended(
    m: npt.NDArray[np.uint8], lengths: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Rows in a basic shape (a digit at position 4, length 8, 15, 16 or 20) rewritten in the
    extended layout, separators included, so one check serves both."""
    dig4 = (m[:, 4] - np.uint8(48)) <= 9
    basic = dig4 & (_BASIC_LENGTHS[np.minimum(lengths, _WIDTH)] > 0)
    if not basic.any():
        return m, lengths
    rows = np.flatnonzero(basic)
    b = m[rows][:, np.maximum(_FROM_BASIC, 0)]
    b[:, [4, 7]] = 45  # -
    b[:, [13, 16, 22]] = 58  # :
    m = np.array(m)  # a writable copy
    m[rows] = b
    lengths = lengths.copy()
    lengths[rows] = _BASIC_LENGTHS[lengths[rows]]
    return m, lengths


def iso_matrix(
    m: npt.NDArray[np.uint8],
    lengths: npt.NDArray[np.int64],
    *,
    assume_utc: bool = True,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Vectorised parse of the canonical shapes, extended ``yyyy-mm-dd[(T| )hh:mm:ss[Z|±hh:mm]]``
    and basic ``yyyymmdd[(T| )hhmmss[Z|±hhmm]]``.

    ``m`` is ``(n, 25)`` uint8: the first 25 bytes of each cell (UTF-8 or ASCII: the
    shapes are ASCII), anything past a cell's length is never read for a verdict. Returns micros, ``canonical`` (the cell has one of the shapes: the
    reference rule agrees with the verdict) and ``valid`` (a real instant in years
    1-9999 once in UTC). With ``assume_utc=False`` a shape without offset is not
    canonical (the reference rule refuses it with its message).

    >>> cells = ["2024-05-01T10:00:00Z", "20240501T100000Z", "2024-02-30"]
    >>> m = np.array(cells, dtype="S25").view(np.uint8).reshape(3, 25)
    >>> micros, canonical, valid = iso_matrix(m, np.array([20, 16, 10]))
    >>> micros[:2].tolist(), canonical.tolist(), valid.tolist()
    ([1714557600000000, 1714557600000000], [True, True, True], [True, True, False])
    """
    m, lengths = _basic_to_extended(m, lengths)
    n = len(lengths)
    t = np.ascontiguousarray(m.T)  # one row per position: each test below reads one row
    zero = np.uint8(48)

    def dig(*cols: int) -> npt.NDArray[np.bool_]:
        out: npt.NDArray[np.bool_] = (t[cols[0]] - zero) <= 9  # wraps around below '0'
        for c in cols[1:]:
            out &= (t[c] - zero) <= 9
        return out

    def num(a: int, b: int) -> npt.NDArray[np.int32]:
        out: npt.NDArray[np.int32] = (t[a].astype(np.int32) - 48) * 10 + t[b].astype(np.int32)
        return out - 48

    date_ok = dig(0, 1, 2, 3, 5, 6, 8, 9) & (t[4] == 45) & (t[7] == 45)
    has_time = lengths >= 19
    has_off = lengths == 25
    any_time, any_off = bool(has_time.any()), bool(has_off.any())
    if any_time:
        time_ok = (
            ((t[10] == 84) | (t[10] == 32))
            & dig(11, 12, 14, 15, 17, 18)
            & (t[13] == 58)
            & (t[16] == 58)
        )
        with_offset = (lengths == 20) & (t[19] == 90)
        if any_off:
            with_offset |= (
                has_off & ((t[19] == 43) | (t[19] == 45)) & dig(20, 21, 23, 24) & (t[22] == 58)
            )
        canonical = date_ok & (
            (time_ok & with_offset) | (assume_utc & ((lengths == 10) | (time_ok & (lengths == 19))))
        )
    else:
        canonical = date_ok & (lengths == 10) if assume_utc else np.zeros(n, dtype=bool)
    year = num(0, 1) * 100 + num(2, 3)
    month, day = num(5, 6), num(8, 9)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_c = np.clip(month, 0, 12)
    dim = _DIM[month_c] + ((month_c == 2) & leap)
    valid = canonical & (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= dim)
    seconds = _days_from_civil(year.astype(np.int64), month_c.astype(np.int64), day) * 86400
    if any_time:
        hour = np.where(has_time, num(11, 12), 0)
        minute = np.where(has_time, num(14, 15), 0)
        second = np.where(has_time, num(17, 18), 0)
        valid &= (hour < 24) & (minute < 60) & (second < 60)
        seconds += hour * 3600 + minute * 60 + second
        if any_off:
            off_h = np.where(has_off, num(20, 21), 0)
            off_m = np.where(has_off, num(23, 24), 0)
            valid &= (off_h < 24) & (off_m < 60)
            sign = np.where(t[19] == 45, -1, 1)
            seconds -= sign * (off_h * 3600 + off_m * 60)
    micros = seconds * 1_000_000
    valid &= (micros >= MIN_MICROS) & (micros <= MAX_MICROS)
    return micros, canonical, valid


def _ascii_matrix(arr: npt.NDArray[np.str_]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """The first 25 code points of each string of a 1-D ``U`` array as bytes, zero past its
    end, and whether they are all ASCII (otherwise the bytes mean nothing)."""
    n = len(arr)
    width = min(arr.dtype.itemsize // 4, _WIDTH)
    out = np.zeros((n, _WIDTH), dtype=np.uint8)
    if width == 0 or n == 0:
        return out, np.ones(n, dtype=bool)
    codes = np.ascontiguousarray(arr).view(np.uint32).reshape(n, -1)[:, :width]
    out[:, :width] = codes  # wraps above 255: told apart by the ASCII test
    ascii_only: npt.NDArray[np.bool_] = codes.max(axis=1) < 128
    return out, ascii_only


def iso_strings(
    strs: Sequence[str] | npt.NDArray[np.str_], *, assume_utc: bool = True
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """:func:`iso_matrix` of strings: micros and the cells whose value is final (canonical
    and valid); the others are for :func:`time_ref`.

    >>> micros, done = iso_strings(["20240501", "2024-05-01 00:00", "2024-02-30"])
    >>> micros[:1].tolist(), done.tolist()
    ([1714521600000000], [True, False, False])
    """
    if isinstance(strs, np.ndarray):
        arr = strs
        lengths = np.char.str_len(arr).astype(np.int64, copy=False)
    else:
        arr = np.array(strs, dtype=f"U{_WIDTH}") if len(strs) else np.zeros(0, f"U{_WIDTH}")
        lengths = np.fromiter(map(len, strs), dtype=np.int64, count=len(strs))
    m, ascii_only = _ascii_matrix(arr)
    micros, canonical, valid = iso_matrix(m, lengths, assume_utc=assume_utc)
    return micros, canonical & valid & ascii_only


# -- datetime64 columns ----------------------------------------------------------------------
def _bad(name: str | None, reason: str, row: int | None) -> ValidationError:
    field = "" if name is None else f"{name!r} "
    where = "" if row is None else f" at index {row}"
    return ValidationError(f"{field}{reason}{where}")


def _row(name: str | None, i: int) -> int | None:
    """The row to name in a message: none for one value (``name`` None: the scalar rule)."""
    return None if name is None else i


def _datetime64_micros(arr: npt.NDArray[Any], *, name: str | None) -> npt.NDArray[np.int64]:
    """A 1-D ``datetime64`` array (any unit, taken as UTC) as int64 micros; NaT and instants
    outside the years 1-9999 are refused."""
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    nat = np.isnat(arr)
    if nat.any():
        i = int(np.flatnonzero(nat)[0])
        raise _bad(name, "must be a time, not NaT: numpy.datetime64('NaT')", _row(name, i))
    unit, _ = np.datetime_data(arr.dtype)
    if unit in ("ns", "ps", "fs", "as"):  # finer than us: always within the range of years
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            us = arr.astype(DT)
    else:
        lo = np.datetime64(int(MIN_MICROS), "us").astype(arr.dtype)
        hi = np.datetime64(int(MAX_MICROS), "us").astype(arr.dtype)
        out = (arr < lo) | (arr > hi)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise _bad(
                name,
                f"is out of the range of years 1-9999 in UTC: {show(arr[i])}",
                _row(name, i),
            )
        us = arr.astype(DT)
    return us.view(np.int64)


def pandas_utc(values: Any) -> Any:
    """A tz-aware pandas Series or DatetimeIndex as tz-naive UTC (so it becomes datetime64)."""
    tz = getattr(getattr(values, "dtype", None), "tz", None)
    if tz is None:
        return values
    accessor = getattr(values, "dt", None)
    if accessor is not None:
        return accessor.tz_convert("UTC").dt.tz_localize(None)
    return values.tz_convert("UTC").tz_localize(None)


def parse_timestamps(
    values: Any,
    *,
    name: str,
    assume_utc: bool = True,
    time_format: str | None = None,
) -> npt.NDArray[np.datetime64]:
    """A column of UTC instants as ``datetime64[us]``, by the module's rule.

    ``values`` is a 1-D array-like (list, numpy array, pandas Series or
    DatetimeIndex) of ISO 8601 strings, aware datetimes, dates or datetime64
    values. The first bad value raises a
    :class:`~crmcore.errors.ValidationError` naming ``name``, its index and the
    value.

    >>> parse_timestamps(np.array(["19970101", "1997-01-01T00:00:00Z"]), name="time").astype(str).tolist()
    ['1997-01-01T00:00:00.000000', '1997-01-01T00:00:00.000000']
    >>> parse_timestamps(["1997-01-01", "NaT"], name="time")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'time' must be an ISO 8601 timestamp: 'NaT' at index 1
    """
    arr = np.asarray(pandas_utc(values))
    if arr.ndim != 1:
        raise ValidationError(f"{name!r} must be 1-dimensional, got shape {arr.shape}")
    n = len(arr)
    kind = arr.dtype.kind
    if kind == "M":
        return _datetime64_micros(arr, name=name).view(DT)
    if kind in "biufcm":  # numbers and durations: refused (an empty list is a float array)
        if n:
            _row_micros(arr[0].item(), 0, name, assume_utc, time_format)
        return np.zeros(0, dtype=DT)
    if kind == "S":
        try:
            arr = arr.astype(str)
        except UnicodeDecodeError:
            arr = arr.astype(object)
            kind = "O"
    out = np.zeros(n, dtype=np.int64)
    if arr.dtype.kind == "U":
        strs: npt.NDArray[Any] = arr
        rest = np.arange(n)
        if time_format is None:
            micros, done = iso_strings(arr, assume_utc=assume_utc)
            out[done] = micros[done]
            rest = np.flatnonzero(~done)
        for i in rest.tolist():
            out[i] = _row_micros(str(strs[i]), i, name, assume_utc, time_format)
        return out.view(DT)
    items = arr.tolist()  # kind "O": any Python objects
    is_str = np.fromiter((type(v) is str for v in items), dtype=bool, count=n)
    done = np.zeros(n, dtype=bool)
    if time_format is None and is_str.any():
        rows = np.flatnonzero(is_str)
        micros, ok = iso_strings([items[i] for i in rows.tolist()], assume_utc=assume_utc)
        out[rows[ok]] = micros[ok]
        done[rows[ok]] = True
    for i in np.flatnonzero(~done).tolist():
        out[i] = _row_micros(items[i], i, name, assume_utc, time_format)
    return out.view(DT)


def _row_micros(
    value: object, row: int, name: str, assume_utc: bool, time_format: str | None
) -> int:
    try:
        return time_ref(value, assume_utc=assume_utc, time_format=time_format)
    except ValidationError as e:
        raise _bad(name, str(e), row) from None


def as_instant(value: object, *, name: str, assume_utc: bool = True) -> np.datetime64:
    """One UTC instant as ``datetime64[us]``: the coercion of every ``as_of`` and period bound.

    Accepts what a column accepts, one value at a time: an ISO 8601 string (no
    offset means UTC), an aware ``datetime``, a ``date`` (its midnight UTC) or a
    ``datetime64``; naive datetimes, ``NaT``, ``None``, numbers and instants
    outside the years 1-9999 are refused naming ``name``.

    >>> as_instant("2025-01-01T09:00:00+01:00", name="as_of")
    np.datetime64('2025-01-01T08:00:00.000000')
    >>> as_instant(np.datetime64("NaT"), name="as_of")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'as_of' must be a time, not NaT: numpy.datetime64('NaT')
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    try:
        micros = time_ref(value, assume_utc=assume_utc)
    except ValidationError as e:
        raise _bad(name, str(e), None) from None
    return np.datetime64(micros, "us")


def as_datetime(value: object, *, name: str) -> datetime:
    """:func:`as_instant` as an aware UTC ``datetime`` (for bounds compared with records' times).

    >>> as_datetime("20250101T100000+0100", name="start")
    datetime.datetime(2025, 1, 1, 9, 0, tzinfo=datetime.timezone.utc)
    """
    return _EPOCH + timedelta(microseconds=int(as_instant(value, name=name).astype(np.int64)))


def as_date(value: object, *, name: str | None = "value") -> date:
    """A calendar day: a ``date`` (not a ``datetime``) or its ISO 8601 text ``YYYY-MM-DD``; else a
    ValidationError naming ``name`` (None: the caller names the field, as a JSON path or an
    import's column does) -- the day of every date field: birthdays, rate tables, holidays,
    custom renewal dates, JSON dates.

    >>> as_date("2024-02-29")
    datetime.date(2024, 2, 29)
    >>> as_date("2024-02-29T10:00", name=None)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: must be a date (YYYY-MM-DD): '2024-02-29T10:00'
    >>> as_date("2023-02-29", name="valid_from")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'valid_from' must be a date (YYYY-MM-DD): '2023-02-29'
    """
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) == 10 and value[4] == value[7] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    prefix = "must" if name is None else f"{name!r} must"
    raise ValidationError(f"{prefix} be a date (YYYY-MM-DD): {show(value)}")


_ZERO = timedelta(0)


def utc_problem(value: object) -> str | None:
    """Why ``value`` is not a time a record can hold (a ``datetime`` aware and at UTC offset
    zero: records keep UTC, conversions happen at the edges), or None.

    >>> utc_problem(datetime(2025, 1, 1))
    'must be timezone-aware (naive datetimes are ambiguous)'
    """
    if not isinstance(value, datetime):
        return "must be a timezone-aware UTC datetime"
    if value != value:
        return "must be a time, not NaT"
    off = value.utcoffset()
    if off is None:
        return "must be timezone-aware (naive datetimes are ambiguous)"
    if off != _ZERO:
        return "must be in UTC (convert with .astimezone(timezone.utc))"
    return None
