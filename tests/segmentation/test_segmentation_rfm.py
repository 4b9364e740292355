"""RFM scores and segments: hand-computed cases, a plain-Python scorer, pandas cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.datasets import load_cdnow_sample
from crmcore.errors import ConfigurationError, ValidationError
from crmcore.segmentation import (
    DEFAULT_SEGMENTS,
    SegmentMap,
    SegmentRule,
    quantile_scores,
    rfm_from_log,
    rfm_scores,
    rfm_summary,
)
from crmcore.tables import TransactionLog


def plain_scores(values: list[float], q: int, reverse: bool = False) -> list[int]:
    """Independent scorer: count the values strictly below (or above) each value."""
    n = len(values)
    out = []
    for v in values:
        worse = sum(1 for w in values if (w > v if reverse else w < v))
        out.append(1 + (q * worse) // n)
    return out


def test_golden_scores():
    assert quantile_scores([10, 20, 30, 40, 50]).tolist() == [1, 2, 3, 4, 5]
    # recency reversed: 10 days ago is the best
    assert quantile_scores([50, 40, 30, 20, 10], reverse=True).tolist() == [1, 2, 3, 4, 5]
    # ties share the score of their first occurrence: 1 1 1 | 2 (3 below → 1+⌊15/5⌋=4) | 5
    assert quantile_scores([1, 1, 1, 2, 5]).tolist() == [1, 1, 1, 4, 5]
    assert quantile_scores([7, 7, 7]).tolist() == [1, 1, 1]
    assert quantile_scores([7, 7, 7], reverse=True).tolist() == [1, 1, 1]
    assert quantile_scores([], bins=4).tolist() == []
    assert quantile_scores(list(range(10)), bins=10).tolist() == list(range(1, 11))


def test_any_number_of_bins_and_bad_bins():
    assert quantile_scores([1, 2, 3, 4], bins=2).tolist() == [1, 1, 2, 2]
    for bad in (1, 0, 2.5, True, 101):
        with pytest.raises(ValidationError, match="'bins'"):
            quantile_scores([1.0], bins=bad)


@given(
    st.lists(st.integers(0, 20).map(float), min_size=1, max_size=40),
    st.integers(2, 9),
    st.booleans(),
)
def test_scores_equal_plain_python(values, q, reverse):
    got = quantile_scores(values, q, reverse=reverse).tolist()
    assert got == plain_scores(values, q, reverse)
    assert all(1 <= s <= q for s in got)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.integers(2, 10))
def test_scores_monotone_in_value(values, q):
    s = quantile_scores(values, q)
    r = quantile_scores(values, q, reverse=True)
    order = np.argsort(values, kind="stable")
    assert (np.diff(s[order]) >= 0).all()
    assert (np.diff(r[order]) <= 0).all()


def test_nan_policy_rows_unscored():
    # propagate: the NaN customer is unscored (0); omit: only the kept customers' scores
    s = rfm_scores([1, math.nan, 3], [1, 2, 3], [5, 6, 7], bins=2, nan_policy="propagate")
    assert s.recency.tolist() == [2, 0, 1]
    assert s.frequency.tolist() == [1, 0, 2]
    assert s.segments(SegmentMap((SegmentRule("x"),))).labels().tolist() == [
        "x",
        "unscored",
        "x",
    ]
    assert rfm_scores(
        [1, math.nan, 3], [1, 2, 3], [5, 6, 7], bins=2, nan_policy="omit"
    ).recency.tolist() == [2, 1]
    with pytest.raises(ValidationError, match="NaN"):
        rfm_scores([1, math.nan], [1, 2], [1, 2])
    with pytest.raises(ValidationError, match="'frequency' must be >= 0"):
        rfm_scores([1], [-1], [1])
    with pytest.raises(ValidationError, match="same length"):
        rfm_scores([1, 2], [1], [1, 2])


def test_default_map_covers_every_rf_cell():
    table, names = DEFAULT_SEGMENTS.lookup(5)
    used = {names[table[r, f, m]] for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)}
    assert "other" not in used
    assert {"champions", "loyal", "at risk", "hibernating", "lost", "can't lose", "new"} <= used
    assert names[table[5, 5, 1]] == "champions"
    assert names[table[1, 5, 5]] == "can't lose"
    assert names[table[5, 1, 1]] == "new"
    with pytest.raises(ConfigurationError, match="5 bins"):
        DEFAULT_SEGMENTS.lookup(3)


def test_custom_map_first_rule_wins_and_uses_monetary():
    m = SegmentMap(
        (
            SegmentRule("big spender", monetary=(3, 3)),
            SegmentRule("recent", recency=(3, 3)),
        ),
        default="rest",
    )
    s = rfm_scores([1, 2, 30], [1, 1, 1], [500, 20, 10], bins=3)
    assert s.segments(m).labels().tolist() == ["big spender", "rest", "rest"]
    with pytest.raises(ConfigurationError, match="range"):
        SegmentRule("bad", recency=(3, 2))


def test_summary_from_log_golden():
    log = TransactionLog.from_arrays(
        customer_ids=["a", "a", "b", "c", "a", "b"],
        timestamps=[
            "1998-06-01",
            "1998-06-21",
            "1998-06-30",
            "1998-07-05",  # after as-of: c is not yet a customer
            "1998-06-10",
            "1998-06-30",
        ],
        amounts=[10.0, 30.0, 5.0, 99.0, 20.0, 4.0],
        kinds=["purchase", "purchase", "purchase", "purchase", "refund", "purchase"],
    )
    r = rfm_summary(log, "1998-06-30")
    assert r.customer_ids.tolist() == ["a", "b"]
    assert r.recency.tolist() == [9.0, 0.0]
    assert r.frequency.tolist() == [2, 2]
    assert r.monetary.tolist() == [20.0, 9.0]  # a's refund of 20 is netted
    assert rfm_summary(log, "1998-06-30", monetary="mean").monetary.tolist() == [10.0, 4.5]
    with pytest.raises(ValidationError, match="'monetary'"):
        rfm_summary(log, "1998-06-30", monetary="median")


def test_summary_matches_pandas_groupby_on_cdnow():
    """Cross-check against an independent pandas groupby on the CDNOW sample."""
    log = load_cdnow_sample()
    summary, scores = rfm_from_log(log, "1998-06-30")
    df = pd.DataFrame({"c": log.row_customer_ids, "t": log.time, "amount": log.amount})
    g = df.groupby("c").agg(last=("t", "max"), n=("t", "size"), m=("amount", "sum"))
    g = g.loc[summary.customer_ids]
    rec = (pd.Timestamp("1998-06-30") - g["last"]).dt.days.to_numpy()
    np.testing.assert_array_equal(summary.recency, rec)
    np.testing.assert_array_equal(summary.frequency, g["n"].to_numpy())
    np.testing.assert_allclose(summary.monetary, g["m"].to_numpy())
    # scores equal the plain scorer on the same values
    assert scores.frequency.tolist() == plain_scores(summary.frequency.tolist(), 5)
    assert scores.recency.tolist()[:200] == plain_scores(summary.recency.tolist(), 5, True)[:200]
    counts = scores.segments().counts()
    assert sum(counts.values()) == 2357
    assert "other" not in counts
