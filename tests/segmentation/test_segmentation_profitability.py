"""Cost to serve, profit, the whale curve and quantile tables: hand-computed and plain-Python checks."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.model import CostEntry, Money
from crmcore.segmentation import (
    CostRates,
    activity_costs,
    cost_entries_to_arrays,
    customer_index,
    customer_profitability,
    entry_costs,
    profit_quantile_table,
    whale_curve,
)

RATES = CostRates({"call_center": 4.0, "visit": 80.0, "web": 0.1, "service_case": 25.0})


def test_activity_costs_golden():
    b = activity_costs(
        [0, 0, 1, 1, 2],
        ["web", "call_center", "visit", "call_center", "service_case"],
        rates=RATES,
        n_customers=4,
        quantity=[10, 1, 1, 2, 1],
    )
    assert b.total().tolist() == [5.0, 88.0, 25.0, 0.0]
    assert b.by_category() == {"call_center": 12.0, "service_case": 25.0, "visit": 80.0, "web": 1.0}


def test_unknown_activity_and_bad_rates():
    with pytest.raises(ValidationError, match="'pigeon'"):
        activity_costs([0], ["pigeon"], rates=RATES, n_customers=1)
    with pytest.raises(ValidationError, match="rates"):
        CostRates({"call": -1.0})
    with pytest.raises(ValidationError, match="index into 'n_customers' \\(2\\)"):
        activity_costs([2], ["web"], rates=RATES, n_customers=2)
    with pytest.raises(ValidationError, match="quantity"):
        activity_costs([0], ["web"], rates=RATES, n_customers=1, quantity=[-1])


@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(sorted(RATES.rates)), st.integers(0, 9)),
        max_size=40,
    )
)
def test_activity_costs_equal_plain_loop(rows):
    expected: dict[int, float] = defaultdict(float)
    for c, a, q in rows:
        expected[c] += RATES.rates[a] * q
    b = activity_costs(
        [r[0] for r in rows],
        [r[1] for r in rows],
        rates=RATES,
        n_customers=6,
        quantity=[r[2] for r in rows],
    )
    np.testing.assert_allclose(b.total(), [expected[i] for i in range(6)])


def test_cost_entries_from_records():
    t = datetime(2025, 1, 1, tzinfo=UTC)
    entries = [
        CostEntry(
            id="k1",
            customer_id="c-2",
            incurred_at=t,
            amount=Money("10", "EUR"),
            category="discount",
        ),
        CostEntry(
            id="k2",
            customer_id="c-1",
            incurred_at=t,
            amount=Money("40", "EUR"),
            category="bad_debt",
        ),
        CostEntry(
            id="k3", customer_id="c-2", incurred_at=t, amount=Money("2.5", "EUR"), category="return"
        ),
    ]
    cust, cat, amt = cost_entries_to_arrays(entries, ["c-1", "c-2"])
    b = entry_costs(cust, cat, amt, n_customers=2)
    assert b.total().tolist() == [40.0, 12.5]
    assert b.column("return").tolist() == [0.0, 2.5]
    merged = b.merge(activity_costs([1], ["visit"], rates=RATES, n_customers=2))
    assert merged.total().tolist() == [40.0, 92.5]
    with pytest.raises(ValidationError, match="not among the .customer_ids."):
        customer_index(["c-9"], ["c-1"])


def test_profit_and_bad_inputs():
    p = customer_profitability([100.0, 20.0], [60.0, 12.0], [5.0, 30.0])
    assert p.profit.tolist() == [35.0, -22.0]
    assert p.cost.tolist() == [65.0, 42.0]
    with pytest.raises(ValidationError, match="'revenue' must be >= 0"):
        customer_profitability([-1.0], [0.0], [0.0])
    with pytest.raises(ValidationError, match="NaN"):
        customer_profitability([float("nan")], [0.0], [0.0])


def test_whale_curve_golden():
    """Profits 60, 50, 10, 0, -20 (total 100): the hump is 120 after 3 customers."""
    w = whale_curve([10.0, -20.0, 60.0, 0.0, 50.0])
    assert (w.n, w.peak_customers, w.loss_customers) == (5, 3, 1)
    assert w.peak_share == pytest.approx(1.2)
    assert w.erosion == pytest.approx(0.2)
    assert w.loss == -20.0
    assert w.peak_fraction == pytest.approx(0.6)
    no_loss = whale_curve([5.0, 5.0])
    assert (no_loss.peak_share, no_loss.erosion) == (1.0, 0.0)
    with pytest.raises(ValidationError, match="> 0"):
        whale_curve([-5.0, 1.0])


@given(st.lists(st.floats(-1e3, 1e4), min_size=1, max_size=60).filter(lambda v: sum(v) > 1))
def test_whale_curve_peak_is_max_of_cumsum(v):
    w = whale_curve(v)
    d = np.cumsum(sorted(v, reverse=True))
    assert w.peak_profit == pytest.approx(d.max(), rel=1e-9, abs=1e-6)
    assert w.peak_share >= 1.0 - 1e-12


def test_quantile_table_seeds_bank():
    """The seeds' bank pattern on a constructed base: top 20% revenue = 6x cost, bottom 20% cost = 3.5x revenue."""
    revenue = [600.0, 600.0, 200, 200, 150, 150, 100, 100, 20.0, 20.0]
    cost = [100.0, 100.0, 100, 100, 100, 100, 100, 100, 70.0, 70.0]
    rows = profit_quantile_table(revenue, cost, groups=5)
    assert [r.customers for r in rows] == [2] * 5
    assert rows[0].revenue_to_cost == pytest.approx(6.0)
    assert rows[-1].cost_to_revenue == pytest.approx(3.5)
    assert sum(r.profit for r in rows) == pytest.approx(sum(revenue) - sum(cost))


def test_quantile_table_sizes_ties_and_errors():
    rows = profit_quantile_table([1.0] * 7, [0.0] * 7, groups=3)
    assert [r.customers for r in rows] == [3, 2, 2]
    assert rows[0].revenue_to_cost is None  # no cost
    rows = profit_quantile_table(
        [5.0, 1.0, 9.0], [0.0, 0.0, 0.0], groups=3, rank_by=[0.0, 2.0, 1.0]
    )
    assert [r.revenue for r in rows] == [1.0, 9.0, 5.0]
    with pytest.raises(ValidationError, match="at least 5"):
        profit_quantile_table([1.0], [1.0])
    with pytest.raises(ValidationError, match="'groups'"):
        profit_quantile_table([1.0], [1.0], groups=0)
