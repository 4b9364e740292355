"""Benchmark: NPS with adjusted-Wald intervals for many segments (crmcore vs a pandas groupby).

Run: ``.venv/bin/python benchmarks/bench_economics_nps.py`` (default 1,000
segments × 10,000 answers = 10 million answers; ``--segments``/``--per-segment``
to change). Prints the crmcore time, the pandas time measured in the same run
and their ratio; both compute the same table and the script checks they agree.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from crmcore.valuation import nps_by_group


def _pandas_nps(scores: np.ndarray, groups: np.ndarray) -> tuple[Any, Any, Any]:
    import pandas as pd

    df = pd.DataFrame({"g": groups, "s": scores})
    df["pro"] = df["s"] >= 9
    df["det"] = df["s"] <= 6
    agg = df.groupby("g").agg(n=("s", "size"), pro=("pro", "sum"), det=("det", "sum"))
    n = agg["n"].to_numpy(float)
    p = agg["pro"].to_numpy() / n
    d = agg["det"].to_numpy() / n
    nt = n + 3.0
    pt = (n * p + 0.75) / nt
    dt = (n * d + 0.75) / nt
    st = pt - dt
    half = 1.959963984540054 * np.sqrt((pt + dt - st * st) / nt)
    return p - d, st - half, st + half


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--segments", type=int, default=1000)
    ap.add_argument("--per-segment", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    n = args.segments * args.per_segment
    groups = np.repeat(np.arange(args.segments), args.per_segment)
    rng.shuffle(groups)
    scores = rng.integers(0, 11, size=n)
    print(f"NPS with intervals: {args.segments:,} segments x {args.per_segment:,} answers = {n:,}")

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    ours = best(lambda: nps_by_group(scores, groups))
    peer = best(lambda: _pandas_nps(scores, groups))
    t = nps_by_group(scores, groups)
    s, lo, hi = _pandas_nps(scores, groups)
    assert np.allclose(t.score, s) and np.allclose(t.low, lo) and np.allclose(t.high, hi)
    print(f"crmcore nps_by_group : {ours:8.3f} s")
    print(f"pandas groupby       : {peer:8.3f} s")
    print(f"ratio pandas/crmcore : {peer / ours:8.2f}x")


if __name__ == "__main__":
    main()
