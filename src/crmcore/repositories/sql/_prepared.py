"""Statements compiled once and run on the driver's cursor: the SQL backend's hot paths.

``Connection.execute`` spends 25-90 us of Python on every statement (its
cache key, parameter processing, the result's set-up); the same statement on
the driver's cursor costs about 5 us on SQLite. A :class:`Prepared`
statement is built once from the tables as an SQLAlchemy Core construct,
compiled once per dialect (and schema translate map of the connection), and
run on the DBAPI cursor of the unit of work's connection, inside its
transaction, with the column types' bind and result processors applied as
SQLAlchemy would. A driver error becomes the SQLAlchemy error SQLAlchemy
would have raised (so :func:`~crmcore.repositories.sql._engine.translate`
applies), and a lost connection is invalidated. A connection that is
observed (echo on, or ``before_cursor_execute`` / ``after_cursor_execute`` /
``handle_error`` listeners) runs the same SQL through ``exec_driver_sql``
instead, so that what it sees is what runs.

>>> import sqlalchemy as sa
>>> t = sa.Table("t", sa.MetaData(), sa.Column("id", sa.String, primary_key=True),
...              sa.Column("n", sa.Integer))
>>> engine = sa.create_engine("sqlite://")
>>> with engine.begin() as conn:
...     t.create(conn)
...     run(conn, Prepared(sa.insert(t)), {"id": "a", "n": 1})
...     fetch_one(conn, Prepared(sa.select(t).where(t.c.id == sa.bindparam("id"))), {"id": "a"})
1
Row(id='a', n=1)
"""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

__all__ = ["Prepared", "fetch_all", "fetch_one", "run", "run_many", "run_text"]

_Proc = Callable[[Any], Any] | None


class _Compiled:
    """One statement compiled for one dialect: the SQL text and how to pass and read values."""

    __slots__ = ("binds", "columns", "named", "results", "row", "sql")

    def __init__(
        self,
        statement: Any,
        dialect: Dialect,
        translate: Mapping[Any, Any] | None,
        column_keys: Sequence[str] | None,
    ) -> None:
        kw: dict[str, Any] = {} if column_keys is None else {"column_keys": list(column_keys)}
        if translate:
            kw.update(schema_translate_map=translate, render_schema_translate=True)
        compiled = statement.compile(dialect=dialect, **kw)
        self.sql: str = compiled.string
        if "__[POSTCOMPILE" in self.sql or compiled.insert_prefetch or compiled.update_prefetch:
            raise TypeError(  # pragma: no cover (a construct unfit to be prepared)
                f"a prepared statement needs no step at run time (post-compile, defaults): {self.sql}"
            )
        names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
        self.named = not compiled.positional
        self.binds: tuple[tuple[str, _Proc], ...] = tuple(
            (n, compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)) for n in names
        )
        self.row: Callable[[Iterable[Any]], Any] | None = None
        self.columns: list[Any] = []
        self.results: tuple[tuple[int, _Proc], ...] | None = ()
        if isinstance(statement, sa.Select | sa.CompoundSelect):
            self.columns = list(statement.selected_columns)
            row = collections.namedtuple("Row", [c.key for c in self.columns], rename=True)  # type: ignore[misc]  # names known at run time
            self.row = row._make
            self.results = None  # known from the first result's description (driver types)

    def result_processors(
        self, d: Dialect, description: Sequence[Any]
    ) -> tuple[tuple[int, _Proc], ...]:
        """The columns' result processors for the driver's column types (as SQLAlchemy)."""
        procs = (
            c.type.dialect_impl(d).result_processor(d, desc[1])
            for c, desc in zip(self.columns, description, strict=True)
        )
        return tuple((i, p) for i, p in enumerate(procs) if p is not None)

    def params(self, values: Mapping[str, Any]) -> Any:
        if self.named:
            return {n: values[n] if p is None else p(values[n]) for n, p in self.binds}
        return tuple(values[n] if p is None else p(values[n]) for n, p in self.binds)

    def read(self, raw: Sequence[Any]) -> Any:
        assert self.results is not None
        if self.results:
            values = list(raw)
            for i, p in self.results:
                assert p is not None
                values[i] = p(values[i])
            raw = values
        return raw if self.row is None else self.row(raw)


