"""The SQL backend's part of erasure: rewrite events and document versions in place, and
leave no physical copy behind where the database lets us.

What to erase is decided once for every backend (:mod:`crmcore.repositories._personal_data`,
:func:`crmcore.repositories.privacy.erase_customer`); this stores it, and:

* SQLite: :meth:`SqlEraser.start` turns ``secure_delete`` on for the erasing
  connection (freed cells and pages are overwritten with zeros) and has the
  commit run ``PRAGMA wal_checkpoint(TRUNCATE)``, which copies the
  write-ahead log into the database file and empties the ``-wal`` file, where
  the pages written before the erasure would otherwise stay.
* PostgreSQL and MariaDB/MySQL keep the old row versions until the table is
  rewritten: :meth:`SqlEraser.purge` is that maintenance step (``VACUUM
  (FULL)`` / ``OPTIMIZE TABLE`` of the tables that hold personal data). On
  PostgreSQL, ``VACUUM (FULL)`` copies every row version that a running
  transaction may still see into the new file; the purge first waits (up to
  :data:`PURGE_WAIT_SECONDS`) for the transactions older than it (snapshots in
  the database, writers anywhere on the server), and refuses, naming them, when
  they do not end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmcore.errors import ConcurrencyError, NotFoundError, RepositoryError, ValidationError
from crmcore.model import FieldChange, Opportunity, StageChange
from crmcore.repositories._args import check_filters
from crmcore.repositories._personal_data import PERSONAL_DATA
from crmcore.repositories._writes import check_document_key, check_record, dump_document
from crmcore.repositories.sql import schema
from crmcore.repositories.sql._engine import translate
from crmcore.repositories.sql._opportunities import _change_row, _event_row, _opportunity_row

if TYPE_CHECKING:
    from crmcore.repositories.sql._session import SqlSession

__all__ = ["CHECKPOINT", "PURGE_WAIT_SECONDS", "SqlEraser", "personal_tables"]

CHECKPOINT = "PRAGMA wal_checkpoint(TRUNCATE)"
"""The SQLite checkpoint an erasure's commit runs (copies the WAL in, empties the file)."""

PURGE_WAIT_SECONDS = 30.0
"""How long the PostgreSQL purge waits for the transactions that began before it (and may
still see erased row versions) to end, before it refuses to run."""


def personal_tables(namespace: schema.Namespace = schema.DEFAULT) -> list[sa.Table]:
    """The tables of ``namespace`` that hold personal data (declared in ``PERSONAL_DATA``), in
    schema order.

    >>> [t.name for t in personal_tables()][:3]
    ['activities', 'costs', 'customers']
    """
    names = {f.table for f in PERSONAL_DATA}
    return [t for t in namespace.metadata.sorted_tables if t.info["base"] in names]


def checkpoint(conn: Connection) -> None:
    """Run :data:`CHECKPOINT` on ``conn``'s driver connection, outside any transaction;
    RepositoryError when readers kept it from finishing within the busy timeout."""
    raw: Any = conn.connection.dbapi_connection
    try:
        row = raw.execute(CHECKPOINT).fetchone()
    except Exception as e:  # the driver's own error types
        raise RepositoryError(f"the WAL checkpoint after the erasure failed: {e}") from e
    if row is not None and int(row[0]) != 0:
        raise RepositoryError(
            "the erasure is committed, but the WAL checkpoint could not finish: another "
            "connection kept a read transaction open past the busy timeout, so the -wal file "
            "may still hold erased values; run crmcore.repositories.privacy."
            "purge_erased_copies(uow) once those readers are done"
        )


