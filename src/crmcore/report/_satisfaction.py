"""Section "Satisfaction and loyalty": NPS and CSAT of the stored survey responses, and how
satisfaction relates to buying again.

Loyalty is observed, not asked: a customer who answered a CSAT question at
least :data:`MIN_DAYS` days before the report's day is *loyal* when she bought
again after answering. Each customer's latest such answer counts. The curve
P(loyal | satisfaction) is fitted by :func:`~crmcore.satisfaction.fit_loyalty`
and the customers are placed in the loyalty quadrants
(:func:`~crmcore.satisfaction.classify_quadrants`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from crmcore.errors import CRMError
from crmcore.report._charts import ChartSpec, render_charts
from crmcore.report._data import ReportData
from crmcore.report._format import count, number, plural, share
from crmcore.report._model import ReportSection, ReportTable
from crmcore.satisfaction.fit import LoyaltyFit, fit_loyalty
from crmcore.satisfaction.quadrants import classify_quadrants
from crmcore.valuation.economics.csat import csat
from crmcore.valuation.economics.nps import nps

__all__ = ["satisfaction_section"]

TITLE = "Satisfaction and loyalty"
MIN_DAYS = 90
MIN_ANSWERS = 30


def _loyalty(data: ReportData) -> tuple[Any, Any] | None:
    """(satisfaction, bought again) per customer with a CSAT answer old enough, or None."""
    cutoff = data.end - timedelta(days=MIN_DAYS)
    latest: dict[str, tuple[Any, int]] = {}
    for r in data.surveys:
        if r.csat is not None and r.responded_at < cutoff:
            seen = latest.get(r.customer_id)
            if seen is None or r.responded_at > seen[0]:
                latest[r.customer_id] = (r.responded_at, r.csat)
    if not latest:
        return None
    log = data.log
    ids = [str(c) for c in log.customer_ids.tolist()]
    last = np.full(len(ids), np.datetime64("NaT", "us"))
    if len(log):
        order = np.lexsort((log.time, log.customer))
        ends = np.r_[np.flatnonzero(np.diff(log.customer[order])), len(order) - 1]
        last[log.customer[order][ends]] = log.time[order][ends]
    index = {c: i for i, c in enumerate(ids)}
    sat, loyal = [], []
    for cid, (at, score) in latest.items():
        i = index.get(cid)
        when = np.datetime64(at.replace(tzinfo=None), "us")
        sat.append(score)
        loyal.append(i is not None and not np.isnat(last[i]) and bool(last[i] > when))
    return np.array(sat, dtype=np.int64), np.array(loyal, dtype=bool)


def _chart(fit: LoyaltyFit | None, sat: Any, loyal: Any) -> ChartSpec | None:
    if fit is None:
        return None
    return ChartSpec(
        title="Satisfaction and buying again",
        alt="Fitted probability of buying again by satisfaction level, with observed rates",
        caption="Read: the steeper the curve between 4 and 5, the more it pays to turn "
        "satisfied customers into very satisfied ones.",
        draw=lambda ax, fn: fn(fit, satisfaction=sat, outcome=loyal, ax=ax),
        plot=("loyalty_curves",),
    )


def satisfaction_section(data: ReportData) -> ReportSection:
    """NPS, CSAT, P(loyal) by satisfaction, loyalty quadrants."""
    scores = np.array([r.nps for r in data.surveys if r.nps is not None], dtype=np.int64)
    answers = np.array([r.csat for r in data.surveys if r.csat is not None], dtype=np.int64)
    if not len(scores) and not len(answers):
        return ReportSection(
            id="satisfaction",
            title=TITLE,
            sentences=(
                f"No survey responses are stored up to {data.as_of}, so satisfaction and "
                "loyalty cannot be shown.",
                "Store survey answers (crmcore.model.SurveyResponse with csat 1-5 and/or nps "
                "0-10) to see NPS, CSAT and how satisfaction drives repurchase.",
            ),
            available=False,
        )
    rows: list[tuple[str, str]] = []
    sentences: list[str] = []
    highlights: list[tuple[str, str]] = []
    if len(scores):
        r = nps(scores)
        rows += [
            ("NPS answers", count(len(scores))),
            ("NPS", f"{r.points:+.0f} (95% interval {100 * r.low:+.0f} to {100 * r.high:+.0f})"),
            (
                "promoters / passives / detractors",
                f"{share(r.promoters, digits=0)} / {share(r.passives, digits=0)} / "
                f"{share(r.detractors, digits=0)}",
            ),
        ]
        highlights.append(("NPS", f"{r.points:+.0f}"))
        sentences.append(
            f"The NPS is {r.points:+.0f} from {plural(len(scores), 'answer')}: "
            f"{share(r.promoters, digits=0)} promoters against {share(r.detractors, digits=0)} "
            "detractors."
        )
    if len(answers):
        c = csat(answers)
        rows += [
            ("CSAT answers", count(len(answers))),
            ("mean CSAT (1-5)", f"{number(c.mean)} ({number(c.mean_low)}-{number(c.mean_high)})"),
            ("satisfied (4-5)", share(c.top2_box)),
        ]
        highlights.append(("satisfied customers (CSAT 4-5)", share(c.top2_box, digits=0)))
        sentences.append(
            f"Customers rate their satisfaction {number(c.mean, digits=1)} out of 5 on average "
            f"and {share(c.top2_box, digits=0)} of {plural(len(answers), 'answer')} are satisfied "
            "(4 or 5)."
        )
    tables = [
        ReportTable(
            caption="Survey answers", columns=("measure", "value"), rows=rows, numeric=(False, True)
        )
    ]
    notes: list[str] = []
    fit = None
    pair = _loyalty(data)
    if pair is None or len(pair[0]) < MIN_ANSWERS or pair[1].all() or not pair[1].any():
        notes.append(
            f"Loyalty is not fitted: it needs at least {MIN_ANSWERS} customers with a CSAT "
            f"answer {MIN_DAYS}+ days before {data.as_of}, some who bought again and some who "
            f"did not ({0 if pair is None else len(pair[0])} such customers)."
        )
    else:
        sat, loyal = pair
        try:
            fit = fit_loyalty(sat, loyal)
        except CRMError as e:
            notes.append(f"Loyalty could not be fitted: {e}")
        levels = np.arange(1, 6)
        fitted = fit.model.curve(0.0).probabilities() if fit is not None else None
        tables.append(
            ReportTable(
                caption="Buying again by satisfaction",
                columns=("satisfaction", "customers", "bought again", "fitted P(loyal)"),
                rows=[
                    (
                        str(k),
                        count((sat == k).sum()),
                        share(loyal[sat == k].mean()) if (sat == k).any() else "-",
                        share(fitted[k - 1]) if fitted is not None else "-",
                    )
                    for k in levels
                ],
                numeric=(False, True, True, True),
                note=f"each customer's latest CSAT answer at least {MIN_DAYS} days old; "
                "bought again = a purchase after answering",
            )
        )
        q = classify_quadrants(sat, loyal.astype(float)).counts()
        tables.append(
            ReportTable(
                caption="Loyalty quadrants",
                columns=("quadrant", "customers"),
                rows=[(k, count(v)) for k, v in q.items()],
                numeric=(False, True),
                note="satisfied = 4-5; loyal = bought again",
            )
        )
        sat_rate = loyal[sat >= 4].mean() if (sat >= 4).any() else float("nan")
        low_rate = loyal[sat <= 3].mean() if (sat <= 3).any() else float("nan")
        sentences.append(
            f"Satisfied customers bought again {share(sat_rate, digits=0)} of the time against "
            f"{share(low_rate, digits=0)} for the others; {count(q.get('hostage', 0))} "
            "dissatisfied customers still buy (hostages) and are at risk."
        )
    charts, chart_notes = render_charts([_chart(fit, *(pair or (None, None)))])
    return ReportSection(
        id="satisfaction",
        title=TITLE,
        sentences=sentences,
        tables=tables,
        charts=charts,
        notes=(*notes, *chart_notes),
        highlights=highlights,
    )
