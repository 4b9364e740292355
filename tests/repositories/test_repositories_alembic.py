"""Issue 15, migrations that cooperate: a host application's Alembic environment that includes
crmcore's ``MetaData`` (``crmcore_metadata``) autogenerates no operation against a database
crmcore created or migrated, and one that leaves crmcore's tables out with ``include_object``
proposes nothing either, on SQLite, PostgreSQL and MariaDB.

The finding: with only the host's metadata, autogenerate proposed dropping all of crmcore's
tables. The ``include_object`` below is the one docs/repositories.md (*Embedding*) shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql import make_engine, schema
from crmcore.repositories.sql.schema import crmcore_metadata

from .conftest import _server_database
from .test_repositories_migration import _as_schema, _legacy_rows

alembic = pytest.importorskip("alembic", reason="alembic (the dev extra) tests the integration")
from alembic.autogenerate import compare_metadata  # noqa: E402
from alembic.migration import MigrationContext  # noqa: E402


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
        yield e
        e.dispose()
        return
    gen = _server_database(request.param)
    e = make_engine(next(gen))
    try:
        yield e
    finally:
        e.dispose()
        next(gen, None)


def _host_metadata() -> sa.MetaData:
    """The host application's own models: a ``customers`` table of its own, among others."""
    md = sa.MetaData()
    sa.Table(
        "customers",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(200), nullable=False),
    )
    sa.Table("orders", md, sa.Column("id", sa.Integer, primary_key=True))
    return md


def _options(engine: sa.Engine, **kw: Any) -> dict[str, Any]:
    # PostgreSQL: crmcore sits in a schema of its own, which autogenerate looks at only when
    # asked to (include_schemas); elsewhere in the application's schema, under a prefix
    return {"include_schemas": engine.dialect.name == "postgresql", **kw}


def _crm(engine: sa.Engine) -> dict[str, Any]:
    if engine.dialect.name == "postgresql":
        return {"schema": "crm"}
    return {"table_prefix": "crm_"}


def _diff(engine: sa.Engine, target: Any, **opts: Any) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=_options(engine, **opts))
        return list(compare_metadata(context, target))


@pytest.mark.parametrize("made", ["created", "migrated from 1"])
def test_autogenerate_with_crmcore_metadata_proposes_nothing(engine: sa.Engine, made: str) -> None:
    host = _host_metadata()
    host.create_all(engine)
    crm = crmcore_metadata(**_crm(engine))
    if made == "created":
        with SqlUnitOfWork(engine, **_crm(engine)):
            pass
    else:  # what crmcore's migrations leave must match the metadata too
        ns = schema.namespace(**_crm(engine))
        with engine.begin() as conn:
            schema.ensure_schema(conn, ns)
            _as_schema(conn, 1, ns)
            _legacy_rows(conn, ns)
        with SqlUnitOfWork(make_engine(engine.url), **_crm(engine)) as uow:
            uow.engine.dispose()
    assert _diff(engine, [host, crm]) == []
    # the finding: the host's metadata alone proposes dropping every crmcore table
    dropped = {d[1].name for d in _diff(engine, host) if d[0] == "remove_table"}
    assert dropped == {t.name for t in crm.sorted_tables}


def leave_alone(crm: sa.MetaData) -> Callable[..., bool]:
    """The host's ``include_object``: Alembic leaves crmcore's tables (and their columns,
    indexes and constraints) alone; crmcore migrates them itself."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.key not in crm.tables

    return include_object


def test_include_object_leaves_crmcore_alone(engine: sa.Engine) -> None:
    host = _host_metadata()
    host.create_all(engine)
    skip = leave_alone(crmcore_metadata(**_crm(engine)))
    with SqlUnitOfWork(engine, **_crm(engine)):
        pass
    assert _diff(engine, host, include_object=skip) == []
    # the host's own changes are still seen
    sa.Table("invoices", host, sa.Column("id", sa.Integer, primary_key=True))
    assert [d[0] for d in _diff(engine, host, include_object=skip)] == ["add_table"]
