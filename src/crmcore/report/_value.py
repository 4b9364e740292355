"""Section "Customer value": BG/NBD + Gamma-Gamma CLV, P(alive), top customers, CLV vs CAC.

The models are those of the demo (:mod:`crmcore.valuation.btyd`): BG/NBD for
purchases, Gamma-Gamma for spend, weekly time, 12 months of CLV discounted at
1% a month. CAC comes from cost entries of category ``acquisition``
(channel from the entry, cohort from the entry's month) through
:func:`~crmcore.valuation.economics.acquisition_cost` and
:func:`~crmcore.valuation.economics.clv_to_cac`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crmcore.errors import CRMError
from crmcore.report._charts import ChartSpec, render_charts
from crmcore.report._data import ReportData
from crmcore.report._format import count, heading, money, number, plural, share, tabular_table
from crmcore.report._model import ReportSection, ReportTable
from crmcore.valuation.btyd.bgnbd import BGNBDModel, fit_bgnbd
from crmcore.valuation.btyd.clv import customer_lifetime_value
from crmcore.valuation.btyd.gamma_gamma import fit_gamma_gamma
from crmcore.valuation.btyd.summary import RFMSummary, summarize_transactions
from crmcore.valuation.economics.acquisition import SpendTable, acquisition_cost
from crmcore.valuation.economics.ratios import clv_to_cac

__all__ = ["value_section"]

TITLE = "Customer value: CLV, P(alive), top customers, CLV vs CAC"
HORIZON_MONTHS = 12
DISCOUNT = 0.01
WEEKS_PER_YEAR = 365.2425 / 7
GONE = 0.2
NO_CHANNEL = "(no channel)"
_BANDS = (
    (0.0, 0.2, "below 0.2 (probably gone)"),
    (0.2, 0.5, "0.2-0.5"),
    (0.5, 0.8, "0.5-0.8"),
    (0.8, 1.01, "0.8 and above (active)"),
)


def _unavailable(sentences: tuple[str, str]) -> ReportSection:
    return ReportSection(id="value", title=TITLE, sentences=sentences, available=False)


def _cac(
    data: ReportData, summary: RFMSummary, clv: Any, cur: str | None
) -> tuple[list[ReportTable], str]:
    entries, other = data.costs_in(cur, lambda c: c.category == "acquisition")
    if not entries:
        if other:
            return [], (
                f"The {plural(other, 'acquisition cost')} stored are in another currency than "
                f"the purchases ({cur}), so CLV is not compared with CAC."
            )
        return [], (
            "No acquisition costs are stored (cost entries of category 'acquisition'), "
            "so CLV is not compared with CAC."
        )
    index = {str(c): i for i, c in enumerate(summary.customer_ids.tolist())}
    first: dict[str, tuple[str, str]] = {}
    for e in sorted(entries, key=lambda e: e.incurred_at):
        first.setdefault(e.customer_id, (e.channel or NO_CHANNEL, e.incurred_at.strftime("%Y-%m")))
    known = [cid for cid in first if cid in index]
    if not known:
        return [], "The acquisition costs stored name no customer who bought: CLV vs CAC not shown."
    spend = SpendTable.from_arrays(
        channel=[e.channel or NO_CHANNEL for e in entries],
        period=[e.incurred_at.strftime("%Y-%m") for e in entries],
        amount=[float(e.amount.amount) for e in entries],
    )
    channels = [first[c][0] for c in known]
    periods = [first[c][1] for c in known]
    try:  # every entry names its customer: no shared spend to spread
        report = acquisition_cost(spend, channels, periods, zero_customers="flag")
        ratio = clv_to_cac(report, np.asarray(clv)[[index[c] for c in known]])
    except CRMError as e:
        return [], f"CLV could not be compared with CAC: {e}"
    note = "CAC from cost entries of category 'acquisition'; CLV over the next 12 months"
    table = tabular_table(
        ratio.by_channel,
        "CLV vs CAC by acquisition channel",
        {
            "channel": ("channel", None),
            "customers": ("customers", count),
            "mean_clv": (heading("mean CLV", cur), number),
            "cac": (heading("CAC", cur), number),
            "ratio": ("CLV:CAC", number),
            "flagged_customers": ("customers with CLV < CAC", count),
        },
        note=note
        + (f"; {plural(other, 'entry', 'entries')} in another currency left out" if other else ""),
    )
    flagged = int(ratio.customer_flag.sum())
    text = (
        f"Of {plural(len(known), 'customer')} with an acquisition cost, {count(flagged)} "
        f"({share(flagged / len(known))}) are expected to bring less in 12 months than they cost; "
        f"the blended CLV:CAC is {number(ratio.blended_ratio)}."
    )
    return [table], text


def _charts(model: BGNBDModel, summary: RFMSummary) -> list[ChartSpec | None]:
    return [
        ChartSpec(
            title="P(alive) by frequency and recency",
            alt="Heat map of the probability that a customer is still active, by number of "
            "repeat purchases and the time of the last one",
            caption="Read: customers who bought often but not for a long time (bottom right) "
            "are probably gone; recent buyers (top) are active.",
            draw=lambda ax, fn: fn(model, summary, ax=ax),
            plot=("probability_alive_matrix",),
        ),
        ChartSpec(
            title="Does the model fit? Customers by repeat purchases, actual vs model",
            alt="Bars of customers with 0, 1, 2 ... repeat purchases, actual beside the "
            "number the fitted BG/NBD model expects",
            caption="Read: pairs of bars of the same height mean the model reproduces how "
            "often customers buy, so its CLV and P(alive) can be trusted.",
            draw=lambda ax, fn: fn(model, summary, ax=ax),
            plot=("period_transactions",),
        ),
    ]


def value_section(data: ReportData) -> ReportSection:
    """CLV and P(alive) per customer from the fitted models, the top customers, CLV vs CAC."""
    log = data.log
    cur = log.currency
    if not len(log):
        return _unavailable(
            (
                "There are no transactions, so no customer value can be estimated.",
                "Import purchases to see CLV, P(alive) and the top customers.",
            )
        )
    try:
        summary = summarize_transactions(log, time_unit="W", observation_end=str(data.as_of))
    except CRMError as e:
        return _unavailable(
            (
                f"No customer value can be estimated: {e}.",
                "CLV and P(alive) need purchases (refunds alone are not modelled).",
            )
        )
    x = summary.frequency
    repeat = x > 0
    try:  # a fit, or predictions from parameters at the edge of floating point, can fail
        bg = fit_bgnbd(summary)
        gg = fit_gamma_gamma(x[repeat], summary.monetary_value[repeat])
        alive = bg.probability_alive(summary)
        clv = customer_lifetime_value(
            bg, gg, summary, horizon=HORIZON_MONTHS, discount_rate=DISCOUNT, time_unit="W"
        )
        next_year = bg.conditional_expected_purchases(WEEKS_PER_YEAR, summary)
    except CRMError as e:
        return _unavailable(
            (
                f"The purchase models could not be used on these {plural(len(summary), 'customer')} "
                f"({plural(int(repeat.sum()), 'repeat buyer')}): {e}",
                "CLV and P(alive) need a few hundred customers, a good share of them repeat buyers.",
            )
        )
    order = np.argsort(-clv, kind="stable")
    top = order[:10]
    total = float(clv.sum())
    top_share = (
        float(clv[order[: max(1, len(order) // 10)]].sum()) / total if total > 0 else float("nan")
    )
    weeks_since = summary.T - summary.recency
    top_table = ReportTable(
        caption="Top 10 customers by 12-month CLV",
        columns=(
            "customer",
            "purchases",
            "weeks since last",
            "P(alive)",
            "expected purchases next year",
            heading("mean order", cur),
            heading("12-month CLV", cur),
        ),
        rows=[
            (
                str(summary.customer_ids[i]),
                count(x[i] + 1),
                number(weeks_since[i], digits=0),
                number(alive[i]),
                number(next_year[i]),
                money(summary.monetary_value[i] if x[i] > 0 else float("nan"), None),
                money(clv[i], None),
            )
            for i in top.tolist()
        ],
        numeric=(False, True, True, True, True, True, True),
        note=f"BG/NBD + Gamma-Gamma fitted on all {len(summary):,} customers, "
        f"{HORIZON_MONTHS} months discounted at {DISCOUNT:.0%} a month",
    )
    band_rows = []
    for lo, hi, label in _BANDS:
        sel = (alive >= lo) & (alive < hi)
        band_rows.append((label, count(sel.sum()), share(sel.mean()), money(clv[sel].sum(), None)))
    bands = ReportTable(
        caption="Customers by P(alive)",
        columns=("P(alive)", "customers", "share", heading("12-month CLV", cur)),
        rows=band_rows,
        numeric=(False, True, True, True),
    )
    gone = repeat & (alive < GONE)
    past = np.bincount(log.customer, weights=log.signed_amount(), minlength=log.n_customers)
    gone_revenue = float(past[gone].sum()) if len(past) == len(alive) else float("nan")
    cac_tables, cac_text = _cac(data, summary, clv, cur)
    charts, notes = render_charts(_charts(bg, summary))
    return ReportSection(
        id="value",
        title=TITLE,
        sentences=(
            f"The {plural(len(summary), 'customer')} are expected to bring {money(total, cur, digits=0)} "
            f"over the next {HORIZON_MONTHS} months; the top 10% of them hold {share(top_share)} "
            "of that value.",
            f"{count(gone.sum())} of {count(repeat.sum())} repeat buyers ({share(gone.sum() / max(repeat.sum(), 1))}) "
            f"have probably stopped buying (P(alive) below {GONE}); they brought "
            f"{money(gone_revenue, cur, digits=0)} so far.",
            cac_text,
        ),
        tables=(top_table, bands, *cac_tables),
        highlights=(
            (f"expected in the next {HORIZON_MONTHS} months (CLV)", money(total, cur, digits=0)),
            ("repeat buyers probably gone", share(gone.sum() / max(repeat.sum(), 1), digits=0)),
        ),
        charts=charts,
        notes=notes,
    )
