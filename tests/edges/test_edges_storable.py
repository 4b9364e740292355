"""Storability, one rule in one place (issue 12), and validated nested / config fields.

What a backend can store (text without NUL or lone surrogates, ids of at most
128 and keys of at most 255 characters, integers within 64 bits, exact amounts)
is refused once: by the model at construction (naming the field), by the
import (a rejected row naming the field), by the streaming engine (before any
state changes); the memory and the SQL backends then accept exactly the same
values. Everything goes through the public API.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.anomaly import RuleSet, Scope, Threshold, Velocity
from crmcore.anomaly.streaming import Event, StreamingEngine
from crmcore.errors import ConfigurationError, CRMError, ValidationError
from crmcore.ingest import import_customers, import_transactions
from crmcore.model import (
    Address,
    Customer,
    Interaction,
    Money,
    Opportunity,
    StageChange,
    Transaction,
)
from crmcore.pipeline.funnel import Funnel, Stage, Transition
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
from crmcore.segmentation.rules import AllOf, cond
from crmcore.segmentation.tiers import ServiceLevel, Tier, TierSet
from crmcore.tables import StageHistory, TransactionLog

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NUL = "a\x00b"
SURROGATE = "a\ud800b"
LONG_ID = "x" * 129
HOSTILE_TEXT = [NUL, SURROGATE]
HOSTILE_INTS = [2**63, -(2**63) - 1]


# -- the model refuses at construction, naming the field -----------------------------------------
@pytest.mark.parametrize("bad", [*HOSTILE_TEXT, LONG_ID])
@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda v: Customer(id=v, name="n"), "id"),
        (lambda v: Transaction(id="t", customer_id=v, occurred_at=T0, amount=Money("1", "EUR")), "customer_id"),
        (lambda v: Interaction(id="i", customer_id="c", channel="web", direction="inbound", occurred_at=T0, rep_id=v), "rep_id"),
    ],
)  # fmt: skip
def test_ids_are_refused_naming_the_field(make: Callable[[str], Any], field: str, bad: str) -> None:
    with pytest.raises(ValidationError, match=f"^'{field}' "):
        make(bad)


@pytest.mark.parametrize("bad", HOSTILE_TEXT)
@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda v: Customer(id="c", name=v), "name"),
        (lambda v: Customer(id="c", name="n", segment=v), "segment"),
        (lambda v: Customer(id="c", name="n", tags=[v]), "tags"),
        (lambda v: Customer(id="c", name="n", address=Address("CN", lines=["ok", v])), "lines[1]"),
        (lambda v: Transaction(id="t", customer_id="c", occurred_at=T0, amount=Money("1", "EUR"), product=v), "product"),
        (lambda v: Interaction(id="i", customer_id="c", channel="web", direction="inbound", occurred_at=T0, subject=v), "subject"),
        (lambda v: StageChange(opportunity_id="o", sequence=0, from_stage=None, to_stage=v, at=T0, by="r"), "to_stage"),
    ],
)  # fmt: skip
def test_unstorable_text_is_refused_naming_the_field(
    make: Callable[[str], Any], field: str, bad: str
) -> None:
    with pytest.raises(
        ValidationError, match="^" + re.escape(f"'{field}'") + ".*to be stored"
    ) as e:
        make(bad)
    assert repr(bad) in str(e.value)  # the value is named too


def test_over_long_keys_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="'segment' must be at most 255 characters"):
        Customer(id="c", name="n", segment="s" * 256)
    with pytest.raises(ValidationError, match="'stage' must be at most 255 characters"):
        Opportunity(
            id="o", customer_id="c", owner_id="r", funnel="f", stage="s" * 256, created_at=T0
        )
    Customer(id="c", name="n", segment="s" * 255)  # the limit itself is fine


@pytest.mark.parametrize("bad", HOSTILE_INTS)
def test_integers_beyond_64_bits_are_refused_naming_the_field(bad: int) -> None:
    with pytest.raises(ValidationError, match="^'quantity'"):
        Transaction(id="t", customer_id="c", occurred_at=T0, amount=Money("1", "EUR"), quantity=bad)
    with pytest.raises(ValidationError, match="^'duration_seconds'"):
        Interaction(id="i", customer_id="c", channel="web", direction="inbound", occurred_at=T0,
                    duration_seconds=bad)  # fmt: skip
    assert Transaction(id="t", customer_id="c", occurred_at=T0, amount=Money("1", "EUR"),
                       quantity=2**63 - 1).quantity == 2**63 - 1  # fmt: skip


def test_versions_and_sequences_fit_their_32_bit_columns() -> None:
    with pytest.raises(ValidationError, match="^'sequence'.*2\\*\\*31 - 1"):
        StageChange(
            opportunity_id="o", sequence=2**31, from_stage=None, to_stage="l", at=T0, by="r"
        )
    with pytest.raises(ValidationError, match="^'version'"):
        Customer(id="c", name="n", version=2**31)


def test_amounts_must_be_storable_at_construction() -> None:
    with pytest.raises(ValidationError, match="'amount' is too large to store"):
        Transaction(id="t", customer_id="c", occurred_at=T0, amount=Money("1e13", "EUR"))
    with pytest.raises(ValidationError, match="'amount' can be stored with at most 6 decimal"):
        Transaction(id="t", customer_id="c", occurred_at=T0, amount=Money("0.0000001", "EUR"))
    with pytest.raises(ValidationError, match="'amount'"):
        Opportunity(id="o", customer_id="c", owner_id="r", funnel="f", stage="s", created_at=T0,
                    amount=Money("1e13", "EUR"))  # fmt: skip


# -- the backends accept exactly the same values -------------------------------------------------
def _servers() -> Any:
    """The server helpers of tests/repositories/conftest.py (one way to reach the servers)."""
    path = Path(__file__).parents[1] / "repositories" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_repositories_conftest", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module", params=["sqlite", "postgres", "mysql"])
def sql_uow(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlUnitOfWork]:
    if request.param == "sqlite":
        uow = SqlUnitOfWork.from_url(tmp_path_factory.mktemp("store") / "s.db")
        yield uow
        uow.close()
        return
    servers = _servers()
    gen = servers._server_database(request.param)
    url = next(gen)
    uow = SqlUnitOfWork.from_url(url)
    try:
        yield uow
    finally:
        uow.close()
        next(gen, None)


def _outcome(uow: Any, make: Callable[[], Any], add: Callable[[Any, Any], Any]) -> str:
    """'model' (refused at construction), 'stored' (and read back equal) or 'refused'."""
    try:
        record = make()
    except ValidationError:
        return "model"
    with uow:
        try:
            add(uow, record)
        except ValidationError:
            return "refused"
        got = (
            uow.customers.get(record.id)
            if isinstance(record, Customer)
            else uow.interactions.get(record.id)
        )
        assert got == record
        return "stored"  # not committed: the block rolls back


_ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
_ANY_INT = st.one_of(
    st.integers(-(2**64), 2**64), st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 0])
)


@settings(max_examples=25, deadline=None)
@given(text=st.one_of(_ANY_TEXT, st.sampled_from([NUL, SURROGATE, "\U0001f600", "é" * 255])))
def test_memory_accepts_text_iff_sql_accepts(sql_uow: SqlUnitOfWork, text: str) -> None:
    def make() -> Customer:
        return Customer(
            id="c-text", name="n" + text, segment=text or None, tags=[text] if text.strip() else []
        )

    def add(uow: Any, c: Customer) -> None:
        uow.customers.add(c)

    mem = _outcome(MemoryUnitOfWork(), make, add)
    sql = _outcome(sql_uow, make, add)
    assert mem == sql
    bad = "\x00" in text or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)
    assert (mem == "model") == bad


@settings(max_examples=25, deadline=None)
@given(n=_ANY_INT)
def test_memory_accepts_an_integer_iff_sql_accepts(sql_uow: SqlUnitOfWork, n: int) -> None:
    def make() -> Interaction:
        return Interaction(id="i-int", customer_id="c", channel="web", direction="inbound",
                           occurred_at=T0, duration_seconds=n)  # fmt: skip

    def add(uow: Any, i: Interaction) -> None:
        uow.interactions.add(i)

    mem = _outcome(MemoryUnitOfWork(), make, add)
    assert mem == _outcome(sql_uow, make, add)
    assert (mem == "stored") == (0 <= n <= 2**63 - 1)


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
def test_lookups_with_unstorable_text_do_not_raise_driver_errors(
    sql_uow: SqlUnitOfWork, bad: str
) -> None:
    """Documents: a key no backend can store is refused the same way everywhere."""
    for uow in (MemoryUnitOfWork(), sql_uow):
        with uow, pytest.raises(ValidationError, match="^'key'"):
            uow.documents.put("notes", bad, {}, expected_version=None)
        with uow, pytest.raises(ValidationError, match="^'kind'"):
            uow.documents.keys(bad)
        with uow, pytest.raises(ValidationError, match="^'customer_id'"):
            uow.customers.find(bad)


def test_mariadb_schema_1_is_migrated_to_longtext() -> None:
    """A MariaDB database made by schema version 1 (TEXT: 64 KiB) is migrated on first open,
    after which long text is stored as on every other backend."""
    import sqlalchemy as sa

    from crmcore.repositories.sql import make_engine, schema

    gen = _servers()._server_database("mysql")
    url = next(gen)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            schema.ensure_schema(conn)
            for col in ("name", "profile"):  # back to what version 1 created
                null = "NOT NULL"
                conn.exec_driver_sql(f"ALTER TABLE customers MODIFY {col} TEXT {null}")
            conn.execute(sa.update(schema.schema_table).values(version=1))
        uow = SqlUnitOfWork(engine)
        c = Customer(id="c-1", name="x" * 70_000)
        with uow:
            uow.customers.add(c)
            uow.commit()
        with uow:
            assert uow.customers.get("c-1") == c
        with engine.connect() as conn:
            version = conn.execute(sa.select(schema.schema_table.c.version)).scalar()
            assert version == schema.SCHEMA_VERSION  # 1 -> 2 (LONGTEXT) -> 3 (events) -> 4
    finally:
        engine.dispose()
        next(gen, None)


# -- the import reports them as rejected rows with the field -------------------------------------
def test_import_rejects_unstorable_cells_with_their_field() -> None:
    rows: list[dict[str, object]] = [
        {"customer_id": "c-1", "occurred_at": "2024-01-01", "amount": "1", "quantity": "1"},
        {"customer_id": NUL, "occurred_at": "2024-01-01", "amount": "1"},
        {"customer_id": SURROGATE, "occurred_at": "2024-01-01", "amount": "1"},
        {"customer_id": LONG_ID, "occurred_at": "2024-01-01", "amount": "1"},
        {"customer_id": "c-2", "occurred_at": "2024-01-01", "amount": "1", "product": NUL},
        {
            "customer_id": "c-2",
            "occurred_at": "2024-01-01",
            "amount": "1",
            "external_ref": SURROGATE,
        },
        {"customer_id": "c-2", "occurred_at": "2024-01-01", "amount": "1", "quantity": str(2**63)},
        {"customer_id": "c-2", "occurred_at": "2024-01-01", "amount": "1", "quantity": "1.5"},
        {"customer_id": "c-2", "occurred_at": "2024-01-01", "amount": "1", "quantity": 2**63},
    ]
    uow = MemoryUnitOfWork()
    report = import_transactions(uow, rows, currency="EUR")
    with uow:
        assert uow.transactions.count() == 1
    got = {(e.row, e.column) for e in report.errors}
    assert got == {
        (2, "customer_id"), (3, "customer_id"), (4, "customer_id"), (5, "product"),
        (6, "external_ref"), (7, "quantity"), (8, "quantity"), (9, "quantity"),
    }  # fmt: skip
    assert report.stored == 1


def test_csv_import_rejects_a_nul_byte_with_its_field(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(
        b"customer_id,occurred_at,amount,product\n"
        b"c-1,2024-01-01,1,book\n"
        b"c\x002,2024-01-01,1,book\n"
        b"c-3,2024-01-01,1,bo\x00ok\n"
    )
    for uow in (MemoryUnitOfWork(), SqlUnitOfWork.from_url(tmp_path / "t.db")):
        report = import_transactions(uow, path, currency="EUR")
        with uow:
            assert uow.transactions.count() == 1
        assert {(e.row, e.column) for e in report.errors} == {(2, "customer_id"), (3, "product")}


def test_customer_import_rejects_unstorable_cells_with_their_field() -> None:
    rows = [
        {"id": "c-1", "name": "Ada"},
        {"id": "c-2", "name": NUL},
        {"external_key": SURROGATE, "name": "Bob"},
        {"id": "c-4", "name": "Cy", "segment": "s" * 256},
    ]
    uow = MemoryUnitOfWork()
    report = import_customers(uow, rows)
    with uow:
        assert uow.customers.count() == 1
    assert {(e.row, e.column) for e in report.errors} == {
        (2, "name"), (3, "external_key"), (4, "segment"),
    }  # fmt: skip


# -- the streaming engine changes no state for an event it refuses --------------------------------
def _engine() -> StreamingEngine:
    rules = RuleSet(
        name="s",
        rules=[
            Velocity(name="burst", window="1h", at_least=3),
            Threshold(name="big", at_least=100.0),
        ],
    )
    eng = StreamingEngine(rules)
    for i in range(3):
        eng.process_event(Event(f"t{i}", "c-1", T0 + timedelta(minutes=i), 20.0))
    return eng


@pytest.mark.parametrize(
    "event",
    [
        Event("t9", "c\ud800", T0 + timedelta(hours=1), 500.0),  # new customer, unencodable id
        Event("t9", "c\x00", T0 + timedelta(hours=1), 500.0),
        Event("t9", "c" * 129, T0 + timedelta(hours=1), 500.0),
        Event("t\ud800", "c-1", T0 + timedelta(hours=1), 500.0),  # known customer, bad event id
        Event("t\x00", "c-1", T0 + timedelta(hours=1), 500.0),
        Event("t9", "c-1", 2**70, 500.0),  # microseconds beyond any datetime
        Event("t9", "c-1", -(2**70), 500.0),
        Event("t9", "c-1", T0 + timedelta(hours=1), math.nan),
        Event("t9", "c-1", T0 + timedelta(hours=1), 1e300),
    ],
)
def test_streaming_changes_no_state_for_a_refused_event(event: Event) -> None:
    eng = _engine()
    before = json.dumps(eng.snapshot(), sort_keys=True)
    with pytest.raises(ValidationError):
        eng.process_event(event)
    assert json.dumps(eng.snapshot(), sort_keys=True) == before
    assert eng.customer_count() == 1
    # and the engine goes on exactly as one that never saw the bad event
    ref = _engine()
    nxt = Event("t3", "c-1", T0 + timedelta(minutes=3), 200.0)
    assert eng.process_event(nxt) == ref.process_event(nxt)
    assert eng.snapshot() == ref.snapshot()


def test_streaming_names_that_go_into_alerts_are_checked_up_front() -> None:
    """Rule names, rule-set names and the team queue end up in every alert: refused at
    construction, not after a customer's state has been updated."""
    with pytest.raises(ValidationError, match="^'name'"):
        Threshold(name="big\x00", at_least=1.0)
    with pytest.raises(ValidationError, match="^'name'"):
        RuleSet(name="s\ud800", rules=[Threshold(name="big", at_least=1.0)])
    rules = RuleSet(name="s", rules=[Threshold(name="big", at_least=1.0)])
    with pytest.raises(ValidationError, match="^'team_queue'"):
        StreamingEngine(rules, team_queue="q\x00")


