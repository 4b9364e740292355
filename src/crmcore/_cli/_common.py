"""What every command shares: exit statuses, the database option, output files, progress."""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TextIO

import numpy as np
import numpy.typing as npt

from crmcore._frames import Tabular, frame_columns
from crmcore.errors import ValidationError, require
from crmcore.progress import Progress, ProgressEvent

Write = Callable[[str], None]
"""Writes one line of a command's output (stdout)."""

OK = 0
"""Exit status: the command did what it was asked."""
ERROR = 1
"""Exit status: an error; one line ``crmcore: error: ...`` on stderr says what."""
USAGE = 2
"""Exit status: the command line itself is wrong (argparse's usage message on stderr)."""
UPGRADE_DUE = 3
"""Exit status of ``db check`` when ``db upgrade`` has work to do."""
REJECTED = 4
"""Exit status of ``import`` when rows were rejected (the others are stored, unless
``--all-or-nothing``; ``--rejects`` names the file that lists them)."""
INTERRUPTED = 130
"""Exit status after Ctrl-C (what shells use for SIGINT)."""

EXIT_STATUSES: dict[int, str] = {
    OK: "success",
    ERROR: "error: one line 'crmcore: error: ...' on stderr says what (bad data, a database "
    "that cannot be used, a missing optional extra, a file that cannot be read)",
    USAGE: "usage: the command line is wrong (unknown command or option, missing argument)",
    UPGRADE_DUE: "db check: crmcore's tables need 'crmcore db upgrade'",
    REJECTED: "import: rows were rejected (the reject report lists them)",
    INTERRUPTED: "interrupted (Ctrl-C)",
}
"""Every exit status of ``crmcore`` and what it means."""


