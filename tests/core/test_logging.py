"""crmcore logs what a user needs to know to ``crmcore.<package>`` loggers, behind a
NullHandler, and prints nothing outside the command line."""

from __future__ import annotations

import ast
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import crmcore
from crmcore.ingest import import_transactions
from crmcore.repositories import SqlUnitOfWork

SRC = Path(crmcore.__file__).parent


def test_the_package_logger_has_a_null_handler() -> None:
    logger = logging.getLogger("crmcore")
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)


def test_no_print_outside_the_command_line() -> None:
    found: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "cli.py" or rel.startswith("_cli/"):
            continue
        found.extend(
            f"{rel}:{node.lineno}"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "print"
        )
    assert found == []


def test_schema_creation_and_index_repair_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    with caplog.at_level(logging.INFO, logger="crmcore"):
        with SqlUnitOfWork.from_url(url) as uow:
            assert uow.customers.count() == 0
        created = [r for r in caplog.records if r.name == "crmcore.repositories"]
        assert [r.getMessage() for r in created] == [
            "creating crmcore's tables at schema version 6 (the default namespace)"
        ]
        caplog.clear()
        with SqlUnitOfWork.from_url(url) as uow:  # up to date: nothing to say
            uow.customers.count()
        assert caplog.records == []
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_transactions_time")
        engine.dispose()
        with SqlUnitOfWork.from_url(url) as uow:
            uow.customers.count()
    assert [r.getMessage() for r in caplog.records] == [
        "re-creating 1 missing index(es) of crmcore's tables"
    ]


def test_a_bulk_load_logs_its_indexes_and_rejected_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    uow = SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'bulk.db'}")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows: list[dict[str, object]] = [
        {"customer_id": f"c{i % 500}", "occurred_at": start + timedelta(minutes=i), "amount": 1}
        for i in range(50_000)
    ]
    rows.append({"customer_id": "c1", "occurred_at": "yesterday", "amount": 1})
    with caplog.at_level(logging.INFO, logger="crmcore"):
        report = import_transactions(uow, rows, currency="EUR")
    uow.close()
    assert report.stored == 50_000 and report.rejected == 1
    messages = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    dropped = [m for m in messages if "dropped the indexes" in m[2]]
    rebuilt = [m for m in messages if "rebuilt the indexes" in m[2]]
    assert len(dropped) == 1 and len(rebuilt) == 1
    assert dropped[0][0] == "crmcore.repositories" and "bulk load of ~50001 rows" in dropped[0][2]
    rejected = [m for m in messages if m[0] == "crmcore.ingest"]
    assert rejected == [
        (
            "crmcore.ingest",
            logging.WARNING,
            "<rows> → transactions: 1 of 50001 rows rejected; first: row 50001, column "
            "'occurred_at', value 'yesterday': must be an ISO 8601 timestamp: 'yesterday'",
        )
    ]


def test_an_optimiser_fallback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    import numpy as np

    from crmcore.fitting import maximum_likelihood

    def ll(th: np.ndarray) -> tuple[float, np.ndarray]:  # Poisson: 30 events in 10 periods
        return float(30 * np.log(th[0]) - 10 * th[0]), np.array([30 / th[0] - 10])

    def broken_newton(th: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        value, grad = ll(th)
        return value, grad, np.array([[np.nan]])  # a Hessian the trust region cannot use

    with caplog.at_level(logging.INFO, logger="crmcore.fitting"):
        fit = maximum_likelihood(ll, [1.0], model="toy", names=["lam"], n=10, newton=broken_newton)
    assert abs(fit.estimates[0] - 3.0) < 1e-9
    assert [r.name for r in caplog.records] == ["crmcore.fitting"]
    assert "trust-region Newton ended short of the optimum" in caplog.records[0].getMessage()
