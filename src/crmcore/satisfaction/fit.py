"""Maximum-likelihood fit of the loyalty model, and the test of competition's moderation.

Responses are compressed, exactly, to one binomial cell per (satisfaction,
competition level): the log-likelihood of a million individual 0/1 outcomes
equals that of their 5 × (distinct levels) counts, so fitting costs the same
for a thousand or a million customers. The optimiser is scipy's BFGS with the
analytic gradient, polished by Newton steps; standard errors come from the
inverse of the observed Hessian (central differences of the analytic
gradient). A fit that does not converge, or whose Hessian is not positive
definite (the data do not identify the parameters), raises
:class:`~crmcore.errors.FitError` instead of returning NaN.

>>> import numpy as np
>>> from crmcore.satisfaction import preset_model
>>> rng = np.random.default_rng(7)
>>> s = rng.integers(1, 6, 4000); c = rng.choice([0.1, 0.9], 4000)
>>> y = rng.random(4000) < preset_model().probability(s, c)
>>> fit = fit_loyalty(s, y, c)
>>> fit.model.curve(0.9).probabilities().round(1).tolist()
[0.1, 0.1, 0.1, 0.3, 0.8]
>>> moderation_test(s, y, c).p_value < 0.001
True
"""

from __future__ import annotations

import math
from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt
from scipy import optimize, stats
from scipy.special import log_expit, logit

from crmcore.arrays import FloatArray, apply_nan_policy, as_float_array, check_same_length
from crmcore.errors import FitError, ValidationError
from crmcore.satisfaction._validate import (
    LEVELS,
    binary_array,
    competition_array,
    satisfaction_array,
)
from crmcore.satisfaction.curve import PARAMETER_NAMES, LoyaltyModel

__all__ = [
    "LoyaltyFit",
    "ModerationTest",
    "fit_loyalty",
    "fit_loyalty_table",
    "moderation_test",
    "moderation_test_table",
]

_MODERATION = (1, 3, 5)  # indices of the competition coefficients in PARAMETER_NAMES
_BOUND = 20.0


@attrs.frozen
class LoyaltyFit:
    """A fitted loyalty model: coefficients, standard errors, covariance, log-likelihood.

    ``parameter_names`` lists the estimated coefficients (the competition
    terms are fixed at 0 in an unmoderated fit); ``standard_errors`` and
    ``covariance`` follow that order. Round-trips through
    :mod:`crmcore.serialization`.

    >>> from crmcore.serialization import to_json, from_json
    >>> fit = fit_loyalty_table([1, 2, 3, 4, 5], [0.5] * 5, [30, 34, 45, 70, 90], [100] * 5)
    >>> from_json(LoyaltyFit, to_json(fit)) == fit
    True
    >>> fit.parameter_names
    ('intercept', 'log_slope', 'floor_logit')
    """

    model: LoyaltyModel
    parameter_names: tuple[str, ...]
    standard_errors: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    log_likelihood: float
    n_responses: int
    n_cells: int
    competition_levels: int
    converged: bool
    iterations: int
    message: str = ""

    def __attrs_post_init__(self) -> None:
        k = len(self.parameter_names)
        if any(n not in PARAMETER_NAMES for n in self.parameter_names):
            raise ValidationError(
                f"'parameter_names' must come from {PARAMETER_NAMES}: {self.parameter_names!r}"
            )
        if (
            len(self.standard_errors) != k
            or len(self.covariance) != k
            or any(len(r) != k for r in self.covariance)
        ):
            raise ValidationError(f"'standard_errors' and 'covariance' must match {k} parameters")
        bad = [v for v in self.standard_errors if not (math.isfinite(v) and v >= 0)]
        if bad:
            raise ValidationError(f"'standard_errors' must be finite and >= 0: {bad[0]!r}")
        if not math.isfinite(self.log_likelihood):
            raise ValidationError(f"'log_likelihood' must be finite: {self.log_likelihood!r}")

    @property
    def moderated(self) -> bool:
        """Whether the competition terms were estimated.

        >>> fit_loyalty_table([1, 2, 3, 4, 5], [0.5] * 5, [30, 34, 45, 70, 90], [100] * 5).moderated
        False
        """
        return "intercept_competition" in self.parameter_names

    def standard_error(self, name: str) -> float:
        """The standard error of one estimated coefficient.

        >>> fit = fit_loyalty_table([1, 2, 3, 4, 5], [0.5] * 5, [30, 34, 45, 70, 90], [100] * 5)
        >>> 0 < fit.standard_error("intercept") < 1
        True
        """
        if name not in self.parameter_names:
            raise ValidationError(f"'name' must be one of {self.parameter_names}: {name!r}")
        return self.standard_errors[self.parameter_names.index(name)]

    def summary(self) -> list[str]:
        """One line per coefficient: estimate, standard error and z.

        >>> fit = fit_loyalty_table([1, 2, 3, 4, 5], [0.5] * 5, [30, 34, 45, 70, 90], [100] * 5)
        >>> print(fit.summary()[0])
        coefficient                   estimate    std.err        z
        """
        lines = [f"{'coefficient':<26}{'estimate':>12}{'std.err':>11}{'z':>9}"]
        for name, se in zip(self.parameter_names, self.standard_errors, strict=True):
            est = float(getattr(self.model, name))
            z = est / se if se > 0 else float("inf")
            lines.append(f"{name:<26}{est:>12.4f}{se:>11.4f}{z:>9.2f}")
        return lines


