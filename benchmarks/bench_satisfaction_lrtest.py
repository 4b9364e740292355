"""Size study: does the moderation likelihood-ratio test keep its nominal level?

Run: ``.venv/bin/python benchmarks/bench_satisfaction_lrtest.py`` (default 500
replications per configuration; ``--reps`` to change, ``--full`` for 2,000).
Data are simulated *without* moderation (one curve for every competition
level: floor 0.3 and floor 0, or only floor 0 with ``--no-floor``; intercept 1,
log-slope 0 unless ``--intercept`` / ``--log-slope`` / ``--floor`` say
otherwise) at three competition levels (0.2, 0.5, 0.8), as aggregated tables
with ``n`` responses per (satisfaction, competition) cell, ``--sizes`` (default
200, 500, 1000). For each configuration the script prints the rejection rate at
alpha = 0.01 / 0.05 / 0.10 with the 95% Monte-Carlo band of a test whose size is
exactly alpha (binomial, ``reps`` draws) and whether the rate is inside it; the
share of tests with df 2 (floor 0 in both fits) and the rejection rate at 5% in
each df; the mean statistic against its df; and the CPU time per test. There is
no peer library for this model; the reference is the binomial band of an exact
test. ``--method bootstrap --n-boot B`` measures the parametric-bootstrap
p-value instead (B tests per replication: slow).
"""

from __future__ import annotations

import argparse
import time
from typing import Literal

import numpy as np
from scipy import stats
from scipy.special import logit

from crmcore.errors import FitError
from crmcore.satisfaction import LoyaltyModel, moderation_test_table

LEVELS = np.array([0.2, 0.5, 0.8])
ALPHAS = (0.01, 0.05, 0.10)


def band(reps: int, alpha: float) -> tuple[float, float]:
    """The central 95% of the rejection rate of an exact level-alpha test over ``reps``."""
    lo, hi = stats.binom.interval(0.95, reps, alpha)
    return float(lo) / reps, float(hi) / reps


def run(
    truth: LoyaltyModel,
    n: int,
    reps: int,
    seed: int,
    method: Literal["asymptotic", "bootstrap"],
    n_boot: int,
) -> str:
    s = np.tile(np.arange(1, 6), len(LEVELS))
    c = np.repeat(LEVELS, 5)
    p = truth.probability(s, c)
    rng = np.random.default_rng(seed)
    pvals, dfs, statistic = [], [], []
    failed = 0
    t0 = time.process_time()
    for i in range(reps):
        total = np.full(len(s), n)
        loyal = rng.binomial(total, p)
        try:
            t = moderation_test_table(
                s, c, loyal, total, method=method, n_boot=n_boot, seed=seed + i
            )
        except FitError:  # a failed fit is counted, not fatal, in a size study
            failed += 1
            continue
        pvals.append(t.p_value)
        dfs.append(t.df)
        statistic.append(t.statistic)
    ms = (time.process_time() - t0) / reps * 1000
    pv, df, st = np.array(pvals), np.array(dfs), np.array(statistic)
    cols = []
    for a in ALPHAS:
        lo, hi = band(len(pv), a)
        rate = float(np.mean(pv < a))
        cols.append(f"{rate:.3f} [{lo:.3f},{hi:.3f}]{'' if lo <= rate <= hi else ' OUT'}")
    per_df = []
    for d in (2, 3):
        sel = df == d
        per_df.append(
            f"df{d} {sel.mean():5.1%} rej {np.mean(pv[sel] < 0.05):.3f} mean LR {st[sel].mean():.2f}"
            if sel.any()
            else f"df{d}   0.0%"
        )
    return (
        f"{n:>6}  " + "  ".join(cols) + f"  | {' | '.join(per_df)} | {ms:6.1f} ms  failed {failed}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--full", action="store_true", help="2,000 replications per configuration")
    ap.add_argument("--sizes", type=int, nargs="*", default=[200, 500, 1000])
    ap.add_argument("--no-floor", action="store_true", help="only the true floor 0")
    ap.add_argument("--floor", type=float, nargs="*", default=None, help="true floors to run")
    ap.add_argument("--intercept", type=float, default=1.0)
    ap.add_argument("--log-slope", type=float, default=0.0)
    ap.add_argument("--method", choices=("asymptotic", "bootstrap"), default="asymptotic")
    ap.add_argument("--n-boot", type=int, default=199)
    ap.add_argument("--seed", type=int, default=2025)
    args = ap.parse_args()
    reps = 2000 if args.full else args.reps
    floors = args.floor if args.floor is not None else [0.0] if args.no_floor else [0.3, 0.0]
    print(
        f"moderation LR test under H0 ({args.method}): {reps:,} replications per configuration,"
        " 15 cells; rate at alpha [95% Monte-Carlo band of an exact test]"
    )
    for floor in floors:
        g = -30.0 if floor == 0 else float(logit(floor))
        truth = LoyaltyModel(intercept=args.intercept, log_slope=args.log_slope, floor_logit=g)
        print(
            f"floor {floor:g}, intercept {args.intercept:g}, log-slope {args.log_slope:g}\n"
            "  n/cell  " + "  ".join(f"rej@{a:.2f} [band]".ljust(23) for a in ALPHAS)
        )
        for n in args.sizes:
            print("  " + run(truth, n, reps, args.seed + n, args.method, args.n_boot), flush=True)


if __name__ == "__main__":
    main()
