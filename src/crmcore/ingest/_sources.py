"""Import sources: CSV files (checked whole before anything is stored) and iterables of mappings.

A source yields :class:`Batch` objects: the cells of each wanted field as a
list (``None`` where a mapping has no such key), the 1-based data row number
of every row, and for CSV files the line where each record starts.

>>> from pathlib import Path
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     p = Path(d, "x.csv")
...     _ = p.write_text("id,name\\n1,Ada\\n\\n2,Bob\\n", encoding="utf-8")
...     src = CsvSource(p, fields=("id", "name"), required=("id",), column_of={})
...     [(b.columns["name"], b.rows.tolist(), b.lines.tolist()) for b in src.batches(10)]
[(['Ada', 'Bob'], [1, 2], [2, 4])]
"""

from __future__ import annotations

import codecs
import csv
import itertools
import operator
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import IO, Any, Union, cast

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.errors import ValidationError
from crmcore.ingest._bytecells import ByteCells
from crmcore.model._storable import text_problem
from crmcore.repositories._args import check_batch
from crmcore.repositories.protocols import UnitOfWork, expect_unit_of_work

__all__ = ["Batch", "ByteCells", "CsvSource", "MappingSource", "Source", "resolve_columns"]

_UTF8 = {"utf-8", "utf8", "utf_8", "utf-8-sig", "utf_8_sig"}


@attrs.frozen(eq=False)
class Batch:
    """Up to ``batch_size`` rows of a source, as columns of cells."""

    columns: dict[str, Sequence[object]]
    rows: npt.NDArray[np.int64]
    lines: npt.NDArray[np.int64] | None

    def __len__(self) -> int:
        return len(self.rows)


def resolve_columns(columns: Mapping[str, str] | None, fields: Sequence[str]) -> dict[str, str]:
    """``field → source column`` from a ``source column → field`` mapping; unmapped fields keep their name.

    >>> resolve_columns({"order_no": "external_ref"}, ["external_ref", "amount"])
    {'external_ref': 'order_no', 'amount': 'amount'}
    >>> resolve_columns({"x": "colour"}, ["amount"])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'columns' maps 'x' to an unknown field 'colour'; fields are ['amount']
    """
    out = {f: f for f in fields}
    if columns is None:
        return out
    if not isinstance(columns, Mapping):
        raise ValidationError(f"'columns' must be a mapping of source column → field: {columns!r}")
    seen: dict[str, str] = {}
    for src, field in columns.items():
        if not isinstance(src, str) or not isinstance(field, str):
            raise ValidationError(f"'columns' must map strings to strings: {src!r} → {field!r}")
        if field not in out:
            raise ValidationError(
                f"'columns' maps {src!r} to an unknown field {field!r}; fields are {list(fields)}"
            )
        if field in seen:
            raise ValidationError(
                f"'columns' maps both {seen[field]!r} and {src!r} to the field {field!r}"
            )
        seen[field] = src
        out[field] = src
    return out


def _locate_decode_error(
    path: Path, encoding: str, shown: str, delimiter: str, name: str | None = None
) -> str:
    """Where the first undecodable byte is: line, byte in the line, and the CSV column."""
    data = path.read_bytes()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        where = f"line {line}, byte {e.start - start + 1} of the line"
        first = data.split(b"\n", 1)[0].decode(encoding, errors="replace").lstrip("\ufeff")
        header = next(csv.reader([first], delimiter=delimiter), [])
        prefix = data[start : e.start].decode(encoding, errors="replace")
        j = len(next(csv.reader([prefix], delimiter=delimiter), [""])) - 1
        if line > 1 and 0 <= j < len(header):
            where += f", column {header[j].strip()!r}"
        return (
            f"{name or path.name}, {where}: not {shown} text ({e.reason}: {data[e.start : e.end]!r}); "
            "re-save the file as UTF-8 or pass the right encoding="
        )
    return f"{name or path.name}: not {shown} text"


