"""Predictions on many customers: crmcore vs lifetimes 0.11.3 (same run, same machine).

    .venv/bin/python benchmarks/bench_btyd_predict.py                  # 200,000 customers
    .venv/bin/python benchmarks/bench_btyd_predict.py --size 1000000   # the issue's size

Customers are the CDNOW calibration summary replicated to --size, and (second
block) --size simulated BG/NBD customers on a daily grid (nearly all distinct
histories); a third block times P(alive) of the other models (MBG/NBD and
Pareto/NBD on CDNOW replicated, BG/BB on the donations data replicated).
Prints seconds, the ratio and the peak memory of each call (tracemalloc, which
sees numpy's allocations).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from crmcore.datasets import load_cdnow_summary, load_donations
from crmcore.valuation import (
    BGNBDParams,
    customer_lifetime_value,
    fit_bgbb,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_mbgnbd,
    fit_pareto_nbd,
    simulate_bgnbd,
)


def measure(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return best, peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import lifetimes
    import pandas as pd

    s = load_cdnow_summary()
    rep = s["x"] > 0
    bg = fit_bgnbd(s["x"], s["t_x"], s["T"])
    gg = fit_gamma_gamma(s["x"][rep], s["zbar"][rep])
    lb = lifetimes.BetaGeoFitter()
    lb.params_ = pd.Series(
        {"r": bg.params.r, "alpha": bg.params.alpha, "a": bg.params.a, "b": bg.params.b}
    )
    lb.predict = lb.conditional_expected_number_of_purchases_up_to_time
    lg = lifetimes.GammaGammaFitter()
    lg.params_ = pd.Series({"p": gg.params.p, "q": gg.params.q, "v": gg.params.gamma})

    k = -(-args.size // len(s["x"]))
    replicated = tuple(np.tile(s[c], k)[: args.size] for c in ("x", "t_x", "T", "zbar"))
    T = np.round(np.random.default_rng(1).uniform(30, 39, args.size) * 7) / 7
    x, tx, TT = simulate_bgnbd(BGNBDParams(0.243, 4.414, 0.793, 2.426), T, seed=2)
    tx = np.minimum(
        np.ceil(tx * 7) / 7, TT
    )  # whole days; a repeat purchase >= 1 day after the first
    m = np.where(x > 0, np.random.default_rng(3).gamma(6.0, 6.0, args.size), 0.0)
    for label, (fx, ftx, fT, fm) in (
        ("CDNOW replicated", replicated),
        ("simulated, daily grid", (x, tx, TT, m)),
    ):
        run_block(label, fx, ftx, fT, fm, bg, gg, lb, lg, args.size, args.repeat)
    other_models(s, replicated[:3], args.size, args.repeat)
    transcendental_floor(args.size)


def transcendental_floor(size: int) -> None:
    """numpy's float64 log and exp per element here: the floor of any P(alive) (one of each
    per customer), which no arrangement of numpy calls removes."""
    a = np.random.default_rng(4).uniform(1.0, 2.0, 65_536)
    out = np.empty_like(a)
    per = {}
    for name, fn in (("log", np.log), ("exp", np.exp)):
        best = np.inf
        for _ in range(7):
            t = time.perf_counter()
            for _ in range(50):
                fn(a, out=out)
            best = min(best, (time.perf_counter() - t) / 50 / len(a))
        per[name] = best * 1e9
    total = (per["log"] + per["exp"]) * size / 1e6
    print(
        f"-- numpy float64 log {per['log']:.2f} ns + exp {per['exp']:.2f} ns per element "
        f"(in cache): {total:.1f} ms per {size:,} customers on one core"
    )


def other_models(s: dict[str, Any], hist: tuple[Any, ...], size: int, repeat: int) -> None:
    import lifetimes
    import pandas as pd

    fx, ftx, fT = hist
    mbg = fit_mbgnbd(s["x"], s["t_x"], s["T"])
    pn = fit_pareto_nbd(s["x"], s["t_x"], s["T"])
    d = load_donations()
    bb = fit_bgbb(d["frequency"], d["recency"], d["periods"], weights=d["weights"])
    k = -(-size // len(d["frequency"]))
    reps = np.repeat(np.arange(len(d["frequency"])), d["weights"].astype(int))
    bx, btx, bn = (np.tile(d[c][reps], k)[:size] for c in ("frequency", "recency", "periods"))
    lm = lifetimes.ModifiedBetaGeoFitter()
    lm.params_ = pd.Series(
        dict(zip(["r", "alpha", "a", "b"], attrs.astuple(mbg.params), strict=True))
    )
    lp = lifetimes.ParetoNBDFitter()
    lp.params_ = pd.Series(
        dict(zip(["r", "alpha", "s", "beta"], attrs.astuple(pn.params), strict=True))
    )
    lbb = lifetimes.BetaGeoBetaBinomFitter()
    lbb.params_ = pd.Series(
        dict(zip(["alpha", "beta", "gamma", "delta"], attrs.astuple(bb.params), strict=True))
    )
    print(f"-- {size:,} customers, P(alive) of the other models")
    print(
        f"{'model':<34}{'crmcore s':>10}{'lifetimes s':>12}{'ratio':>8}{'crmcore MiB':>13}{'lifetimes MiB':>15}"
    )
    cases = [
        (
            "MBG/NBD (CDNOW replicated)",
            lambda: mbg.probability_alive(fx, ftx, fT),
            lambda: lm.conditional_probability_alive(fx, ftx, fT),
            repeat,
        ),
        (
            "Pareto/NBD (CDNOW replicated)",
            lambda: pn.probability_alive(fx, ftx, fT),
            lambda: lp.conditional_probability_alive(fx, ftx, fT),
            1,
        ),
        (
            "BG/BB (donations replicated)",
            lambda: bb.probability_alive(bx, btx, bn),
            lambda: lbb.conditional_probability_alive(0, bx, btx, bn),
            repeat,
        ),
    ]
    for name, ours, theirs, rep_l in cases:
        a = np.asarray(ours())
        b = np.asarray(theirs())
        assert np.allclose(a, b, rtol=1e-6, atol=1e-10), name
        t_o, m_o = measure(ours, repeat)
        t_l, m_l = measure(theirs, rep_l)
        print(f"{name:<34}{t_o:>10.3f}{t_l:>12.3f}{t_l / t_o:>7.1f}x{m_o:>13.1f}{m_l:>15.1f}")


def run_block(
    label: str,
    fx: Any,
    ftx: Any,
    fT: Any,
    fm: Any,
    bg: Any,
    gg: Any,
    lb: Any,
    lg: Any,
    size: int,
    repeat: int,
) -> None:
    import pandas as pd

    print(f"-- {size:,} customers, {label}")
    print(
        f"{'prediction':<34}{'crmcore s':>10}{'lifetimes s':>12}{'ratio':>8}{'crmcore MiB':>13}{'lifetimes MiB':>15}"
    )
    sx, stx, sT, sm = (pd.Series(a) for a in (fx, ftx, fT, fm))
    cases = [
        (
            "conditional expected purchases 39w",
            lambda: bg.conditional_expected_purchases(39.0, fx, ftx, fT),
            lambda: lb.conditional_expected_number_of_purchases_up_to_time(39.0, fx, ftx, fT),
        ),
        (
            "P(alive)",
            lambda: bg.probability_alive(fx, ftx, fT),
            lambda: lb.conditional_probability_alive(fx, ftx, fT),
        ),
        (
            "CLV 12 months (BG/NBD + GG)",
            lambda: customer_lifetime_value(
                bg, gg, fx, ftx, fT, fm, horizon=12, step=4.345, discount_rate=0.01
            ),
            lambda: lg.customer_lifetime_value(
                lb, sx, stx, sT, sm, time=12, discount_rate=0.01, freq="W"
            ),
        ),
    ]
    for name, ours, theirs in cases:
        a = np.asarray(ours())
        b = np.asarray(theirs())
        assert np.allclose(a, b, rtol=1e-8, atol=1e-10), name
        t_o, m_o = measure(ours, repeat)
        t_l, m_l = measure(theirs, 1 if "CLV" in name else repeat)
        print(f"{name:<34}{t_o:>10.3f}{t_l:>12.3f}{t_l / t_o:>7.1f}x{m_o:>13.1f}{m_l:>15.1f}")


if __name__ == "__main__":
    main()
