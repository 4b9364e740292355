"""Hypothesis strategies for every public model type, built directly (never filtered).

Installing crmcore registers them with hypothesis through its entry point, so
``st.from_type(Customer)`` works in your own test suite:

>>> from hypothesis import given, strategies as st
>>> from crmcore.model import Customer
>>> @given(st.from_type(Customer))
... def test_customer_round_trips(c):
...     from crmcore.serialization import from_dict, to_dict
...     assert from_dict(Customer, to_dict(c)) == c
>>> test_customer_round_trips()
"""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crmcore.errors import require

require("hypothesis", "testing")

from hypothesis import strategies as st  # noqa: E402

from crmcore.model import (  # noqa: E402
    Activity,
    ActivityKind,
    ActivityStatus,
    Address,
    Channel,
    Consent,
    ContactKind,
    ContactPoint,
    CostEntry,
    Customer,
    CustomerKind,
    Direction,
    FieldChange,
    Interaction,
    Money,
    Opportunity,
    Relationship,
    ServiceCase,
    StageChange,
    SurveyResponse,
    Transaction,
    TransactionKind,
)

__all__ = [
    "activities",
    "addresses",
    "contact_points",
    "cost_entries",
    "currencies",
    "custom_fields",
    "customers",
    "field_changes",
    "ids",
    "interactions",
    "money",
    "opportunities",
    "register_strategies",
    "service_cases",
    "stage_changes",
    "strategy_for",
    "survey_responses",
    "transactions",
    "utc_datetimes",
]

_ID_ALPHABET = string.ascii_letters + string.digits + "-_"
_COMMON_CURRENCIES = ("EUR", "USD", "CNY", "GBP", "JPY", "CHF", "KWD")


def ids(prefix: str = "") -> st.SearchStrategy[str]:
    """Record identifiers: short strings of letters, digits, '-' and '_'."""
    return st.text(_ID_ALPHABET, min_size=1, max_size=24).map(lambda s: prefix + s)


def utc_datetimes(
    min_value: datetime = datetime(1990, 1, 1), max_value: datetime = datetime(2040, 1, 1)
) -> st.SearchStrategy[datetime]:
    """Timezone-aware UTC datetimes (microsecond precision)."""
    return st.datetimes(min_value=min_value, max_value=max_value, timezones=st.just(UTC))


def currencies() -> st.SearchStrategy[str]:
    """A few ISO 4217 codes with 0, 2 and 3 minor units."""
    return st.sampled_from(_COMMON_CURRENCIES)


def money(
    currency: str | None = None, *, min_value: int = 0, max_value: int = 10**9
) -> st.SearchStrategy[Money]:
    """Money with at most 4 decimal places between ``min_value`` and ``max_value``."""
    cur = st.just(currency) if currency else currencies()
    cents = st.integers(min_value * 10_000, max_value * 10_000)
    return st.builds(lambda c, k: Money(Decimal(c).scaleb(-4), k), cents, cur)


_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    lambda s: s.strip() != ""
)
_names = st.text(string.ascii_letters + " 中文李王", min_size=1, max_size=30).map(
    lambda s: s.strip() or "N"
)


def contact_points() -> st.SearchStrategy[ContactPoint]:
    """Valid contact points of every kind."""
    local = st.text(string.ascii_lowercase + string.digits + ".", min_size=1, max_size=12).map(
        lambda s: s.strip(".") or "x"
    )
    email = st.builds(
        lambda a, d: ContactPoint(ContactKind.EMAIL, f"{a}@{d}.example"), local, local
    )
    phone = st.builds(
        lambda k, n: ContactPoint(k, f"+{n}"),
        st.sampled_from([ContactKind.PHONE, ContactKind.MOBILE, ContactKind.FAX]),
        st.integers(10_000, 10**14),
    )
    other = st.builds(
        ContactPoint,
        st.sampled_from([ContactKind.WEB, ContactKind.SOCIAL, ContactKind.POSTAL]),
        _names,
    )
    return st.one_of(email, phone, other)


