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
``Σ_{t=1..T} (n_{t−1} − n_t) ln P(T = t) + n_T ln S(T)``, maximised over
``ln α, ln β`` with :func:`scipy.optimize.minimize`; standard errors come
from the inverse of the numerical Hessian (delta method back to α, β).

Residual lifetime of a customer who has made ``n − 1`` renewals, evaluated
just before her ``n``-th renewal decision (Fader & Hardie 2010, Marketing
Science 29(1), eq. 6), with one unit of value per period paid at the
start of each renewed period and discount rate ``d``:

* ``DERL(d | n − 1) = (β + n − 1)/(α + β + n − 1) · ₂F₁(1, β + n; α + β + n; 1/(1 + d))``
* undiscounted ``E[RL | n − 1] = (β + n − 1)/(α − 1)``, finite only when α > 1.

>>> from crmcore.datasets import SBG_COHORTS
>>> m = fit_sbg(SBG_COHORTS["regular"])
>>> round(m.alpha, 3), round(m.beta, 3)
(0.704, 1.182)
>>> [round(float(r), 3) for r in m.retention([1, 2, 8])]
[0.627, 0.756, 0.921]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import attrs
import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from crmcore._results import COUNT, NONNEGATIVE, POSITIVE, number
from crmcore.arrays import FloatArray, as_float_array, check_integer_valued, check_nonnegative
from crmcore.errors import FitError, ValidationError
from crmcore.model._fields import instance
from crmcore.options import as_horizon, as_number

__all__ = ["SBGModel", "fit_sbg", "sbg_log_likelihood"]

_MIN_DISCOUNT = 1e-6
"""The smallest discount rate per period :meth:`SBGModel.discounted_residual_lifetime` takes.

Below it ``1/(1 + d)`` is 1 to within the float64 precision of the answer (at
``d < 1.1e-16`` it is exactly 1 and the series diverges when α <= 1): the
result would be wrong or infinite. For no discounting use
:meth:`SBGModel.expected_residual_lifetime`.
"""


def _whole(values: npt.ArrayLike, name: str) -> FloatArray:
    """Finite whole numbers (periods, survivor counts); a NaN is an error: a count or a
    period has no NaN policy (a gap in a survivor series is not a missing row)."""
    c = as_float_array(values, name=name, allow_nan=True)
    nan = np.isnan(c)
    if nan.any():
        i = int(np.flatnonzero(nan)[0])
        raise ValidationError(f"{name!r} must be a whole number, not NaN: nan at index {i}")
    check_integer_valued(c, name=name)
    return c


def _check_cohort(counts: npt.ArrayLike, name: str) -> FloatArray:
    c = _whole(counts, name)
    if len(c) < 2:
        raise ValidationError(
            f"{name!r} needs the cohort size and at least one later count: {c.tolist()}"
        )
    check_nonnegative(c, name=name)
    if c[0] <= 0:
        raise ValidationError(f"{name!r} must start with a positive cohort size: {c[0]:g}")
    up = np.diff(c) > 0
    if up.any():
        i = int(np.flatnonzero(up)[0]) + 1
        raise ValidationError(
            f"{name!r} must not increase (survivors only leave): "
            f"{c[i]:g} at index {i} after {c[i - 1]:g}"
        )
    return c


def _cohorts(counts: npt.ArrayLike | Sequence[npt.ArrayLike]) -> list[FloatArray]:
    if (
        isinstance(counts, (list, tuple))
        and counts
        and isinstance(counts[0], (list, tuple, np.ndarray))
    ):
        return [_check_cohort(c, f"counts[{i}]") for i, c in enumerate(counts)]
    arr = np.asarray(counts)
    if arr.ndim == 2:
        return [_check_cohort(c, f"counts[{i}]") for i, c in enumerate(arr)]
    return [_check_cohort(arr, "counts")]


