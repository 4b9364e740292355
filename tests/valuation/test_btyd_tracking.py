"""Tracking curves (issue 13): a cohort's expected repeat transactions over calendar time,
checked against a plain per-customer sum of lifetimes' new-customer expectation and the
actual counts against the summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crmcore.datasets import load_cdnow_sample
from crmcore.errors import ValidationError
from crmcore.valuation import (
    BGNBDModel,
    BGNBDParams,
    fit_bgnbd,
    summarize_transactions,
    tracking_curves,
)


@pytest.fixture(scope="module")
def cdnow():  # type: ignore[no-untyped-def]
    log = load_cdnow_sample()
    s = summarize_transactions(log, time_unit="W", calibration_end="1997-09-30")
    return log, s, fit_bgnbd(s)


def test_expected_curve_is_the_sum_of_each_customers_new_customer_expectation(cdnow) -> None:  # type: ignore[no-untyped-def]
    lifetimes = pytest.importorskip("lifetimes")
    log, _s, m = cdnow
    curves = tracking_curves(m, log, end="1998-06-30")
    bg = lifetimes.BetaGeoFitter()
    p = m.params
    bg.params_ = pd.Series({"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b})
    first = pd.Series(log.time.astype("datetime64[D]")).groupby(log.customer).min().to_numpy()
    origin = first.min()
    births = (first - origin).astype("timedelta64[D]").astype(float) / 7.0
    for k in (0, 10, 38, 77):
        tau = (k + 1) * 1.0
        ages = tau - births[births < tau]
        want = float(np.sum(bg.expected_number_of_purchases_up_to_time(ages)))
        assert curves.expected_cumulative[k] == pytest.approx(want, rel=1e-9)
    assert np.allclose(np.cumsum(curves.expected_incremental), curves.expected_cumulative)


def test_actual_curve_counts_the_summaries_repeat_transactions(cdnow) -> None:  # type: ignore[no-untyped-def]
    log, s, m = cdnow
    curves = tracking_curves(m, log, end="1998-06-30")
    cal = int(np.flatnonzero(curves.dates == np.datetime64("1997-09-30"))[0])
    assert curves.actual_cumulative[cal] == s.frequency.sum()
    full = summarize_transactions(
        log, time_unit="W", calibration_end="1997-09-30", observation_end="1998-06-30"
    )
    assert full.holdout_frequency is not None
    assert curves.actual_cumulative[-1] == s.frequency.sum() + full.holdout_frequency.sum()
    assert (curves.actual_incremental >= 0).all()


def test_daily_steps_of_a_weekly_model_land_on_the_same_days(cdnow) -> None:  # type: ignore[no-untyped-def]
    log, _s, m = cdnow
    weekly = tracking_curves(m, log, end="1998-06-30")
    daily = tracking_curves(m, log, end="1998-06-30", step=1 / 7)
    on_week_ends = np.isin(daily.dates, weekly.dates)
    assert np.allclose(
        daily.expected_cumulative[on_week_ends], weekly.expected_cumulative, rtol=1e-9
    )
    assert (daily.actual_cumulative[on_week_ends] == weekly.actual_cumulative).all()


def test_bad_input_is_named(cdnow) -> None:  # type: ignore[no-untyped-def]
    log, _s, m = cdnow
    with pytest.raises(ValidationError, match="has no time unit"):
        tracking_curves(BGNBDModel(BGNBDParams(0.2, 4.0, 0.8, 2.4)), log)
    with pytest.raises(ValidationError, match="'end' must not be before"):
        tracking_curves(m, log, end="1990-01-01")
    with pytest.raises(ValidationError, match="'step'"):
        tracking_curves(m, log, step=0)