class SqlEraser:
    """Rewrites in place for :func:`~crmcore.repositories.privacy.erase_customer` (see
    :class:`~crmcore.repositories.privacy.Eraser`), on the unit of work's connection."""

    def __init__(self, session: SqlSession) -> None:
        self._session = session

    def start(self) -> None:
        """On SQLite: ``secure_delete`` on for this connection, and a WAL checkpoint after
        the commit (when the unit of work owns its transaction)."""
        if self._session.dialect != "sqlite":
            return
        with self._session.writing("preparing the erasure") as conn:
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        self._session.after_commit(checkpoint)

    def now(self) -> datetime:
        """The unit of work's clock."""
        return self._session.now()

    def rewrite_opportunity(
        self,
        opportunity: Opportunity,
        events: Sequence[StageChange | FieldChange],
        appended: Sequence[FieldChange] = (),
    ) -> None:
        """``UPDATE`` the opportunity at its version and each event by its number, ``INSERT``
        the appended events; the version becomes the last appended number."""
        check_record(opportunity, Opportunity)
        events = list(events)
        for e in events:
            if not isinstance(e, StageChange | FieldChange):
                raise ValidationError(f"'events' must hold StageChange or FieldChange: {e!r}")
            check_record(e, type(e))
        version = opportunity.version
        for e in appended:
            if not isinstance(e, FieldChange):
                raise ValidationError(f"'appended' must hold FieldChange: {e!r}")
            check_record(e, FieldChange)
            if e.opportunity_id != opportunity.id or e.sequence != version + 1:
                raise ValidationError(
                    f"the erasure's event {e.sequence} of {e.opportunity_id!r} does not follow "
                    f"event {version} of opportunity {opportunity.id!r}"
                )
            version = e.sequence
        ns = self._session.namespace
        o = ns.opportunities.c
        row = _opportunity_row(opportunity)
        del row["id"]
        row["version"] = version
        with self._session.writing(f"erasing opportunity {opportunity.id!r}") as conn:
            stmt = (
                sa.update(ns.opportunities)
                .where(o.id == opportunity.id, o.version == opportunity.version)
                .values(**row)
            )
            if conn.execute(stmt).rowcount == 0:
                found = conn.execute(sa.select(o.version).where(o.id == opportunity.id)).first()
                if found is None:
                    raise NotFoundError(f"opportunity {opportunity.id!r} not found")
                raise ConcurrencyError(
                    f"opportunity {opportunity.id!r} is at version {found[0]}, the erasure was "
                    f"based on version {opportunity.version}; nothing was changed"
                )
            for e in events:
                table, values = (
                    (ns.stage_changes, _event_row(e))
                    if isinstance(e, StageChange)
                    else (ns.field_changes, _change_row(e))
                )
                c = table.c
                del values["opportunity_id"], values["sequence"]
                stmt = (
                    sa.update(table)
                    .where(c.opportunity_id == e.opportunity_id, c.sequence == e.sequence)
                    .values(**values)
                )
                if e.opportunity_id != opportunity.id or conn.execute(stmt).rowcount != 1:
                    raise NotFoundError(
                        f"opportunity {opportunity.id!r} has no stored {type(e).__name__} "
                        f"number {e.sequence} to overwrite"
                    )
            if appended:
                conn.execute(sa.insert(ns.field_changes), [_change_row(e) for e in appended])

    def rewrite_document(self, kind: str, key: str, bodies: Mapping[int, Any]) -> None:
        """``UPDATE`` the body of each given version."""
        check_document_key(kind, key)
        documents = self._session.namespace.documents
        d = documents.c
        with self._session.writing(f"erasing document {kind}/{key}") as conn:
            for v, body in bodies.items():
                stmt = (
                    sa.update(documents)
                    .where(d.kind == kind, d.key == key, d.version == v)
                    .values(body=dump_document(body))
                )
                if (
                    not isinstance(v, int)
                    or isinstance(v, bool)
                    or conn.execute(stmt).rowcount != 1
                ):
                    raise NotFoundError(f"document {kind}/{key} has no version {v!r}")

    def documents_naming(self, kind: str, field: str, value: str) -> list[str]:
        """The keys of the documents of ``kind`` whose body may name ``value`` in ``field``:
        one ``LIKE`` scan in the database for the JSON text ``"field": "value"`` (a superset
        to check, found without reading every document back)."""
        check_filters(kind=kind, field=field, value=value)
        d = self._session.namespace.documents.c
        pair = f"{json.dumps(field)}: {json.dumps(value)}"  # as dump_document writes it
        q = (
            sa.select(d.key)
            .where(d.kind == kind, d.body.contains(pair, autoescape=True))
            .distinct()
            .order_by(d.key)
        )
        with self._session.reading(f"finding documents of {kind!r}") as conn:
            return [str(r[0]) for r in conn.execute(q)]

    def purge(self) -> list[str]:
        """The maintenance step, on a connection of its own outside any transaction."""
        engine = self._session.engine
        dialect = engine.dialect
        names = ", ".join(
            dialect.identifier_preparer.format_table(t)
            for t in personal_tables(self._session.namespace)
        )
        try:
            with engine.connect() as conn:
                if dialect.name == "sqlite":
                    raw: Any = conn.connection.dbapi_connection
                    raw.execute("PRAGMA secure_delete = ON")
                    raw.execute("VACUUM")
                    checkpoint(conn)
                    return ["VACUUM", CHECKPOINT]
                auto = conn.execution_options(isolation_level="AUTOCOMMIT")
                if dialect.name == "postgresql":
                    return _purge_postgres(auto, names)
                statement = f"OPTIMIZE TABLE {names}"
                for r in auto.exec_driver_sql(statement):  # one report row per table and step
                    if str(r[2]).lower() == "error":
                        raise RepositoryError(f"{statement} failed for {r[0]}: {r[3]}")
                return [statement]
        except sa.exc.SQLAlchemyError as e:
            raise translate(e, "purging erased copies") from e


