"""The customer view: timeline, value state and view on the memory, SQLite and PostgreSQL
backends, through the public API, against references computed in the test."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crmcore.anomaly import Alert, AlertStore
from crmcore.errors import ArgumentTypeError, NotFoundError, ValidationError
from crmcore.model import (
    Activity,
    Consent,
    Customer,
    Interaction,
    Money,
    Relationship,
    SurveyResponse,
    Transaction,
)
from crmcore.pipeline import TOP_IN_BEST, advance, create_opportunity, edit, save_funnel
from crmcore.relationship import (
    TIMELINE_KINDS,
    ChannelPreference,
    customer_timeline,
    customer_view,
    iter_timeline,
    value_state,
)
from crmcore.repositories import MemoryUnitOfWork
from crmcore.segmentation import TierAssignment, rfm_scores
from crmcore.valuation import BGNBDModel, BGNBDParams, customer_lifetime_value

# the repository tests' backends (SQLite file, PostgreSQL server) without a shared conftest
_spec = importlib.util.spec_from_file_location(
    "_repositories_conftest", Path(__file__).parents[1] / "repositories" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_backends = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_backends)
postgres_url = _backends.postgres_url
postgres_engine = _backends.postgres_engine
postgres_factory = _backends.postgres_factory
sqlite_factory = _backends.sqlite_factory


def t(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


AS_OF = t(2025, 1, 1)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def uow(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryUnitOfWork()
    else:
        yield request.getfixturevalue(f"{request.param}_factory")()


def build(uow: Any) -> None:
    """One customer with a bit of everything, and a second one as noise."""
    with uow:
        uow.customers.add(Customer(id="org-1", name="ACME", kind="organization"))
        uow.customers.add(
            Customer(
                id="c-1",
                name="Ada",
                relationships=[
                    Relationship("employee_of", "org-1"),
                    Relationship("referred_by", "ghost"),
                ],
                consent=Consent(contact=True),
                acquisition_channel="search",
                acquired_at=t(2022, 2, 1),
                segment="gold",
            )
        )
        uow.customers.add(Customer(id="c-2", name="Bob", segment="gold"))

        def i(
            id_: str, ch: str, d: str, at: datetime, outcome: str | None = None, c: str = "c-1"
        ) -> Interaction:
            return Interaction(
                id=id_, customer_id=c, channel=ch, direction=d, occurred_at=at, outcome=outcome
            )

        uow.interactions.add_many(
            [
                i("i-1", "phone", "inbound", t(2023, 1, 10)),
                i("i-2", "email", "outbound", t(2023, 6, 1), "replied"),
                i("i-3", "phone", "outbound", t(2024, 2, 1), "no answer"),
                i("i-4", "sms", "outbound", t(2024, 5, 5)),
                i("i-5", "meeting", "outbound", t(2024, 5, 5), "met"),  # same time as i-4
                i("i-6", "email", "inbound", t(2025, 2, 1)),  # after AS_OF
                i("i-9", "phone", "inbound", t(2023, 1, 10), c="c-2"),
            ]
        )

        def tx(
            id_: str, at: datetime, amount: str, c: str = "c-1", ch: str | None = None
        ) -> Transaction:
            return Transaction(
                id=id_, customer_id=c, occurred_at=at, amount=Money(amount, "USD"), channel=ch
            )

        uow.transactions.add_many(
            [
                tx("t-1", t(2023, 1, 15), "100"),
                tx("t-2", t(2023, 7, 1), "50"),
                tx("t-3", t(2024, 3, 1), "80", ch="web"),
                tx("t-9", t(2023, 2, 1), "10", c="c-2"),
            ]
        )
        uow.surveys.add_many(
            [
                SurveyResponse(
                    id="s-1", customer_id="c-1", responded_at=t(2023, 8, 1), nps=9, csat=5
                ),
                SurveyResponse(
                    id="s-2", customer_id="c-1", responded_at=t(2024, 6, 1), nps=6, channel="email"
                ),
            ]
        )
        uow.activities.add_many(
            [
                Activity(
                    id="a-1",
                    kind="call",
                    rep_id="ann",
                    customer_id="c-1",
                    status="done",
                    done_at=t(2023, 3, 3),
                ),
                Activity(
                    id="a-2", kind="meeting", rep_id="ann", customer_id="c-1", due_at=t(2025, 3, 1)
                ),
                Activity(id="a-3", kind="task", rep_id="ann", customer_id="c-1"),  # undated
            ]
        )
        save_funnel(uow, TOP_IN_BEST)
        create_opportunity(uow, TOP_IN_BEST, id="o-1", customer_id="c-1", owner_id="ann", at=t(2024, 1, 10),
                           amount=Money("500", "USD"))  # fmt: skip
        advance(
            uow, "o-1", "IN", expected_version=0, funnel=TOP_IN_BEST, by="ann", at=t(2024, 2, 10)
        )
        edit(uow, "o-1", expected_version=1, changes={"amount": Money("650", "USD")}, funnel=TOP_IN_BEST,
             by="ann", at=t(2024, 3, 10))  # fmt: skip
        create_opportunity(
            uow, TOP_IN_BEST, id="o-2", customer_id="c-1", owner_id="ann", at=t(2023, 1, 1)
        )
        advance(uow, "o-2", "LOST", expected_version=0, funnel=TOP_IN_BEST, by="ann", at=t(2023, 2, 1),
                reason="price")  # fmt: skip
        uow.commit()


def _us(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def reference(uow: Any, customer_id: str) -> list[tuple[int, str, str, str | None]]:
    """The full timeline from full reads of every record (the test's own mapping)."""
    out: list[tuple[int, str, str, str | None]] = [
        (_us(r.occurred_at), "interaction", r.id, r.channel.value)
        for r in uow.interactions.list(customer_id=customer_id)
    ]
    out += [
        (_us(r.occurred_at), "transaction", r.id, r.channel)
        for r in uow.transactions.list(customer_id=customer_id)
    ]
    out += [
        (_us(r.responded_at), "survey", r.id, r.channel)
        for r in uow.surveys.list(customer_id=customer_id)
    ]
    chan = {
        "call": "phone",
        "email": "email",
        "meeting": "meeting",
        "demo": "meeting",
        "visit": "visit",
    }
    for r in uow.activities.list(customer_id=customer_id):
        when = r.done_at or r.due_at
        if when is not None:
            out.append((_us(when), "activity", r.id, chan.get(r.kind.value)))
    for o in uow.opportunities.list(customer_id=customer_id):
        for e in uow.opportunities.events(o.id):
            kind = "stage_change" if hasattr(e, "to_stage") else "field_change"
            out.append((_us(e.at), kind, f"{o.id}#{e.sequence}", None))
    return sorted(out)


def pages(uow: Any, customer_id: str, size: int, cursor: str | None = None, **kw: Any) -> list[Any]:
    events: list[Any] = []
    seen = 0
    while True:
        page = customer_timeline(uow, customer_id, cursor=cursor, limit=size, **kw)
        assert len(page) <= size
        events.extend(page.events)
        seen += 1
        if page.next_cursor is None:
            return events
        assert len(page) == size
        cursor = page.next_cursor
        assert seen < 1000


def test_timeline_pages_are_the_full_ordered_timeline(uow: Any) -> None:
    build(uow)
    with uow:
        ref = reference(uow, "c-1")
        assert len(ref) == 18
        for size in (1, 2, 3, 7, 50):
            got = [(e.key[0], e.kind, e.id, e.channel) for e in pages(uow, "c-1", size)]
            assert got == ref
        assert [e.id for e in iter_timeline(uow, "c-1", page_size=4)] == [r[2] for r in ref]
        assert "a-3" not in {r[2] for r in ref}  # an undated task has no place in time


def test_timeline_filters_are_filters_of_the_full_list(uow: Any) -> None:
    build(uow)
    with uow:
        ref = reference(uow, "c-1")
        cases: list[tuple[dict[str, Any], Callable[[tuple[Any, ...]], bool]]] = [
            ({"kinds": ["interaction"]}, lambda r: r[1] == "interaction"),
            ({"kinds": "stage_change"}, lambda r: r[1] == "stage_change"),
            ({"channels": ["phone"]}, lambda r: r[3] == "phone"),
            ({"channels": ["web", "email"]}, lambda r: r[3] in ("web", "email")),
            (
                {"start": "2024-01-01", "end": AS_OF},
                lambda r: _us(t(2024, 1, 1)) <= r[0] < _us(AS_OF),
            ),
            (
                {"kinds": ["interaction", "activity"], "channels": "phone", "end": "2024-01-01"},
                lambda r: (
                    r[1] in ("interaction", "activity")
                    and r[3] == "phone"
                    and r[0] < _us(t(2024, 1, 1))
                ),
            ),
            ({"channels": ["pigeon"]}, lambda r: False),
            ({"start": "9999-01-01"}, lambda r: False),  # far future: nothing
            ({"end": "0001-01-02"}, lambda r: False),  # far past: nothing
        ]
        for kw, keep in cases:
            want = [r[2] for r in ref if keep(r)]
            for size in (1, 3, 100):
                assert [e.id for e in pages(uow, "c-1", size, **kw)] == want, (kw, size)


def test_timeline_frames_and_alerts(uow: Any) -> None:
    build(uow)
    with uow:
        store = AlertStore(uow)
        store.add([_alert("al-1", t(2024, 4, 1))])
        page = customer_timeline(uow, "c-1", kinds=["alert"], alerts=store)
        assert [e.id for e in page.events] == ["al-1"]
        df = customer_timeline(uow, "c-1", limit=3).to_pandas()
        assert df.columns.tolist() == ["at", "kind", "id", "channel", "summary"]
        assert df["id"].tolist() == ["o-2#0", "i-1", "t-1"]
        assert customer_timeline(uow, "c-1", kinds=["alert"]).events == ()  # no store given


def test_timeline_cursor_is_stable_when_records_are_added_before_it(uow: Any) -> None:
    build(uow)
    with uow:
        first = customer_timeline(uow, "c-1", limit=5)
        uow.interactions.add(
            Interaction(
                id="i-0",
                customer_id="c-1",
                channel="phone",
                direction="inbound",
                occurred_at=t(2020, 1, 1),
            )
        )
        rest = pages(uow, "c-1", 4)
        after = customer_timeline(uow, "c-1", cursor=first.next_cursor, limit=100)
        ids = [e.id for e in first.events] + [e.id for e in after.events]
        assert ids == [e.id for e in rest if e.id != "i-0"]


def test_timeline_bad_input(uow: Any) -> None:
    build(uow)
    with uow:
        with pytest.raises(NotFoundError, match="customer 'nobody' not found"):
            customer_timeline(uow, "nobody")
        for bad in ("v1:x:interaction:i-1", "v2:1:interaction:i-1", "v1:1:call:i-1", "v1:1:interaction:",
                    "v1:99999999999999999999:interaction:i-1"):  # fmt: skip
            with pytest.raises(ValidationError, match="'cursor' must be a cursor token"):
                customer_timeline(uow, "c-1", cursor=bad)
        with pytest.raises(ValidationError, match="'cursor'"):
            customer_timeline(uow, "c-1", cursor=12)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="'kinds' must hold timeline kinds.*'calls'"):
            customer_timeline(uow, "c-1", kinds=["calls"])
        with pytest.raises(ValidationError, match="'channels' must hold non-empty"):
            customer_timeline(uow, "c-1", channels=[""])
        with pytest.raises(ValidationError, match="'end' must be after 'start'"):
            customer_timeline(uow, "c-1", start="2024-01-01", end="2023-01-01")
        with pytest.raises(ValidationError, match="'start' must be timezone-aware"):
            customer_timeline(uow, "c-1", start=datetime(2024, 1, 1))
        with pytest.raises(ValidationError, match="'limit'"):
            customer_timeline(uow, "c-1", limit=0)
        with pytest.raises(ValidationError, match="'customer_id'"):
            customer_timeline(uow, "")
        with pytest.raises(ArgumentTypeError, match="'uow' must be a unit of work"):
            customer_timeline({}, "c-1")  # type: ignore[arg-type]