@attrs.frozen
class ModerationTest:
    """Likelihood-ratio test of H0 "competition does not change the curve" (3 restrictions).

    >>> t = moderation_test_table([1, 2, 3, 4, 5] * 2, [0.0] * 5 + [1.0] * 5,
    ...                           [70, 72, 75, 85, 95, 2, 2, 5, 20, 80], [100] * 10)
    >>> t.df, t.p_value < 0.001
    (3, True)
    """

    statistic: float
    df: int
    p_value: float
    restricted: LoyaltyFit
    full: LoyaltyFit

    def rejects(self, alpha: float = 0.05) -> bool:
        """Whether H0 (no moderation) is rejected at level ``alpha``.

        >>> t = moderation_test_table([1, 2, 3, 4, 5] * 2, [0.0] * 5 + [1.0] * 5,
        ...                           [70, 72, 75, 85, 95, 2, 2, 5, 20, 80], [100] * 10)
        >>> t.rejects(0.05)
        True
        """
        return self.p_value < alpha


def _nll_grad(
    theta: FloatArray, x: FloatArray, c: FloatArray, k: FloatArray, m: FloatArray
) -> tuple[float, FloatArray]:
    """Negative log-likelihood and its gradient over cells (x = s − 5)."""
    a0, a1, b0, b1, g0, g1 = theta
    g = g0 + g1 * c
    logf, log1mf = log_expit(g), log_expit(-g)
    b = np.exp(b0 + b1 * c)
    eta = a0 + a1 * c + b * x
    logq, log1mq = log_expit(eta), log_expit(-eta)
    logp = np.logaddexp(logf, log1mf + logq)
    nk = m - k
    ll = float(np.dot(k, logp) + np.dot(nk, log1mf + log1mq))
    d_eta = k * np.exp(log1mf + logq + log1mq - logp) - nk * np.exp(logq)
    d_g = k * np.exp(logf + log1mf + log1mq - logp) - nk * np.exp(logf)
    dbx = d_eta * b * x
    grad = np.array(
        [d_eta.sum(), d_eta @ c, dbx.sum(), dbx @ c, d_g.sum(), d_g @ c], dtype=np.float64
    )
    return -ll, -grad


def _fisher(theta: FloatArray, x: FloatArray, c: FloatArray, m: FloatArray) -> FloatArray:
    """Expected information of the cells (the Gauss-Newton matrix of the negative log-likelihood)."""
    a0, a1, b0, b1, g0, g1 = theta
    g = g0 + g1 * c
    f = np.exp(log_expit(g))
    b = np.exp(b0 + b1 * c)
    eta = a0 + a1 * c + b * x
    q, one_q = np.exp(log_expit(eta)), np.exp(log_expit(-eta))
    p = f + (1.0 - f) * q
    d_eta = (1.0 - f) * q * one_q
    d_g = f * (1.0 - f) * one_q
    jac = np.stack([d_eta, d_eta * c, d_eta * b * x, d_eta * b * x * c, d_g, d_g * c], axis=1)
    w = m / np.maximum(p * (1.0 - p), 1e-300)
    return np.asarray((jac * w[:, None]).T @ jac, dtype=np.float64)


@attrs.frozen
class _Cells:
    x: FloatArray
    c: FloatArray
    k: FloatArray
    m: FloatArray
    levels: int


