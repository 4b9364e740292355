"""BTYD predictions on a daily grid over two years: crmcore vs lifetimes 0.11.3 (same run),
and BG/NBD P(alive) against this machine's floor.

    .venv/bin/python benchmarks/bench_btyd_predict.py                  # 1,000,000 customers
    .venv/bin/python benchmarks/bench_btyd_predict.py --size 200000

Customers: first purchases spread over two years (ages T uniform over 1..730 days),
histories drawn from BG/NBD with CDNOW's estimates in days (r = 0.243, alpha = 30.9 days,
a = 0.793, b = 2.426), recency rounded up to whole days (a repeat purchase comes at least a
day after the first), mean spend of the repeat customers from Gamma-Gamma (p = 6.25,
q = 3.74, gamma = 15.44). The MBG/NBD row draws its customers from MBG/NBD with the same
parameters; the BG/BB row draws 1,000,000 donors over 1..6 yearly opportunities (the
donation data's estimates). Pareto/NBD predictions have their own benchmark
(bench_pareto_predict.py).

First table: the best of --repeat runs of each prediction in both libraries, run in turns
(lifetimes' CLV once: it takes seconds), the speed ratio, the target ratio, and the largest relative
difference between the two results. crmcore runs with its default parallelism
(crmcore.parallel; --threads to set it), lifetimes on one thread.

Second table: BG/NBD P(alive) against the floor of any implementation, one vectorised
float64 log and one exp per customer (numpy's, on one core), divided over the threads used;
on 1 thread and on the default thread count, measured in turns with the floors (the machine
is shared: the best of each is kept). Three floors are printed: the issue's, np.exp(np.log(a))
over an array of as many values as customers (what the target is judged against); the same
in place (np.log(a, out=b); np.exp(b, out=b): no new memory); and numpy's log + exp per
element on a 16,384-row array in cache, times the customers (a stricter reference that
counts no memory traffic at all). As a check of "divided over the threads" on a shared
machine, the in-place floor is also timed cut into one part per thread. The floors are timed in short bursts, which other work on a
busy machine rarely interrupts, while a call on a million customers takes several
milliseconds; so the table also gives the call's CPU time on one thread and the sum of the
call's blocks (check and kernel, as the call runs them) on one thread, each block timed alone
at its best. Also shown: one read of the three input columns and one write of the output on
one core (memory traffic the in-cache floor does not count), and that plus the in-cache
floor: the cost no evaluation can avoid, against each floor. The load average is printed
before and after.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from crmcore.parallel import get_threads, threads
from crmcore.valuation import (
    BGBBModel,
    BGBBParams,
    BGNBDModel,
    BGNBDParams,
    GammaGammaModel,
    GammaGammaParams,
    MBGNBDModel,
    customer_lifetime_value,
    simulate_bgbb,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_mbgnbd,
)

BG = BGNBDParams(0.243, 4.414 * 7, 0.793, 2.426)  # CDNOW's estimates, alpha in days
GG = GammaGammaParams(6.25, 3.74, 15.44)
BB = BGBBParams(1.204, 0.750, 0.657, 2.783)  # the donation data's estimates


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def alternately(
    ours: Callable[[], Any], theirs: Callable[[], Any], repeat: int, repeat_theirs: int
) -> tuple[float, float]:
    """Best times of the two, run in turns (both see the same load on a shared machine)."""
    t_o = t_l = np.inf
    for i in range(repeat):
        t_o = min(t_o, best_of(ours, 1))
        if i < repeat_theirs:
            t_l = min(t_l, best_of(theirs, 1))
    return t_o, t_l


def daily_grid(n: int, *, mbg: bool = False, seed: int = 1) -> tuple[np.ndarray, ...]:
    """(frequency, recency, T, mean spend) of n customers on a daily grid over two years."""
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 731, n).astype(float)
    draw = simulate_mbgnbd if mbg else simulate_bgnbd
    x, tx, T = draw(BG, T, seed=seed + 1)
    tx = np.where(x > 0, np.clip(np.ceil(tx), 1.0, T), 0.0)
    spend = np.where(x > 0, simulate_gamma_gamma(GG, np.maximum(x, 1), seed=seed + 2), 0.0)
    return x, tx, T, spend


def load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())


def max_rel_diff(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def versus_lifetimes(size: int, repeat: int, n_threads: int) -> None:
    import lifetimes
    import pandas as pd

    x, tx, T, m = daily_grid(size)
    bg = BGNBDModel(BG, time_unit="D")
    gg = GammaGammaModel(GG)
    lb = lifetimes.BetaGeoFitter()
    lb.params_ = pd.Series({"r": BG.r, "alpha": BG.alpha, "a": BG.a, "b": BG.b})
    lb.predict = lb.conditional_expected_number_of_purchases_up_to_time  # what its CLV calls
    lg = lifetimes.GammaGammaFitter()
    lg.params_ = pd.Series({"p": GG.p, "q": GG.q, "v": GG.gamma})
    mx, mtx, mT, _ = daily_grid(size, mbg=True, seed=11)
    mbg = MBGNBDModel(BG, time_unit="D")
    lm = lifetimes.ModifiedBetaGeoFitter()
    lm.params_ = pd.Series({"r": BG.r, "alpha": BG.alpha, "a": BG.a, "b": BG.b})
    periods = np.random.default_rng(21).integers(1, 7, size).astype(float)
    bx, btx, bn = simulate_bgbb(BB, periods, seed=22)
    bb = BGBBModel(BB)
    lbb = lifetimes.BetaGeoBetaBinomFitter()
    lbb.params_ = pd.Series(
        {"alpha": BB.alpha, "beta": BB.beta, "gamma": BB.gamma, "delta": BB.delta}
    )
    sx, stx, sT, sm = (pd.Series(a) for a in (x, tx, T, m))
    print(
        f"-- {size:,} daily-grid customers ({np.mean(x == 0):.0%} without a repeat purchase, "
        f"max frequency {x.max():.0f}); crmcore threads: {n_threads}; best of {repeat}; {load()}"
    )
    print(
        f"{'prediction':<38}{'crmcore s':>10}{'lifetimes s':>12}{'ratio':>8}{'target':>8}"
        f"{'max rel diff':>14}"
    )
    cases: list[tuple[str, Callable[[], Any], Callable[[], Any], int, str]] = [
        (
            "BG/NBD E[X(T, T+30)]",
            lambda: bg.conditional_expected_purchases(30.0, x, tx, T),
            lambda: lb.conditional_expected_number_of_purchases_up_to_time(30.0, x, tx, T),
            repeat,
            ">= 3x",
        ),
        (
            "BG/NBD E[X(T, T+365)]",
            lambda: bg.conditional_expected_purchases(365.0, x, tx, T),
            lambda: lb.conditional_expected_number_of_purchases_up_to_time(365.0, x, tx, T),
            repeat,
            ">= 3x",
        ),
        (
            "BG/NBD P(alive)",
            lambda: bg.probability_alive(x, tx, T),
            lambda: lb.conditional_probability_alive(x, tx, T),
            repeat,
            "floor",
        ),
        (
            "CLV 12 x 30 days (BG/NBD + GG)",
            lambda: customer_lifetime_value(
                bg, gg, x, tx, T, m, horizon=12, step=30.0, discount_rate=0.01
            ),
            lambda: lg.customer_lifetime_value(
                lb, sx, stx, sT, sm, time=12, discount_rate=0.01, freq="D"
            ),
            1,
            ">= 50x",
        ),
        (
            "MBG/NBD P(alive)",
            lambda: mbg.probability_alive(mx, mtx, mT),
            lambda: lm.conditional_probability_alive(mx, mtx, mT),
            repeat,
            "",
        ),
        (
            "BG/BB P(alive), 1..6 opportunities",
            lambda: bb.probability_alive(bx, btx, bn),
            lambda: lbb.conditional_probability_alive(0, bx, btx, bn),
            repeat,
            "",
        ),
    ]
    with threads(n_threads):
        for name, ours, theirs, rep_l, target in cases:
            diff = max_rel_diff(ours(), theirs())
            t_o, t_l = alternately(ours, theirs, repeat, rep_l)
            print(f"{name:<38}{t_o:>10.4f}{t_l:>12.3f}{t_l / t_o:>7.1f}x{target:>8}{diff:>14.1e}")


def floor_per_element(rounds: int = 7) -> float:
    """numpy's float64 log + exp per element, in cache on one core (seconds)."""
    a = np.random.default_rng(4).uniform(1.0, 2.0, 16_384)
    out = np.empty_like(a)
    best = np.inf
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(20):
            np.log(a, out=out)
            np.exp(out, out=out)
        best = min(best, (time.perf_counter() - t) / 20 / len(a))
    return best


