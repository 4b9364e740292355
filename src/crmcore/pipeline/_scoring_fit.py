"""The two scoring fits: L2-regularised logistic regression on one-hot levels, and naive Bayes.

Both work on a matrix of level codes (one column per factor, one row per
training moment) and return per-level log-odds coefficients and an intercept,
so a score is ``intercept + sum of the coefficients of the deal's levels``.

* :func:`fit_logistic` maximises the Bernoulli log-likelihood of the won flag
  minus ``sum(theta**2) / (2 * prior_sd**2)`` (a Gaussian prior on every level
  effect and on the intercept, so that a history with no win or no loss
  still has a finite optimum) through crmcore's one maximum-likelihood
  engine (:func:`crmcore.fitting.maximum_likelihood`: trust-region Newton on
  the exact gradient and Hessian, then Newton polish). Rows with the same
  levels are merged first (binomial counts), so the work grows with the
  number of distinct level combinations, not with the number of moments.
* :func:`fit_naive_bayes` is the frequency method of Odoo's predictive lead
  scoring as its documentation describes it: ``P(won | levels)`` by Bayes'
  rule with the levels independent given the outcome, from won and lost
  counts per level (``smoothing`` pseudo-deals added to each count).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray, IntArray

if TYPE_CHECKING:  # crmcore.fitting imports scipy.optimize (slow): only when fitting
    from crmcore.fitting import FitSummary

__all__ = ["fit_logistic", "fit_naive_bayes"]


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
    codes: IntArray,
    sizes: Sequence[int],
    y: npt.NDArray[np.bool_],
    *,
    prior_sd: float,
    names: Sequence[str],
) -> tuple[float, list[FloatArray], FitSummary]:
    """``(intercept, coefficients per factor, fit summary)`` by :func:`~crmcore.fitting.maximum_likelihood`.

    ``names`` names the levels (``factor=level``), in the order of ``sizes``.
    The penalty ``sum(theta**2) / (2 * prior_sd**2)`` (intercept included) is
    the engine's L2 ``penalizer`` ``1 / (2 * prior_sd**2 * n)`` on its
    per-moment objective. Standard errors are not reported: with one level of
    every factor per moment, the levels of a factor add up to the intercept,
    so the unpenalised information matrix is singular.

    >>> codes = np.array([[0], [0], [1], [1]])
    >>> b0, (b,), fit = fit_logistic(codes, [2], np.array([1, 0, 1, 1], bool), prior_sd=100.0,
    ...                              names=["x=a", "x=b"])
    >>> round(float(1 / (1 + np.exp(-(b0 + b[0])))), 3), fit.converged, fit.names
    (0.5, True, ('intercept', 'x=a', 'x=b'))
    """
    from scipy import sparse

    from crmcore.fitting import maximum_likelihood

    x, n, wins = _merge(codes, sizes, y)
    total = float(n.sum())
    j = int(np.sum(sizes))
    f = x.shape[1]
    rows = np.repeat(np.arange(len(n)), f + 1)
    cols = np.concatenate([np.zeros((len(n), 1), dtype=np.int64), x + 1], axis=1).ravel()
    design = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(n), j + 1))
    design_t = design.T.tocsr()

    def value_grad(theta: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        e = np.asarray(design @ theta, dtype=np.float64)
        p = 0.5 * (1.0 + np.tanh(0.5 * e))  # the logistic function without overflow
        ll = float(np.sum(wins * e - n * np.logaddexp(0.0, e)))
        g: FloatArray = np.asarray(design_t @ (wins - n * p), dtype=np.float64)
        return ll, g, p

    def loglik(theta: FloatArray) -> tuple[float, FloatArray | None]:
        ll, g, _ = value_grad(theta)
        return ll, g

    def newton(theta: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        ll, g, p = value_grad(theta)
        weighted = design.multiply((n * p * (1.0 - p))[:, None]).tocsr()
        h = -np.asarray((design_t @ weighted).toarray(), dtype=np.float64)
        return ll, g, h

    rate = (wins.sum() + 0.5) / (total + 1.0)
    start = np.zeros(j + 1)
    start[0] = np.log(rate / (1.0 - rate))
    fit = maximum_likelihood(
        loglik,
        start,
        model="deal scoring (logistic)",
        names=["intercept", *names],
        n=total,
        free=j + 1,
        newton=newton,
        penalizer=1.0 / (2.0 * prior_sd**2 * total),
    )
    fit = attrs.evolve(fit, standard_errors=None, covariance=None)
    theta = np.asarray(fit.estimates, dtype=np.float64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    coefs = [theta[1:][offsets[i] : offsets[i + 1]].copy() for i in range(len(sizes))]
    return float(theta[0]), coefs, fit


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
