"""Benchmark: scoring P(loyal) for 10,000,000 customers (crmcore vs naive numpy).

Run: ``.venv/bin/python benchmarks/bench_satisfaction_score.py`` (default
10,000,000 customers; ``--size`` to change). Three crmcore paths are timed,
validation included: every customer with their own competition level (the
general case), one market (a single level: a 5-entry table lookup), and 100
segments each with its level (``probability_by_segment``). The
peer is the same formula written as plain whole-array numpy expressions (no
validation), measured in the same run; the script checks they agree.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from crmcore.satisfaction import preset_model


def _naive(theta: tuple[float, ...], s: np.ndarray, c: np.ndarray) -> np.ndarray:
    a0, a1, b0, b1, g0, g1 = theta
    f = 1.0 / (1.0 + np.exp(-(g0 + g1 * c)))
    q = 1.0 / (1.0 + np.exp(-(a0 + a1 * c + np.exp(b0 + b1 * c) * (s - 5))))
    return f + (1.0 - f) * q


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(11)
    n = args.size
    s = rng.integers(1, 6, n)
    c = rng.random(n)
    model = preset_model()
    print(f"P(loyal) scoring: {n:,} customers")
    ours = _best(lambda: model.probability(s, c), args.repeat)
    one = _best(lambda: model.probability(s, 0.7), args.repeat)
    seg = rng.integers(0, 100, n)
    levels = rng.random(100)
    by_seg = _best(lambda: model.probability_by_segment(s, seg, levels), args.repeat)
    with np.errstate(over="ignore"):
        peer = _best(lambda: _naive(model.params, s, c), args.repeat)
        gap = float(np.max(np.abs(model.probability(s, c) - _naive(model.params, s, c))))
    print(f"  crmcore, competition per customer  {ours:7.3f} s  ({n / ours / 1e6:,.1f} M/s)")
    print(f"  crmcore, one market (table lookup) {one:7.3f} s  ({n / one / 1e6:,.1f} M/s)")
    print(f"  crmcore, 100 segments (lookup)     {by_seg:7.3f} s  ({n / by_seg / 1e6:,.1f} M/s)")
    print(f"  naive numpy expression             {peer:7.3f} s  ({n / peer / 1e6:,.1f} M/s)")
    print(
        f"  ratio naive / crmcore per customer {peer / ours:7.2f}x;  one market {peer / one:.1f}x"
    )
    print(f"  max |difference| {gap:.1e}")


if __name__ == "__main__":
    main()
