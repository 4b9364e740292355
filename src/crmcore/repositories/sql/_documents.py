"""SQL repository of versioned JSON documents (funnel definitions, rules, tier sets, state)."""

from __future__ import annotations

import builtins
import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crmcore.errors import ConcurrencyError, NotFoundError
from crmcore.repositories._args import check_filters
from crmcore.repositories._writes import (
    check_document_key,
    check_expected_version,
    dump_document,
)
from crmcore.repositories.sql import schema

if TYPE_CHECKING:
    from crmcore.repositories.sql._session import SqlSession

__all__ = ["SqlDocumentRepository"]


class SqlDocumentRepository:
    """Versioned JSON documents in SQL (see :class:`~crmcore.repositories.DocumentRepository`).

    Each version is a row keyed ``(kind, key, version)``: two writers that
    both read version ``v`` race for the primary key of ``v + 1``, and the
    loser gets ConcurrencyError.
    """

    table = schema.documents

    def __init__(self, session: SqlSession) -> None:
        self._session = session
        self.table = session.namespace.documents

    def _latest(self, conn: Any, kind: str, key: str) -> int | None:
        c = self.table.c
        v = conn.execute(
            sa.select(sa.func.max(c.version)).where(c.kind == kind, c.key == key)
        ).scalar()
        return None if v is None else int(v)

    def put(self, kind: str, key: str, document: Any, *, expected_version: int | None) -> int:
        """Store a new version; returns its number (1 for a new key)."""
        check_document_key(kind, key)
        expected_version = check_expected_version(expected_version)
        body = dump_document(document)
        with self._session.writing(f"writing document {kind}/{key}") as conn:
            latest = self._latest(conn, kind, key)
            if latest != expected_version:
                raise ConcurrencyError(
                    f"document {kind}/{key} is at version {latest}, the write expected "
                    f"{expected_version}; nothing was changed"
                )
            new = (latest or 0) + 1
            try:
                conn.execute(
                    sa.insert(self.table).values(kind=kind, key=key, version=new, body=body)
                )
            except sa.exc.IntegrityError as e:
                raise ConcurrencyError(
                    f"document {kind}/{key} was written concurrently (version {new} exists); "
                    "nothing was changed"
                ) from e
        return new

    def get(self, kind: str, key: str, *, version: int | None = None) -> tuple[Any, int]:
        """``(document, version)``: the latest or the given version."""
        check_document_key(kind, key)
        c = self.table.c
        with self._session.reading(f"reading document {kind}/{key}") as conn:
            v = self._latest(conn, kind, key) if version is None else version
            row = None
            if isinstance(v, int) and not isinstance(v, bool):
                row = conn.execute(
                    sa.select(c.body).where(c.kind == kind, c.key == key, c.version == v)
                ).first()
        if row is None:
            what = "" if version is None else f" version {version!r}"
            raise NotFoundError(f"document {kind}/{key}{what} not found")
        return json.loads(row[0]), int(v)  # type: ignore[arg-type]  # v is an int when a row was found

    def keys(self, kind: str) -> builtins.list[str]:
        """The keys stored for ``kind``, sorted."""
        check_filters(kind=kind)
        c = self.table.c
        q = sa.select(c.key).where(c.kind == kind).distinct().order_by(c.key)
        with self._session.reading(f"listing documents of {kind!r}") as conn:
            return [str(r[0]) for r in conn.execute(q)]

    def delete(self, kind: str, key: str) -> None:
        """Remove every version of a key."""
        check_document_key(kind, key)
        c = self.table.c
        with self._session.writing(f"deleting document {kind}/{key}") as conn:
            n = conn.execute(sa.delete(self.table).where(c.kind == kind, c.key == key)).rowcount
        if n == 0:
            raise NotFoundError(f"document {kind}/{key} not found")
