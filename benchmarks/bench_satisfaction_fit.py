"""Benchmark: fitting the satisfaction → loyalty model (crmcore vs a naive scipy fit).

Run: ``.venv/bin/python benchmarks/bench_satisfaction_fit.py`` (default
1,000,000 synthetic responses over 5 competition levels; ``--size`` to
change, ``--baseline-size`` for the naive fit, default 200,000 because it is
slow). crmcore compresses the responses exactly to 5 × levels binomial cells
and runs Fisher scoring + Newton with an analytic gradient; the baseline is
what one would write without it: ``scipy.optimize.minimize`` (BFGS, numerical
gradient) on the uncompressed Bernoulli likelihood. Both fit the same model;
the script prints both times, the ratio per response, and checks they agree.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import optimize

from crmcore.satisfaction import fit_loyalty, preset_model


def _naive_nll(theta: np.ndarray, s: np.ndarray, y: np.ndarray, c: np.ndarray) -> float:
    a0, a1, b0, b1, g0, g1 = theta
    f = 1.0 / (1.0 + np.exp(-(g0 + g1 * c)))
    q = 1.0 / (1.0 + np.exp(-(a0 + a1 * c + np.exp(b0 + b1 * c) * (s - 5))))
    p = np.clip(f + (1.0 - f) * q, 1e-12, 1 - 1e-12)
    return -float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--baseline-size", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    truth = preset_model()
    n = max(args.size, args.baseline_size)
    s = rng.integers(1, 6, n)
    c = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], n)
    y = (rng.random(n) < truth.probability(s, c)).astype(np.int8)
    print(f"loyalty-model fit: {args.size:,} responses, 5 satisfaction x 5 competition levels")

    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        fit = fit_loyalty(s[: args.size], y[: args.size], c[: args.size])
        times.append(time.perf_counter() - t0)
    ours = min(times)
    print(f"  crmcore fit_loyalty       {ours:8.3f} s  ({args.size / ours:,.0f} responses/s)")

    m = args.baseline_size
    sb, yb, cb = s[:m].astype(float), y[:m].astype(float), c[:m]
    t0 = time.perf_counter()
    with np.errstate(over="ignore"):
        res = optimize.minimize(_naive_nll, np.zeros(6), args=(sb, yb, cb), method="BFGS")
    peer = time.perf_counter() - t0
    print(f"  naive scipy BFGS          {peer:8.3f} s  ({m / peer:,.0f} responses/s, n={m:,})")
    ratio = (peer / m) / (ours / args.size)
    print(f"  ratio (per response)      {ratio:8.1f}x faster")

    check = fit_loyalty(s[:m], y[:m], c[:m])
    gap = float(np.max(np.abs(np.array(check.model.params) - res.x)))
    print(
        f"  same data, max |param difference| crmcore vs naive: {gap:.2e}"
        f" (naive success={res.success}; loglik {-res.fun:.2f} vs {check.log_likelihood:.2f})"
    )
    names = fit.parameter_names
    for name, se in zip(names, fit.standard_errors, strict=True):
        print(
            f"    {name:<26} true {getattr(truth, name):8.4f}  fit "
            f"{getattr(fit.model, name):8.4f}  se {se:.4f}"
        )


if __name__ == "__main__":
    main()
