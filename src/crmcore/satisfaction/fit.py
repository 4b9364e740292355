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

One boundary is handled rather than refused: when the data show no captive
customers, the floor's estimate runs to 0. If the floor terms then do not
improve the likelihood significantly (likelihood ratio below the 95% point
of χ²(2)), the fit returns the model with the floor fixed on its boundary
(``floor_logit`` = −30, i.e. a floor of 1e-13): the floor coefficients are
left out of ``parameter_names`` and ``message`` says so. The moderation test
treats the floor the same way in both of its fits (see :func:`moderation_test`),
so that they are nested.

>>> import numpy as np
>>> from crmcore.satisfaction import preset_model
>>> rng = np.random.default_rng(7)
>>> s = rng.integers(1, 6, 4000); c = rng.choice([0.1, 0.9], 4000)
>>> y = rng.random(4000) < preset_model().probability(s, c)
>>> fit = fit_loyalty(s, y, c)
>>> fit.model.curve(0.9).probabilities().round(2).tolist()   # true: [0.02, 0.02, 0.03, 0.17, 0.81]
[0.02, 0.02, 0.03, 0.16, 0.79]
>>> moderation_test(s, y, c).p_value < 0.001
True
"""

from __future__ import annotations

import math
from typing import Literal

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import chdtrc, chdtri

from crmcore._results import COUNT, FINITE, NONNEGATIVE, PROBABILITY, each
from crmcore.arrays import FloatArray, IntArray
from crmcore.errors import FitError, ValidationError
from crmcore.model._fields import instance, tuple_of
from crmcore.satisfaction._likelihood import (
    BOUND,
    _Cells,
    _cells_from_responses,
    _cells_from_table,
    _check_moderated,
    _converged,
    _fisher,
    _hessian,
    _nll_grad,
    _scoring,
    _starts,
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
_FLOOR_EDGE = 10.0  # floor below σ(−10) ≈ 4.5e-5 at every observed level: the floor is 0
_FLOOR_LR_CRITICAL = float(chdtri(2, 0.05))  # floor terms not significant: drop them
_FLOOR_TEST_CRITICAL = float(chdtri(1, 0.10))  # 5% point of ½χ²(0) + ½χ²(1)
_NO_FLOOR = -30.0  # floor_logit of a floor fixed on its boundary (σ(−30) ≈ 1e-13)


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

    model: LoyaltyModel = attrs.field(validator=instance(LoyaltyModel, "a LoyaltyModel"))
    parameter_names: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a parameter name"))
    standard_errors: tuple[float, ...] = attrs.field(validator=each(NONNEGATIVE))
    covariance: tuple[tuple[float, ...], ...] = attrs.field(validator=each(each(FINITE)))
    log_likelihood: float = attrs.field(validator=FINITE)
    n_responses: int = attrs.field(validator=COUNT)
    n_cells: int = attrs.field(validator=COUNT)
    competition_levels: int = attrs.field(validator=COUNT)
    converged: bool = attrs.field(validator=instance(bool, "a bool"))
    iterations: int = attrs.field(validator=COUNT)
    message: str = attrs.field(default="", validator=instance(str, "a string"))

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
            raise ValidationError(
                f"'standard_errors' and 'covariance' must match the {k} 'parameter_names': "
                f"{len(self.standard_errors)} standard errors, {len(self.covariance)} covariance rows"
            )
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
    """Likelihood-ratio test of H0 "competition does not change the curve".

    ``df`` is 3 (the intercept, slope and floor competition terms) when the
    floor is estimated in both fits, 2 (intercept and slope terms) when the floor
    is fixed on its boundary 0 in both (see :func:`moderation_test`); ``restricted`` and ``full`` are the two
    nested fits and ``p_value`` is the upper tail of χ²(``df``) at ``statistic``.

    >>> t = moderation_test_table([1, 2, 3, 4, 5] * 2, [0.0] * 5 + [1.0] * 5,
    ...                           [70, 72, 75, 85, 95, 2, 2, 5, 20, 80], [100] * 10)
    >>> t.df, t.p_value < 0.001
    (3, True)
    """

    statistic: float = attrs.field(validator=NONNEGATIVE)
    df: int = attrs.field(validator=COUNT)
    p_value: float = attrs.field(validator=PROBABILITY)
    restricted: LoyaltyFit = attrs.field(validator=instance(LoyaltyFit, "a LoyaltyFit"))
    full: LoyaltyFit = attrs.field(validator=instance(LoyaltyFit, "a LoyaltyFit"))

    def rejects(self, alpha: float = 0.05) -> bool:
        """Whether H0 (no moderation) is rejected at level ``alpha``.

        >>> t = moderation_test_table([1, 2, 3, 4, 5] * 2, [0.0] * 5 + [1.0] * 5,
        ...                           [70, 72, 75, 85, 95, 2, 2, 5, 20, 80], [100] * 10)
        >>> t.rejects(0.05)
        True
        """
        return self.p_value < alpha


def _fit_cells(
    cells: _Cells,
    moderated: bool,
    extra_start: FloatArray | None = None,
    *,
    floor_free: bool = True,
) -> LoyaltyFit:
    fixed = set() if moderated else set(_MODERATION)
    base = np.zeros(6)
    if not floor_free:  # the floor sits on its boundary 0: fix it there
        fixed |= {4, 5}
        base[4] = _NO_FLOOR
    free = np.array([i for i in range(6) if i not in fixed])
    n = float(cells.m.sum())

    def full(t: FloatArray) -> FloatArray:
        th = base.copy()
        th[free] = t
        return th

    def fun(t: FloatArray) -> tuple[float, FloatArray]:
        v, g = _nll_grad(full(t), cells.x, cells.c, cells.k, cells.m)
        return v / n, g[free] / n

    def hess_fn(t: FloatArray) -> FloatArray:
        info = _fisher(full(t), cells.x, cells.c, cells.m)
        return np.asarray(
            info[np.ix_(free, free)] / n + 1e-12 * np.eye(len(free)), dtype=np.float64
        )

    starts = [s[free] for s in _starts(cells)]
    if extra_start is not None:
        starts.insert(0, extra_start[free])
    best: tuple[float, FloatArray] | None = None
    iterations = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t0 in starts:
            v, t_hat, its = _scoring(fun, hess_fn, t0)
            if not _converged(fun, t_hat):  # fall back on scipy's quasi-Newton from there
                from scipy import optimize  # only on this rare path: a slow import

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
    theta = full(t)
    if floor_free and np.all(theta[4] + theta[5] * cells.c < -_FLOOR_EDGE):
        return _fit_cells(cells, moderated, extra_start=theta, floor_free=False)
    failure = _failure(t, grad, hess * n, free, moderated)
    if failure is not None:
        if floor_free:  # a floor running to 0 at some level: is no floor at all as good?
            try:
                alt = _fit_cells(cells, moderated, extra_start=theta, floor_free=False)
            except FitError:
                raise failure from None
            if 2.0 * (-val * n - alt.log_likelihood) < _FLOOR_LR_CRITICAL:
                return alt
        raise failure
    info = hess * n
    cov = np.linalg.inv(info)
    cov = (cov + cov.T) / 2.0
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
        message="converged: Fisher scoring then Newton on the observed Hessian"
        + ("" if floor_free else f"; floor on its boundary 0 (floor_logit fixed at {_NO_FLOOR:g})"),
    )


def _failure(
    t: FloatArray, grad: FloatArray, info: FloatArray, free: IntArray, moderated: bool
) -> FitError | None:
    """Why the optimum found is not a usable estimate, or None when it is."""
    if np.abs(t).max() > BOUND:
        name = PARAMETER_NAMES[int(free[int(np.argmax(np.abs(t)))])]
        if name == "floor_logit_competition":
            return FitError(
                f"loyalty fit failed: {name!r} diverged beyond ±{BOUND:g} (the captive floor "
                "runs to 0 at some competition levels only, which two floor coefficients "
                "cannot represent); add responses at low satisfaction or fit moderated=False"
            )
        return FitError(
            f"loyalty fit failed: {name!r} diverged beyond ±{BOUND:g} (the data put a level's "
            "loyalty at exactly 0 or 1); add data at more satisfaction levels or fit moderated=False"
        )
    if not np.all(np.isfinite(grad)) or np.abs(grad).max() > 1e-5:
        return FitError(f"loyalty fit did not converge: gradient {np.abs(grad).max():.3g}")
    eig = np.linalg.eigvalsh(info)
    if eig.min() <= 1e-9 * max(eig.max(), 1.0):
        return FitError(
            "the data do not identify the loyalty model (the Hessian is singular): "
            "responses are needed at several satisfaction levels"
            + (" and at least two competition levels" if moderated else "")
        )
    return None


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
    ``moderated`` defaults to "more than one distinct competition level";
    ``moderated=True`` with a single level is a :class:`FitError`.

    >>> fit = fit_loyalty([1, 2, 3, 4, 5] * 40, [0, 0, 1, 1, 1] * 40)
    Traceback (most recent call last):
    crmcore.errors.FitError: loyalty fit failed: 'intercept' diverged beyond ±20 (the data put a level's loyalty at exactly 0 or 1); add data at more satisfaction levels or fit moderated=False
    >>> fit_loyalty([1, 6], [0, 1])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'satisfaction' must be in [1, 5]: 6 at index 1
    """
    cells = _cells_from_responses(satisfaction, outcome, competition, nan_policy)
    mod = cells.levels > 1 if moderated is None else bool(moderated)
    _check_moderated(cells, mod)
    return _fit_cells(cells, mod)


