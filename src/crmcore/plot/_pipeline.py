"""The sales pipeline: conversion through the funnel, and the revenue forecast with its band
and its back-test."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from crmcore.errors import ValidationError
from crmcore.options import expect_instance
from crmcore.pipeline import Backtest, Forecast, StageConversion
from crmcore.plot._base import ACTUAL, MODEL, axes, money, thousands, tidy

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_MAX_STAGES = 40
_METHOD_COLOURS = ("#2a9d8f", "#9b5de5", "#d62828", "#6a994e")


def plot_funnel_conversion(conversion: StageConversion, *, ax: Axes | None = None) -> Axes:
    """The sales funnel: deals that reached each open stage, those of them now won, and the
    share that moved on from each stage.

    One bar per open stage (in the funnel's order, first at the top): its length is the
    deals that reached the stage, the dark part those of them won by now (when the result
    has ``converted``). The percentage beside a bar is the stage's conversion: of the deals
    decided there, the share that advanced (``rate``; "n/a" when none was decided yet).
    ``conversion`` is a :class:`~crmcore.pipeline.StageConversion`
    (:func:`~crmcore.pipeline.stage_conversion`).

    >>> from crmcore.pipeline import B2B, FunnelHistory, stage_conversion, synthetic_pipeline
    >>> p = synthetic_pipeline(B2B, n_opportunities=2000, seed=4)
    >>> conv = stage_conversion(FunnelHistory.build(p.history, B2B))
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_funnel_conversion(conv, ax=ax) is ax
    True
    >>> ax.get_title()
    'Sales funnel: 2,000 deals, 15% won'
    >>> [round(b.get_width()) for b in ax.containers[0]] == conv.reached.tolist()
    True
    """
    c = expect_instance(conversion, StageConversion, name="conversion", what="a StageConversion")
    k = len(c.stages)
    if k == 0:
        raise ValidationError("'conversion' has no stage")
    if k > _MAX_STAGES:
        raise ValidationError(
            f"'conversion' has {k} stages: the funnel draws at most {_MAX_STAGES}"
        )
    ax = axes(ax, figsize=(8.0, max(3.0, 1.0 + 0.6 * k)))
    pos = np.arange(k)[::-1]
    reached = c.reached.astype(np.float64)
    ax.barh(pos, reached, 0.7, color="#a9c1e8", label="Reached the stage", zorder=2)
    if c.converted is not None:
        ax.barh(pos, c.converted, 0.7, color=ACTUAL, label="… of them won", zorder=3)
    top = float(reached.max()) if reached.size else 0.0
    for y, n, rate, decided in zip(pos, reached, c.rate, c.decided, strict=True):
        text = f"{rate:.0%} moved on" if decided > 0 and np.isfinite(rate) else "n/a"
        ax.text(
            n + 0.01 * max(top, 1.0), y, f"{int(n):,}  ·  {text}", va="center", fontsize="small"
        )
    ax.set_yticks(pos, c.stages)
    ax.set_xlim(0, max(top, 1.0) * 1.35)
    ax.set_xlabel("Deals")
    thousands(ax, "x")
    first = int(c.reached[0])
    if c.converted is not None and first > 0:
        title = f"Sales funnel: {first:,} deals, {int(c.converted[0]) / first:.0%} won"
    else:
        title = f"Sales funnel: {first:,} deals entered"
    ax.set_title(title)
    tidy(ax)
    ax.grid(axis="y", visible=False)
    ax.legend(frameon=False, loc="lower right")
    return ax


def _month_labels(months: Any) -> list[str]:
    return [np.datetime_as_string(np.datetime64(m, "M"), unit="M") for m in np.asarray(months)]


def plot_forecast(
    forecast: Forecast, backtest: Backtest | None = None, *, ax: Axes | None = None
) -> Axes:
    """Expected won revenue per month from the open pipeline, with its band; optionally the
    back-test beside it (what the methods forecast at a past date against what was won).

    Right: one bar per future month, the expected revenue, with the band at the forecast's
    ``level`` as a whisker (for example 80%: in 8 months of 10 the revenue should fall
    inside). Left, with ``backtest``: the revenue actually won in each month after the
    back-test's date (bars) and what each method forecast for it (markers, with its MAPE in
    the legend). ``forecast`` is a :class:`~crmcore.pipeline.Forecast`, ``backtest`` a
    :class:`~crmcore.pipeline.Backtest`.

    >>> from crmcore.pipeline import B2B, FunnelHistory, backtest, forecast, synthetic_pipeline
    >>> p = synthetic_pipeline(B2B, n_opportunities=3000, seed=4)
    >>> fc = forecast(FunnelHistory.build(p.history, B2B), months=3)
    >>> bt = backtest(p.history, B2B, as_of="2025-01-01", months=3)
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_forecast(fc, bt, ax=ax) is ax
    True
    >>> ax.get_title()
    'Won revenue by month: forecast from the open pipeline (80% band) and back-test'
    >>> [t.get_text() for t in ax.get_xticklabels()][-2:] == [str(m) for m in fc.months[1:]]
    True
    """
    fc = expect_instance(forecast, Forecast, name="forecast", what="a Forecast")
    bt = None
    if backtest is not None:
        bt = expect_instance(backtest, Backtest, name="backtest", what="a Backtest")
        if fc.currency and bt.currency and fc.currency != bt.currency:
            raise ValidationError(
                f"'backtest' is in {bt.currency} but 'forecast' is in {fc.currency}"
            )
    if len(fc.months) == 0:
        raise ValidationError("'forecast' has no month")
    ax = axes(ax, figsize=(9.0, 4.8))
    labels: list[str] = []
    start = 0
    if bt is not None and len(bt.months):
        n = len(bt.months)
        pos = np.arange(n, dtype=np.float64)
        ax.bar(pos, bt.actual, 0.6, color="0.65", label="Back-test: actually won", zorder=2)
        for i, method in enumerate(bt.methods):
            mape = bt.mape[i]
            score = f"MAPE {mape:.0%}" if mape is not None else "MAPE n/a"
            ax.plot(
                pos, bt.expected[i], "D", ms=8, color=_METHOD_COLOURS[i % len(_METHOD_COLOURS)],
                label=f"Back-test: {method} method ({score})", zorder=4,
            )  # fmt: skip
        labels += _month_labels(bt.months)
        start = n + 1
        ax.axvline(n, color="0.3", lw=1, ls=":")
        ax.text(
            (n - 1) / 2, 1.0, f"back-test from {np.datetime_as_string(bt.as_of, unit='D')}",
            transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize="small",
            color="0.3",
        )  # fmt: skip
        labels.append("")
    m = len(fc.months)
    pos = start + np.arange(m, dtype=np.float64)
    err = np.vstack([fc.expected - fc.low, fc.high - fc.expected]).clip(min=0)
    ax.bar(
        pos, fc.expected, 0.6, color=ACTUAL, label="Forecast: expected", zorder=2,
        yerr=err, error_kw={"ecolor": MODEL, "elinewidth": 2, "capsize": 6, "zorder": 3},
    )  # fmt: skip
    ax.plot([], [], "-", color=MODEL, lw=2, label=f"Forecast: {fc.level:.0%} band")
    future = _month_labels(fc.months)
    day = np.datetime_as_string(fc.as_of, unit="D")
    if not day.endswith("-01"):  # month 0 runs from as_of to the end of its month
        future[0] = f"{future[0]}\n(from day {int(day[-2:])})"
    labels += future
    ax.text(
        start + (m - 1) / 2, 1.0,
        f"forecast from {np.datetime_as_string(fc.as_of, unit='D')} ({fc.method} method)",
        transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize="small",
        color="0.3",
    )  # fmt: skip
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set_xlabel("Month")
    currency = fc.currency or (bt.currency if bt is not None else None)
    ax.set_ylabel(f"Won revenue{money(currency)}")
    ax.set_ylim(bottom=0)
    thousands(ax)
    what = " and back-test" if bt is not None else ""
    ax.set_title(
        f"Won revenue by month: forecast from the open pipeline ({fc.level:.0%} band){what}",
        pad=18,
    )
    tidy(ax)
    ax.grid(axis="x", visible=False)
    ax.legend(
        frameon=False, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2
    )
    return ax
