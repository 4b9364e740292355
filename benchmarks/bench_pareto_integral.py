"""The Pareto/NBD likelihood's one integral method against the reduced-form quadrature.

    .venv/bin/python benchmarks/bench_pareto_integral.py

ln I = ln ∫_{t_x}^{T} (α_i+τ)^-(r+x) (β_i+τ)^-(s+1) dτ with its gradient and Hessian in
(r, s, ln α_i, ln β_i) for the active rows of a fit, at the estimates: by the fits' method
(the Euler-transformed series at the ends of the intervals, ``_pareto_loglik.log_integral``)
and by the reduced-form Gauss-Legendre quadrature row by row (``log_integral_hessian``, the
quadrature the predictions use), on CDNOW, 20,000 daily-grid customers and 20,000 with one
covariate (the data of bench_pareto_covariate_fit.py). Prints the CPU time of each (best of
--repeat, one thread), their ratio and the largest relative difference of ln I and of its
gradient.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench_pareto_covariate_fit import data as covariate_data
from crmcore.datasets import load_cdnow_summary
from crmcore.valuation import ParetoNBDParams, simulate_pareto_nbd
from crmcore.valuation.btyd import _pareto_loglik as pl
from crmcore.valuation.btyd._design import FitData
from crmcore.valuation.btyd._pareto_math import log_integral_hessian


def cpu(fn: Callable[[], Any], repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        c = time.process_time()
        fn()
        best = min(best, time.process_time() - c)
    return best * 1e3


def case(name: str, x: Any, tx: Any, T: Any, theta: np.ndarray, z: Any, repeat: int) -> None:
    zz = np.zeros((len(x), 0)) if z is None else np.asarray(z, dtype=float)[:, None]
    rows = pl.ParetoRows.build(FitData.build(x, tx, T, None, zz, zz))
    d, na = rows.data, rows.n_act
    r, a, s, b = theta[:4]
    al, be = a, b
    if z is not None:
        al = a * np.exp(-theta[4] * d.zp[:, 0])
        be = b * np.exp(-theta[5] * d.zd[:, 0])
    args = (
        r + d.x[:na],
        np.full(na, s + 1.0),
        np.broadcast_to(al, (len(d.x),))[:na].copy(),
        np.broadcast_to(be, (len(d.x),))[:na].copy(),
        d.tx[:na],
        d.T[:na],
    )
    t_s = cpu(lambda: pl.log_integral(theta, rows, al, be, True), repeat)
    t_q = cpu(lambda: log_integral_hessian(*args), repeat)
    ls, gs, _ = pl.log_integral(theta, rows, al, be, True)
    lq, gq, _ = log_integral_hessian(*args)
    dl = float(np.max(np.abs(ls - lq) / np.maximum(1.0, np.abs(lq))))
    dg = float(np.max(np.abs(gs - gq) / np.maximum(1.0, np.abs(gq))))
    print(
        f"{name:<28}{len(x):>10,}{na:>8,}{len(rows.ends.tau):>8,}{t_s:>10.2f}{t_q:>12.2f}"
        f"{t_q / t_s:>8.2f}x{dl:>10.1e}{dg:>10.1e}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}; CPU ms, best of "
          f"{args.repeat}")  # fmt: skip
    print(f"{'data':<28}{'customers':>10}{'active':>8}{'ends':>8}{'series':>10}{'quadrature':>12}"
          f"{'ratio':>9}{'ln I diff':>10}{'grad diff':>10}")  # fmt: skip
    s = load_cdnow_summary()
    x, tx, T = (np.asarray(s[k], dtype=float) for k in ("x", "t_x", "T"))
    case("CDNOW", x, tx, T, np.array([0.5533, 10.578, 0.6062, 11.668]), None, args.repeat)
    T0 = np.random.default_rng(0).integers(1, 731, 20_000).astype(float)
    px, ptx, pT = simulate_pareto_nbd(ParetoNBDParams(0.55, 100.0, 0.6, 300.0), T0, seed=4)
    theta = np.array([0.5526, 99.30, 0.6733, 350.83])
    case("daily grid", px, np.ceil(ptx), pT, theta, None, args.repeat)
    cx, ctx, cT, z = covariate_data(20_000)
    theta = np.array([0.5525, 101.14, 0.6058, 309.99, 0.3898, -0.2993])
    case("daily grid, one covariate", cx, ctx, cT, theta, z, args.repeat)


if __name__ == "__main__":
    main()
