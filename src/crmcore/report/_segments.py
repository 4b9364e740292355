"""Section "Segments and profitability": concentration, RFM segments, customer profitability.

The analyses of the demo (:mod:`crmcore.segmentation`): concentration of
revenue (top shares, Gini), RFM quintile segments as of the report's day,
and, where cost entries are stored, per-customer profitability (cost of goods
from entries of category ``cost_of_goods``, cost to serve from every other
category but ``acquisition`` and ``marketing``) with its whale curve.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crmcore.arrays import FloatArray
from crmcore.errors import CRMError
from crmcore.model.transaction import TransactionKind
from crmcore.report._charts import ChartSpec, render_charts
from crmcore.report._data import ReportData
from crmcore.report._format import count, heading, money, number, plural, share, tabular_table
from crmcore.report._model import ReportSection, ReportTable
from crmcore.segmentation.concentration import concentration
from crmcore.segmentation.profitability import (
    Profitability,
    customer_profitability,
    entry_costs,
)
from crmcore.segmentation.rfm import RFMScores, RFMSummary, rfm_from_log, segment_table

__all__ = ["segments_section"]

TITLE = "Segments and profitability"
NOT_SERVING = frozenset({"acquisition", "marketing"})


def _profitability(
    data: ReportData, ids: Any, revenue: Any
) -> tuple[Profitability | None, str | None]:
    entries, other = data.costs_in(data.log.currency, lambda c: c.category not in NOT_SERVING)
    if not entries:
        if other:
            return None, (
                f"The {plural(other, 'cost entry', 'cost entries')} stored are in another "
                "currency than the purchases, so profitability is not shown."
            )
        return None, (
            "No cost entries are stored, so profitability is not shown: store cost of goods "
            "and cost-to-serve entries (crmcore.model.CostEntry) to see who earns and who "
            "costs money."
        )
    index = {str(c): i for i, c in enumerate(ids.tolist())}
    kept = [e for e in entries if e.customer_id in index]
    if not kept:
        return None, "The stored cost entries name no customer who bought: profitability not shown."
    n = len(index)
    cust = np.array([index[e.customer_id] for e in kept], dtype=np.int64)
    amount = np.array([float(e.amount.amount) for e in kept])
    goods = np.array([e.category == "cost_of_goods" for e in kept])
    cogs = np.bincount(cust[goods], weights=amount[goods], minlength=n)
    serve = entry_costs(
        cust[~goods],
        np.array([e.category for e in kept], dtype=object)[~goods],
        amount[~goods],
        n_customers=n,
    )
    try:
        return customer_profitability(np.maximum(revenue, 0.0), cogs, serve), None
    except CRMError as e:
        return None, f"Profitability could not be computed from the stored costs: {e}"


def _charts(
    revenue: Any, cur: str | None, scores: RFMScores, p: Profitability | None
) -> list[ChartSpec | None]:
    return [
        ChartSpec(
            title="Concentration of revenue (Lorenz curve)",
            alt="Lorenz curve: share of revenue held by the customers, smallest first",
            caption="Read: the further the curve sags below the diagonal, the more revenue "
            "rests on a few customers.",
            draw=lambda ax, fn: fn(revenue, currency=cur, ax=ax),
            plot=("lorenz_curve",),
        ),
        ChartSpec(
            title="RFM segments",
            alt="Map of the RFM segments by recency and frequency score",
            caption="Read: top right are the best customers (bought recently and often), "
            "bottom left the lost ones.",
            draw=lambda ax, fn: fn(scores, ax=ax),
            plot=("rfm_segments", "rfm_segment_map"),
            size=(7.2, 5.2),
        ),
        None
        if p is None
        else ChartSpec(
            title="Whale curve of customer profit",
            alt="Cumulative profit against customers ranked from most to least profitable",
            caption="Read: the hump above 100% is the profit the loss-making customers take back.",
            draw=lambda ax, fn: fn(p, currency=cur, ax=ax),
            plot=("whale_curve",),
        ),
    ]


def _unavailable(*sentences: str) -> ReportSection:
    return ReportSection(id="segments", title=TITLE, sentences=sentences, available=False)


def segments_section(data: ReportData) -> ReportSection:
    """Who brings the revenue, the RFM segments, and who earns or costs money."""
    log = data.log
    if not len(log):
        return _unavailable(
            "There are no transactions, so there is nothing to segment.",
            "Import purchases to see concentration, RFM segments and profitability.",
        )
    if not (log.kind == TransactionKind.PURCHASE.code).any():
        return _unavailable(
            f"There are no purchases up to {data.as_of} (only other kinds of transaction), "
            "so there is nothing to segment.",
            "Concentration, RFM segments and profitability need purchases.",
        )
    try:
        summary, scores = rfm_from_log(log, str(data.as_of))
    except CRMError as e:
        return _unavailable(
            f"The customers could not be scored: {e}",
            "RFM segments need purchases (refunds alone are not scored).",
        )
    revenue = np.asarray(summary.monetary, dtype=np.float64)
    if float(np.maximum(revenue, 0.0).sum()) <= 0:
        return _unavailable(
            f"The purchases up to {data.as_of} add up to no revenue, so there is no revenue "
            "to segment.",
            "Concentration, RFM segments and profitability need purchases with amounts.",
        )
    return _segments(data, summary, scores, revenue)


def _segments(
    data: ReportData, summary: RFMSummary, scores: RFMScores, revenue: FloatArray
) -> ReportSection:
    cur = data.log.currency
    c = concentration(np.maximum(revenue, 0.0))
    k80 = c.customers_for_share(0.8)
    conc = ReportTable(
        caption="Concentration of revenue",
        columns=("top customers", "customers", "share of revenue"),
        rows=[
            (share(x, digits=0), count(max(1, round(x * c.n))), share(c.top_share(x)))
            for x in (0.01, 0.05, 0.10, 0.20, 0.50)
        ],
        numeric=(False, True, True),
        note=f"Gini {number(c.gini(), digits=3)}; 80% of revenue from the top "
        f"{share(k80 / c.n)} of customers",
    )
    segs = segment_table(summary, scores.segments())
    order = np.argsort(-(segs.customers * segs.monetary), kind="stable")
    rfm = tabular_table(
        segs,
        f"RFM segments as of {data.as_of}",
        {
            "segment": ("segment", None),
            "customers": ("customers", count),
            "recency": ("days since last purchase", lambda v: number(v, digits=0)),
            "frequency": ("purchases", lambda v: number(v, digits=1)),
            "monetary": (heading("revenue per customer", cur), number),
        },
        rows=order,
        note="quintile scores of recency, frequency and revenue; ordered by segment revenue",
    )
    seg_revenue = segs.customers * segs.monetary
    best = int(order[0])
    p, problem = _profitability(data, summary.customer_ids, revenue)
    tables = [conc, rfm]
    sentences = [
        f"The top 20% of customers bring {share(c.top_share(0.2))} of revenue and 80% of it "
        f"comes from {plural(k80, 'customer')} ({share(k80 / c.n)}); the Gini index is "
        f"{number(c.gini(), digits=2)}.",
        f"The '{segs.segments[best]}' segment brings the most revenue: "
        f"{plural(int(segs.customers[best]), 'customer')} with "
        f"{share(seg_revenue[best] / max(float(seg_revenue.sum()), 1e-300))} of it.",
    ]
    if p is not None:
        rows = p.quantile_table(5)
        tables.append(
            ReportTable(
                caption="Profitability by profit quintile (1 = most profitable)",
                columns=(
                    "quintile",
                    "customers",
                    heading("revenue", cur),
                    heading("cost", cur),
                    heading("profit", cur),
                ),
                rows=[
                    (
                        str(r.group),
                        count(r.customers),
                        money(r.revenue, None, digits=0),
                        money(r.cost, None, digits=0),
                        money(r.profit, None, digits=0),
                    )
                    for r in rows
                ],
                numeric=(False, True, True, True, True),
            )
        )
        try:
            w = p.whale_curve()
            sentences.append(
                f"Profit peaks at {share(w.peak_share, digits=0)} of the total with the top "
                f"{share(w.peak_fraction)} of customers; the {count(w.loss_customers)} "
                f"loss-making customers take back {money(-w.loss, cur)}."
            )
        except CRMError as e:
            sentences.append(f"The whale curve is undefined here: {e}")
    charts, notes = render_charts(_charts(np.maximum(revenue, 0.0), cur, scores, p))
    return ReportSection(
        id="segments",
        title=TITLE,
        sentences=sentences,
        tables=tables,
        highlights=(("revenue from the top 20% of customers", share(c.top_share(0.2), digits=0)),),
        charts=charts,
        notes=(*(n for n in [problem] if n), *notes),
    )
