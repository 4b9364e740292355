"""BG/BB: discrete transaction opportunities (Fader, Hardie & Shang 2010).

At each of ``n`` opportunities a living customer transacts with probability
``p`` (beta(alpha, beta) across customers); at the start of each opportunity
she may become inactive with probability ``theta`` (beta(gamma, delta)).
``frequency`` = opportunities with a transaction, ``recency`` = the last one
(0 if none), ``n_periods`` = opportunities observed.

>>> from crmcore.datasets import load_donations
>>> d = load_donations()
>>> m = fit_bgbb(d["frequency"], d["recency"], d["periods"], weights=d["weights"])
>>> [round(v, 3) for v in (m.params.alpha, m.params.beta, m.params.gamma, m.params.delta)]
[1.204, 0.75, 0.657, 2.783]
>>> round(m.log_likelihood, 1), m.n
(-33225.6, 11104.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import betaln

from crmcore.arrays import FloatArray, NanPolicy
from crmcore.errors import FitError, ValidationError
from crmcore.fitting import FitSummary, FittedModel, initial_values, maximum_likelihood
from crmcore.model._fields import instance
from crmcore.progress import Progress
from crmcore.valuation._periods import as_period, optional_period
from crmcore.valuation.btyd._bgbb_math import loglik_of, pmf_alive_start, shares, survival_sum
from crmcore.valuation.btyd._common import (
    aligned,
    as_counts,
    check_customers,
    compress_rows,
    elementwise,
    factorize_rows,
    finite_prediction,
    fit_rows,
    positive,
    weights_or_ones,
)

__all__ = ["BGBBModel", "BGBBParams", "fit_bgbb"]

_NAMES = ("alpha", "beta", "gamma", "delta")


@attrs.frozen
class BGBBParams:
    """Transaction probability beta(alpha, beta), drop-out probability beta(gamma, delta).

    >>> BGBBParams(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783).delta
    2.783
    """

    alpha: float = attrs.field(validator=positive)
    beta: float = attrs.field(validator=positive)
    gamma: float = attrs.field(validator=positive)
    delta: float = attrs.field(validator=positive)


def check_bgbb(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, n_periods: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate a BG/BB history: whole numbers with x <= t_x <= n and t_x = 0 iff x = 0.

    >>> check_bgbb([2], [1], [6])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'frequency' must be <= 'recency': 2.0 > 1.0 at index 0
    """
    x, tx, n = aligned(
        {"frequency": frequency, "recency": recency, "n_periods": n_periods},
        counts=("frequency", "recency", "n_periods"),
    )
    for lo, hi, a, b in ((x, tx, "frequency", "recency"), (tx, n, "recency", "n_periods")):
        bad = lo > hi
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(f"{a!r} must be <= {b!r}: {lo[i]} > {hi[i]} at index {i}")
    bad = (x == 0) != (tx == 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"'recency' must be 0 exactly when 'frequency' is 0: x={x[i]}, t_x={tx[i]} at index {i}"
        )
    return (np.ascontiguousarray(x), np.ascontiguousarray(tx), np.ascontiguousarray(n))


def fit_bgbb(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    n_periods: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    penalizer: float = 0.0,
    initial: Mapping[str, float] | Sequence[float] | None = None,
    period: str | None = None,
    nan_policy: NanPolicy = "raise",
    progress: Progress | None = None,
) -> BGBBModel:
    """Fit BG/BB by maximum likelihood (rows with the same history merged exactly).

    The fit is summarised in ``model.fit`` (:class:`crmcore.fitting.FitSummary`: estimates,
    standard errors, covariance, log-likelihood, AIC/BIC; ``n`` is the number of
    customers). ``penalizer`` adds ``penalizer * (alpha**2 + beta**2 + gamma**2 +
    delta**2)`` to the negative mean log-likelihood (lifetimes' ``penalizer_coef``; 0 is
    plain maximum likelihood); ``initial`` gives start values (a mapping by name or the four
    values in order); ``period`` labels what one opportunity is ("year", kept on the model
    and in its JSON; see :mod:`crmcore.valuation._periods`).
    ``nan_policy='omit'`` leaves out every customer with a NaN (and her weight);
    ``'propagate'`` is refused (see :func:`._common.fit_rows`).
    ``progress`` (:mod:`crmcore.progress`) hears of each likelihood evaluation.

    >>> fit_bgbb([0, 0], [0, 0], [6, 6])
    Traceback (most recent call last):
    crmcore.errors.FitError: BG/BB: no customer transacted; the model cannot be fitted
    """
    label = as_period(period)
    d = fit_rows(
        nan_policy,
        {"frequency": frequency, "recency": recency, "n_periods": n_periods, "weights": weights},
        model="BG/BB",
    )
    x, tx, n = check_bgbb(d["frequency"], d["recency"], d["n_periods"])
    check_customers(len(x), model="BG/BB")
    w0 = None if d["weights"] is None else weights_or_ones(d["weights"], len(x))
    (x, tx, n), w = compress_rows(x, tx, n, weights=w0)
    total = float(w.sum())
    if len(x) == 0 or float(np.dot(w, x)) == 0:
        raise FitError("BG/BB: no customer transacted; the model cannot be fitted")
    share = float(np.dot(w, x)) / float(np.dot(w, n))
    start = np.array([share * 2, (1 - share) * 2 + 0.1, 1.0, 2.0])
    hook = loglik_of(x, tx, n, w)
    fit = maximum_likelihood(
        lambda th: hook(th)[:2],
        initial_values(initial, start, _NAMES, model="BG/BB"),
        model="BG/BB",
        names=_NAMES,
        n=total,
        newton=hook,
        penalizer=penalizer,
        progress=progress,
    )
    return BGBBModel(BGBBParams(*fit.estimates), fit, label)