def _alert(id_: str, at: datetime, window: str = "tx:t-3") -> Alert:
    return Alert(
        id=id_, ruleset="bank", rule="big", rule_version=1, rule_type="threshold", customer_id="c-1",
        transaction_ids=("t-3",), occurred_at=at, observed=9.0, baseline=1.0, deviation=8.0, history=3,
        explanation="big deposit", routed_to="queue", window=window,
    )  # fmt: skip


# -- value state ----------------------------------------------------------------------------

PARAMS = (0.25, 40.0, 0.6, 2.5)  # r, alpha, a, b of a BG/NBD model in days


def reference_p_alive(x: float, t_x: float, big_t: float) -> float:
    """BG/NBD P(alive) (Fader, Hardie & Lee 2005, eq. 4), written out here."""
    r, alpha, a, b = PARAMS
    if x == 0:
        return 1.0
    return 1.0 / (1.0 + (a / (b + x - 1)) * ((alpha + big_t) / (alpha + t_x)) ** (r + x))


def test_value_state_against_a_reference(uow: Any) -> None:
    build(uow)
    model = BGNBDModel(BGNBDParams(*PARAMS), time_unit="D")
    with uow:
        store = AlertStore(uow)
        store.add([_alert("al-1", t(2024, 4, 1)), _alert("al-2", t(2024, 1, 1), window="w2")])
        store.resolve("al-2", "retained deposit", at=t(2024, 2, 1))
        rfm = rfm_scores([5, 300, 50, 100, 200], [9, 1, 2, 3, 4], [900.0, 10, 20, 30, 40],
                         customer_ids=["c-1", "c-2", "x-3", "x-4", "x-5"])  # fmt: skip
        tiers = TierAssignment(
            np.array([-1, 0], dtype=np.int16), ("gold",), np.array(["c-2", "c-1"], dtype=object)
        )
        s = value_state(
            uow, "c-1", as_of=AS_OF, purchase_model=model, rfm=rfm, tiers=tiers, alerts=store
        )
    # the summary by hand: purchase days 2023-01-15, 2023-07-01, 2024-03-01; T to the as_of day
    first = date(2023, 1, 15)
    x, t_x, big_t = 2.0, (date(2024, 3, 1) - first).days, (date(2025, 1, 1) - first).days
    assert s.p_alive == pytest.approx(reference_p_alive(x, t_x, big_t), rel=1e-9)
    monetary = (50.0 + 80.0) / 2  # mean of the repeat purchases
    clv = customer_lifetime_value(model, None, [x], [float(t_x)], [float(big_t)], [monetary])
    assert s.clv == pytest.approx(float(clv[0]), rel=1e-9)
    assert (s.rfm_segment, s.rfm_cell, s.tier) == ("champions", 555, "gold")
    assert (s.nps, s.nps_at, s.nps_category, s.csat, s.csat_at) == (
        6,
        t(2024, 6, 1),
        "detractor",
        5,
        t(2023, 8, 1),
    )
    assert [a.id for a in s.open_alerts] == ["al-1"]
    assert s.open_deals.to_pandas().to_dict("records") == [
        {"opportunity_id": "o-1", "stage": "IN", "amount": 650.0, "currency": "USD", "score": pytest.approx(math.nan, nan_ok=True)}
    ]  # fmt: skip
    assert s.consent == Consent(contact=True)
    # channels: phone 1 in + 1 unanswered out; email 1 answered; sms sent without outcome;
    # meeting 1 answered; the email of 2025-02-01 is after as_of
    ch = s.channels.to_pandas().set_index("channel")
    assert ch[["inbound", "outbound", "answered"]].to_dict("index") == {
        "email": {"inbound": 0, "outbound": 1, "answered": 1},
        "meeting": {"inbound": 0, "outbound": 1, "answered": 1},
        "phone": {"inbound": 1, "outbound": 1, "answered": 0},
        "sms": {"inbound": 0, "outbound": 1, "answered": 0},
    }
    assert s.preferred_channel == "email"  # ties at 1 engagement: rate 1.0, then the name


