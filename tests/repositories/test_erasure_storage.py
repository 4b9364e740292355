"""Issue 15, erasure that erases: the declaration of personal data covers the schema, and after
``erase_customer`` and ``commit()`` no marker is left in any table or database file.

Every SQL backend: every row of every table read back over SQL holds no marker. SQLite: the
database file and its ``-wal`` file hold none while the engine stays open (the erasure's commit
checkpoints the WAL with TRUNCATE; ``secure_delete`` zeroes freed space), and
``purge_erased_copies`` (VACUUM) removes the copies that writes made without ``secure_delete``
left. PostgreSQL and MariaDB keep old row versions in their table files after the commit (the
documented physical-copy caveat, measured here); after ``purge_erased_copies`` (VACUUM (FULL) /
OPTIMIZE TABLE) the relation files of every crmcore table (heap, TOAST, indexes; InnoDB
``.ibd``) hold none. Each file scan first finds the markers before the erasure, so it can fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from crmcore.anomaly.alerts import Alert
from crmcore.anomaly.store import ALERT_KIND, AlertStore
from crmcore.errors import ConcurrencyError, RepositoryError
from crmcore.model import FieldChange, Opportunity
from crmcore.model._storable import KEY_LENGTH
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
from crmcore.repositories._personal_data import (
    ERASED_NAME,
    KEPT_TEXT,
    OWNED_DOCUMENTS,
    PERSONAL_DATA,
    PersonalKind,
    anonymised,
    table_of,
)
from crmcore.repositories.privacy import erase_customer, purge_erased_copies
from crmcore.repositories.sql import _erasure, make_engine
from crmcore.repositories.sql.schema import metadata
from crmcore.serialization import to_dict
from crmcore.testing import strategies as cst
from crmcore.testing._contract_erasure import PERSONAL_MARKERS, markers_in, seed_personal_data

from .conftest import _server_database, empty_uow


# -- the declaration against the schema and the model ---------------------------------------
def _text_columns() -> set[tuple[str, str]]:
    """Every free-length or key-length text column of the schema (ids and enums excluded)."""
    out = set()
    for table in metadata.sorted_tables:
        for col in table.columns:
            t = col.type
            if isinstance(t, sa.Text) or (
                isinstance(t, sa.String) and (t.length or 0) >= KEY_LENGTH
            ):
                out.add((table.name, col.name))
    return out - {("crmcore_schema", "name")}


def test_every_text_column_is_declared_personal_or_kept() -> None:
    declared = {(f.table, f.column) for f in PERSONAL_DATA}
    kept = {(k.table, k.column) for k in KEPT_TEXT}
    undeclared = sorted(_text_columns() - declared - kept)
    assert undeclared == [], (
        f"declare these in _personal_data (PERSONAL_DATA or KEPT_TEXT): {undeclared}"
    )
    # personal wins: only documents' body is both (alerts are personal, other kinds are kept)
    assert declared & kept == {("documents", "body")}


def test_declared_columns_exist_in_the_schema_and_the_model() -> None:
    tables = {
        "customers": "Customer",
        "interactions": "Interaction",
        "opportunities": "Opportunity",
        "stage_changes": "StageChange",
        "field_changes": "FieldChange",
        "activities": "Activity",
        "surveys": "SurveyResponse",
        "costs": "CostEntry",
        "service_cases": "ServiceCase",
    }
    import crmcore.model as model

    for f in (*PERSONAL_DATA, *KEPT_TEXT):
        assert f.column in metadata.tables[f.table].c, f
    for f in PERSONAL_DATA:
        if f.table == "documents":
            continue
        cls = getattr(model, tables[f.table])
        assert f.attribute in attrs.fields_dict(cls), f


def test_declared_alert_paths_are_fields_of_an_alert() -> None:
    assert [d.kind for d in OWNED_DOCUMENTS] == [ALERT_KIND]
    fields = attrs.fields_dict(Alert)
    for f in PERSONAL_DATA:
        if f.document == ALERT_KIND:
            head, *rest = f.attribute.split(".")
            assert head.removesuffix("[]") in fields, f
            if rest:
                assert rest == ["note"] and head == "steps[]"
    assert "customer_id" in fields


@given(
    st.one_of(
        cst.customers(),
        cst.opportunities(),
        cst.stage_changes(),
        cst.field_changes(),
        cst.interactions(),
        cst.activities(),
        cst.survey_responses(),
        cst.cost_entries(),
    )
)
def test_anonymised_erases_each_declared_field_and_nothing_else(record: Any) -> None:
    erased = anonymised(record)
    assert anonymised(erased) == erased  # idempotent
    declared = {f.attribute: f.kind for f in PERSONAL_DATA if f.table == table_of(record)}
    before, after = to_dict(record), to_dict(erased)
    for name in before:
        if name in declared:
            kind = declared[name]
            if kind is PersonalKind.NAME:
                assert after[name] == ERASED_NAME
            elif kind is PersonalKind.CUSTOM_FIELDS:
                assert after[name] == {
                    k: v for k, v in before[name].items() if not isinstance(v, str)
                }
            elif kind is PersonalKind.FIELD_VALUE:
                if record.field.startswith("custom.") and isinstance(getattr(record, name), str):
                    assert after[name] is None
                else:
                    assert after[name] == before[name]
            else:
                assert not after[name] or after[name] == {"contact": False, "data_use": False}
        elif name == "erased":
            assert after[name] is True
        else:
            assert after[name] == before[name], name


def test_an_erased_edit_of_a_custom_text_keeps_its_number_and_time() -> None:
    e = FieldChange(
        opportunity_id="o-1",
        sequence=4,
        field="custom.who",
        old=None,
        new="Mrs Li",
        at=datetime(2024, 5, 1, tzinfo=UTC),
        by="rep-1",
        reason="asked",
    )
    got = anonymised(e)
    assert (got.sequence, got.at, got.old, got.new, got.reason) == (4, e.at, None, None, None)
    plain = Opportunity(
        id="o", customer_id="c", owner_id="r", funnel="f", stage="s", created_at=e.at
    )
    assert anonymised(plain) is plain  # nothing to erase: the same object, not rewritten


# -- the stored data ---------------------------------------------------------------------------
def _sql_dump(engine: sa.Engine) -> str:
    """Every row of every crmcore table, read over SQL, as one text."""
    rows: list[str] = []
    with engine.connect() as c:
        for table in metadata.sorted_tables:
            rows += [repr(tuple(r)) for r in c.execute(sa.select(table))]
    return "\n".join(rows)


def _in_files(paths: list[Path]) -> dict[str, list[str]]:
    """``file name → markers found`` for the files holding any."""
    out = {}
    for p in paths:
        if p.exists():
            found = markers_in(p.read_bytes().decode("latin-1"))
            if found:
                out[p.name] = sorted(found)
    return out


def _erase(uow: SqlUnitOfWork) -> None:
    with uow:
        erase_customer(uow, "c-1")
        uow.commit()


def test_memory_backend_erases_every_marker() -> None:
    uow = MemoryUnitOfWork()
    seed_personal_data(uow)
    with uow:
        erase_customer(uow, "c-1")
        uow.commit()
    assert markers_in(repr(uow.store.tables)) == []


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[SqlUnitOfWork, Path]]:
    path = tmp_path / "crm.db"
    uow = SqlUnitOfWork.from_url(path)
    yield uow, path
    uow.close()


def _sqlite_files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]


def test_sqlite_file_and_wal_hold_no_marker_after_the_erase_commit(
    sqlite_file: tuple[SqlUnitOfWork, Path],
) -> None:
    uow, path = sqlite_file
    seed_personal_data(uow)
    assert set(markers_in(_sql_dump(uow.engine))) == set(PERSONAL_MARKERS)
    before = _in_files(_sqlite_files(path))
    assert set().union(*before.values()) == set(PERSONAL_MARKERS), before
    _erase(uow)  # the engine stays open: pooled connections, the -wal file present
    assert markers_in(_sql_dump(uow.engine)) == []
    assert _in_files(_sqlite_files(path)) == {}
    assert path.with_name("crm.db-wal").stat().st_size == 0


def _without_secure_delete(path: Path) -> SqlUnitOfWork:
    """A unit of work whose connections write with ``secure_delete`` off (SQLite's compiled
    default where the build does not turn it on), as another tool or an older crmcore would."""
    engine = make_engine(f"sqlite:///{path}")

    @sa.event.listens_for(engine, "connect")
    def _off(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA secure_delete = OFF")

    uow = SqlUnitOfWork(engine)
    return uow


def test_sqlite_copies_left_by_writes_without_secure_delete_go_with_the_purge(
    tmp_path: Path,
) -> None:
    path = tmp_path / "crm.db"
    uow = _without_secure_delete(path)
    try:
        seed_personal_data(uow)
        with uow:  # a correction before the erasure: the old long text's pages are freed
            i1 = uow.interactions.get("i-1")
            uow.interactions.replace(attrs.evolve(i1, outcome=f"{i1.outcome}."))
            uow.commit()
        _erase(uow)
        assert markers_in(_sql_dump(uow.engine)) == []
        left = _in_files(_sqlite_files(path))
        # SQLite 3.40: the freed overflow pages of the replaced text stay in the free list,
        # unzeroed; secure_delete during the erasure cannot reach them, VACUUM does
        assert left == {"crm.db": ["interaction outcome", "interaction subject"]}, left
        assert purge_erased_copies(uow) == ["VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"]
        assert _in_files(_sqlite_files(path)) == {}
        with uow:  # still a working database
            assert uow.customers.get("c-1").name == ERASED_NAME
    finally:
        uow.engine.dispose()


def test_sqlite_joined_connection_leaves_the_checkpoint_to_the_purge(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    owner = SqlUnitOfWork.from_url(path)
    seed_personal_data(owner)
    with owner.engine.connect() as conn:
        joined = SqlUnitOfWork(connection=conn)
        with joined:
            erase_customer(joined, "c-1")
            joined.commit()
        conn.commit()
    assert markers_in(_sql_dump(owner.engine)) == []
    purge_erased_copies(owner)
    assert _in_files(_sqlite_files(path)) == {}
    owner.close()


# -- PostgreSQL -----------------------------------------------------------------------------------
def _postgres_files(engine: sa.Engine) -> list[Path] | None:
    """The files of every crmcore table, its TOAST table and their indexes, and of the
    database's ``pg_statistic`` and its TOAST table, after a CHECKPOINT; None when the data directory cannot be
    read from here."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("CHECKPOINT")
        base = Path(c.exec_driver_sql("SHOW data_directory").scalar_one())
        names = [t.name for t in metadata.sorted_tables]
        rels = c.execute(
            sa.text(
                "WITH t AS (SELECT oid, reltoastrelid FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace AND relname = ANY(:names)) "
                "SELECT pg_relation_filepath(r) FROM ("
                " SELECT oid AS r FROM t UNION SELECT reltoastrelid FROM t WHERE reltoastrelid <> 0"
                " UNION SELECT indexrelid FROM pg_index WHERE indrelid IN "
                "  (SELECT oid FROM t UNION SELECT reltoastrelid FROM t)"
                " UNION SELECT 'pg_catalog.pg_statistic'::regclass"
                " UNION SELECT reltoastrelid FROM pg_class"
                "  WHERE oid = 'pg_catalog.pg_statistic'::regclass) x"
            ),
            {"names": names},
        ).scalars()
        files = [base / p for p in rels if p is not None]
    if not files or not os.access(files[0], os.R_OK):
        return None
    return files


