"""crmcore's repositories inside a Django application's transaction, on Django's own connection.

:func:`django_unit_of_work` opens a Django atomic block on a database alias
and yields a :class:`~crmcore.repositories.sql.SqlUnitOfWork` joined to it:
crmcore's reads and writes run on the very DBAPI connection Django uses, in
the same transaction, each crmcore block as a savepoint inside it. Django's
``transaction.atomic`` decides: a Django row and a crmcore record written in
it are committed together or rolled back together.

Why not ``create_engine(creator=lambda: connection.connection)``: SQLAlchemy's
pool treats what ``creator`` returns as its own connection. It rolls it back
after its first-connect checks and whenever the connection goes back to the
pool (its "reset on return"), which silently discarded the Django insert
pending in that transaction; it closes it when it discards it; and the
dialect's connect hooks change it (SQLite: a ``regexp`` function replacing
Django's; psycopg: a notice handler added on every checkout). Here SQLAlchemy
gets Django's connection behind a facade whose ``commit``, ``rollback`` and
``close`` do nothing and whose connect-time hooks are not applied, through a
pool that keeps nothing (``NullPool``): transaction control and the
connection's life stay Django's.

Supported: Django's SQLite and PostgreSQL backends (tested with psycopg 3; on
psycopg2 SQLAlchemy's psycopg2 dialect is used, untested).
crmcore's tables are created on first use inside the transaction (both
databases have transactional DDL); SQLite columns declared ``DATE`` come back
converted by Django's ``detect_types`` and are read as dates.

>>> django_unit_of_work(using="")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'using' must be the alias of a Django database (a non-empty string): ''
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from importlib import import_module
from typing import Any

import sqlalchemy as sa

from crmcore.errors import RepositoryError, ValidationError
from crmcore.repositories._events import Clock, check_clock
from crmcore.repositories.sql import uow as uow_module
from crmcore.repositories.sql.uow import SqlUnitOfWork

__all__ = ["django_unit_of_work"]

_engines: dict[tuple[Any, ...], sa.Engine] = {}
_engines_lock = threading.Lock()
_checked: set[tuple[sa.Engine, Any]] = set()
"""(engine, namespace) pairs whose crmcore tables one unit of work has checked on that database."""


class _Borrowed:
    """Django's DBAPI connection as SQLAlchemy sees it: statements go through, transaction
    control, closing and connect-time hooks do not (they are Django's)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        object.__setattr__(self, "_conn", conn)

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        return self._conn.cursor(*args, **kwargs)

    def commit(self) -> None:
        """Django's transaction commits (``transaction.atomic``), not SQLAlchemy's pool."""

    def rollback(self) -> None:
        """As :meth:`commit`: SQLAlchemy's reset on return must not roll Django back."""

    def close(self) -> None:
        """Django closes its connection."""

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        """SQLAlchemy's pysqlite connect hook (``regexp``, ``floor``): Django has its own."""

    def add_notice_handler(self, *args: Any, **kwargs: Any) -> None:
        """SQLAlchemy's psycopg connect hook: one handler per checkout would pile up."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"crmcore does not change Django's database connection (setting {name!r})"
        )


def _dialect_url(vendor: str, dbapi_conn: Any) -> str:
    if vendor == "sqlite":
        return "sqlite+pysqlite://"
    if vendor == "postgresql":
        module = type(dbapi_conn).__module__
        return (
            "postgresql+psycopg2://" if module.startswith("psycopg2") else "postgresql+psycopg://"
        )
    raise RepositoryError(
        f"django_unit_of_work supports Django's SQLite and PostgreSQL backends, not {vendor!r}: "
        "use SqlUnitOfWork on its own engine beside Django (docs/repositories.md, Django)"
    )


def _engine(connection: Any) -> sa.Engine:
    """One engine per Django database (alias and settings): its dialect, and a pool that
    hands out the calling thread's Django connection each time, keeping nothing."""
    connections = import_module("django.db").connections
    alias = connection.alias
    s = connection.settings_dict
    key: tuple[Any, ...] = (alias, connection.vendor, type(connection.connection).__module__)
    key += tuple(str(s.get(k)) for k in ("NAME", "HOST", "PORT", "USER"))
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:

            def borrow() -> _Borrowed:
                conn = connections[alias]
                conn.ensure_connection()
                return _Borrowed(conn.connection)

            kwargs: dict[str, Any] = {"creator": borrow, "poolclass": sa.pool.NullPool}
            if connection.vendor == "sqlite":
                kwargs["native_datetime"] = True  # Django's detect_types converts DATE itself
            else:
                kwargs["use_native_hstore"] = False  # no adapter registered on Django's connection
            engine = sa.create_engine(
                _dialect_url(connection.vendor, connection.connection), **kwargs
            )
            _engines[key] = engine
    return engine


def django_unit_of_work(
    using: str = "default",
    *,
    clock: Clock | None = None,
    table_prefix: str = "",
    schema: str | None = None,
) -> AbstractContextManager[SqlUnitOfWork]:
    """A Django atomic block on database ``using`` with a crmcore unit of work joined to it.

    Use it as ``with django_unit_of_work() as uow:`` inside a view (or any code
    that uses Django's database); inside, use the repositories and call
    ``uow.commit()`` to keep crmcore's changes, as in any ``with uow:`` block
    (without it they are rolled back on leaving, Django's stay). Django's
    ``transaction.atomic`` around it decides what is durable: leaving the
    outermost atomic block normally commits the Django rows and crmcore's
    records together; an exception rolls both back. Nested in an atomic block
    of the view it is a savepoint of Django's, and the view's block decides.
    ``clock=``, ``table_prefix=`` and ``schema=`` as for :class:`SqlUnitOfWork`: a
    Django project whose own tables are called ``customers`` keeps crmcore's apart
    with ``table_prefix="crm_"`` (or, on PostgreSQL, ``schema="crm"``).
    """
    if not isinstance(using, str) or not using.strip():
        raise ValidationError(
            f"'using' must be the alias of a Django database (a non-empty string): {using!r}"
        )
    check_clock(clock)
    options = {"table_prefix": table_prefix, "schema": schema}
    return _joined(using, clock, options)


@contextmanager
def _joined(using: str, clock: Clock | None, options: dict[str, Any]) -> Iterator[SqlUnitOfWork]:
    try:
        db = import_module("django.db")
    except ImportError as e:  # pragma: no cover (Django is in the dev extra)
        raise RepositoryError(
            "django_unit_of_work needs Django (pip install django): it is not installed"
        ) from e
    connections, transaction = db.connections, db.transaction
    with transaction.atomic(using=using):
        connection = connections[using]
        connection.ensure_connection()
        engine = _engine(connection)
        with engine.connect() as conn:
            uow = SqlUnitOfWork(connection=conn, clock=clock, **options)
            if (engine, uow.namespace) in _checked:
                # the tables were created and checked on this database before: on this new
                # connection the unit of work only looks that they are there (they may have
                # been rolled back with the transaction that made them), as on a known one
                with uow_module._ready_lock:
                    uow_module._ready.setdefault(conn, set()).add(uow.namespace)
            with uow:
                yield uow
            _checked.add((engine, uow.namespace))
