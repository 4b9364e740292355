"""The object world's public entry points check their options once (issue 12).

Regression tests for the fuzz findings in pipeline, repositories, ingest,
anomaly and the CLI: a dict, a string or None where a Funnel, an Opportunity,
a unit of work or a rule goes raised AttributeError; a wrong enum string
raised a bare ValueError that named no field; ``10**400`` limits and batch
sizes escaped as OverflowError (SQLite) or ValueError (islice); zero or
negative counts were handled by local copies with different messages. Every
case now raises a crmcore ``ValidationError`` naming the argument, the value
and what was expected, through :mod:`crmcore.options`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.anomaly import (
    Alert,
    AlertStatus,
    AlertStep,
    AlertStore,
    EWBaseline,
    RobustZ,
    RuleSet,
    Scope,
    Threshold,
    Velocity,
    contexts_from_customers,
    load_ruleset,
    save_ruleset,
    summarize,
)
from crmcore.anomaly.plan import compile_plan
from crmcore.cli import customer_base_summary, main
from crmcore.errors import ConfigurationError, CRMError, ValidationError
from crmcore.ingest import find_duplicate_customers, import_customers, import_transactions
from crmcore.ingest.cdnow import cdnow_customer_id
from crmcore.model import Customer
from crmcore.pipeline import (
    B2B,
    FOUR_PHASES,
    Funnel,
    FunnelHistory,
    Period,
    RequireFields,
    Stage,
    Targets,
    actuals,
    advance,
    follow_up,
    load_funnel,
    load_history,
    move,
    next_period_forecast,
    open_opportunity,
    reopen,
    replay,
    save_funnel,
    scorecards,
    synthetic_history,
    win,
)
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork, UnitOfWork
from crmcore.repositories.privacy import erase_customer, export_customer

T = datetime(2025, 1, 6, tzinfo=UTC)
HUGE = 10**400
NONE: Any = None  # hostile values, typed Any so that mypy lets them through
FLOAT: Any = 2.5


def _hostile(value: object) -> Any:
    return value


WEEK = Period.week(date(2025, 3, 3))


def _opened() -> tuple[Any, Any]:
    return open_opportunity(B2B, id="o-1", customer_id="c-1", owner_id="ann", at=T)


def _history() -> FunnelHistory:
    return FunnelHistory.build(synthetic_history(B2B, n_opportunities=30, seed=1), B2B)


def _raises(call: Callable[[], object], *needles: str) -> str:
    """``call`` raises a crmcore ValidationError (ConfigurationError for a funnel's
    definition) whose message holds every needle."""
    with pytest.raises((ValidationError, ConfigurationError)) as info:
        call()
    message = str(info.value)
    for needle in needles:
        assert needle in message, (needle, message)
    return message


@pytest.fixture(params=["memory", "sqlite"])
def uow(request: pytest.FixtureRequest) -> Iterator[UnitOfWork]:
    if request.param == "memory":
        yield MemoryUnitOfWork()
        return
    u = SqlUnitOfWork.from_url("sqlite://")
    yield u
    u.close()


# --- an object of the wrong type where an object goes ----------------------------------------


def _wrong_objects() -> list[tuple[str, Callable[[Any], object], str]]:
    o, e = _opened()
    h = _history()
    return [
        (
            "opportunity",
            lambda v: move(v, "qualified", funnel=B2B, by="ann", at=T, after=e),
            "an Opportunity",
        ),
        ("funnel", lambda v: move(o, "qualified", funnel=v, by="ann", at=T, after=e), "a Funnel"),
        (
            "funnel",
            lambda v: open_opportunity(v, customer_id="c", owner_id="ann", at=T),
            "a Funnel",
        ),
        ("opportunity", lambda v: reopen(v, funnel=B2B, by="ann", at=T, after=e), "an Opportunity"),
        ("funnel", lambda v: win(o, funnel=v, by="ann", at=T, after=e), "a Funnel"),
        ("won", lambda v: follow_up(v, funnel=FOUR_PHASES, at=T), "an Opportunity"),
        ("funnel", lambda v: replay([e], funnel=v), "a Funnel"),
        ("events[0]", lambda v: replay([v], funnel=B2B), "a StageChange"),
        ("base", lambda v: replay([e], funnel=B2B, base=v), "an Opportunity"),
        ("uow", lambda v: save_funnel(v, B2B), "a unit of work"),
        ("funnel", lambda v: save_funnel(MemoryUnitOfWork(), v), "a Funnel"),
        ("uow", lambda v: load_funnel(v, "b2b"), "a unit of work"),
        ("funnel", lambda v: load_history(MemoryUnitOfWork(), v), "a Funnel"),
        (
            "funnel",
            lambda v: advance(
                MemoryUnitOfWork(), "o-1", "qualified", expected_version=0, funnel=v, by="a", at=T
            ),
            "a Funnel",
        ),
        ("period", lambda v: actuals(v, history=h), "a Period"),
        ("history", lambda v: actuals(WEEK, history=v), "a FunnelHistory"),
        ("history", lambda v: next_period_forecast(v, period=WEEK), "a FunnelHistory"),
        ("history", lambda v: scorecards(WEEK, history=v), "a FunnelHistory"),
        ("ruleset", lambda v: compile_plan(v), "a RuleSet"),
        ("ruleset", lambda v: save_ruleset(MemoryUnitOfWork(), v), "a RuleSet"),
        ("uow", lambda v: load_ruleset(v, "bank"), "a unit of work"),
        ("uow", lambda v: AlertStore(v), "a unit of work"),
        ("alerts[0]", lambda v: summarize([v]), "an Alert"),
        ("customers[0]", lambda v: contexts_from_customers([v]), "a Customer"),
        ("customers[0]", lambda v: find_duplicate_customers([v]), "a Customer"),
        ("uow", lambda v: export_customer(v, "c-1"), "a unit of work"),
        ("uow", lambda v: erase_customer(v, "c-1"), "a unit of work"),
        ("uow", lambda v: import_transactions(v, []), "a unit of work"),
        ("uow", lambda v: import_customers(v, []), "a unit of work"),
        ("log", lambda v: customer_base_summary(v), "a TransactionLog"),
        ("store", lambda v: MemoryUnitOfWork(v), "a MemoryStore"),
    ]


@pytest.mark.parametrize("wrong", [{"name": "b2b"}, "b2b", None])
def test_a_dict_string_or_none_where_an_object_goes_names_the_argument(wrong: object) -> None:
    for name, call, expected in _wrong_objects():
        if wrong is None and name in ("base", "store"):
            continue  # None is the documented default of these two
        message = _raises(lambda: call(wrong), f"'{name}' must be {expected}")  # noqa: B023 - called at once
        assert repr(wrong) in message


def test_a_dict_where_a_funnel_goes_is_refused_on_moves_hot_path_too() -> None:
    o, e = _opened()
    # the check costs nothing until the attribute look-up fails
    _raises(
        lambda: move(o, "qualified", funnel={"name": "b2b"}, by="ann", at=T, after=e),  # type: ignore[arg-type]  # the point
        "'funnel' must be a Funnel, not a dict",
    )
    moved, _ = move(o, "qualified", funnel=B2B, by="ann", at=T, after=e)
    assert moved.stage == "qualified"


# --- a wrong enum string names the field and lists the allowed values ------------------------


@pytest.mark.parametrize(
    ("call", "field", "allowed"),
    [
        (lambda: Stage("x", kind="pending", probability=0.5), "kind", ("open", "won", "lost")),
        (
            lambda: Stage("x", probability=0.5, forecast_category="maybe"),
            "forecast_category",
            ("pipeline", "best_case", "commit", "closed", "omitted"),
        ),
        (lambda: B2B.names_of("pending"), "kind", ("open", "won", "lost")),
        (lambda: Period("fortnight", date(2025, 3, 3)), "kind", ("day", "week", "month")),
        (lambda: AlertStep(status="done", at=T), "status", ("open", "contacted", "resolved")),
        (lambda: RobustZ(name="r", direction="sideways"), "direction", ("up", "down", "both")),
        (lambda: Velocity(name="v", measure="median"), "measure", ("count", "sum", "mean")),
        (lambda: Scope(kinds=["loan"]), "kinds", ("purchase", "refund", "transfer_out")),
        (
            lambda: AlertStore(MemoryUnitOfWork()).list(status="done"),
            "status",
            ("open", "contacted", "resolved"),
        ),
        (
            lambda: next_period_forecast(
                _history(), period=Period.month(date(2030, 1, 1)), method="ai"
            ),
            "method",
            ("history", "stage"),
        ),
        (
            lambda: find_duplicate_customers([], keys=["shoe_size"]),
            "keys",
            ("email", "phone", "name"),
        ),
    ],
)
def test_a_wrong_enum_string_names_the_field_and_the_choices(
    call: Callable[[], object], field: str, allowed: tuple[str, ...]
) -> None:
    message = _raises(call, f"'{field}' must be one of")
    for value in allowed:
        assert repr(value) in message


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (lambda u: u.transactions.list(kinds=["gift"]), "kinds"),
        (lambda u: u.transactions.read_log(kinds=["gift"]), "kinds"),
        (lambda u: u.interactions.list(channels=["pigeon"]), "channels"),
    ],
)
def test_repository_enum_filters_name_the_filter(
    uow: UnitOfWork, query: Callable[[UnitOfWork], object], field: str
) -> None:
    with uow:
        _raises(lambda: query(uow), f"'{field}' must be one of")


# --- 10**400, zero and negative counts -------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "expected"),
    [
        (lambda u: u.customers.list(limit=HUGE), "limit", "must be <= 9223372036854775807"),
        (lambda u: u.transactions.list(limit=HUGE), "limit", "must be <= 9223372036854775807"),
        (
            lambda u: list(u.customers.iter(batch_size=HUGE)),
            "batch_size",
            "must be <= 9223372036854775807",
        ),
        (lambda u: u.customers.list(limit=-1), "limit", "must be >= 0"),
        (lambda u: u.opportunities.list(limit=2.5), "limit", "must be a whole number"),
        (lambda u: list(u.interactions.iter(batch_size=0)), "batch_size", "must be >= 1"),
        (lambda u: list(u.customers.iter(batch_size=True)), "batch_size", "must be a whole number"),
    ],
)
def test_limits_and_batch_sizes_are_refused_alike_by_every_backend(
    uow: UnitOfWork, query: Callable[[UnitOfWork], object], field: str, expected: str
) -> None:
    with uow:
        _raises(lambda: query(uow), f"'{field}' {expected}")


@pytest.mark.parametrize(
    ("call", "field", "expected"),
    [
        (lambda: import_transactions(MemoryUnitOfWork(), [], batch_size=HUGE), "batch_size", "<= "),
        (lambda: import_customers(MemoryUnitOfWork(), [], batch_size=0), "batch_size", ">= 1"),
        (lambda: Threshold(name="t", at_least=HUGE), "at_least", "out of the range of a float"),
        (lambda: EWBaseline(name="e", alpha=HUGE), "alpha", "out of the range of a float"),
        (lambda: RobustZ(name="r", lookback=2), "lookback", ">= 3"),
        (lambda: RobustZ(name="r", lookback=HUGE), "lookback", "<= 1000"),
        (lambda: RobustZ(name="r", lookback=FLOAT), "lookback", "must be an int"),
        (lambda: Targets(revenue=HUGE), "revenue", "out of the range of a float"),
        (lambda: Targets(wins=-1), "wins", ">= 0"),
        (lambda: WEEK.shift(HUGE), "n", "<= "),
        (lambda: next_period_forecast(_history(), period=WEEK, lookback=0), "lookback", ">= 1"),
        (
            lambda: next_period_forecast(_history(), period=WEEK, lookback=HUGE),
            "lookback",
            "<= 1000",
        ),
        (lambda: scorecards(WEEK, history=_history(), costs={"a": HUGE}), "costs[a]", "float"),
        (lambda: scorecards(WEEK, history=_history(), low_share=math.nan), "low_share", "finite"),
        (lambda: find_duplicate_customers([], max_block_size=1), "max_block_size", ">= 2"),
        (lambda: cdnow_customer_id(-1), "sample_id", ">= 0"),
        (lambda: load_funnel(MemoryUnitOfWork(), "b2b", version=0), "version", ">= 1"),
        (
            lambda: save_funnel(MemoryUnitOfWork(), B2B, expected_version=-1),
            "expected_version",
            ">= 0",
        ),
        (
            lambda: load_ruleset(MemoryUnitOfWork(), "bank", version=FLOAT),
            "version",
            "whole number",
        ),
    ],
)
def test_huge_zero_and_negative_counts_are_refused_by_name(
    call: Callable[[], object], field: str, expected: str
) -> None:
    _raises(call, f"'{field}'", expected)


def test_alert_numbers_beyond_a_float_are_refused_by_name() -> None:
    fields: dict[str, Any] = {
        "id": "a-1",
        "ruleset": "bank",
        "rule": "big",
        "rule_version": 1,
        "rule_type": "threshold",
        "customer_id": "c-1",
        "transaction_ids": ("t-1",),
        "occurred_at": T,
        "observed": 1.0,
        "baseline": 1.0,
        "deviation": 1.0,
        "history": 0,
        "explanation": "...",
        "routed_to": "rep",
        "window": "tx:t-1",
    }
    assert Alert(**fields).status is AlertStatus.OPEN
    for name in ("observed", "baseline", "deviation"):
        _raises(lambda: Alert(**{**fields, name: HUGE}), f"'{name}'")  # noqa: B023 - called at once
    _raises(lambda: Alert(**{**fields, "status": "closed"}), "'status' must be one of")


# --- text filters, ids and names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (lambda u: u.customers.list(segment={"a": 1}), "segment"),
        (lambda u: u.opportunities.list(stage=3), "stage"),
        (lambda u: u.surveys.list(survey="\ud800"), "survey"),
        (lambda u: u.costs.list(category="a\x00b"), "category"),
        (lambda u: u.transactions.read_log(customer_ids=["\ud800"]), "customer_ids"),
        (lambda u: u.customers.by_external_keys(None), "keys"),
        (lambda u: u.customers.find({}), "customer_id"),
        (lambda u: u.customers.add_many(None), "customers"),
        (lambda u: u.interactions.add_many("i-1"), "interactions"),
        (lambda u: u.opportunities.history(None), "opportunity_id"),
        (lambda u: u.interactions.get(["i-1"]), "interaction_id"),
    ],
)
def test_text_filters_are_refused_alike_by_every_backend(
    uow: UnitOfWork, query: Callable[[UnitOfWork], object], field: str
) -> None:
    with uow:
        _raises(lambda: query(uow), f"'{field}'")


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: Funnel(name="f", stages=B2B.stages, transitions="abc"), "'transitions'"),
        (
            lambda: Funnel(name="f", stages=[{"name": "lead"}], transitions=()),
            "'stages[0]' must be a Stage",
        ),
        (lambda: RequireFields("colour"), "'fields' must be one of"),
        (lambda: RequireFields(NONE), "'fields'"),
        (lambda: Funnel.linear("f", _hostile(["a", "b"])), "'open_stages' must be a mapping"),
        (lambda: Scope(kinds=7), "'kinds'"),
        (lambda: RuleSet(name="r", rules=HUGE), "'rules'"),
        (
            lambda: win(
                *_opened()[:1], funnel=B2B, by="a", at=T, after=_opened()[1], follow_up_id="\x00"
            ),
            "'follow_up_id'",
        ),
        (
            lambda: advance(
                MemoryUnitOfWork(), NONE, "x", expected_version=0, funnel=B2B, by="a", at=T
            ),
            "'opportunity_id'",
        ),
        (lambda: load_funnel(MemoryUnitOfWork(), NONE), "'name'"),
        (lambda: load_ruleset(MemoryUnitOfWork(), "\x00"), "'name'"),
        (lambda: export_customer(MemoryUnitOfWork(), NONE), "'customer_id'"),
        (lambda: import_transactions(MemoryUnitOfWork(), NONE), "'source'"),
        (lambda: import_transactions(MemoryUnitOfWork(), "a\x00.csv"), "'source'"),
        (lambda: import_transactions(MemoryUnitOfWork(), "x.csv", delimiter=";;"), "'delimiter'"),
        (lambda: import_transactions(MemoryUnitOfWork(), "x.csv", encoding="\ud800"), "'encoding'"),
        (
            lambda: import_customers(MemoryUnitOfWork(), [], time_format=_hostile({})),
            "'time_format'",
        ),
        (lambda: replay([_opened()[1]][1:], funnel=B2B), "'events'"),
    ],
)
def test_configuration_and_argument_messages_name_the_argument(
    call: Callable[[], object], needle: str
) -> None:
    _raises(call, needle)


def test_the_cli_refuses_an_unstorable_db_path_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--db", "a\x00b", "--sections", "summary"]) == 2
    assert "--db must not contain a NUL character" in capsys.readouterr().out


# --- one rule for every numeric option: hypothesis ----------------------------------------------

_HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.just(HUGE),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.just({}),
)


def _outcome(call: Callable[[], object]) -> object:
    """What ``call`` returns, or the crmcore error it raises."""
    try:
        return call()
    except CRMError as e:
        return e


@settings(max_examples=60, deadline=None)
@given(value=_HOSTILE)
def test_rule_options_either_hold_a_finite_valid_number_or_name_the_field(value: Any) -> None:
    got = _outcome(lambda: Threshold(name="t", at_least=value))
    if isinstance(got, CRMError):
        assert isinstance(got, ValidationError)
        assert "'at_least'" in str(got)
        return
    assert isinstance(got, Threshold)
    assert isinstance(got.at_least, int | float) and not isinstance(got.at_least, bool)
    assert math.isfinite(got.at_least) and got.at_least > 0


@settings(max_examples=25, deadline=None)
@given(limit=st.one_of(st.integers(min_value=-3, max_value=6), st.just(HUGE), st.floats()))
def test_memory_and_sqlite_answer_a_limit_alike(limit: Any) -> None:
    answers: list[object] = []
    for u in (MemoryUnitOfWork(), SqlUnitOfWork.from_url("sqlite://")):
        with u:
            for i in range(4):
                u.customers.add(Customer(id=f"c-{i}", name="x"))
            got = _outcome(lambda: u.customers.list(limit=limit))  # noqa: B023 - called at once
        if isinstance(u, SqlUnitOfWork):
            u.close()
        answers.append(str(got) if isinstance(got, CRMError) else len(got))  # type: ignore[arg-type]  # a list
    assert answers[0] == answers[1]
    if isinstance(answers[0], str):
        assert "'limit'" in answers[0]
    else:
        assert answers[0] == min(max(limit, 0), 4)