def add_db(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--db URL`` with crmcore's namespace options (``--table-prefix``, ``--schema``)."""
    parser.add_argument(
        "--db",
        required=required,
        metavar="URL",
        help="database: a SQLAlchemy URL (sqlite:///crm.db, postgresql+psycopg://...) "
        "or the path of an SQLite file",
    )
    parser.add_argument(
        "--table-prefix", default="", metavar="PREFIX", help="crmcore's table name prefix"
    )
    parser.add_argument(
        "--schema", default=None, help="crmcore's database schema (default: the default)"
    )


def db_url(value: str) -> str:
    """A SQLAlchemy URL from ``--db``: a URL as it is, a plain path as an SQLite file."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"'--db' must be a database URL or an SQLite file: {value!r}")
    return value if "://" in value else f"sqlite:///{value}"


def missing_sqlite_file(url: str) -> str | None:
    """The path of an SQLite file that ``url`` names and that does not exist (None: the
    file exists, or the URL is in memory or of another database)."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return None  # the engine names what is wrong with the URL
    path = parsed.database
    if not parsed.drivername.startswith("sqlite") or not path or path.startswith("file:"):
        return None
    return None if Path(path).exists() else path


def existing_db_url(value: str) -> str:
    """:func:`db_url` of a database that a command reads: a missing SQLite file is an error
    (connecting would create an empty one)."""
    url = db_url(value)
    missing = missing_sqlite_file(url)
    if missing is not None:
        raise ValidationError(
            f"no database file at {missing!r}: import data first "
            "(crmcore import transactions FILE --db URL)"
        )
    return url


@contextmanager
def unit_of_work(args: argparse.Namespace, *, create: bool = False) -> Iterator[Any]:
    """The SQL unit of work of ``--db`` (its engine disposed at the end); a missing SQLite
    file is an error unless ``create`` (an import makes the file and crmcore's tables)."""
    from crmcore.repositories import SqlUnitOfWork

    url = db_url(args.db) if create else existing_db_url(args.db)
    uow = SqlUnitOfWork.from_url(url, table_prefix=args.table_prefix, schema=args.schema)
    try:
        yield uow
    finally:
        uow.close()


def read_log(args: argparse.Namespace) -> Any:
    """Every transaction stored in ``--db``, as columns (an error when there is none)."""
    with unit_of_work(args) as uow, uow:
        log = uow.transactions.read_log()
    if not len(log):
        raise ValidationError(
            f"the database {args.db!r} holds no transactions: import some first "
            "(crmcore import transactions FILE --db URL)"
        )
    return log


# -- output files ----------------------------------------------------------------------------


def _instant_text(values: npt.NDArray[Any]) -> list[str]:
    """UTC instants as ISO 8601 with ``Z``: whole seconds when every value has no fraction."""
    us = values.astype("datetime64[us]")
    whole = bool(np.all(us.astype(np.int64) % 1_000_000 == 0))
    texts = np.datetime_as_string(us, unit="s" if whole else "us", timezone="UTC")
    return ["" if t == "NaT" else str(t) for t in texts.tolist()]


def _column_texts(c: Any) -> list[str]:
    """One typed column (:func:`crmcore._frames.frame_columns`) as CSV cells, column-wise;
    a missing value is an empty cell, a float its shortest exact ``repr``."""
    values = c.values
    if c.kind == "float":
        out = [repr(v) for v in values.tolist()]
        for i in np.flatnonzero(np.isnan(values)).tolist():
            out[i] = ""
    elif c.kind == "instant":
        out = _instant_text(values)
    elif c.kind == "date":
        out = ["" if t == "NaT" else str(t) for t in values.astype(str).tolist()]
    elif c.kind == "bool":
        out = ["true" if v else "false" for v in values.tolist()]
    else:
        out = ["" if v is None else str(v) for v in values.tolist()]
    if c.missing is not None:
        for i in np.flatnonzero(c.missing).tolist():
            out[i] = ""
    return out


def write_csv(result: Tabular, stream: IO[str]) -> int:
    """``result``'s columns as CSV (a header, then one line per row; missing: empty; floats
    written exactly); returns the rows written."""
    cols = frame_columns(result)
    out = csv.writer(stream, lineterminator="\n")
    out.writerow([c.name for c in cols])
    cells = [_column_texts(c) for c in cols]
    out.writerows(zip(*cells, strict=True))
    return len(cells[0]) if cells else 0


def table_format(target: str, *, what: str) -> str:
    """The format of an output file by its extension (``.csv``, ``.parquet``, ``.json``;
    ``-``: CSV on stdout); checked before any work is done."""
    suffix = Path(target).suffix.lower() if target != "-" else ".csv"
    if suffix not in (".csv", ".parquet", ".json"):
        raise ValidationError(
            f"{what} must end in .csv, .parquet or .json (or be - for stdout): {target!r}"
        )
    if suffix == ".parquet":
        require("pyarrow.parquet", "arrow")
    return suffix


def write_table(result: Tabular, target: str, *, what: str) -> int:
    """Write ``result`` to ``target`` by its extension: ``.csv``, ``.parquet`` (pyarrow, the
    ``arrow`` extra), ``.json`` (one object per row); ``-`` is CSV on stdout. Returns the
    rows written; nothing is written when the format is refused."""
    suffix = table_format(target, what=what)
    if suffix == ".parquet":
        pq: Any = require("pyarrow.parquet", "arrow")
        table = result.to_arrow()
        pq.write_table(table, target)
        return int(table.num_rows)
    if suffix == ".json":
        import json

        cols = frame_columns(result)
        rows = [
            {
                c.name: None
                if (c.missing is not None and c.missing[i])
                else _json_cell(c.kind, c.values[i])
                for c in cols
            }
            for i in range(len(cols[0].values) if cols else 0)
        ]
        text = json.dumps(rows, indent=2, allow_nan=False)
        _write_text(target, text + "\n")
        return len(rows)
    buffer = io.StringIO()
    n = write_csv(result, buffer)
    _write_text(target, buffer.getvalue())
    return n


def _json_cell(kind: str, value: Any) -> Any:
    if kind == "float":
        return None if math.isnan(value) else float(value)
    if kind == "instant":
        return None if np.isnat(value) else _instant_text(np.array([value]))[0]
    if kind == "date":
        return None if np.isnat(value) else str(value)
    return value.item() if isinstance(value, np.generic) else value


def _write_text(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    Path(target).write_text(text, encoding="utf-8")


# -- progress on stderr ----------------------------------------------------------------------


class StderrProgress:
    """A :data:`~crmcore.progress.Progress` that shows each stage on stderr: one line
    rewritten in place on a terminal (at most 10 times a second), or a line at the start,
    at every tenth and at the end of a stage otherwise."""

    def __init__(self, stream: TextIO, *, tty: bool) -> None:
        self.stream, self.tty = stream, tty
        self._last = 0.0
        self._tenth = -1
        self._stage: str | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage != self._stage:
            self._stage, self._tenth = event.stage, -1
        done = event.total is not None and event.done >= event.total
        frac = event.fraction
        text = f"{event.stage}: {event.done:,}" + (
            f" of {event.total:,} ({frac:.0%})"
            if event.total is not None and frac is not None
            else ""
        )
        now = time.monotonic()
        if self.tty:
            if done or event.done == 0 or now - self._last >= 0.1:
                self._last = now
                self.stream.write("\r\x1b[K" + text + ("\n" if done else ""))
                self.stream.flush()
            return
        tenth = -1 if frac is None else int(frac * 10)
        if event.done == 0 or done or tenth > self._tenth:
            self._tenth = max(self._tenth, tenth)
            self.stream.write(text + "\n")
            self.stream.flush()


def progress_of(args: argparse.Namespace) -> Progress | None:
    """The progress callback of a command: on stderr when it is a terminal or with
    ``--progress``; None otherwise (and with ``--no-progress``)."""
    wanted = getattr(args, "progress", None)
    tty = sys.stderr.isatty()
    if wanted is False or (wanted is None and not tty):
        return None
    return StderrProgress(sys.stderr, tty=tty)
