"""Shifted-beta-geometric (sBG) contractual retention (Fader & Hardie 2007, 2010).

Each customer renews at the end of every period with her own probability
``1 − θ`` until she churns; ``θ`` varies across customers as Beta(α, β).
With ``T`` the period in which a customer churns (``T = 1, 2, …``):

* ``P(T = t) = B(α + 1, β + t − 1) / B(α, β)``
* survival ``S(t) = P(T > t) = B(α, β + t) / B(α, β)``
* retention ``r(t) = S(t) / S(t − 1) = (β + t − 1) / (α + β + t − 1)``
  (it rises with ``t``: the sorting effect of a heterogeneous cohort).

Fit: from cohort counts ``n_0 ≥ n_1 ≥ … ≥ n_T`` (customers active at the
start of periods 0…T), the log-likelihood is
``Σ_{t=1..T} (n_{t−1} − n_t) ln P(T = t) + n_T ln S(T)``, maximised by
:func:`crmcore.fitting.maximum_likelihood` with its analytic gradient and
Hessian; the model carries the :class:`~crmcore.fitting.FitSummary` as ``fit``
(standard errors from the observed information in α, β).

Residual lifetime of a customer who has made ``n − 1`` renewals, evaluated
just before her ``n``-th renewal decision (Fader & Hardie 2010, Marketing
Science 29(1), eq. 6), with one unit of value per period paid at the
start of each renewed period and discount rate ``d``:

* ``DERL(d | n − 1) = (β + n − 1)/(α + β + n − 1) · ₂F₁(1, β + n; α + β + n; 1/(1 + d))``
* undiscounted ``E[RL | n − 1] = (β + n − 1)/(α − 1)``, finite only when α > 1.

>>> from crmcore.datasets import SBG_COHORTS
>>> m = fit_sbg(SBG_COHORTS["regular"], period="year")
>>> round(m.alpha, 3), round(m.beta, 3), m.period
(0.704, 1.182, 'year')
>>> [round(float(r), 3) for r in m.retention([1, 2, 8])]
[0.627, 0.756, 0.921]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import numpy as np
import numpy.typing as npt
from scipy import special

from crmcore._results import number
from crmcore.arrays import FloatArray
from crmcore.errors import FitError, ValidationError
from crmcore.fitting import FitSummary, FittedModel, initial_values, maximum_likelihood
from crmcore.model._fields import instance
from crmcore.options import as_horizon, as_number
from crmcore.valuation._periods import as_period, optional_period
from crmcore.valuation.economics._sbg_likelihood import (
    check_not_geometric,
    check_two_periods,
    cohorts_of,
    loglik,
    newton,
    transitions,
    whole,
)

__all__ = ["SBGModel", "SBGParams", "fit_sbg", "sbg_log_likelihood"]

_NAMES = ("alpha", "beta")

_MIN_DISCOUNT = 1e-6
"""The smallest discount rate per period :meth:`SBGModel.discounted_residual_lifetime` takes.

