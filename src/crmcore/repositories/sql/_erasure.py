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
  (FULL)`` / ``OPTIMIZE TABLE`` of the tables that hold personal data).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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

__all__ = ["CHECKPOINT", "SqlEraser", "personal_tables"]

CHECKPOINT = "PRAGMA wal_checkpoint(TRUNCATE)"
"""The SQLite checkpoint an erasure's commit runs (copies the WAL in, empties the file)."""


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

    def rewrite_opportunity(
        self, opportunity: Opportunity, events: Sequence[StageChange | FieldChange]
    ) -> None:
        """``UPDATE`` the opportunity at its version and each event by its number."""
        check_record(opportunity, Opportunity)
        events = list(events)
        for e in events:
            if not isinstance(e, StageChange | FieldChange):
                raise ValidationError(f"'events' must hold StageChange or FieldChange: {e!r}")
            check_record(e, type(e))
        ns = self._session.namespace
        o = ns.opportunities.c
        row = _opportunity_row(opportunity)
        del row["id"]
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


def _purge_postgres(conn: Connection, names: str) -> list[str]:
    """``VACUUM (FULL, ANALYZE)`` of the tables (new files; statistics without erased values),
    then, for a superuser, ``VACUUM (FULL)`` of ``pg_statistic``, whose file keeps the old
    statistics rows (most common values, histogram bounds) otherwise."""
    statements = [f"VACUUM (FULL, ANALYZE) {names}"]
    if conn.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar():
        statements.append("VACUUM (FULL) pg_catalog.pg_statistic")
    for statement in statements:
        conn.exec_driver_sql(statement)
    return statements
