"""``crmcore db check`` / ``crmcore db upgrade``: crmcore's tables looked after without Alembic,
on SQLite, PostgreSQL (a schema) and MariaDB (a prefix, from schema 3 with padding ids)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmcore.cli import UPGRADE_DUE, main
from crmcore.repositories.sql import make_engine, schema

from .conftest import _server_database
from .test_repositories_migration import _as_schema, _legacy_rows


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
        return
    gen = _server_database(request.param)
    yield next(gen)
    next(gen, None)


def _args(url: str) -> list[str]:
    if url.startswith("postgresql"):
        return [url, "--schema", "crm"]
    return [url, "--table-prefix", "crm_"]


def test_check_then_upgrade_a_new_database(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    if url.startswith("sqlite"):  # no file yet: the check does not make one
        assert main(["db", "check", *_args(url)]) == UPGRADE_DUE
        assert "no database file yet" in capsys.readouterr().out
        assert not Path(url.removeprefix("sqlite:///")).exists()
        sa.create_engine(url).connect().close()  # an empty file
    assert main(["db", "check", *_args(url)]) == UPGRADE_DUE
    out = capsys.readouterr().out
    assert "none yet; this crmcore writes version 6" in out
    assert "create crmcore's 12 tables at schema version 6" in out
    assert main(["db", "upgrade", *_args(url)]) == 0
    assert "schema version 6" in capsys.readouterr().out
    assert main(["db", "check", *_args(url)]) == 0
    assert "schema version 6, up to date" in capsys.readouterr().out


@pytest.mark.parametrize("version", [1, 3])
def test_upgrade_migrates_an_old_schema(
    url: str, version: int, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args(url)
    ns = schema.namespace(
        table_prefix="" if "--schema" in args else "crm_",
        schema="crm" if "--schema" in args else None,
    )
    engine = make_engine(url)
    with engine.begin() as conn:
        schema.ensure_schema(conn, ns)
        _as_schema(conn, version, ns)
        _legacy_rows(conn, ns)
    assert main(["db", "check", *args]) == UPGRADE_DUE
    out = capsys.readouterr().out
    steps = [f"migrate schema {v} -> {v + 1}" for v in range(version, schema.SCHEMA_VERSION)]
    assert all(step in out for step in steps), out
    assert main(["db", "upgrade", *args]) == 0
    out = capsys.readouterr().out
    assert all(f"done: {step}" in out for step in steps), out
    assert main(["db", "check", *args]) == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(ns.schema_table.c.version)).scalar() == schema.SCHEMA_VERSION
        assert schema.schema_plan(conn, ns) == []
    engine.dispose()


def test_a_foreign_table_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT)")
    engine.dispose()
    for command in ("check", "upgrade"):
        assert main(["db", command, url]) == 1
        err = capsys.readouterr().err
        assert "error: table 'customers' is not crmcore's" in err
    assert main(["db", "upgrade", url, "--table-prefix", "crm_"]) == 0


def test_an_unreachable_database_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "sqlite:////nonexistent-dir/x/app.db"]) == 1
    err = capsys.readouterr().err
    assert "error: the database at sqlite:////nonexistent-dir/x/app.db failed" in err
