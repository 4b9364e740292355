"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie 2013 note).

A customer's transaction values are gamma(p, nu) with her own nu, and nu is
gamma(q, gamma) across customers. Fitted on repeat customers (x > 0) from
their number of repeat transactions and their mean repeat value.

On the published CDNOW summary file, whose mean values are rounded to cents,
gamma comes out at 15.448 (the paper's 15.44 is reproduced from the raw
transactions, see docs/clv-gamma-gamma.md):

>>> from crmcore.datasets import load_cdnow_summary
>>> s = load_cdnow_summary()
>>> rep = s["x"] > 0
>>> m = fit_gamma_gamma(s["x"][rep], s["zbar"][rep])
>>> [round(v, 2) for v in (m.params.p, m.params.q, m.params.gamma)]
[6.25, 3.74, 15.45]
>>> m.n, round(m.fit["p"].standard_error, 2)
(946.0, 1.19)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln

from crmcore.arrays import (
    FloatArray,
    NanPolicy,
    as_float_array,
    check_nonnegative,
    check_same_length,
)
from crmcore.errors import FitError, ValidationError
from crmcore.fitting import FitSummary, FittedModel, initial_values, maximum_likelihood
from crmcore.model._fields import instance
from crmcore.progress import Progress
from crmcore.valuation.btyd._common import (
    aligned,
    check_customers,
    compress_rows,
    elementwise,
    fit_rows,
    positive,
    trigamma,
    weights_or_ones,
)

__all__ = ["GammaGammaModel", "GammaGammaParams", "fit_gamma_gamma"]


@attrs.frozen
class GammaGammaParams:
    """Shape ``p`` of transaction values; the scale's gamma(q, gamma) mixing distribution.

    >>> GammaGammaParams(p=6.25, q=3.74, gamma=15.44).q
    3.74
    """

    p: float = attrs.field(validator=positive)
    q: float = attrs.field(validator=positive)
    gamma: float = attrs.field(validator=positive)


_NAMES = ("p", "q", "gamma")

_MAX_VALUE = 1e150
"""The largest mean transaction value the spend model takes (the fit uses squares)."""