@pytest.fixture
def postgres_uow() -> Iterator[SqlUnitOfWork]:
    """A unit of work on a database of its own: ``pg_statistic`` is one file per database,
    and the session's database also holds the statistics of the contract suite's other
    namespaces (schema ``crm_contract``), seeded with the same markers and never erased."""
    gen = _server_database("postgres")
    engine = make_engine(next(gen), connect_args={"options": "-c synchronous_commit=off"})
    try:
        yield empty_uow(engine)
    finally:
        engine.dispose()
        gen.close()


def _postgres_statistics(engine: sa.Engine) -> list[str]:
    """Markers in the planner statistics of the crmcore tables (``pg_stats``, over SQL)."""
    with engine.connect() as c:
        rows = c.exec_driver_sql(
            "SELECT most_common_vals::text, histogram_bounds::text FROM pg_stats "
            "WHERE schemaname = 'public'"
        ).all()
    return markers_in(repr(rows))


@pytest.mark.postgres
def test_postgres_holds_no_marker_after_the_documented_vacuum(postgres_uow: SqlUnitOfWork) -> None:
    uow = postgres_uow
    seed_personal_data(uow)
    with uow.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("ANALYZE")  # what autovacuum does to a table that grew
    assert "name" in _postgres_statistics(uow.engine)  # statistics hold sampled values
    files = _postgres_files(uow.engine)
    if files is not None:
        assert set().union(*_in_files(files).values()) == set(PERSONAL_MARKERS)
    _erase(uow)
    assert markers_in(_sql_dump(uow.engine)) == []
    if files is not None:
        print(f"PostgreSQL after the erase commit: {_in_files(_postgres_files(uow.engine) or [])}")
    print(f"PostgreSQL statistics after the erase commit: {_postgres_statistics(uow.engine)}")
    statements = purge_erased_copies(uow)
    assert statements[0].startswith("VACUUM (FULL, ANALYZE) ")
    assert markers_in(_sql_dump(uow.engine)) == []
    assert _postgres_statistics(uow.engine) == []
    files = _postgres_files(uow.engine)  # VACUUM FULL wrote new files
    if files is None:
        pytest.skip("the PostgreSQL data directory is not readable here: checked over SQL only")
    assert _in_files(files) == {}


