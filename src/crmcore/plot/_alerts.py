"""Anomaly alerts over time, stacked by rule or by owner."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from crmcore.anomaly import Alert, AlertTable
from crmcore.errors import ValidationError
from crmcore.options import as_choice, as_count, expect_items
from crmcore.plot._base import axes, thousands, tidy
from crmcore.timestamps import parse_timestamps

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_PERIODS = {"D": "day", "W": "week", "M": "month"}
_MAX_PERIODS = 2000


def alert_counts(
    alerts: list[Alert], by: str, period: str, top: int
) -> tuple[npt.NDArray[np.datetime64], list[str], npt.NDArray[np.int64]]:
    """Start of every period from the first alert's to the last's, the groups (the ``top``
    largest, then ``"other"``), and alerts per group (rows) and period (columns)."""
    when = parse_timestamps([a.occurred_at for a in alerts], name="occurred_at")
    days = when.astype("datetime64[D]").astype(np.int64)
    if period == "D":
        start = days
    elif period == "W":  # Monday-based weeks (day 0, 1970-01-01, was a Thursday)
        start = (days + 3) // 7 * 7 - 3
    else:
        start = days.astype("datetime64[D]").astype("datetime64[M]").astype("datetime64[D]")
        start = start.astype(np.int64)
    if period == "M":
        lo, hi = (
            np.datetime64(int(v), "D").astype("datetime64[M]") for v in (start.min(), start.max())
        )
        edges = np.arange(lo, hi + 1).astype("datetime64[D]")
    else:
        step = 7 if period == "W" else 1
        edges = np.arange(start.min(), start.max() + 1, step).astype("datetime64[D]")
    if len(edges) > _MAX_PERIODS:
        raise ValidationError(
            f"the alerts span {len(edges):,} {_PERIODS[period]}s: at most {_MAX_PERIODS:,}; "
            "choose a longer 'period'"
        )
    col = np.searchsorted(edges.astype(np.int64), start, side="right") - 1
    keys = [a.rule if by == "rule" else a.routed_to for a in alerts]
    names, inv, totals = np.unique(
        np.array(keys, dtype=object), return_inverse=True, return_counts=True
    )
    order = sorted(range(len(names)), key=lambda i: (-int(totals[i]), str(names[i])))
    keep = order[:top] if len(order) > top + 1 else order
    groups = [str(names[i]) for i in keep]
    row_of = np.full(len(names), len(keep), dtype=np.int64)
    row_of[keep] = np.arange(len(keep))
    if len(keep) < len(order):
        groups.append("other")
    counts = np.zeros((len(groups), len(edges)), dtype=np.int64)
    np.add.at(counts, (row_of[inv.ravel()], col), 1)
    return edges, groups, counts


def plot_alerts_over_time(
    alerts: Iterable[Alert] | AlertTable,
    *,
    by: str = "rule",
    period: str = "M",
    top: int = 8,
    ax: Axes | None = None,
) -> Axes:
    """Alerts per month (or week, or day), stacked by rule or by owner.

    ``by="rule"`` shows which rules fire and whether one started firing more; ``by="owner"``
    shows whose queue fills up (the owner or team queue an alert was routed to, as in
    :func:`~crmcore.anomaly.summarize`). The ``top`` largest groups are drawn, the rest as
    "other"; a period is counted on the alert's transaction time (``occurred_at``).
    ``alerts`` are :class:`~crmcore.anomaly.Alert` records (``Detection.alerts()``) or an
    :class:`~crmcore.anomaly.AlertTable`.

    >>> from crmcore.anomaly import detect
    >>> from crmcore.anomaly.demo import DEMO_RULES, synthetic_owners
    >>> from crmcore.datasets import load_cdnow_sample
    >>> log = load_cdnow_sample()
    >>> owners = synthetic_owners([str(c) for c in log.customer_ids])
    >>> alerts = detect(log, DEMO_RULES, owners).alerts()
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_alerts_over_time(alerts, by="owner", ax=ax) is ax
    True
    >>> ax.get_title()
    'Alerts per month, by owner'
    >>> sum(round(b.get_height()) for c in ax.containers for b in c) == len(alerts)
    True
    """
    items = list(alerts.alerts) if isinstance(alerts, AlertTable) else alerts
    rows = expect_items(items, Alert, name="alerts", what="an Alert")
    group_by = as_choice(by, name="by", allowed=("rule", "owner"))
    per = as_choice(period, name="period", allowed=tuple(_PERIODS))
    k = as_count(top, name="top", low=1, high=20)
    if not rows:
        raise ValidationError("'alerts' is empty: nothing to draw")
    edges, groups, counts = alert_counts(rows, group_by, per, k)
    ax = axes(ax, figsize=(9.0, 4.8))
    import matplotlib as mpl

    colours = list(mpl.colormaps["tab10"](np.arange(10)))
    width = {"D": 1.0, "W": 7.0, "M": 28.0}[per] * 0.85
    bottom = np.zeros(len(edges))
    x = edges + np.timedelta64(int(width / 0.85 / 2), "D")
    for i, name in enumerate(groups):
        colour = "0.7" if name == "other" else colours[i % len(colours)]
        ax.bar(x, counts[i], width, bottom=bottom, label=name, color=colour, zorder=2)
        bottom += counts[i]
    ax.set_xlabel(_PERIODS[per].capitalize())
    ax.set_ylabel(f"Alerts per {_PERIODS[per]}")
    ax.set_title(f"Alerts per {_PERIODS[per]}, by {group_by}")
    thousands(ax)
    ax.figure.autofmt_xdate()
    tidy(ax)
    ax.grid(axis="x", visible=False)
    ax.legend(
        frameon=False, fontsize="small", title=group_by, loc="upper left", bbox_to_anchor=(1.0, 1.0)
    )
    return ax
