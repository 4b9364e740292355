"""Rate tables and the one-currency rule of the array world."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.model import Money
from crmcore.pipeline.currency import Rate, RateTable, one_currency
from crmcore.serialization import from_json, to_json

RATES = RateTable.from_rows(
    "EUR",
    [
        ("JPY", "2025-01-01", "0.0061"),
        ("JPY", "2025-02-01", "0.0064"),
        ("USD", "2024-12-01", "0.95"),
        ("USD", "2025-03-01", "0.92"),
    ],
)


def test_rates_are_looked_up_by_validity_date() -> None:
    assert RATES.rate("jpy", date(2025, 1, 1)) == Decimal("0.0061")
    assert RATES.rate("JPY", date(2025, 1, 31)) == Decimal("0.0061")
    assert RATES.rate("JPY", date(2025, 2, 1)) == Decimal("0.0064")
    assert RATES.rate("EUR", date(1990, 1, 1)) == 1
    with pytest.raises(ValidationError, match="no rate of JPY into EUR on 2024-12-31"):
        RATES.rate("JPY", date(2024, 12, 31))
    with pytest.raises(
        ValidationError,
        match=r"no rate of GBP into EUR: the table has rates of \['EUR', 'JPY', 'USD'\]",
    ):
        RATES.rate("GBP", date(2025, 1, 1))
    # cross rates go through the base, exact in Decimal
    assert RATES.convert(Money("1000000", "JPY"), date(2025, 3, 5), to="USD") == Money(
        "6956.52", "USD"
    )


def test_rate_table_rules() -> None:
    with pytest.raises(ValidationError, match="'rate' must be a Decimal, int or numeric string"):
        Rate("USD", "2025-01-01", 0.95)
    with pytest.raises(ValidationError, match="'rate' must be a finite number: 'abc'"):
        Rate("USD", "2025-01-01", "abc")
    with pytest.raises(ValidationError, match="'valid_from' must be a date"):
        Rate("USD", "2025-01-01T10:00", "1")
    with pytest.raises(ValidationError, match="'currency' must be an ISO 4217 code"):
        Rate("XXX", "2025-01-01", "1")
    with pytest.raises(ValidationError, match="base currency EUR: it is always 1"):
        RateTable.from_rows("EUR", [("EUR", "2025-01-01", "1")])
    assert from_json(RateTable, to_json(RATES)) == RATES


def test_thousand_euros_and_a_million_yen_are_not_1001000() -> None:
    amounts = np.array([1000.0, 1_000_000.0, np.nan])
    codes = np.array([0, 1, -1])
    days = np.array(["2025-02-10"] * 3, dtype="M8[D]")
    with pytest.raises(ValidationError, match=r"2 currencies \(EUR, JPY\)"):
        one_currency(amounts, codes, ["EUR", "JPY"], days)
    out, cur = one_currency(amounts, codes, ["EUR", "JPY"], days, rates=RATES)
    assert cur == "EUR" and out[:2].tolist() == [1000.0, 6400.0] and np.isnan(out[2])
    out, cur = one_currency(amounts, codes, ["EUR", "JPY"], days, rates=RATES, currency="JPY")
    assert cur == "JPY" and out[:2].tolist() == pytest.approx([156250.0, 1_000_000.0])
    # one currency needs no rates; asking for another one does
    assert one_currency(amounts[:1], codes[:1], ["EUR"], days[:1])[1] == "EUR"
    with pytest.raises(ValidationError, match="not in the report's currency USD"):
        one_currency(amounts[:1], codes[:1], ["EUR"], days[:1], currency="USD")
    # amounts without a currency beside amounts with one cannot be placed
    with pytest.raises(
        ValidationError, match="1 amount\\(s\\) without a currency beside amounts in EUR"
    ):
        one_currency(np.array([1.0, 2.0]), np.array([0, -1]), ["EUR"], days[:2])
    # a table without currencies at all (built from bare numbers): currency unknown
    assert one_currency(np.array([1.0]), np.array([-1]), [], days[:1])[1] is None


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["EUR", "JPY", "USD"]), st.integers(0, 120), st.integers(0, 10**7)
        ),
        min_size=1,
        max_size=30,
    )
)
def test_vectorised_conversion_equals_decimal_conversion(rows: list[tuple[str, int, int]]) -> None:
    labels = ["EUR", "JPY", "USD"]
    days = np.datetime64("2025-01-01") + np.array([r[1] for r in rows]).astype("m8[D]")
    amounts = np.array([float(r[2]) for r in rows])
    codes = np.array([labels.index(r[0]) for r in rows])
    out, cur = one_currency(amounts, codes, labels, days, rates=RATES, currency="USD")
    assert cur == "USD"
    for (c, d, a), got in zip(rows, out, strict=True):
        on = date(2025, 1, 1) + (np.timedelta64(d, "D")).astype(object)
        want = Money(a, c).amount * RATES.rate(c, on) / RATES.rate("USD", on)
        assert got == pytest.approx(float(want), rel=1e-12)


def test_stage_history_carries_each_amounts_currency() -> None:
    from datetime import UTC, datetime

    from crmcore.model import StageChange
    from crmcore.tables import StageHistory

    t = datetime(2025, 2, 1, tzinfo=UTC)
    ev = [
        StageChange(
            opportunity_id="e",
            sequence=0,
            from_stage=None,
            to_stage="lead",
            at=t,
            by="ann",
            amount=Money("1000", "EUR"),
        ),
        StageChange(
            opportunity_id="j",
            sequence=0,
            from_stage=None,
            to_stage="lead",
            at=t,
            by="ann",
            amount=Money("1000000", "JPY"),
        ),
        StageChange(
            opportunity_id="n", sequence=0, from_stage=None, to_stage="lead", at=t, by="ann"
        ),
    ]
    h = StageHistory.from_events(ev).sorted()
    assert h.currency_labels.tolist() == ["EUR", "JPY"]  # type: ignore[union-attr]
    assert h.currency.tolist() == [0, 1, -1]  # type: ignore[union-attr]
    one = StageHistory.from_arrays(
        opportunity_ids=["a"],
        sequence=[0],
        from_stage=[None],
        to_stage=["lead"],
        at=["2025-01-01"],
        amount=[5.0],
        currencies="USD",
    )
    assert one.currency_labels.tolist() == ["USD"]  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="'currencies' must hold ISO 4217 codes: 'XYZ'"):
        StageHistory.from_arrays(
            opportunity_ids=["a"],
            sequence=[0],
            from_stage=[None],
            to_stage=["lead"],
            at=["2025-01-01"],
            currencies=["XYZ"],
        )


@pytest.fixture(params=["memory", "sqlite"])
def uow(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork

    if request.param == "memory":
        return MemoryUnitOfWork()
    return SqlUnitOfWork.from_url(tmp_path / "crm.db")


def test_stored_deals_in_two_currencies_are_refused_or_converted(uow) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from crmcore.pipeline import (
        TOP_IN_BEST,
        FunnelHistory,
        advance,
        create_opportunity,
        weighted_pipeline,
    )

    t = datetime(2025, 1, 20, tzinfo=UTC)
    with uow:
        create_opportunity(
            uow,
            TOP_IN_BEST,
            id="eur",
            customer_id="c",
            owner_id="ann",
            at=t,
            amount=Money("1000", "EUR"),
        )
        create_opportunity(
            uow,
            TOP_IN_BEST,
            id="jpy",
            customer_id="c",
            owner_id="bob",
            at=t,
            amount=Money("1000000", "JPY"),
        )
        advance(
            uow,
            "jpy",
            "IN",
            expected_version=0,
            funnel=TOP_IN_BEST,
            by="bob",
            at=t + timedelta(days=15),
        )
        uow.commit()
    with uow:
        h = uow.opportunities.read_history(funnel="top-in-best")
    with pytest.raises(ValidationError, match=r"2 currencies \(EUR, JPY\)"):
        FunnelHistory.build(h, TOP_IN_BEST)
    as_of = datetime(2025, 3, 1, tzinfo=UTC)
    fh = FunnelHistory.build(h, TOP_IN_BEST, as_of=as_of, rates=RATES)
    assert fh.currency == "EUR"
    # open deals are valued at as_of's rate (0.0064 from 1 February), events at their day's
    assert sorted(fh.amount.tolist()) == [1000.0, 6400.0]
    assert sorted(fh.ev_amount.tolist()) == [1000.0, 6100.0, 6400.0]
    assert weighted_pipeline(fh).open_total == 7400.0
    in_yen = FunnelHistory.build(h, TOP_IN_BEST, as_of=as_of, rates=RATES, currency="JPY")
    assert in_yen.currency == "JPY"
    assert sorted(in_yen.amount.tolist()) == pytest.approx([156250.0, 1_000_000.0])
    with pytest.raises(ValidationError, match=r"2 currencies \(EUR, JPY\)"):
        FunnelHistory.build(h, TOP_IN_BEST, currency="EUR")


def test_every_money_report_says_its_currency(uow) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from crmcore.pipeline import (
        TOP_IN_BEST,
        Period,
        Plan,
        Targets,
        actuals,
        advance,
        breakdown,
        create_opportunity,
        forecast,
        load_history,
        lost_reasons,
        next_period_forecast,
        pipeline_coverage,
        plan_vs_actual,
        sales_velocity,
        scorecards,
        weighted_pipeline,
        who_sells_what,
        win_rate,
    )

    t = datetime(2025, 1, 20, tzinfo=UTC)
    with uow:
        for oid, money in (("eur", Money("1000", "EUR")), ("jpy", Money("1000000", "JPY"))):
            create_opportunity(
                uow, TOP_IN_BEST, id=oid, customer_id="c", owner_id="ann", at=t, amount=money
            )
        for i, to in enumerate(("IN", "BEST", "WIN")):
            advance(
                uow,
                "eur",
                to,
                expected_version=i,
                funnel=TOP_IN_BEST,
                by="ann",
                at=t + timedelta(days=5 * (i + 1)),
            )
        uow.commit()
    as_of = datetime(2025, 3, 1, tzinfo=UTC)
    with uow:
        with pytest.raises(ValidationError, match=r"2 currencies \(EUR, JPY\)"):
            load_history(uow, TOP_IN_BEST, as_of=as_of)
        fh = load_history(uow, TOP_IN_BEST, as_of=as_of, rates=RATES, currency="USD")
    assert fh.currency == "USD"
    reports = [
        win_rate(fh),
        sales_velocity(fh),
        weighted_pipeline(fh),
        breakdown(fh),
        who_sells_what(fh),
        lost_reasons(fh),
        forecast(fh, months=1),
        pipeline_coverage(fh, target=10_000.0),
        scorecards(Period.month(datetime(2025, 2, 1).date()), history=fh),
        # the plans' reports too (issue 14 leftovers)
        actuals(Period.month(datetime(2025, 2, 1).date()), history=fh),
        plan_vs_actual(
            [Plan("ann", Period.month(datetime(2025, 2, 1).date()), Targets(revenue=5000.0))],
            history=fh,
        ),
        next_period_forecast(fh, period=Period.month(datetime(2025, 3, 1).date())),
    ]
    assert {r.currency for r in reports} == {"USD"}
    # the won EUR deal at its win date's rates (4 Feb: USD 0.95 in EUR); the open JPY deal at
    # as_of's (1 March: JPY 0.0064, USD 0.92)
    assert win_rate(fh).won_value == pytest.approx(1000 / 0.95)
    assert weighted_pipeline(fh).open_total == pytest.approx(1_000_000 * 0.0064 / 0.92)
