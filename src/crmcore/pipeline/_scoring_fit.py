"""The two scoring fits: L2-regularised logistic regression on one-hot levels, and naive Bayes.

Both work on a matrix of level codes (one column per factor, one row per
training moment) and return per-level log-odds coefficients and an intercept,
so a score is ``intercept + sum of the coefficients of the deal's levels``.

* :func:`fit_logistic` maximises the Bernoulli log-likelihood of the won flag
  minus ``sum(beta**2) / (2 * prior_sd**2)`` (a Gaussian prior on every level
  effect; the intercept gets a flat-ish N(0, 10**2) prior so that a history
  with no win or no loss still has a finite optimum). Rows with the same
  levels are merged first (binomial counts), so the work grows with the
  number of distinct level combinations, not with the number of moments.
  The objective is convex; scipy's trust-region Newton-CG method solves it
  with the exact gradient and Hessian-vector products.
* :func:`fit_naive_bayes` is the frequency method of Odoo's predictive lead
  scoring as its documentation describes it: ``P(won | levels)`` by Bayes'
  rule with the levels independent given the outcome, from won and lost
  counts per level (``smoothing`` pseudo-deals added to each count).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray, IntArray
from crmcore.errors import FitError

__all__ = ["LogisticFit", "fit_logistic", "fit_naive_bayes"]

_INTERCEPT_SD = 10.0
_DENSE_LEVELS = 1500  # up to this many levels the exact Hessian is built
LogisticFit = tuple[float, list[FloatArray], float, bool, int]


def _merge(
    codes: IntArray, sizes: Sequence[int], y: npt.NDArray[np.bool_]
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Distinct rows of global level indices, with their number of moments and of wins."""
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    glob = codes.astype(np.int64) + offsets[None, :]
    radix = np.asarray(sizes, dtype=np.float64)
    if float(np.prod(radix)) < 2.0**62:
        mult = np.concatenate([np.cumprod(np.asarray(sizes[::-1], dtype=np.int64))[::-1][1:], [1]])
        key = codes.astype(np.int64) @ mult
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    else:
        _, first, inv = np.unique(glob, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    n = np.bincount(inv).astype(np.float64)
    wins: FloatArray = np.bincount(inv, weights=y.astype(np.float64), minlength=len(n)).astype(
        np.float64, copy=False
    )
    rows: IntArray = glob[first]
    return rows, n, wins


def fit_logistic(
    codes: IntArray, sizes: Sequence[int], y: npt.NDArray[np.bool_], *, prior_sd: float
) -> LogisticFit:
    """``(intercept, coefficients per factor, log-likelihood, converged, iterations)``.

    >>> codes = np.array([[0], [0], [1], [1]])
    >>> b0, (b,), ll, ok, _ = fit_logistic(codes, [2], np.array([1, 0, 1, 1], bool), prior_sd=100.0)
    >>> round(float(1 / (1 + np.exp(-(b0 + b[0])))), 3), ok
    (0.5, True)
    """
    from scipy import optimize  # a slow import, needed only when fitting

    x, n, wins = _merge(codes, sizes, y)
    total = float(n.sum())
    j = int(np.sum(sizes))
    f = x.shape[1]
    flat = x.ravel()
    inv_var = 1.0 / prior_sd**2
    inv_var0 = 1.0 / _INTERCEPT_SD**2

    def eta(theta: FloatArray) -> FloatArray:
        out: FloatArray = theta[0] + theta[1:][x].sum(axis=1)
        return out

    def back(r: FloatArray) -> FloatArray:  # X^T r
        out: FloatArray = np.bincount(flat, weights=np.repeat(r, f), minlength=j).astype(
            np.float64, copy=False
        )
        return out

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        e = eta(theta)
        p = 0.5 * (1.0 + np.tanh(0.5 * e))  # expit without overflow
        nll = float(np.sum(n * np.logaddexp(0.0, e) - wins * e))
        pen = 0.5 * (inv_var0 * theta[0] ** 2 + inv_var * float(theta[1:] @ theta[1:]))
        r = n * p - wins
        g = np.concatenate([[r.sum() + inv_var0 * theta[0]], back(r) + inv_var * theta[1:]])
        return (nll + pen) / total, g / total

    def hessp(theta: FloatArray, v: FloatArray) -> FloatArray:
        e = eta(theta)
        p = 0.5 * (1.0 + np.tanh(0.5 * e))
        w = n * p * (1.0 - p)
        u = w * (v[0] + v[1:][x].sum(axis=1))
        out = np.concatenate([[u.sum() + inv_var0 * v[0]], back(u) + inv_var * v[1:]])
        return out / total

    rate = (wins.sum() + 0.5) / (total + 1.0)
    theta0 = np.zeros(j + 1)
    theta0[0] = np.log(rate / (1.0 - rate))
    if j <= _DENSE_LEVELS:  # a small Hessian: build it (one sparse product) and solve exactly
        from scipy import sparse

        rows = np.repeat(np.arange(len(n)), f + 1)
        cols = np.concatenate([np.zeros((len(n), 1), dtype=np.int64), x + 1], axis=1).ravel()
        design = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(n), j + 1))
        ridge = np.full(j + 1, inv_var)
        ridge[0] = inv_var0

        def hess(theta: FloatArray) -> FloatArray:
            e = eta(theta)
            p = 0.5 * (1.0 + np.tanh(0.5 * e))
            weighted = design.multiply((n * p * (1.0 - p))[:, None]).tocsr()
            h = np.asarray((design.T @ weighted).toarray()) + np.diag(ridge)
            out: FloatArray = h / total
            return out

        res = optimize.minimize(
            objective, theta0, jac=True, hess=hess, method="trust-exact",
            options={"gtol": 1e-9, "maxiter": 200},
        )  # fmt: skip
    else:
        res = optimize.minimize(
            objective, theta0, jac=True, hessp=hessp, method="trust-ncg",
            options={"gtol": 1e-9, "maxiter": 200},
        )  # fmt: skip
    theta = np.asarray(res.x, dtype=np.float64)
    if not np.isfinite(theta).all():
        raise FitError(f"deal scoring: the logistic fit found no finite optimum ({res.message})")
    e = eta(theta)
    loglik = -float(np.sum(n * np.logaddexp(0.0, e) - wins * e))
    grad = objective(theta)[1]
    converged = bool(res.success) or float(np.max(np.abs(grad))) < 1e-7
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    coefs = [theta[1:][offsets[i] : offsets[i + 1]].copy() for i in range(len(sizes))]
    return float(theta[0]), coefs, loglik, converged, int(res.nit)