def _loglik(alpha: float, beta: float, cohorts: list[FloatArray]) -> float:
    """Σ lost_t ln P(T = t) + n_T ln S(T), in log space from the per-period churn
    θ_k = α / (α + β + k) = 1 / (1 + (β + k) / α): ln S(t) = Σ_{k<t} ln(1 − θ_k) and
    ln P(T = t) = ln S(t − 1) + ln θ_{t−1} (no difference of two log-beta functions, which
    cancels to nothing for α, β near 1e300)."""
    n = max(len(c) for c in cohorts) - 1
    bk = beta + np.arange(n, dtype=np.float64)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        u = bk / alpha  # inf when alpha is tiny (5e-324): then ln θ_k = ln α − ln(β + k)
        v = alpha / bk  # inf when alpha dwarfs β + k: then ln(1 − θ_k) = ln(β + k) − ln α
        log_alpha, log_bk = np.log(alpha), np.log(bk)
        log_churn = np.where(np.isinf(u), log_alpha - log_bk, -np.log1p(u))  # ln θ_k
        log_stay = np.where(np.isinf(v), log_bk - log_alpha, -np.log1p(v))  # ln(1 − θ_k)
    log_s = np.concatenate([[0.0], np.cumsum(log_stay)])  # ln S(0..n)
    total = 0.0
    for c in cohorts:
        t = len(c) - 1
        lost = c[:-1] - c[1:]
        log_p = log_s[:t] + log_churn[:t]
        total += float(np.sum(np.where(lost > 0, lost * log_p, 0.0)))
        total += float(c[-1] * log_s[t]) if c[-1] > 0 else 0.0
    return float(total)


def sbg_log_likelihood(
    alpha: float, beta: float, counts: npt.ArrayLike | Sequence[npt.ArrayLike]
) -> float:
    """Log-likelihood of sBG parameters for one cohort or several (same α, β).

    >>> round(sbg_log_likelihood(1.0, 1.0, [1000, 869, 743, 653, 593, 551, 517, 491]), 1)
    -2115.5
    """
    a = as_number(alpha, name="alpha", low=0, inclusive=(False, True))
    b = as_number(beta, name="beta", low=0, inclusive=(False, True))
    return _loglik(a, b, _cohorts(counts))


