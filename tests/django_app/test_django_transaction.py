"""A Django application using crmcore in its own database and transaction (issue 15).

The test project (``crm_demo``: an ``Invoice`` model and a view that invoices
a deal and moves it with :func:`crmcore.pipeline.service.advance`) runs on
SQLite and PostgreSQL. What is stored is read back through an engine of its
own on the same database (what another process sees), so each test shows
what was committed, not what one connection holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

pytest.importorskip(
    "django",
    reason="Django is not installed: the Django path is tested with the dev extra "
    "(pip install -e '.[dev]'); crmcore itself does not need Django",
)

from crm_demo.models import Invoice
from crm_demo.views import FUNNEL
from django.conf import settings
from django.db import connections, models, transaction
from django.test import Client

from crmcore.errors import ConcurrencyError, RepositoryError, ValidationError
from crmcore.model import Customer
from crmcore.pipeline.service import create_opportunity
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql import django_unit_of_work
from crmcore.repositories.sql.schema import metadata

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
ALIASES = ["default", pytest.param("pg", marks=pytest.mark.postgres)]
_ready: set[str] = set()


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Django database alias with the app's and crmcore's tables, emptied, and one deal."""
    name: str = request.param
    if name == "pg":
        request.getfixturevalue("pg_database")
    conn = connections[name]
    if name not in _ready:
        with conn.schema_editor() as editor:
            editor.create_model(Invoice)
        _ready.add(name)
    with django_unit_of_work(using=name) as uow:  # crmcore's tables, in Django's transaction
        uow.commit()
    with transaction.atomic(using=name), conn.cursor() as cur:
        cur.execute(f"DELETE FROM {Invoice._meta.db_table}")
        for table in reversed(metadata.sorted_tables):
            if table.name != "crmcore_schema":
                cur.execute(f"DELETE FROM {table.name}")
    with django_unit_of_work(using=name) as uow:
        create_opportunity(
            uow,
            FUNNEL,
            id="d-1",
            customer_id="c-1",
            owner_id="ann",
            at=T0,
            expected_close=date(2025, 6, 30),
        )
        uow.commit()
    yield name
    assert not conn.in_atomic_block


def plain_engine(alias: str) -> sa.Engine:
    """An engine of its own on the database of ``alias``: what another process would see."""
    db = settings.DATABASES[alias]
    if alias == "default":
        return sa.create_engine(f"sqlite:///{db['NAME']}")
    return sa.create_engine(
        sa.URL.create(
            "postgresql+psycopg",
            username=db["USER"] or None,
            password=db["PASSWORD"] or None,
            host=db["HOST"] or None,
            port=int(db["PORT"]) if db["PORT"] else None,
            database=db["NAME"],
        )
    )


def stored(alias: str) -> tuple[list[str], list[tuple[str, int]], list[str]]:
    """Invoices, (deal, version) and customers as committed, read on a connection of its own."""
    engine = plain_engine(alias)
    try:
        with engine.connect() as c:
            invoices = [r[0] for r in c.exec_driver_sql("SELECT number FROM crm_demo_invoice")]
            deals = [
                (r[0], int(r[1]))
                for r in c.exec_driver_sql("SELECT id, version FROM opportunities ORDER BY id")
            ]
            customers = [r[0] for r in c.exec_driver_sql("SELECT id FROM customers ORDER BY id")]
    finally:
        engine.dispose()
    return sorted(invoices), deals, customers


# -- a view -------------------------------------------------------------------------------------


def test_a_view_commits_the_django_row_and_the_crmcore_move_together(alias: str) -> None:
    response = Client().get(f"/deals/{alias}/d-1/move/proposal?version=0")
    assert response.status_code == 200, response.content
    assert response.json() == {"invoice": "d-1-proposal", "version": 1}
    assert stored(alias) == (["d-1-proposal"], [("d-1", 1)], [])
    with django_unit_of_work(using=alias) as uow:
        history = uow.opportunities.history("d-1")
        deal = uow.opportunities.get("d-1")
    assert [e.to_stage for e in history] == ["lead", "proposal"]
    assert deal.expected_close == date(2025, 6, 30)  # a DATE column through Django's SQLite


def test_an_error_in_the_view_after_both_writes_rolls_both_back(alias: str) -> None:
    with pytest.raises(RuntimeError, match="after both writes"):
        Client().get(f"/deals/{alias}/d-1/move/proposal?version=0&fail=1")
    assert stored(alias) == ([], [("d-1", 0)], [])