def fit_loyalty_table(
    satisfaction: npt.ArrayLike,
    competition: npt.ArrayLike,
    loyal: npt.ArrayLike,
    total: npt.ArrayLike,
    *,
    moderated: bool | None = None,
    nan_policy: Literal["omit", "raise"] = "raise",
) -> LoyaltyFit:
    """Fit from an aggregated table: per row a satisfaction level, a competition level,
    the number of loyal customers and the number asked (rows with ``total`` 0 are skipped).

    ``moderated`` defaults to "more than one competition level in the table".
    Gives exactly the fit of the individual responses the table summarises.
    ``nan_policy``: ``"raise"`` (default) or ``"omit"`` (a row with a NaN is
    left out); a fit cannot propagate NaN.

    >>> fit = fit_loyalty_table([1, 2, 3, 4, 5], [0.5] * 5, [30, 34, 45, 70, 90], [100] * 5)
    >>> fit.model.curve(0.5).probabilities().round(2).tolist()
    [0.3, 0.34, 0.45, 0.7, 0.9]
    >>> fit_loyalty_table([5], [0.5], [3], [2])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'loyal' must not exceed 'total': 3.0 > 2.0 at index 0
    """
    cells = _cells_from_table(satisfaction, competition, loyal, total, nan_policy)
    mod = cells.levels > 1 if moderated is None else bool(moderated)
    _check_moderated(cells, mod)
    return _fit_cells(cells, mod)


