"""Gamma-Gompertz/NBD (Bemmaor & Glady 2012; R CLVTools' ``ggomnbd``).

While alive a customer buys as a Poisson process with rate ``lambda`` (gamma(r, alpha)
across customers); her lifetime is Gompertz with hazard ``b eta e^(b tau)``, ``eta``
gamma(s, beta) across customers, so a cohort's survival is
``(beta / (beta + e^(b tau) - 1))^s``: a drop-out rate that grows with age (b > 0), with a
density that can have its mode at zero or inside. As b -> 0 with beta / b fixed the
lifetime becomes exponential and the model Pareto/NBD with drop-out rates
gamma(s, beta / b). The likelihood's integral over the unobserved death time, P(alive) and
the predictions are evaluated by vectorised adaptive Gauss-Legendre quadrature in log space
(:mod:`._ggompertz_math`), with no loop over customers.

Covariates follow CLVTools: ``alpha_i = alpha exp(-z_purchase . gamma_purchase)`` and
``beta_i = beta exp(-z_dropout . gamma_dropout)``.

>>> params = GGompertzNBDParams(r=0.85, alpha=4.45, b=0.12, s=0.75, beta=9.55)
>>> x, t_x, T = simulate_ggompertz_nbd(params, [32.0] * 4000, seed=1)
>>> m = fit_ggompertz_nbd(x, t_x, T, time_unit="W")
>>> [round(v, 2) for v in (m.params.r, m.params.alpha, m.params.b, m.params.s, m.params.beta)]
[0.85, 4.4, 0.1, 1.13, 11.39]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import expit

from crmcore.arrays import FloatArray, NanPolicy
from crmcore.durations import as_time_unit, optional_time_unit
from crmcore.fitting import FitSummary
from crmcore.model._fields import instance
from crmcore.options import expect_instance
from crmcore.progress import Progress
from crmcore.valuation.btyd._common import (
    CHUNK,
    chunked,
    factorize_rows,
    fit_history,
    fit_rows,
    positive,
    summary_columns,
    weights_or_ones,
)
from crmcore.valuation.btyd._covariates import coefficient_names, covariate_columns, named_rows
from crmcore.valuation.btyd._family import Params, PurchaseModelBase
from crmcore.valuation.btyd._ggompertz_fit import MODEL, NAMES, Rows, fit, split_effects
from crmcore.valuation.btyd._ggompertz_math import (
    log_dead_odds,
    pmf_if_alive,
    repurchase_if_alive,
    residual_beta,
    survival_integral,
)
from crmcore.valuation.btyd.covariates import CovariateEffects
from crmcore.valuation.btyd.simulate import History, _ages, _last_of, _rng

__all__ = [
    "GGompertzNBDModel",
    "GGompertzNBDParams",
    "fit_ggompertz_nbd",
    "simulate_ggompertz_nbd",
]

_BLOCK = CHUNK // 8  # rows per block of quadrature (temporaries of ~50 nodes per row)


@attrs.frozen
class GGompertzNBDParams:
    """Purchase rate gamma(r, alpha); lifetime Gompertz with shape ``b`` (ageing rate, per
    time unit) and scale ``eta`` ~ gamma(s, beta).

    >>> GGompertzNBDParams(r=0.85, alpha=4.45, b=0.12, s=0.75, beta=9.55).b
    0.12
    """

    r: float = attrs.field(validator=positive)
    alpha: float = attrs.field(validator=positive)
    b: float = attrs.field(validator=positive)
    s: float = attrs.field(validator=positive)
    beta: float = attrs.field(validator=positive)


def _by_unique(fn: Callable[..., FloatArray], *cols: Any) -> FloatArray:
    """``fn`` element-wise over broadcast columns, evaluated once per distinct row and block
    by block (bounded temporaries; blocks in parallel), in the broadcast shape."""
    arrays = np.broadcast_arrays(*(np.asarray(c, dtype=np.float64) for c in cols))
    shape = arrays[0].shape
    flat = [np.ascontiguousarray(a.ravel()) for a in arrays]
    if flat[0].size == 0:
        return np.zeros(shape)
    if flat[0].size > 1:
        uniq, inv = factorize_rows(*flat)
        out = chunked(fn, *uniq, size=_BLOCK)[inv]
    else:
        out = fn(*flat)
    return np.asarray(out, dtype=np.float64).reshape(shape)


@attrs.frozen
class GGompertzNBDModel(PurchaseModelBase):
    """A fitted Gamma-Gompertz/NBD model (frozen; round-trips through
    ``crmcore.serialization`` as type ``"ggompertz_nbd"``). Every prediction of the
    purchase-model family (:class:`~crmcore.valuation.btyd.PurchaseModelBase`): P(alive),
    conditional expectations and P(n purchases), repurchase, new-customer E[X(t)] and
    P(X(t) = n), covariates per customer, horizons as calendar spans.

    >>> m = GGompertzNBDModel(GGompertzNBDParams(0.85, 4.45, 0.12, 0.75, 9.55), time_unit="W")
    >>> round(float(m.probability_alive(2, 20.0, 32.0)[0]), 3)
    0.315
    >>> round(float(m.conditional_expected_purchases(52, 2, 20.0, 32.0)[0]), 3)
    0.291
    """

    params: GGompertzNBDParams = attrs.field(
        validator=instance(GGompertzNBDParams, "a GGompertzNBDParams")
    )
    fit: FitSummary | None = attrs.field(
        default=None, validator=instance(FitSummary, "a FitSummary", optional=True)
    )
    time_unit: str | None = attrs.field(default=None, validator=optional_time_unit)
    covariates: CovariateEffects | None = attrs.field(
        default=None, validator=instance(CovariateEffects, "a CovariateEffects", optional=True)
    )

    @property
    def standard_errors(self) -> GGompertzNBDParams | None:
        """Standard errors of r, alpha, b, s, beta (None without a fit or a regular
        information)."""
        return self._standard_errors_as(GGompertzNBDParams, 5)

    # -- the family's hooks (see ._family) ------------------------------------------------------
    def _params_rows(self, lin_p: FloatArray | None, lin_d: FloatArray | None) -> Params:
        """(r, alpha_i, b, s, beta_i): alpha_i = alpha e^(-lin_p), beta_i = beta e^(-lin_d)."""
        p = self.params
        if lin_p is None or lin_d is None:
            return p.r, p.alpha, p.b, p.s, p.beta
        return p.r, p.alpha * np.exp(-lin_p), p.b, p.s, p.beta * np.exp(-lin_d)

    def _alive_rows(self, x: FloatArray, tx: FloatArray, T: FloatArray, th: Params) -> FloatArray:
        """P(alive) = 1 / (1 + odds of 'died in (t_x, T]'), the odds by quadrature."""
        r, al, b, s, be = th

        def alive(
            x: FloatArray, tx: FloatArray, T: FloatArray, al: FloatArray, be: FloatArray
        ) -> FloatArray:
            out: FloatArray = expit(-log_dead_odds(r, al, b, s, be, x, tx, T))
            return out

        return _by_unique(alive, x, tx, T, al, be)

    def _future_rows(self, t: Any, x: FloatArray, T: FloatArray, th: Params) -> FloatArray:
        """E[purchases in (T, T+t] | alive at T, x] = (r + x) / (alpha + T) times the
        expected lifetime left within t, ∫_0^t S_T(u) du (lifetime from T on: beta_T)."""
        r, al, b, s, be = th

        def life(t: FloatArray, be_T: FloatArray) -> FloatArray:
            return survival_integral(t, b, s, be_T)

        left = _by_unique(life, t, residual_beta(np.asarray(T, dtype=np.float64), b, be))
        out: FloatArray = (r + np.asarray(x)) / (al + np.asarray(T)) * left
        return out

    def _none_rows(self, t: Any, x: FloatArray, T: FloatArray, th: Params) -> FloatArray:
        """P(no purchase in (T, T+t] | alive at T, x): one minus the chance that the first
        purchase comes before death (posterior rate gamma(r + x, alpha + T))."""
        r, al, b, s, be = th

        def none(
            t: FloatArray, x: FloatArray, T: FloatArray, al: FloatArray, be: FloatArray
        ) -> FloatArray:
            out: FloatArray = 1.0 - repurchase_if_alive(
                t, r + x, al + T, b, s, residual_beta(T, b, be)
            )
            return out

        return _by_unique(none, t, x, T, al, be)

    def _pmf_rows(
        self, n: FloatArray, t: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray, th: Params
    ) -> FloatArray:
        """P(n purchases in (T, T+t] | alive at T): a new customer's P(X(t) = n) with the
        posterior rate gamma(r + x, alpha + T) and the lifetime from T on (beta_T)."""
        r, al, b, s, be = th

        def pmf(
            n: FloatArray,
            t: FloatArray,
            x: FloatArray,
            T: FloatArray,
            al: FloatArray,
            be: FloatArray,
        ) -> FloatArray:
            return pmf_if_alive(n, t, r + x, al + T, b, s, residual_beta(T, b, be))

        return _by_unique(pmf, n, t, x, T, al, be)


def fit_ggompertz_nbd(
    frequency: Any,
    recency: npt.ArrayLike | None = None,
    T: npt.ArrayLike | None = None,
    *,
    weights: npt.ArrayLike | None = None,
    purchase_covariates: npt.ArrayLike | None = None,
    dropout_covariates: npt.ArrayLike | None = None,
    penalizer: float = 0.0,
    initial: Mapping[str, float] | Sequence[float] | None = None,
    time_unit: str | None = None,
    nan_policy: NanPolicy = "raise",
    progress: Progress | None = None,
) -> GGompertzNBDModel:
    """Fit Gamma-Gompertz/NBD by maximum likelihood (identical rows merged exactly into
    weights; Newton's method with the analytic gradient and Hessian).

    The history is three arrays or an :class:`~crmcore.valuation.btyd.summary.RFMSummary`
    alone. Time-invariant covariates (one row per customer; a DataFrame or mapping keeps its
    column names) make alpha (``purchase_covariates``) and beta (``dropout_covariates``)
    customer-specific; the fit with covariates starts from the one without. ``weights``,
    ``penalizer``, ``initial``, ``time_unit``, ``nan_policy`` and ``progress`` as for
    :func:`.fit_bgnbd`.

    When the data show no ageing of the drop-out rate the likelihood rises towards
    b -> 0, the Pareto/NBD limit, and has no maximum; the fit then raises a FitError naming
    that limit (fit Pareto/NBD instead). CDNOW is such a data set (see the docs page).

    >>> fit_ggompertz_nbd([0, 0], [0, 0], [5, 5])
    Traceback (most recent call last):
    crmcore.errors.FitError: Gamma-Gompertz/NBD: no customer made a repeat purchase; the model cannot be fitted
    """
    frequency, recency, T, time_unit = summary_columns(
        frequency,
        recency,
        T,
        unit=None if time_unit is None else as_time_unit(time_unit),
        against="'time_unit'",
    )
    purchase, pnames = named_rows(purchase_covariates, name="purchase_covariates")
    dropout, dnames = named_rows(dropout_covariates, name="dropout_covariates")
    d = fit_rows(
        nan_policy,
        {"frequency": frequency, "recency": recency, "T": T, "weights": weights},
        model=MODEL,
        rows={"purchase_covariates": purchase, "dropout_covariates": dropout},
    )
    x, tx, tt = fit_history(d["frequency"], d["recency"], d["T"], model=MODEL)
    n = len(x)
    w = None if d["weights"] is None else weights_or_ones(d["weights"], n)
    zp, pn = covariate_columns(d["purchase_covariates"], n, name="purchase_covariates")
    zd, dn = covariate_columns(d["dropout_covariates"], n, name="dropout_covariates")
    pnames, dnames = pn or pnames, dn or dnames
    kp, kd = zp.shape[1], zd.shape[1]
    names = [*NAMES, *coefficient_names("purchase", pnames, kp)]
    names += coefficient_names("dropout", dnames, kd)
    with_covariates = d["purchase_covariates"] is not None or d["dropout_covariates"] is not None
    rows = Rows.build(x, tx, tt, w, zp, zd)
    summary = fit(rows, names, penalizer=penalizer, initial=initial, progress=progress)
    effects = None
    if with_covariates:
        gp, gd, se_p, se_d = split_effects(summary, kp)
        effects = CovariateEffects(gp, gd, se_p, se_d, pnames, dnames)
    unit = None if time_unit is None else as_time_unit(time_unit)
    return GGompertzNBDModel(GGompertzNBDParams(*summary.estimates[:5]), summary, unit, effects)


def simulate_ggompertz_nbd(
    params: GGompertzNBDParams, T: npt.ArrayLike, *, seed: int | None = None
) -> History:
    """Histories ``(frequency, recency, T)`` of customers of ages ``T`` under
    Gamma-Gompertz/NBD: death at ln(1 + E / eta) / b with E ~ exponential(1) (the Gompertz
    inverse survival), purchases Poisson(lambda) until then.

    >>> x, t_x, T = simulate_ggompertz_nbd(GGompertzNBDParams(0.85, 4.45, 0.12, 0.75, 9.55), [32.0] * 3, seed=2)
    >>> bool(((t_x <= T) & ((x == 0) == (t_x == 0))).all())
    True
    """
    expect_instance(params, GGompertzNBDParams, name="params")
    rng = _rng(seed)
    tt = _ages(T)
    n = len(tt)
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    eta = rng.gamma(params.s, 1.0 / params.beta, n)
    with np.errstate(divide="ignore"):
        death = np.log1p(rng.exponential(1.0, n) / eta) / params.b
    window = np.minimum(death, tt)
    x = rng.poisson(lam * window).astype(np.float64)
    return x, _last_of(x, x, window, rng), tt
