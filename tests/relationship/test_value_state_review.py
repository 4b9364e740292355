"""The value state's answers found by the acceptance review: CSAT from service cases, open
cases, answers told from non-answers however they are written, a one-time buyer's unknown
CLV, and results whose customer ids cannot match the store's."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.model import Customer, Interaction, Money, ServiceCase, SurveyResponse, Transaction
from crmcore.relationship import NO_RESPONSE_OUTCOMES, ChannelPreference, value_state
from crmcore.repositories import MemoryUnitOfWork
from crmcore.segmentation import RFMScores
from crmcore.valuation import BGNBDModel, BGNBDParams

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)
MODEL = BGNBDModel(BGNBDParams(0.25, 40.0, 0.6, 2.5), time_unit="D")


def t(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def _case(i: str, opened: datetime, resolved: datetime | None, sat: int | None) -> ServiceCase:
    return ServiceCase(
        id=i,
        customer_id="c-1",
        channel="email",
        opened_at=opened,
        category="billing",
        owner_id="rep-1",
        resolved_at=resolved,
        satisfaction=sat,
    )


def _store() -> MemoryUnitOfWork:
    uow = MemoryUnitOfWork()
    with uow:
        uow.customers.add(Customer(id="c-1", name="Ada"))
        uow.surveys.add(
            SurveyResponse(id="s-1", customer_id="c-1", csat=5, responded_at=t(2023, 5, 1))
        )
        uow.service_cases.add(_case("sc-1", t(2024, 2, 1), t(2024, 2, 3), 1))
        uow.service_cases.add(_case("sc-2", t(2024, 11, 1), None, None))
        uow.service_cases.add(_case("sc-3", t(2024, 12, 1), t(2025, 3, 1), 5))  # after as_of
        uow.transactions.add(
            Transaction(
                id="t-1",
                customer_id="c-1",
                occurred_at=t(2024, 6, 1),
                amount=Money(Decimal("500"), "USD"),
            )
        )
        uow.commit()
    return uow


def test_csat_of_a_resolved_case_is_the_latest_answer() -> None:
    uow = _store()
    with uow:
        s = value_state(uow, "c-1", as_of=AS_OF)
    assert (s.csat, s.csat_at) == (1, t(2024, 2, 3))
    # sc-2 is open; sc-3 was opened before as_of and resolved after it: open at as_of
    assert [c.id for c in s.open_cases] == ["sc-2", "sc-3"]
    with uow:  # before the case was resolved, the survey's answer is the latest
        early = value_state(uow, "c-1", as_of=t(2024, 2, 2))
    assert (early.csat, [c.id for c in early.open_cases]) == (5, ["sc-1"])


def test_a_one_time_buyer_has_no_clv_without_a_spend_model() -> None:
    uow = _store()
    with uow:
        s = value_state(uow, "c-1", as_of=AS_OF, purchase_model=MODEL)
    assert s.p_alive == 1.0 and s.clv is None


def test_rfm_with_numeric_ids_is_refused_by_name() -> None:
    uow = _store()
    rfm = RFMScores(
        np.array([3]), np.array([2]), np.array([1]), 5, customer_ids=np.array([1], dtype=np.int64)
    )
    with uow, pytest.raises(ValidationError, match="'rfm' must carry the customers' text ids"):
        value_state(uow, "c-1", as_of=AS_OF, rfm=rfm)


def _sent(outcome: str | None) -> Interaction:
    return Interaction(
        id="i",
        customer_id="c",
        channel="email",
        direction="outbound",
        occurred_at=AS_OF,
        outcome=outcome,
    )


@given(
    st.sampled_from(sorted(NO_RESPONSE_OUTCOMES)),
    st.lists(st.sampled_from(["", " ", ".", "-", "_", "!"]), max_size=3),
    st.booleans(),
)
def test_a_no_response_outcome_is_one_however_it_is_written(word, noise, upper) -> None:
    text = word.replace("_", noise[0] if noise and noise[0].strip() else " ")
    text = (text.upper() if upper else text.capitalize()) + "".join(noise)
    p = ChannelPreference.from_interactions([_sent(text)])
    assert (p.outbound.tolist(), p.answered.tolist()) == ([1], [0]), text


@pytest.mark.parametrize("outcome", [None, "", "   ", "...", " - "])
def test_a_blank_outcome_is_sent_not_answered(outcome: str | None) -> None:
    p = ChannelPreference.from_interactions([_sent(outcome)])
    assert (p.outbound.tolist(), p.answered.tolist(), p.preferred) == ([1], [0], None)


def test_an_answer_is_still_an_answer() -> None:
    p = ChannelPreference.from_interactions([_sent("Replied: will call back.")])
    assert (p.answered.tolist(), p.preferred) == ([1], "email")


def test_the_long_term_report_counts_service_cases_like_the_timeline() -> None:
    from crmcore.relationship import TIMELINE_KINDS, iter_timeline, long_term_report

    uow = _store()
    with uow:
        r = long_term_report(uow, as_of=AS_OF, customer_ids=["c-1"], years=3)
        events = [
            e
            for e in iter_timeline(uow, "c-1", start=t(2022, 1, 1), end=AS_OF)
            if e.kind != "alert"
        ]
    rows = zip(r.touches.year, r.touches.kind, r.touches.count, strict=True)
    got = {(int(y), k): int(n) for y, k, n in rows}
    want: dict[tuple[int, str], int] = {}
    for e in events:
        want[(e.at.year, e.kind)] = want.get((e.at.year, e.kind), 0) + 1
    assert got == want and want[(2024, "service_case")] == 3
    assert "service_case" in TIMELINE_KINDS
    # the latest touch of the window is the service case opened on 1 December 2024
    assert str(r.indices.last_touch[0].astype("datetime64[D]")) == "2024-12-01"


def _won_deal(uow: MemoryUnitOfWork, oid: str, funnel: object, amount: str) -> None:
    from datetime import timedelta

    from crmcore.pipeline import Funnel, advance, create_opportunity

    assert isinstance(funnel, Funnel)
    won = next(s.name for s in funnel.stages if s.kind.value == "won")
    at = t(2024, 6, 1)
    with uow:
        create_opportunity(
            uow,
            funnel,
            id=oid,
            customer_id="c-1",
            owner_id="rep-1",
            at=at - timedelta(days=10),
            amount=Money(Decimal(amount), "USD"),
        )
        path = [*[s.name for s in funnel.stages if s.kind.value == "open"][1:], won]
        for v, stage in enumerate(path):
            advance(uow, oid, stage, expected_version=v, funnel=funnel, by="rep-1", at=at)
        uow.commit()


def test_crm_health_counts_a_win_in_the_deals_own_funnel() -> None:
    from crmcore.pipeline import TOP_IN_BEST, Funnel, save_funnel
    from crmcore.relationship import crm_health

    uow = _store()
    custom = Funnel.linear("custom", {"open": 0.5}, won="closed_won")
    with uow:
        save_funnel(uow, custom)
        uow.commit()
    _won_deal(uow, "o-tib", TOP_IN_BEST, "300")  # a preset's "WIN", the funnel not stored
    _won_deal(uow, "o-cw", custom, "200")  # a stored funnel's "closed_won"
    with uow:
        default = crm_health(uow, start="2024-01-01", end="2025-01-01")
        named = crm_health(uow, start="2024-01-01", end="2025-01-01", won_stages=["WIN"])
    total = default.adoption.to_pandas().set_index("level")
    assert float(total.loc["all", "won_revenue"]) == 500.0
    assert float(named.adoption.to_pandas().set_index("level").loc["all", "won_revenue"]) == 300.0


def test_an_activity_logged_on_the_customers_deal_is_on_the_timeline() -> None:
    from crmcore.model import Activity
    from crmcore.pipeline import TOP_IN_BEST
    from crmcore.relationship import customer_timeline, iter_timeline, long_term_report

    uow = _store()
    _won_deal(uow, "o-1", TOP_IN_BEST, "100")
    with uow:
        uow.activities.add(
            Activity(
                id="a-deal",
                opportunity_id="o-1",
                rep_id="rep-1",
                kind="call",
                status="done",
                done_at=t(2024, 12, 20),
            )
        )
        uow.activities.add(  # with the customer too: read once, by the customer's range read
            Activity(
                id="a-both",
                customer_id="c-1",
                opportunity_id="o-1",
                rep_id="rep-1",
                kind="meeting",
                status="done",
                done_at=t(2024, 12, 21),
            )
        )
        uow.commit()
    with uow:
        ids = [e.id for e in iter_timeline(uow, "c-1", kinds="activity")]
        pages = []
        cursor = None
        while True:
            page = customer_timeline(uow, "c-1", kinds=["activity"], limit=1, cursor=cursor)
            pages += [e.id for e in page.events]
            cursor = page.next_cursor
            if cursor is None:
                break
        r = long_term_report(uow, as_of=AS_OF, customer_ids=["c-1"], years=2)
    assert ids == pages == ["a-deal", "a-both"]
    assert str(r.indices.last_touch[0].astype("datetime64[D]")) == "2024-12-21"
