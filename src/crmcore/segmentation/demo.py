"""The segmentation section of ``python -m crmcore demo``.

Concentration and RFM segments on the CDNOW customers' real purchases, then
profitability on a clearly labelled *synthetic* cost table (seeded), since
CDNOW has no cost data.

>>> from crmcore.datasets import load_cdnow_sample
>>> lines = []
>>> demo(lines.append, transactions=load_cdnow_sample())
>>> lines[1]
'top  1% of customers hold  14.4% of revenue'
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from crmcore._demo import check_demo_args
from crmcore.arrays import (
    FloatArray,
    as_float_array,
    as_int_array,
    check_nonnegative,
    check_same_length,
)
from crmcore.options import as_seed
from crmcore.segmentation.concentration import abc_classes, concentration
from crmcore.segmentation.profitability import (
    CostRates,
    activity_costs,
    customer_profitability,
    entry_costs,
)
from crmcore.segmentation.rfm import rfm_from_log, segment_table
from crmcore.tables import TransactionLog

__all__ = ["AS_OF", "SYNTHETIC_RATES", "demo", "synthetic_costs"]

AS_OF = "1998-06-30"
"""The RFM reference date: the last day of the CDNOW sample."""

SYNTHETIC_RATES = CostRates(
    {"order_handling": 2.50, "email": 0.10, "call_center": 8.00, "visit": 45.00}, currency="USD"
)
"""A synthetic activity rate table (USD per interaction), for the demo only."""


def synthetic_costs(
    revenue: npt.ArrayLike, orders: npt.ArrayLike, *, seed: int = 6
) -> tuple[FloatArray, FloatArray]:
    """SYNTHETIC cost of goods (60% of revenue) and cost to serve for the demo (seeded).

    Every order costs handling; a customer sends Poisson(1 + orders/2)
    emails and makes Poisson(0.8 + 0.2·orders) call-center calls; 5% get a
    visit; 8% of orders are returned (a return cost of 15% of the order value)
    and 1.5% of customers leave a bad debt of 30% of their revenue.

    >>> cogs, serve = synthetic_costs(np.array([100.0]), np.array([2.0]))
    >>> float(cogs[0])
    60.0
    >>> synthetic_costs([100.0], [2.5])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'orders' must hold whole numbers: 2.5 at index 0

    ``revenue`` (finite, >= 0) and ``orders`` (whole numbers >= 0) are per
    customer and must have the same length; ``seed`` is a whole number >= 0.
    """
    revenue = as_float_array(revenue, name="revenue")
    check_nonnegative(revenue, name="revenue")
    counts_in = as_int_array(orders, name="orders")
    check_nonnegative(counts_in, name="orders")
    n = check_same_length(revenue=revenue, orders=counts_in)
    orders = counts_in.astype(np.float64)
    rng = np.random.default_rng(as_seed(seed))
    cust = np.arange(n)
    counts = {
        "order_handling": orders,
        "email": rng.poisson(1.0 + orders / 2.0).astype(float),
        "call_center": rng.poisson(0.8 + 0.2 * orders).astype(float),
        "visit": (rng.random(n) < 0.05).astype(float),
    }
    acts = activity_costs(
        np.tile(cust, len(counts)),
        np.repeat(list(counts), n),
        rates=SYNTHETIC_RATES,
        n_customers=n,
        quantity=np.concatenate(list(counts.values())),
    )
    returns = rng.binomial(counts_in, 0.08) * 0.15 * revenue / np.maximum(orders, 1)
    bad = (rng.random(n) < 0.015) * 0.30 * revenue
    entries = entry_costs(
        np.concatenate([cust, cust]),
        np.repeat(["return", "bad_debt"], n),
        np.concatenate([returns, bad]),
        n_customers=n,
    )
    return 0.60 * revenue, acts.merge(entries).total()


def demo(write: Callable[[str], None], *, transactions: TransactionLog) -> None:
    """Write the segmentation section (about 35 lines) through ``write``.

    >>> from crmcore.datasets import load_cdnow_sample
    >>> out = []
    >>> demo(out.append, transactions=load_cdnow_sample())
    >>> out[-1]
    'the 816 loss-making customers (34.6%) erode 23% of it (-10,392 USD)'
    """
    check_demo_args(write, transactions)
    summary, scores = rfm_from_log(transactions, AS_OF)
    revenue = summary.monetary
    c = concentration(revenue)
    cur = transactions.currency or ""
    write(f"-- Concentration of revenue: {c.n:,} CDNOW customers, {c.total:,.0f} {cur}".rstrip())
    for x in (0.01, 0.05, 0.10, 0.20, 0.50):
        write(f"top {x:3.0%} of customers hold {c.top_share(x):6.1%} of revenue")
    k80 = c.customers_for_share(0.8)
    write(f"80% of revenue comes from the top {k80 / c.n:.1%} of customers ({k80:,})")
    write(f"Gini {c.gini():.3f} (small-sample corrected {c.gini(corrected=True):.3f})")
    abc = abc_classes(revenue)
    parts = [
        f"{lab} {cnt:,} ({sh:.0%} of revenue)"
        for lab, cnt, sh in zip(abc.labels, abc.counts, abc.shares, strict=True)
    ]
    write("ABC (80% / 95%, ties kept together): " + ", ".join(parts))
    write("")
    write(f"-- RFM segments as of {AS_OF} (quintile scores, tied values share a score)")
    write(f"{'segment':<20}{'customers':>10}{'recency d':>11}{'orders':>8}{'revenue':>10}")
    rows = sorted(segment_table(summary, scores.segments()), key=lambda r: -r[4] * r[1])
    for name, n, r, f, m in rows:
        write(f"{name:<20}{n:>10,}{r:>11.0f}{f:>8.1f}{m:>10.1f}")
    write("")
    orders = summary.frequency.astype(float)
    cogs, serve = synthetic_costs(revenue, orders)
    p = customer_profitability(revenue, cogs, serve)
    write("-- Profitability on a SYNTHETIC cost table (seeded; CDNOW has no costs):")
    write("   cost of goods 60% of revenue; order handling 2.50, e-mail 0.10, call 8.00,")
    write("   visit 45.00 per contact; returns and bad debt as cost entries")
    write(
        f"{'quintile':<10}{'customers':>10}{'revenue':>11}{'cost':>11}{'profit':>11}{'rev/cost':>9}"
    )
    for row in p.quantile_table(5):
        ratio = row.revenue_to_cost
        shown = f"{ratio:9.2f}" if ratio is not None else f"{'-':>9}"
        write(
            f"{row.group:<10}{row.customers:>10,}{row.revenue:>11,.0f}{row.cost:>11,.0f}"
            f"{row.profit:>11,.0f}{shown}"
        )
    w = p.whale_curve()
    write(
        f"whale curve: profit peaks at {w.peak_share:.0%} of total profit with the top "
        f"{w.peak_fraction:.1%} of customers;"
    )
    write(
        f"the {w.loss_customers:,} loss-making customers ({w.loss_customers / w.n:.1%}) erode "
        f"{w.erosion:.0%} of it ({w.loss:,.0f} {cur})".rstrip()
    )
