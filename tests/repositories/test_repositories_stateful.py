"""The backend-vs-model state machine on all four backends (modest example counts: SQL is slow)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings

from crmcore.repositories import MemoryUnitOfWork
from crmcore.repositories.protocols import UnitOfWork
from crmcore.testing.stateful import RepositoryStateMachine

SQL_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class MemoryMachine(RepositoryStateMachine):
    def make_uow(self) -> UnitOfWork:
        return MemoryUnitOfWork()


TestMemoryMachine = MemoryMachine.TestCase
TestMemoryMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


def test_sqlite_matches_the_model(sqlite_factory: Callable[[], UnitOfWork]) -> None:
    _run_sql_machine(sqlite_factory)


def _run_sql_machine(factory: Callable[[], UnitOfWork]) -> None:
    class SqlMachine(RepositoryStateMachine):
        def make_uow(self) -> UnitOfWork:
            return factory()

        def close_uow(self, uow: UnitOfWork) -> None:
            pass  # the session's engine is shared; the next example empties the tables

    case = SqlMachine.TestCase
    case.settings = SQL_SETTINGS
    case("runTest").runTest()


@pytest.mark.postgres
def test_postgres_matches_the_model(postgres_factory: Callable[[], UnitOfWork]) -> None:
    _run_sql_machine(postgres_factory)


@pytest.mark.mysql
def test_mysql_matches_the_model(mysql_factory: Callable[[], UnitOfWork]) -> None:
    _run_sql_machine(mysql_factory)