def _check(
    frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    x, m = aligned(
        {"frequency": frequency, "monetary_value": monetary_value}, counts=("frequency",)
    )
    check_nonnegative(m, name="monetary_value")
    big = m > _MAX_VALUE
    if big.any():
        i = int(np.flatnonzero(big)[0])
        raise ValidationError(
            f"'monetary_value' must be at most {_MAX_VALUE:g} (its square must be a float; "
            f"express it in a larger currency unit): {m[i]:g} at index {i}"
        )
    return x, m


_Pre = tuple[FloatArray, npt.NDArray[np.int64], FloatArray, float, float]


def _prepare(x: FloatArray, m: FloatArray, w: FloatArray) -> _Pre:
    """Distinct x, row -> distinct index, weight per distinct x, and the data-only sums
    sum w x (log m + log x) and sum w log m."""
    ux, xi = np.unique(x, return_inverse=True)
    wu = np.bincount(xi, weights=w, minlength=len(ux)).astype(np.float64)
    log_m = np.log(m)
    c_mx = float(np.dot(w * x, log_m + np.log(x)))
    return ux, xi.astype(np.int64), wu, c_mx, float(np.dot(w, log_m))


def _loglik(
    theta: FloatArray, x: FloatArray, m: FloatArray, w: FloatArray, pre: _Pre | None = None
) -> tuple[float, FloatArray, FloatArray]:
    """Log-likelihood, gradient and Hessian; special functions run once per distinct x."""
    p, q, g = theta
    ux, _, wu, c_mx, c_m = _prepare(x, m, w) if pre is None else pre
    pu = p * ux
    dpq_u = digamma(pu + q)
    tpq_u = trigamma(pu + q)
    gxm = g + x * m
    lgx = np.log(gxm)
    igx = 1.0 / gxm
    total = float(wu.sum())
    pxq = p * x + q
    wx = w * x
    ll = (
        float(np.dot(wu, gammaln(pu + q) - gammaln(pu)))
        + total * (q * np.log(g) - gammaln(q))
        + p * c_mx
        - c_m
        - float(np.dot(w, pxq * lgx))
    )
    g_p = float(np.dot(wu, ux * (dpq_u - digamma(pu)))) + c_mx - float(np.dot(wx, lgx))
    g_q = float(np.dot(wu, dpq_u)) + total * (np.log(g) - digamma(q)) - float(np.dot(w, lgx))
    w_ig = w * igx
    g_g = total * q / g - float(np.dot(w_ig, pxq))
    H = np.empty((3, 3))
    H[0, 0] = float(np.dot(wu * ux * ux, tpq_u - trigamma(pu)))
    H[0, 1] = H[1, 0] = float(np.dot(wu * ux, tpq_u))
    H[0, 2] = H[2, 0] = -float(np.dot(wx, igx))
    H[1, 1] = float(np.dot(wu, tpq_u)) - total * float(trigamma(q))
    H[1, 2] = H[2, 1] = total / g - float(w_ig.sum())
    H[2, 2] = -total * q / g**2 + float(np.dot(w_ig * igx, pxq))
    return ll, np.array([g_p, g_q, g_g]), H


def fit_gamma_gamma(
    frequency: Any,
    monetary_value: npt.ArrayLike | None = None,
    *,
    weights: npt.ArrayLike | None = None,
    penalizer: float = 0.0,
    initial: Mapping[str, float] | Sequence[float] | None = None,
    nan_policy: NanPolicy = "raise",
    progress: Progress | None = None,
) -> GammaGammaModel:
    """Fit Gamma-Gamma on repeat customers (frequency > 0, mean repeat value > 0).

    The customers are given as two arrays or as an
    :class:`~crmcore.valuation.btyd.summary.RFMSummary` alone, whose repeat customers
    (``frequency > 0``) are fitted.
    The estimate maximises the log-likelihood (identical rows merged exactly into
    ``weights``) with :func:`crmcore.fitting.maximum_likelihood`; the fit is summarised in
    ``model.fit`` (estimates, standard errors, covariance, log-likelihood, AIC/BIC).
    ``penalizer`` adds ``penalizer * (p**2 + q**2 + gamma**2)`` to the negative mean
    log-likelihood (lifetimes' ``penalizer_coef``; 0 is plain maximum likelihood and the
    standard errors are always those of the unpenalised likelihood at the estimate);
    ``initial`` gives start values (a mapping by name or the three values in order).
    ``nan_policy='omit'`` leaves out every customer with a NaN (and her weight);
    ``'propagate'`` is refused (see :func:`._common.fit_rows`).

    >>> fit_gamma_gamma([0, 1], [0.0, 5.0])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'frequency' must be > 0 for the spend model (repeat customers only): 0.0 at index 0
    """
    frequency, monetary_value, weights = _repeat_customers(frequency, monetary_value, weights)
    d = fit_rows(
        nan_policy,
        {"frequency": frequency, "monetary_value": monetary_value, "weights": weights},
        model="Gamma-Gamma",
    )
    x, m = _check(d["frequency"], d["monetary_value"])
    check_customers(len(x), model="Gamma-Gamma")
    weights = d["weights"]
    for arr, name in ((x, "frequency"), (m, "monetary_value")):
        bad = arr <= 0
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                f"{name!r} must be > 0 for the spend model (repeat customers only): "
                f"{arr[i]} at index {i}"
            )
    w0 = None if weights is None else weights_or_ones(weights, len(x))
    (x, m), w = compress_rows(x, m, weights=w0)
    total = float(w.sum())
    if len(x) < 2:
        raise FitError("Gamma-Gamma: at least two repeat customers are needed")
    mean = float(np.dot(w, m)) / total
    var = float(np.dot(w, (m - mean) ** 2)) / total
    # moments: E[zbar] = p gamma / (q - 1); start with q = 3 and p from the spread
    p0 = float(np.clip(mean**2 / max(var, 1e-12), 0.5, 50.0))
    start = initial_values(
        initial, np.array([p0, 3.0, 2.0 * mean / p0]), _NAMES, model="Gamma-Gamma"
    )
    pre = _prepare(x, m, w)
    fit = maximum_likelihood(
        lambda th: _loglik(th, x, m, w, pre)[:2],
        start,
        model="Gamma-Gamma",
        names=_NAMES,
        n=total,
        newton=lambda th: _loglik(th, x, m, w, pre),
        penalizer=penalizer,
        progress=progress,
    )
    return GammaGammaModel(GammaGammaParams(*fit.estimates), fit)


