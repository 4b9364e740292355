"""Engines for the SQL backend and the translation of driver errors into crmcore errors."""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from crmcore.errors import ConcurrencyError, CRMError, DuplicateError, RepositoryError
from crmcore.options import expect_instance
from crmcore.repositories.sql._prepared import run_text

__all__ = ["BUSY_TIMEOUT_MS", "configure_sqlite_engine", "make_engine", "translate"]

BUSY_TIMEOUT_MS = 30_000
"""How long an SQLite writer waits for another one before giving up."""
CACHE_KIB = 65_536
"""SQLite page cache per connection, in KiB."""


def configure_sqlite_engine(engine: Engine) -> Engine:
    """Make a pysqlite engine behave as crmcore needs; returns it.

    Every connection gets WAL journaling, foreign keys on, a busy timeout,
    a 64 MiB page cache and ``synchronous=NORMAL``; transactions begin with an explicit
    ``BEGIN`` so that savepoints work (SQLAlchemy's documented recipe for
    pysqlite). :meth:`SqlUnitOfWork.from_url` does this for you; call it
    for an SQLite engine you build yourself.

    >>> import sqlalchemy as sa
    >>> e = configure_sqlite_engine(sa.create_engine("sqlite://"))
    >>> with e.connect() as c:
    ...     c.exec_driver_sql("PRAGMA foreign_keys").scalar()
    1
    """
    expect_instance(engine, Engine, name="engine", what="an SQLAlchemy Engine")
    if engine.dialect.name != "sqlite":
        return engine
    if getattr(engine, "_crmcore_configured", False):
        return engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy emit BEGIN (savepoints need it)
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
            # 64 MiB page cache: bulk inserts into the indexes of a large table need it (2x)
            cur.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            if engine.url.database not in (None, "", ":memory:"):
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        run_text(conn, "BEGIN")  # on the driver's cursor: no statement set-up per transaction

    engine._crmcore_configured = True  # type: ignore[attr-defined]  # marker so we configure once
    return engine


def make_engine(url: str | sa.URL, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite engines are configured by :func:`configure_sqlite_engine`.

    >>> make_engine("sqlite://").dialect.name
    'sqlite'
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as e:
        raise RepositoryError(f"'url' is not a database URL: {url!r} ({e})") from e
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {}).setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
    else:
        kwargs.setdefault("pool_pre_ping", True)
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (sa.exc.ArgumentError, ImportError) as e:
        raise RepositoryError(f"cannot create an engine for {parsed!r}: {e}") from e
    return configure_sqlite_engine(engine)


def _short(orig: BaseException | None) -> str:
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def _is_unique(orig: BaseException | None) -> bool:
    if isinstance(orig, sqlite3.IntegrityError):
        msg = str(orig)
        return "UNIQUE" in msg or "PRIMARY KEY" in msg
    if getattr(orig, "sqlstate", None) == "23505":  # psycopg unique_violation
        return True
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return bool(args) and args[0] == 1062  # MySQL ER_DUP_ENTRY


def _is_conflict(orig: BaseException | None) -> bool:
    if isinstance(orig, sqlite3.OperationalError):
        msg = str(orig)
        return "locked" in msg or "busy" in msg
    if getattr(orig, "sqlstate", None) in ("40001", "40P01", "55P03"):
        return True  # serialization failure, deadlock, lock not available
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return bool(args) and args[0] in (1205, 1213)  # lock wait timeout, deadlock


def translate(error: sa.exc.SQLAlchemyError, what: str) -> CRMError:
    """The crmcore error for a driver error (raise it ``from`` the original).

    Unique violations become DuplicateError, lock conflicts and deadlocks
    ConcurrencyError (retry the unit of work), anything else RepositoryError.

    >>> import sqlalchemy as sa
    >>> translate(sa.exc.OperationalError("SELECT 1", {}, Exception("boom")), "reading customers")
    RepositoryError('reading customers failed: boom')
    """
    orig = getattr(error, "orig", None)
    if isinstance(error, sa.exc.IntegrityError) and _is_unique(orig):
        return DuplicateError(f"{what}: already stored ({_short(orig)})")
    if _is_conflict(orig):
        return ConcurrencyError(
            f"{what}: a concurrent unit of work holds or changed the data ({_short(orig)}); "
            "nothing was changed, retry the unit of work"
        )
    return RepositoryError(f"{what} failed: {_short(orig if orig is not None else error)}")