def test_value_state_at_earlier_dates(uow: Any) -> None:
    build(uow)
    with uow:
        before = value_state(uow, "c-1", as_of=t(2024, 2, 10))  # o-1 still in TOP at that instant
        assert before.open_deals.stages == ("TOP",)
        assert value_state(uow, "c-1", as_of=t(2024, 1, 10)).open_deals.stages == ()
        early = value_state(
            uow,
            "c-1",
            as_of="2020-01-01",
            purchase_model=BGNBDModel(BGNBDParams(*PARAMS), time_unit="D"),
        )
        assert (early.p_alive, early.clv, early.nps, len(early.channels)) == (None, None, None, 0)
        late = value_state(
            uow,
            "c-1",
            as_of="9999-12-31",  # far future: the whole history,
            purchase_model=BGNBDModel(BGNBDParams(*PARAMS), time_unit="D"),
        )
        assert late.channels.inbound.sum() == 2 and late.open_deals.stages == ("IN",)
        assert late.p_alive is not None and 0 <= late.p_alive < 1e-3  # ... after 8,000 silent years
        assert late.clv is not None and 0 <= late.clv < 1e-3


def test_value_state_bad_input(uow: Any) -> None:
    build(uow)
    with uow:
        with pytest.raises(NotFoundError):
            value_state(uow, "nobody", as_of=AS_OF)
        with pytest.raises(ValidationError, match="'as_of' must be an ISO 8601 timestamp"):
            value_state(uow, "c-1", as_of="soon")
        with pytest.raises(
            ValidationError, match="'purchase_model' must be a fitted purchase model"
        ):
            value_state(uow, "c-1", as_of=AS_OF, purchase_model="bgnbd")  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="'spend_model' needs a 'purchase_model'"):
            value_state(uow, "c-1", as_of=AS_OF, spend_model=object())  # type: ignore[arg-type]
        no_ids = rfm_scores([5, 300], [3, 1], [230.0, 10.0], bins=2)
        with pytest.raises(ValidationError, match="'rfm' must carry customer_ids"):
            value_state(uow, "c-1", as_of=AS_OF, rfm=no_ids)


