"""Tier rules over N customers (target: 10,000,000 customers in under 1 s).

The brokerage tier set of DOMAIN.md §3 (platinum: assets > 100,000 OR
trades_per_year >= 12; gold: assets > 10,000 AND region not in a list;
standard: everyone else), evaluated with ``TierSet.evaluate``. Peers measured
in the same run: a hand-written ``numpy.select`` over the same columns (the
floor for a vectorized evaluation) and the ``rule-engine`` package evaluating
the same rule per customer on a sample, extrapolated to N.

    .venv/bin/python benchmarks/bench_segmentation_tiers.py            # 10,000,000 customers
    .venv/bin/python benchmarks/bench_segmentation_tiers.py --size 1000000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from crmcore.segmentation import ServiceLevel, Tier, TierSet, all_of, any_of, cond

TIERS = TierSet(
    "brokerage",
    (
        Tier(
            "platinum",
            any_of(cond("assets", ">", 100_000), cond("trades_per_year", ">=", 12)),
            ServiceLevel(dedicated_rep=True, skip_queue=True, response_time_hours=1),
        ),
        Tier(
            "gold",
            all_of(cond("assets", ">", 10_000), cond("region", "not_in", ["offshore", "unknown"])),
            ServiceLevel(response_time_hours=24),
        ),
        Tier("standard"),
    ),
)


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=10_000_000)
    ap.add_argument("--sample", type=int, default=20_000, help="rule-engine sample size")
    args = ap.parse_args()
    n = args.size
    rng = np.random.default_rng(3)
    cols = {
        "assets": np.round(rng.lognormal(9.0, 1.5, n), 2),
        "trades_per_year": rng.poisson(4.0, n).astype(np.float64),
        "region": rng.choice(np.array(["north", "south", "offshore", "unknown"]), n),
    }
    TIERS.evaluate(cols)

    def numpy_select() -> np.ndarray:
        a, t, r = cols["assets"], cols["trades_per_year"], cols["region"]
        return np.select(
            [(a > 100_000) | (t >= 12), (a > 10_000) & ~np.isin(r, ["offshore", "unknown"])],
            [0, 1],
            2,
        )

    t_ours = t_np = float("inf")
    for _ in range(3):  # interleaved: both see the same load on the shared machine
        t_ours = min(t_ours, best(lambda: TIERS.evaluate(cols), 1))
        t_np = min(t_np, best(numpy_select, 1))
    got = TIERS.evaluate(cols).codes
    assert np.array_equal(got, numpy_select())
    print(f"customers                          {n:,}")
    print(f"crmcore TierSet.evaluate           {t_ours:8.3f} s  (target < 1 s)")
    print(f"hand-written numpy.select          {t_np:8.3f} s  ratio {t_ours / t_np:.2f}")
    try:
        import rule_engine
    except ImportError:
        print("rule-engine not installed: per-record peer skipped")
        return
    platinum = rule_engine.Rule("assets > 100000 or trades_per_year >= 12")
    gold = rule_engine.Rule("assets > 10000 and region not in ['offshore', 'unknown']")
    m = min(args.sample, n)
    records = [
        {"assets": float(a), "trades_per_year": float(t), "region": str(r)}
        for a, t, r in zip(
            cols["assets"][:m], cols["trades_per_year"][:m], cols["region"][:m], strict=True
        )
    ]
    t0 = time.perf_counter()
    peer = [0 if platinum.matches(rec) else 1 if gold.matches(rec) else 2 for rec in records]
    t_re = (time.perf_counter() - t0) * n / m
    assert peer == got[:m].tolist()
    print(f"rule-engine per record (extrap.)   {t_re:8.1f} s  ratio {t_re / t_ours:.0f}x slower")


if __name__ == "__main__":
    main()
