"""What an SQL repository asks of its unit of work: the declared session interface.

The repositories of the SQL backend (customers, records, transactions,
opportunities, documents, the eraser) hold a :class:`SqlSession`, never the
unit of work itself: every statement runs in :meth:`SqlSession.reading` or
:meth:`SqlSession.writing` (a savepoint around one write, driver errors
translated to crmcore errors), maintenance after a commit goes through
:meth:`SqlSession.after_commit`. :class:`~crmcore.repositories.SqlUnitOfWork`
implements it (``uow.session``).

>>> from crmcore.repositories import SqlUnitOfWork
>>> uow = SqlUnitOfWork.from_url("sqlite://")
>>> isinstance(uow.session, SqlSession), uow.session.dialect
(True, 'sqlite')
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from crmcore.repositories.sql.schema import Namespace

__all__ = ["SqlSession"]


@runtime_checkable
class SqlSession(Protocol):
    """The connection side of one SQL unit of work, as its repositories see it."""

    @property
    def namespace(self) -> Namespace:
        """Where crmcore's tables are (prefix, schema, the tables)."""
        ...

    @property
    def batch_size(self) -> int:
        """Rows per statement of the bulk writes."""
        ...

    @property
    def dialect(self) -> str:
        """The SQLAlchemy dialect name: ``sqlite``, ``postgresql``, ``mysql``."""
        ...

    @property
    def engine(self) -> Engine:
        """The engine (maintenance outside any transaction)."""
        ...

    def now(self) -> datetime:
        """The unit of work's clock: stamps ``recorded_at``, bounds effective times."""
        ...

    def reading(self, what: str) -> AbstractContextManager[Connection]:
        """The block's connection for a read; driver errors become crmcore errors naming ``what``."""
        ...

    def writing(self, what: str) -> AbstractContextManager[Connection]:
        """The block's connection inside a savepoint: an error undoes this write only."""
        ...

    def after_commit(self, action: Callable[[Connection], None]) -> None:
        """Run ``action(connection)`` once after the block's next successful commit."""
        ...
