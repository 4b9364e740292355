"""The contract suite on all four backends: memory, SQLite file, PostgreSQL, MariaDB.

crmcore's backends have every capability: the bulk-load tests are required of them
(``bulk_load_optional = False``), not skipped as they are for a backend without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
from crmcore.repositories.protocols import UnitOfWork
from crmcore.testing.contract import RepositoryContract


class TestMemoryContract(RepositoryContract):
    bulk_load_optional = False
    service_cases_optional = False
    customer_columns_optional = False

    def make_uow(self) -> UnitOfWork:
        return MemoryUnitOfWork()


class TestSqliteContract(RepositoryContract):
    bulk_load_optional = False
    service_cases_optional = False
    customer_columns_optional = False

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
    bulk_load_optional = False
    service_cases_optional = False
    customer_columns_optional = False

    @pytest.fixture(autouse=True)
    def _factory(self, postgres_factory: Callable[[], UnitOfWork]) -> None:
        self._make = postgres_factory

    def make_uow(self) -> UnitOfWork:
        return self._make()


def _id_collation_pads_spaces(uow: UnitOfWork) -> bool:
    """MariaDB/MySQL: whether the collation of ``transactions.id`` compares with PAD SPACE
    (``utf8mb4_bin`` does: ``'a'`` sorts after ``'a\tb'``, unlike code points)."""
    assert isinstance(uow, SqlUnitOfWork)
    with uow.engine.connect() as c:
        name = c.exec_driver_sql(
            "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = 'transactions' AND COLUMN_NAME = 'id'"
        ).scalar()
        if name is None:  # a binary column
            return False
        return bool(
            c.exec_driver_sql(
                f"SELECT STRCMP(_utf8mb4'a' COLLATE {name}, _utf8mb4'a\tb' COLLATE {name}) > 0"
            ).scalar()
        )


@pytest.mark.mysql
class TestMysqlContract(RepositoryContract):
    bulk_load_optional = False
    service_cases_optional = False
    customer_columns_optional = False

    @pytest.fixture(autouse=True)
    def _factory(self, mysql_factory: Callable[[], UnitOfWork]) -> None:
        self._make = mysql_factory

    def make_uow(self) -> UnitOfWork:
        return self._make()

    def test_lists_order_ids_below_the_space_by_code_point(self) -> None:
        if _id_collation_pads_spaces(self._make()):
            pytest.xfail(
                "issue 15: the id columns' utf8mb4_bin collation pads with spaces; ids compare "
                "by code point once they use a binary (NO PAD) collation"
            )
        super().test_lists_order_ids_below_the_space_by_code_point()
