"""Size study: does the moderation likelihood-ratio test keep its nominal level?

Run: ``.venv/bin/python benchmarks/bench_satisfaction_lrtest.py`` (default 500
replications per sample size; ``--reps`` to change, ``--full`` for 2,000).
Data are simulated *without* moderation (one curve for every competition
level: floor 0.3, or 0 with ``--no-floor``, intercept 1, slope 1) at three
competition levels, as aggregated tables with ``n`` responses per
(satisfaction, competition) cell. For each size the script prints the
rejection rate at alpha = 0.01 / 0.05 / 0.10 (p-values of the test, from
chi-square(df)) with a 95% binomial interval around the nominal level, the
Kolmogorov-Smirnov p-value of the df-3 statistics against chi-square(3), how
many tests had df 2 (floor fixed at 0 in both fits), and the time per test
(two maximum-likelihood fits). There is no peer library for
this model; the reference is the chi-square distribution itself.
"""

from __future__ import annotations

import argparse
import time

import attrs
import numpy as np
from scipy import stats

from crmcore.errors import FitError
from crmcore.satisfaction import LoyaltyModel, moderation_test_table

NULL = LoyaltyModel(intercept=1.0, log_slope=0.0, floor_logit=float(np.log(0.3 / 0.7)))
LEVELS = np.array([0.2, 0.5, 0.8])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--full", action="store_true", help="2,000 replications per size")
    ap.add_argument("--sizes", type=int, nargs="*", default=[20, 100, 500])
    ap.add_argument("--no-floor", action="store_true", help="true floor 0 instead of 0.3")
    args = ap.parse_args()
    reps = 2000 if args.full else args.reps
    s = np.tile(np.arange(1, 6), len(LEVELS))
    c = np.repeat(LEVELS, 5)
    truth = attrs.evolve(NULL, floor_logit=-30.0) if args.no_floor else NULL
    p = truth.probability(s, c)
    rng = np.random.default_rng(2025)
    print(f"moderation LR test under H0: {reps:,} replications per size, 15 cells")
    print(
        "  n/cell  responses   rej@0.01  rej@0.05  rej@0.10   KS p   ms/test  failed  df2"
        "  rej@0.05|df2  rej@0.05|df3"
    )
    for n in args.sizes:
        stat, pvals, df2 = [], [], 0
        by_df: dict[int, list[bool]] = {2: [], 3: []}
        failed = 0
        t0 = time.perf_counter()
        for _ in range(reps):
            total = np.full(len(s), n)
            loyal = rng.binomial(total, p)
            try:
                t = moderation_test_table(s, c, loyal, total)
            except FitError:  # a failed fit is counted, not fatal, in a size study
                failed += 1
                continue
            pvals.append(t.p_value)
            by_df[t.df].append(t.p_value < 0.05)
            if t.df == 3:
                stat.append(t.statistic)
            else:
                df2 += 1
        ms = (time.perf_counter() - t0) / reps * 1000
        pv = np.array(pvals)
        rates = [float(np.mean(pv < a)) for a in (0.01, 0.05, 0.10)]
        ks = stats.kstest(stat, "chi2", args=(3,)).pvalue if stat else float("nan")
        branch = [f"{np.mean(v):.3f} of {len(v):>4}" if v else "    -" for v in by_df.values()]
        print(
            f"  {n:>6}  {n * 15:>9,}   {rates[0]:8.3f}  {rates[1]:8.3f}  {rates[2]:8.3f}"
            f"  {ks:6.3f}  {ms:8.1f}  {failed:>6}  {df2:>3}  {branch[0]:>12}  {branch[1]:>12}"
        )
    for a in (0.01, 0.05, 0.10):
        lo, hi = stats.binom.interval(0.95, reps, a)
        print(f"  95% interval for a correct level {a:.2f}: [{lo / reps:.3f}, {hi / reps:.3f}]")


if __name__ == "__main__":
    main()