def test_a_stale_move_rolls_the_django_row_back(alias: str) -> None:
    """crmcore refuses the move (optimistic concurrency): the invoice written before it in the
    same transaction is rolled back with it."""
    assert Client().get(f"/deals/{alias}/d-1/move/proposal?version=0").status_code == 200
    with pytest.raises(ConcurrencyError, match="is at version 1, the caller saw version 0"):
        Client().get(f"/deals/{alias}/d-1/move/negotiation?version=0")
    assert stored(alias) == (["d-1-proposal"], [("d-1", 1)], [])


def _invoice_and_refused_save(alias: str) -> None:
    with transaction.atomic(using=alias):
        Invoice.objects.using(alias).create(number="inv-1", deal_id="d-1")
        with django_unit_of_work(using=alias) as uow:
            uow.customers.add(Customer(id="c-1", name="Ada"))
            create_opportunity(uow, FUNNEL, id="d-2", customer_id="c-1", owner_id="ann", at=T0)
            uow.opportunities.save(uow.opportunities.get("d-2"), [])  # no event: refused
            uow.commit()


def test_a_refused_record_rolls_the_django_row_back(alias: str) -> None:
    with pytest.raises(ValidationError, match="changes only through events"):
        _invoice_and_refused_save(alias)
    assert stored(alias) == ([], [("d-1", 0)], [])


# -- the transaction ----------------------------------------------------------------------------


def test_nothing_is_committed_before_django_commits(alias: str) -> None:
    """The finding: crmcore's blocks neither roll back nor commit Django's pending insert; the
    Django row and crmcore's records become visible to others together, at Django's commit."""
    with transaction.atomic(using=alias):
        Invoice.objects.using(alias).create(number="inv-1", deal_id="d-1")
        with django_unit_of_work(using=alias) as uow:
            assert uow.customers.count() == 0  # a read-only block, left without commit()
        with django_unit_of_work(using=alias) as uow:
            uow.customers.add(Customer(id="c-1", name="Ada"))
            uow.commit()
        assert Invoice.objects.using(alias).filter(number="inv-1").exists()
        with connections[alias].cursor() as cur:  # one connection: Django sees crmcore's row
            cur.execute("SELECT name FROM customers WHERE id = 'c-1'")
            assert cur.fetchone() == ("Ada",)
        assert stored(alias) == ([], [("d-1", 0)], [])  # others see nothing yet
    assert stored(alias) == (["inv-1"], [("d-1", 0)], ["c-1"])


def test_a_crmcore_block_without_commit_keeps_only_the_django_row(alias: str) -> None:
    with transaction.atomic(using=alias):
        Invoice.objects.using(alias).create(number="inv-1", deal_id="d-1")
        with django_unit_of_work(using=alias) as uow:
            uow.customers.add(Customer(id="c-1", name="Ada"))
            # no uow.commit(): crmcore's changes are rolled back on leaving, as in any block
    assert stored(alias) == (["inv-1"], [("d-1", 0)], [])


def test_outside_an_atomic_block_it_is_one(alias: str) -> None:
    """Django in autocommit mode: the helper opens the atomic block and commits on leaving."""
    assert connections[alias].get_autocommit()
    with django_unit_of_work(using=alias) as uow:
        assert connections[alias].in_atomic_block
        uow.customers.add(Customer(id="c-1", name="Ada"))
        uow.commit()
    assert stored(alias) == ([], [("d-1", 0)], ["c-1"])
    with pytest.raises(KeyError, match="after crmcore's commit"):
        _commit_then_fail(alias)
    assert stored(alias) == ([], [("d-1", 0)], ["c-1"])


def _commit_then_fail(alias: str) -> None:
    with django_unit_of_work(using=alias) as uow:
        uow.customers.add(Customer(id="c-2", name="Bo"))
        uow.commit()
        raise KeyError("after crmcore's commit, inside the atomic block")


def test_django_connection_is_left_as_django_made_it(alias: str) -> None:
    conn = connections[alias]
    conn.ensure_connection()
    raw = conn.connection
    with django_unit_of_work(using=alias) as uow:
        uow.customers.add(Customer(id="c-1", name="Ada"))
        uow.commit()
        dbapi = uow._conn().connection.dbapi_connection
        with pytest.raises(AttributeError, match="does not change Django's database connection"):
            dbapi.isolation_level = None  # type: ignore[union-attr]  # the facade refuses
    assert conn.connection is raw and conn.is_usable()
    if alias == "default":  # Django's REGEXP is still Django's (SQLAlchemy would replace it)
        with conn.cursor() as cur:
            cur.execute("SELECT 123 REGEXP '2'")
            assert cur.fetchone() == (1,)
    assert Invoice.objects.using(alias).count() == 0