Below it ``1/(1 + d)`` is 1 to within the float64 precision of the answer (at
``d < 1.1e-16`` it is exactly 1 and the series diverges when α <= 1): the
result would be wrong or infinite. For no discounting use
:meth:`SBGModel.expected_residual_lifetime`.
"""


def sbg_log_likelihood(
    alpha: float, beta: float, counts: npt.ArrayLike | Sequence[npt.ArrayLike]
) -> float:
    """Log-likelihood of sBG parameters for one cohort or several (same α, β).

    >>> round(sbg_log_likelihood(1.0, 1.0, [1000, 869, 743, 653, 593, 551, 517, 491]), 1)
    -2115.5
    """
    a = as_number(alpha, name="alpha", low=0, inclusive=(False, True))
    b = as_number(beta, name="beta", low=0, inclusive=(False, True))
    return loglik(a, b, cohorts_of(counts))


@attrs.frozen
class SBGParams:
    """The sBG mixing distribution: per-period churn probability θ ~ Beta(α, β).

    >>> SBGParams(alpha=0.704, beta=1.182).beta
    1.182
    """

    alpha: float = attrs.field(validator=number(gt=0))
    beta: float = attrs.field(validator=number(gt=0))


@attrs.frozen
class SBGModel(FittedModel):
    """A fitted shifted-beta-geometric model (immutable; round-trips through the converter).

    ``params`` are α and β, ``fit`` the :class:`~crmcore.fitting.FitSummary` of the fit (None
    for a model built from parameters by hand; ``log_likelihood``, ``n`` (customers),
    ``converged``, ``aic``, ``bic`` and the standard errors are read from it), ``period``
    the optional label of one renewal period ("year", "month") and ``n_periods`` the longest
    cohort's periods in the fit. Every argument counts periods and the discount rate of
    :meth:`discounted_residual_lifetime` is per period.

    >>> from crmcore.serialization import from_json, to_json
    >>> m = fit_sbg([1000, 869, 743, 653, 593, 551, 517, 491])
    >>> round(m.alpha, 3), round(m.beta, 3), from_json(SBGModel, to_json(m)) == m
    (0.668, 3.806, True)
    >>> round(m.alpha_se, 3), m.n_customers, m.n_periods
    (0.104, 1000.0, 7)
    """

    params: SBGParams = attrs.field(validator=instance(SBGParams, "an SBGParams"))
    fit: FitSummary | None = attrs.field(
        default=None, validator=instance(FitSummary, "a FitSummary", optional=True)
    )
    period: str | None = attrs.field(default=None, validator=optional_period)
    n_periods: int | None = attrs.field(
        default=None, validator=number(1, integer=True, optional=True)
    )

    @property
    def alpha(self) -> float:
        """α of the churn distribution Beta(α, β)."""
        return self.params.alpha

    @property
    def beta(self) -> float:
        """β of the churn distribution Beta(α, β)."""
        return self.params.beta

    @property
    def standard_errors(self) -> SBGParams | None:
        """Standard errors of α and β (None without a fit or a regular information)."""
        return self._standard_errors_as(SBGParams, 2)

    @property
    def alpha_se(self) -> float | None:
        """Standard error of α (None without one)."""
        se = self.standard_errors
        return None if se is None else se.alpha

    @property
    def beta_se(self) -> float | None:
        """Standard error of β (None without one)."""
        se = self.standard_errors
        return None if se is None else se.beta

    @property
    def n_customers(self) -> float | None:
        """Customers of the fit: the cohort sizes summed (None without a fit)."""
        return self.n

    @property
    def iterations(self) -> int | None:
        """Optimiser iterations of the fit (None without a fit)."""
        return None if self.fit is None else self.fit.iterations

    @property
    def mean_churn(self) -> float:
        """E[θ] = α / (α + β), the churn probability of a random new customer.

        >>> round(SBGModel(SBGParams(1.0, 3.0)).mean_churn, 2)
        0.25
        """
        return self.alpha / (self.alpha + self.beta)

    def churn_probability(self, t: npt.ArrayLike) -> FloatArray:
        """``P(T = t)``: churn in period ``t`` (t = 1, 2, …).

        >>> SBGModel(SBGParams(1.0, 1.0)).churn_probability([1, 2]).round(4).tolist()
        [0.5, 0.1667]
        """
        tt = _periods(t, low=1)
        a, b = self.alpha, self.beta
        return np.asarray(
            np.exp(special.betaln(a + 1.0, b + tt - 1.0) - special.betaln(a, b)), dtype=np.float64
        )

    def survival(self, t: npt.ArrayLike) -> FloatArray:
        """``S(t)``: share of the cohort still active after ``t`` renewal decisions (S(0) = 1).

        >>> SBGModel(SBGParams(1.0, 1.0)).survival([0, 1, 3]).tolist()
        [1.0, 0.5, 0.25]
        """
        tt = _periods(t, low=0)
        a, b = self.alpha, self.beta
        return np.asarray(
            np.exp(special.betaln(a, b + tt) - special.betaln(a, b)), dtype=np.float64
        )

    def retention(self, t: npt.ArrayLike) -> FloatArray:
        """``r(t) = (β + t − 1)/(α + β + t − 1)``: share of period ``t − 1`` survivors renewing at ``t``.

        >>> SBGModel(SBGParams(1.0, 1.0)).retention([1, 2]).tolist()
        [0.5, 0.6666666666666666]
        """
        tt = _periods(t, low=1)
        return (self.beta + tt - 1.0) / (self.alpha + self.beta + tt - 1.0)

    def project(self, cohort_size: float, periods: int) -> FloatArray:
        """Expected active customers at the start of periods 0…``periods`` for a new cohort.

        ``periods`` is capped at :data:`crmcore.options.MAX_PERIODS`.

        >>> SBGModel(SBGParams(1.0, 1.0)).project(100, 3).tolist()
        [100.0, 50.0, 33.33333333333333, 25.0]
        >>> SBGModel(SBGParams(1.0, 1.0)).project(float("nan"), 3)
        Traceback (most recent call last):
        crmcore.errors.ValidationError: 'cohort_size' must be a finite number: nan
        """
        n = as_horizon(periods, name="periods")
        size = as_number(cohort_size, name="cohort_size", low=0)
        return size * self.survival(np.arange(n + 1))

    def expected_residual_lifetime(
        self, renewals: npt.ArrayLike, *, horizon: int | None = None
    ) -> FloatArray:
        """Expected number of further renewals of a customer who has made ``renewals`` so far.

        Infinite horizon: ``(β + n − 1)/(α − 1)``, which exists only for α > 1
        (otherwise the error says so); with ``horizon`` the sum stops after
        that many further periods and is always finite.

        >>> m = SBGModel(SBGParams(3.0, 4.0))
        >>> m.expected_residual_lifetime([0, 2]).tolist()
        [2.0, 3.0]
        >>> SBGModel(SBGParams(0.7, 1.2)).expected_residual_lifetime(0)
        Traceback (most recent call last):
        crmcore.errors.ValidationError: the expected residual lifetime is infinite when alpha <= 1 (alpha = 0.7); pass a finite 'horizon' or use discounted_residual_lifetime
        """
        n1 = _periods(renewals, low=0, name="renewals")  # renewals made so far = n - 1
        b = self.beta + n1
        if horizon is None:
            if self.alpha <= 1.0:
                raise ValidationError(
                    f"the expected residual lifetime is infinite when alpha <= 1 "
                    f"(alpha = {self.alpha:g}); pass a finite 'horizon' or use "
                    "discounted_residual_lifetime"
                )
            return b / (self.alpha - 1.0)
        k = np.arange(1, as_horizon(horizon, name="horizon") + 1)
        terms = np.exp(
            special.betaln(self.alpha, b[:, None] + k[None, :])
            - special.betaln(self.alpha, b)[:, None]
        )
        return np.asarray(terms.sum(axis=1), dtype=np.float64)

    def discounted_residual_lifetime(self, renewals: npt.ArrayLike, discount: float) -> FloatArray:
        """DERL (Fader & Hardie 2010, eq. 6) for customers who have made ``renewals`` renewals.

        Multiply by the margin per period to get the residual value of a customer.
        ``discount`` is the rate per period, at least 1e-6: below it ``1/(1 + d)``
        is 1 to within the precision the answer needs (and the series diverges
        when α <= 1), so the result would be wrong or infinite; without
        discounting use :meth:`expected_residual_lifetime`.

        >>> m = SBGModel(SBGParams(1.0, 1.0))
        >>> round(float(m.discounted_residual_lifetime(0, 0.1)[0]), 4)
        1.8015
        >>> m.discounted_residual_lifetime(0, 1e-9)
        Traceback (most recent call last):
        crmcore.errors.ValidationError: 'discount' must be >= 1e-06: 1e-09
        """
        d = as_number(discount, name="discount", low=_MIN_DISCOUNT)
        n1 = _periods(renewals, low=0, name="renewals")
        b = self.beta + n1
        a = self.alpha
        with np.errstate(over="ignore", invalid="ignore"):
            out = b / (a + b) * special.hyp2f1(1.0, b + 1.0, a + b + 1.0, 1.0 / (1.0 + d))
        bad = ~np.isfinite(out)
        if bad.any():  # scipy's 2F1 gives NaN far out (alpha + beta + renewals beyond ~1e4)
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                f"the discounted residual lifetime is not computable for alpha = {a:g}, "
                f"beta = {self.beta:g} and 'renewals' {n1[i]:g} at index {i} "
                f"(discount {d:g}): the hypergeometric series fails there"
            )
        return np.asarray(out, dtype=np.float64)


def _periods(t: npt.ArrayLike, *, low: int, name: str = "t") -> FloatArray:
    tt = whole(t, name)
    if (tt < low).any():
        i = int(np.flatnonzero(tt < low)[0])
        raise ValidationError(f"{name!r} must be >= {low}: {tt[i]:g} at index {i}")
    return tt


def _note_penalty_only(fit: FitSummary, cohorts: list[FloatArray]) -> FitSummary:
    """A penalised fit of data that cannot identify alpha and beta on their own: the
    penalised maximum is unique (the L2 penalty makes the objective strictly concave far
    out), so the fit is returned as converged, as lifetimes (``penalizer_coef``) and
    statsmodels (``fit_regularized``) return a ridge estimate; its message says that the
    penalty, not the data, fixed the scale of alpha and beta."""
    try:
        check_two_periods(cohorts)
        check_not_geometric(cohorts, fit.log_likelihood)
    except FitError as e:
        why = str(e).removeprefix("sBG fit: ").split(";")[0]
        return attrs.evolve(
            fit,
            message=f"{fit.message} (alpha and beta identified by the penalty alone: {why})",
        )
    return fit


def fit_sbg(
    counts: npt.ArrayLike | Sequence[npt.ArrayLike],
    *,
    penalizer: float = 0.0,
    initial: Mapping[str, float] | Sequence[float] | None = None,
    period: str | None = None,
) -> SBGModel:
    """Fit α, β by maximum likelihood to cohort survivor counts (or several cohorts at once).

    ``counts[t]`` = customers active at the start of period ``t``; ``counts[0]``
    is the cohort size. Counts must not increase. The fit is summarised in ``model.fit``
    (:class:`crmcore.fitting.FitSummary`: estimates, standard errors, covariance,
    log-likelihood, AIC/BIC; ``n`` is the number of customers, the cohort sizes summed).
    ``initial`` gives start values (a mapping by name or the pair α, β; default 1, 1);
    ``period`` labels one renewal period ("year"; kept on the model and in its JSON).

    Data that cannot identify α and β raise :class:`~crmcore.errors.FitError`
    (as statsmodels and lifelines refuse a non-identified model) rather than
    returning arbitrary values: one transition (a single retention rate for
    two parameters), and survival with no rising retention (exactly
    geometric, or falling), where the likelihood peaks only as α, β → ∞ with
    constant churn ``p = α/(α + β)``; the error gives ``p``, the constant-churn
    answer. ``penalizer`` adds ``penalizer * (α**2 + β**2)`` to the negative mean
    log-likelihood per customer (lifetimes' ``penalizer_coef``; 0 is plain maximum
    likelihood): the penalised maximum always exists, so with a penalizer these data are
    fitted, the penalty (not the data) fixing the scale of α and β.

    >>> fit_sbg([1000, 1100])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'counts' must not increase (survivors only leave): 1100 at index 1 after 1000
    >>> fit_sbg([1000, 600])
    Traceback (most recent call last):
    crmcore.errors.FitError: sBG fit: 'counts' hold one transition (period 1 only, retention 0.6): one retention rate cannot identify the two parameters alpha and beta; give survivor counts for at least two periods
    >>> fit_sbg([1000, 800, 640, 512])
    Traceback (most recent call last):
    crmcore.errors.FitError: sBG fit: alpha and beta are not identified by these 'counts': retention does not rise with tenure (exactly geometric survival, or falling retention), so the sBG likelihood is maximised only in the limit alpha, beta -> infinity with alpha/(alpha + beta) = p, a constant churn p = 0.2 per period; use the geometric (constant-churn) answer S(t) = (1 - 0.2)**t
    >>> m = fit_sbg([1000, 800, 640, 512], penalizer=1e-8)
    >>> round(m.alpha, 1), round(m.beta, 1), round(m.mean_churn, 3), m.fit.converged
    (14.7, 58.1, 0.202, True)
    >>> "identified by the penalty alone" in m.fit.message
    True
    """
    label = as_period(period)
    cohorts = cohorts_of(counts)
    if all(c[-1] == c[0] for c in cohorts):
        raise FitError(
            "every customer in 'counts' survived: the churn distribution cannot be estimated"
        )
    if all(c[1:].sum() == 0 for c in cohorts):
        raise FitError(
            "every customer in 'counts' churned in the first period: alpha/beta is not identified"
        )
    pen = as_number(penalizer, name="penalizer", low=0)
    if pen == 0:
        check_two_periods(cohorts)
    start = initial_values(initial, np.array([1.0, 1.0]), _NAMES, model="sBG")
    lost, stay = transitions(cohorts)
    try:
        fit = maximum_likelihood(
            lambda th: newton(th, lost, stay)[:2],
            start,
            model="sBG",
            names=_NAMES,
            n=float(sum(float(c[0]) for c in cohorts)),
            newton=lambda th: newton(th, lost, stay),
            penalizer=pen,
        )
    except FitError as e:
        if pen == 0:  # with churn and survival past period 1 the likelihood vanishes at every
            # edge but alpha, beta -> infinity along alpha/(alpha + beta) = p: not identified
            check_not_geometric(cohorts, -np.inf, cause=e)
        raise
    if pen == 0:
        check_not_geometric(cohorts, fit.log_likelihood)
    else:
        fit = _note_penalty_only(fit, cohorts)
    return SBGModel(SBGParams(*fit.estimates), fit, label, max(len(c) - 1 for c in cohorts))
