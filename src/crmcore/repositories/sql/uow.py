"""The SQL unit of work (SQLAlchemy Core): SQLite, PostgreSQL, MariaDB/MySQL."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crmcore.errors import CRMError, RepositoryError, ValidationError
from crmcore.repositories._args import check_batch
from crmcore.repositories._customers import Customers
from crmcore.repositories._documents import Documents
from crmcore.repositories._events import Clock, check_clock, clock_now
from crmcore.repositories._opportunities import Opportunities
from crmcore.repositories._records import (
    Activities,
    BulkTransactions,
    Costs,
    Interactions,
    Surveys,
)
from crmcore.repositories._service_cases import ServiceCases
from crmcore.repositories.protocols import (
    ActivityRepository,
    CostRepository,
    CustomerRepository,
    DocumentRepository,
    InteractionRepository,
    OpportunityRepository,
    ServiceCaseRepository,
    SurveyRepository,
    TransactionRepository,
)
from crmcore.repositories.sql._customers import SqlCustomerStore
from crmcore.repositories.sql._documents import SqlDocumentStore
from crmcore.repositories.sql._engine import make_engine, translate
from crmcore.repositories.sql._erasure import SqlEraser
from crmcore.repositories.sql._opportunities import SqlOpportunityStore
from crmcore.repositories.sql._prepared import run_text
from crmcore.repositories.sql._records import (
    SqlActivityStore,
    SqlCostStore,
    SqlInteractionStore,
    SqlSurveyStore,
)
from crmcore.repositories.sql._service_cases import SqlServiceCaseStore
from crmcore.repositories.sql._session import SqlSession
from crmcore.repositories.sql._transactions import SqlTransactionStore
from crmcore.repositories.sql.schema import Namespace, ensure_schema, namespace

__all__ = ["SqlUnitOfWork"]

_ready: weakref.WeakKeyDictionary[Any, set[Namespace]] = weakref.WeakKeyDictionary()
_ready_lock = threading.Lock()


class _State:
    """A block's connection; its transaction, begun by the first statement after the block
    starts or commits (None until then), and the depth of the writes' savepoints."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.tx: sa.engine.Transaction | None = None
        self.after_commit: list[Callable[[Connection], None]] = []
        self.savepoints = 0


