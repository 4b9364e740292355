"""Plots for every area of crmcore (matplotlib, the ``plot`` extra: ``pip install 'crmcore[plot]'``).

Every function takes a crmcore result (a fitted model and its summary, a concentration,
RFM scores, a pipeline forecast, alerts, ...), draws on ``ax`` (None: a new figure from
``matplotlib.pyplot``, which Jupyter shows) and returns the ``Axes``, with axis labels in
the data's units (the model's time unit, the currency) and a title a manager can read.
To keep pyplot out (a server, a report) pass an axes of your own figure:
``ax=matplotlib.figure.Figure().subplots()``. matplotlib is imported on the first call, not
here: without it a call raises :class:`~crmcore.errors.MissingDependencyError`.

Purchase models (the diagnostic plots lifetimes users know; ``docs/plots.md``):
:func:`plot_period_transactions`, :func:`plot_calibration_vs_holdout`,
:func:`plot_frequency_recency_matrix`, :func:`plot_probability_alive_matrix`,
:func:`plot_alive_history`, :func:`plot_cumulative_transactions`,
:func:`plot_incremental_transactions`.

Customers and segments: :func:`plot_lorenz_curve`, :func:`plot_whale_curve`,
:func:`plot_rfm_segments`, :func:`plot_tier_migration`.

Sales pipeline: :func:`plot_funnel_conversion`, :func:`plot_forecast`.

Satisfaction and alerts: :func:`plot_loyalty_curves`, :func:`plot_alerts_over_time`.

>>> from crmcore.datasets import load_cdnow_sample
>>> from crmcore.valuation import fit_bgnbd, summarize_transactions
>>> from crmcore import plot
>>> s = summarize_transactions(load_cdnow_sample(), time_unit="W", calibration_end="1997-09-30")
>>> ax = plot.plot_period_transactions(fit_bgnbd(s), s)
>>> ax.get_ylabel()
'Customers'
"""

from __future__ import annotations

from crmcore.plot._alerts import plot_alerts_over_time
from crmcore.plot._concentration import plot_lorenz_curve, plot_whale_curve
from crmcore.plot._history import (
    plot_alive_history,
    plot_cumulative_transactions,
    plot_incremental_transactions,
)
from crmcore.plot._loyalty import plot_loyalty_curves
from crmcore.plot._pipeline import plot_forecast, plot_funnel_conversion
from crmcore.plot._purchases import (
    plot_calibration_vs_holdout,
    plot_frequency_recency_matrix,
    plot_period_transactions,
    plot_probability_alive_matrix,
)
from crmcore.plot._segments import plot_rfm_segments, plot_tier_migration

__all__ = [
    "plot_alerts_over_time",
    "plot_alive_history",
    "plot_calibration_vs_holdout",
    "plot_cumulative_transactions",
    "plot_forecast",
    "plot_frequency_recency_matrix",
    "plot_funnel_conversion",
    "plot_incremental_transactions",
    "plot_lorenz_curve",
    "plot_loyalty_curves",
    "plot_period_transactions",
    "plot_probability_alive_matrix",
    "plot_rfm_segments",
    "plot_tier_migration",
    "plot_whale_curve",
]