def fit_naive_bayes(
    won_counts: Sequence[FloatArray],
    lost_counts: Sequence[FloatArray],
    *,
    n_won: int,
    n_lost: int,
    smoothing: float,
    skip: Sequence[npt.NDArray[np.bool_]],
) -> tuple[float, list[FloatArray]]:
    """Intercept ``log((K + a) / (L + a))`` and per level ``log(((w + a) / (K + a)) / ((l + a) / (L + a)))``.

    ``K`` / ``L``: won / lost deals; ``w`` / ``l``: those with the level; ``a``:
    ``smoothing``. A level in ``skip`` (a missing value, or one no training deal
    had) contributes 0: the factor is left out for that deal.

    >>> b0, (c,) = fit_naive_bayes([np.array([3.0, 1.0])], [np.array([1.0, 3.0])], n_won=4,
    ...                            n_lost=4, smoothing=0.0, skip=[np.array([False, False])])
    >>> b0, np.round(c, 4).tolist()
    (0.0, [1.0986, -1.0986])
    """
    k = n_won + smoothing
    lo = n_lost + smoothing
    intercept = float(np.log(k / lo)) if k > 0 and lo > 0 else 0.0
    out = []
    for w, m, s in zip(won_counts, lost_counts, skip, strict=True):
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.log((w + smoothing) / k) - np.log((m + smoothing) / lo)
        c = np.where(s | ~np.isfinite(c), 0.0, c)
        out.append(c.astype(np.float64))
    return intercept, out
