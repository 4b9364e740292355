"""The contract suite on all four backends: memory, SQLite file, PostgreSQL, MariaDB."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
from crmcore.repositories.protocols import UnitOfWork
from crmcore.testing.contract import RepositoryContract


class TestMemoryContract(RepositoryContract):
    def make_uow(self) -> UnitOfWork:
        return MemoryUnitOfWork()


class TestSqliteContract(RepositoryContract):
    @pytest.fixture(autouse=True)
    def _files(self, tmp_path: Path) -> Iterator[None]:
        self._dir = tmp_path
        self._made: list[SqlUnitOfWork] = []
        yield
        for uow in self._made:
            uow.close()

    def make_uow(self) -> UnitOfWork:
        uow = SqlUnitOfWork.from_url(self._dir / f"crm{len(self._made)}.db")
        self._made.append(uow)
        return uow


@pytest.mark.postgres
class TestPostgresContract(RepositoryContract):
    @pytest.fixture(autouse=True)
    def _factory(self, postgres_factory: Callable[[], UnitOfWork]) -> None:
        self._make = postgres_factory

    def make_uow(self) -> UnitOfWork:
        return self._make()


@pytest.mark.mysql
class TestMysqlContract(RepositoryContract):
    @pytest.fixture(autouse=True)
    def _factory(self, mysql_factory: Callable[[], UnitOfWork]) -> None:
        self._make = mysql_factory

    def make_uow(self) -> UnitOfWork:
        return self._make()