def _starts(cells: _Cells) -> list[FloatArray]:
    rates = np.full(LEVELS, np.nan)
    for i in range(LEVELS):
        sel = cells.x == i + 1 - LEVELS
        if sel.any():
            rates[i] = (cells.k[sel].sum() + 0.5) / (cells.m[sel].sum() + 1.0)
    lo, hi = float(np.nanmin(rates)), float(np.nanmax(rates))
    out = []
    for share, log_slope in ((0.5, 0.0), (0.9, 1.0)):
        f = min(max(lo * share, 1e-3), 0.95)
        q5 = min(max((hi - f) / (1.0 - f), 0.02), 0.98)
        out.append(np.array([logit(q5), 0.0, log_slope, 0.0, logit(f), 0.0]))
    return out


def _fit_cells(cells: _Cells, moderated: bool, extra_start: FloatArray | None = None) -> LoyaltyFit:
    free = np.array([i for i in range(6) if moderated or i not in _MODERATION])
    n = float(cells.m.sum())

    def full(t: FloatArray) -> FloatArray:
        th = np.zeros(6)
        th[free] = t
        return th

    def fun(t: FloatArray) -> tuple[float, FloatArray]:
        v, g = _nll_grad(full(t), cells.x, cells.c, cells.k, cells.m)
        return v / n, g[free] / n

    def hess_fn(t: FloatArray) -> FloatArray:
        info = _fisher(full(t), cells.x, cells.c, cells.m)
        return np.asarray(info[np.ix_(free, free)] / n + 1e-12 * np.eye(len(free)), dtype=np.float64)

    starts = [s[free] for s in _starts(cells)]
    if extra_start is not None:
        starts.insert(0, extra_start[free])
    best: tuple[float, FloatArray] | None = None
    iterations = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t0 in starts:
            v, t_hat, its = _scoring(fun, hess_fn, t0)
            if not _converged(fun, t_hat):  # fall back on scipy's quasi-Newton from there
                res = optimize.minimize(
                    fun, t_hat, jac=True, method="BFGS", options={"maxiter": 1000, "gtol": 1e-10}
                )
                v, t_hat, its = float(res.fun), np.asarray(res.x, dtype=np.float64), its + res.nit
            iterations += its
            if np.isfinite(v) and (best is None or v < best[0]):
                best = (v, t_hat)
    if best is None:
        raise FitError("loyalty fit failed: the likelihood was not finite at any starting point")
    t = best[1]
    val, grad = fun(t)
    hess = _hessian(fun, t)
    for _ in range(20):  # Newton polish: sharp optimum for the likelihood-ratio test
        if np.abs(grad).max() < 1e-10:
            break
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        for _half in range(30):
            cand = t - step
            cv, cg = fun(cand)
            if np.isfinite(cv) and cv <= val + 1e-15:
                t, val, grad = cand, cv, cg
                break
            step = step / 2.0
        else:
            break
        hess = _hessian(fun, t)
    if np.abs(t).max() > _BOUND:
        name = PARAMETER_NAMES[int(free[int(np.argmax(np.abs(t)))])]
        raise FitError(
            f"loyalty fit failed: {name!r} diverged beyond ±{_BOUND:g} (the data put a level's "
            "loyalty at exactly 0 or 1); add data at more satisfaction levels or fit moderated=False"
        )
    if not np.all(np.isfinite(grad)) or np.abs(grad).max() > 1e-5:
        raise FitError(f"loyalty fit did not converge: gradient {np.abs(grad).max():.3g}")
    info = hess * n
    eig = np.linalg.eigvalsh(info)
    if eig.min() <= 1e-9 * max(eig.max(), 1.0):
        raise FitError(
            "the data do not identify the loyalty model (the Hessian is singular): "
            "responses are needed at several satisfaction levels"
            + (" and at least two competition levels" if moderated else "")
        )
    cov = np.linalg.inv(info)
    cov = (cov + cov.T) / 2.0
    theta = full(t)
    return LoyaltyFit(
        model=LoyaltyModel.from_params(theta),
        parameter_names=tuple(PARAMETER_NAMES[i] for i in free),
        standard_errors=tuple(float(math.sqrt(v)) for v in np.diag(cov)),
        covariance=tuple(tuple(float(v) for v in row) for row in cov),
        log_likelihood=-val * n,
        n_responses=round(n),
        n_cells=len(cells.m),
        competition_levels=cells.levels,
        converged=True,
        iterations=iterations,
        message="converged: Fisher scoring then Newton on the observed Hessian",
    )


def _converged(fun: Any, t: FloatArray) -> bool:
    v, g = fun(t)
    return bool(np.isfinite(v) and np.all(np.isfinite(g)) and np.abs(g).max() < 1e-5)


