"""The SQL store of transactions, with the columnar bulk insert and the columnar read (the
bridge): the backend part of :class:`crmcore.repositories._records.BulkTransactions`, which
checks every argument."""

from __future__ import annotations

import builtins
import functools
import logging
import sqlite3
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmcore.errors import ConcurrencyError, DuplicateError
from crmcore.model import Transaction, TransactionKind
from crmcore.repositories._codec import from_e6, from_micros, to_e6, to_micros
from crmcore.repositories._columnar import LOG_COLUMNS, build_log, single_currency
from crmcore.repositories._records import TRANSACTIONS
from crmcore.repositories._spec import Query
from crmcore.repositories.sql import schema
from crmcore.repositories.sql._query import IN_LIST, customer_groups
from crmcore.repositories.sql._records import SqlRecordStore
from crmcore.repositories.sql._statistics import MIN_ROWS, analyze, is_stale
from crmcore.tables import TransactionLog

__all__ = ["SqlTransactionStore"]

_log = logging.getLogger("crmcore.repositories")

_KINDS = list(TransactionKind)
_CHUNK = IN_LIST  # ids per IN (...) list
_ROWS_PER_INSERT = 128  # rows per INSERT statement on SQLite (within its bound-parameter limit)
_DEFER_INDEXES_ROWS = 50_000  # a load this big (and >= the rows stored) rebuilds SQLite indexes
_ORDER_INDEXES = ("ix_transactions_customer_time", "ix_transactions_time")
"""Secondary indexes on random keys: the costly ones to grow row by row. ``external_ref`` stays
during a multi-batch bulk load: the import's idempotency lookups need it."""
_ROW_DTYPE = np.dtype([("tk", "i8"), ("a", "i8"), ("q", "i8")])
_ROW_ID_DTYPE = np.dtype([("tk", "i8"), ("a", "i8"), ("q", "i8"), ("id", "O")])
Rows = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]
"""A group's rows read as columns: the integers (``_ROW_DTYPE``) and the ids (objects)."""
_CONCAT_MAX = 4_000_000  # rows read as three concatenated strings on SQLite (~40 MB of text)
_ID_SCAN_SHARE = 8  # SQLite: a read of >= 1/8 of the table takes its ids from one id-index scan


@contextmanager
def _raw_cursor(conn: Connection, statement: str) -> Iterator[Any]:
    """The raw DBAPI cursor of ``conn`` (no SQLAlchemy row objects or parameter processing,
    for the bulk paths), closed after use; a driver error becomes SQLAlchemy's DBAPIError
    naming ``statement``, like any other statement's, so the unit of work translates it."""
    dialect = conn.dialect
    dbapi_conn = conn.connection.driver_connection
    assert dbapi_conn is not None
    cur = dbapi_conn.cursor()
    try:
        yield cur
    except dialect.loaded_dbapi.Error as e:
        raise sa.exc.DBAPIError.instance(
            statement, None, e, dialect.loaded_dbapi.Error, dialect=dialect
        ) from e
    finally:
        cur.close()


def _raw_read(conn: Connection, stmt: sa.Select[Any], consume: Callable[[Any], Any]) -> Any:
    """Run ``stmt`` on the raw DBAPI cursor and return ``consume(cursor)``."""
    sql, params = _raw_sql(conn, stmt)
    with _raw_cursor(conn, sql) as cur:
        cur.execute(sql, params)
        return consume(cur)


def _one(cur: Any) -> Any:
    return cur.fetchone()


def _structured_rows(cur: Any) -> Rows:
    got = np.fromiter(cur, dtype=_ROW_ID_DTYPE)
    rows = np.empty(len(got), dtype=_ROW_DTYPE)
    rows["tk"], rows["a"], rows["q"] = got["tk"], got["a"], got["q"]
    return rows, got["id"]


IdMap = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]
"""The ids of an SQLite table by rowid: ``ids[rowid]`` (None where no row) and ``present[rowid]``."""
_SPARSE = 4  # rowids more than 4x sparser than the rows: look them up by binary search


