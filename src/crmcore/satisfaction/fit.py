"""Maximum-likelihood fit of the loyalty model, and the test of competition's moderation.

Responses are compressed, exactly, to one binomial cell per (satisfaction,
competition level): the log-likelihood of a million individual 0/1 outcomes
equals that of their 5 × (distinct levels) counts, so fitting costs the same
for a thousand or a million customers. The maximum is found by
:func:`crmcore.fitting.maximum_likelihood`, the one engine of every fit in
crmcore, with this model's hooks: the likelihood with its analytic gradient
and Hessian, starting points that cover its several local maxima (a grid of
curves per competition level), and a stop rule for a search that leaves the
range of estimates; standard errors come from the inverse observed Hessian. A fit is a :class:`LoyaltyFit`: the
model and its :class:`~crmcore.fitting.FitSummary` (``fit``), the one result
shape of every maximum-likelihood fit in crmcore.

The maximum may lie on the boundary of the parameter space, where the captive
floor is 0 at every competition level or at every level but the lowest or the
highest (see :mod:`crmcore.satisfaction._boundary`): that is a legitimate
maximum-likelihood estimate, reported with the boundary coefficients fixed and
named in :attr:`LoyaltyFit.boundary`. Each part of the boundary is fitted and
kept only where raising the floor from 0 would lower the likelihood; the
highest likelihood among them and the interior fit is reported. Where no
maximum exists (loyalty certain at a level, loyalty not rising with
satisfaction, cells at exactly 0 or 1, too few satisfaction levels, a curve
that is a step between two answers)
:class:`~crmcore.errors.FitError` names that cause. The moderation test
treats the floor the same way in both of its fits (see
:func:`moderation_test`), so that they are nested.

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
from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import chdtrc, expit

from crmcore._results import COUNT, NONNEGATIVE, PROBABILITY
from crmcore.arrays import FloatArray
from crmcore.errors import FitError, ValidationError
from crmcore.fitting import FitSummary
from crmcore.model._fields import instance
from crmcore.options import as_choice, as_count, as_seed
from crmcore.satisfaction._boundary import NO_FLOOR, Face
from crmcore.satisfaction._estimate import Optimum, maximise
from crmcore.satisfaction._likelihood import (
    _Cells,
    _cells_from_responses,
    _cells_from_table,
    _check_moderated,
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

_METHODS = ("asymptotic", "bootstrap")
_MAX_BOOT = 100_000


def _fit_summary(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    instance(FitSummary, "a FitSummary")(_inst, attribute, value)
    assert isinstance(value, FitSummary)
    if any(n not in PARAMETER_NAMES for n in (*value.names, *value.at_bound)):
        raise ValidationError(
            f"'fit' must name coefficients of {PARAMETER_NAMES}: {value.names!r}, at bound "
            f"{value.at_bound!r}"
        )
    if set(value.names) & set(value.at_bound):
        raise ValidationError(
            f"'fit' cannot estimate a coefficient it holds on the boundary: {value.at_bound!r}"
        )
    if value.standard_errors is None or value.covariance is None:
        raise ValidationError("'fit' of a loyalty fit must carry standard errors and covariance")


@attrs.frozen
class LoyaltyFit:
    """A fitted loyalty model: coefficients, standard errors, covariance, log-likelihood.

    ``model`` holds all six coefficients; ``fit`` is the
    :class:`~crmcore.fitting.FitSummary` of the estimated ones (the one result
    shape of every fit in crmcore: estimates, standard errors, intervals,
    covariance, log-likelihood, AIC/BIC, ``n`` = responses, iterations).
    ``parameter_names`` lists the estimated coefficients (the competition
    terms are fixed at 0 in an unmoderated fit); ``standard_errors`` and
    ``covariance`` follow that order. ``boundary`` names the coefficients
    held on the edge of the parameter space because the maximum lies there
    (the captive floor at 0 at every competition level, or at every level but
    the lowest or the highest: see ``message``; ``fit.at_bound`` too); they
    have no standard error, and the standard errors of the others hold them
    fixed. Round-trips through :mod:`crmcore.serialization`.

    >>> from crmcore.serialization import to_json, from_json
    >>> fit = fit_loyalty_table([1, 2, 3, 4, 5], [0.5] * 5, [30, 34, 45, 70, 90], [100] * 5)
    >>> from_json(LoyaltyFit, to_json(fit)) == fit
    True
    >>> fit.parameter_names
    ('intercept', 'log_slope', 'floor_logit')
    >>> round(fit.fit["floor_logit"].estimate, 4) == round(fit.model.floor_logit, 4)
    True
    """

    model: LoyaltyModel = attrs.field(validator=instance(LoyaltyModel, "a LoyaltyModel"))
    fit: FitSummary = attrs.field(validator=_fit_summary)
    n_cells: int = attrs.field(validator=COUNT)
    competition_levels: int = attrs.field(validator=COUNT)

    def __attrs_post_init__(self) -> None:
        for name, value in zip(self.fit.names, self.fit.estimates, strict=True):
            if float(getattr(self.model, name)) != value:
                raise ValidationError(
                    f"'fit' estimates {name!r} at {value!r}, the model holds "
                    f"{getattr(self.model, name)!r}"
                )

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The estimated coefficients, in :data:`PARAMETER_NAMES` order."""
        return self.fit.names

    @property
    def standard_errors(self) -> tuple[float, ...]:
        """Standard errors of ``parameter_names`` (observed information)."""
        assert self.fit.standard_errors is not None  # checked on construction
        return self.fit.standard_errors

    @property
    def covariance(self) -> tuple[tuple[float, ...], ...]:
        """Covariance matrix of ``parameter_names`` (rows and columns in that order)."""
        assert self.fit.covariance is not None  # checked on construction
        return self.fit.covariance

    @property
    def log_likelihood(self) -> float:
        """The maximised log-likelihood."""
        return self.fit.log_likelihood

    @property
    def n_responses(self) -> int:
        """Responses fitted (``fit.n``)."""
        return round(self.fit.n)

    @property
    def converged(self) -> bool:
        """Whether the fit converged (a fit that does not raises FitError instead)."""
        return self.fit.converged

    @property
    def iterations(self) -> int:
        """Optimiser iterations, all starts and boundary fits counted."""
        return self.fit.iterations

    @property
    def message(self) -> str:
        """How the fit ended, and where the floor sits on the boundary if it does."""
        return self.fit.message

    @property
    def boundary(self) -> tuple[str, ...]:
        """Coefficients held on the boundary of the parameter space (``fit.at_bound``)."""
        return self.fit.at_bound

    @property
    def aic(self) -> float:
        """AIC of the fit (estimated coefficients only)."""
        return self.fit.aic

    @property
    def bic(self) -> float:
        """BIC of the fit (estimated coefficients, ``n`` = responses)."""
        return self.fit.bic

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

    def summary(self) -> FitSummary:
        """The fit summary, the one result shape of every fit in crmcore (``fit``): one
        :class:`~crmcore.fitting.Estimate` per estimated coefficient (estimate, standard
        error, confidence interval, z and its p-value), the covariance, log-likelihood,
        AIC and BIC; coefficients held on the boundary are in ``at_bound`` (their values
        in ``model``). ``str()`` of it prints the table; ``to_pandas()`` makes a frame.

        >>> fit = fit_loyalty_table([1, 2, 3, 4, 5], [0.5] * 5, [30, 34, 45, 70, 90], [100] * 5)
        >>> row = fit.summary()["log_slope"]
        >>> round(row.estimate, 3), round(row.standard_error, 3), round(row.lower, 3), round(row.z, 2)
        (0.416, 0.201, 0.022, 2.07)
        """
        return self.fit