def test_channel_preference_against_counting() -> None:
    rng = np.random.default_rng(3)
    chans, outcomes = (
        ["phone", "email", "sms"],
        [None, "replied", "no_answer", "Voice-mail", "busy", "ok"],
    )
    rows = [
        Interaction(id=f"i{k}", customer_id="c", channel=str(rng.choice(chans)), direction=str(rng.choice(["inbound", "outbound"])),
                    occurred_at=t(2024, 1, 1), outcome=outcomes[int(rng.integers(len(outcomes)))])
        for k in range(300)
    ]  # fmt: skip
    p = ChannelPreference.from_interactions(rows)
    for j, ch in enumerate(p.channel):
        mine = [r for r in rows if r.channel.value == ch]
        out = [r for r in mine if r.direction.value == "outbound"]
        answered = [
            r for r in out if r.outcome in ("replied", "ok", "Voice-mail")
        ]  # voice-mail ≠ voicemail
        assert (p.inbound[j], p.outbound[j], p.answered[j]) == (
            len(mine) - len(out),
            len(out),
            len(answered),
        )


# -- the view -------------------------------------------------------------------------------


def test_customer_view(uow: Any) -> None:
    build(uow)
    with uow:
        v = customer_view(uow, "c-1", as_of=AS_OF, page_size=4)
        assert v.profile.name == "Ada"
        assert v.related.to_pandas().replace({np.nan: None}).to_dict("records") == [
            {"relation": "employee_of", "customer_id": "org-1", "name": "ACME", "customer_kind": "organization"},
            {"relation": "referred_by", "customer_id": "ghost", "name": None, "customer_kind": None},
        ]  # fmt: skip
        assert [e.id for e in v.timeline.events] == ["o-2#0", "i-1", "t-1", "o-2#1"]
        rest = pages(uow, "c-1", 100, cursor=v.timeline.next_cursor, end=AS_OF)
        assert "i-6" not in [e.id for e in rest]  # the view's timeline ends at as_of
        assert v.value.customer_id == "c-1" and v.value.as_of == AS_OF
        recent = customer_view(uow, "c-1", as_of=AS_OF, timeline_start="2024-05-01")
        assert [e.id for e in recent.timeline.events] == ["i-4", "i-5", "s-2"]
        with pytest.raises(ValidationError, match="'timeline_start' must be before 'as_of'"):
            customer_view(uow, "c-1", as_of=AS_OF, timeline_start="2026-01-01")
        with pytest.raises(NotFoundError):
            customer_view(uow, "ghost", as_of=AS_OF)


