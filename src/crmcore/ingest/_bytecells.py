"""Cells kept as byte ranges of a UTF-8 buffer (the plain-CSV fast path), and their parsers.

A plain CSV file (no quotes, every line as wide as the header) is cut into
cells by offsets: a column of a batch is a :class:`ByteCells`, the file's
bytes plus the start and end offset of each cell. It is a ``Sequence[str]``
(a cell is decoded when asked for), so every parser of
:mod:`crmcore.ingest._cells` accepts it; the parsers here read the bytes with
numpy instead and hand only the cells outside the canonical shapes to those
parsers (the reference rules), so both paths accept exactly the same cells
with the same messages. No Python object is made per numeric cell.

>>> data = b"c-1,2024-05-01T10:00:00Z,19.90,refund\\n,2024-13-01,-3,gift\\n"
>>> buf = np.frombuffer(data, dtype=np.uint8)
>>> col = lambda s, e: ByteCells(data, buf, np.array(s), np.array(e))
>>> parse_ids(col([0, 38], [3, 38]))
(['c-1', ''], [(1, 'is required')])
>>> parse_times(col([4, 39], [24, 49]))[1]
[(1, "must be an ISO 8601 timestamp: '2024-13-01'")]
>>> e6, _, errors = parse_money(col([25, 50], [30, 52]))
>>> e6.tolist(), errors
([19900000, 0], [(1, "must be >= 0 (the kind gives the direction): '-3'")])
>>> parse_kinds(col([31, 53], [37, 57]))[0].tolist()
[1, 0]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, overload

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from crmcore.ingest import _cells, _times
from crmcore.ingest._cells import MAX_ID_LENGTH, Errors, amount_matrix
from crmcore.timestamps import iso_matrix

__all__ = [
    "ByteCells",
    "parse_currencies",
    "parse_ids",
    "parse_kinds",
    "parse_money",
    "parse_quantities",
    "parse_texts",
    "parse_times",
]

X = TypeVar("X")


class ByteCells(Sequence[str]):
    """One column of cells: ``data[start[i]:end[i]]`` is cell ``i`` (UTF-8, no LF byte in it).

    ``buf`` is ``data`` as a uint8 array (shared, not copied).
    """

    __slots__ = ("_strings", "buf", "data", "end", "start")

    def __init__(
        self,
        data: bytes,
        buf: npt.NDArray[np.uint8],
        start: npt.NDArray[np.int64],
        end: npt.NDArray[np.int64],
    ) -> None:
        self.data = data
        self.buf = buf
        self.start = start
        self.end = end
        self._strings: list[str] | None = None

    def __len__(self) -> int:
        return len(self.start)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice) or self._strings is not None:
            return self.strings()[i]
        return self.data[int(self.start[i]) : int(self.end[i])].decode("utf-8")

    def take(self, rows: Sequence[int] | npt.NDArray[np.intp]) -> list[str]:
        """The cells of some rows (decoded one by one: for a few rows of a large column)."""
        if self._strings is not None:
            return list(map(self._strings.__getitem__, np.asarray(rows, dtype=np.intp).tolist()))
        d = self.data
        idx = np.asarray(rows, dtype=np.intp)
        return [
            d[a:b].decode("utf-8")
            for a, b in zip(self.start[idx].tolist(), self.end[idx].tolist(), strict=True)
        ]

    def __iter__(self) -> Iterator[str]:
        return iter(self.strings())

    def __repr__(self) -> str:
        return f"ByteCells({len(self)} cells)"

    def lengths(self) -> npt.NDArray[np.int64]:
        """Each cell's length in bytes."""
        out: npt.NDArray[np.int64] = self.end - self.start
        return out

    def strings(self) -> list[str]:
        """Every cell as a ``str`` (made once): the cells are gathered into one buffer with
        a line feed after each, decoded and split, all at C speed."""
        if self._strings is None:
            n = len(self)
            if n == 0:
                self._strings = []
                return self._strings
            size = self.lengths() + 1  # the cell and its line feed
            at = np.cumsum(size) - size  # where each cell goes in the gathered buffer
            idx = np.arange(int(at[-1] + size[-1]), dtype=np.int64)
            idx -= np.repeat(at - self.start, size)
            idx[at + size - 1] = 0  # the line feeds' slots (refilled below)
            out = self.buf[idx]
            out[at + size - 1] = 10
            self._strings = out[:-1].tobytes().decode("utf-8").split("\n")
        return self._strings

    def matrix(self, width: int, *, pad: bool = True) -> npt.NDArray[np.uint8]:
        """The first ``width`` bytes of each cell, one row per cell, zero past its end
        (``pad=False``: whatever follows it, for parsers that look only within each length)."""
        n, size = len(self), len(self.buf)
        m: npt.NDArray[np.uint8]
        if size >= width and (not n or int(self.start.max()) <= size - width):
            # row i is a copy of the window buf[start[i] : start[i] + width]
            m = sliding_window_view(self.buf, width)[self.start]
        else:  # a cell near the end of the buffer: clip the indices
            idx = np.minimum(self.start[:, None] + np.arange(width), max(size - 1, 0))
            m = self.buf[idx] if size else np.zeros((n, width), dtype=np.uint8)
        if pad:
            m[np.arange(width) >= self.lengths()[:, None]] = 0
        return m

    def has_nul(self) -> npt.NDArray[np.bool_]:
        """Which cells hold a NUL byte (text no backend stores): one memchr over the buffer
        when there is none, a cumulative count otherwise."""
        if self.data.find(b"\x00") < 0:
            return np.zeros(len(self), dtype=bool)
        count = np.concatenate([[0], np.cumsum(self.buf == 0)])
        out: npt.NDArray[np.bool_] = count[self.end] > count[self.start]
        return out

    def edges(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
        """The first and the last byte of each cell (0 for an empty cell)."""
        if not len(self.buf):
            z = np.zeros(len(self), dtype=np.uint8)
            return z, z
        empty = self.end <= self.start
        top = len(self.buf) - 1
        first = np.where(empty, 0, self.buf[np.minimum(self.start, top)])
        last = np.where(empty, 0, self.buf[np.clip(self.end - 1, 0, top)])
        return first.astype(np.uint8), last.astype(np.uint8)


def _subset(
    cells: ByteCells,
    rows: npt.NDArray[np.intp],
    parse: Callable[[list[str]], tuple[X, Errors]],
    errors: Errors,
) -> X:
    """Run a string parser on some rows' cells; its errors are appended with the rows' indices."""
    got, errs = parse(cells.take(rows))
    errors.extend((int(rows[j]), reason) for j, reason in errs)
    return got


def _is_space(b: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """ASCII bytes that ``str.isspace`` calls white space (\\t \\n \\v \\f \\r, \\x1c-\\x1f, space)."""
    out: npt.NDArray[np.bool_] = ((b >= 9) & (b <= 13)) | ((b >= 28) & (b <= 32))
    return out


# -- text ----------------------------------------------------------------------------------
def parse_ids(cells: ByteCells) -> tuple[list[object], Errors]:
    """:func:`crmcore.ingest._cells.parse_ids` of byte cells."""
    strs = cells.strings()
    lengths = cells.lengths()
    first, last = cells.edges()
    # a cell is surely an id unless empty, maybe too long, or edged by (maybe) white space
    suspect = np.flatnonzero(
        (lengths == 0)
        | (lengths > MAX_ID_LENGTH)
        | _is_space(first)
        | _is_space(last)
        | (first >= 128)
        | (last >= 128)
        | cells.has_nul()
    )
    errors: Errors = []
    if len(suspect):
        _subset(cells, suspect, _cells.parse_ids, errors)
    return list(strs), errors


def parse_texts(cells: ByteCells, *, max_length: int | None = None) -> tuple[list[object], Errors]:
    """:func:`crmcore.ingest._cells.parse_texts` of byte cells."""
    strs = cells.strings()
    lengths = cells.lengths()
    out: list[object] = [s or None for s in strs] if (lengths == 0).any() else list(strs)
    errors: Errors = []
    suspect = cells.has_nul()  # storable text: a CSV's UTF-8 holds no lone surrogate
    if max_length is not None:
        suspect |= lengths > max_length  # bytes >= characters: check those
    rows = np.flatnonzero(suspect)
    if len(rows):
        _subset(cells, rows, lambda c: _cells.parse_texts(c, max_length=max_length), errors)
        for i, _ in errors:
            out[i] = None
    return out, errors


# -- timestamps and numbers ----------------------------------------------------------------
def parse_times(
    cells: ByteCells, *, assume_utc: bool = True
) -> tuple[npt.NDArray[np.int64], Errors]:
    """:func:`crmcore.ingest._times.parse_times` of byte cells (ISO 8601, no ``time_format``)."""
    micros, canonical, valid = iso_matrix(
        cells.matrix(25, pad=False), cells.lengths(), assume_utc=assume_utc
    )
    fast = canonical & valid
    out = np.where(fast, micros, 0)
    errors: Errors = []
    slow = np.flatnonzero(~fast)
    if len(slow):
        got = _subset(cells, slow, lambda c: _times.parse_times(c, assume_utc=assume_utc), errors)
        out[slow] = got
        errors.sort()
    return out, errors


def parse_money(
    cells: ByteCells,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], Errors]:
    """:func:`crmcore.ingest._cells.parse_money` of byte cells."""
    lengths = cells.lengths()
    width = int(min(19, max(1, lengths.max(initial=1))))
    plain, e6 = amount_matrix(cells.matrix(width, pad=False), lengths)
    out = e6 / 1e6  # exact below 2**53 (one correctly rounded division)
    for i in np.flatnonzero(plain & (e6 > 2**53)).tolist():
        out[i] = float(cells[i])
    errors: Errors = []
    slow = np.flatnonzero(~plain)
    if len(slow):
        got_e6, got, errs = _cells.parse_money(cells.take(slow))
        e6[slow] = got_e6
        out[slow] = got
        errors.extend((int(slow[j]), reason) for j, reason in errs)
    return e6, out, errors


def _digits(cells: ByteCells, most: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Cells of 1 to ``most`` ASCII digits (``most`` <= 18), and their values."""
    lengths = cells.lengths()
    width = int(min(most, max(1, lengths.max(initial=1))))
    m = cells.matrix(width, pad=False)
    within = np.arange(width) < lengths[:, None]
    dig = ((m - np.uint8(48)) <= 9) & within
    ok = (lengths >= 1) & (lengths <= most) & (dig | ~within).all(axis=1)
    d = m.astype(np.int64) - 48
    v = np.zeros(len(cells), dtype=np.int64)
    for j in range(width):
        v = np.where(dig[:, j], v * 10 + d[:, j], v)
    return ok, v


def parse_quantities(cells: ByteCells) -> tuple[npt.NDArray[np.int64], Errors]:
    """:func:`crmcore.ingest._cells.parse_quantities` of byte cells."""
    ok, v = _digits(cells, 18)
    out = np.where(ok, v, 1)
    errors: Errors = []
    slow = np.flatnonzero(~ok & (cells.lengths() > 0))
    if len(slow):
        out[slow] = _subset(cells, slow, _cells.parse_quantities, errors)
    return out, errors


# -- categories: kinds and currencies ------------------------------------------------------
def _categories(
    cells: ByteCells, *, width: int = 16, limit: int = 16
) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Each non-empty cell's index among up to ``limit`` distinct values (of at most ``width``
    bytes, a multiple of 8), found by peeling off one value at a time; -1 for the rest."""
    n = len(cells)
    lengths = cells.lengths()
    code = np.full(n, -1, dtype=np.int32)
    values: list[str] = []
    todo = (lengths > 0) & (lengths <= width)
    if not todo.any():
        return code, values
    words = np.ascontiguousarray(cells.matrix(width)).view(np.uint64)  # (n, width // 8)
    cols = [np.ascontiguousarray(words[:, k]) for k in range(words.shape[1])]
    while len(values) < limit:
        i = int(np.argmax(todo))
        if not todo[i]:
            break
        same = todo & (lengths == lengths[i])
        for c in cols:
            same &= c == c[i]
        code[same] = len(values)
        values.append(cells[i])
        todo &= ~same
    return code, values


def _by_category(
    cells: ByteCells,
    parse: Callable[[list[str]], tuple[Any, Errors]],
    errors: Errors,
) -> tuple[npt.NDArray[np.int32], list[Any], npt.NDArray[np.intp], Any]:
    """Parse each distinct value once; returns the codes, the parsed values (None = bad),
    the rows left for the reference parser and its result on them."""
    code, values = _categories(cells)
    got, errs = parse(values)
    bad = {j for j, _ in errs}
    for j, reason in errs:
        errors.extend((int(i), reason) for i in np.flatnonzero(code == j))
    parsed = [None if j in bad else got[j] for j in range(len(values))]
    rest = np.flatnonzero((code < 0) & (cells.lengths() > 0))
    tail = _subset(cells, rest, parse, errors) if len(rest) else None
    return code, parsed, rest, tail


def parse_kinds(cells: ByteCells) -> tuple[npt.NDArray[np.int8], Errors]:
    """:func:`crmcore.ingest._cells.parse_kinds` of byte cells."""
    errors: Errors = []
    code, parsed, rest, tail = _by_category(cells, _cells.parse_kinds, errors)
    default = _cells.parse_kinds([""])[0][0]
    table = np.array([default if v is None else v for v in parsed] + [default], dtype=np.int8)
    out = table[code]  # -1: the last entry (missing → the default kind)
    if tail is not None:
        out[rest] = tail
    errors.sort()
    return out, errors


def parse_currencies(cells: ByteCells) -> tuple[list[str | None], Errors]:
    """:func:`crmcore.ingest._cells.parse_currencies` of byte cells."""
    errors: Errors = []
    code, parsed, rest, tail = _by_category(cells, _cells.parse_currencies, errors)
    table = np.empty(len(parsed) + 1, dtype=object)
    table[:] = [*parsed, None]
    out: list[str | None] = table[code].tolist()
    if tail is not None:
        for i, v in zip(rest.tolist(), tail, strict=True):
            out[i] = v
    errors.extend((int(i), "is required") for i in np.flatnonzero(cells.lengths() == 0))
    errors.sort()
    return out, errors