@attrs.frozen
class ModerationTest:
    """Likelihood-ratio test of H0 "competition does not change the curve".

    ``df`` is 3 (the intercept, slope and floor competition terms) when the
    floor is estimated in both fits, 2 (intercept and slope terms) when the floor
    is fixed on its boundary 0 in both (see :func:`moderation_test`); ``restricted`` and ``full`` are the two
    nested fits. ``method`` says where ``p_value`` comes from: ``"asymptotic"``,
    the upper tail of χ²(``df``) at ``statistic``; ``"bootstrap"``, a parametric
    bootstrap over ``replicates`` simulated tables (0 for the asymptotic one).

    >>> t = moderation_test_table([1, 2, 3, 4, 5] * 2, [0.0] * 5 + [1.0] * 5,
    ...                           [70, 72, 75, 85, 95, 2, 2, 5, 20, 80], [100] * 10)
    >>> t.df, t.p_value < 0.001, t.method
    (3, True, 'asymptotic')
    """

    statistic: float = attrs.field(validator=NONNEGATIVE)
    df: int = attrs.field(validator=COUNT)
    p_value: float = attrs.field(validator=PROBABILITY)
    restricted: LoyaltyFit = attrs.field(validator=instance(LoyaltyFit, "a LoyaltyFit"))
    full: LoyaltyFit = attrs.field(validator=instance(LoyaltyFit, "a LoyaltyFit"))
    method: str = attrs.field(
        default="asymptotic", validator=lambda _i, a, v: as_choice(v, name=a.name, allowed=_METHODS)
    )
    replicates: int = attrs.field(default=0, validator=COUNT)

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
    seen: dict[str, LoyaltyFit] | None = None,
) -> LoyaltyFit:
    """The maximum-likelihood fit over binomial cells (see :func:`maximise`); ``seen``
    receives the fit on each face of the boundary fitted on the way (by face name)."""
    faces_seen: dict[str, tuple[Optimum, Face]] = {}
    opt, face = maximise(cells, moderated, extra_start, floor_free=floor_free, seen=faces_seen)
    if seen is not None:
        seen.update({name: _result(cells, *found) for name, found in faces_seen.items()})
    return _result(cells, opt, face)