def _test(cells: _Cells) -> ModerationTest:
    _check_moderated(cells, True)
    restricted = _fit_cells(cells, False)
    start = np.asarray(restricted.model.params)
    # One parameterisation for both fits, so that they are nested: the floor is free in
    # both, or fixed on its boundary 0 in both (its competition term then does not exist).
    # Under H0 the restricted fit decides: the floor stays free only if it is significant
    # there (boundary test of one parameter: 50:50 mixture of χ²(0) and χ²(1) at 5%).
    full: LoyaltyFit | None = None
    if "floor_logit" in restricted.parameter_names:
        try:
            no_floor: LoyaltyFit | None = _fit_cells(
                cells, False, extra_start=start, floor_free=False
            )
        except FitError:  # the data need the floor
            no_floor = None
        if (
            no_floor is None
            or 2.0 * (restricted.log_likelihood - no_floor.log_likelihood) >= _FLOOR_TEST_CRITICAL
        ):
            try:
                full = _fit_cells(cells, True, extra_start=start)
            except FitError:  # the floor runs to 0 at some competition level
                if no_floor is None:
                    raise
                full = None
            if full is not None and "floor_logit" not in full.parameter_names:
                full = None
        if full is None:
            restricted = no_floor if no_floor is not None else restricted
    if full is None:
        full = _fit_cells(cells, True, extra_start=start, floor_free=False)
    stat = max(0.0, 2.0 * (full.log_likelihood - restricted.log_likelihood))
    df = len(full.parameter_names) - len(restricted.parameter_names)  # 3 with a floor, 2 without
    return ModerationTest(
        statistic=stat,
        df=df,
        p_value=float(chdtrc(df, stat)),
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

    H0: ``intercept_competition = log_slope_competition = floor_logit_competition = 0``
    (one curve at every competition level); H1: the three are free. The
    statistic ``2·(ℓ_full − ℓ_restricted)`` is compared with χ²(3).

    Both fits share one parameterisation, so they are always nested: the floor
    is free in both, or fixed on its boundary 0 (no captive customers) in both.
    It is fixed when the restricted fit (the model under H0) does not need it:
    its floor runs to 0, or the floor is not significant there (likelihood
    ratio against the floor-0 fit below 2.71, the 5% point of the boundary
    reference ½χ²(0) + ½χ²(1)), or the full fit's floor runs to 0 at some
    competition level. The floor's competition term then does not exist, H0
    restricts the two other terms and the reference distribution is χ²(2).
    ``df`` reports which one was used (3 or 2). Under H0 the test holds its
    size with the floor interior and at 0 (checked by simulation in the tests
    and ``benchmarks/bench_satisfaction_lrtest.py``).

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
    *,
    nan_policy: Literal["omit", "raise"] = "raise",
) -> ModerationTest:
    """:func:`moderation_test` on an aggregated table (see :func:`fit_loyalty_table`).

    >>> moderation_test_table([1, 2, 3, 4, 5] * 2, [0.0] * 5 + [1.0] * 5,
    ...                       [70, 72, 75, 85, 95, 2, 2, 5, 20, 80], [100] * 10).statistic > 50
    True
    """
    return _test(_cells_from_table(satisfaction, competition, loyal, total, nan_policy))
