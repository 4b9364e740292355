"""Section "Alerts": customer-state alerts by rule and by owner, the latest ones.

The alerts are those stored (:class:`~crmcore.anomaly.AlertStore`); where
none are stored, the stored rule sets are run over the transactions
(:func:`~crmcore.anomaly.detect`); where there is no rule set either, the
demo's starter rules (:data:`crmcore.anomaly.demo.DEMO_RULES`) are run and the
section says so.
"""

from __future__ import annotations

from datetime import timedelta

from crmcore.anomaly.alerts import Alert, summarize
from crmcore.anomaly.batch import detect
from crmcore.anomaly.demo import DEMO_RULES
from crmcore.report._charts import ChartSpec, render_charts
from crmcore.report._data import ReportData
from crmcore.report._format import count, number, plural, share
from crmcore.report._model import ReportSection, ReportTable

__all__ = ["alerts_section"]

TITLE = "Alerts"
LATEST = 10
RECENT_DAYS = 90


def _alerts(data: ReportData) -> tuple[list[Alert], str]:
    if data.alerts:
        return data.alerts, f"the {plural(len(data.alerts), 'stored alert')}"
    if not len(data.log):
        return [], ""
    if data.rulesets:
        found: list[Alert] = []
        for rs in data.rulesets:
            found += detect(data.log, rs).alerts()
        names = ", ".join(f"'{rs.name}'" for rs in data.rulesets)
        return found, f"the stored rule set(s) {names} run over the transactions"
    return detect(data.log, DEMO_RULES).alerts(), (
        f"no rule set is stored: the demo's starter rules '{DEMO_RULES.name}' "
        f"({len(DEMO_RULES.rules)} rules) run over the transactions"
    )


def _chart(alerts: list[Alert]) -> ChartSpec:
    return ChartSpec(
        title="Alerts over time by rule",
        alt="Alerts per period, stacked by rule",
        caption="Read: a rising band is a rule firing more often; look at its latest alerts below.",
        draw=lambda ax, fn: fn(alerts, ax=ax),
        plot=("alerts_over_time",),
    )


def alerts_section(data: ReportData) -> ReportSection:
    """Counts by rule and owner, the recent trend and the latest alerts with their reasons."""
    alerts, source = _alerts(data)
    if not alerts:
        return ReportSection(
            id="alerts",
            title=TITLE,
            sentences=(
                "There are no alerts to show"
                + (f" ({source} found none)." if source else ": there are no transactions."),
                "Store a rule set (crmcore.anomaly.save_ruleset) and run it to route unusual "
                "customer behaviour to its owner.",
            ),
            available=False,
        )
    end = data.end
    s = summarize(alerts, end=end)
    recent = summarize(alerts, start=end - timedelta(days=RECENT_DAYS), end=end)
    earlier = summarize(
        alerts, start=end - timedelta(days=2 * RECENT_DAYS), end=end - timedelta(days=RECENT_DAYS)
    )
    by_rule = ReportTable(
        caption="Alerts by rule",
        columns=("rule", "alerts", f"last {RECENT_DAYS} days"),
        rows=[(k, count(v), count(recent.by_rule.get(k, 0))) for k, v in s.by_rule.items()],
        numeric=(False, True, True),
    )
    by_owner = ReportTable(
        caption="Alerts by owner or queue",
        columns=("owner", "alerts", "open"),
        rows=[
            (k, count(v), count(sum(1 for a in alerts if a.routed_to == k and a.status == "open")))
            for k, v in s.by_owner.items()
        ],
        numeric=(False, True, True),
    )
    latest = sorted(alerts, key=lambda a: (a.occurred_at, a.id), reverse=True)[:LATEST]
    last = ReportTable(
        caption=f"The {len(latest)} latest alerts",
        columns=("when", "customer", "rule", "owner", "why"),
        rows=[
            (a.occurred_at.strftime("%Y-%m-%d"), a.customer_id, a.rule, a.routed_to, a.explanation)
            for a in latest
        ],
    )
    top_rule, top_n = max(s.by_rule.items(), key=lambda kv: kv[1])
    change = (
        f"{count(recent.total)} in the last {RECENT_DAYS} days against {count(earlier.total)} in "
        f"the {RECENT_DAYS} days before"
    )
    charts, notes = render_charts([_chart(alerts)])
    return ReportSection(
        id="alerts",
        title=TITLE,
        sentences=(
            f"{plural(s.total, 'alert')} concern {plural(s.customers, 'customer')} "
            f"({share(s.customers / max(data.log.n_customers, 1))} of the base); "
            f"'{top_rule}' raises the most ({share(top_n / s.total, digits=0)}).",
            f"The trend: {change}"
            + (
                f" ({number(100 * (recent.total / earlier.total - 1), digits=0)}%)."
                if earlier.total
                else "."
            ),
        ),
        tables=(by_rule, by_owner, last),
        highlights=((f"alerts in the last {RECENT_DAYS} days", count(recent.total)),),
        charts=charts,
        notes=(f"Source: {source}.", *notes),
    )