def addresses() -> st.SearchStrategy[Address]:
    """Addresses with an alpha-2 country."""
    return st.builds(
        Address,
        country=st.sampled_from(["CN", "US", "DE", "FR", "JP", "GB"]),
        city=st.none() | _names,
        postal_code=st.none() | st.text(string.digits, min_size=4, max_size=6),
        lines=st.lists(_names, max_size=2).map(tuple),
    )


@st.composite
def customers(draw: Any) -> Customer:
    """Valid customers, persons and organisations."""
    cid = draw(ids("c"))
    kind = draw(st.sampled_from(list(CustomerKind)))
    rel_ids = st.lists(ids("r"), max_size=2, unique=True)
    return Customer(
        id=cid,
        name=draw(_names),
        kind=kind,
        contact_points=tuple(draw(st.lists(contact_points(), max_size=3))),
        birthday=draw(st.none() | st.dates(date(1920, 1, 1), date(2010, 1, 1)))
        if kind is CustomerKind.PERSON
        else None,
        address=draw(st.none() | addresses()),
        tags=draw(st.lists(st.sampled_from(["vip", "b2b", "churn-risk", "new"]), max_size=3)),
        acquisition_channel=draw(st.none() | st.sampled_from(["web", "referral", "branch"])),
        acquired_at=draw(st.none() | utc_datetimes()),
        owner_id=draw(st.none() | ids("rep")),
        segment=draw(st.none() | st.sampled_from(["gold", "silver", "bronze"])),
        consent=Consent(contact=draw(st.booleans()), data_use=draw(st.booleans())),
        relationships=tuple(
            [Relationship(kind="household", customer_id=r) for r in draw(rel_ids) if r != cid]
        ),
        external_key=draw(st.none() | ids("ext")),
        version=draw(st.integers(0, 5)),
    )


