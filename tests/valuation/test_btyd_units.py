"""Units end to end (issue 13): summaries, fitted models and their JSON carry the time unit;
horizons are numbers in the model's unit or calendar spans; one month; mixing units is an
error, never a silent rescale."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pytest

from crmcore.datasets import load_cdnow_sample
from crmcore.durations import DAYS_PER_UNIT, Duration
from crmcore.errors import ValidationError
from crmcore.serialization import load_model, to_json
from crmcore.valuation import (
    GammaGammaModel,
    GammaGammaParams,
    customer_lifetime_value,
    fit_bgnbd,
    fit_pareto_nbd,
    summarize_transactions,
)


@pytest.fixture(scope="module")
def weekly():  # type: ignore[no-untyped-def]
    return summarize_transactions(load_cdnow_sample(), time_unit="W", calibration_end="1997-09-30")


@pytest.fixture(scope="module")
def daily():  # type: ignore[no-untyped-def]
    return summarize_transactions(load_cdnow_sample(), time_unit="D", calibration_end="1997-09-30")


def test_a_model_fitted_from_a_summary_carries_its_unit_into_json(weekly) -> None:  # type: ignore[no-untyped-def]
    m = fit_bgnbd(weekly)
    assert m.time_unit == "W"
    data = json.loads(to_json(m))
    assert data["time_unit"] == "W" and data["type"] == "bgnbd" and data["format"] == 2
    assert load_model(to_json(m)).time_unit == "W"
    # the same fit as from the three arrays
    same = fit_bgnbd(weekly.frequency, weekly.recency, weekly.T, time_unit="W")
    assert same.params == m.params


def test_the_finding_default_arguments_no_longer_give_a_cohort_clv_far_too_low(
    weekly,
    daily,  # type: ignore[no-untyped-def]
) -> None:
    """0.1: a daily summary with CLV's weekly default gave a cohort CLV 5.6x too low. Now
    the CLV's default step is one month in the model's own unit: the same cohort value from
    a daily and a weekly fit (within the models' fit difference)."""
    gg = GammaGammaModel(GammaGammaParams(6.25, 3.74, 15.44))
    cw = customer_lifetime_value(fit_bgnbd(weekly), gg, weekly).sum()
    cd = customer_lifetime_value(fit_bgnbd(daily), gg, daily).sum()
    assert cd == pytest.approx(cw, rel=0.02)


def test_mixing_units_is_an_error(weekly, daily) -> None:  # type: ignore[no-untyped-def]
    m = fit_bgnbd(weekly)
    with pytest.raises(
        ValidationError, match=r"the summary is in 'D' \(days\) but the model is in 'W'"
    ):
        m.probability_alive(daily)
    with pytest.raises(ValidationError, match=r"summary is in 'D' \(days\) but the purchase model"):
        customer_lifetime_value(m, None, daily)
    with pytest.raises(
        ValidationError, match=r"'time_unit' is in 'D' \(days\) but the purchase model is in 'W'"
    ):
        customer_lifetime_value(m, None, weekly, time_unit="D")
    with pytest.raises(ValidationError, match=r"'time_unit' is in 'D'"):
        fit_bgnbd(weekly, time_unit="D")


def test_a_calendar_span_is_the_same_horizon_in_any_unit(weekly, daily) -> None:  # type: ignore[no-untyped-def]
    m = fit_pareto_nbd(weekly)
    x, tx, T = weekly.frequency[:50], weekly.recency[:50], weekly.T[:50]
    in_weeks = m.conditional_expected_purchases(13, x, tx, T)
    for span in (
        Duration(13, "W"),
        Duration(91, "D"),
        datetime.timedelta(days=91),
        np.timedelta64(91, "D"),
    ):
        assert np.allclose(m.conditional_expected_purchases(span, x, tx, T), in_weeks, rtol=1e-14)
    month = m.conditional_expected_purchases(Duration(1, "M"), x, tx, T)
    assert np.allclose(month, m.conditional_expected_purchases(DAYS_PER_UNIT["M"] / 7, x, tx, T))


def test_a_span_needs_a_model_with_a_unit() -> None:
    from crmcore.valuation import BGNBDModel, BGNBDParams

    m = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426))
    with pytest.raises(ValidationError, match="the model has no time unit"):
        m.conditional_expected_purchases(Duration(1, "M"), 2, 30.43, 38.86)
    with pytest.raises(ValidationError, match="the model has no time unit"):
        customer_lifetime_value(m, None, [2], [30.43], [38.86], [20.0])
    # given explicitly, the CLV's unit is used as the model's
    out = customer_lifetime_value(m, None, [2], [30.43], [38.86], [20.0], time_unit="W")
    assert out[0] > 0


def test_one_month_everywhere() -> None:
    assert DAYS_PER_UNIT["M"] == 365.2425 / 12
    assert Duration(12, "M").in_unit("D") == pytest.approx(365.2425)
