"""Pareto/NBD predictions on daily-grid customers: crmcore vs lifetimes 0.11.3 (same run).

    .venv/bin/python benchmarks/bench_pareto_predict.py                 # 200,000 customers
    .venv/bin/python benchmarks/bench_pareto_predict.py --size 1000000  # the 1M figure

Customers: ages T uniform over 1..730 days (a daily grid over two years), histories
drawn from a Pareto/NBD process (r = 0.55, alpha = 100 days, s = 0.6, beta = 300
days), recencies rounded up to whole days (nearly all histories distinct; about 57%
without a repeat purchase). The same customers are scored with r = 0.55, s = 0.6 and
(alpha, beta) = (10, 1000) (alpha << beta), (1000, 10) (alpha >> beta), (100, 100)
(alpha = beta) and the close-but-unequal scales (100, 120), (100, 150), (30, 60). Prints the best of --repeat runs of
P(alive) and of the conditional expected purchases over 30 days, for both libraries,
the ratio, and the largest relative difference between them. crmcore runs with its
default parallelism (crmcore.parallel; --threads to set it); lifetimes is single-threaded.
--cpu times both by the CPU time of one thread (crmcore with threads(1)), the fair
comparison on a machine busy with other work.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from crmcore.parallel import get_threads, threads
from crmcore.valuation import ParetoNBDModel, ParetoNBDParams, simulate_pareto_nbd

REGIMES = [
    (10.0, 1000.0),
    (1000.0, 10.0),
    (100.0, 100.0),
    (100.0, 120.0),
    (100.0, 150.0),
    (30.0, 60.0),
]


CLOCK = time.perf_counter


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeat):
        t = CLOCK()
        out = fn()
        best = min(best, CLOCK() - t)
    return best, out


def daily_grid(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 731, n).astype(float)
    x, tx, T = simulate_pareto_nbd(ParetoNBDParams(0.55, 100.0, 0.6, 300.0), T, seed=seed + 1)
    tx = np.where(x > 0, np.clip(np.ceil(tx), 1.0, T), 0.0)
    return x, tx, T


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-peer", action="store_true", help="crmcore only (no lifetimes)")
    ap.add_argument(
        "--cpu",
        action="store_true",
        help="CPU time of one thread for both (a busy machine's fair comparison)",
    )
    args = ap.parse_args()
    global CLOCK
    if args.cpu:
        CLOCK, args.threads = time.process_time, 1
    warnings.filterwarnings("ignore")
    x, tx, T = daily_grid(args.size)
    n_threads = args.threads or get_threads()
    clock = "CPU seconds of one thread" if args.cpu else "seconds"
    print(
        f"{args.size:,} daily-grid customers ({np.mean(x == 0):.0%} without a repeat purchase, "
        f"max frequency {x.max():.0f}); crmcore threads: {n_threads}; {clock}, best of "
        f"{args.repeat}"
    )
    lt: Any = None
    if not args.no_peer:
        import lifetimes
        import pandas as pd

        lt = lifetimes.ParetoNBDFitter()
    print(
        f"{'alpha, beta':>14} {'what':>22} {'crmcore s':>10} {'lifetimes s':>12} {'ratio':>7} {'max rel diff':>13}"
    )
    with threads(n_threads):
        for alpha, beta in REGIMES:
            m = ParetoNBDModel(ParetoNBDParams(0.55, alpha, 0.6, beta))
            ours = {
                "P(alive)": lambda m=m: m.probability_alive(x, tx, T),
                "E[X(T, T+30)]": lambda m=m: m.conditional_expected_purchases(30.0, x, tx, T),
            }
            theirs: dict[str, Callable[[], Any]] = {}
            if lt is not None:
                lt.params_ = pd.Series({"r": 0.55, "alpha": alpha, "s": 0.6, "beta": beta})
                theirs = {
                    "P(alive)": lambda: lt.conditional_probability_alive(x, tx, T),
                    "E[X(T, T+30)]": lambda: lt.conditional_expected_number_of_purchases_up_to_time(
                        30.0, x, tx, T
                    ),
                }
            for what, fn in ours.items():
                t_ours, v_ours = best_of(fn, args.repeat)
                if what in theirs:
                    t_theirs, v_theirs = best_of(theirs[what], max(1, args.repeat // 2))
                    v_theirs = np.asarray(v_theirs, dtype=float)
                    ok = np.isfinite(v_theirs) & (v_ours > 0)
                    diff = float(np.max(np.abs(v_ours[ok] - v_theirs[ok]) / v_ours[ok]))
                    print(
                        f"{f'{alpha:g}, {beta:g}':>14} {what:>22} {t_ours:10.3f} {t_theirs:12.3f} "
                        f"{t_theirs / t_ours:6.1f}x {diff:13.1e}"
                    )
                else:
                    print(f"{f'{alpha:g}, {beta:g}':>14} {what:>22} {t_ours:10.3f}")


if __name__ == "__main__":
    main()
