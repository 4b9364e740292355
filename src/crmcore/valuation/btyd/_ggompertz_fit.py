"""The Gamma-Gompertz/NBD fit: the log-likelihood of compressed rows with its analytic
gradient and Hessian (covariates by the chain rule), start values, and the test for the
Pareto/NBD boundary (implementation detail of :mod:`.ggompertz_nbd`).

The plain model is the zero-covariate case of the same code: α_i = α e^{-z_p·γ_p},
β_i = β e^{-z_d·γ_d} with no columns gives α_i = α, β_i = β.

As b → 0 with β / b fixed the model tends to Pareto/NBD with drop-out rates
gamma(s, β / b), so the Gamma-Gompertz/NBD likelihood's supremum is at least the
Pareto/NBD maximum. When the data show no ageing of the drop-out rate the supremum is that
limit, reached only at b = 0 (CDNOW is such a data set: Bemmaor & Glady 2012, Table 2, and
CLVTools report b of 0.0002 and 1.1e-6 with the Pareto/NBD log-likelihood): no maximum
exists, and the fit says so (a FitError naming the limit) instead of returning an
arbitrary point of the ridge. The test: the objective far along the ridge (b and β
divided by 10**6, β / b kept) is at least as high as at the point the optimiser stopped.

>>> import numpy as np
>>> rows = Rows.build(np.array([2.0, 0.0]), np.array([5.0, 0.0]), np.array([9.0, 9.0]), None,
...                   np.zeros((2, 0)), np.zeros((2, 0)))
>>> ll, g, H = loglik(np.array([0.5, 5.0, 0.1, 1.0, 2.0]), rows, order=2)
>>> round(ll, 6), g.shape, H.shape
(-6.651212, (5,), (5, 5))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from crmcore.arrays import FloatArray
from crmcore.errors import FitError
from crmcore.fitting import FitSummary, initial_values, maximum_likelihood
from crmcore.progress import Progress
from crmcore.valuation.btyd._common import compress_rows
from crmcore.valuation.btyd._ggompertz_math import loglik_rows

__all__ = ["MODEL", "NAMES", "Rows", "fit", "loglik"]

MODEL = "Gamma-Gompertz/NBD"
NAMES = ("r", "alpha", "b", "s", "beta")
_SCALES = {"alpha": "'recency' and 'T'", "b": "'recency' and 'T' (its inverse)"}
_BOUNDARY = 1e-7  # a maximum must beat the Pareto/NBD limit by more (log-likelihood units)


class Rows(NamedTuple):
    """Distinct customer rows of a fit with their weights and covariates."""

    x: FloatArray
    tx: FloatArray
    T: FloatArray
    w: FloatArray
    zp: FloatArray
    zd: FloatArray

    @classmethod
    def build(
        cls,
        x: FloatArray,
        tx: FloatArray,
        T: FloatArray,
        w: FloatArray | None,
        zp: FloatArray,
        zd: FloatArray,
    ) -> Rows:
        """Identical rows (history and covariates) merged exactly into weights."""
        kp, kd = zp.shape[1], zd.shape[1]
        cols, weights = compress_rows(x, tx, T, *zp.T, *zd.T, weights=w)
        m = len(cols[0])
        zp = np.column_stack(cols[3 : 3 + kp]) if kp else np.zeros((m, 0))
        zd = np.column_stack(cols[3 + kp :]) if kd else np.zeros((m, 0))
        return cls(cols[0], cols[1], cols[2], weights, zp, zd)


def loglik(
    theta: FloatArray, rows: Rows, *, order: int = 1
) -> tuple[float, FloatArray | None, FloatArray | None]:
    """Total log-likelihood and (``order`` 1, 2) its gradient and Hessian in the natural
    parameters (r, α, b, s, β, γ_p..., γ_d...)."""
    x, tx, T, w, zp, zd = rows
    kp, kd = zp.shape[1], zd.shape[1]
    r, alpha, b, s, beta = (float(v) for v in theta[:5])
    gp, gd = theta[5 : 5 + kp], theta[5 + kp :]
    a = alpha * np.exp(-(zp @ gp)) if kp else np.full(len(x), alpha)
    be = beta * np.exp(-(zd @ gd)) if kd else np.full(len(x), beta)
    ll, g_rows, h_rows = loglik_rows(r, a, b, s, be, x, tx, T, order=order)
    total = float(np.dot(w, ll))
    if order == 0 or g_rows is None:
        return total, None, None
    K = 5 + kp + kd
    wg = w[:, None] * g_rows
    g = np.concatenate([wg.sum(axis=0), -(zp.T @ wg[:, 1]), -(zd.T @ wg[:, 4])])
    scale = np.ones(K)
    scale[1], scale[4] = 1.0 / alpha, 1.0 / beta
    H: FloatArray | None = None
    if h_rows is not None:
        J = np.zeros((len(x), 5, K))
        J[:, np.arange(5), np.arange(5)] = 1.0
        J[:, 1, 5 : 5 + kp] = -zp
        J[:, 4, 5 + kp :] = -zd
        HJ = np.einsum("nij,njk->nik", h_rows * w[:, None, None], J)
        Hu = np.einsum("nji,njk->ik", J, HJ)
        H = Hu * scale[:, None] * scale[None, :]
        H[1, 1] -= g[1] / alpha**2
        H[4, 4] -= g[4] / beta**2
    return total, g * scale, H


class _Cached:
    """loglik for the engine: value and gradient (order 1), or with the Hessian (order 2),
    cached by theta (the engine asks for the same point more than once); ``last`` is the
    point evaluated last (where a failed fit stopped)."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.last: FloatArray | None = None
        self.hit: tuple[float, FloatArray, FloatArray | None] | None = None

    def _at(self, theta: FloatArray, order: int) -> tuple[float, FloatArray, FloatArray | None]:
        same = self.last is not None and np.array_equal(theta, self.last)
        if self.hit is None or not same or (order == 2 and self.hit[2] is None):
            ll, g, H = loglik(theta, self.rows, order=order)
            assert g is not None
            self.last, self.hit = theta.copy(), (ll, g, H)
        return self.hit

    def newton(self, theta: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        ll, g, H = self._at(theta, 2)
        assert H is not None
        return ll, g, H

    def value_grad(self, theta: FloatArray) -> tuple[float, FloatArray | None]:
        ll, g, _ = self._at(theta, 1)
        return ll, g


def _start(rows: Rows) -> FloatArray:
    """Start values: r = 1, α from the purchase rate, s = 1, and of three ageing rates
    (b x mean age 0.3, 1 or 3, with β = 1, 1, 10) the one with the highest likelihood."""
    x, T, w = rows.x, rows.T, rows.w
    mean_T = max(float(np.dot(w, T)) / float(w.sum()), 1e-12)
    alpha = max(float(np.dot(w, T)), 1e-12) / float(np.dot(w, x))
    k = rows.zp.shape[1] + rows.zd.shape[1]
    best, best_ll = None, -np.inf
    for b, beta in ((0.3, 1.0), (1.0, 1.0), (3.0, 10.0)):
        theta = np.concatenate([[1.0, alpha, b / mean_T, 1.0, beta], np.zeros(k)])
        with np.errstate(all="ignore"):
            ll = loglik(theta, rows, order=0)[0]
        if best is None or ll > best_ll:
            best, best_ll = theta, ll
    assert best is not None
    return best[:5]


def fit(
    rows: Rows,
    names: Sequence[str],
    *,
    penalizer: float,
    initial: Mapping[str, float] | Sequence[float] | None,
    progress: Progress | None = None,
) -> FitSummary:
    """Maximum likelihood (the one engine, Newton with the analytic Hessian). Without
    covariates from :func:`_start`; with covariates from the fit without them, coefficients
    at 0. A FitError when the likelihood has no maximum because it rises towards the
    Pareto/NBD limit b -> 0 (see the module docstring)."""
    x, w = rows.x, rows.w
    if len(x) == 0 or float(np.dot(w, x)) == 0:
        raise FitError(f"{MODEL}: no customer made a repeat purchase; the model cannot be fitted")
    k = len(names) - 5
    if k:
        none = np.zeros((len(x), 0))
        plain = Rows.build(rows.x, rows.tx, rows.T, rows.w, none, none)
        start_fit = fit(plain, NAMES, penalizer=penalizer, initial=None, progress=progress)
        base = np.array(start_fit.estimates)
    else:
        base = _start(rows)
    start = initial_values(initial, np.concatenate([base, np.zeros(k)]), names, model=MODEL)
    cached = _Cached(rows)
    model = MODEL if k == 0 else f"{MODEL} with covariates"
    try:
        out = maximum_likelihood(
            cached.value_grad,
            start,
            model=model,
            names=names,
            n=float(w.sum()),
            free=k,
            newton=cached.newton,
            penalizer=penalizer,
            scales=_SCALES,
            progress=progress,
        )
    except FitError as e:
        last = cached.last
        if last is None or "edge of the parameter space" not in str(e):
            raise
        if not (last[2] * float(rows.T.max()) < 1e-4 and _ridge_rises(last, rows, penalizer)):
            raise
        raise FitError(_boundary_message(model, last, rows)) from e
    theta = np.array(out.estimates)
    if _ridge_rises(theta, rows, penalizer):
        raise FitError(_boundary_message(model, theta, rows))
    return out


def _penalised(theta: FloatArray, rows: Rows, penalizer: float) -> float:
    """The engine's objective as a log-likelihood: ln L - n c sum(theta**2)."""
    ll = loglik(theta, rows, order=0)[0]
    return ll - float(rows.w.sum()) * penalizer * float(np.dot(theta, theta))


def _towards_pareto(theta: FloatArray) -> FloatArray:
    """The point far along the ridge towards Pareto/NBD: b and β divided by 10**6 (β / b,
    the Pareto/NBD drop-out scale, and the other parameters kept)."""
    edge = theta.copy()
    edge[2] *= 1e-6
    edge[4] *= 1e-6
    return edge


def _ridge_rises(theta: FloatArray, rows: Rows, penalizer: float) -> bool:
    """Whether the objective is at least as high far along the ridge towards Pareto/NBD as
    at ``theta``: then ``theta`` is no maximum (the optimiser stopped on the flat ridge)."""
    with np.errstate(all="ignore"):
        here = _penalised(theta, rows, penalizer)
        there = _penalised(_towards_pareto(theta), rows, penalizer)
    return bool(np.isfinite(there) and there >= here - _BOUNDARY)


def _boundary_message(model: str, theta: FloatArray, rows: Rows) -> str:
    with np.errstate(all="ignore"):
        limit = loglik(_towards_pareto(theta), rows, order=0)[0]
    r, alpha, b, s, beta = (float(v) for v in theta[:5])
    return (
        f"{model}: the likelihood has no maximum: it rises towards b -> 0 (log-likelihood "
        f"{limit:.4f}), the Pareto/NBD limit with r={r:.6g}, alpha={alpha:.6g}, s={s:.6g}, "
        f"beta={beta / b:.6g} (beta / b); the data show no ageing of the drop-out rate, so b "
        "cannot be identified: fit Pareto/NBD (fit_pareto_nbd) instead"
    )


Effects = tuple[
    tuple[float, ...], tuple[float, ...], tuple[float, ...] | None, tuple[float, ...] | None
]


def split_effects(fit_: FitSummary, kp: int) -> Effects:
    """(purchase coefficients, dropout coefficients, their standard errors) of a fit."""
    th, se = np.array(fit_.estimates), fit_.standard_errors
    return (
        tuple(th[5 : 5 + kp].tolist()),
        tuple(th[5 + kp :].tolist()),
        None if se is None else tuple(se[5 : 5 + kp]),
        None if se is None else tuple(se[5 + kp :]),
    )