def interactions(
    customer_id: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[Interaction]:
    """Valid interactions on every channel."""
    return st.builds(
        Interaction,
        id=ids("i"),
        customer_id=ids("c") if customer_id is None else customer_id,
        channel=st.sampled_from(list(Channel)),
        direction=st.sampled_from(list(Direction)),
        occurred_at=utc_datetimes(),
        rep_id=st.none() | ids("rep"),
        subject=st.none() | _text,
        outcome=st.none() | _text,
        duration_seconds=st.none() | st.integers(0, 36_000),
    )


def transactions(
    customer_id: st.SearchStrategy[str] | None = None, currency: str | None = None
) -> st.SearchStrategy[Transaction]:
    """Valid transactions of every kind."""
    return st.builds(
        Transaction,
        id=ids("t"),
        customer_id=ids("c") if customer_id is None else customer_id,
        occurred_at=utc_datetimes(),
        amount=money(currency, max_value=10**7),
        kind=st.sampled_from(list(TransactionKind)),
        quantity=st.integers(0, 100),
        product=st.none() | st.sampled_from(["cd", "dvd", "loan", "card"]),
        category=st.none() | st.sampled_from(["music", "film", "banking"]),
        channel=st.none() | st.sampled_from(["web", "branch", "phone"]),
        external_ref=st.none() | ids("x"),
    )


@st.composite
def opportunities(draw: Any) -> Opportunity:
    """Valid opportunities (open or closed)."""
    created = draw(utc_datetimes(max_value=datetime(2035, 1, 1)))
    entered = created + timedelta(seconds=draw(st.integers(0, 10**7)))
    closed = draw(st.none() | st.just(entered + timedelta(days=draw(st.integers(0, 400)))))
    return Opportunity(
        id=draw(ids("o")),
        customer_id=draw(ids("c")),
        owner_id=draw(ids("rep")),
        funnel=draw(st.sampled_from(["b2b", "top-in-best", "four-phase"])),
        stage=draw(st.sampled_from(["lead", "qualified", "proposal", "won", "lost"])),
        created_at=created,
        amount=draw(st.none() | money(max_value=10**7)),
        expected_close=draw(st.none() | st.dates(date(2000, 1, 1), date(2040, 1, 1))),
        probability=draw(st.none() | st.floats(0, 1)),
        product=draw(st.none() | st.sampled_from(["erp", "crm", "support"])),
        lost_reason=draw(st.none() | st.sampled_from(["price", "competitor", "no budget"])),
        stage_entered_at=entered,
        closed_at=closed,
        parent_id=draw(st.none() | ids("o")),
        version=draw(st.integers(0, 20)),
        forecast_category=draw(st.none() | st.sampled_from(["pipeline", "best_case", "commit"])),
        custom=draw(custom_fields()),
    )


def _custom_values() -> st.SearchStrategy[Any]:
    return (
        st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | _text
    )


def custom_fields() -> st.SearchStrategy[dict[str, Any]]:
    """Valid custom fields of an opportunity (names to strings, ints, finite floats, bools).

    >>> from hypothesis import find
    >>> find(custom_fields(), lambda d: len(d) > 0).keys() <= {"industry", "seats", "region"}
    True
    """
    return st.dictionaries(st.sampled_from(["industry", "seats", "region"]), _custom_values())


def stage_changes() -> st.SearchStrategy[StageChange]:
    """Valid stage-change events."""
    return st.builds(
        StageChange,
        opportunity_id=ids("o"),
        sequence=st.integers(0, 50),
        from_stage=st.none() | st.sampled_from(["lead", "qualified"]),
        to_stage=st.sampled_from(["qualified", "proposal", "won", "lost"]),
        at=utc_datetimes(),
        by=ids("rep"),
        reason=st.none() | _text,
        amount=st.none() | money(max_value=10**7),
        probability=st.none() | st.floats(0, 1),
        recorded_at=st.none() | utc_datetimes(),
        request_id=st.none() | ids("req"),
        forecast_category=st.none() | st.sampled_from(["pipeline", "commit"]),
        expected_close=st.none() | st.dates(date(2000, 1, 1), date(2040, 1, 1)),
        deal_kind=st.none() | st.sampled_from(["new", "repurchase"]),
        custom=custom_fields(),
    )


_FIELD_VALUES: dict[str, Any] = {
    "amount": st.none() | money(max_value=10**7),
    "owner_id": ids("rep"),
    "expected_close": st.none() | st.dates(date(2000, 1, 1), date(2040, 1, 1)),
    "probability": st.none() | st.floats(0, 1),
    "forecast_category": st.none() | st.sampled_from(["pipeline", "best_case", "commit"]),
    "product": st.none() | _text,
    "custom.seats": st.none() | _custom_values(),
}


@st.composite
def field_changes(draw: Any) -> FieldChange:
    """Valid field-change events (every editable field and a custom one).

    >>> from hypothesis import find
    >>> find(field_changes(), lambda c: c.field == "amount").field
    'amount'
    """
    field = draw(st.sampled_from(sorted(_FIELD_VALUES)))
    values = _FIELD_VALUES[field]
    return FieldChange(
        opportunity_id=draw(ids("o")),
        sequence=draw(st.integers(1, 50)),
        field=field,
        old=draw(values),
        new=draw(values),
        at=draw(utc_datetimes()),
        by=draw(ids("rep")),
        reason=draw(st.none() | _text),
        recorded_at=draw(st.none() | utc_datetimes()),
        request_id=draw(st.none() | ids("req")),
    )


@st.composite
def activities(draw: Any) -> Activity:
    """Valid activities, planned, done and cancelled."""
    status = draw(st.sampled_from(list(ActivityStatus)))
    return Activity(
        id=draw(ids("a")),
        kind=draw(st.sampled_from(list(ActivityKind))),
        rep_id=draw(ids("rep")),
        customer_id=draw(st.none() | ids("c")),
        opportunity_id=draw(st.none() | ids("o")),
        subject=draw(st.none() | _text),
        status=status,
        due_at=draw(st.none() | utc_datetimes()),
        done_at=draw(utc_datetimes()) if status is ActivityStatus.DONE else None,
        outcome=draw(st.none() | _text),
    )


@st.composite
def survey_responses(draw: Any) -> SurveyResponse:
    """Valid survey responses (CSAT, NPS or both)."""
    csat = draw(st.none() | st.integers(1, 5))
    nps = draw(st.integers(0, 10)) if csat is None else draw(st.none() | st.integers(0, 10))
    return SurveyResponse(
        id=draw(ids("s")),
        customer_id=draw(ids("c")),
        responded_at=draw(utc_datetimes()),
        csat=csat,
        nps=nps,
        comment=draw(st.none() | _text),
        survey=draw(st.none() | st.sampled_from(["onboarding", "quarterly"])),
    )


def cost_entries() -> st.SearchStrategy[CostEntry]:
    """Valid cost-to-serve entries."""
    return st.builds(
        CostEntry,
        id=ids("k"),
        customer_id=ids("c"),
        incurred_at=utc_datetimes(),
        amount=money(max_value=10**6),
        category=st.sampled_from(["call_center", "visit", "bad_debt", "discount", "return"]),
        channel=st.none() | st.sampled_from(["phone", "web"]),
        note=st.none() | _text,
    )


@st.composite
def service_cases(draw: Any) -> ServiceCase:
    """Valid service cases, open or resolved (with or without satisfaction and SLA target).

    >>> from hypothesis import find
    >>> find(service_cases(), lambda c: c.satisfaction is not None).is_open
    False
    """
    opened = draw(utc_datetimes(max_value=datetime(2039, 1, 1)))
    resolved = draw(
        st.none() | st.timedeltas(timedelta(0), timedelta(days=300)).map(opened.__add__)
    )
    return ServiceCase(
        id=draw(ids("sc")),
        customer_id=draw(ids("c")),
        channel=draw(st.sampled_from(list(Channel))),
        opened_at=opened,
        category=draw(st.sampled_from(["billing", "delivery", "repair", "complaint"])),
        owner_id=draw(ids("rep")),
        priority=draw(st.sampled_from(["low", "normal", "high", "urgent"])),
        resolved_at=resolved,
        satisfaction=None if resolved is None else draw(st.none() | st.integers(1, 5)),
        sla_due_at=draw(
            st.none() | st.timedeltas(timedelta(0), timedelta(days=30)).map(opened.__add__)
        ),
        subject=draw(st.none() | _text),
        resolution=None if resolved is None else draw(st.none() | _text),
    )


_STRATEGIES: dict[type, Any] = {
    Money: money(),
    ContactPoint: contact_points(),
    Address: addresses(),
    Consent: st.builds(Consent, st.booleans(), st.booleans()),
    Relationship: st.builds(Relationship, kind=st.just("household"), customer_id=ids("r")),
    Customer: customers(),
    Interaction: interactions(),
    Transaction: transactions(),
    Opportunity: opportunities(),
    StageChange: stage_changes(),
    FieldChange: field_changes(),
    Activity: activities(),
    SurveyResponse: survey_responses(),
    CostEntry: cost_entries(),
    ServiceCase: service_cases(),
}


def strategy_for(cls: type) -> st.SearchStrategy[Any]:
    """The strategy of a model type (what ``st.from_type(cls)`` uses).

    >>> isinstance(strategy_for(Money), st.SearchStrategy)
    True
    """
    strategy: st.SearchStrategy[Any] = _STRATEGIES[cls]
    return strategy


def register_strategies() -> None:
    """Register every model strategy with ``st.register_type_strategy``.

    The hypothesis entry point already does this when crmcore is installed;
    call it yourself only where entry points are disabled.

    >>> register_strategies()
    """
    for cls, strat in _STRATEGIES.items():
        st.register_type_strategy(cls, strat)
