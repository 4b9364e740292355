"""A BG/NBD fit on 10,000,000 simulated customers (the issue's target: under 10 s on 2 cores).

    .venv/bin/python benchmarks/bench_btyd_big.py                 # 10,000,000 customers
    .venv/bin/python benchmarks/bench_btyd_big.py --size 2000000

Customers are drawn from BG/NBD with CDNOW-like parameters; ages and
recencies lie on a daily grid in weeks (as summaries of real logs do), so
identical histories are merged exactly into weights before the fit. The
time printed covers validation, merging and the fit (not the simulation).
lifetimes is not run at this size (its fit on 1,000,000 customers is in
bench_btyd_fit.py --full).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from crmcore.valuation import BGNBDParams, fit_bgnbd, simulate_bgnbd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=10_000_000)
    args = ap.parse_args()
    truth = BGNBDParams(0.243, 4.414, 0.793, 2.426)
    T = np.round(np.random.default_rng(1).uniform(26, 39, args.size) * 7) / 7
    x, tx, T = simulate_bgnbd(truth, T, seed=2)
    tx = np.minimum(
        np.ceil(tx * 7) / 7, T
    )  # whole days; a repeat purchase >= 1 day after the first
    t = time.perf_counter()
    m = fit_bgnbd(x, tx, T)
    took = time.perf_counter() - t
    p, se = m.params, m.standard_errors
    assert se is not None
    print(f"BG/NBD fit on {args.size:,} customers: {took:.2f} s (target < 10 s)")
    print(
        f"  r={p.r:.4f}({se.r:.4f}) alpha={p.alpha:.3f}({se.alpha:.3f}) "
        f"a={p.a:.4f}({se.a:.4f}) b={p.b:.4f}({se.b:.4f}); truth {truth}"
    )


if __name__ == "__main__":
    main()
