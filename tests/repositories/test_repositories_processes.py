"""Separate processes (spawn) doing read-modify-write loops on one customer: no update is lost.

Each process opens its own engine on the same database and retries on
ConcurrencyError; at the end the stored version must equal the number of
successful updates reported by all processes.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from crmcore.model import Customer
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories._concurrency import process_worker

PROCESSES = 3
UPDATES = 4


def _run(url: str) -> None:
    uow = SqlUnitOfWork.from_url(url)
    try:
        with uow:
            if uow.customers.find("c-p") is None:
                uow.customers.add(Customer(id="c-p", name="Shared"))
            start = uow.customers.get("c-p").version
            uow.commit()
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(PROCESSES) as pool:
            results = pool.starmap(process_worker, [(url, "c-p", UPDATES)] * PROCESSES)
        successes = sum(done for done, _conflicts in results)
        assert successes == PROCESSES * UPDATES
        with uow:
            got = uow.customers.get("c-p")
        assert got.version - start == successes
        assert got.segment == f"v{got.version}"
    finally:
        uow.close()


def test_sqlite_file_processes_lose_no_update(tmp_path: Path) -> None:
    _run(f"sqlite:///{tmp_path / 'shared.db'}")


@pytest.mark.postgres
def test_postgres_processes_lose_no_update(postgres_url: str) -> None:
    _run(postgres_url)


@pytest.mark.mysql
def test_mysql_processes_lose_no_update(mysql_url: str) -> None:
    _run(mysql_url)