def test_the_naive_creator_engine_silently_rolls_back_the_pending_insert(alias: str) -> None:
    """Why the helper exists: an engine built with ``creator=`` around Django's connection
    rolls it back when the pool takes it back, and Django's pending insert is gone."""
    conn = connections[alias]
    conn.ensure_connection()
    url = "sqlite://" if alias == "default" else "postgresql+psycopg://"
    engine = sa.create_engine(url, creator=lambda: connections[alias].connection)
    try:
        with transaction.atomic(using=alias):
            Invoice.objects.using(alias).create(number="inv-1", deal_id="d-1")
            naive = SqlUnitOfWork(engine)
            with naive:
                naive.customers.count()
            lost = not Invoice.objects.using(alias).filter(number="inv-1").exists()
    finally:
        conn.close()  # the naive pool holds Django's connection: let Django open a new one
    assert lost
    assert stored(alias)[0] == []


def test_the_documented_view_is_the_tested_one() -> None:
    """docs/repositories.md, "Django", shows the test project's view verbatim."""
    root = Path(__file__).parents[2]
    doc = (root / "docs" / "repositories.md").read_text(encoding="utf-8")
    section = doc.split("## Django: one database, one transaction", 1)[1]
    shown = section.split("```python\n", 1)[1].split("```", 1)[0]
    views = (Path(__file__).parent / "crm_demo" / "views.py").read_text(encoding="utf-8")
    assert shown.startswith("def move_deal(") and shown in views


def _make_tables_then_fail(alias: str) -> None:
    with transaction.atomic(using=alias):
        with django_unit_of_work(using=alias) as uow:
            uow.customers.add(Customer(id="c-1", name="Ada"))
            uow.commit()
        raise KeyError("the transaction that made crmcore's tables rolls back")


def test_tables_rolled_back_with_their_transaction_are_made_again(alias: str) -> None:
    """crmcore's tables are checked once per database, then only looked for on each use: a
    transaction that made them and rolled back does not leave crmcore without them."""
    with transaction.atomic(using=alias), connections[alias].cursor() as cur:
        for table in reversed(metadata.sorted_tables):
            cur.execute(f"DROP TABLE {table.name}")
    with pytest.raises(KeyError, match="rolls back"):
        _make_tables_then_fail(alias)
    with django_unit_of_work(using=alias) as uow:
        assert uow.customers.count() == 0
        uow.customers.add(Customer(id="c-2", name="Bo"))
        uow.commit()
    assert stored(alias) == ([], [], ["c-2"])


def test_another_vendor_is_refused_naming_it() -> None:
    from crmcore.errors import RepositoryError
    from crmcore.repositories.sql._django import _dialect_url

    with pytest.raises(RepositoryError, match="SQLite and PostgreSQL backends, not 'mysql'"):
        _dialect_url("mysql", object())


# -- a namespace: the application's own "customers" beside crmcore's ----------------------------
class HostCustomer(models.Model):
    """The application's own customers table, named as crmcore would name its own."""

    email = models.CharField(max_length=64)

    class Meta:
        app_label = "crm_demo"
        db_table = "host_customers"


def test_a_table_prefix_keeps_crmcore_apart_from_the_applications_own_customers(
    alias: str,
) -> None:
    conn = connections[alias]
    with conn.schema_editor() as editor:
        editor.create_model(HostCustomer)
    try:
        with (
            pytest.raises(RepositoryError, match="'host_customers' is not crmcore's"),
            django_unit_of_work(using=alias, table_prefix="host_") as uow,
        ):
            uow.customers.count()
        with transaction.atomic(using=alias):
            HostCustomer.objects.using(alias).create(email="ada@example.com")
            with django_unit_of_work(using=alias, table_prefix="crm_") as uow:
                uow.customers.add(Customer(id="c-9", name="Ada"))
                uow.commit()
        engine = plain_engine(alias)
        try:
            with engine.connect() as c:
                ids = [r[0] for r in c.exec_driver_sql("SELECT id FROM crm_customers")]
                host = [r[0] for r in c.exec_driver_sql("SELECT email FROM host_customers")]
        finally:
            engine.dispose()
        assert ids == ["c-9"] and host == ["ada@example.com"]
        # the default namespace is another set of tables: c-9 is not there
        with django_unit_of_work(using=alias) as uow:
            assert uow.customers.find("c-9") is None
    finally:
        with conn.schema_editor() as editor:
            editor.delete_model(HostCustomer)
        with transaction.atomic(using=alias), conn.cursor() as cur:
            for table in reversed(metadata.sorted_tables):
                cur.execute(f"DROP TABLE IF EXISTS crm_{table.name}")
