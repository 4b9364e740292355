"""Pareto/NBD fit with a covariate on daily-grid customers (analytic gradient and Hessian).

    .venv/bin/python benchmarks/bench_pareto_covariate_fit.py                # 20,000 customers
    .venv/bin/python benchmarks/bench_pareto_covariate_fit.py --numerical    # + the old way

Customers: ages T uniform over 1..730 days, one standard-normal covariate z that raises
the purchase rate (gamma_purchase = 0.4) and lowers the drop-out rate (gamma_dropout =
-0.3) from r = 0.55, alpha = 100, s = 0.6, beta = 300 (days); histories simulated, whole-day
recencies. The fit takes z as both purchase and drop-out covariate (six parameters).
Prints the best of --repeat fits (seconds), the estimates, the evaluations of the
log-likelihood (with the Hessian: trust-region Newton steps; value and gradient), and the
analytic gradient against central differences at a point away from the optimum. With --numerical, the same engine
on the same data with forward-difference gradients (how the fit ran before), and the ratio.
lifetimes has no Pareto/NBD with covariates: the floor is the fit without covariates.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from crmcore.valuation import fit_pareto_nbd
from crmcore.valuation.btyd import _pareto_loglik as pl
from crmcore.valuation.btyd import pareto_nbd as pn
from crmcore.valuation.btyd._design import FitData


def data(n: int, seed: int = 5) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 731, n).astype(float)
    z = rng.normal(size=n)
    lam = rng.gamma(0.55, 1 / 100.0, n) * np.exp(0.4 * z)
    mu = rng.gamma(0.6, 1 / 300.0, n) * np.exp(-0.3 * z)
    window = np.minimum(rng.exponential(1 / mu), T)
    x = rng.poisson(lam * window).astype(float)
    tx = np.where(x > 0, window * rng.beta(np.maximum(x, 1.0), 1.0), 0.0)
    tx = np.where(x > 0, np.clip(np.ceil(tx), 1.0, T), 0.0)
    return x, tx, T, z


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--numerical", action="store_true", help="also time forward differences")
    args = ap.parse_args()
    x, tx, T, z = data(args.size)
    calls = [0, 0]
    one = pl.loglik  # the fits' one likelihood (plain: no covariate column)

    def counted(th: np.ndarray, rows: pl.ParetoRows, *, hessian: bool = True) -> tuple:  # type: ignore[type-arg]
        calls[1 if hessian else 0] += 1
        return one(th, rows, hessian=hessian)

    pn.loglik = counted  # type: ignore[assignment]
    best = cpu = np.inf
    for _ in range(args.repeat):
        calls[:] = [0, 0]
        t, c = time.perf_counter(), time.process_time()
        m = fit_pareto_nbd(x, tx, T, purchase_covariates=z, dropout_covariates=z)
        best = min(best, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    pn.loglik = one  # type: ignore[assignment]
    t, c = time.perf_counter(), time.process_time()
    plain = fit_pareto_nbd(x, tx, T)
    t_plain, c_plain = time.perf_counter() - t, time.process_time() - c
    p, cov = m.params, m.covariates
    assert cov is not None
    theta = np.array([p.r, p.alpha, p.s, p.beta, *cov.purchase, *cov.dropout])
    zz = z[:, None]
    rows = pl.ParetoRows.build(FitData.build(x, tx, T, None, zz, zz))

    def analytic(th: np.ndarray) -> tuple[float, np.ndarray]:
        ll, g, _ = one(th, rows, hessian=False)
        return ll, g

    away = theta * np.array([1.2, 0.8, 1.1, 1.3, 0.5, 1.5])  # the gradient is large here
    _, g = analytic(away)
    fd = np.empty_like(away)
    for j in range(len(away)):
        h = 1e-5 * max(1.0, abs(away[j]))
        up, dn = away.copy(), away.copy()
        up[j] += h
        dn[j] -= h
        fd[j] = (analytic(up)[0] - analytic(dn)[0]) / (2 * h)
    print(f"{args.size:,} daily-grid customers, one covariate (purchase and drop-out)")
    print(
        f"  fit with covariates: {best:.2f} s (best of {args.repeat}; CPU {cpu:.2f} s); "
        f"evaluations (with the start, the fit without covariates): "
        f"{calls[1]} with the Hessian, {calls[0]} value and gradient"
    )
    print(f"  estimates r={p.r:.4f} alpha={p.alpha:.2f} s={p.s:.4f} beta={p.beta:.2f} "
          f"gamma_purchase={cov.purchase[0]:.4f} gamma_dropout={cov.dropout[0]:.4f}")  # fmt: skip
    print(f"  gradient away from the optimum, largest |analytic - central difference| / |fd|: "
          f"{float(np.max(np.abs(g - fd) / np.abs(fd))):.1e}")  # fmt: skip
    print(f"  floor, the fit without covariates: {t_plain:.2f} s (CPU {c_plain:.2f} s)")
    if args.numerical:
        from crmcore.valuation.btyd._common import TIME_SCALES, maximize

        def numeric(th: np.ndarray) -> tuple[float, None]:
            return analytic(th)[0], None

        start = np.array([*map(float, (plain.params.r, plain.params.alpha)),
                          plain.params.s, plain.params.beta, 0.0, 0.0])  # fmt: skip
        t = time.perf_counter()
        res = maximize(numeric, start, total_weight=len(x), model="Pareto/NBD with covariates",
                       names=["r", "alpha", "s", "beta", "purchase[0]", "dropout[0]"],
                       scales=TIME_SCALES, free=2)  # fmt: skip
        t_num = time.perf_counter() - t
        print(f"  forward-difference gradients (before): {t_num:.2f} s, "
              f"ratio {t_num / best:.1f}x; same estimates to "
              f"{float(np.max(np.abs(res.theta - theta) / np.abs(theta))):.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
