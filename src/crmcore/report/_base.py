"""Section "The customer base and data quality"."""

from __future__ import annotations

from typing import Any

import numpy as np

from crmcore.model.transaction import TransactionKind
from crmcore.report._charts import ChartSpec, render_charts
from crmcore.report._data import ReportData
from crmcore.report._format import count, money, plural, share
from crmcore.report._model import ReportSection, ReportTable

__all__ = ["base_section"]

_KINDS = [k.value for k in TransactionKind]


def _monthly(data: ReportData) -> ChartSpec:
    log = data.log
    months = log.time.astype("datetime64[M]")
    lo, hi = months.min(), months.max()
    grid = np.arange(lo, hi + 1)
    revenue = np.bincount(
        (months - lo).astype(np.int64), weights=log.signed_amount(), minlength=len(grid)
    )
    cur = log.currency or "amount"

    def draw(ax: object, _: object) -> None:
        from matplotlib.ticker import FuncFormatter

        a: Any = ax
        x = np.arange(len(grid))
        a.bar(x, revenue, color="#4c72b0", width=0.8)
        step = max(1, len(grid) // 12)
        a.set_xticks(x[::step], [str(m) for m in grid[::step]], rotation=45, ha="right")
        a.set_ylabel(f"Revenue ({cur})")
        a.set_xlabel("Month")
        a.set_title("Revenue per month, net of refunds")
        a.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        a.grid(axis="y", alpha=0.3)
        a.spines[["top", "right"]].set_visible(False)

    return ChartSpec(
        title="Revenue per month",
        alt=f"Bar chart of revenue per month from {lo} to {hi}",
        caption=f"Read: each bar is one month's revenue ({lo} to {hi}); a falling trend after the "
        "first months is usual for a cohort of new customers.",
        draw=draw,
    )


def base_section(data: ReportData) -> ReportSection:
    """Size of the base, revenue, repeat buying, and what in the data needs a look."""
    log = data.log
    cur = log.currency
    title = "The customer base and data quality"
    if not len(log):
        return ReportSection(
            id="base",
            title=title,
            sentences=(
                f"The database holds {plural(data.stored_customers, 'customer')} and no "
                f"transaction up to {data.as_of}.",
                "Every section that reads purchases is empty until transactions are imported "
                "(crmcore import transactions FILE --db URL).",
            ),
            available=False,
        )
    n = log.n_customers
    per = np.bincount(log.customer, minlength=n)
    revenue = np.bincount(log.customer, weights=log.signed_amount(), minlength=n)
    kinds = np.bincount(log.kind, minlength=len(_KINDS))
    repeat = int((per > 1).sum())
    first, last = (str(t) for t in (log.time.min().astype("M8[D]"), log.time.max().astype("M8[D]")))
    total = float(revenue.sum())
    facts = ReportTable(
        caption="The customer base",
        columns=("measure", "value"),
        rows=(
            ("customers who bought", count(n)),
            ("customers stored", count(data.stored_customers)),
            ("transactions", count(len(log))),
            ("first / last transaction", f"{first} .. {last}"),
            ("revenue (net of refunds)", money(total, cur)),
            ("repeat buyers", f"{count(repeat)} ({share(repeat / n)})"),
            ("mean revenue per customer", money(total / n, cur)),
            ("median transactions per customer", f"{float(np.median(per)):.0f}"),
        ),
        numeric=(False, True),
    )
    no_purchase = max(data.stored_customers - n, 0)
    zero = int((log.amount == 0).sum())
    negative = int((revenue < 0).sum())
    refunds = int(kinds[_KINDS.index("refund")])
    checks = (
        ("stored customers without a transaction", no_purchase),
        ("transactions with amount 0", zero),
        ("refunds", refunds),
        ("customers with negative net revenue", negative),
        (f"transactions dated after {data.as_of} (left out)", data.later_transactions),
    )
    quality = ReportTable(
        caption="Data quality checks",
        columns=("check", "count"),
        rows=tuple((name, count(k)) for name, k in checks),
        numeric=(False, True),
    )
    found = [f"{count(k)} {name}" for name, k in checks if k]
    charts, notes = render_charts([_monthly(data)])
    return ReportSection(
        id="base",
        title=title,
        sentences=(
            f"{count(n)} customers made {count(len(log))} transactions between {first} and "
            f"{last} for {money(total, cur)}; {share(repeat / n)} of them bought more than once.",
            (
                "Data quality: " + "; ".join(found) + "."
                if found
                else "Data quality: every stored customer has a transaction, no zero amounts, "
                "refunds or later-dated rows were found."
            ),
        ),
        tables=(facts, quality),
        highlights=(("customers", count(n)), ("revenue to date", money(total, cur, digits=0))),
        charts=charts,
        notes=notes,
    )