def _scoring(fun: Any, info: Any, t0: FloatArray) -> tuple[float, FloatArray, int]:
    """Fisher scoring with step halving: robust far from the optimum, fast near it."""
    t = np.asarray(t0, dtype=np.float64)
    v, g = fun(t)
    its = 0
    for its in range(1, 101):  # noqa: B007 - the count is reported
        if not np.isfinite(v) or np.abs(g).max() < 1e-6:
            break  # close enough: the Newton polish in _fit_cells takes it from here
        try:
            step = np.linalg.solve(info(t), g)
        except np.linalg.LinAlgError:
            break
        for _half in range(40):
            cand = t - step
            cv, cg = fun(cand)
            if np.isfinite(cv) and cv <= v:
                break
            step = step / 2.0
        else:
            break
        t, v, g = cand, cv, cg
        if np.abs(t).max() > 2 * _BOUND:
            break
    return float(v), t, its


def _hessian(fun: Any, t: FloatArray) -> FloatArray:
    k = len(t)
    h = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = 1e-5 * max(1.0, abs(t[i]))
        h[i] = (fun(t + e)[1] - fun(t - e)[1]) / (2 * e[i])
    return np.asarray((h + h.T) / 2.0, dtype=np.float64)


def _cells_from_responses(
    satisfaction: npt.ArrayLike,
    outcome: npt.ArrayLike,
    competition: npt.ArrayLike | None,
    nan_policy: str,
) -> _Cells:
    arrays: dict[str, npt.ArrayLike] = {"satisfaction": satisfaction, "outcome": outcome}
    if competition is not None:
        c_in = np.asarray(competition)
        n = len(np.asarray(satisfaction).reshape(-1))
        arrays["competition"] = np.full(n, float(c_in)) if c_in.ndim == 0 else c_in
    split = apply_nan_policy(arrays, policy=nan_policy)
    if nan_policy == "propagate" and any(np.isnan(v).any() for v in split.arrays.values()):
        raise ValidationError("fitting cannot propagate NaN: use nan_policy='omit' or 'raise'")
    s = satisfaction_array(split.arrays["satisfaction"])
    y = binary_array(split.arrays["outcome"])
    if len(s) == 0:
        raise ValidationError("no responses to fit: 'satisfaction' is empty")
    if competition is None:
        c_levels, inv = np.zeros(1), np.zeros(len(s), dtype=np.int64)
    else:
        c = competition_array(split.arrays["competition"])
        c_levels, inv = np.unique(c, return_inverse=True)
    key = inv.astype(np.int64) * LEVELS + (s - 1)
    size = len(c_levels) * LEVELS
    m = np.bincount(key, minlength=size).astype(np.float64)
    k = np.asarray(np.bincount(key, weights=y, minlength=size), dtype=np.float64)
    keep = m > 0
    idx = np.flatnonzero(keep)
    return _Cells(
        x=(idx % LEVELS + 1 - LEVELS).astype(np.float64),
        c=c_levels[idx // LEVELS].astype(np.float64),
        k=k[keep],
        m=m[keep],
        levels=len(c_levels),
    )


def _cells_from_table(
    satisfaction: npt.ArrayLike,
    competition: npt.ArrayLike,
    loyal: npt.ArrayLike,
    total: npt.ArrayLike,
) -> _Cells:
    s = satisfaction_array(satisfaction)
    c = competition_array(competition)
    k = as_float_array(loyal, name="loyal")
    m = as_float_array(total, name="total")
    check_same_length(satisfaction=s, competition=c, loyal=k, total=m)
    for name, v in (("loyal", k), ("total", m)):
        bad = (v < 0) | (v != np.floor(v))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(f"{name!r} must hold whole counts >= 0: {v[i]} at index {i}")
    over = k > m
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise ValidationError(f"'loyal' must not exceed 'total': {k[i]} > {m[i]} at index {i}")
    if m.sum() == 0:
        raise ValidationError("no responses to fit: every 'total' is 0")
    keep = m > 0
    return _Cells(
        x=(s[keep] - LEVELS).astype(np.float64), c=c[keep], k=k[keep], m=m[keep],
        levels=len(np.unique(c[keep])),
    )  # fmt: skip


def _check_moderated(cells: _Cells, moderated: bool) -> None:
    if moderated and cells.levels < 2:
        raise FitError(
            f"cannot estimate how competition moderates the curve from {cells.levels} "
            "competition level: give at least two levels or fit with moderated=False"
        )


def fit_loyalty(
    satisfaction: npt.ArrayLike,
    outcome: npt.ArrayLike,
    competition: npt.ArrayLike | None = None,
    *,
    moderated: bool | None = None,
    nan_policy: Literal["propagate", "omit", "raise"] = "raise",
) -> LoyaltyFit:
    """Fit P(loyal | satisfaction, competition) to individual responses by maximum likelihood.

    ``satisfaction`` holds whole scores 1–5; ``outcome`` 0/1 (repurchased,
    retained, intends to stay: whichever loyalty outcome you have);
    ``competition`` each response's effective competition in [0, 1] (one
    value for all, or none: then the competition terms are not estimated).
    ``moderated`` defaults to ``competition is not None``.

    >>> fit = fit_loyalty([1, 2, 3, 4, 5] * 40, [0, 0, 1, 1, 1] * 40)
    Traceback (most recent call last):
    crmcore.errors.FitError: loyalty fit failed: 'intercept' diverged beyond ±20 (the data put a level's loyalty at exactly 0 or 1); add data at more satisfaction levels or fit moderated=False
    >>> fit_loyalty([1, 6], [0, 1])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'satisfaction' must be in [1, 5]: 6 at index 1
    """
    cells = _cells_from_responses(satisfaction, outcome, competition, nan_policy)
    mod = competition is not None if moderated is None else bool(moderated)
    _check_moderated(cells, mod)
    return _fit_cells(cells, mod)


def fit_loyalty_table(
    satisfaction: npt.ArrayLike,
    competition: npt.ArrayLike,
    loyal: npt.ArrayLike,
    total: npt.ArrayLike,
    *,
    moderated: bool | None = None,
) -> LoyaltyFit:
    """Fit from an aggregated table: per row a satisfaction level, a competition level,
    the number of loyal customers and the number asked (rows with ``total`` 0 are skipped).

    ``moderated`` defaults to "more than one competition level in the table".
    Gives exactly the fit of the individual responses the table summarises.

    >>> fit = fit_loyalty_table([1, 2, 3, 4, 5], [0.5] * 5, [30, 34, 45, 70, 90], [100] * 5)
    >>> fit.model.curve(0.5).probabilities().round(2).tolist()
    [0.3, 0.34, 0.45, 0.7, 0.9]
    >>> fit_loyalty_table([5], [0.5], [3], [2])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'loyal' must not exceed 'total': 3.0 > 2.0 at index 0
    """
    cells = _cells_from_table(satisfaction, competition, loyal, total)
    mod = cells.levels > 1 if moderated is None else bool(moderated)
    _check_moderated(cells, mod)
    return _fit_cells(cells, mod)


def _test(cells: _Cells) -> ModerationTest:
    _check_moderated(cells, True)
    restricted = _fit_cells(cells, False)
    full = _fit_cells(cells, True, extra_start=np.asarray(restricted.model.params))
    stat = max(0.0, 2.0 * (full.log_likelihood - restricted.log_likelihood))
    df = len(_MODERATION)
    return ModerationTest(
        statistic=stat,
        df=df,
        p_value=float(stats.chi2.sf(stat, df)),
        restricted=restricted,
        full=full,
    )


def moderation_test(
    satisfaction: npt.ArrayLike,
    outcome: npt.ArrayLike,
    competition: npt.ArrayLike,
    *,
    nan_policy: Literal["propagate", "omit", "raise"] = "raise",
) -> ModerationTest:
    """Does competition moderate the satisfaction → loyalty link in these responses?

    Fits the model with and without the three competition terms and compares
    ``2·(ℓ_full − ℓ_restricted)`` with a χ²(3) distribution.

    >>> import numpy as np
    >>> from crmcore.satisfaction import preset_model
    >>> rng = np.random.default_rng(1)
    >>> s = rng.integers(1, 6, 3000); c = rng.choice([0.2, 0.8], 3000)
    >>> y = rng.random(3000) < preset_model().curve(0.5).probability(s)
    >>> moderation_test(s, y, c).p_value > 0.05
    True
    """
    return _test(_cells_from_responses(satisfaction, outcome, competition, nan_policy))


def moderation_test_table(
    satisfaction: npt.ArrayLike,
    competition: npt.ArrayLike,
    loyal: npt.ArrayLike,
    total: npt.ArrayLike,
) -> ModerationTest:
    """:func:`moderation_test` on an aggregated table (see :func:`fit_loyalty_table`).

    >>> moderation_test_table([1, 2, 3, 4, 5] * 2, [0.0] * 5 + [1.0] * 5,
    ...                       [70, 72, 75, 85, 95, 2, 2, 5, 20, 80], [100] * 10).statistic > 50
    True
    """
    return _test(_cells_from_table(satisfaction, competition, loyal, total))
