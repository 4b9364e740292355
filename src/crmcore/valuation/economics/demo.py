"""The unit-economics section of ``python -m crmcore demo``.

Real data: the sBG cohorts of Fader & Hardie (2007) and, when the BG/NBD
model is available, repurchase propensities of the CDNOW customers passed
in. Everything else (spend table, acquisitions, margins, campaign counts,
survey answers) is a seeded **synthetic** data set, labelled as such.

>>> from crmcore.datasets import load_cdnow_sample
>>> lines: list[str] = []
>>> demo(lines.append, transactions=load_cdnow_sample())
>>> any("synthetic" in line.lower() for line in lines), len(lines) <= 40
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from crmcore._demo import check_demo_args
from crmcore.datasets import SBG_COHORTS
from crmcore.tables import TransactionLog
from crmcore.valuation.economics.acquisition import SpendTable, acquisition_cost
from crmcore.valuation.economics.clv import (
    repurchase_propensity,
    retention_clv,
    retention_what_if,
)
from crmcore.valuation.economics.csat import csat
from crmcore.valuation.economics.nps import compare_nps, nps, nps_by_group
from crmcore.valuation.economics.ratios import cac_payback, clv_to_cac
from crmcore.valuation.economics.response import compare_response
from crmcore.valuation.economics.sbg import fit_sbg

__all__ = ["demo"]

_CHANNELS = ("affiliate", "email", "search", "social")
#                       affiliate email search social
_MONTHLY_MARGIN = np.array([22.0, 30.0, 26.0, 18.0])
_MONTHLY_RETENTION = np.array([0.90, 0.95, 0.93, 0.80])
_SPEND_PER_MONTH = np.array([9000.0, 2500.0, 16000.0, 12000.0])


def _sbg(write: Callable[[str], None]) -> None:
    write("Contractual retention, sBG on the published cohorts (Fader & Hardie 2007):")
    for name, counts in SBG_COHORTS.items():
        m = fit_sbg(counts)
        proj = m.project(1000, 12)
        derl = float(m.discounted_residual_lifetime([7], 0.10)[0])
        write(
            f"  {name:<8} alpha {m.alpha:.3f} (se {m.alpha_se:.3f})  beta {m.beta:.3f} "
            f"(se {m.beta_se:.3f})  year-12 survivors {proj[12]:.0f}/1000  "
            f"DERL(7 renewals, d=10%) {derl:.2f} years"
        )


def _unit_economics(write: Callable[[str], None], rng: np.random.Generator) -> None:
    write("Unit economics on a seeded SYNTHETIC spend table (6 months, 4 channels + brand):")
    months = np.datetime64("2025-01", "M") + np.arange(6)
    n = 4000
    ch_idx = rng.choice(4, size=n, p=[0.15, 0.15, 0.45, 0.25])
    channels = np.array(_CHANNELS)[ch_idx]
    periods = months[rng.integers(0, 6, n)]
    spend = SpendTable.from_arrays(
        channel=[*np.repeat(_CHANNELS, 6), *["unattributed"] * 6],
        period=[*np.tile(months, 4), *months],
        amount=[*np.repeat(_SPEND_PER_MONTH, 6) * rng.uniform(0.8, 1.2, 24), *[3000.0] * 6],
    )
    report = acquisition_cost(spend, channels, periods, unattributed="spread")
    margin = _MONTHLY_MARGIN[ch_idx] * rng.gamma(4.0, 0.25, n)
    clv = np.asarray(retention_clv(margin, _MONTHLY_RETENTION[ch_idx], 0.01))
    ratio = clv_to_cac(report, clv)
    bc, rc = report.by_channel, ratio.by_channel
    pay = cac_payback(bc.cac, _MONTHLY_MARGIN, retention=_MONTHLY_RETENTION, discount=0.01)
    write(f"  blended CAC {report.blended:.2f}; brand spend spread by customers acquired")
    assert bc.channel is not None  # a per-channel table always names its channels
    for i, name in enumerate(bc.channel):
        months_txt = f"{pay.months[i]:5.1f} months" if pay.recovered[i] else "never"
        flag = "  <- CLV < CAC" if rc.flagged[i] else ""
        write(
            f"  {name:<9} CAC {bc.cac[i]:7.2f}  mean CLV {rc.mean_clv[i]:7.2f}  "
            f"CLV:CAC {rc.ratio[i]:5.2f}  payback {months_txt}{flag}"
        )
    write(
        f"  customers with CLV < CAC of their cell: {int(ratio.customer_flag.sum())} of {n}; "
        f"cohort CAC range {np.nanmin(report.by_period.cac):.2f}-"
        f"{np.nanmax(report.by_period.cac):.2f}"
    )
    w = retention_what_if(_MONTHLY_MARGIN, _MONTHLY_RETENTION, 0.01, bc.customers, points=2)
    write(
        f"  what-if +2 points of monthly retention: CLV +{100 * w.relative_change.min():.0f}% to "
        f"+{100 * w.relative_change.max():.0f}% per channel, "
        f"profit +{w.total_effect:,.0f} on these cohorts"
    )
    for kind, (k, n_contacts) in {"mass": (310, 10_000), "one_to_one": (35, 300)}.items():
        c = compare_response(k, n_contacts, kind)
        write(
            f"  {kind} campaign: response {100 * c.rate:.1f}% "
            f"[{100 * c.low:.1f}, {100 * c.high:.1f}] vs typical "
            f"{100 * c.range_low:.0f}-{100 * c.range_high:.0f}% -> {c.verdict}"
        )


def _survey(write: Callable[[str], None], rng: np.random.Generator) -> None:
    write("NPS and CSAT on a seeded SYNTHETIC survey (1,200 answers, 3 segments, 2 quarters):")
    seg_names = np.array(["enterprise", "smb", "consumer"])
    seg = rng.integers(0, 3, 1200)
    quarter = np.where(rng.random(1200) < 0.5, "2025-Q1", "2025-Q2")
    shift = np.array([1.2, 0.4, -0.6])[seg] + np.where(quarter == "2025-Q2", 0.5, 0.0)
    scores = np.clip(np.rint(rng.normal(7.3 + shift, 2.0)), 0, 10).astype(np.int64)
    sat = np.clip(np.rint(rng.normal(3.7 + shift / 2, 0.9)), 1, 5).astype(np.int64)
    r = nps(scores)
    write(
        f"  NPS {r.points:+.1f} (95% adjusted-Wald [{100 * r.low:+.1f}, {100 * r.high:+.1f}]); "
        f"promoters {100 * r.promoters:.0f}%, passives {100 * r.passives:.0f}%, "
        f"detractors {100 * r.detractors:.0f}%"
    )
    t = nps_by_group(scores, seg_names[seg])
    write(
        "  by segment: "
        + "; ".join(
            f"{t.labels[i]} {100 * t.score[i]:+.0f} [{100 * t.low[i]:+.0f}, {100 * t.high[i]:+.0f}]"
            for i in range(len(t))
        )
    )
    q1, q2 = nps(scores[quarter == "2025-Q1"]), nps(scores[quarter == "2025-Q2"])
    c = compare_nps(q1, q2)
    write(
        f"  Q1 -> Q2: {q1.points:+.1f} -> {q2.points:+.1f}, change {100 * c.difference[0]:+.1f} "
        f"points, p {'< 0.001' if c.p_value[0] < 0.001 else f'= {c.p_value[0]:.3f}'}"
    )
    s = csat(sat)
    write(
        f"  CSAT mean {s.mean:.2f} [{s.mean_low:.2f}, {s.mean_high:.2f}], top-2-box "
        f"{100 * s.top2_box:.0f}% [{100 * s.top2_box_low:.0f}, {100 * s.top2_box_high:.0f}]"
    )


def _propensity(write: Callable[[str], None], transactions: TransactionLog) -> None:
    try:
        from crmcore.valuation.btyd import fit_bgnbd
        from crmcore.valuation.btyd.summary import summarize_transactions
    except ImportError:  # the purchase models live in another package; optional here
        return
    s = summarize_transactions(transactions, time_unit="W", calibration_end="1997-09-30")
    model = fit_bgnbd(s.frequency, s.recency, s.T)
    p = repurchase_propensity(model, 13.0, s.frequency, s.recency, s.T)
    write(
        f"Repurchase propensity (CDNOW, BG/NBD, next 13 weeks after 1997-09-30): mean "
        f"{p.mean():.2f}; {int((p >= 0.5).sum())} of {len(p)} customers >= 0.5, "
        f"{int((p < 0.1).sum())} below 0.1"
    )


def demo(write: Callable[[str], None], *, transactions: TransactionLog) -> None:
    """Print the unit-economics, retention and survey section of the demo through ``write``."""
    check_demo_args(write, transactions)
    rng = np.random.default_rng(2025)
    _sbg(write)
    _unit_economics(write, rng)
    _survey(write, rng)
    _propensity(write, transactions)
