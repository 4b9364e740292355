"""The SQL backend: SQLAlchemy Core on SQLite (embedded default), PostgreSQL, MariaDB/MySQL.

>>> from crmcore.repositories.sql import SqlUnitOfWork
>>> uow = SqlUnitOfWork.from_url("sqlite://")
>>> uow.dialect
'sqlite'
"""

from __future__ import annotations

from crmcore.repositories.sql._django import django_unit_of_work
from crmcore.repositories.sql._engine import configure_sqlite_engine, make_engine
from crmcore.repositories.sql.uow import SqlUnitOfWork

__all__ = ["SqlUnitOfWork", "configure_sqlite_engine", "django_unit_of_work", "make_engine"]
