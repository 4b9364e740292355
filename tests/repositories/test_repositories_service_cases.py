"""Service cases (issue 16) as a stored record type: one TableSpec, every backend.

* memory, SQLite, PostgreSQL and MariaDB answer ``list`` and ``iter`` alike, and like a
  plain-Python reference of the filters and the order (hypothesis: random cases with tied
  times and random filters, ranges and limits); bad filter values raise the same error;
* a database of every earlier schema version (1 to 4) is migrated to 5, in the default
  namespace and in a namespace of crmcore's own, and then stores service cases;
* ``import_service_cases`` from CSV and a DataFrame: rejects named by row, column and
  reason, re-runs skip, conflicts rejected, all-or-nothing stores nothing;
* a backend without the capability stays a unit of work; an import refuses it, export and
  erasure leave the key out.
(The round trip, export and erasure on the four backends: ServiceCaseContract in
test_repositories_contract.py.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcore.errors import ArgumentTypeError, CRMError, ValidationError
from crmcore.ingest import SERVICE_CASE_FIELDS, RejectedImportError, import_service_cases
from crmcore.model import CasePriority, Channel, Customer, ServiceCase
from crmcore.repositories import (
    MemoryUnitOfWork,
    ServiceCaseUnitOfWork,
    SqlUnitOfWork,
    UnitOfWork,
)
from crmcore.repositories.privacy import erase_customer, export_customer
from crmcore.repositories.sql import schema
from crmcore.testing.strategies import service_cases as any_service_case

from .test_repositories_migration import _as_schema, _namespace, engine  # noqa: F401

BASE = datetime(2024, 1, 1, tzinfo=UTC)
TIMES = [BASE + timedelta(hours=h) for h in range(5)]
IDS = ["sc-1", "sc-10", "sc-2", "SC-3", "a", "é", "Z9", "sc 1", "b"]
CUSTOMERS = ["c-1", "c-2", "C-1"]
OWNERS = ["rep-1", "rep-2"]
CATEGORIES = ["billing", "delivery"]


@st.composite
def _case(draw: Any) -> ServiceCase:
    opened = draw(st.sampled_from(TIMES))
    resolved = draw(st.none() | st.sampled_from([t for t in TIMES if t >= opened]))
    return ServiceCase(
        id=draw(st.sampled_from(IDS)),
        customer_id=draw(st.sampled_from(CUSTOMERS)),
        channel=draw(st.sampled_from([Channel.PHONE, Channel.EMAIL, Channel.CHAT])),
        opened_at=opened,
        category=draw(st.sampled_from(CATEGORIES)),
        owner_id=draw(st.sampled_from(OWNERS)),
        priority=draw(st.sampled_from(list(CasePriority))),
        resolved_at=resolved,
        satisfaction=None if resolved is None else draw(st.none() | st.integers(1, 5)),
        sla_due_at=draw(st.none() | st.just(opened + timedelta(hours=8))),
        subject=draw(st.none() | st.text("abc é中", max_size=8)),
    )


cases_lists = st.lists(_case(), max_size=10, unique_by=lambda c: c.id)
filters = st.fixed_dictionaries(
    {},
    optional={
        "customer_id": st.sampled_from([*CUSTOMERS, "c-9"]),
        "owner_id": st.sampled_from([*OWNERS, "rep-9"]),
        "channels": st.lists(st.sampled_from(["phone", "email", "web"]), max_size=2),
        "category": st.sampled_from([*CATEGORIES, "other"]),
        "open_only": st.booleans(),
        "start": st.sampled_from([*TIMES, BASE - timedelta(days=1)]),
        "end": st.sampled_from([*TIMES, BASE + timedelta(days=1)]),
        "limit": st.integers(0, 12),
    },
)


def _reference(cases: list[ServiceCase], f: dict[str, Any]) -> list[str]:
    """The filters and order written out independently of the TableSpec."""
    keep = [
        c
        for c in cases
        if f.get("customer_id") in (None, c.customer_id)
        and f.get("owner_id") in (None, c.owner_id)
        and ("channels" not in f or c.channel.value in f["channels"])
        and f.get("category") in (None, c.category)
        and (not f.get("open_only") or c.resolved_at is None)
        and ("start" not in f or c.opened_at >= f["start"])
        and ("end" not in f or c.opened_at < f["end"])
    ]
    keep.sort(key=lambda c: (c.opened_at, [ord(ch) for ch in c.id]))
    ids = [c.id for c in keep]
    return ids if "limit" not in f else ids[: f["limit"]]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cases=cases_lists, f=filters, batch=st.integers(1, 4))
def test_memory_and_sql_list_and_iter_agree(
    sql_module_uow: SqlUnitOfWork, cases: list[ServiceCase], f: dict[str, Any], batch: int
) -> None:
    want = _reference(cases, f)
    it = {k: v for k, v in f.items() if k in ("customer_id", "start", "end")}
    mem = MemoryUnitOfWork()
    for uow in (mem, sql_module_uow):
        with uow:
            uow.service_cases.add_many(cases)
            got = uow.service_cases.list(**f)
            assert [c.id for c in got] == want, type(uow).__name__
            assert all(c == next(x for x in cases if x.id == c.id) for c in got)
            streamed = [c.id for c in uow.service_cases.iter(batch_size=batch, **it)]
            assert streamed == _reference(cases, it)
            uow.rollback()


BAD_CALLS: list[dict[str, Any]] = [
    {"customer_id": 7},
    {"owner_id": "a\x00b"},
    {"channels": ["pigeon"]},
    {"channels": "phone"},
    {"category": 1.5},
    {"open_only": "yes"},
    {"open_only": None},
    {"start": datetime(2024, 1, 1)},
    {"end": "not a time"},
    {"limit": -1},
    {"limit": True},
]


@pytest.mark.parametrize("call", BAD_CALLS, ids=[str(c) for c in BAD_CALLS])
def test_bad_filters_raise_the_same_error_everywhere(
    sql_module_uow: SqlUnitOfWork, call: dict[str, Any]
) -> None:
    errors = []
    for uow in (MemoryUnitOfWork(), sql_module_uow):
        with uow, pytest.raises(CRMError) as info:
            uow.service_cases.list(**call)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]
    assert repr(next(iter(call))) in errors[0][1] or next(iter(call)) in errors[0][1]


@settings(max_examples=30, deadline=None)
@given(case=any_service_case())
def test_any_valid_case_round_trips_through_sqlite(case: ServiceCase) -> None:
    uow = SqlUnitOfWork.from_url("sqlite://")
    with uow:
        uow.service_cases.add(case)
        assert uow.service_cases.get(case.id) == case
    uow.close()


# -- migration from every earlier schema ---------------------------------------------------
@pytest.mark.parametrize("own", [False, True], ids=["default", "own-namespace"])
@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_every_earlier_schema_migrates_and_stores_cases(
    engine: sa.Engine,  # noqa: F811  # the fixture of test_repositories_migration
    version: int,
    own: bool,
) -> None:
    ns = _namespace(engine, own)
    with engine.begin() as conn:
        schema.ensure_schema(conn, ns)
        _as_schema(conn, version, ns)
    with engine.connect() as conn:
        assert schema.check_schema(conn, ns) == version
        assert ns.service_cases.name not in sa.inspect(conn).get_table_names(schema=ns.schema)
        plan = schema.schema_plan(conn, ns)
    assert plan[version - 1 - (version - 1)].startswith(f"migrate schema {version} -> ")
    assert f"create table {ns.service_cases.name!r}" in plan
    uow = SqlUnitOfWork(engine, table_prefix=ns.table_prefix, schema=ns.schema if own else None)
    case = ServiceCase(
        id="sc-1", customer_id="c-1", channel="phone", opened_at=BASE, category="billing",
        owner_id="rep-1", resolved_at=BASE + timedelta(hours=2), satisfaction=5,
    )  # fmt: skip
    with uow:
        uow.service_cases.add(case)
        uow.commit()
    with uow:
        assert uow.service_cases.list(customer_id="c-1") == [case]
        assert uow.service_cases.list(open_only=True) == []
    with engine.connect() as conn:
        assert schema.check_schema(conn, ns) == schema.SCHEMA_VERSION == 6
        assert schema.schema_plan(conn, ns) == []
        indexes = {
            ix["name"]
            for ix in sa.inspect(conn).get_indexes(ns.service_cases.name, schema=ns.schema)
        }
    assert {str(ix.name) for ix in ns.service_cases.indexes} <= indexes


@pytest.mark.mysql
def test_service_case_ids_compare_exactly_on_mariadb(
    mysql_factory: Callable[[], SqlUnitOfWork],
) -> None:
    uow = mysql_factory()
    case = ServiceCase(
        id="sc-1", customer_id="c-1", channel="web", opened_at=BASE, category="x", owner_id="r"
    )
    with uow:
        uow.service_cases.add(case)
        uow.commit()
    with uow:
        assert uow.service_cases.list(customer_id="c-1 ") == []
        assert uow.service_cases.list(owner_id="R") == []
        with pytest.raises(CRMError, match="not found"):
            uow.service_cases.get("sc-1 ")
        uow.service_cases.add(
            ServiceCase(
                id="SC-1",
                customer_id="c-1",
                channel="web",
                opened_at=BASE,
                category="x ",
                owner_id="r",
            )
        )
        assert [c.id for c in uow.service_cases.list(category="x")] == ["sc-1"]
        assert [c.id for c in uow.service_cases.list()] == ["SC-1", "sc-1"]


# -- import --------------------------------------------------------------------------------
CSV = """\
id,customer_id,channel,opened_at,category,owner_id,priority,resolved_at,satisfaction,sla_due_at,subject,resolution
sc-1,c-1,phone,2025-03-01T09:00:00Z,billing,rep-1,high,2025-03-01T12:00:00Z,4,2025-03-02T09:00:00Z,Invoice twice,refunded
sc-2,c-1,pigeon,2025-03-02T09:00:00Z,billing,rep-1,,,,,,
sc-3,c-2,email,2025-03-03T09:00:00Z,delivery,rep-2,,,5,,late parcel,
sc-4,c-2,email,2025-03-04T09:00:00Z,delivery,rep-2,,2025-03-01T00:00:00Z,,,,
sc-5,c-2,chat,soon,delivery,rep-2,,,,,,
sc-6,,chat,2025-03-06T09:00:00Z,delivery,rep-2,,,,,,
sc-7,c-3,web,2025-03-07T09:00:00Z,repair,rep-1,urgent,,,,"Screen, cracked",
sc-1,c-1,phone,2025-03-01T09:00:00Z,billing,rep-1,high,2025-03-01T12:00:00Z,4,2025-03-02T09:00:00Z,Invoice twice,refunded
sc-7,c-3,web,2025-03-07T09:00:00Z,repair,rep-2,urgent,,,,"Screen, cracked",
sc-8,c-3,web,2025-03-08T09:00:00Z,repair,rep-1,normal,2025-03-08T10:00:00Z,9,,,
"""


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "cases.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


@pytest.fixture(params=["memory", "sqlite"])
def any_uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWork]:
    if request.param == "memory":
        yield MemoryUnitOfWork()
        return
    uow = SqlUnitOfWork.from_url(tmp_path / "crm.db")
    yield uow
    uow.close()


def test_import_reports_every_bad_row_and_stores_the_rest(
    any_uow: UnitOfWork, tmp_path: Path
) -> None:
    report = import_service_cases(any_uow, _csv(tmp_path), batch_size=4)  # type: ignore[arg-type]
    assert (report.rows_read, report.stored, report.rejected, report.skipped) == (10, 2, 7, 1)
    # row 8 repeats sc-1 (skipped); row 9 uses sc-7's id with another owner (rejected)
    reasons = {(e.row, e.column): e.reason for e in report.errors}
    assert "'channel' must be one of" in reasons[(2, "channel")]
    assert "after resolution only" in reasons[(3, "satisfaction")]
    assert "must not be before 'opened_at'" in reasons[(4, "resolved_at")]
    assert "ISO 8601" in reasons[(5, "opened_at")]
    assert reasons[(6, "customer_id")] == "is required"
    assert "already used by another service case" in reasons[(9, "id")]
    assert "[1, 5]" in reasons[(10, "satisfaction")]
    assert {e.value for e in report.errors if e.row == 2} == {"'pigeon'"}
    assert report.target == "service_cases"
    assert isinstance(any_uow, ServiceCaseUnitOfWork)
    with any_uow:
        stored = any_uow.service_cases.list()
    assert [c.id for c in stored] == ["sc-1", "sc-7"]
    sc1 = next(c for c in stored if c.id == "sc-1")
    assert (sc1.priority, sc1.satisfaction, sc1.sla_met, sc1.resolution) == (
        CasePriority.HIGH,
        4,
        True,
        "refunded",
    )
    assert next(c for c in stored if c.id == "sc-7").subject == "Screen, cracked"
    again = import_service_cases(any_uow, _csv(tmp_path), batch_size=4)
    assert (again.stored, again.skipped) == (0, 3)


def test_import_from_a_dataframe_with_renamed_columns(any_uow: UnitOfWork) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "case_no": ["sc-1", "sc-2"],
            "customer_id": ["c-1", "c-2"],
            "channel": ["phone", "email"],
            "opened": pd.to_datetime(["2025-01-01T08:00Z", "2025-01-02T08:00Z"]),
            "category": ["billing", "billing"],
            "owner_id": ["rep-1", "rep-1"],
            "resolved_at": pd.to_datetime(["2025-01-01T10:00Z", None]),
            "satisfaction": [3.0, float("nan")],
        }
    )
    report = import_service_cases(any_uow, frame, columns={"case_no": "id", "opened": "opened_at"})  # type: ignore[arg-type]
    assert (report.stored, report.rejected) == (2, 0), report.summary()
    with any_uow:
        got = {c.id: c for c in any_uow.service_cases.list()}  # type: ignore[attr-defined]
    assert got["sc-1"].satisfaction == 3 and got["sc-2"].is_open


def test_import_all_or_nothing_stores_nothing_on_a_reject(
    any_uow: UnitOfWork, tmp_path: Path
) -> None:
    with pytest.raises(RejectedImportError) as info:
        import_service_cases(any_uow, _csv(tmp_path), all_or_nothing=True)  # type: ignore[arg-type]
    # the id conflict (row 9) is found only when storing, which a reject stops
    assert info.value.report.rejected == 6 and info.value.report.stored == 0
    with any_uow:
        assert any_uow.service_cases.list() == []  # type: ignore[attr-defined]


def test_import_fields_and_bad_options() -> None:
    assert SERVICE_CASE_FIELDS[:6] == (
        "id",
        "customer_id",
        "channel",
        "opened_at",
        "category",
        "owner_id",
    )
    uow = MemoryUnitOfWork()
    with pytest.raises(ValidationError, match="'columns' maps 'x' to an unknown field 'colour'"):
        import_service_cases(uow, [], columns={"x": "colour"})
    with pytest.raises(ValidationError, match="batch_size"):
        import_service_cases(uow, [], batch_size=0)


# -- a backend without the capability ---------------------------------------------------------
class _Older:
    """A unit of work written before service cases (crmcore's memory backend without them)."""

    def __init__(self) -> None:
        self._inner = MemoryUnitOfWork()
        for name in ("customers", "interactions", "transactions", "opportunities", "activities",
                     "surveys", "costs", "documents"):  # fmt: skip
            setattr(self, name, getattr(self._inner, name))
        self.eraser = self._inner.eraser

    def __enter__(self) -> _Older:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.__exit__(None, None, None)

    def commit(self) -> None:
        self._inner.commit()

    def rollback(self) -> None:
        self._inner.rollback()


def test_a_backend_without_service_cases_stays_a_unit_of_work() -> None:
    older = _Older()
    assert isinstance(older, UnitOfWork) and not isinstance(older, ServiceCaseUnitOfWork)
    with older:
        older.customers.add(Customer(id="c-1", name="Ann"))
        older.commit()
    with older:
        assert "service_cases" not in export_customer(older, "c-1")
        assert "service_cases" not in erase_customer(older, "c-1")
    with pytest.raises(ArgumentTypeError, match="ServiceCaseUnitOfWork"):
        import_service_cases(older, [])
