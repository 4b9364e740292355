"""Fit times of crmcore's BTYD models against lifetimes 0.11.3 (same run, same machine).

    .venv/bin/python benchmarks/bench_btyd_fit.py            # CDNOW, donations, CDNOW x 20
    .venv/bin/python benchmarks/bench_btyd_fit.py --full     # also CDNOW replicated to 1,000,000

Prints per model: crmcore seconds, lifetimes seconds (its default settings, as a user
runs it), the speed ratio, and the largest relative difference of the fitted
parameters against lifetimes at its defaults and against lifetimes re-run with
``tol=1e-10`` (or 1e-9, 1e-8 where it does not converge at 1e-10; not timed: its default tolerances stop short of the optimum, most
visibly on Pareto/NBD where the default is 1e-4).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from crmcore.datasets import load_cdnow_summary, load_donations
from crmcore.valuation import fit_bgbb, fit_bgnbd, fit_gamma_gamma, fit_mbgnbd, fit_pareto_nbd


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def tightest(fit: Callable[..., Any]) -> Any:
    """lifetimes at the tightest tolerance it converges with (None if none)."""
    for tol in (1e-10, 1e-9, 1e-8):
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # it prints the failed optimiser state
                return fit(tol=tol)
        except Exception:  # lifetimes.utils.ConvergenceError: its BFGS loses precision
            continue
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--full", action="store_true", help="also CDNOW replicated to 1,000,000 customers"
    )
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    s = load_cdnow_summary()
    d = load_donations()
    rep = s["x"] > 0
    sizes = [1, 20] + ([425] if args.full else [])  # 425 x 2357 = 1,001,725 customers
    print(
        f"{'model':<12}{'customers':>11}{'crmcore s':>11}{'lifetimes s':>13}{'ratio':>8}"
        f"{'rel diff':>10}{'tight tol':>11}"
    )
    for k in sizes:
        run_size(k, s, d, rep, args.repeat)


def run_size(k: int, s: dict[str, Any], d: dict[str, Any], rep: Any, repeat: int) -> None:
    import lifetimes

    x, tx, T = (np.tile(s[c], k) for c in ("x", "t_x", "T"))
    xr, mr = np.tile(s["x"][rep], k), np.tile(s["zbar"][rep], k)
    rep_n = 1 if k > 20 else repeat
    cases: list[
        tuple[
            str,
            int,
            Callable[..., Any],
            Callable[..., Any],
            Callable[[Any], list[float]],
            Callable[[Any], list[float]],
        ]
    ] = [
        (
            "BG/NBD",
            len(x),
            lambda: fit_bgnbd(x, tx, T),
            lambda **kw: lifetimes.BetaGeoFitter().fit(x, tx, T, **kw),
            lambda m: [m.params.r, m.params.alpha, m.params.a, m.params.b],
            lambda f: list(f.params_.values),
        ),
        (
            "MBG/NBD",
            len(x),
            lambda: fit_mbgnbd(x, tx, T),
            lambda **kw: lifetimes.ModifiedBetaGeoFitter().fit(x, tx, T, **kw),
            lambda m: [m.params.r, m.params.alpha, m.params.a, m.params.b],
            lambda f: list(f.params_.values),
        ),
        (
            "Pareto/NBD",
            len(x),
            lambda: fit_pareto_nbd(x, tx, T),
            lambda **kw: lifetimes.ParetoNBDFitter().fit(x, tx, T, **kw),
            lambda m: [m.params.r, m.params.alpha, m.params.s, m.params.beta],
            lambda f: list(f.params_.values),
        ),
        (
            "Gamma-Gamma",
            len(xr),
            lambda: fit_gamma_gamma(xr, mr),
            lambda **kw: lifetimes.GammaGammaFitter().fit(xr, mr, **kw),
            lambda m: [m.params.p, m.params.q, m.params.gamma],
            lambda f: list(f.params_.values),
        ),
    ]
    if k == 1:
        cases.append(
            (
                "BG/BB",
                int(d["weights"].sum()),
                lambda: fit_bgbb(d["frequency"], d["recency"], d["periods"], weights=d["weights"]),
                lambda **kw: lifetimes.BetaGeoBetaBinomFitter().fit(
                    d["frequency"], d["recency"], d["periods"], weights=d["weights"], **kw
                ),
                lambda m: [m.params.alpha, m.params.beta, m.params.gamma, m.params.delta],
                lambda f: list(f.params_.values),
            )
        )
    for name, n, ours, theirs, p_ours, p_theirs in cases:
        rep_l = 1 if name == "Pareto/NBD" and k > 20 else rep_n
        t_o, m = best_of(ours, rep_n)
        t_l, f = best_of(theirs, rep_l)
        diff = np.max(np.abs(np.array(p_ours(m)) / np.array(p_theirs(f)) - 1))
        tight = tightest(theirs) if k <= 20 else None
        tdiff = (
            np.max(np.abs(np.array(p_ours(m)) / np.array(p_theirs(tight)) - 1)) if tight else np.nan
        )
        print(
            f"{name:<12}{n:>11,}{t_o:>11.4f}{t_l:>13.3f}{t_l / t_o:>7.1f}x{diff:>10.1e}{tdiff:>11.1e}"
        )


if __name__ == "__main__":
    main()
