"""Purchase-model plots on the CDNOW sample against lifetimes, the independent implementation
(its fitters evaluated at crmcore's fitted parameters), and pandas for the actual counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from crmcore.datasets import load_cdnow_sample
from crmcore.errors import ArgumentTypeError, ValidationError
from crmcore.plot import (
    plot_alive_history,
    plot_calibration_vs_holdout,
    plot_cumulative_transactions,
    plot_frequency_recency_matrix,
    plot_incremental_transactions,
    plot_period_transactions,
    plot_probability_alive_matrix,
)
from crmcore.valuation import BGNBDModel, fit_bgnbd, summarize_transactions, tracking_curves

pd = pytest.importorskip("pandas")
lifetimes = pytest.importorskip("lifetimes")


@pytest.fixture(scope="module")
def cdnow() -> tuple[Any, Any, BGNBDModel, Any]:
    log = load_cdnow_sample()
    s = summarize_transactions(
        log, time_unit="W", calibration_end="1997-09-30", observation_end="1998-06-30"
    )
    model = fit_bgnbd(s)
    ref = lifetimes.BetaGeoFitter()
    ref.params_ = pd.Series(
        {"r": model.params.r, "alpha": model.params.alpha, "a": model.params.a, "b": model.params.b}
    )
    return log, s, model, ref


def _ax() -> Any:
    return Figure().subplots()


def test_period_transactions_against_lifetimes(cdnow: Any) -> None:
    _log, s, model, ref = cdnow
    given = _ax()
    ax = plot_period_transactions(model, s, max_frequency=7, ax=given)
    assert ax is given
    heights = np.array([p.get_height() for p in ax.patches])
    assert len(heights) == 16  # 8 actual + 8 model bars
    actual, expected = heights[:8], heights[8:]
    freq = pd.Series(s.frequency).clip(upper=7).value_counts().reindex(range(8), fill_value=0)
    assert actual.tolist() == freq.tolist()
    ages, count = np.unique(s.T, return_counts=True)  # lifetimes takes one t at a time
    ref_exp = [
        sum(
            c * float(ref.probability_of_n_purchases_up_to_time(t, k))
            for t, c in zip(ages, count, strict=True)
        )
        for k in range(7)
    ]
    np.testing.assert_allclose(expected[:7], ref_exp, rtol=1e-6)
    assert expected.sum() == pytest.approx(len(s))
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "7+"
    assert ax.get_ylabel() == "Customers"
    assert "weeks" in ax.get_xlabel()


def test_calibration_vs_holdout_against_lifetimes(cdnow: Any) -> None:
    _log, s, model, ref = cdnow
    ax = plot_calibration_vs_holdout(model, s, max_frequency=5, ax=_ax())
    df = pd.DataFrame({"f": np.minimum(s.frequency, 5), "h": s.holdout_frequency})
    df["m"] = ref.conditional_expected_number_of_purchases_up_to_time(
        s.holdout_duration, s.frequency, s.recency, s.T
    )
    means = df.groupby("f")[["h", "m"]].mean()
    np.testing.assert_allclose(ax.lines[0].get_ydata(), means["h"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), means["m"].to_numpy(), rtol=1e-6)
    assert "39 weeks" in ax.get_ylabel()


def test_matrices_against_lifetimes(cdnow: Any) -> None:
    _log, s, model, ref = cdnow
    ax = plot_frequency_recency_matrix(model, max_frequency=10, max_recency=20, t=2, ax=_ax())
    z = np.asarray(ax.images[0].get_array().filled(np.nan))
    assert z.shape == (21, 11)
    for r, f in [(1, 1), (5, 3), (20, 10), (12, 7)]:
        want = ref.conditional_expected_number_of_purchases_up_to_time(2, f, r, 20)
        assert z[r, f] == pytest.approx(float(np.ravel(want)[0]), rel=1e-6)
    assert np.isnan(z[0, 3]) and np.isnan(z[4, 0]) and not np.isnan(z[0, 0])
    ax = plot_probability_alive_matrix(model, s, ax=_ax())
    z = np.asarray(ax.images[0].get_array().filled(np.nan))
    age = float(s.T.max())
    for r, f in [(1, 1), (10, 5), (30, 20)]:
        want = ref.conditional_probability_alive(f, r, age)[0]
        assert z[r, f] == pytest.approx(float(want), rel=1e-6)
    assert ax.figure.axes[1].get_ylabel() == "P(still a customer)"  # the colour bar


def test_alive_history_against_lifetimes(cdnow: Any) -> None:
    log, _s, model, ref = cdnow
    cid = 157
    ax = plot_alive_history(model, log, cid, end="1998-06-30", ax=_ax())
    days = ax.lines[0].get_xdata()
    p = ax.lines[0].get_ydata()
    rows = log.customer_ids[log.customer] == cid
    purchase_days = np.unique(log.time[rows].astype("datetime64[D]"))
    first, repeats = purchase_days[0], purchase_days[1:]
    assert days[0] == first and days[-1] == np.datetime64("1998-06-30")
    for k in (0, 17, 100, 400, len(days) - 1):
        d = days[k]
        done = repeats[repeats <= d]
        x = len(done)
        tx = (done[-1] - first).astype(int) / 7 if x else 0.0
        T = (d - first).astype(int) / 7
        want = ref.conditional_probability_alive(x, tx, T)[0]
        assert p[k] == pytest.approx(float(want), rel=1e-6)
    (marks,) = [line for line in ax.lines if line.get_label() == "repeat purchase"]
    assert list(marks.get_xdata()) == list(repeats)  # one mark per repeat purchase


def test_tracking_plots_draw_the_curves(cdnow: Any) -> None:
    log, _s, model, _ref = cdnow
    curves = tracking_curves(model, log, end="1998-06-30")
    ax = plot_cumulative_transactions(curves, calibration_end="1997-09-30", ax=_ax())
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), curves.actual_cumulative)
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), curves.expected_cumulative)
    assert ax.lines[2].get_xdata()[0] == np.datetime64("1997-09-30")
    ax = plot_incremental_transactions(curves, ax=_ax())
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), curves.actual_incremental)
    assert ax.get_ylabel() == "Repeat purchases per week"


def test_bad_input_is_refused_by_name(cdnow: Any) -> None:
    log, s, model, _ref = cdnow
    with pytest.raises(ValidationError, match="'model'"):
        plot_period_transactions(s, s)
    with pytest.raises(ArgumentTypeError, match="'summary'"):
        plot_period_transactions(model, [1, 2])
    with pytest.raises(ValidationError, match="'max_frequency'"):
        plot_period_transactions(model, s, max_frequency=0)
    with pytest.raises(ArgumentTypeError, match="'ax'"):
        plot_period_transactions(model, s, ax="left")
    daily = summarize_transactions(log, time_unit="D", calibration_end="1997-09-30")
    with pytest.raises(ValidationError, match="'D'"):
        plot_period_transactions(model, daily)
    no_holdout = summarize_transactions(log, time_unit="W")
    with pytest.raises(ValidationError, match="no holdout"):
        plot_calibration_vs_holdout(model, no_holdout)
    with pytest.raises(ValidationError, match="'max_recency'"):
        plot_probability_alive_matrix(model, max_frequency=5)
    with pytest.raises(ValidationError, match="cells"):
        plot_frequency_recency_matrix(model, max_frequency=10_000, max_recency=10_000)
    with pytest.raises(ValidationError, match="'customer_id'"):
        plot_alive_history(model, log, "nobody")
    with pytest.raises(ValidationError, match="'end'"):
        plot_alive_history(model, log, 157, end="1997-01-02")
    with pytest.raises(ArgumentTypeError, match="'curves'"):
        plot_cumulative_transactions(s)