class Prepared:
    """An SQLAlchemy Core statement compiled once per dialect and run on the driver's cursor.

    Parameters are bound by name (``sa.bindparam("id")``). With ``keyed``, an
    ``insert(table)`` or ``update(table)`` sets the columns named by the keys
    of the values given (as SQLAlchemy's ``column_keys``), compiled once per
    set of keys; its other parameters are ``bindparam``s named unlike any
    column. Constructs that need a step at run time (an expanding ``IN``, a
    literal ``LIMIT``, column defaults computed in Python) are not fit to be
    prepared.
    """

    __slots__ = ("_by_dialect", "_lock", "keyed", "statement")

    _MAX_KEY_SETS = 256
    """Compiled forms kept per dialect of a keyed statement (then the cache starts again)."""

    def __init__(self, statement: Any, *, keyed: bool = False) -> None:
        self.statement = statement
        self.keyed = keyed
        self._by_dialect: weakref.WeakKeyDictionary[Dialect, dict[Any, _Compiled]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def compiled(self, conn: Connection, values: Mapping[str, Any] | None = None) -> _Compiled:
        """The statement compiled for ``conn``'s dialect and schema translate map (and, when
        keyed, the columns that ``values`` sets)."""
        translate = conn.get_execution_options().get("schema_translate_map")
        keys = tuple(values) if self.keyed and values is not None else None
        key = (tuple(sorted(translate.items(), key=repr)) if translate else None, keys)
        by_map = self._by_dialect.get(conn.dialect)
        found = None if by_map is None else by_map.get(key)
        if found is None:
            column_keys = None
            if keys is not None:
                names = {c.key for c in self.statement.table.c}
                column_keys = [k for k in keys if k in names]
            found = _Compiled(self.statement, conn.dialect, translate, column_keys)
            with self._lock:
                cache = self._by_dialect.setdefault(conn.dialect, {})
                if len(cache) >= self._MAX_KEY_SETS:
                    cache.clear()
                cache[key] = found
        return found


def _observed(conn: Connection) -> bool:
    """True when echo or a cursor or error listener should see the statements."""
    d = conn.dispatch
    return bool(
        getattr(conn, "_echo", True)  # SQLAlchemy's own flag (absent: take the observed path)
        or d.before_cursor_execute
        or d.after_cursor_execute
        or conn.dialect.dispatch.handle_error
    )


class _Result:
    """A result of ``exec_driver_sql`` with the cursor's face (the observed path)."""

    __slots__ = ("_result",)

    def __init__(self, result: sa.CursorResult[Any]) -> None:
        self._result = result

    @property
    def description(self) -> Any:
        return self._result.cursor.description

    @property
    def rowcount(self) -> int:
        return self._result.rowcount

    def fetchone(self) -> Any:
        return self._result.fetchone()

    def fetchall(self) -> Any:
        return self._result.fetchall()

    def close(self) -> None:
        self._result.close()


def _execute(conn: Connection, sql: str, params: Any, many: bool = False) -> Any:
    """Run on the driver's cursor; returns the cursor, or raises SQLAlchemy's error."""
    if _observed(conn):
        return _Result(conn.exec_driver_sql(sql, params))
    dbapi_conn = conn.connection.dbapi_connection
    assert dbapi_conn is not None
    cursor = dbapi_conn.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        elif params is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, params)
    except conn.dialect.loaded_dbapi.Error as e:
        lost = conn.dialect.is_disconnect(e, dbapi_conn, cursor)
        cursor.close()
        if lost:
            conn.invalidate(e)
        raise sa.exc.DBAPIError.instance(
            sql,
            params,
            e,
            conn.dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=conn.dialect,
        ) from e
    return cursor


def run_text(conn: Connection, sql: str) -> None:
    """Run one statement without parameters (``SAVEPOINT x``) on the driver's cursor."""
    _execute(conn, sql, None).close()


def _fetch(conn: Connection, cursor: Any, c: _Compiled, one: bool) -> Any:
    try:
        if c.results is None:
            c.results = c.result_processors(conn.dialect, cursor.description)
        if one:
            raw = cursor.fetchone()
            return None if raw is None else c.read(raw)
        return [c.read(r) for r in cursor.fetchall()]
    except conn.dialect.loaded_dbapi.Error as e:  # pragma: no cover (fetching a prepared read)
        raise sa.exc.DBAPIError.instance(
            c.sql, None, e, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from e
    finally:
        cursor.close()


def fetch_one(conn: Connection, statement: Prepared, values: Mapping[str, Any]) -> Any:
    """The first row of a prepared ``SELECT`` (a named tuple), or None."""
    c = statement.compiled(conn)
    return _fetch(conn, _execute(conn, c.sql, c.params(values)), c, True)


def fetch_all(conn: Connection, statement: Prepared, values: Mapping[str, Any]) -> list[Any]:
    """Every row of a prepared ``SELECT`` (named tuples)."""
    c = statement.compiled(conn)
    out: list[Any] = _fetch(conn, _execute(conn, c.sql, c.params(values)), c, False)
    return out


def run(conn: Connection, statement: Prepared, values: Mapping[str, Any]) -> int:
    """Run a prepared write once; returns the number of rows it changed."""
    c = statement.compiled(conn, values)
    cursor = _execute(conn, c.sql, c.params(values))
    try:
        return int(cursor.rowcount)
    finally:
        cursor.close()


def run_many(conn: Connection, statement: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run a prepared write once per row (the driver's ``executemany``); the rows have the
    same keys."""
    if not rows:
        return
    c = statement.compiled(conn, rows[0])
    cursor = _execute(conn, c.sql, [c.params(r) for r in rows], many=True)
    cursor.close()
