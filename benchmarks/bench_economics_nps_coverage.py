"""Coverage of nominal 95% NPS intervals over a wide grid, by vectorized simulation.

Run: ``.venv/bin/python benchmarks/bench_economics_nps_coverage.py`` (default:
n in 30, 50, 100, 300, 1000, 3000, 10000; promoter and detractor shares each
in 0.05, 0.10, ..., 0.90 with p + d <= 1; 4,000 surveys per point; seed 0).
Prints, per method and n, how many grid points fall inside the 93–97% band,
the lowest and highest coverage, and the points outside. This is a
statistical check, not a speed race, so there is no peer; the elapsed time is
printed for the record.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from crmcore.valuation import nps_interval_coverage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--surveys", type=int, default=4000)
    ap.add_argument("--sizes", type=int, nargs="*", default=[30, 50, 100, 300, 1000, 3000, 10_000])
    ap.add_argument("--step", type=float, default=0.05)
    args = ap.parse_args()
    shares = np.round(np.arange(0.05, 0.9001, args.step), 2)
    grid = [(p, d) for p in shares for d in shares if p + d <= 1 + 1e-9]
    t0 = time.perf_counter()
    print(f"{len(grid)} (p, d) points x {len(args.sizes)} sizes, {args.surveys} surveys each")
    for method in ("adjusted-wald", "wald"):
        print(f"\n{method}:")
        for n in args.sizes:
            cov = np.array(
                [
                    nps_interval_coverage(
                        n, p, d, surveys=args.surveys, seed=k + 100_000 * n, method=method
                    )
                    for k, (p, d) in enumerate(grid)
                ]
            )
            inside = (cov >= 0.93) & (cov <= 0.97)
            out = [
                f"({p:.2f},{d:.2f})={c:.3f}"
                for (p, d), c, ok in zip(grid, cov, inside, strict=True)
                if not ok
            ]
            shown = ", ".join(out[:8]) + (f", ... {len(out) - 8} more" if len(out) > 8 else "")
            print(
                f"  n={n:>6}: {int(inside.sum()):>3}/{len(grid)} in [0.93, 0.97]; "
                f"min {cov.min():.3f} max {cov.max():.3f}" + (f"; outside: {shown}" if out else "")
            )
    print(f"\nelapsed {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