def _separators(buf: npt.NDArray[np.uint8], delimiter: int) -> npt.NDArray[np.int64]:
    """Offsets of every ``delimiter`` and line feed byte, in order (in cache-sized slices:
    no temporary as large as the file)."""
    step = 1 << 18
    size = min(step, len(buf))
    hit, lf = np.empty(size, dtype=bool), np.empty(size, dtype=bool)
    parts = [np.zeros(0, dtype=np.int64)]
    for i in range(0, len(buf), step):
        b = buf[i : i + step]
        k = len(b)
        np.equal(b, delimiter, out=hit[:k])
        np.equal(b, 10, out=lf[:k])
        np.logical_or(hit[:k], lf[:k], out=hit[:k])
        parts.append(np.flatnonzero(hit[:k]) + i)
    return np.concatenate(parts)


@attrs.frozen(eq=False)
class _Plain:
    """A plain CSV file (see :meth:`CsvSource._scan_plain`): its bytes and separator offsets."""

    data: bytes
    buf: npt.NDArray[np.uint8]
    seps: npt.NDArray[np.int64]  # (lines, width): offsets of each line's delimiters and line end
    crlf: bool


@attrs.define
class CsvSource:
    """A CSV file with a header row; its structure is checked by :meth:`scan` before any batch.

    ``fields`` are the wanted fields, ``column_of`` maps a field to its header
    name (default: the field name). A file-level problem (unreadable, wrong
    encoding, UTF-16/32 byte order mark, empty, blank or duplicate header
    names, a missing required column, a record with a different number of
    fields than the header) raises ValidationError naming the file, the line
    and the column, before anything is stored. A UTF-8 byte order mark is
    accepted and dropped; blank lines are skipped.
    """

    path: Path = attrs.field(converter=Path)
    fields: Sequence[str]
    required: Sequence[str]
    column_of: Mapping[str, str]
    delimiter: str = ","
    encoding: str = "utf-8"
    label: str | None = None  # the name of an uploaded file object (its bytes are in ``path``)
    spool: object = None  # the temporary file holding an upload: deleted with the source
    header: list[str] = attrs.field(init=False, factory=list)
    index: dict[str, int] = attrs.field(init=False, factory=dict)
    line_starts: npt.NDArray[np.int64] = attrs.field(
        init=False, factory=lambda: np.zeros(0, dtype=np.int64)
    )
    _scanned: bool = attrs.field(init=False, default=False)
    _plain: _Plain | None = attrs.field(init=False, default=None)

    @property
    def name(self) -> str:
        """The file name used in messages and reports."""
        return self.label if self.label is not None else self.path.name

    def _open_encoding(self) -> str:
        enc = self.encoding.lower()
        return "utf-8-sig" if enc in _UTF8 else self.encoding

    def present(self) -> frozenset[str]:
        """The wanted fields that the file has a column for."""
        self.scan()
        return frozenset(self.index)

    def scan(self) -> None:
        """Check the whole file's structure and record where each record starts."""
        if self._scanned:
            return
        p = self.path
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValidationError(f"'encoding' is not a known codec: {self.encoding!r}") from None
        try:
            with p.open("rb") as fb:
                head = fb.read(4)
        except OSError as e:
            raise ValidationError(f"'source' {str(p)!r}: cannot read the file: {e.strerror}") from e
        wide_bom = head.startswith(
            (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        )
        if wide_bom and "16" not in self.encoding and "32" not in self.encoding:
            raise ValidationError(
                f"{self.name}, line 1: the file starts with a UTF-16/32 byte order mark; "
                "re-save it as UTF-8 or pass encoding='utf-16'"
            )
        if self._scan_plain(p):
            self._scanned = True
            return
        header: list[str] | None = None
        starts = array("q")
        ragged: list[str] = []
        prev = 0
        try:
            with p.open(newline="", encoding=self._open_encoding()) as f:
                reader = csv.reader(f, delimiter=self.delimiter)
                header = next(reader, None)
                if header is None or not any(h.strip() for h in header):
                    raise ValidationError(
                        f"{self.name}, line 1: the file is empty or its first line is blank "
                        "(expected a header row)"
                    )
                self._check_header(header)
                width = len(header)
                prev = reader.line_num
                # fast path: count record widths at C speed; one record per line means
                # that data row i starts on line i + 1 + (header lines)
                widths = Counter(map(len, reader))
                if set(widths) <= {width} and reader.line_num - prev == widths[width]:
                    self.line_starts = np.arange(prev + 1, prev + 1 + widths[width], dtype=np.int64)
                    self._scanned = True
                    return
                f.seek(0)  # a record spans lines or is blank: scan again, record by record
                reader = csv.reader(f, delimiter=self.delimiter)
                next(reader)
                for row in reader:
                    if row:
                        if len(row) != width:
                            ragged.append(
                                f"{self.name}, line {prev + 1}: {len(row)} fields, "
                                f"the header has {width} (ragged row)"
                            )
                        starts.append(prev + 1)
                    prev = reader.line_num
        except UnicodeDecodeError:
            raise ValidationError(
                _locate_decode_error(
                    p, self._open_encoding(), self.encoding, self.delimiter, self.name
                )
            ) from None
        except UnicodeError as e:  # e.g. a UTF-16 stream without a byte order mark
            raise ValidationError(
                f"{self.name}: not {self.encoding} text ({e}); pass the right encoding="
            ) from None
        except csv.Error as e:
            raise ValidationError(f"{self.name}, line {prev + 1}: malformed CSV ({e})") from e
        except OSError as e:
            raise ValidationError(f"'source' {str(p)!r}: cannot read the file: {e.strerror}") from e
        if ragged:
            raise ValidationError(
                ragged[0]
                + (f" (and {len(ragged) - 1} more such lines)" if len(ragged) > 1 else ""),
                problems=ragged,
            )
        self.line_starts = np.frombuffer(starts, dtype=np.int64).copy()
        self._scanned = True

    def _scan_plain(self, p: Path) -> bool:
        """The fast path: a UTF-8 file without quotes, CR (other than in CRLF line ends) or
        blank lines, every line as wide as the header, is cut into cells by byte offsets
        (numpy) instead of the csv module; anything else (or any problem) returns False for the
        record-by-record scan.

        The offsets of every delimiter and line end, in file order, are kept: in such a file
        they alternate as ``width - 1`` delimiters and one line end per line, so cell ``j`` of
        data row ``i`` ends at ``seps[i + 1, j]`` (:meth:`_cells_of`).
        """
        d = self.delimiter
        if self.encoding.lower() not in _UTF8 or len(d) != 1 or not d.isascii() or d in '"\r\n':
            return False
        try:
            data = p.read_bytes()
        except OSError:
            return False
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        if b'"' in data:
            return False
        crlf = b"\r" in data
        if not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return False
        buf = np.frombuffer(data, dtype=np.uint8)
        seps = _separators(buf, ord(d))
        is_eol = buf[seps] == 10
        if crlf:  # CRLF line ends only (csv.writer's default), no other CR
            lf = seps[is_eol]
            if (
                not len(lf)
                or lf[0] == 0
                or (buf[lf - 1] != 13).any()
                or data.count(b"\r") != len(lf)
            ):
                return False
        if not data.endswith(b"\n"):  # the last line has no line end: pretend one (after a CR)
            seps = np.append(seps, len(data) + crlf)
            is_eol = np.append(is_eol, True)
        if not len(seps):
            return False
        width = int(np.argmax(is_eol)) + 1  # fields of the header line
        if width < 2 or len(seps) % width:
            return False
        grid = is_eol.reshape(-1, width)
        if not grid[:, -1].all() or grid[:, :-1].any():
            return False  # a line of another width, or a blank line
        del grid, is_eol
        table = seps.reshape(-1, width)
        first = data[: int(table[0, -1]) - crlf].decode("utf-8")
        header = first.split(d)
        if not any(h.strip() for h in header):
            return False
        self._check_header(header)
        rows = len(table) - 1
        self.line_starts = np.arange(2, rows + 2, dtype=np.int64)
        self._plain = _Plain(data, buf, table, crlf)
        return True

    def _cells_of(self, b0: int, b1: int, column: int) -> ByteCells:
        """The cells of data rows ``[b0, b1)`` in one column, as byte ranges of the file."""
        assert self._plain is not None
        plain = self._plain
        seps = plain.seps
        last = seps.shape[1] - 1
        start = (seps[b0:b1, last] if column == 0 else seps[b0 + 1 : b1 + 1, column - 1]) + 1
        end = seps[b0 + 1 : b1 + 1, column]
        if column == last and plain.crlf:
            end = end - 1
        return ByteCells(plain.data, plain.buf, start, end)

    def _plain_batches(self, batch_size: int, raw: bool) -> Iterator[Batch]:
        assert self._plain is not None
        plain = self._plain
        data, seps, d = plain.data, plain.seps, self.delimiter
        width, eol = seps.shape[1], "\r\n" if plain.crlf else "\n"
        rows = len(seps) - 1
        for b0 in range(0, rows, batch_size):
            b1 = min(b0 + batch_size, rows)
            n = b1 - b0
            cols: dict[str, Sequence[object]]
            if raw:
                cols = {f: self._cells_of(b0, b1, j) for f, j in self.index.items()}
            else:
                # every line holds width - 1 delimiters: one flat split gives width cells per row
                lo, hi = int(seps[b0, -1]) + 1, int(seps[b1, -1]) - plain.crlf
                flat = data[lo:hi].decode("utf-8").replace(eol, d).split(d)
                assert len(flat) == n * width
                cells = cast("list[object]", flat)
                cols = {f: cells[j::width] for f, j in self.index.items()}
            yield Batch(
                cols,
                np.arange(b0 + 1, b1 + 1, dtype=np.int64),
                self.line_starts[b0:b1].copy(),
            )

    def _check_header(self, raw: list[str]) -> None:
        header = [h.strip() for h in raw]
        for j, h in enumerate(header):
            if not h:
                raise ValidationError(f"{self.name}, line 1, column {j + 1}: blank column name")
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise ValidationError(f"{self.name}, line 1: repeated column name(s) {dupes}")
        missing = [
            self.column_of.get(f, f)
            for f in self.required
            if self.column_of.get(f, f) not in header
        ]
        if missing:
            raise ValidationError(
                f"{self.name}, line 1: missing column(s) {missing}; the header has {header} "
                "(map other names with columns={'source name': 'field'})"
            )
        self.header = header
        self.index = {
            f: header.index(self.column_of.get(f, f))
            for f in self.fields
            if self.column_of.get(f, f) in header
        }

    def batches(self, batch_size: int, *, raw: bool = False) -> Iterator[Batch]:
        """The data rows in batches (after :meth:`scan`, which this calls).

        ``raw=True``: on the fast path the columns are :class:`ByteCells` (the cells stay
        bytes of the file until a parser asks; they are a ``Sequence[str]`` all the same).
        """
        self.scan()
        if self._plain is not None:
            yield from self._plain_batches(batch_size, raw)
            return
        getters = {f: operator.itemgetter(j) for f, j in self.index.items()}
        done = 0
        with self.path.open(newline="", encoding=self._open_encoding()) as f:
            reader = csv.reader(f, delimiter=self.delimiter)
            next(reader)
            while True:
                rows = list(itertools.islice(reader, batch_size))
                if not rows:
                    return
                if not all(rows):
                    rows = [r for r in rows if r]
                    if not rows:
                        continue
                n = len(rows)
                cols: dict[str, Sequence[object]] = {
                    f: list(map(g, rows)) for f, g in getters.items()
                }
                yield Batch(
                    cols,
                    np.arange(done + 1, done + n + 1, dtype=np.int64),
                    self.line_starts[done : done + n],
                )
                done += n


@attrs.define
class MappingSource:
    """An iterable of mappings (``dict`` rows); keys are source column names."""

    rows: Iterable[Mapping[str, object]]
    fields: Sequence[str]
    column_of: Mapping[str, str]
    name: str = "<rows>"

    def present(self) -> frozenset[str]:
        """Every field (a mapping may hold any key)."""
        return frozenset(self.fields)

    def batches(self, batch_size: int, *, raw: bool = False) -> Iterator[Batch]:
        """The rows in batches; a missing key is a missing cell (``raw`` changes nothing)."""
        if isinstance(self.rows, str | bytes | Mapping):
            raise ValidationError(
                f"'source' rows must be an iterable of mappings, not {type(self.rows).__name__}"
            )
        keys = {f: self.column_of.get(f, f) for f in self.fields}
        it = iter(self.rows)
        done = 0
        while True:
            chunk = list(itertools.islice(it, batch_size))
            if not chunk:
                return
            for k, r in enumerate(chunk):
                if not isinstance(r, Mapping):
                    raise ValidationError(
                        f"'source' row {done + k + 1} must be a mapping of column → value: {r!r}"
                    )
            cols: dict[str, Sequence[object]] = {
                f: [r.get(key) for r in chunk] for f, key in keys.items()
            }
            n = len(chunk)
            yield Batch(cols, np.arange(done + 1, done + n + 1, dtype=np.int64), None)
            done += n


Source = Union[str, "PathLike[str]", Iterable[Mapping[str, object]], IO[str], IO[bytes], Any]
"""What an import reads: a CSV file's path, a CSV file object (text or binary, like a web
upload), a pandas or polars DataFrame (a LazyFrame is collected), a pyarrow Table, or an
iterable of mappings."""


def open_source(
    source: Source,
    *,
    fields: Sequence[str],
    required: Sequence[str],
    column_of: Mapping[str, str],
    delimiter: str,
    encoding: str,
) -> CsvSource | MappingSource:
    """A CSV source for a path or a file object, a frame source for a DataFrame or an Arrow
    table, a mapping source for an iterable of mappings.

    >>> open_source([{"a": 1}], fields=("a",), required=(), column_of={}, delimiter=",",
    ...             encoding="utf-8").name
    '<rows>'
    >>> open_source("a.csv", fields=("a",), required=(), column_of={}, delimiter=";;",
    ...             encoding="utf-8")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'delimiter' must be one character other than a quote or a line break: ';;'
    """
    if (
        not isinstance(delimiter, str)
        or len(delimiter) != 1
        or delimiter in '"\r\n'
        or text_problem(delimiter) is not None
    ):
        raise ValidationError(
            f"'delimiter' must be one character other than a quote or a line break: {delimiter!r}"
        )
    try:
        if not isinstance(encoding, str):
            raise LookupError(encoding)
        codecs.lookup(encoding)
    except (LookupError, ValueError):  # ValueError: a NUL or a lone surrogate in the name
        raise ValidationError(f"'encoding' is not a known codec: {encoding!r}") from None
    from crmcore.ingest._uploads import (  # they build on this module's sources
        FrameSource,
        frame_of,
        frame_rows,
        spool_upload,
        upload_name,
    )

    if isinstance(source, str | PathLike):
        text = str(source)
        problem = text_problem(text)
        if problem is not None:
            raise ValidationError(f"'source' (a file path) {problem}: {text!r}")
        return CsvSource(
            Path(source),
            fields=fields,
            required=required,
            column_of=column_of,
            delimiter=delimiter,
            encoding=encoding,
        )
    if callable(getattr(source, "read", None)):
        path, spool, enc = spool_upload(source, encoding)
        return CsvSource(
            path,
            fields=fields,
            required=required,
            column_of=column_of,
            delimiter=delimiter,
            encoding=enc,
            label=upload_name(source),
            spool=spool,
        )
    frame = frame_of(source)
    if frame is not None:
        return FrameSource(
            # sized only, for the progress total: batches() reads the frame itself
            cast("Iterable[Mapping[str, object]]", range(frame_rows(frame))),
            fields=fields,
            column_of=column_of,
            frame=frame,
            required=tuple(required),
        )
    if isinstance(source, bytes | Mapping) or not isinstance(source, Iterable):
        hint = ""
        if callable(getattr(source, "to_pandas", None)):  # a crmcore table, e.g. a TransactionLog
            hint = " (a crmcore table is imported as its DataFrame: source.to_pandas())"
        raise ValidationError(
            "'source' must be a CSV file path or file object, a DataFrame, an Arrow table or "
            f"an iterable of mappings: a {type(source).__name__}{hint}"
        )
    rows = cast("Iterable[Mapping[str, object]]", source)  # each row is checked as it is read
    return MappingSource(rows, fields=fields, column_of=column_of)


def check_import_options(uow: object, *, batch_size: object, time_format: object) -> UnitOfWork:
    """The options every import takes, checked once: the unit of work, ``batch_size`` (a whole
    number >= 1) and ``time_format`` (None or a :meth:`~datetime.datetime.strptime` format).

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> check_import_options(MemoryUnitOfWork(), batch_size=10**400, time_format=None)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'batch_size' must be <= 9223372036854775807: 1000000000...
    """
    checked = expect_unit_of_work(uow)
    check_batch(batch_size)  # type: ignore[arg-type]  # checked inside
    check_time_format(time_format)
    return checked


def check_time_format(time_format: object) -> str | None:
    """``time_format``: None (ISO 8601) or a :meth:`~datetime.datetime.strptime` format string."""
    if time_format is not None and not isinstance(time_format, str):
        raise ValidationError(
            f"'time_format' must be a strptime format string or None: {time_format!r}"
        )
    return time_format