def block_by_block(bg: BGNBDModel, x: Any, tx: Any, T: Any, rounds: int) -> float:
    """P(alive)'s blocks on one thread, each timed alone (check and kernel, as the call runs
    them), each at its best over ``rounds``: the call's cost with no preemption by other
    work (the floor is measured the same way), without its fixed per-call part."""
    from crmcore.valuation.btyd._blocks import BLOCK, scratch, valid_block

    out = np.empty(len(x))
    starts = range(0, len(x), BLOCK)
    best = np.full(len(starts), np.inf)
    for _ in range(rounds):
        for j, lo in enumerate(starts):
            hi = min(lo + BLOCK, len(x))
            t = time.perf_counter()
            sc = scratch(hi - lo)
            assert valid_block(x[lo:hi], tx[lo:hi], T[lo:hi], sc)
            bg._alive_block(x[lo:hi], tx[lo:hi], T[lo:hi], out[lo:hi], sc)
            best[j] = min(best[j], time.perf_counter() - t)
    return float(best.sum())


def versus_floor(size: int, repeat: int, n_threads: int) -> None:
    x, tx, T, _ = daily_grid(size)
    bg = BGNBDModel(BG, time_unit="D")
    buf = np.empty(size)
    a = np.random.default_rng(4).uniform(1.0, 2.0, size)  # the customers' array of the floor

    def stream() -> None:  # read the three inputs once, write the output once
        x.sum()
        tx.sum()
        T.sum()
        buf.fill(1.0)

    def in_place() -> None:
        np.log(a, out=buf)
        np.exp(buf, out=buf)

    def call() -> None:
        bg.probability_alive(x, tx, T)

    pool = ThreadPoolExecutor(max(n_threads - 1, 1))
    edges = np.linspace(0, size, n_threads + 1).astype(int)

    def part(lo: int, hi: int) -> None:
        np.log(a[lo:hi], out=buf[lo:hi])
        np.exp(buf[lo:hi], out=buf[lo:hi])

    def in_place_threads() -> None:  # the in-place floor cut into one part per thread
        futures = [pool.submit(part, lo, hi) for lo, hi in itertools.pairwise(edges[1:])]
        part(edges[0], edges[1])
        for f in futures:
            f.result()

    counts = sorted({1, n_threads})
    per_elem = mem = f_in = f_out = cpu = f_par = np.inf
    best = dict.fromkeys(counts, np.inf)
    for _ in range(repeat):  # in turns: every figure sees the same load
        per_elem = min(per_elem, floor_per_element(3))
        mem = min(mem, best_of(stream, 1))
        f_in = min(f_in, best_of(in_place, 3))
        f_par = min(f_par, best_of(in_place_threads, 3))
        f_out = min(f_out, best_of(lambda: np.exp(np.log(a)), 3))
        for k in counts:
            with threads(k):
                best[k] = min(best[k], best_of(call, 3))
        with threads(1):
            for _ in range(3):
                t = time.process_time()
                call()
                cpu = min(cpu, time.process_time() - t)
    blockwise = block_by_block(bg, x, tx, T, 2 * repeat)
    f_cache = per_elem * size
    floors = (f_out, f_in, f_cache)
    print(f"-- BG/NBD P(alive) on {size:,} daily-grid customers against the floor; {load()}")
    print(f"floor: numpy float64 log + exp over {size:,} values on one core (best of {3 * repeat})")
    print(f"  {f_out * 1e3:6.2f} ms  the issue's floor: np.exp(np.log(a)), the customers' array")
    print(f"  {f_in * 1e3:6.2f} ms  in place: np.log(a, out=b); np.exp(b, out=b)")
    print(
        f"  {f_cache * 1e3:6.2f} ms  in cache ({per_elem * 1e9:.2f} ns per element on a 16,384-row "
        "array), a stricter reference"
    )
    print(
        f"  {f_par * 1e3:6.2f} ms  (a check of 'divided over the threads') in place, cut into "
        f"{n_threads} parts on {n_threads} threads: {f_in / f_par:.2f}x faster than on one"
    )
    print(
        f"  {mem * 1e3:6.2f} ms  (not a floor) one read of the three inputs, one write of the output"
    )
    print(
        f"{'crmcore':<36}{'threads':>8}{'ms':>8}{'/ issue':>9}{'/ in place':>11}"
        f"{'/ in cache':>11}{'target':>8}"
    )
    rows = [(f"probability_alive, best of {3 * repeat}", k, best[k]) for k in counts]
    rows.append(("probability_alive, CPU time", 1, cpu))
    rows.append(("its blocks, each at its best", 1, blockwise))
    rows.append(("unavoidable: in-cache floor + r/w", 1, f_cache + mem))
    for label, k, t in rows:
        ratios = "".join(
            f"{t / (f / k):>{w}.2f}x" for f, w in zip(floors, (8, 10, 10), strict=True)
        )
        print(f"{label:<36}{k:>8}{t * 1e3:>8.2f}{ratios}{'1.5x':>8}")
    print(
        "The target is judged against the issue's floor (one vectorised log and one exp over "
        "the customers' array, divided over the threads used). The in-cache floor counts no "
        f"memory traffic: the in-cache floor plus one read/write of the data is already "
        f"{(f_cache + mem) / f_cache:.2f}x of it, so 1.5x of it is out of reach by construction."
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None, help="crmcore threads (default: auto)")
    ap.add_argument("--floor-only", action="store_true", help="only the P(alive) floor table")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    n_threads = args.threads or get_threads()
    if not args.floor_only:
        versus_lifetimes(args.size, args.repeat, n_threads)
    versus_floor(args.size, args.repeat, n_threads)
    print(f"-- done; {load()}")


if __name__ == "__main__":
    main()