_SNAPSHOT_HOLDERS = """
WITH purge AS (SELECT mod(%(next_xid)s::bigint, 4294967296)::text::xid AS xid)
SELECT pid, backend_type, coalesce(application_name, ''), coalesce(state, ''),
       coalesce(to_char(xact_start, 'YYYY-MM-DD HH24:MI:SS'), ''), datname
FROM pg_stat_activity, purge
WHERE pid <> pg_backend_pid()
  AND ((backend_xid IS NOT NULL AND age(backend_xid) > age(purge.xid))
       OR (backend_xmin IS NOT NULL AND age(backend_xmin) > age(purge.xid)
           AND (datname = current_database() OR datname IS NULL)
           AND NOT (backend_type = 'autovacuum worker' AND query LIKE 'autovacuum: VACUUM %%'
                    AND query NOT LIKE '%%ANALYZE%%')))
UNION ALL
SELECT NULL, 'prepared transaction', gid, 'prepared',
       to_char(prepared, 'YYYY-MM-DD HH24:MI:SS'), database
FROM pg_prepared_xacts, purge WHERE age(transaction) > age(purge.xid)
UNION ALL
SELECT NULL, 'replication slot', slot_name, 'holding xmin ' || xmin::text, '', database
FROM pg_replication_slots, purge WHERE xmin IS NOT NULL AND age(xmin) > age(purge.xid)
"""


def _wait_for_older_transactions(conn: Connection, step: str) -> None:
    """Wait until no transaction older than now can make the next ``VACUUM (FULL)`` keep old
    row versions; RepositoryError naming them after :data:`PURGE_WAIT_SECONDS`.

    ``VACUUM (FULL)`` copies every version that is dead to fewer than all snapshots (a
    "recently dead" row) into the new file, silently. What holds them: a snapshot in this
    database taken before now (an idle transaction, a report, an ANALYZE), a standby's
    feedback, and any transaction of the server, in any database, that began writing before
    now (every snapshot taken while it runs, the purge's own included, must treat the
    transactions after it as possibly running). So the purge waits for every transaction
    whose id or snapshot is older than the next transaction id at the time of the call.
    """
    next_xid = int(
        conn.exec_driver_sql("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").scalar_one()
    )
    deadline = time.monotonic() + PURGE_WAIT_SECONDS
    while True:
        holders = conn.exec_driver_sql(_SNAPSHOT_HOLDERS, {"next_xid": next_xid}).all()
        if not holders or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if holders:
        named = "; ".join(
            " ".join(
                part
                for part in (
                    kind,
                    "" if pid is None else f"pid {pid}",
                    repr(name),
                    state,
                    "" if database is None else f"in database {database!r}",
                    f"since {started}" if started else "",
                )
                if part
            )
            for pid, kind, name, state, started, database in holders[:5]
        )
        raise RepositoryError(
            f"purge_erased_copies did not run {step}: {len(holders)} transaction(s) older than "
            f"the purge were still open after {PURGE_WAIT_SECONDS:g} s ({named}); VACUUM "
            "(FULL) would copy the erased row versions they may still read into the new "
            "files. End them (commit or roll back idle transactions, COMMIT/ROLLBACK "
            "PREPARED, drop a stale replication slot) and run it again"
        )


def _purge_postgres(conn: Connection, names: str) -> list[str]:
    """``VACUUM (FULL, ANALYZE)`` of the tables (new files; statistics without erased values),
    then, for a superuser, ``VACUUM (FULL)`` of ``pg_statistic``, whose file keeps the old
    statistics rows (most common values, histogram bounds) otherwise. Before each, the
    transactions that began earlier (and may still see the old versions) must have ended."""
    steps = [(f"VACUUM (FULL, ANALYZE) {names}", "at all (nothing was purged)")]
    if conn.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar():
        steps.append(
            (
                "VACUUM (FULL) pg_catalog.pg_statistic",
                "its last step, VACUUM (FULL) pg_catalog.pg_statistic (crmcore's tables were "
                "purged; the old planner statistics may remain)",
            )
        )
    for statement, step in steps:
        # before the second step: an ANALYZE (autovacuum's) that began during the first one
        # can still see the statistics rows that the first one replaced
        _wait_for_older_transactions(conn, step)
        conn.exec_driver_sql(statement)
    return [statement for statement, _ in steps]