def _result(cells: _Cells, opt: Optimum, face: Face | None) -> LoyaltyFit:
    n = float(cells.m.sum())
    cov = np.linalg.inv(opt.hess * n)
    cov = (cov + cov.T) / 2.0
    if face is None:
        where = ""
    elif face.anchor is None:
        where = f"; floor on its boundary 0 at every competition level (floor_logit fixed at {NO_FLOOR:g})"
    else:
        floor = float(expit(opt.theta[4] + opt.theta[5] * face.anchor))
        where = (
            f"; floor on its boundary 0 at every competition level but the {face.name}, "
            f"{face.anchor:g}, where it is {floor:.3g} (floor_logit_competition fixed at "
            f"{opt.theta[5]:.6g}, floor_logit is the floor's logit extrapolated to "
            "competition 0 along it); standard errors hold it fixed"
        )
    names = tuple(PARAMETER_NAMES[i] for i in opt.free)
    return LoyaltyFit(
        model=LoyaltyModel.from_params(opt.theta),
        fit=FitSummary(
            model="loyalty",
            names=names,
            estimates=tuple(float(v) for v in opt.theta[opt.free]),
            standard_errors=tuple(float(math.sqrt(v)) for v in np.diag(cov)),
            covariance=tuple(tuple(float(v) for v in row) for row in cov),
            log_likelihood=-opt.value * n,
            n=n,
            iterations=opt.iterations,
            converged=True,
            message="converged: maximum likelihood (crmcore.fitting), every start and face" + where,
            scales=("linear",) * len(names),
            at_bound=() if face is None else face.names,
        ),
        n_cells=len(cells.m),
        competition_levels=cells.levels,
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
    ``moderated`` defaults to "more than one distinct competition level";
    ``moderated=True`` with a single level is a :class:`FitError`. When the
    maximum has the captive floor at 0 at some levels, the fit says so in
    ``boundary`` and ``message`` (see :class:`LoyaltyFit`); where there is no
    maximum, the :class:`FitError` names the cause in the data.

    >>> fit = fit_loyalty([1, 2, 3, 4, 5] * 40, [0, 0, 1, 1, 1] * 40)
    Traceback (most recent call last):
    crmcore.errors.FitError: loyalty fit failed: 'intercept' diverged beyond ±20: loyalty is exactly 0 or 1 in 5 of 5 cells (satisfaction 1: 0 of 40 loyal; satisfaction 2: 0 of 40 loyal; satisfaction 3: 40 of 40 loyal; 2 more), which the likelihood approaches without reaching; add responses at more satisfaction levels or fit moderated=False
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


def _floor_kept(restricted: LoyaltyFit, no_floor: LoyaltyFit | None) -> bool:
    """Whether the model under H0 keeps its floor: it has no maximum without one, or the
    floor lowers its BIC (``2·(ℓ − ℓ₀) ≥ log n``, n responses)."""
    if no_floor is None:
        return True
    lr = 2.0 * (restricted.log_likelihood - no_floor.log_likelihood)
    return lr >= math.log(restricted.fit.n)


def _asymptotic(cells: _Cells) -> ModerationTest:
    """The likelihood-ratio test with its χ²(df) p-value (see :func:`moderation_test`)."""
    seen: dict[str, LoyaltyFit] = {}
    restricted = _fit_cells(cells, False, seen=seen)
    start = np.asarray(restricted.model.params)
    # One parameterisation for both fits, so that they are nested: the floor is free in
    # both, or fixed on its boundary 0 in both (its competition term then does not exist).
    # Under H0 the restricted fit decides: the floor stays free only if the BIC keeps it,
    # a choice whose error vanishes as n grows whether the true floor is 0 or not.
    full: LoyaltyFit | None = None
    if "floor_logit" in restricted.parameter_names:
        no_floor: LoyaltyFit | None = seen.get("none")
        if no_floor is None:
            try:
                no_floor = _fit_cells(cells, False, extra_start=start, floor_free=False)
            except FitError:  # the data need the floor
                no_floor = None
        if _floor_kept(restricted, no_floor):
            try:
                full = _fit_cells(cells, True, extra_start=start)
            except FitError:
                if no_floor is None:
                    raise
                full = None
            if full is not None and full.boundary and no_floor is not None:
                full = None  # the floor runs to 0 at some competition level: 0 in both fits
        if full is None:
            assert no_floor is not None  # a full fit failing without it raised above
            restricted = no_floor
    if full is None:
        full = _fit_cells(cells, True, extra_start=start, floor_free=False)
    stat = max(0.0, 2.0 * (full.log_likelihood - restricted.log_likelihood))
    # γ₁ exists only with a free floor; a full fit on the boundary (the model under H0
    # needs the floor, the full model's maximum has it at 0 at some levels) still has it
    df = 3 if "floor_logit" in restricted.parameter_names else 2
    return ModerationTest(
        statistic=stat,
        df=df,
        p_value=float(chdtrc(df, stat)),
        restricted=restricted,
        full=full,
    )


def _bootstrap(
    test: ModerationTest, cells: _Cells, n_boot: int, seed: int | None
) -> ModerationTest:
    """``test`` with the parametric-bootstrap p-value: ``n_boot`` tables drawn from the
    model under H0 as fitted (``test.restricted``, same totals per cell), each tested as
    the data were (the choice of the floor included); the p-value is
    ``(1 + #{p* ≤ p}) / (1 + B)`` over the ``B`` replicates that have a maximum."""
    rng = np.random.default_rng(seed)
    prob = test.restricted.model.probability(cells.x + 5.0, cells.c)
    m = cells.m.astype(np.int64)
    below, used = 0, 0
    for _ in range(n_boot):
        k = rng.binomial(m, prob).astype(np.float64)
        try:
            again = _asymptotic(attrs.evolve(cells, k=k))
        except FitError:  # no maximum in this replicate: left out, and counted
            continue
        used += 1
        below += again.p_value <= test.p_value
    if 2 * used < n_boot:
        raise FitError(
            f"moderation test: only {used} of {n_boot} bootstrap replicates ('n_boot') have a "
            "maximum-likelihood fit, too few for a bootstrap p-value; use method='asymptotic'"
        )
    return attrs.evolve(
        test, p_value=(1.0 + below) / (1.0 + used), method="bootstrap", replicates=used
    )


def _test(cells: _Cells, method: object, n_boot: object, seed: object) -> ModerationTest:
    how = as_choice(method, name="method", allowed=_METHODS)
    b = as_count(n_boot, name="n_boot", low=1, high=_MAX_BOOT)
    s = as_seed(seed)
    _check_moderated(cells, True)
    test = _asymptotic(cells)
    return test if how == "asymptotic" else _bootstrap(test, cells, b, s)


def moderation_test(
    satisfaction: npt.ArrayLike,
    outcome: npt.ArrayLike,
    competition: npt.ArrayLike,
    *,
    method: Literal["asymptotic", "bootstrap"] = "asymptotic",
    n_boot: int = 199,
    seed: int | None = None,
    nan_policy: Literal["propagate", "omit", "raise"] = "raise",
) -> ModerationTest:
    """Does competition moderate the satisfaction → loyalty link in these responses?

    H0: ``intercept_competition = log_slope_competition = floor_logit_competition = 0``
    (one curve at every competition level); H1: they are free. The statistic is
    ``LR = 2·(ℓ_full − ℓ_restricted)``.

    Both fits share one parameterisation, so they are always nested: the floor
    is free in both, or fixed on its boundary 0 (no captive customers) in both.
    It is kept (free) when the model under H0 needs it: it has no maximum
    without one, or the floor lowers its BIC (``2·(ℓ − ℓ_floor 0) ≥ log n``, n
    responses; a choice whose error vanishes as n grows, whether the true floor
    is 0 or not). Then H0 restricts three terms and the reference distribution
    is χ²(3), ``df = 3`` (also when the full fit's maximum has the floor at 0 at
    some levels while the model under H0 has no maximum without a floor).
    Otherwise, and when the full fit's floor runs to 0 at some competition
    level, the floor is 0 in both fits, its competition term does not exist, H0
    restricts the intercept and slope terms, every other coefficient is
    interior and the reference is χ²(2), ``df = 2``.

    ``method="asymptotic"`` (default) takes ``p_value`` from χ²(``df``);
    ``method="bootstrap"`` from a parametric bootstrap: ``n_boot`` tables drawn
    from the fitted model under H0 (``restricted``, same answers per cell), each
    tested as the data were, choice of the floor included;
    ``p = (1 + #{p* ≤ p_χ²}) / (1 + B)`` over the ``B`` replicates with a
    maximum (``replicates``); ``seed`` makes it reproducible. It costs
    ``n_boot`` tests. Its size under H0, with the floor interior and at 0, is
    measured by ``benchmarks/bench_satisfaction_lrtest.py`` (figures in
    docs/satisfaction.md).

    >>> import numpy as np
    >>> from crmcore.satisfaction import preset_model
    >>> rng = np.random.default_rng(1)
    >>> s = rng.integers(1, 6, 3000); c = rng.choice([0.2, 0.8], 3000)
    >>> y = rng.random(3000) < preset_model().curve(0.5).probability(s)
    >>> moderation_test(s, y, c).p_value > 0.05
    True
    >>> moderation_test(s, y, c, method="bootstrap", n_boot=0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'n_boot' must be >= 1: 0
    """
    cells = _cells_from_responses(satisfaction, outcome, competition, nan_policy)
    return _test(cells, method, n_boot, seed)


def moderation_test_table(
    satisfaction: npt.ArrayLike,
    competition: npt.ArrayLike,
    loyal: npt.ArrayLike,
    total: npt.ArrayLike,
    *,
    method: Literal["asymptotic", "bootstrap"] = "asymptotic",
    n_boot: int = 199,
    seed: int | None = None,
    nan_policy: Literal["omit", "raise"] = "raise",
) -> ModerationTest:
    """:func:`moderation_test` on an aggregated table (see :func:`fit_loyalty_table`).

    >>> moderation_test_table([1, 2, 3, 4, 5] * 2, [0.0] * 5 + [1.0] * 5,
    ...                       [70, 72, 75, 85, 95, 2, 2, 5, 20, 80], [100] * 10).statistic > 50
    True
    """
    cells = _cells_from_table(satisfaction, competition, loyal, total, nan_policy)
    return _test(cells, method, n_boot, seed)
