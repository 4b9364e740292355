"""score_customers: ids aligned with the summary, numbers against lifetimes 0.11.3 (an
independent implementation) and the model's own public predictions for the same customer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.datasets import load_cdnow_sample
from crmcore.durations import Duration
from crmcore.errors import ValidationError
from crmcore.valuation import (
    BGNBDModel,
    BGNBDParams,
    GammaGammaModel,
    GammaGammaParams,
    ParetoNBDModel,
    ParetoNBDParams,
    RFMSummary,
    customer_lifetime_value,
    score_customers,
    summarize_arrays,
    summarize_transactions,
)

BG = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426), time_unit="W")
PNBD = ParetoNBDModel(ParetoNBDParams(0.553, 10.578, 0.606, 11.668), time_unit="W")
GG = GammaGammaModel(GammaGammaParams(6.25, 3.74, 15.44))


@pytest.fixture(scope="module")
def summary() -> RFMSummary:
    return summarize_transactions(load_cdnow_sample(), time_unit="W", calibration_end="1997-09-30")


def test_numbers_match_lifetimes(summary: RFMSummary) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    bg = lifetimes.BetaGeoFitter()
    p = BG.params
    bg.params_ = __import__("pandas").Series({"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b})
    got = score_customers(BG, summary, horizon=26)
    x, tx, T = summary.frequency, summary.recency, summary.T
    np.testing.assert_allclose(got.p_alive, bg.conditional_probability_alive(x, tx, T), rtol=1e-9)
    np.testing.assert_allclose(
        got.expected_purchases,
        bg.conditional_expected_number_of_purchases_up_to_time(26, x, tx, T),
        rtol=1e-9,
    )
    assert got.clv is None
    assert got.horizon == 26.0 and got.time_unit == "W"


@settings(max_examples=10)
@given(
    order=st.permutations(list(range(6))),
    horizon=st.floats(0.5, 100.0),
)
def test_each_row_is_the_customer_it_names(order: list[int], horizon: float) -> None:
    ids = ["z-9", "a-1", "m-5", "17", "b-2", "q"]  # as the caller gave them (not codes)
    days = [0, 3, 40, 41, 90, 200]
    cust = [ids[i % len(ids)] for i in order for _ in range(2)]
    stamps = [np.datetime64("2024-01-01") + days[(i + k) % 6] for i in order for k in range(2)]
    s = summarize_arrays(
        np.array(cust, dtype=object), stamps, [10.0] * len(cust), time_unit="W",
        observation_end="2024-12-31",
    )  # fmt: skip
    got = score_customers(PNBD, s, horizon=horizon, spend_model=GG, margin=0.3)
    frame = got.to_pandas()
    assert frame["customer_id"].tolist() == s.customer_ids.tolist()
    for i, cid in enumerate(s.customer_ids.tolist()):
        one = [s.frequency[i]], [s.recency[i]], [s.T[i]]
        assert got.p_alive[i] == pytest.approx(PNBD.probability_alive(*one)[0], rel=1e-12)
        assert got.expected_purchases[i] == pytest.approx(
            PNBD.conditional_expected_purchases(horizon, *one)[0], rel=1e-12
        )
        clv = customer_lifetime_value(PNBD, GG, *one, [s.monetary_value[i]], margin=0.3)
        assert got.clv is not None and got.clv[i] == pytest.approx(clv[0], rel=1e-12), cid


def test_a_calendar_horizon_is_converted_to_the_model_unit(summary: RFMSummary) -> None:
    weeks = score_customers(BG, summary, horizon=2)
    span = score_customers(BG, summary, horizon=Duration(14, "D"))
    np.testing.assert_allclose(span.expected_purchases, weeks.expected_purchases, rtol=1e-12)
    assert span.horizon == pytest.approx(2.0)


def test_frames_and_html(summary: RFMSummary) -> None:
    got = score_customers(BG, summary, horizon=52, spend_model=GG)
    table = got.to_arrow()
    assert table.column_names == ["customer_id", "p_alive", "expected_purchases", "clv"]
    assert table.schema.metadata[b"time_unit"] == b"W"
    assert got.to_polars().height == len(summary)
    assert "<b>CustomerScores</b>" in got._repr_html_()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizon": -1}, "'horizon' must be"),
        ({"horizon": [1, 2]}, "'horizon'"),
        ({"horizon": 4, "spend_model": BG}, "'spend_model' must be a GammaGammaModel"),
        ({"horizon": 4, "spend_model": GG, "discount_rate": -2}, "'discount_rate'"),
    ],
)
def test_bad_options_are_named(summary: RFMSummary, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        score_customers(BG, summary, **kwargs)  # type: ignore[arg-type]


def test_a_summary_in_another_unit_is_refused() -> None:
    daily = summarize_transactions(load_cdnow_sample(), time_unit="D")
    with pytest.raises(ValidationError, match="unit"):
        score_customers(BG, daily, horizon=4)
    with pytest.raises(ValidationError, match="'model' must be a fitted purchase model"):
        score_customers(GG, daily, horizon=4)  # type: ignore[arg-type]