def test_results_are_immutable(uow: Any) -> None:
    build(uow)
    with uow:
        v = customer_view(uow, "c-1", as_of=AS_OF)
    with pytest.raises(AttributeError):
        v.profile = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        v.timeline.events[0].kind = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        v.value.clv = 1.0  # type: ignore[misc]
    assert Decimal("650") == v.value.open_deals.opportunities[0].amount.amount  # type: ignore[union-attr]
    assert set(TIMELINE_KINDS) >= {e.kind for e in v.timeline.events}


def test_open_deals_carry_their_scores() -> None:
    from crmcore.pipeline import B2B, DealScores, fit_deal_scores, synthetic_scoring_pipeline

    s = synthetic_scoring_pipeline(B2B, n_opportunities=300, seed=2)
    model = fit_deal_scores(s.history, B2B, as_of=s.as_of)
    scores = DealScores(
        model=model,
        as_of=np.datetime64("2025-01-01T00:00:00", "us"),
        opportunity_ids=np.array(["o-x", "o-1"], dtype=object),
        probability=np.array([0.9, 0.35]),
        log_odds=np.array([2.2, -0.62]),
        levels=np.zeros((2, len(model.factors)), dtype=np.int32),
    )
    uow = MemoryUnitOfWork()
    build(uow)
    with uow:
        state = value_state(uow, "c-1", as_of=AS_OF, deal_scores=scores)
    assert state.open_deals.scores.tolist() == [0.35]
    with uow, pytest.raises(ArgumentTypeError, match="'deal_scores' must be a DealScores"):
        value_state(uow, "c-1", as_of=AS_OF, deal_scores={"o-1": 0.35})  # type: ignore[arg-type]