def _repeat_customers(
    frequency: Any, monetary_value: npt.ArrayLike | None, weights: npt.ArrayLike | None
) -> tuple[Any, npt.ArrayLike, npt.ArrayLike | None]:
    """The arrays of a fit: given, or the repeat customers of a summary (with their weights)."""
    from crmcore.valuation.btyd.summary import RFMSummary

    if not isinstance(frequency, RFMSummary):
        if monetary_value is None:
            raise ValidationError(
                "'monetary_value' is required (or pass an RFMSummary as 'frequency')"
            )
        return frequency, monetary_value, weights
    if monetary_value is not None:
        raise ValidationError("'monetary_value' comes from the summary: pass the RFMSummary alone")
    rep = frequency.frequency > 0
    if weights is not None:
        w = as_float_array(weights, name="weights", allow_nan=True)
        check_same_length(weights=w, summary=frequency.frequency)
        weights = w[rep]
    return frequency.frequency[rep], frequency.monetary_value[rep], weights


@attrs.frozen
class GammaGammaModel(FittedModel):
    """A fitted Gamma-Gamma spend model (frozen; round-trips through ``crmcore.serialization``).

    ``params`` are the estimates and ``fit`` the :class:`~crmcore.fitting.FitSummary` of the
    fit (None for a model built from parameters by hand); ``log_likelihood``, ``n``,
    ``converged``, ``aic``, ``bic`` and ``standard_errors`` are read from it. Values are in
    the currency unit of the ``monetary_value`` fitted; the model has no time scale.

    With the CDNOW estimates p = 6.25, q = 3.74, gamma = 15.44 the mean
    transaction value across customers is p gamma / (q - 1):

    >>> m = GammaGammaModel(GammaGammaParams(6.25, 3.74, 15.44))
    >>> round(m.mean_transaction_value, 2), m.standard_errors
    (35.22, None)
    """

    params: GammaGammaParams = attrs.field(
        validator=instance(GammaGammaParams, "a GammaGammaParams")
    )
    fit: FitSummary | None = attrs.field(
        default=None, validator=instance(FitSummary, "a FitSummary", optional=True)
    )

    @property
    def standard_errors(self) -> GammaGammaParams | None:
        """Standard errors of p, q, gamma (None without a fit or a regular information)."""
        return self._standard_errors_as(GammaGammaParams, 3)

    @property
    def mean_transaction_value(self) -> float:
        """E[Z] = p gamma / (q - 1) across customers (infinite when q <= 1 is refused)."""
        p = self.params
        if p.q <= 1:
            raise ValidationError(f"'q' must be > 1 for a finite mean spend: {p.q}")
        return p.p * p.gamma / (p.q - 1)

    @elementwise("frequency", "monetary_value")
    def conditional_expected_average_value(
        self,
        frequency: npt.ArrayLike,
        monetary_value: npt.ArrayLike,
        *,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """E[Z | x, zbar] = (p gamma + p x zbar) / (p x + q - 1); the population mean when x = 0.

        ``nan_policy`` follows the element-wise rule of :mod:`crmcore.arrays`.
        """
        x, m = _check(frequency, monetary_value)
        p = self.params
        if p.q <= 1:
            raise ValidationError(f"'q' must be > 1 for a finite mean spend: {p.q}")
        out: FloatArray = (p.p * p.gamma + p.p * x * m) / (p.p * x + p.q - 1)
        return out