def _sqlite_id_map(conn: Connection, table: sa.Table) -> IdMap | None:
    """SQLite: the id of every row of ``table`` by rowid, from one scan of its id index
    (the primary key's, which holds the rowid): two joined strings, one Python object each.
    None when the table has no rowid or the strings do not parse."""
    rowid: Any = sa.literal_column("rowid")
    stmt = sa.select(sa.func.group_concat(rowid), sa.func.group_concat(table.c.id, sa.func.char(0)))
    try:
        got = _raw_read(conn, stmt.select_from(table), _one)
    except sa.exc.DBAPIError:
        return None
    if got is None or got[0] is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    rowids = _ints(got[0])
    ids = np.array(got[1].split("\x00"), dtype=object)
    if rowids is None or len(rowids) != len(ids) or (len(rowids) and rowids.min() < 0):
        return None
    top = int(rowids.max()) if len(rowids) else -1
    if top + 1 > _SPARSE * len(rowids) + 1024:
        return None  # rowids this sparse: the caller reads the ids row by row
    by_rowid = np.empty(top + 1, dtype=object)
    present = np.zeros(top + 1, dtype=bool)
    by_rowid[rowids] = ids  # one scatter and, per read, one gather: no sort, no search
    present[rowids] = True
    return by_rowid, present


def _ints(text: str) -> np.ndarray[Any, Any] | None:
    """A comma-joined string of integers as an int64 array (None when malformed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a malformed string: read row by row instead
        try:
            return np.fromstring(text, dtype=np.int64, sep=",")
        except (DeprecationWarning, ValueError):
            return None


def _read_concatenated(
    conn: Connection,
    stmt: sa.Select[Any],
    counts: builtins.list[int],
    id_map: Callable[[], IdMap | None] | None = None,
) -> Rows | None:
    """SQLite: the ordered rows as three comma-joined strings of integers and the ids (one
    Python object per column, not four per row), parsed by numpy: about twice as fast as
    iterating the cursor. The ids come as one NUL-joined string (NUL is the one character
    no stored id can hold, :mod:`crmcore.model._storable`) or, with ``id_map``, as rowids
    looked up in the map (the customer/time index holds the rowid, not the id: a large
    read scans the id index once instead of visiting the table once per row).

    SQLite concatenates in the order its subquery delivers, which its documentation does
    not promise: the result is checked (count, and time order within each customer) and
    None returned when it does not hold, so the caller reads row by row instead.
    """
    inner = stmt.subquery()
    *numbers, last = inner.c
    joined = [sa.func.group_concat(col) for col in numbers]
    joined.append(
        sa.func.group_concat(last) if id_map else sa.func.group_concat(last, sa.func.char(0))
    )
    got = _raw_read(conn, sa.select(*joined), _one)
    n = sum(counts)
    if got is None or any(not isinstance(v, str) for v in got):
        return None
    cols = [_ints(v) for v in got[:3]]
    if any(col is None or len(col) != n for col in cols):
        return None
    times = cols[0] >> 3  # type: ignore[operator]  # checked above: not None
    step = np.diff(times) < 0
    step[np.cumsum(counts)[:-1] - 1] = False  # a new customer may start earlier
    if step.any():
        return None
    if id_map is None:
        ids = np.array(got[3].split("\x00"), dtype=object)
    else:
        rowids, mapped = _ints(got[3]), id_map()
        if rowids is None or mapped is None or len(rowids) != n:
            return None
        by_rowid, present = mapped
        if len(rowids) and (rowids.min() < 0 or rowids.max() >= len(present)):
            return None  # a row written between the two statements: read row by row
        if not present[rowids].all():
            return None
        ids = by_rowid[rowids]
    if len(ids) != n:
        return None
    rows = np.empty(n, dtype=_ROW_DTYPE)
    rows["tk"], rows["a"], rows["q"] = cols
    return rows, ids


assert len(TransactionKind) <= 8  # read_log packs the kind code into 3 bits


def _raw_sql(conn: Connection, stmt: Any) -> tuple[str, Any]:
    """The driver SQL and parameters of a statement, for the raw DBAPI cursor."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positiontup is not None:
        return str(compiled), tuple(params[name] for name in compiled.positiontup)
    return str(compiled), params