class SqlUnitOfWork:
    """A unit of work on an SQL database through SQLAlchemy Core.

    Build it from a URL (``sqlite:///crm.db`` is the embedded default;
    ``postgresql+psycopg://...`` and ``mysql+pymysql://...`` use the same
    code), from your own ``engine=``, or from an open ``connection=`` whose
    transaction it joins: then each ``with`` block is a savepoint inside
    your transaction, ``commit()`` releases the savepoint, and committing
    or closing the connection stays your business.

    Each thread that enters ``with uow:`` gets its own connection and
    transaction from the engine's pool. Tables are created on first use
    and the schema version is checked (see :mod:`crmcore.repositories.sql.schema`).
    ``clock=`` (a callable returning an aware UTC datetime) sets the time that
    stamps events as recorded (tests, imports of history).

    ``table_prefix=`` and ``schema=`` put crmcore's tables in a namespace of
    their own inside an application's database (``crm_customers``, or
    ``customers`` in schema ``crm``; see :func:`~crmcore.repositories.sql.schema.crmcore_metadata`).
    An engine's or connection's ``schema_translate_map`` applies to that
    schema as SQLAlchemy documents it. On first use crmcore checks that
    each table of the namespace that exists is its own and refuses a
    foreign one with a RepositoryError naming it.

    >>> import tempfile, pathlib
    >>> from crmcore.model import Customer
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "crm.db"
    >>> uow = SqlUnitOfWork.from_url(f"sqlite:///{path}")
    >>> with uow:
    ...     _ = uow.customers.add(Customer(id="c-1", name="Ada"))
    ...     uow.commit()
    >>> with uow:
    ...     uow.customers.get("c-1").name
    'Ada'
    >>> uow.close()
    """

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        connection: Connection | None = None,
        batch_size: int = 50_000,
        clock: Clock | None = None,
        table_prefix: str = "",
        schema: str | None = None,
    ) -> None:
        if (engine is None) == (connection is None):
            raise ValidationError("pass exactly one of 'engine' and 'connection'")
        if engine is not None and not isinstance(engine, Engine):
            raise ValidationError(f"'engine' must be an SQLAlchemy Engine: {engine!r}")
        if connection is not None and not isinstance(connection, Connection):
            raise ValidationError(f"'connection' must be an SQLAlchemy Connection: {connection!r}")
        check_batch(batch_size)
        self.clock: Clock = check_clock(clock)
        """The clock that stamps events' ``recorded_at`` and bounds their effective times."""
        self._engine: Engine = engine if engine is not None else connection.engine  # type: ignore[union-attr]  # one of them is set (checked above)
        self.namespace: Namespace = _translated(
            namespace(table_prefix=table_prefix, schema=schema),
            (connection if connection is not None else self._engine).get_execution_options(),
        )
        """Where the tables are: prefix, schema (after ``schema_translate_map``), tables."""
        self._connection = connection
        self._owns_engine = False
        self.batch_size = batch_size
        """Rows per statement of the bulk writes (``add_log``, ``add_many``)."""
        self._local = threading.local()
        self.session: SqlSession = _Session(self)
        """What the repositories use of this unit of work (:class:`~crmcore.repositories.sql._session.SqlSession`)."""
        self.customers: CustomerRepository = Customers(SqlCustomerStore(self.session))
        self.interactions: InteractionRepository = Interactions(SqlInteractionStore(self.session))
        self.transactions: TransactionRepository = BulkTransactions(
            SqlTransactionStore(self.session)
        )
        self.opportunities: OpportunityRepository = Opportunities(
            SqlOpportunityStore(self.session), self.session.now
        )
        self.activities: ActivityRepository = Activities(SqlActivityStore(self.session))
        self.surveys: SurveyRepository = Surveys(SqlSurveyStore(self.session))
        self.costs: CostRepository = Costs(SqlCostStore(self.session))
        self.service_cases: ServiceCaseRepository = ServiceCases(SqlServiceCaseStore(self.session))
        """Service cases (the optional capability :class:`~crmcore.repositories.ServiceCaseUnitOfWork`)."""
        self.documents: DocumentRepository = Documents(SqlDocumentStore(self.session))

    @classmethod
    def from_url(
        cls,
        url: str | sa.URL | Path,
        *,
        clock: Clock | None = None,
        table_prefix: str = "",
        schema: str | None = None,
        **engine_kwargs: Any,
    ) -> SqlUnitOfWork:
        """A unit of work on a new engine for ``url`` (a ``Path`` means an SQLite file).

        SQLite engines get WAL, foreign keys and a busy timeout
        (:func:`~crmcore.repositories.sql.configure_sqlite_engine`).
        """
        if isinstance(url, Path):
            url = f"sqlite:///{url}"
        uow = cls(
            make_engine(url, **engine_kwargs),
            clock=clock,
            table_prefix=table_prefix,
            schema=schema,
        )
        uow._owns_engine = True
        return uow

    def now(self) -> datetime:
        """The current time by :attr:`clock` (stamps events as recorded)."""
        return clock_now(self.clock)

    @property
    def engine(self) -> Engine:
        """The engine (yours, or the one :meth:`from_url` made)."""
        return self._engine

    @property
    def metadata(self) -> sa.MetaData:
        """The SQLAlchemy ``MetaData`` of this unit of work's tables (its namespace)."""
        return self.namespace.metadata

    @property
    def dialect(self) -> str:
        """The dialect name: ``sqlite``, ``postgresql``, ``mysql`` (MariaDB too)."""
        return str(self._engine.dialect.name)

    @property
    def active(self) -> bool:
        """True inside ``with uow:`` in this thread."""
        return getattr(self._local, "state", None) is not None

    def close(self) -> None:
        """Dispose of the engine if :meth:`from_url` made it (yours is left alone)."""
        if self._owns_engine:
            self._engine.dispose()

    # -- the transaction -------------------------------------------------------------------
    def _ensure_schema(self, conn: Connection | None) -> None:
        key: Any = self._connection if self._connection is not None else self._engine
        ns = self.namespace
        with _ready_lock:
            ready = ns in _ready.get(key, ())
        if conn is not None:
            # the application's transaction may have rolled our tables back: look every time
            stamp = ns.schema_table
            if not ready or not sa.inspect(conn).has_table(stamp.name, schema=stamp.schema):
                with conn.begin_nested():
                    ensure_schema(conn, ns)
        elif ready:
            return
        else:
            last: sa.exc.SQLAlchemyError | None = None
            for _ in range(5):  # several processes may create the tables at once
                try:
                    with self._engine.begin() as c:
                        ensure_schema(c, ns)
                    break
                except sa.exc.SQLAlchemyError as e:
                    last = e
            else:
                assert last is not None
                raise translate(last, "creating the crmcore schema") from last
        with _ready_lock:
            _ready.setdefault(key, set()).add(ns)

    def __enter__(self) -> Self:
        if self.active:
            raise RepositoryError("this unit of work is already active in this thread")
        try:
            if self._connection is not None:
                conn = self._connection
                self._ensure_schema(conn)
            else:
                self._ensure_schema(None)
                conn = self._engine.connect()
        except sa.exc.SQLAlchemyError as e:
            raise translate(e, "opening the unit of work") from e
        self._local.state = _State(conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        state: _State | None = getattr(self._local, "state", None)
        self._local.state = None
        if state is None:
            return
        try:
            if state.tx is not None and state.tx.is_active:
                state.tx.rollback()
        except sa.exc.SQLAlchemyError as e:
            if exc is None:
                raise translate(e, "rolling back") from e
        finally:
            if self._connection is None:
                state.conn.close()

    def _state(self) -> _State:
        state: _State | None = getattr(self._local, "state", None)
        if state is None:
            raise RepositoryError(
                "the unit of work is not active: use the repositories inside `with uow:`"
            )
        return state

    def _begin(self, conn: Connection) -> sa.engine.Transaction:
        if self._connection is not None:
            return conn.begin_nested()
        tx = conn.get_transaction()  # SQLAlchemy's autobegin, if something ran outside us
        return tx if tx is not None else conn.begin()

    def commit(self) -> None:
        """Make this block's changes durable and visible (or, on a joined connection, part of
        the outer transaction). The block may go on: its next statement begins a fresh
        transaction."""
        state = self._state()
        actions, state.after_commit = state.after_commit, []
        tx, state.tx = state.tx, None
        if tx is None:  # nothing ran since the block started or last committed
            return
        try:
            tx.commit()
        except sa.exc.SQLAlchemyError as e:
            if tx.is_active:
                state.tx = tx
            raise translate(e, "committing") from e
        try:
            for action in actions:  # between transactions (an erasure's WAL checkpoint)
                action(state.conn)
        except sa.exc.SQLAlchemyError as e:
            raise translate(e, "committing") from e

    def rollback(self) -> None:
        """Discard the changes made since the last commit."""
        state = self._state()
        state.after_commit = []
        tx, state.tx = state.tx, None
        if tx is None:
            return
        try:
            tx.rollback()
        except sa.exc.SQLAlchemyError as e:
            raise translate(e, "rolling back") from e

    def eraser(self) -> SqlEraser:
        """What :func:`~crmcore.repositories.privacy.erase_customer` rewrites in place with
        (:class:`~crmcore.repositories.privacy.Eraser`), and the maintenance step of
        :func:`~crmcore.repositories.privacy.purge_erased_copies`.

        >>> SqlUnitOfWork.from_url("sqlite://").eraser().purge()
        ['VACUUM', 'PRAGMA wal_checkpoint(TRUNCATE)']
        """
        return SqlEraser(self.session)

    # -- helpers for the repositories ------------------------------------------------------
    def _conn(self) -> Connection:
        """The block's connection, in its transaction (begun here when none is)."""
        state = self._state()
        if state.tx is None:
            try:
                state.tx = self._begin(state.conn)
            except sa.exc.SQLAlchemyError as e:
                raise translate(e, "beginning a transaction") from e
        return state.conn

    def _after_commit(self, action: Callable[[Connection], None]) -> None:
        """Run ``action(connection)`` once after this block's next successful commit, outside
        any transaction; dropped on rollback, and when the block joined the caller's
        connection (whose transaction is the caller's to end)."""
        state = self._state()
        if self._connection is None and action not in state.after_commit:
            state.after_commit.append(action)

    @contextmanager
    def _writing(self, what: str) -> Iterator[Connection]:
        """A savepoint around one repository write: an error undoes the write only. The
        savepoint statements run on the driver's cursor (:mod:`._prepared`)."""
        conn = self._conn()
        state = self._state()
        name = f"crmcore_write_{state.savepoints}"
        try:
            run_text(conn, f"SAVEPOINT {name}")
        except sa.exc.SQLAlchemyError as e:
            raise translate(e, what) from e
        state.savepoints += 1
        try:
            yield conn
        except sa.exc.SQLAlchemyError as e:
            _quiet_rollback(conn, name)
            raise translate(e, what) from e
        except BaseException:
            _quiet_rollback(conn, name)
            raise
        else:
            try:
                run_text(conn, f"RELEASE SAVEPOINT {name}")
            except sa.exc.SQLAlchemyError as e:
                raise translate(e, what) from e
        finally:
            state.savepoints -= 1

    @contextmanager
    def _reading(self, what: str) -> Iterator[Connection]:
        """Translate driver errors of a read."""
        conn = self._conn()
        try:
            yield conn
        except CRMError:
            raise
        except sa.exc.SQLAlchemyError as e:
            raise translate(e, what) from e


class _Session:
    """The :class:`~crmcore.repositories.sql._session.SqlSession` of one unit of work: its
    connection helpers, bound once (no indirection on the hot path of a move)."""

    __slots__ = ("_uow", "after_commit", "now", "reading", "writing")

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self.reading = uow._reading
        self.writing = uow._writing
        self.after_commit = uow._after_commit
        self.now = uow.now

    @property
    def namespace(self) -> Namespace:
        return self._uow.namespace

    @property
    def batch_size(self) -> int:
        return self._uow.batch_size

    @property
    def dialect(self) -> str:
        return self._uow.dialect

    @property
    def engine(self) -> Engine:
        return self._uow.engine


def _translated(ns: Namespace, options: Mapping[str, Any]) -> Namespace:
    """``ns`` with its schema as the ``schema_translate_map`` of ``options`` renders it, so that
    every statement, the raw-cursor ones and the inspector's included, names the tables
    where SQLAlchemy's own statements find them. A map that would translate the result again
    (``{None: "a", "a": "b"}``) is refused: SQLAlchemy translates once."""
    mapping = options.get("schema_translate_map") or {}
    if ns.schema not in mapping:
        return ns
    target = mapping[ns.schema]
    if target != ns.schema and target in mapping and mapping[target] != target:
        raise ValidationError(
            f"the schema_translate_map maps crmcore's schema {ns.schema!r} to {target!r} and "
            f"{target!r} on to {mapping[target]!r}: give crmcore a schema the map translates once"
        )
    return namespace(table_prefix=ns.table_prefix, schema=target)


def _quiet_rollback(conn: Connection, name: str) -> None:
    try:
        run_text(conn, f"ROLLBACK TO SAVEPOINT {name}")
        run_text(conn, f"RELEASE SAVEPOINT {name}")
    except sa.exc.SQLAlchemyError:
        pass  # the outer transaction is rolled back by the unit of work anyway
