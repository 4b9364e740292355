"""Concentration of value over customers: the Lorenz curve (revenue) and the whale curve
(profit)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from crmcore.arrays import FloatArray
from crmcore.plot._base import ACTUAL, MODEL, axes, currency_code, label_text, percent, tidy
from crmcore.segmentation import (
    Concentration,
    Profitability,
    WhaleCurve,
    concentration,
    whale_curve,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: at most this many points of a curve are drawn (evenly spaced ranks, both ends kept)
MAX_POINTS = 2001


def thinned(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """At most :data:`MAX_POINTS` points of a curve over ranks: evenly spaced, ends kept."""
    if len(x) <= MAX_POINTS:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, MAX_POINTS).round().astype(np.int64))
    return x[idx], y[idx]


def _concentration(values: Any) -> Concentration:
    if isinstance(values, Concentration):
        return values
    return concentration(values)


def plot_lorenz_curve(
    values: Any,
    *,
    what: str = "revenue",
    currency: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """How unequally a value (revenue by default) is spread over customers: the Lorenz curve.

    Customers are ranked from the smallest to the largest value; the curve gives the share
    of the total held by the bottom x% of them. The diagonal is a base where every customer
    is worth the same; the further the curve sags below it, the more the value rests on a
    few customers (the Gini coefficient is twice the shaded area). The share held by the top
    20% is written on the plot. ``values`` is a
    :class:`~crmcore.segmentation.Concentration` or per-customer values (non-negative);
    ``what`` and ``currency`` name them in the labels.

    >>> from crmcore.datasets import load_cdnow_sample
    >>> from crmcore.segmentation import rfm_summary
    >>> revenue = rfm_summary(load_cdnow_sample(), "1998-06-30").monetary
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_lorenz_curve(revenue, currency="USD", ax=ax) is ax
    True
    >>> ax.get_title()
    'How concentrated is revenue? (Gini 0.63)'
    """
    what = label_text(what, name="what")
    currency = currency_code(currency)
    c = _concentration(values)
    x, y = thinned(*c.lorenz())
    g = c.gini()
    top = c.top_share(0.2)
    ax = axes(ax)
    ax.plot([0, 1], [0, 1], "--", color="0.5", lw=1, label="Equal spread")
    ax.fill_between(x, y, x, color=ACTUAL, alpha=0.12, lw=0)
    ax.plot(x, y, "-", color=ACTUAL, lw=2, label=f"Lorenz curve of {what}")
    ax.plot([0.8], [1 - top], "o", color=MODEL, ms=8, zorder=4)
    ax.annotate(
        f"the bottom 80% of customers hold {1 - top:.0%} of {what}:\nthe top 20% hold {top:.0%}",
        xy=(0.8, 1 - top),
        xytext=(0.03, 0.7),  # above the diagonal, where the curve never is
        color=MODEL,
        arrowprops={"arrowstyle": "->", "color": MODEL},
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    percent(ax, "x")
    percent(ax, "y")
    ax.set_xlabel(f"Customers, ranked from the smallest to the largest {what}")
    # a share has no currency: the unit goes with the total it is a share of
    of_total = f" ({c.total:,.0f} {currency})" if currency else ""
    ax.set_ylabel(f"Share of total {what}{of_total}")
    ax.set_title(f"How concentrated is {what}? (Gini {g:.2f})")
    tidy(ax)
    ax.legend(frameon=False, loc="upper left")
    return ax


def plot_whale_curve(profit: Any, *, currency: str | None = None, ax: Axes | None = None) -> Axes:
    """The whale curve: cumulative profit, customers ranked from the most to the least
    profitable, as a share of the total profit.

    The curve rises above 100% while profitable customers are added, peaks where the
    loss-making ones start, and falls back to 100% (the total) as their losses are added:
    the height of the hump above 100% is the profit the loss-makers destroy. ``profit`` is a
    :class:`~crmcore.segmentation.Profitability` or per-customer profit (its total must be
    > 0); ``currency`` names the unit of the loss written on the plot.

    >>> from crmcore.segmentation import customer_profitability
    >>> p = customer_profitability([100.0, 80.0, 50.0, 20.0], [50.0, 40.0, 30.0, 15.0],
    ...                            [5.0, 10.0, 30.0, 20.0])
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_whale_curve(p, currency="USD", ax=ax) is ax
    True
    >>> ax.get_title()
    'Whale curve: profit peaks at 150% of the total'
    >>> [round(float(v), 3) for v in ax.lines[1].get_ydata()]
    [0.0, 0.9, 1.5, 1.3, 1.0]
    """
    currency = currency_code(currency)
    values = profit.profit if isinstance(profit, Profitability) else profit
    summary: WhaleCurve = whale_curve(values)
    x, y = thinned(*concentration(values).pareto_curve())
    ax = axes(ax)
    ax.axhline(1.0, color="0.5", lw=1, ls="--", label="Total profit")
    ax.plot(x, y, "-", color=ACTUAL, lw=2, label="Cumulative profit")
    px, py = summary.peak_fraction, summary.peak_share
    ax.plot([px], [py], "o", color=MODEL, ms=8, zorder=4)
    ax.annotate(
        f"peak: the {px:.0%} most profitable customers\nmake {py:.0%} of the total profit",
        xy=(px, py),
        xytext=(0.3, 0.55 * py),
        color=MODEL,
        arrowprops={"arrowstyle": "->", "color": MODEL},
    )
    if summary.loss_customers:
        loss = f"{abs(summary.loss):,.0f} {currency or ''}".rstrip()
        ax.text(
            0.98,
            0.06,
            f"{summary.loss_customers:,} loss-making customers ({summary.loss_customers / summary.n:.0%})"
            f"\ndestroy {summary.erosion:.0%} of the total profit ({loss})",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            color="#b22222",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(min(0.0, float(y.min())), max(float(y.max()), 1.0) * 1.08)
    percent(ax, "x")
    percent(ax, "y")
    ax.set_xlabel("Customers, ranked from the most to the least profitable")
    ax.set_ylabel("Cumulative profit, share of the total")
    ax.set_title(f"Whale curve: profit peaks at {py:.0%} of the total")
    tidy(ax)
    ax.legend(frameon=False, loc="upper left")
    return ax
