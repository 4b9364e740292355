"""Section "Pipeline and forecast": the stored funnel's open pipeline, conversion, win rate,
sales cycle and the next quarter's forecast (:mod:`crmcore.pipeline`).

The pipeline is that of the first stored funnel (documents of kind
``"funnel"``, in name order) with a stored history, as of the end of the
report's day (:func:`~crmcore.pipeline.load_history`).
"""

from __future__ import annotations

from typing import Any

from crmcore.errors import CRMError
from crmcore.pipeline.forecast import Forecast, forecast
from crmcore.pipeline.metrics import (
    StageConversion,
    sales_cycle,
    stage_conversion,
    weighted_pipeline,
    win_rate,
)
from crmcore.report._charts import ChartSpec, render_charts
from crmcore.report._data import ReportData
from crmcore.report._format import count, heading, money, number, plural, share, tabular_table
from crmcore.report._model import ReportSection

__all__ = ["pipeline_section"]

TITLE = "Pipeline and forecast"
MONTHS = 3


def _charts(conv: StageConversion, fc: Forecast | None) -> list[ChartSpec | None]:
    return [
        ChartSpec(
            title="Conversion through the funnel",
            alt="Deals reaching each stage and the share that moved on",
            caption="Read: each bar is the deals that reached the stage; the dark part ended won.",
            draw=lambda ax, fn: fn(conv, ax=ax),
            plot=("funnel_conversion",),
        ),
        None
        if fc is None
        else ChartSpec(
            title="Won revenue forecast",
            alt=f"Expected won revenue per month for {MONTHS} months with its band",
            caption="Read: the bar is the expected won revenue of the month, the line its band.",
            draw=lambda ax, fn: fn(fc, ax=ax),
            plot=("forecast",),
        ),
    ]


def pipeline_section(data: ReportData) -> ReportSection:
    """Open pipeline by stage, conversion, win rate, cycle and the forecast."""
    fh = data.pipeline
    if fh is None or data.funnel is None:
        why = data.pipeline_problem or ("no funnel with opportunities is stored")
        return ReportSection(
            id="pipeline",
            title=TITLE,
            sentences=(
                f"There is no sales pipeline to show: {why}.",
                "Store a funnel (crmcore.pipeline.save_funnel) and create opportunities through "
                "it to see the open pipeline, conversion and the forecast here.",
            ),
            available=False,
        )
    wp = weighted_pipeline(fh)
    cur: Any = wp.currency
    conv = stage_conversion(fh)
    wr = win_rate(fh)
    cyc = sales_cycle(fh)
    notes: list[str] = []
    fc: Forecast | None
    try:
        fc = forecast(fh, months=MONTHS)
    except CRMError as e:
        fc = None
        notes.append(f"No forecast: {e}")
    tables = [
        tabular_table(
            wp,
            f"Open pipeline of funnel '{data.funnel.name}' by stage",
            {
                "stage": ("stage", None),
                "count": ("deals", count),
                "total": (heading("amount", cur), lambda v: money(v, None, digits=0)),
                "weighted": (
                    heading("weighted by probability", cur),
                    lambda v: money(v, None, digits=0),
                ),
            },
            rows=[i for i in range(len(wp.stages)) if wp.count[i] > 0] or None,
            note=f"{count(wp.count.sum())} open deals as of {data.as_of}",
        ),
        tabular_table(
            conv,
            "Conversion to the next stage",
            {
                "stage": ("stage", None),
                "reached": ("deals reached", count),
                "rate": ("moved on", share),
            },
        ),
    ]
    if fc is not None:
        tables.append(
            tabular_table(
                fc,
                f"Forecast of won revenue ({share(fc.level, digits=0)} band)",
                {
                    "month": ("month", lambda v: str(v)[:7]),
                    "expected": (heading("expected", cur), lambda v: money(v, None, digits=0)),
                    "low": ("low", lambda v: money(v, None, digits=0)),
                    "high": ("high", lambda v: money(v, None, digits=0)),
                },
                note=f"next {MONTHS} months: {money(fc.total_expected, cur, digits=0)} "
                f"[{money(fc.total_low, cur, digits=0)} .. {money(fc.total_high, cur, digits=0)}]",
            )
        )
    forecast_text = (
        f" and {money(fc.total_expected, cur, digits=0)} is expected to be won in the next "
        f"{MONTHS} months ({money(fc.total_low, cur, digits=0)} to "
        f"{money(fc.total_high, cur, digits=0)})"
        if fc is not None
        else ""
    )
    charts, chart_notes = render_charts(_charts(conv, fc))
    return ReportSection(
        id="pipeline",
        title=TITLE,
        sentences=(
            f"{plural(int(wp.count.sum()), 'open deal')} are worth "
            f"{money(wp.open_total, cur, digits=0)}, {money(wp.weighted_total, cur, digits=0)} "
            f"weighted by their probability{forecast_text}.",
            f"Of the deals decided so far {share(wr.by_count)} were won "
            f"({share(wr.by_value)} by value), after a median sales cycle of "
            f"{number(cyc.median_days, digits=0)} days.",
        ),
        tables=tables,
        highlights=(
            ("open pipeline", money(wp.open_total, cur, digits=0)),
            *(
                [
                    (
                        f"won revenue expected, next {MONTHS} months",
                        money(fc.total_expected, cur, digits=0),
                    )
                ]
                if fc is not None
                else []
            ),
        ),
        charts=charts,
        notes=(*notes, *chart_notes),
    )