def test_threshold_limits_that_would_overflow_the_deviation_are_refused() -> None:
    """A limit of 1e-300 made ``deviation = amount / limit`` infinite: the alert was refused
    after the customer's state had changed. Limits below the amount resolution are refused."""
    for make in (
        lambda: Threshold(name="t", at_least=1e-300),
        lambda: Velocity(name="v", window="1h", measure="sum", at_least=1e-300),
    ):
        with pytest.raises(ValidationError, match="'at_least' must be >= 1e-06"):
            make()
    eng = StreamingEngine(RuleSet(name="s", rules=[Threshold(name="t", at_least=1e-6)]))
    (alert,) = eng.process_event(Event("t1", "c-1", T0, 9.9e12))
    assert math.isfinite(alert.deviation)


def test_streaming_accepts_non_ascii_ids() -> None:
    eng = _engine()
    alerts = eng.process_event(Event("tä", "kundé-1", T0, 500.0))
    assert [a.customer_id for a in alerts] == ["kundé-1"]


# -- columns: quantities and sequence numbers neither wrap nor truncate ---------------------------
@pytest.mark.parametrize("bad", [[2**63], [1.5], [2.0**63], [np.nan]])
def test_log_quantities_refuse_fractions_and_overflow(bad: list[Any]) -> None:
    with pytest.raises(ValidationError, match="'quantity'"):
        TransactionLog.from_arrays(
            customer_ids=["a"], timestamps=["2020-01-01"], amounts=[1.0], quantities=bad
        )


