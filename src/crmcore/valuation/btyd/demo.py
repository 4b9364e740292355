"""The customer-lifetime-value section of ``python -m crmcore demo``.

>>> from crmcore.datasets import load_cdnow_sample
>>> lines: list[str] = []
>>> demo(lines.append, transactions=load_cdnow_sample())
>>> lines[0]
'== Customer lifetime value: buy-till-you-die models on CDNOW =='
>>> len(lines) <= 40
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from crmcore._demo import check_demo_args
from crmcore.tables import TransactionLog
from crmcore.valuation.btyd.bgnbd import fit_bgnbd
from crmcore.valuation.btyd.clv import customer_lifetime_value
from crmcore.valuation.btyd.gamma_gamma import fit_gamma_gamma
from crmcore.valuation.btyd.pareto_nbd import fit_pareto_nbd
from crmcore.valuation.btyd.summary import summarize_transactions

__all__ = ["demo"]


def demo(write: Callable[[str], None], *, transactions: TransactionLog) -> None:
    """Fit on the CDNOW calibration weeks 1-39, compare with the holdout weeks 40-78, rank customers."""
    check_demo_args(write, transactions)
    write("== Customer lifetime value: buy-till-you-die models on CDNOW ==")
    s = summarize_transactions(
        transactions, time_unit="W", calibration_end="1997-09-30", observation_end="1998-06-30"
    )
    assert s.holdout_frequency is not None and s.holdout_duration is not None
    x, tx, T = s.frequency, s.recency, s.T
    write(
        f"{len(s)} customers, {int(x.sum())} repeat purchases in weeks 1-39, "
        f"{int(s.holdout_frequency.sum())} in weeks 40-78"
    )
    bg = fit_bgnbd(x, tx, T)
    pn = fit_pareto_nbd(x, tx, T)
    rep = x > 0
    gg = fit_gamma_gamma(x[rep], s.monetary_value[rep])

    def fmt(params: Any, se: Any) -> str:
        values = attrs.asdict(params)
        errors = attrs.asdict(se) if se is not None else dict.fromkeys(values, float("nan"))
        return " ".join(f"{n}={v:.3f}({errors[n]:.3f})" for n, v in values.items())

    write(f"BG/NBD     {fmt(bg.params, bg.standard_errors)}  LL={bg.log_likelihood:.1f}")
    write("           published (Fader, Hardie & Lee 2005): r=0.243 alpha=4.414 a=0.793 b=2.426")
    write(f"Pareto/NBD {fmt(pn.params, pn.standard_errors)}  LL={pn.log_likelihood:.1f}")
    write(f"Gamma-Gamma {fmt(gg.params, gg.standard_errors)}  (n={gg.n} repeat customers)")
    horizon = s.holdout_duration
    pred_bg = bg.conditional_expected_purchases(horizon, x, tx, T)
    pred_pn = pn.conditional_expected_purchases(horizon, x, tx, T)
    actual = s.holdout_frequency
    write("Holdout weeks 40-78, mean repeat purchases per customer by calibration frequency:")
    write("  x in 1-39   customers   actual   BG/NBD   Pareto/NBD")
    bins = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 6), (7, 10**9)]
    for lo, hi in bins:
        sel = (x >= lo) & (x <= hi)
        label = f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi < 10**9 else f"{lo}+")
        write(
            f"  {label:>9}   {int(sel.sum()):>9}   {actual[sel].mean():6.3f}   "
            f"{pred_bg[sel].mean():6.3f}   {pred_pn[sel].mean():10.3f}"
        )
    write(
        f"  total       {len(s):>9}   {actual.sum():6.0f}   {pred_bg.sum():6.0f}   {pred_pn.sum():10.0f}"
    )
    alive = bg.probability_alive(x, tx, T)
    clv = customer_lifetime_value(
        bg, gg, x, tx, T, s.monetary_value, horizon=12, discount_rate=0.01, time_unit="W"
    )
    write("Top customers by 12-month CLV (BG/NBD + Gamma-Gamma, 1%/month discount):")
    write("  customer   x   t_x      T   P(alive)   E[buys 39w]   CLV($)")
    for i in np.argsort(-clv, kind="stable")[:5]:
        write(
            f"  {s.customer_ids[i]!s:>8} {int(x[i]):>3} {tx[i]:5.1f} {T[i]:6.1f}   {alive[i]:8.3f}"
            f"   {pred_bg[i]:11.2f}   {clv[i]:7.2f}"
        )
    likely_gone = int(((alive < 0.2) & rep).sum())
    write(
        f"Repeat customers with P(alive) < 0.2: {likely_gone} of {int(rep.sum())}; "
        f"total 12-month CLV of the cohort: ${clv.sum():,.0f}"
    )
