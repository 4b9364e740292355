"""Purchase models over calendar time: one customer's P(alive) history, and the cohort's
repeat purchases tracked against the model (cumulative and per step)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray
from crmcore.durations import DAYS_PER_UNIT
from crmcore.errors import ValidationError
from crmcore.options import as_choice, expect_instance
from crmcore.plot._base import ACTUAL, MODEL, axes, percent, thousands, tidy, unit_name
from crmcore.plot._purchases import purchase_model
from crmcore.tables import TransactionLog
from crmcore.timestamps import as_instant
from crmcore.valuation.btyd import PurchaseModelBase, TrackingCurves, repeat_transaction_days

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_MAX_DAYS = 100_000


def alive_path(
    model: PurchaseModelBase,
    log: TransactionLog,
    customer_id: Any,
    *,
    end: Any = None,
    period: str = "D",
) -> tuple[npt.NDArray[np.datetime64], FloatArray, npt.NDArray[np.datetime64]]:
    """Days from the customer's first purchase to ``end``, P(alive) at the end of each day
    given her purchases up to it, and the days of her repeat purchases."""
    if model.time_unit is None:
        raise ValidationError(
            "'model' has no time unit: fit it from a summary or with time_unit= to place it "
            "on the calendar"
        )
    known = np.asarray(log.customer_ids, dtype=object)
    if not np.any(known == customer_id):
        raise ValidationError(f"'customer_id' is not in the log: {customer_id!r:.80}")
    own = log.select(customer_ids=[customer_id])
    _codes, first, repeats = repeat_transaction_days(own, period=period)
    start = int(first[0])
    last_day = int(repeats.max()) if len(repeats) else start
    if end is None:
        stop = int(log.time.max().astype("datetime64[D]").astype(np.int64))
    else:
        stop = int(as_instant(end, name="end").astype("datetime64[D]").astype(np.int64))
    if stop < last_day:
        raise ValidationError(
            f"'end' must not be before the customer's last purchase "
            f"{np.datetime64(last_day, 'D')}: {np.datetime64(stop, 'D')}"
        )
    if stop - start > _MAX_DAYS:
        raise ValidationError(
            f"'end' is {stop - start:,} days after the first purchase: at most {_MAX_DAYS:,}"
        )
    days = np.arange(start, stop + 1, dtype=np.int64)
    per = DAYS_PER_UNIT[model.time_unit]
    x = np.searchsorted(repeats, days, side="right")
    last = np.where(x > 0, repeats[np.maximum(x - 1, 0)] if len(repeats) else start, start)
    p = model.probability_alive(x.astype(np.float64), (last - start) / per, (days - start) / per)
    return days.astype("datetime64[D]"), p, repeats.astype("datetime64[D]")


def plot_alive_history(
    model: Any,
    log: Any,
    customer_id: Any,
    *,
    end: Any = None,
    period: str = "D",
    ax: Axes | None = None,
) -> Axes:
    """One customer's probability of still being a customer, day by day, with her purchases.

    At each day the model's P(alive) given her purchases up to that day: it jumps up at each
    repeat purchase (dashed lines) and decays while she is silent. ``log`` is the
    :class:`~crmcore.tables.TransactionLog` she is in, ``end`` the last day drawn (default:
    the log's last transaction), ``period`` the summaries' merge rule (purchases in one
    period are one).

    >>> from crmcore.datasets import load_cdnow_sample
    >>> from crmcore.valuation import fit_bgnbd, summarize_transactions
    >>> log = load_cdnow_sample()
    >>> model = fit_bgnbd(summarize_transactions(log, time_unit="W", calibration_end="1997-09-30"))
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_alive_history(model, log, 1, ax=ax) is ax
    True
    >>> ax.get_title()
    'Is customer 1 still a customer? P(alive) day by day'
    >>> round(float(ax.lines[0].get_ydata()[-1]), 3)   # on the log's last day
    0.583
    """
    m = purchase_model(model)
    lg = expect_instance(log, TransactionLog, name="log")
    period = as_choice(period, name="period", allowed=("D", "W", "M"))
    days, p, repeats = alive_path(m, lg, customer_id, end=end, period=period)
    ax = axes(ax)
    ax.plot(days, p, "-", color=ACTUAL, lw=2, label="P(alive)", zorder=3)
    for d in repeats:
        ax.axvline(d, color=MODEL, lw=0.8, alpha=0.45, zorder=1)
    ax.plot(
        repeats, np.full(len(repeats), 0.015), "^", color=MODEL, ms=7, label="repeat purchase",
        zorder=4, clip_on=False,
    )  # fmt: skip
    ax.plot([days[0]], [0.015], "o", color="0.3", ms=6, label="first purchase", zorder=4)
    ax.set_ylim(0, 1.02)
    percent(ax)
    ax.set_xlim(days[0], days[-1])
    ax.set_xlabel("Date")
    ax.set_ylabel("P(still a customer)")
    ax.set_title(f"Is customer {customer_id} still a customer? P(alive) day by day")
    ax.figure.autofmt_xdate()
    tidy(ax)
    ax.legend(loc="lower left", framealpha=0.95, bbox_to_anchor=(0.0, 0.05))
    return ax


def _tracking(curves: Any, calibration_end: Any) -> tuple[TrackingCurves, np.datetime64 | None]:
    c = expect_instance(curves, TrackingCurves, name="curves", what="a TrackingCurves")
    if len(c) == 0:
        raise ValidationError("'curves' holds no step")
    cut = None if calibration_end is None else as_instant(calibration_end, name="calibration_end")
    return c, None if cut is None else cut.astype("datetime64[D]")


def _draw_tracking(
    ax: Any,
    c: TrackingCurves,
    actual: FloatArray,
    expected: FloatArray,
    cut: np.datetime64 | None,
    ylabel: str,
    title: str,
) -> None:
    ax.plot(c.dates, actual, "-", color=ACTUAL, lw=2, label="Actual", zorder=3)
    ax.plot(c.dates, expected, "--", color=MODEL, lw=2, label="Model (expected)", zorder=3)
    if cut is not None:
        ax.axvline(cut, color="0.3", lw=1, ls=":", label="end of calibration")
    ax.set_xlabel("Date")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    thousands(ax)
    ax.figure.autofmt_xdate()
    tidy(ax)
    ax.legend(frameon=False)


def plot_cumulative_transactions(
    curves: Any, *, calibration_end: Any = None, ax: Axes | None = None
) -> Axes:
    """The cohort's repeat purchases added up over time: actual vs model.

    ``curves`` is a :class:`~crmcore.valuation.TrackingCurves`
    (:func:`~crmcore.valuation.tracking_curves`); ``calibration_end`` (optional) draws the
    end of the period the model was fitted on: after it, the model is forecasting.

    >>> from crmcore.datasets import load_cdnow_sample
    >>> from crmcore.valuation import fit_bgnbd, summarize_transactions, tracking_curves
    >>> log = load_cdnow_sample()
    >>> model = fit_bgnbd(summarize_transactions(log, time_unit="W", calibration_end="1997-09-30"))
    >>> curves = tracking_curves(model, log, end="1998-06-30")
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_cumulative_transactions(curves, calibration_end="1997-09-30", ax=ax) is ax
    True
    >>> ax.get_title(), int(ax.lines[0].get_ydata()[38])
    ('Repeat purchases to date: actual vs model', 2457)
    """
    c, cut = _tracking(curves, calibration_end)
    ax = axes(ax)
    _draw_tracking(
        ax,
        c,
        c.actual_cumulative,
        c.expected_cumulative,
        cut,
        "Repeat purchases to date (cumulative)",
        "Repeat purchases to date: actual vs model",
    )
    return ax


def plot_incremental_transactions(
    curves: Any, *, calibration_end: Any = None, ax: Axes | None = None
) -> Axes:
    """The cohort's repeat purchases in each step (a week for a weekly model): actual vs model.

    As :func:`plot_cumulative_transactions`, one point per step of the curves.

    >>> from crmcore.datasets import load_cdnow_sample
    >>> from crmcore.valuation import fit_bgnbd, summarize_transactions, tracking_curves
    >>> log = load_cdnow_sample()
    >>> model = fit_bgnbd(summarize_transactions(log, time_unit="W", calibration_end="1997-09-30"))
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_incremental_transactions(tracking_curves(model, log, end="1998-06-30"), ax=ax) is ax
    True
    >>> ax.get_title(), ax.get_ylabel()
    ('Repeat purchases per week: actual vs model', 'Repeat purchases per week')
    """
    c, cut = _tracking(curves, calibration_end)
    ax = axes(ax)
    step = unit_name(c.time_unit)[:-1]
    if len(c) > 1:
        width = int((c.dates[1] - c.dates[0]).astype(np.int64))
        step = "month" if width in (30, 31) else {1: "day", 7: "week"}.get(width, f"{width} days")
    label = f"Repeat purchases per {step}"
    _draw_tracking(
        ax, c, c.actual_incremental, c.expected_incremental, cut, label,
        f"{label}: actual vs model",
    )  # fmt: skip
    return ax