def test_stage_history_sequence_refuses_nan() -> None:
    with pytest.raises(ValidationError, match="'sequence'"):
        StageHistory.from_arrays(opportunity_ids=["o"], sequence=[math.nan], from_stage=[None],
                                 to_stage=["lead"], at=["2024-01-01"])  # fmt: skip


# -- nested and config fields are validated at construction ---------------------------------------
@pytest.mark.parametrize(
    ("make", "error", "field"),
    [
        (lambda: Customer(id="c", name="n", address="Main St 1"), ValidationError, "address"),
        (lambda: Customer(id="c", name="n", consent=True), ValidationError, "consent"),
        (
            lambda: Customer(id="c", name="n", contact_points=["x"]),
            ValidationError,
            "contact_points[0]",
        ),
        (lambda: Customer(id="c", name="n", contact_points=5), ValidationError, "contact_points"),
        (lambda: Address("CN", lines="Main St 1"), ValidationError, "lines"),
        (lambda: Tier("gold", rule="abc"), ConfigurationError, "rule"),
        (lambda: Tier("gold", service="vip"), ConfigurationError, "service"),
        (lambda: Tier(5), ConfigurationError, "name"),
        (lambda: ServiceLevel(dedicated_rep="yes"), ConfigurationError, "dedicated_rep"),
        (lambda: TierSet("t", tiers=["gold"]), ConfigurationError, "tiers[0]"),
        (lambda: AllOf(["x"]), ConfigurationError, "items[0]"),
        (lambda: Transition(None, 3), ConfigurationError, "source"),
        (lambda: Transition("a", None), ConfigurationError, "target"),
        (lambda: Stage(3, probability=0.5), ConfigurationError, "name"),
        (lambda: Scope(channels=[3]), ValidationError, "channels[0]"),
        (lambda: RuleSet(name="r", rules=5), ValidationError, "rules"),
    ],
)
def test_nested_fields_raise_at_construction_naming_the_field(
    make: Callable[[], Any], error: type[CRMError], field: str
) -> None:
    with pytest.raises(error, match="^" + re.escape(f"'{field}'")):
        make()


