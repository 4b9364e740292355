"""``crmcore db check URL`` / ``crmcore db upgrade URL``: crmcore's tables in a database."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crmcore._cli._common import OK, UPGRADE_DUE, Write, db_url


def run(args: argparse.Namespace, write: Write) -> int:
    """Check (exit 0 up to date, 3 upgrade due) or upgrade crmcore's tables."""
    import sqlalchemy as sa

    from crmcore.repositories.sql import make_engine
    from crmcore.repositories.sql._engine import translate
    from crmcore.repositories.sql.schema import (
        SCHEMA_VERSION,
        check_schema,
        ensure_schema,
        namespace,
        schema_plan,
    )

    ns = namespace(table_prefix=args.table_prefix, schema=args.schema)
    engine = make_engine(db_url(args.url))  # a URL, or an SQLite file's path as --db takes it
    shown = engine.url.render_as_string(hide_password=True)
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    try:
        if args.db_command == "check":
            if path and not path.startswith("file:") and not Path(path).exists():
                write(f"{shown}: no database file yet; `crmcore db upgrade` would create it")
                return UPGRADE_DUE  # (connecting would create the file)
            with engine.connect() as conn:
                plan = schema_plan(conn, ns)
                version = check_schema(conn, ns)
            where = f"crmcore's tables in {shown} ({ns.where()})"
            if not plan:
                write(f"{where}: schema version {version}, up to date")
                return OK
            state = "none yet" if version is None else f"schema version {version}"
            write(f"{where}: {state}; this crmcore writes version {SCHEMA_VERSION}")
            write("`crmcore db upgrade` would:")
            for step in plan:
                write(f"  {step}")
            return UPGRADE_DUE
        with engine.begin() as conn:
            plan = schema_plan(conn, ns)
            version = ensure_schema(conn, ns)
        for step in plan:
            write(f"done: {step}")
        write(f"crmcore's tables in {shown} ({ns.where()}): schema version {version}")
        return OK
    except sa.exc.SQLAlchemyError as e:
        raise translate(e, f"the database at {shown}") from e
    finally:
        engine.dispose()


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``db check`` and ``db upgrade``."""
    db = sub.add_parser(
        "db",
        help="check or upgrade crmcore's tables in a database",
        description="Check or upgrade crmcore's tables in a database (without Alembic).",
    )
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="{check,upgrade}")
    for name, text in (
        ("check", "say what the first open would do (exit status 0: up to date, 3: upgrade due)"),
        ("upgrade", "create or migrate crmcore's tables now"),
    ):
        cmd = db_sub.add_parser(
            name, help=text, description=text[0].upper() + text[1:] + ".", parents=[common]
        )
        cmd.add_argument(
            "url",
            help="database: a SQLAlchemy URL (sqlite:///crm.db, postgresql+psycopg://...) "
            "or the path of an SQLite file",
        )
        cmd.add_argument("--table-prefix", default="", help="crmcore's table name prefix")
        cmd.add_argument("--schema", default=None, help="crmcore's schema (default: the default)")
        cmd.set_defaults(run=run)
