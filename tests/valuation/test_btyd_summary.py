"""Transaction summaries: hand-computed cases and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.tables import TransactionLog
from crmcore.valuation import summarize_arrays, summarize_transactions


def test_hand_computed_split_with_holdout() -> None:
    # a: Jan 1 (x2 same day: 10 + 5), Jan 8 (7), Jan 20 (holdout 4), Jan 25 (holdout 6)
    # b: Jan 5 (3) only; c: first purchase in the holdout -> not summarised
    s = summarize_arrays(
        ["a", "a", "a", "b", "a", "a", "c"],
        [
            "2024-01-01",
            "2024-01-01T15:00",
            "2024-01-08",
            "2024-01-05",
            "2024-01-20",
            "2024-01-25",
            "2024-01-21",
        ],
        [10.0, 5.0, 7.0, 3.0, 4.0, 6.0, 9.0],
        time_unit="D",
        calibration_end="2024-01-10",
        observation_end="2024-01-31",
    )
    assert s.customer_ids.tolist() == ["a", "b"]
    assert s.frequency.tolist() == [1.0, 0.0]
    assert s.recency.tolist() == [7.0, 0.0]
    assert s.T.tolist() == [9.0, 5.0]
    assert s.monetary_value.tolist() == [7.0, 0.0]
    assert s.holdout_frequency is not None and s.holdout_frequency.tolist() == [2.0, 0.0]
    assert s.holdout_monetary_value is not None and s.holdout_monetary_value.tolist() == [5.0, 0.0]
    assert s.holdout_duration == 21.0


def test_weekly_and_monthly_periods() -> None:
    ids = ["a"] * 4
    times = ["2024-01-01", "2024-01-03", "2024-02-15", "2024-03-31"]  # Mon, Wed same ISO week
    weekly = summarize_arrays(ids, times, [1.0, 2.0, 3.0, 4.0], period="W", time_unit="W")
    assert weekly.frequency.tolist() == [2.0]
    assert weekly.monetary_value.tolist() == [3.5]
    monthly = summarize_arrays(ids, times, [1.0, 2.0, 3.0, 4.0], period="M", time_unit="M")
    assert monthly.frequency.tolist() == [2.0] and monthly.recency.tolist() == [2.0]
    assert monthly.T.tolist() == [2.0]


def test_non_purchase_kinds_are_ignored() -> None:
    log = TransactionLog.from_arrays(
        customer_ids=["a", "a", "a"],
        timestamps=["2024-01-01", "2024-01-02", "2024-01-03"],
        amounts=[5.0, 5.0, 2.0],
        kinds=["purchase", "purchase", "refund"],
    )
    s = summarize_transactions(log)
    # the refund neither counts nor extends the window (observation end = last purchase)
    assert s.frequency.tolist() == [1.0] and s.T.tolist() == [1.0]


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValidationError, match="'time_unit'"):
        summarize_arrays(["a"], ["2024-01-01"], [1.0], time_unit="Y")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'calibration_end' must not be after"):
        summarize_arrays(
            ["a"], ["2024-01-01"], [1.0], calibration_end="2024-02-01", observation_end="2024-01-15"
        )


@settings(max_examples=30)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 60), st.floats(0, 100)), min_size=1, max_size=40
    ),
)
def test_invariants_and_row_order(rows: list[tuple[int, int, float]]) -> None:
    ids = np.array([r[0] for r in rows])
    days = np.datetime64("2024-01-01") + np.array([r[1] for r in rows]).astype("timedelta64[D]")
    amounts = np.array([r[2] for r in rows])
    s = summarize_arrays(ids, days, amounts, time_unit="D", observation_end="2024-03-31")
    distinct_days = {(i, d) for i, d, _ in rows}
    for k, cid in enumerate(s.customer_ids.tolist()):
        mine = sorted({d for i, d in distinct_days if i == cid})
        assert s.frequency[k] == len(mine) - 1
        assert s.recency[k] == mine[-1] - mine[0]
        assert (
            s.T[k]
            == (np.datetime64("2024-03-31") - np.datetime64("2024-01-01")).astype(int) - mine[0]
        )
    assert ((s.recency <= s.T) & (s.monetary_value >= 0)).all()
    order = np.random.default_rng(len(rows)).permutation(len(rows))
    s2 = summarize_arrays(
        ids[order], days[order], amounts[order], time_unit="D", observation_end="2024-03-31"
    )
    np.testing.assert_array_equal(s.frequency, s2.frequency)
    np.testing.assert_allclose(s.monetary_value, s2.monetary_value, rtol=1e-12)
