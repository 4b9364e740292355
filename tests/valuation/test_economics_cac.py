"""CAC, CLV:CAC and payback: hand-computed tables, a pandas cross-check, bad input, properties."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.model import CostEntry, Money
from crmcore.valuation import (
    SpendTable,
    acquisition_cost,
    cac_payback,
    clv_to_cac,
    retention_clv,
)


def _spend() -> SpendTable:
    return SpendTable.from_arrays(
        channel=["search", "social", "search", "social", "unattributed", "unattributed"],
        period=["2025-01", "2025-01", "2025-02", "2025-02", "2025-01", "2025-02"],
        amount=[1000.0, 500.0, 1200.0, 300.0, 600.0, 0.0],
    )


CUST_CH = ["search"] * 5 + ["social"] * 5 + ["search"] * 4 + ["social"] * 2 + ["referral"] * 2
CUST_PE = ["2025-01"] * 10 + ["2025-02"] * 6 + ["2025-01", "2025-02"]


def test_hand_computed_spread() -> None:
    """Jan: 11 customers (5 search, 5 social, 1 referral) share 600 of brand spend -> 600/11 each."""
    r = acquisition_cost(_spend(), CUST_CH, CUST_PE)
    cells = {
        (c, p): v for c, p, v in zip(r.cells.channel, r.cells.period, r.cells.cac, strict=True)
    }
    assert cells[("search", "2025-01")] == pytest.approx((1000 + 600 * 5 / 11) / 5)
    assert cells[("social", "2025-01")] == pytest.approx((500 + 600 * 5 / 11) / 5)
    assert cells[("referral", "2025-01")] == pytest.approx(600 / 11)
    assert cells[("referral", "2025-02")] == 0.0
    assert cells[("search", "2025-02")] == pytest.approx(300.0)
    by_ch = dict(zip(r.by_channel.channel, r.by_channel.cac, strict=True))
    assert by_ch["search"] == pytest.approx((2200 + 600 * 5 / 11) / 9)
    by_pe = dict(zip(r.by_period.period, r.by_period.cac, strict=True))
    assert by_pe["2025-01"] == pytest.approx(2100 / 11)
    assert by_pe["2025-02"] == pytest.approx(1500 / 7)
    assert r.blended == pytest.approx(3600 / 18)
    assert r.unattributed.tolist() == [600.0, 0.0]


def test_report_rule_keeps_shared_spend_out_of_channels() -> None:
    r = acquisition_cost(_spend(), CUST_CH, CUST_PE, unattributed="report")
    by_ch = dict(zip(r.by_channel.channel, r.by_channel.cac, strict=True))
    assert by_ch["search"] == pytest.approx(2200 / 9)
    assert by_ch["referral"] == 0.0
    spread = acquisition_cost(_spend(), CUST_CH, CUST_PE)
    # cohort and blended figures do not depend on the rule
    assert np.allclose(r.by_period.cac, spread.by_period.cac)
    assert r.blended == spread.blended


def test_matches_pandas_groupby() -> None:
    """An independent implementation of the 'report' rule with pandas."""
    rng = np.random.default_rng(4)
    ch = rng.choice(np.array(["a", "b", "c"]), 2000)
    pe = rng.integers(1, 7, 2000)
    spend = SpendTable.from_arrays(
        channel=np.repeat(["a", "b", "c"], 6),
        period=np.tile(np.arange(1, 7), 3),
        amount=rng.uniform(100, 1000, 18),
    )
    r = acquisition_cost(spend, ch, pe, unattributed="report")
    sp = pd.DataFrame({"c": spend.channel, "p": spend.period, "s": spend.amount})
    cu = pd.DataFrame({"c": ch, "p": pe})
    exp_ch = sp.groupby("c")["s"].sum() / cu.groupby("c").size()
    exp_pe = sp.groupby("p")["s"].sum() / cu.groupby("p").size()
    assert np.allclose(r.by_channel.cac, exp_ch.to_numpy())
    assert np.allclose(r.by_period.cac, exp_pe.to_numpy())
    cell = sp.groupby(["c", "p"])["s"].sum() / cu.groupby(["c", "p"]).size()
    assert np.allclose(r.cells.cac, cell.to_numpy())


def test_zero_customers_raise_or_flag() -> None:
    spend = SpendTable.from_arrays(channel=["tv", "web"], period=[1, 1], amount=[500.0, 100.0])
    with pytest.raises(ValidationError, match="channel 'tv' period 1: spend 500 but 0 customers"):
        acquisition_cost(spend, ["web"], [1])
    r = acquisition_cost(spend, ["web"], [1], zero_customers="flag")
    assert r.by_channel.defined.tolist() == [False, True]
    assert np.isnan(r.by_channel.cac[0]) and r.by_channel.cac[1] == 100.0
    with pytest.raises(ValidationError, match="CAC undefined"):
        acquisition_cost(spend, [], [])
    flagged = acquisition_cost(spend, [], [], zero_customers="flag")
    assert not flagged.blended_defined


def test_shared_spend_in_a_period_without_customers() -> None:
    spend = SpendTable.from_arrays(
        channel=["unattributed", "web"], period=[2, 1], amount=[50.0, 100.0]
    )
    with pytest.raises(ValidationError, match="period 2: shared spend 50"):
        acquisition_cost(spend, ["web"], [1])
    r = acquisition_cost(spend, ["web"], [1], zero_customers="flag")
    assert r.by_period.spend.tolist() == [100.0, 50.0]
    assert r.by_period.defined.tolist() == [True, False]


def test_bad_input() -> None:
    with pytest.raises(ValidationError, match="'amount' must be >= 0: -5.0 at index 0"):
        SpendTable.from_arrays(channel=["tv"], period=[1], amount=[-5])
    with pytest.raises(ValidationError, match="same length"):
        SpendTable.from_arrays(channel=["tv"], period=[1, 2], amount=[5])
    spend = SpendTable.from_arrays(channel=["tv"], period=[1], amount=[5])
    with pytest.raises(
        ValidationError, match="same length: customer_channels has 1, customer_periods has 2"
    ):
        acquisition_cost(spend, ["tv"], [1, 1])
    with pytest.raises(ValidationError, match="shared label"):
        acquisition_cost(spend, ["unattributed"], [1])
    with pytest.raises(ValidationError, match="'unattributed' must be"):
        acquisition_cost(spend, ["tv"], [1], unattributed="ignore")


def test_spend_from_cost_entries() -> None:
    def entry(i: int, month: int, amount: str, channel: str | None, category: str) -> CostEntry:
        return CostEntry(
            id=f"k{i}",
            customer_id="c",
            incurred_at=datetime(2025, month, 3, tzinfo=UTC),
            amount=Money(amount, "EUR"),
            category=category,
            channel=channel,
        )

    entries = [
        entry(1, 1, "100", "web", "marketing"),
        entry(2, 1, "40", None, "acquisition"),
        entry(3, 2, "999", "web", "service"),  # not acquisition spend
    ]
    t = SpendTable.from_cost_entries(entries)
    assert t.channel.tolist() == ["web", "unattributed"]
    assert t.amount.tolist() == [100.0, 40.0]
    usd = CostEntry(
        id="k9",
        customer_id="c",
        incurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        amount=Money("1", "USD"),
        category="marketing",
    )
    with pytest.raises(ValidationError, match="one currency"):
        SpendTable.from_cost_entries([*entries, usd])


def test_clv_to_cac_flags() -> None:
    spend = SpendTable.from_arrays(channel=["ads", "mail"], period=[1, 1], amount=[300.0, 100.0])
    cac = acquisition_cost(spend, ["ads", "ads", "mail", "organic"], [1, 1, 1, 1])
    r = clv_to_cac(cac, [100.0, 180.0, 400.0, 50.0])
    by = dict(zip(r.by_channel.channel, r.by_channel.ratio, strict=True))
    assert by["ads"] == pytest.approx(140 / 150)
    assert by["mail"] == pytest.approx(4.0)
    assert np.isnan(by["organic"])  # CAC 0: no ratio ...
    assert r.by_channel.ratio_defined.tolist() == [True, True, False]  # ... and said so
    assert r.flagged_channels == ["ads"]
    assert r.customer_flag.tolist() == [True, False, False, False]
    assert r.customer_cac.tolist() == [150.0, 150.0, 100.0, 0.0]
    assert r.blended_ratio == pytest.approx(182.5 / 100)
    with pytest.raises(ValidationError, match="one value per acquired customer"):
        clv_to_cac(cac, [1.0])


def _brute_payback(cac: float, m: float, r: float, d: float) -> float:
    """Month by month; linear interpolation inside the month where CAC is reached."""
    total, t = 0.0, 0
    while t < 10_000:
        t += 1
        step = m * (r / (1 + d)) ** t
        if total + step >= cac:
            return t - 1 + (cac - total) / step
        total += step
    return float("inf")


def test_payback_against_month_by_month_sum() -> None:
    assert cac_payback(300.0, 50.0).months[0] == 6.0
    p = cac_payback(300.0, 50.0, retention=0.9)
    exact = float(p.months[0])
    assert int(np.ceil(exact)) == int(np.ceil(_brute_payback(300, 50, 0.9, 0.0)))
    # cumulative expected margin at the fractional payback month equals CAC
    q = 0.9
    assert 50 * q * (1 - q**exact) / (1 - q) == pytest.approx(300.0)
    never = cac_payback(300.0, 50.0, retention=0.8)
    assert not never.recovered[0] and never.whole_months[0] == -1
    # never recovered exactly when CAC >= the infinite-horizon CLV
    assert retention_clv(50.0, 0.8, 0.0) <= 300.0
    with pytest.raises(ValidationError, match="'cac' must be >= 0"):
        cac_payback(-1.0, 50.0)
    with pytest.raises(ValidationError, match="'retention' must be in"):
        cac_payback(1.0, 50.0, retention=1.5)


@settings(max_examples=60)
@given(
    st.floats(0, 5000),
    st.floats(1, 500),
    st.floats(0.5, 1.0),
    st.floats(0, 0.05),
)
def test_payback_properties(cac: float, m: float, r: float, d: float) -> None:
    p = cac_payback(cac, m, retention=r, discount=d)
    brute = _brute_payback(cac, m, r, d)
    if p.recovered[0]:
        assert (
            int(np.ceil(p.months[0] - 1e-9)) == int(np.ceil(brute - 1e-9))
            or abs(p.months[0] - brute) < 1.0
        )
        assert p.whole_months[0] >= 0
    else:
        q = r / (1 + d)
        assert q < 1 and m * q / (1 - q) <= cac * (1 + 1e-9)


@settings(max_examples=40)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 4)), min_size=1, max_size=60
    ),
    st.lists(st.floats(0, 1000), min_size=12, max_size=12),
    st.lists(st.floats(0, 500), min_size=4, max_size=4),
)
def test_spread_conserves_spend(
    customers: list[tuple[str, int]], direct: list[float], shared: list[float]
) -> None:
    spend = SpendTable.from_arrays(
        channel=[*np.repeat(["a", "b", "c"], 4), *["unattributed"] * 4],
        period=[*np.tile([1, 2, 3, 4], 3), 1, 2, 3, 4],
        amount=[*direct, *shared],
    )
    ch = [c for c, _ in customers]
    pe = [p for _, p in customers]
    r = acquisition_cost(spend, ch, pe, zero_customers="flag")
    assert r.cells.spend.sum() + r.unattributed[~(r.by_period.customers > 0)].sum() == (
        pytest.approx(sum(direct) + sum(shared))
    )
    assert r.by_period.spend.sum() == pytest.approx(sum(direct) + sum(shared))
    assert r.cells.customers.sum() == len(customers) == r.total_customers
    assert np.all(r.cells.cac[r.cells.defined] >= 0)
    assert np.all(np.isnan(r.cells.cac[~r.cells.defined]))


def test_cac_per_campaign() -> None:
    spend = SpendTable.from_arrays(
        channel=["web", "web", "mail"],
        period=[1, 1, 1],
        amount=[100.0, 300.0, 50.0],
        campaign=["spring", "summer", "letters"],
    )
    r = acquisition_cost(spend.by_campaign(), ["spring", "summer", "summer", "letters"], [1] * 4)
    assert dict(zip(r.by_channel.channel, r.by_channel.cac, strict=True)) == {
        "letters": 50.0,
        "spring": 100.0,
        "summer": 150.0,
    }


def test_label_kinds() -> None:
    spend = SpendTable.from_arrays(channel=["a", "b"], period=[1, 1], amount=[10.0, 20.0])
    obj = np.array(["a", "b", "b"], dtype=object)  # e.g. a pandas object column
    assert acquisition_cost(spend, obj, [1, 1, 1]).by_channel.cac.tolist() == [10.0, 10.0]
    months = np.array(["2025-01"], dtype="datetime64[M]")
    with pytest.raises(ValidationError, match="must be labels of one kind"):
        acquisition_cost(spend, ["a"], months)
