"""The satisfaction section of ``python -m crmcore demo``.

The customers and their revenue are the real CDNOW sample; the survey is
**synthetic** (seeded): each customer is put in a high- or a low-competition
market, given a satisfaction score and a repurchase outcome drawn from the
illustrative preset curves, and everything is then fitted back from those
responses as a user would fit their own.

>>> from crmcore.datasets import load_cdnow_sample
>>> lines = []
>>> demo(lines.append, transactions=load_cdnow_sample())
>>> print(lines[0])
Synthetic survey (seeded) over the 2,357 CDNOW customers, two markets:
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from crmcore._demo import check_demo_args
from crmcore.satisfaction.competition import MarketConditions
from crmcore.satisfaction.curve import preset_model
from crmcore.satisfaction.fit import fit_loyalty, moderation_test
from crmcore.satisfaction.quadrants import Quadrant, classify_quadrants, competition_scenario
from crmcore.satisfaction.value import uplift_value
from crmcore.tables import TransactionLog

__all__ = ["demo"]

_SEED = 20251123
_SAT_SHARES = (0.06, 0.10, 0.22, 0.37, 0.25)


def _zones_text(zones: tuple[tuple[str, tuple[int, ...]], ...]) -> str:
    parts = []
    for name, levels in zones:
        if levels:
            span = f"{levels[0]}" if len(levels) == 1 else f"{levels[0]}-{levels[-1]}"
            parts.append(f"{name} {span}")
    return ", ".join(parts)


def demo(write: Callable[[str], None], *, transactions: TransactionLog) -> None:
    """Write the satisfaction section: fitted curves, quadrants, hostages at risk.

    >>> from crmcore.datasets import load_cdnow_sample
    >>> out = []
    >>> demo(out.append, transactions=load_cdnow_sample())
    >>> len(out) <= 40
    True
    """
    check_demo_args(write, transactions)
    n = transactions.n_customers
    revenue = np.bincount(transactions.customer, weights=transactions.signed_amount(), minlength=n)
    cur = transactions.currency or ""
    rng = np.random.default_rng(_SEED)
    markets = {
        "high": MarketConditions(raw_intensity=1.0, loyalty_rewards=0.1),
        "low": MarketConditions(raw_intensity=0.6, regulated_monopoly=0.8, switching_cost=0.9),
    }
    level = {k: round(m.effective(), 2) for k, m in markets.items()}
    seg = rng.integers(0, 2, n)  # 0 = high, 1 = low competition
    comp = np.where(seg == 0, level["high"], level["low"])
    sat = rng.choice(np.arange(1, 6), size=n, p=_SAT_SHARES)
    truth = preset_model()
    loyal = rng.random(n) < truth.probability(sat, comp)

    write(f"Synthetic survey (seeded) over the {n:,} CDNOW customers, two markets:")
    write("satisfaction 1-5 and a repurchase outcome drawn from the illustrative presets.")
    for i, (k, m) in enumerate(markets.items()):
        write(
            f"  {k}-competition market: effective competition {level[k]:.2f} "
            f"(raw {m.raw_intensity:.2f}), {int((seg == i).sum()):,} customers"
        )
    write("Fitted P(loyal) by satisfaction (maximum likelihood, per market):")
    write("  market      1     2     3     4     5   5 vs 4   zones")
    fits = {}
    for i, k in enumerate(markets):
        sel = seg == i
        fits[k] = fit_loyalty(sat[sel], loyal[sel])
        curve = fits[k].model.curve(0.0)
        p = curve.probabilities()
        z = curve.zones()
        zs = _zones_text(
            (
                ("defection", z.defection),
                ("indifference", z.indifference),
                ("affection", z.affection),
            )
        )
        cells = " ".join(f"{v:5.2f}" for v in p)
        write(f"  {k:<7} {cells}   {p[4] / p[3]:5.1f}x   {zs}")
    test = moderation_test(sat, loyal, comp)
    write(
        f"Does competition moderate the link? LR chi2({test.df}) = {test.statistic:.1f}, "
        f"p = {test.p_value:.2g}"
    )

    write("Loyalty quadrants (satisfied = 4-5, loyal = repurchased):")
    write("  market    loyalists  mercenaries  hostages  defectors")
    for i, k in enumerate(markets):
        sel = seg == i
        c = classify_quadrants(sat[sel], loyal[sel]).counts()
        write(
            f"  {k:<7} {c['loyalist']:>11,} {c['mercenary']:>12,} "
            f"{c['hostage']:>9,} {c['defector']:>10,}"
        )
    hostages = classify_quadrants(sat, loyal).mask(Quadrant.HOSTAGE)

    model = fit_loyalty(sat, loyal, comp).model
    new_level = level["high"]
    scen = competition_scenario(
        model,
        sat,
        value=revenue,
        segment=seg,
        competition_before=[level["high"], level["low"]],
        competition_after=[level["high"], new_level],
    )
    low_host = hostages & (seg == 1)
    write(
        f"Scenario: the low market's competition rises {level['low']:.2f} -> {new_level:.2f} "
        "(moderated fit):"
    )
    write(
        f"  expected defections {scen.defections[1]:.0f} of {scen.loyal_before[1]:.0f} "
        f"expected loyal; {scen.hostage_defections[1]:.0f} of them dissatisfied"
    )
    write(
        f"  revenue at risk {scen.value_at_risk[1]:,.2f} {cur}, of which "
        f"{scen.hostage_value_at_risk[1]:,.2f} from the dissatisfied".rstrip()
    )
    write(
        f"  today's {int(low_host.sum())} hostages: expected to defect "
        f"{scen.customer_risk[low_host].sum():.0f}, revenue "
        f"{(scen.customer_risk * revenue)[low_host].sum():,.2f} {cur}".rstrip()
    )
    up = uplift_value(model, sat[seg == 0], revenue[seg == 0], level["high"])
    by = up.by_level()
    write(
        f"Where satisfaction work pays (high market, +1 level x revenue): "
        f"4->5 {by[3]:,.0f}, 3->4 {by[2]:,.0f}, 1-2 up {by[0] + by[1]:,.0f} {cur}".rstrip()
    )
