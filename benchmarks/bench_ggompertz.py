"""Gamma-Gompertz/NBD: fit and prediction times, against a floor and Pareto/NBD (same run).

    .venv/bin/python benchmarks/bench_ggompertz.py                    # 200,000 customers
    .venv/bin/python benchmarks/bench_ggompertz.py --size 1000000

No peer implementation runs here: R's CLVTools (``ggomnbd``, one GSL adaptive quadrature
per customer) needs R, which this machine does not have (the script says whether
``Rscript`` is on the PATH), and lifetimes has no Gamma-Gompertz model. Each figure is
printed with two ratios:

* ``x floor``: against one fixed 16-node Gauss-Legendre pass over the same distinct rows
  (one log, one exp and one expm1 per node: what any quadrature of the death-time integral
  must do at the least; the adaptive scheme refines where the integrand needs it);
* ``x Pareto/NBD``: against crmcore's Pareto/NBD on the same histories (the b -> 0 limit,
  whose integral has a near-closed form; its fit only on CDNOW: on Gamma-Gompertz data its
  s runs towards the edge and its fit takes minutes).

Histories are simulated Gamma-Gompertz/NBD customers on a daily grid, acquired over one
year and observed for two (ages 365-730 days): nearly every history is distinct. The fit
uses --fit-size of them. crmcore runs on one thread by default (``--threads``), like the
floor, so the ratios compare work per core on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from crmcore.datasets import load_cdnow_sample
from crmcore.errors import FitError
from crmcore.parallel import get_threads, set_threads
from crmcore.valuation import (
    GGompertzNBDModel,
    GGompertzNBDParams,
    ParetoNBDModel,
    ParetoNBDParams,
    customer_lifetime_value,
    fit_ggompertz_nbd,
    fit_pareto_nbd,
    simulate_ggompertz_nbd,
    summarize_transactions,
)
from crmcore.valuation.btyd._common import factorize_rows

TRUE = GGompertzNBDParams(r=0.85, alpha=30.0, b=0.004, s=0.75, beta=5.0)  # per day


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    out = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def peer_time(fn: Callable[[], Any], repeat: int) -> float | None:
    """The Pareto/NBD figure, None where that model does not offer the call."""
    try:
        return best_of(fn, repeat)
    except (AttributeError, TypeError, ValueError) as e:
        print(f"   (Pareto/NBD: {type(e).__name__}: {str(e)[:100]})")
        return None


def daily_histories(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    T = np.floor(np.random.default_rng(seed).uniform(365, 731, n))
    x, tx, T = simulate_ggompertz_nbd(TRUE, T, seed=seed + 1)
    tx = np.where(x > 0, np.minimum(np.maximum(np.ceil(tx), 1.0), T), 0.0)
    return x, tx, T


def floor(x: np.ndarray, tx: np.ndarray, T: np.ndarray, p: GGompertzNBDParams) -> float:
    """One 16-node Gauss-Legendre pass of the likelihood's log-integrand over the distinct
    rows (the least a quadrature of the death-time integral does)."""
    (ux, utx, uT), _ = factorize_rows(x, tx, T)
    nodes, weights = np.polynomial.legendre.leggauss(16)

    def one() -> None:
        for lo in range(0, len(ux), 8192):
            sl = slice(lo, lo + 8192)
            a, b = utx[sl, None], uT[sl, None]
            u = (a + b) / 2 + (b - a) / 2 * nodes
            f = -(p.r + ux[sl, None]) * np.log(p.alpha + u) + p.b * u
            f -= (p.s + 1) * np.log(p.beta + np.expm1(p.b * u))
            np.exp(f) @ weights

    return best_of(one, 3)


def line(what: str, n: int, seconds: float, fl: float | None, pareto: float | None) -> None:
    ratio_f = f"{seconds / fl:7.1f}x" if fl else "      -"
    ratio_p = f"{seconds / pareto:7.1f}x" if pareto else "      -"
    print(f"{what:38s} {n:>10,d} {seconds:9.3f} s {ratio_f} floor {ratio_p} Pareto/NBD")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=200_000)
    ap.add_argument("--fit-size", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="crmcore threads (the floor uses one)")
    args = ap.parse_args()
    set_threads(args.threads)
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}, "
        f"Rscript: {shutil.which('Rscript') or 'not installed (no CLVTools run)'}"
    )
    print(f"{'':38s} {'customers':>10s} {'seconds':>11s}")
    print(f"{'':38s} {'(threads: ' + str(get_threads()) + ')':>10s}")

    s = summarize_transactions(load_cdnow_sample(), time_unit="W", calibration_end="1997-09-30")
    t = time.perf_counter()
    try:
        fit_ggompertz_nbd(s)
        outcome = "a maximum"
    except FitError:
        outcome = "FitError: the Pareto/NBD limit"
    cd = time.perf_counter() - t
    t_p = best_of(lambda: fit_pareto_nbd(s), 1)
    line(f"fit CDNOW ({outcome[:30]})", len(s.T), cd, None, t_p)

    x, tx, T = daily_histories(args.fit_size, 10)
    t = time.perf_counter()
    m = fit_ggompertz_nbd(x, tx, T, time_unit="D")
    fit_s = time.perf_counter() - t
    line("fit, daily grid", len(x), fit_s, None, None)
    assert m.fit is not None
    print(f"   {m.fit.iterations} iterations; estimates {np.round(m.fit.estimates, 4).tolist()}")
    print(f"   truth {[TRUE.r, TRUE.alpha, TRUE.b, TRUE.s, TRUE.beta]}")

    x, tx, T = daily_histories(args.size, 20)
    (_, _, _), inv = factorize_rows(x, tx, T)
    print(f"   {args.size:,d} customers, {inv.max() + 1:,d} distinct histories")
    gg = GGompertzNBDModel(m.params, time_unit="D")
    p = m.params
    pn = ParetoNBDModel(ParetoNBDParams(p.r, p.alpha, p.s, p.beta / p.b), time_unit="D")
    fl = floor(x, tx, T, p)
    line("floor: one 16-node pass", len(x), fl, None, None)
    r = args.repeat
    for what, g_call, p_call in (
        (
            "P(alive)",
            lambda: gg.probability_alive(x, tx, T),
            lambda: pn.probability_alive(x, tx, T),
        ),
        (
            "E[purchases in 365 days]",
            lambda: gg.conditional_expected_purchases(365, x, tx, T),
            lambda: pn.conditional_expected_purchases(365, x, tx, T),
        ),
        (
            "P(repurchase in 90 days)",
            lambda: gg.probability_of_repurchase(90, x, tx, T),
            lambda: pn.probability_of_repurchase(90, x, tx, T),
        ),
        (
            "CLV, 12 monthly steps",
            lambda: customer_lifetime_value(gg, None, x, tx, T, np.full(len(x), 30.0)),
            lambda: customer_lifetime_value(pn, None, x, tx, T, np.full(len(x), 30.0)),
        ),
    ):
        line(what, len(x), best_of(g_call, r), fl, peer_time(p_call, r))
    ts = np.arange(1.0, 731.0)
    line(
        "E[X(t)], 730 horizons",
        len(ts),
        best_of(lambda: gg.expected_purchases(ts), r),
        None,
        peer_time(lambda: pn.expected_purchases(ts), r),
    )


if __name__ == "__main__":
    main()
