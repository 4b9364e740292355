"""The SQL storage part of versioned JSON documents (funnel definitions, rules, tier sets,
state); the checks are :mod:`crmcore.repositories._documents`'.

Each version is a row keyed ``(kind, key, version)``: two writers that both
read version ``v`` race for the primary key of ``v + 1``, and the loser is
told that ``v + 1`` is stored.

>>> from crmcore.repositories import SqlUnitOfWork
>>> uow = SqlUnitOfWork.from_url("sqlite://")
>>> store = SqlDocumentStore(uow.session)
>>> with uow:
...     store.append("rule", "a", "[1]", None), store.append("rule", "a", "[2]", None)
...     store.read("rule", "a", None), store.keys("rule"), store.remove("rule", "b")
(None, 1)
(('[1]', 1), ['a'], False)
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from crmcore.repositories.sql._session import SqlSession

__all__ = ["SqlDocumentStore"]


class _RacedError(Exception):
    """Another writer stored ``version`` first (raised out of the write's savepoint)."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


class SqlDocumentStore:
    """Versioned JSON documents in SQL (:class:`~crmcore.repositories._documents.DocumentStore`)."""

    def __init__(self, session: SqlSession) -> None:
        self._session = session
        self.table = session.namespace.documents

    def _latest(self, conn: Any, kind: str, key: str) -> int | None:
        c = self.table.c
        v = conn.execute(
            sa.select(sa.func.max(c.version)).where(c.kind == kind, c.key == key)
        ).scalar()
        return None if v is None else int(v)

    def append(self, kind: str, key: str, text: str, expected: int | None) -> int | None:
        """Store ``text`` as the next version if the latest is ``expected``; the latest before
        (the version a concurrent writer stored first, when one did)."""
        try:
            with self._session.writing(f"writing document {kind!r}/{key!r}") as conn:
                latest = self._latest(conn, kind, key)
                if latest != expected:
                    return latest
                new = (latest or 0) + 1
                try:
                    conn.execute(
                        sa.insert(self.table).values(kind=kind, key=key, version=new, body=text)
                    )
                except sa.exc.IntegrityError as e:
                    raise _RacedError(new) from e
        except _RacedError as e:
            return e.version
        return expected

    def read(self, kind: str, key: str, version: int | None) -> tuple[str, int] | None:
        """The text and number of the given (None: the latest) version, or None: one indexed
        select on the primary key ``(kind, key, version)``."""
        c = self.table.c
        q = sa.select(c.body, c.version).where(c.kind == kind, c.key == key)
        q = (
            q.order_by(c.version.desc()).limit(1)
            if version is None
            else q.where(c.version == version)
        )
        with self._session.reading(f"reading document {kind!r}/{key!r}") as conn:
            row = conn.execute(q).first()
        return None if row is None else (str(row[0]), int(row[1]))

    def keys(self, kind: str) -> builtins.list[str]:
        """The keys stored for ``kind``, sorted."""
        c = self.table.c
        q = sa.select(c.key).where(c.kind == kind).distinct().order_by(c.key)
        with self._session.reading(f"listing documents of {kind!r}") as conn:
            return [str(r[0]) for r in conn.execute(q)]

    def remove(self, kind: str, key: str) -> bool:
        """Remove every version of a key; False when it has none."""
        c = self.table.c
        with self._session.writing(f"deleting document {kind!r}/{key!r}") as conn:
            n = conn.execute(sa.delete(self.table).where(c.kind == kind, c.key == key)).rowcount
        return bool(n)