class SqlTransactionStore(SqlRecordStore[Transaction]):
    """Transactions in SQL (a :class:`~crmcore.repositories._records.BulkLoadStore`)."""

    spec = TRANSACTIONS

    def _row(self, r: Transaction) -> dict[str, Any]:
        return {
            "id": r.id,
            "customer_id": r.customer_id,
            "occurred_at": to_micros(r.occurred_at, "occurred_at"),
            "amount_e6": to_e6(r.amount.amount, "amount"),
            "currency": r.amount.currency,
            "kind": r.kind.code,
            "quantity": r.quantity,
            "product": r.product,
            "category": r.category,
            "channel": r.channel,
            "external_ref": r.external_ref,
        }

    def _obj(self, row: Any) -> Transaction:
        return Transaction(
            id=row.id,
            customer_id=row.customer_id,
            occurred_at=from_micros(row.occurred_at),
            amount=from_e6(row.amount_e6, row.currency),
            kind=_KINDS[row.kind],
            quantity=int(row.quantity),
            product=row.product,
            category=row.category,
            channel=row.channel,
            external_ref=row.external_ref,
        )

    def count(self) -> int:
        """How many transactions are stored."""
        with self._session.reading("counting transactions") as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()
            )

    def external_refs(self, refs: Sequence[str]) -> set[str]:
        """The subset of ``refs`` already stored as ``external_ref`` (an index lookup per chunk).

        The chunks of :data:`_CHUNK` keys go through one prepared statement on the raw DBAPI
        cursor (an idempotent re-run of a large import looks up every key).
        """
        wanted = sorted(set(refs))
        found: set[str] = set()
        if not wanted:
            return found
        with self._session.reading("looking up external references") as conn:
            dialect = conn.dialect
            q = dialect.identifier_preparer.quote
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            head = f"SELECT DISTINCT {q('external_ref')} FROM {dialect.identifier_preparer.format_table(self.table)} WHERE {q('external_ref')} IN "
            with _raw_cursor(conn, head + "(...)") as cur:
                for i in range(0, len(wanted), _CHUNK):
                    part = wanted[i : i + _CHUNK]
                    cur.execute(head + f"({', '.join([mark] * len(part))})", part)
                    found.update(r[0] for r in cur.fetchall())
        return found

    # -- the bridge ----------------------------------------------------------------------------
    def insert_columns(self, cols: Mapping[str, Sequence[Any]]) -> str | None:
        """Insert the given columns (the others are NULL); all or nothing: the id of a row
        already stored (then nothing is), else None.

        On SQLite, up to :data:`_ROWS_PER_INSERT` rows go in one ``INSERT ... VALUES (...), (...)``:
        one statement step per group instead of per row (pysqlite's ``executemany`` costs
        about as much per step as SQLite's insert itself); the rows travel as one flat list
        of values, interleaved column by column with slice assignments.
        """
        try:
            self._insert(cols)
        except DuplicateError:
            clash = self.clash_among(cols["id"])
            if clash is None:
                raise
            return clash
        return None

    def _insert(self, cols: Mapping[str, Sequence[Any]]) -> None:
        n = len(cols["id"])
        step = self._session.batch_size
        with self._session.writing(f"adding {n} transactions") as conn:
            dialect = conn.dialect
            used = [c for c in LOG_COLUMNS if c in cols]
            width = len(used)
            names = ", ".join(dialect.identifier_preparer.quote(c) for c in used)
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            row = f"({', '.join([mark] * width)})"
            sql = f"INSERT INTO {dialect.identifier_preparer.format_table(self.table)} ({names}) VALUES "
            columns = [cols[c] for c in used]
            rebuild = self._defer_indexes(conn, n)
            with _raw_cursor(conn, sql + row) as cur:
                group = 1
                if dialect.name == "sqlite":  # as many rows as the bound-parameter limit allows
                    limit = cur.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
                    group = max(1, min(_ROWS_PER_INSERT, limit // width))
                for i in range(0, n, step):
                    part = columns if n <= step else [c[i : i + step] for c in columns]
                    m = len(part[0])
                    full = m - m % group
                    if full:
                        flat: list[Any] = [None] * (full * width)
                        for j, c in enumerate(part):
                            flat[j::width] = c if full == m else c[:full]
                        values = zip(*[iter(flat)] * (width * group), strict=True)
                        # pysqlite takes the iterator; other drivers get a list, as documented
                        cur.executemany(
                            sql + ", ".join([row] * group), values if group > 1 else list(values)
                        )
                    if full < m:
                        rest = zip(*(c[full:] for c in part), strict=True)
                        cur.executemany(sql + row, list(rest))
            if rebuild:
                with schema.index_build_memory(conn):
                    for index in rebuild:
                        index.create(conn)
            if n >= MIN_ROWS and is_stale(conn, self.table, n):
                self._session.after_commit(self._analyze_after_commit)

    def _analyze_after_commit(self, conn: Connection) -> None:
        """After the commit that stored a bulk load: ``ANALYZE`` in a transaction of its own
        (a failure is logged: the rows are committed, the statistics stay as they were)."""
        try:
            analyze(conn, self.table)
            conn.commit()
        except sa.exc.SQLAlchemyError as e:
            conn.rollback()
            _log.warning("ANALYZE of %s after a bulk load failed: %s", self.table.name, e)

    def reserve_writes(self) -> None:
        """SQLite: take the database's write lock now, waiting up to the busy timeout for
        another writer; call it first in a block that reads, then writes (an import's batch).
        Without it, a block that read before another writer committed cannot write at all:
        SQLite refuses it at once, without waiting. Other databases: nothing (their writers
        lock rows, not the database).
        """
        if self._session.dialect != "sqlite":
            return
        stamp = self._session.namespace.schema_table
        with self._session.writing("waiting for the database's write lock") as conn:
            # an UPDATE that matches nothing still takes the lock (RESERVED), and keeps it
            conn.execute(sa.update(stamp).where(sa.false()).values(version=stamp.c.version))

    def refresh_statistics(self) -> bool:
        """Refresh the planner statistics of the table where the database needs it and they
        are stale: ``ANALYZE`` on PostgreSQL when the rows changed since the last analysis
        reach the rows it counted (at least 10,000; :mod:`._statistics`); True when it ran.
        :meth:`insert_columns` does this after the commit of a load that doubles the table;
        an import calls this first, for the rows a crashed run stored.
        """
        with self._session.writing("refreshing the statistics of the transactions") as conn:
            if not is_stale(conn, self.table):
                return False
            analyze(conn, self.table)
            return True

    def _defer_indexes(self, conn: Connection, n: int) -> builtins.list[sa.Index]:
        """SQLite, a load of ``n`` rows at least as big as the table: drop the secondary indexes,
        to be rebuilt by one sort each after the insert (SQLite grows indexes on random keys
        row by row 3x slower than it sorts them afresh).

        SQLite's DDL is transactional: a failure rolls the savepoint back, indexes included,
        and other connections never see the table without them.
        """
        if not self._worth_deferring(conn, n):
            return []
        present = self._present_indexes(conn)
        dropped = [ix for ix in self.table.indexes if ix.name in present]
        for index in dropped:
            index.drop(conn)
        return dropped

    def _worth_deferring(self, conn: Connection, n: int) -> bool:
        if conn.dialect.name != "sqlite" or n < _DEFER_INDEXES_ROWS:
            return False
        # max(rowid) bounds the row count and costs one B-tree descent (count(*) scans)
        top = conn.exec_driver_sql(
            f"SELECT max(rowid) FROM {conn.dialect.identifier_preparer.format_table(self.table)}"
        ).scalar()
        return top is None or int(top) <= n

    def _present_indexes(self, conn: Connection) -> set[str]:
        t = self.table
        return {str(ix["name"]) for ix in sa.inspect(conn).get_indexes(t.name, schema=t.schema)}

    def defer_indexes(self, rows: int) -> builtins.list[str]:
        """Before a bulk load of about ``rows`` rows in several committed batches: on SQLite,
        when ``rows`` >= 50,000 and >= the rows stored, drop the two ordering indexes
        (customer/time covering index, time index) so that :meth:`insert_columns` only appends;
        returns their names (empty: nothing dropped, nothing to do).

        Call :meth:`restore_indexes` after the load (in a ``finally``). Until then reads
        are correct but slower. If the process dies in between, the stored batches are
        complete and the next open of the database re-creates the indexes
        (:func:`~crmcore.repositories.sql.schema.ensure_schema`).
        """
        with self._session.writing("deferring the transaction indexes") as conn:
            if not self._worth_deferring(conn, rows):
                return []
            present = self._present_indexes(conn)
            dropped: builtins.list[str] = []
            for index in sorted(self.table.indexes, key=lambda ix: str(ix.name)):
                if index.info.get("base") in _ORDER_INDEXES and index.name in present:
                    conn.execute(sa.schema.DropIndex(index, if_exists=True))  # racing importers
                    dropped.append(str(index.name))
            if dropped:
                _log.info("bulk load of ~%d rows: dropped the indexes %s", rows, dropped)
            return dropped

    def restore_indexes(self) -> builtins.list[str]:
        """Re-create every missing index of the table (after :meth:`defer_indexes`); returns
        their names. Idempotent: a no-op when every index is there (see :meth:`defer_indexes`).
        """
        with self._session.writing("rebuilding the transaction indexes") as conn:
            rebuilt = schema.create_missing_indexes(conn, self.table)
            if rebuilt:
                _log.info("rebuilt the indexes %s after a bulk load", rebuilt)
            return rebuilt

    def read_log(self, query: Query) -> TransactionLog:
        """Matching transactions as columns with their ids, in the total order of
        transactions: customer id, time, transaction id (see :mod:`crmcore.tables._order`).

        Reads straight from the raw DBAPI cursor into one structured numpy array
        (``np.fromiter``; time and kind packed as ``time * 8 + kind``), scanning the
        customer/time index; the customer codes come from a grouped count over the same
        index, so the only string fetched per row is the transaction id. The order of ties (one
        customer, one instant) and of customer ids is settled here, by code point, not
        left to the database's collation.
        """
        groups = customer_groups(self.spec, self.table, query)
        labels: builtins.list[str] = []
        counts: builtins.list[int] = []
        currencies: builtins.list[str] = []
        parts: builtins.list[Rows] = []
        with self._session.reading("reading transactions as columns") as conn:
            id_maps: dict[int, Callable[[], IdMap | None]] = {}  # one id scan per read
            for cond in groups:
                self._read_group(conn, cond, labels, counts, currencies, parts, id_maps)
        currency = single_currency(currencies)
        rows = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, dtype=_ROW_DTYPE)
        tx_ids = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, dtype=object)
        if int(np.sum(counts, dtype=np.int64)) != len(rows):
            raise ConcurrencyError(
                "transactions were added while they were read as columns: retry the read"
            )
        codes = np.repeat(np.arange(len(labels), dtype=np.int64), counts)
        packed = rows["tk"]
        return build_log(
            codes, labels, packed >> 3, rows["a"], packed & 7, rows["q"], currency, tx_ids
        )

    def _read_group(
        self,
        conn: Connection,
        cond: builtins.list[Any],
        labels: builtins.list[str],
        counts: builtins.list[int],
        currencies: builtins.list[str],
        parts: builtins.list[Rows],
        id_maps: dict[int, Callable[[], IdMap | None]],
    ) -> None:
        c = self.table.c
        grouped = (
            sa.select(c.customer_id, sa.func.count())
            .where(*cond)
            .group_by(c.customer_id)
            .order_by(c.customer_id)
        )
        got = conn.execute(grouped).all()
        if not got:
            return
        labels.extend(str(r[0]) for r in got)
        counts.extend(int(r[1]) for r in got)
        currencies.extend(
            str(r[0]) for r in conn.execute(sa.select(c.currency).where(*cond).distinct().limit(2))
        )
        # time and kind travel packed in one BIGINT (kind < 8, |micros| < 2**60): one Python
        # int less per row is ~15% of the read
        stmt = (
            sa.select(c.occurred_at * 8 + c.kind, c.amount_e6, c.quantity, c.id)
            .where(*cond)
            .order_by(c.customer_id, c.occurred_at)
        )
        n_group = sum(int(r[1]) for r in got)
        if conn.dialect.name == "sqlite" and n_group <= _CONCAT_MAX:
            id_map = None
            if n_group * _ID_SCAN_SHARE >= self._sqlite_rows(conn):
                id_map = id_maps.setdefault(
                    0, functools.cache(lambda: _sqlite_id_map(conn, self.table))
                )
                stmt = stmt.with_only_columns(
                    *stmt.selected_columns[:3], sa.literal_column("rowid")
                )
            rows = _read_concatenated(conn, stmt, [int(r[1]) for r in got], id_map)
            if rows is not None:
                parts.append(rows)
                return
            stmt = stmt.with_only_columns(*stmt.selected_columns[:3], c.id)
        parts.append(_raw_read(conn, stmt, _structured_rows))

    def _sqlite_rows(self, conn: Connection) -> int:
        """About how many rows the table holds: ``max(rowid)`` (one B-tree descent); a table
        without rowids counts as endless (its ids are read row by row)."""
        rowid: Any = sa.literal_column("rowid")
        try:
            top = conn.execute(sa.select(sa.func.max(rowid)).select_from(self.table)).scalar()
        except sa.exc.DBAPIError:
            return 2**62
        return int(top or 0)