@attrs.frozen
class SBGModel:
    """A fitted shifted-beta-geometric model (immutable; round-trips through the converter).

    >>> from crmcore.serialization import from_json, to_json
    >>> m = fit_sbg([1000, 869, 743, 653, 593, 551, 517, 491])
    >>> round(m.alpha, 3), round(m.beta, 3), from_json(SBGModel, to_json(m)) == m
    (0.668, 3.806, True)
    """

    alpha: float = attrs.field(validator=POSITIVE)
    beta: float = attrs.field(validator=POSITIVE)
    alpha_se: float = attrs.field(validator=NONNEGATIVE)
    beta_se: float = attrs.field(validator=NONNEGATIVE)
    log_likelihood: float = attrs.field(validator=number(hi=0))
    n_periods: int = attrs.field(validator=COUNT)
    n_customers: float = attrs.field(validator=NONNEGATIVE)
    converged: bool = attrs.field(validator=instance(bool, "a bool"))
    iterations: int = attrs.field(validator=COUNT)

    @property
    def mean_churn(self) -> float:
        """E[θ] = α / (α + β), the churn probability of a random new customer.

        >>> round(SBGModel(1.0, 3.0, 0.0, 0.0, 0.0, 1, 1.0, True, 0).mean_churn, 2)
        0.25
        """
        return self.alpha / (self.alpha + self.beta)

    def churn_probability(self, t: npt.ArrayLike) -> FloatArray:
        """``P(T = t)``: churn in period ``t`` (t = 1, 2, …).

        >>> SBGModel(1.0, 1.0, 0.0, 0.0, 0.0, 1, 1.0, True, 0).churn_probability([1, 2]).round(4).tolist()
        [0.5, 0.1667]
        """
        tt = _periods(t, low=1)
        a, b = self.alpha, self.beta
        return np.asarray(
            np.exp(special.betaln(a + 1.0, b + tt - 1.0) - special.betaln(a, b)), dtype=np.float64
        )

    def survival(self, t: npt.ArrayLike) -> FloatArray:
        """``S(t)``: share of the cohort still active after ``t`` renewal decisions (S(0) = 1).

        >>> SBGModel(1.0, 1.0, 0.0, 0.0, 0.0, 1, 1.0, True, 0).survival([0, 1, 3]).tolist()
        [1.0, 0.5, 0.25]
        """
        tt = _periods(t, low=0)
        a, b = self.alpha, self.beta
        return np.asarray(
            np.exp(special.betaln(a, b + tt) - special.betaln(a, b)), dtype=np.float64
        )

    def retention(self, t: npt.ArrayLike) -> FloatArray:
        """``r(t) = (β + t − 1)/(α + β + t − 1)``: share of period ``t − 1`` survivors renewing at ``t``.

        >>> SBGModel(1.0, 1.0, 0.0, 0.0, 0.0, 1, 1.0, True, 0).retention([1, 2]).tolist()
        [0.5, 0.6666666666666666]
        """
        tt = _periods(t, low=1)
        return (self.beta + tt - 1.0) / (self.alpha + self.beta + tt - 1.0)

    def project(self, cohort_size: float, periods: int) -> FloatArray:
        """Expected active customers at the start of periods 0…``periods`` for a new cohort.

        ``periods`` is capped at :data:`crmcore.options.MAX_PERIODS`.

        >>> SBGModel(1.0, 1.0, 0.0, 0.0, 0.0, 1, 1.0, True, 0).project(100, 3).tolist()
        [100.0, 50.0, 33.33333333333333, 25.0]
        >>> SBGModel(1.0, 1.0, 0.0, 0.0, 0.0, 1, 1.0, True, 0).project(float("nan"), 3)
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

        >>> m = SBGModel(3.0, 4.0, 0.0, 0.0, 0.0, 1, 1.0, True, 0)
        >>> m.expected_residual_lifetime([0, 2]).tolist()
        [2.0, 3.0]
        >>> SBGModel(0.7, 1.2, 0.0, 0.0, 0.0, 1, 1.0, True, 0).expected_residual_lifetime(0)
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

        >>> m = SBGModel(1.0, 1.0, 0.0, 0.0, 0.0, 1, 1.0, True, 0)
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
    tt = _whole(t, name)
    if (tt < low).any():
        i = int(np.flatnonzero(tt < low)[0])
        raise ValidationError(f"{name!r} must be >= {low}: {tt[i]:g} at index {i}")
    return tt


def _hessian(f: Callable[[FloatArray], float], x: FloatArray, h: float = 1e-4) -> FloatArray:
    k = len(x)
    eye = np.eye(k) * h
    hess = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = eye[i], eye[j]
            hess[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * h * h
            )
    return hess


def _check_two_periods(cohorts: list[FloatArray]) -> None:
    """Two parameters need at least two retention rates: customers at risk in period 2 or later."""
    if any(len(c) > 2 and c[1] > 0 for c in cohorts):
        return
    rate = sum(float(c[1]) for c in cohorts) / sum(float(c[0]) for c in cohorts)
    raise FitError(
        "sBG fit: 'counts' hold one transition (period 1 only, retention "
        f"{rate:.6g}): one retention rate cannot identify the two parameters alpha and beta; "
        "give survivor counts for at least two periods"
    )


_GEOMETRIC_TOLERANCE = 1e-6
"""Log-likelihood gain over the geometric limit below which α, β are not identified."""


def _check_not_geometric(cohorts: list[FloatArray], log_likelihood: float) -> None:
    """The sBG tends to a geometric (constant churn ``p``) as α, β → ∞ with α/(α + β) = p.

    When the best sBG does not beat that limit (survival exactly geometric, or
    retention not rising), the likelihood is maximised at infinity along the
    ridge α/(α + β) = p and α, β are not identified: a :class:`FitError` says so
    and gives ``p``, the maximum-likelihood constant churn."""
    lost = sum(float(np.sum(c[:-1] - c[1:])) for c in cohorts)
    at_risk = sum(float(np.sum(c[:-1])) for c in cohorts)
    p = lost / at_risk
    geometric = float(special.xlogy(lost, p) + special.xlogy(at_risk - lost, 1.0 - p))
    if log_likelihood - geometric <= _GEOMETRIC_TOLERANCE * max(1.0, 1e-3 * abs(geometric)):
        raise FitError(
            "sBG fit: alpha and beta are not identified by these 'counts': retention does "
            "not rise with tenure (exactly geometric survival, or falling retention), so the "
            "sBG likelihood is maximised only in the limit alpha, beta -> infinity with "
            f"alpha/(alpha + beta) = p, a constant churn p = {p:.6g} per period; use the "
            f"geometric (constant-churn) answer S(t) = (1 - {p:.6g})**t"
        )


def fit_sbg(
    counts: npt.ArrayLike | Sequence[npt.ArrayLike],
    *,
    initial: tuple[float, float] = (1.0, 1.0),
) -> SBGModel:
    """Fit α, β by maximum likelihood to cohort survivor counts (or several cohorts at once).

    ``counts[t]`` = customers active at the start of period ``t``; ``counts[0]``
    is the cohort size. Counts must not increase.

    Data that cannot identify α and β raise :class:`~crmcore.errors.FitError`
    (as statsmodels and lifelines refuse a non-identified model) rather than
    returning arbitrary values: one transition (a single retention rate for
    two parameters), and survival with no rising retention (exactly
    geometric, or falling), where the likelihood peaks only as α, β → ∞ with
    constant churn ``p = α/(α + β)``; the error gives ``p``, the constant-churn
    answer.

    >>> fit_sbg([1000, 1100])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'counts' must not increase (survivors only leave): 1100 at index 1 after 1000
    >>> fit_sbg([1000, 600])
    Traceback (most recent call last):
    crmcore.errors.FitError: sBG fit: 'counts' hold one transition (period 1 only, retention 0.6): one retention rate cannot identify the two parameters alpha and beta; give survivor counts for at least two periods
    >>> fit_sbg([1000, 800, 640, 512])
    Traceback (most recent call last):
    crmcore.errors.FitError: sBG fit: alpha and beta are not identified by these 'counts': retention does not rise with tenure (exactly geometric survival, or falling retention), so the sBG likelihood is maximised only in the limit alpha, beta -> infinity with alpha/(alpha + beta) = p, a constant churn p = 0.2 per period; use the geometric (constant-churn) answer S(t) = (1 - 0.2)**t
    """
    cohorts = _cohorts(counts)
    if all(c[-1] == c[0] for c in cohorts):
        raise FitError(
            "every customer in 'counts' survived: the churn distribution cannot be estimated"
        )
    if all(c[1:].sum() == 0 for c in cohorts):
        raise FitError(
            "every customer in 'counts' churned in the first period: alpha/beta is not identified"
        )

    _check_two_periods(cohorts)

    def nll(x: FloatArray) -> float:
        if np.any(np.abs(x) > 700):  # exp would overflow: outside every sensible fit
            return np.inf
        return -_loglik(float(np.exp(x[0])), float(np.exp(x[1])), cohorts)

    if not (isinstance(initial, tuple | list) and len(initial) == 2):
        raise ValidationError(f"'initial' must be a pair (alpha, beta): {initial!r}")
    x0 = np.log([as_number(v, name="initial", low=0, inclusive=(False, True)) for v in initial])
    # an infinite objective far out makes scipy's finite differences warn: not for users
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        res = optimize.minimize(nll, x0, method="BFGS", options={"gtol": 1e-8})
        if not res.success:
            res2 = optimize.minimize(
                nll, res.x, method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-10}
            )
            if res2.fun <= res.fun:
                res = res2
    x = np.asarray(res.x, dtype=np.float64)
    _check_not_geometric(cohorts, -float(res.fun))
    if not np.all(np.isfinite(x)) or np.any(np.abs(x) > 25):
        raise FitError(f"sBG fit diverged on these 'counts': log(alpha), log(beta) = {x.tolist()}")
    hess = _hessian(nll, x)
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError as e:
        raise FitError("sBG fit: the Hessian is singular; standard errors undefined") from e
    var = np.diag(cov)
    if np.any(var <= 0) or not np.all(np.isfinite(var)):
        raise FitError(f"sBG fit: the Hessian is not positive definite (variances {var.tolist()})")
    alpha, beta = float(np.exp(x[0])), float(np.exp(x[1]))
    return SBGModel(
        alpha=alpha,
        beta=beta,
        alpha_se=alpha * float(np.sqrt(var[0])),
        beta_se=beta * float(np.sqrt(var[1])),
        log_likelihood=-float(res.fun),
        n_periods=max(len(c) - 1 for c in cohorts),
        n_customers=float(sum(c[0] for c in cohorts)),
        converged=bool(res.success) or bool(np.linalg.norm(res.get("jac", [0.0])) < 1e-3),
        iterations=int(res.nit),
    )
