"""A minimal Django project (app ``crm_demo``) on SQLite and PostgreSQL, for crmcore's Django path.

Django is configured here, once per test process, with two databases:
``default``, an SQLite file in a temporary folder, and ``pg``, a PostgreSQL
database with a random name created for the session on the server of
``CRMCORE_TEST_POSTGRES_URL`` (default: this machine's) and dropped at the
end. An unreachable server skips the PostgreSQL tests with the reason, unless
``CRMCORE_REQUIRE_SERVERS=1``. Without Django installed (it is in the dev
extra) the tests are skipped with the reason, see the test module.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

collect_ignore = ["crm_demo"]  # the Django app is imported by Django, not collected

HERE = Path(__file__).parent
PG_URL = sa.make_url(
    os.environ.get("CRMCORE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
)
PG_NAME = f"crmcore_django_{secrets.token_hex(5)}"
SQLITE_DIR = Path(tempfile.gettempdir()) / f"crmcore-django-{secrets.token_hex(5)}"

try:
    import django
    from django.conf import settings
except ImportError:  # the test module skips itself with the reason
    django = None
else:
    if not settings.configured:
        SQLITE_DIR.mkdir()
        sys.path.insert(0, str(HERE))
        settings.configure(
            DEBUG=False,
            SECRET_KEY="crmcore-test-project",
            ALLOWED_HOSTS=["testserver"],
            USE_TZ=True,
            INSTALLED_APPS=["crm_demo"],
            ROOT_URLCONF="crm_demo.urls",
            MIDDLEWARE=[],
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            DATABASES={
                "default": {
                    "ENGINE": "django.db.backends.sqlite3",
                    "NAME": str(SQLITE_DIR / "app.db"),
                },
                "pg": {
                    "ENGINE": "django.db.backends.postgresql",
                    "NAME": PG_NAME,
                    "USER": PG_URL.username or "",
                    "PASSWORD": PG_URL.password or "",
                    "HOST": PG_URL.host or "",
                    "PORT": str(PG_URL.port or ""),
                },
            },
        )
        django.setup()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """Creates the ``pg`` alias's database (skips when the server is not reachable)."""
    shown = PG_URL.render_as_string(hide_password=True)
    try:
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f"CREATE DATABASE {PG_NAME}")
    except Exception as e:  # any driver or network error means "not reachable"
        reason = f"PostgreSQL not reachable at {shown}: {str(e).splitlines()[0]}"
        if os.environ.get("CRMCORE_REQUIRE_SERVERS") == "1":
            pytest.fail(reason + " (CRMCORE_REQUIRE_SERVERS=1)")
        pytest.skip(reason)
    try:
        yield PG_NAME
    finally:
        from django.db import connections

        connections["pg"].close()
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def _sqlite_folder() -> Iterator[None]:
    yield
    if django is not None:
        from django.db import connections

        connections["default"].close()
    shutil.rmtree(SQLITE_DIR, ignore_errors=True)