def test_a_transition_pair_with_none_is_not_a_stage_called_none() -> None:
    stages = [Stage("a", probability=0.5), Stage("won", kind="won")]
    with pytest.raises(ConfigurationError, match="'target'"):
        Funnel(name="f", stages=stages, transitions=[("a", None)])
    assert Funnel(name="f", stages=stages, transitions=[("a", "won")]).transitions == (
        Transition("a", "won"),
    )


def test_valid_nested_values_still_work() -> None:
    ts = TierSet(
        "t", tiers=[Tier("gold", rule=AllOf([cond("x", ">", 1)]), service=ServiceLevel(True))]
    )
    assert ts.evaluate({"x": [2, 0]}).counts() == {"gold": 1, "": 1}


@pytest.mark.parametrize("amount", [Decimal("NaN"), Decimal("-Infinity"), 1.5, "3"])
def test_a_forged_money_is_refused_by_the_storability_check_of_every_backend(
    amount: object,
) -> None:
    """A Money whose amount was set around its own checks (object.__setattr__) is refused with
    a ValidationError naming the field, not a decimal or attribute error, and nothing is stored."""
    from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork

    money = Money("1", "EUR")
    object.__setattr__(money, "amount", amount)
    good = Transaction(
        id="t-1",
        customer_id="c",
        occurred_at=datetime(2024, 1, 1, tzinfo=UTC),
        amount=Money("1", "EUR"),
    )
    forged = attrs.evolve(good)
    object.__setattr__(forged, "amount", money)
    for uow in (MemoryUnitOfWork(), SqlUnitOfWork.from_url("sqlite://")):
        with uow:
            with pytest.raises(ValidationError, match="'amount' must hold a finite decimal amount"):
                uow.transactions.add(forged)
            assert uow.transactions.count() == 0
