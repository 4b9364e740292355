"""Pipeline, loyalty and alert plots: the data drawn against independent computations
(pandas group counts, a Monte Carlo band from the fit's covariance)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from crmcore.anomaly import AlertTable, detect
from crmcore.anomaly.demo import DEMO_RULES, synthetic_owners
from crmcore.datasets import load_cdnow_sample
from crmcore.errors import ArgumentTypeError, ValidationError
from crmcore.pipeline import (
    B2B,
    FunnelHistory,
    backtest,
    forecast,
    stage_conversion,
    synthetic_pipeline,
)
from crmcore.plot import (
    plot_alerts_over_time,
    plot_forecast,
    plot_funnel_conversion,
    plot_loyalty_curves,
)
from crmcore.satisfaction import LoyaltyModel, fit_loyalty, preset_curve, preset_model

pd = pytest.importorskip("pandas")


def _ax() -> Any:
    return Figure().subplots()


@pytest.fixture(scope="module")
def pipeline() -> Any:
    return synthetic_pipeline(B2B, n_opportunities=2000, seed=4)


def test_funnel_bars_are_the_deals_reaching_each_stage(pipeline: Any) -> None:
    conv = stage_conversion(FunnelHistory.build(pipeline.history, B2B))
    given = _ax()
    ax = plot_funnel_conversion(conv, ax=given)
    assert ax is given
    reached, won = ax.containers
    assert [b.get_width() for b in reached] == conv.reached.tolist()
    assert [b.get_width() for b in won] == conv.converted.tolist()
    assert [t.get_text() for t in ax.get_yticklabels()] == list(conv.stages)
    first = ax.texts[0].get_text()
    assert first == f"{conv.reached[0]:,}  ·  {conv.rate[0]:.0%} moved on"
    assert ax.get_xlabel() == "Deals"


def test_forecast_bars_band_and_backtest(pipeline: Any) -> None:
    fc = forecast(FunnelHistory.build(pipeline.history, B2B), months=3)
    bt = backtest(pipeline.history, B2B, as_of="2025-01-01", months=3)
    ax = plot_forecast(fc, bt, ax=_ax())
    actual, expected = [c for c in ax.containers if isinstance(c, BarContainer)]
    np.testing.assert_allclose([b.get_height() for b in actual], bt.actual)
    np.testing.assert_allclose([b.get_height() for b in expected], fc.expected)
    segs = expected.errorbar.lines[2][0].get_segments()
    np.testing.assert_allclose([s[0][1] for s in segs], fc.low)
    np.testing.assert_allclose([s[1][1] for s in segs], fc.high)
    for i, method in enumerate(bt.methods):
        line = next(ln for ln in ax.lines if ln.get_label().startswith(f"Back-test: {method}"))
        np.testing.assert_allclose(line.get_ydata(), bt.expected[i])
    assert ax.get_ylabel() == "Won revenue"
    alone = plot_forecast(fc, ax=_ax())
    assert len(alone.get_xticklabels()) == 3


def test_loyalty_band_matches_a_monte_carlo_band() -> None:
    rng = np.random.default_rng(11)
    s = rng.integers(1, 6, 6000)
    c = rng.choice([0.2, 0.8], 6000)
    y = rng.random(6000) < preset_model().probability(s, c)
    fit = fit_loyalty(s, y, c)
    ax = plot_loyalty_curves(fit, satisfaction=s, outcome=y, competition=c, ax=_ax())
    # the fit's curves
    np.testing.assert_allclose(ax.lines[0].get_ydata(), fit.model.table([0.2])[0])
    # the band: 95% of P over coefficients drawn from their estimated normal distribution
    names = fit.parameter_names
    draws = rng.multivariate_normal(
        [getattr(fit.model, n) for n in names], np.asarray(fit.covariance), 4000
    )
    sims = np.stack(
        [
            LoyaltyModel(**{**{n: getattr(fit.model, n) for n in (
                "intercept", "log_slope", "floor_logit", "intercept_competition",
                "log_slope_competition", "floor_logit_competition")},
                **dict(zip(names, d, strict=True))}).table([0.2, 0.8])
            for d in draws
        ]
    )  # fmt: skip
    lo, hi = np.quantile(sims, [0.025, 0.975], axis=0)
    bands = [p for p in ax.collections if isinstance(p, PolyCollection) and len(p.get_paths())]
    for i, band in enumerate(bands[:2]):
        v = band.get_paths()[0].vertices
        lower = [v[v[:, 0] == k, 1].min() for k in range(1, 6)]
        upper = [v[v[:, 0] == k, 1].max() for k in range(1, 6)]
        np.testing.assert_allclose(lower, lo[i], atol=0.015)
        np.testing.assert_allclose(upper, hi[i], atol=0.015)
    # the observed shares: pandas group means
    df = pd.DataFrame({"s": s, "c": c, "y": y})
    shares = df[df.c == 0.2].groupby("s").y.mean().to_numpy()
    dots = next(col for col in ax.collections if col.get_offsets().shape == (5, 2))
    np.testing.assert_allclose(dots.get_offsets()[:, 1], shares)
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == [
        "competition 0.2",
        "competition 0.8",
    ]


def test_loyalty_curves_from_curves_and_models() -> None:
    ax = plot_loyalty_curves({"high": preset_curve("high")}, zones=True, ax=_ax())
    np.testing.assert_allclose(ax.lines[0].get_ydata(), preset_curve("high").probabilities())
    assert len(ax.lines) == 6  # the curve and one zone marker per satisfaction level
    ax = plot_loyalty_curves(preset_model(), levels=[0.0, 0.5, 1.0], ax=_ax())
    assert len(ax.lines) == 3 and not ax.collections  # a model has no band


def test_alerts_over_time_counts_by_month_and_owner() -> None:
    log = load_cdnow_sample()
    owners = synthetic_owners([str(c) for c in log.customer_ids])
    alerts = detect(log, DEMO_RULES, owners).alerts()
    ax = plot_alerts_over_time(AlertTable(alerts), by="owner", top=3, ax=_ax())
    want = Counter((a.routed_to, a.occurred_at.strftime("%Y-%m")) for a in alerts)
    top = [k for k, _ in Counter(a.routed_to for a in alerts).most_common(3)]
    for bars in ax.containers:
        name = bars.get_label()
        for bar in bars:
            month = np.datetime64(int(bar.get_x() + bar.get_width() / 2), "D").astype("M8[M]")
            if name == "other":
                n = sum(v for (o, m), v in want.items() if o not in top and m == str(month))
            else:
                n = want.get((name, str(month)), 0)
            assert bar.get_height() == n, (name, month)
    assert [c.get_label() for c in ax.containers] == [*top, "other"]
    assert ax.get_ylabel() == "Alerts per month"


def test_bad_input_is_refused_by_name(pipeline: Any) -> None:
    with pytest.raises(ArgumentTypeError, match="'conversion'"):
        plot_funnel_conversion(pipeline)
    with pytest.raises(ArgumentTypeError, match="'forecast'"):
        plot_forecast(None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'fit'"):
        plot_loyalty_curves({"x": 0.5})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="'confidence'"):
        plot_loyalty_curves(preset_model(), confidence=95)
    with pytest.raises(ValidationError, match="'levels'"):
        plot_loyalty_curves(preset_model(), levels=[1.5])
    with pytest.raises(ValidationError, match="'satisfaction'"):
        plot_loyalty_curves(preset_model(), satisfaction=[7], outcome=[1])
    with pytest.raises(ValidationError, match="'outcome'"):
        plot_loyalty_curves(preset_model(), satisfaction=[1, 2])
    with pytest.raises(ArgumentTypeError, match=r"'alerts\[0\]'"):
        plot_alerts_over_time([1, 2])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="'by'"):
        plot_alerts_over_time([], by="colour")
    with pytest.raises(ValidationError, match="empty"):
        plot_alerts_over_time([])