@attrs.frozen
class BGBBModel(FittedModel):
    """A fitted BG/BB model (frozen; round-trips through ``crmcore.serialization``).

    ``params`` are the estimates, ``fit`` the :class:`~crmcore.fitting.FitSummary` (None for
    a model built from parameters by hand; ``log_likelihood``, ``n``, ``aic``, ``bic`` and
    ``standard_errors`` are read from it) and ``period`` the optional label of one
    opportunity. Every prediction counts opportunities, never calendar time.

    >>> m = BGBBModel(BGBBParams(1.204, 0.750, 0.657, 2.783), period="year")
    >>> round(float(m.expected_purchases(6)[0]), 2), m.period
    (2.22, 'year')
    """

    params: BGBBParams = attrs.field(validator=instance(BGBBParams, "a BGBBParams"))
    fit: FitSummary | None = attrs.field(
        default=None, validator=instance(FitSummary, "a FitSummary", optional=True)
    )
    period: str | None = attrs.field(default=None, validator=optional_period)

    @property
    def standard_errors(self) -> BGBBParams | None:
        """Standard errors of alpha, beta, gamma, delta (None without a fit or a regular
        information)."""
        return self._standard_errors_as(BGBBParams, 4)

    def _theta(self) -> FloatArray:
        p = self.params
        return np.array([p.alpha, p.beta, p.gamma, p.delta])

    def _alive(self, x: FloatArray, tx: FloatArray, n: FloatArray) -> FloatArray:
        """P(alive after the n observed opportunities), once per distinct history."""
        (ux, utx, un), inv = factorize_rows(x, tx, n)
        return shares(self._theta(), ux, utx, un)[0][inv]

    def _future(self, m: FloatArray | float, x: FloatArray, n: FloatArray) -> FloatArray:
        p = self.params
        mean_p = (p.alpha + x) / (p.alpha + p.beta + n)
        return mean_p * survival_sum(p.gamma, p.delta + n, np.asarray(m, dtype=np.float64))

    def probability_alive(
        self,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        n_periods: npt.ArrayLike,
        *,
        m: npt.ArrayLike = 0,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """P(alive at opportunity n + m | x, t_x, n): with ``m = 0`` (the default) after the
        n observed opportunities; with ``m > 0`` still alive m opportunities later,
        ``P(alive at n) * B(gamma, delta + n + m) / B(gamma, delta + n)`` (FHS 2010, A10).

        ``m`` is a whole number of opportunities (one, or one per customer);
        ``nan_policy`` follows the element-wise rule of :mod:`crmcore.arrays`.

        >>> m = BGBBModel(BGBBParams(1.204, 0.750, 0.657, 2.783))
        >>> [round(float(p), 4) for p in m.probability_alive(3, 4, 6, m=[0, 1, 5])]
        [0.4723, 0.4395, 0.3497]
        """
        return self._alive_ahead(m, frequency, recency, n_periods, nan_policy=nan_policy)

    @elementwise("m", "frequency", "recency", "n_periods")
    def _alive_ahead(
        self,
        m: npt.ArrayLike,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        n_periods: npt.ArrayLike,
        *,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        x, tx, n = check_bgbb(frequency, recency, n_periods)
        ms = as_counts(m, name="m")
        alive = self._alive(x, tx, n)
        if not ms.any():
            return alive * np.ones_like(ms)
        p = self.params
        stay = np.exp(betaln(p.gamma, p.delta + n + ms) - betaln(p.gamma, p.delta + n))
        return np.asarray(alive * stay, dtype=np.float64)

    @elementwise("x", "m", "frequency", "recency", "n_periods")
    def conditional_probability_of_purchases(
        self,
        x: npt.ArrayLike,
        m: npt.ArrayLike,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        n_periods: npt.ArrayLike,
        *,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """P(X(n, n + m) = x | x_obs, t_x, n): the probability of ``x`` transactions in the
        next ``m`` opportunities of a customer with history (``frequency``, ``recency``,
        ``n_periods``).

        Dead after n (share ``1 - P(alive at n)``) she makes none; alive, her future is
        that of a new customer with the posterior parameters alpha + x_obs,
        beta + n - x_obs, gamma, delta + n (FHS 2010, eq. 7 applied to them):
        ``P = [x = 0] (1 - P(alive)) + P(alive) P_new(X(m) = x)``. Summed over x it is 1,
        and its mean is :meth:`conditional_expected_purchases`.
        ``nan_policy`` follows the element-wise rule of :mod:`crmcore.arrays`.

        >>> m = BGBBModel(BGBBParams(1.204, 0.750, 0.657, 2.783))
        >>> [round(float(p), 4) for p in m.conditional_probability_of_purchases([0, 1, 2], 2, 3, 4, 6)]
        [0.6766, 0.1969, 0.1265]
        """
        xs = as_counts(x, name="x")
        ms = as_counts(m, name="m")
        xo, tx, n = check_bgbb(frequency, recency, n_periods)
        k, mm, xo, tx, n = np.broadcast_arrays(xs, ms, xo, tx, n)
        (uk, um, ux, utx, un), inv = factorize_rows(
            *(np.ascontiguousarray(c) for c in (k, mm, xo, tx, n))
        )
        p = self.params
        (hx, htx, hn), hinv = factorize_rows(ux, utx, un)
        alive, dead = (v[hinv] for v in shares(self._theta(), hx, htx, hn))
        new = pmf_alive_start(uk, um, p.alpha + ux, p.beta + un - ux, p.gamma, p.delta + un)
        out = alive * new + np.where(uk == 0, dead, 0.0)
        return np.asarray(out[inv], dtype=np.float64)

    @elementwise("m", "frequency", "recency", "n_periods")
    def conditional_expected_purchases(
        self,
        m: npt.ArrayLike,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        n_periods: npt.ArrayLike,
        *,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """E[transactions in the next m opportunities | x, t_x, n] (FHS 2010, eq. 13)."""
        x, tx, n = check_bgbb(frequency, recency, n_periods)
        ms = as_counts(m, name="m")
        return self._alive(x, tx, n) * self._future(ms if ms.size > 1 else float(ms[0]), x, n)

    @elementwise("m", "frequency", "recency", "n_periods")
    def probability_of_repurchase(
        self,
        m: npt.ArrayLike,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        n_periods: npt.ArrayLike,
        *,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """P(at least one transaction in the next m opportunities | x, t_x, n) (m scalar)."""
        x, tx, n = check_bgbb(frequency, recency, n_periods)
        mm = int(as_counts(m, name="m").max())
        p = self.params
        k = np.arange(mm, dtype=np.float64)[None, :]
        A, B = (p.alpha + x)[:, None], (p.beta + n - x)[:, None]
        D = (p.delta + n)[:, None]
        log_no_buy = betaln(A, B + k) - betaln(A, B)
        die = np.exp(log_no_buy + betaln(p.gamma + 1, D + k) - betaln(p.gamma, D)).sum(axis=1)
        last = np.exp(
            betaln(A, B + mm) - betaln(A, B) + betaln(p.gamma, D + mm) - betaln(p.gamma, D)
        )[:, 0]
        none_given_alive = die + last
        return np.asarray(self._alive(x, tx, n) * (1.0 - none_given_alive), dtype=np.float64)

    def expected_purchases(self, n: npt.ArrayLike) -> FloatArray:
        """E[X(n)]: expected transactions of a new customer in n opportunities (FHS eq. 8)."""
        return finite_prediction(self._expected_purchases(n), "expected_purchases", self)

    def _expected_purchases(self, n: npt.ArrayLike) -> FloatArray:
        ns = as_counts(n, name="n")
        p = self.params
        return p.alpha / (p.alpha + p.beta) * survival_sum(p.gamma, np.full_like(ns, p.delta), ns)

    def probability_of_purchases(self, x: npt.ArrayLike, n: npt.ArrayLike) -> FloatArray:
        """P(X(n) = x) for a new customer (FHS 2010, eq. 7)."""
        return finite_prediction(
            self._probability_of_purchases(x, n), "probability_of_purchases", self
        )

    def _probability_of_purchases(self, x: npt.ArrayLike, n: npt.ArrayLike) -> FloatArray:
        xs, ns = np.broadcast_arrays(as_counts(x, name="x"), as_counts(n, name="n"))
        p = self.params
        return pmf_alive_start(
            xs,
            ns,
            np.full(xs.shape, p.alpha),
            np.full(xs.shape, p.beta),
            p.gamma,
            np.full(xs.shape, p.delta),
        )
