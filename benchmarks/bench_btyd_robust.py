"""Convergence check: every model fitted on 100 random simulated data sets, default settings.

    .venv/bin/python benchmarks/bench_btyd_robust.py            # 100 sets per model
    .venv/bin/python benchmarks/bench_btyd_robust.py --sets 20
    .venv/bin/python benchmarks/bench_btyd_robust.py --models BG/NBD BG/BB

Parameters are drawn at random (seeded) over wide ranges; each set has 1,000
customers (BG/BB: 1,000 customers over 6 opportunities). A fit counts as a
success when it converges without raising; a FitError (edge of the parameter
space, for example no sign of drop-out) is reported with its message.
NaN parameters are never returned (the fitted classes refuse them).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from crmcore.errors import FitError
from crmcore.valuation import (
    BGBBParams,
    BGNBDParams,
    GammaGammaParams,
    ParetoNBDParams,
    fit_bgbb,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_mbgnbd,
    fit_pareto_nbd,
    simulate_bgbb,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", type=int, default=100)
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--models", nargs="*", help="a subset, e.g. BG/NBD Pareto/NBD")
    args = ap.parse_args()
    rng = np.random.default_rng(12345)  # re-seeded per model below: subsets draw the same sets
    n = args.customers

    def ages() -> np.ndarray:
        return np.round(rng.uniform(13, 78, n) * 7) / 7

    def bgnbd(i: int, fit: Callable[..., Any], sim: Callable[..., Any]) -> Any:
        p = BGNBDParams(*rng.uniform([0.1, 1, 0.3, 1.0], [3.0, 20, 2.0, 8.0]))
        x, tx, T = sim(p, ages(), seed=i)
        return fit(x, np.minimum(np.ceil(tx * 7) / 7, T), T)

    def pareto(i: int) -> Any:
        p = ParetoNBDParams(*rng.uniform([0.1, 1, 0.2, 2], [3.0, 20, 2.0, 30]))
        x, tx, T = simulate_pareto_nbd(p, ages(), seed=i)
        return fit_pareto_nbd(x, np.minimum(np.ceil(tx * 7) / 7, T), T)

    def bgbb(i: int) -> Any:
        p = BGBBParams(*rng.uniform([0.3, 0.3, 0.3, 0.5], [3.0, 3.0, 2.0, 5.0]))
        return fit_bgbb(*simulate_bgbb(p, np.full(n, 6), seed=i))

    def gamma_gamma(i: int) -> Any:
        p = GammaGammaParams(*rng.uniform([1, 2, 2], [12, 8, 40]))
        freq = rng.integers(1, 10, n)
        return fit_gamma_gamma(freq, simulate_gamma_gamma(p, freq, seed=i))

    models: dict[str, Callable[[int], Any]] = {
        "BG/NBD": lambda i: bgnbd(i, fit_bgnbd, simulate_bgnbd),
        "MBG/NBD": lambda i: bgnbd(i, fit_mbgnbd, simulate_mbgnbd),
        "Pareto/NBD": pareto,
        "BG/BB": bgbb,
        "Gamma-Gamma": gamma_gamma,
    }
    for k, (name, run) in enumerate(models.items()):
        if args.models and name not in args.models:
            continue
        rng = np.random.default_rng([12345, k])
        ok, failures, t0 = 0, [], time.perf_counter()
        for i in range(args.sets):
            try:
                m = run(i)
                values = np.array(attrs.astuple(m.params), dtype=float)
                assert m.converged and np.isfinite(values).all() and np.isfinite(m.log_likelihood)
                ok += 1
            except FitError as e:
                failures.append(str(e))
        print(f"{name:<12} converged {ok}/{args.sets} in {time.perf_counter() - t0:.1f} s")
        for f in failures[:3]:
            print(f"   FitError: {f}")


if __name__ == "__main__":
    main()