@pytest.mark.postgres
def test_postgres_purge_waits_for_older_snapshots_and_names_them(
    postgres_uow: SqlUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction whose snapshot was taken before the erasure committed may still read the
    erased row versions, and VACUUM (FULL) copies them into the new files: the purge refuses
    (naming it) instead of leaving them there silently, and runs once it has ended."""
    uow = postgres_uow
    seed_personal_data(uow)
    url = uow.engine.url.render_as_string(hide_password=False)
    reporting = make_engine(
        url, isolation_level="REPEATABLE READ", connect_args={"application_name": "r5-report"}
    )
    try:
        with reporting.connect() as reader:
            reader.exec_driver_sql("SELECT 1")  # its snapshot, no lock on crmcore's tables
            _erase(uow)
            monkeypatch.setattr(_erasure, "PURGE_WAIT_SECONDS", 0.3)
            with pytest.raises(RepositoryError, match=r"did not run at all .*'r5-report'"):
                purge_erased_copies(uow)
            files = _postgres_files(uow.engine)
            if files is not None:  # nothing was purged: the erased versions are still there
                assert _in_files(files) != {}
    finally:
        reporting.dispose()
    monkeypatch.undo()  # the documented wait: other sessions of this server come and go
    purge_erased_copies(uow)
    files = _postgres_files(uow.engine)
    if files is None:
        pytest.skip("the PostgreSQL data directory is not readable here: checked over SQL only")
    assert _in_files(files) == {}


# -- MariaDB ------------------------------------------------------------------------------------
def _mysql_scan(engine: sa.Engine) -> dict[str, list[str]] | None:
    """Markers in the ``.ibd`` files of every crmcore table (flushed with FLUSH TABLES ... FOR
    EXPORT); None when the data directory cannot be read from here."""
    names = [t.name for t in metadata.sorted_tables]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        datadir = Path(c.exec_driver_sql("SELECT @@datadir").scalar_one())
        folder = datadir / str(engine.url.database)
        if not os.access(folder, os.R_OK):
            return None
        c.exec_driver_sql(f"FLUSH TABLES {', '.join(names)} FOR EXPORT")
        try:
            return _in_files([folder / f"{n}.ibd" for n in names])
        finally:
            c.exec_driver_sql("UNLOCK TABLES")


@pytest.fixture
def mysql_uow(mysql_engine: sa.Engine) -> SqlUnitOfWork:
    return empty_uow(mysql_engine)


@pytest.mark.mysql
def test_mariadb_holds_no_marker_after_the_documented_optimize(mysql_uow: SqlUnitOfWork) -> None:
    uow = mysql_uow
    seed_personal_data(uow)
    found = _mysql_scan(uow.engine)
    if found is not None:
        assert set().union(*found.values()) == set(PERSONAL_MARKERS)
    _erase(uow)
    assert markers_in(_sql_dump(uow.engine)) == []
    print(f"MariaDB after the erase commit: {_mysql_scan(uow.engine)}")
    assert purge_erased_copies(uow)[0].startswith("OPTIMIZE TABLE ")
    assert markers_in(_sql_dump(uow.engine)) == []
    found = _mysql_scan(uow.engine)
    if found is None:
        pytest.skip("the MariaDB data directory is not readable here: checked over SQL only")
    assert found == {}


# -- an erasure concurrent with a save of the same deal --------------------------------------
def _seats_edit(at: datetime = datetime(2024, 3, 1, tzinfo=UTC)) -> FieldChange:
    return FieldChange(
        opportunity_id="o-1",
        sequence=4,
        field="custom.seats",
        old=40,
        new=41,
        at=at,
        by="rep-1",
    )


def _plus_a_seat(o: Opportunity) -> Opportunity:
    return attrs.evolve(o, custom={**dict(o.custom), "seats": 41})


def test_memory_save_staged_before_an_erasure_does_not_bring_values_back() -> None:
    uow = MemoryUnitOfWork()
    seed_personal_data(uow)
    eraser = MemoryUnitOfWork(store=uow.store)
    with uow:
        o = uow.opportunities.get("o-1")
        uow.opportunities.save(_plus_a_seat(o), [_seats_edit()])
        with eraser:
            erase_customer(eraser, "c-1")
            eraser.commit()
        with pytest.raises(ConcurrencyError, match="nothing was committed"):
            uow.commit()
    assert markers_in(repr(uow.store.tables)) == []
    assert uow.store.tables["opportunities"]["o-1"].version == 4  # the erasure's edit


def test_memory_staged_writes_over_an_in_place_erasure_fail_at_commit() -> None:
    """Where the erasure keeps the version (a deal with no custom text left; an alert's stored
    versions), the commit compares the record the write was based on."""
    uow = MemoryUnitOfWork()
    seed_personal_data(uow)
    with uow:  # the custom text goes by a user's edit: the erasure will append nothing
        o = uow.opportunities.get("o-1")
        drop = FieldChange(
            opportunity_id="o-1",
            sequence=4,
            field="custom.contact",
            old=PERSONAL_MARKERS["custom field edited"],
            new=None,
            at=datetime(2024, 3, 1, tzinfo=UTC),
            by="rep-1",
        )
        uow.opportunities.save(attrs.evolve(o, custom={"seats": 40}), [drop])
        uow.commit()
    eraser = MemoryUnitOfWork(store=uow.store)
    with uow:
        o = uow.opportunities.get("o-1")
        edit = attrs.evolve(_seats_edit(), sequence=5)
        uow.opportunities.save(attrs.evolve(o, custom={"seats": 41}), [edit])
        (alert,) = AlertStore(uow).list(customer_id="c-1")
        body, v = uow.documents.get(ALERT_KIND, alert.id)
        confirmed = {**body, "outcome": f"{body['outcome']} (confirmed)"}
        uow.documents.put(ALERT_KIND, alert.id, confirmed, expected_version=v)
        with eraser:
            erase_customer(eraser, "c-1")
            eraser.commit()
        assert uow.store.tables["opportunities"]["o-1"].version == 4  # kept: nothing appended
        with pytest.raises(ConcurrencyError, match="changed by another unit of work"):
            uow.commit()
    assert markers_in(repr(uow.store.tables)) == []


def _sql_save_across_an_erasure(uow: SqlUnitOfWork, erase: Callable[[], None]) -> None:
    """``uow`` saves one more seat on deal o-1; after the save has read the stored deal and
    before its ``UPDATE``, ``erase()`` erases customer c-1 on another connection and commits.
    The save must fail (ConcurrencyError), leaving the erased deal as it is."""
    fired: list[bool] = []

    def before(_c: Any, _cur: Any, statement: str, *_args: Any) -> None:
        if (
            not fired
            and statement.lstrip().upper().startswith("UPDATE")
            and ("opportunities" in statement)
        ):
            fired.append(True)
            erase()

    sa.event.listen(uow.engine, "before_cursor_execute", before)
    try:
        with uow:
            o = uow.opportunities.get("o-1")
            with pytest.raises(ConcurrencyError):
                uow.opportunities.save(_plus_a_seat(o), [_seats_edit()])
    finally:
        sa.event.remove(uow.engine, "before_cursor_execute", before)
    assert fired
    assert markers_in(_sql_dump(uow.engine)) == []
    with uow:
        o = uow.opportunities.get("o-1")
        assert (o.version, dict(o.custom)) == (4, {"seats": 40})


def _erase_with(make: Callable[[], SqlUnitOfWork]) -> Callable[[], None]:
    def erase() -> None:
        other = make()
        with other:
            erase_customer(other, "c-1")
            other.commit()

    return erase


def test_sqlite_save_across_an_erasure_does_not_bring_values_back(
    sqlite_file: tuple[SqlUnitOfWork, Path],
) -> None:
    uow, _ = sqlite_file
    seed_personal_data(uow)
    with uow.engine.connect() as conn:  # joined: its checkpoint would wait for the save's read

        def erase() -> None:
            _erase_with(lambda: SqlUnitOfWork(connection=conn))()
            conn.commit()

        _sql_save_across_an_erasure(uow, erase)


@pytest.mark.postgres
def test_postgres_save_across_an_erasure_does_not_bring_values_back(
    postgres_factory: Callable[[], SqlUnitOfWork],
) -> None:
    uow = postgres_factory()
    seed_personal_data(uow)
    _sql_save_across_an_erasure(uow, _erase_with(lambda: SqlUnitOfWork(uow.engine)))


@pytest.mark.mysql
def test_mariadb_save_across_an_erasure_does_not_bring_values_back(
    mysql_factory: Callable[[], SqlUnitOfWork],
) -> None:
    uow = mysql_factory()
    seed_personal_data(uow)
    _sql_save_across_an_erasure(uow, _erase_with(lambda: SqlUnitOfWork(uow.engine)))
