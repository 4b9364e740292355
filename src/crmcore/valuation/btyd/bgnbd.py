"""BG/NBD (Fader, Hardie & Lee 2005) and MBG/NBD (Batislam, Denizel & Filiztekin 2007).

While alive a customer buys as a Poisson process with rate ``lambda``
(gamma(r, alpha) across customers); after every purchase (MBG/NBD: also at
time zero) she drops out with probability ``p`` (beta(a, b) across customers).

>>> from crmcore.datasets import load_cdnow_summary
>>> s = load_cdnow_summary()
>>> m = fit_bgnbd(s["x"], s["t_x"], s["T"])
>>> [round(v, 3) for v in (m.params.r, m.params.alpha, m.params.a, m.params.b)]
[0.243, 4.414, 0.793, 2.426]
>>> round(m.log_likelihood, 1)
-9582.4
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import betainc, betaln, gammaln, hyp2f1, xlogy

from crmcore.arrays import FloatArray, NanPolicy
from crmcore.durations import as_time_unit, optional_time_unit
from crmcore.errors import FitError, ValidationError
from crmcore.fitting import FitSummary, FittedModel, initial_values, maximum_likelihood
from crmcore.model._fields import instance
from crmcore.valuation.btyd._bgnbd_loglik import _loglik
from crmcore.valuation.btyd._common import (
    TIME_SCALES,
    as_counts,
    check_rft,
    chunked,
    compress_rows,
    elementwise,
    factorize_rows,
    finite_prediction,
    fit_history,
    fit_rows,
    map_rft,
    positive,
    time_steps,
    weights_or_ones,
)
from crmcore.valuation.btyd._covariates import (
    bg_row_derivatives,
    covariate_matrix,
    customer_scales,
)
from crmcore.valuation.btyd.covariates import CovariateEffects

__all__ = ["BGNBDModel", "BGNBDParams", "MBGNBDModel", "fit_bgnbd", "fit_mbgnbd"]


@attrs.frozen
class BGNBDParams:
    """Parameters of BG/NBD and MBG/NBD: purchase rate gamma(r, alpha), drop-out beta(a, b).

    >>> BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426).r
    0.243
    """

    r: float = attrs.field(validator=positive)
    alpha: float = attrs.field(validator=positive)
    a: float = attrs.field(validator=positive)
    b: float = attrs.field(validator=positive)


_NAMES = ("r", "alpha", "a", "b")


def _fit(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    weights: npt.ArrayLike | None,
    shift: int,
    penalizer: float = 0.0,
    initial: Mapping[str, float] | Sequence[float] | None = None,
) -> FitSummary:
    name = "MBG/NBD" if shift else "BG/NBD"
    x, tx, tt = fit_history(frequency, recency, T, model=name)
    w0 = None if weights is None else weights_or_ones(weights, len(x))
    (x, tx, tt), w = compress_rows(x, tx, tt, weights=w0)
    total = float(w.sum())
    if len(x) == 0:
        raise FitError(f"{name}: no customers to fit")
    mean_x = float(np.dot(w, x)) / total
    if mean_x == 0:
        raise FitError(f"{name}: no customer made a repeat purchase; the model cannot be fitted")
    rate = mean_x / max(float(np.dot(w, tt)) / total, 1e-12)
    theta0 = initial_values(initial, np.array([1.0, 1.0 / rate, 1.0, 3.0]), _NAMES, model=name)
    ux, xi = np.unique(x, return_inverse=True)
    xs = (ux, xi.astype(np.int64), np.bincount(xi, weights=w, minlength=len(ux)).astype(np.float64))
    return maximum_likelihood(
        lambda th: _loglik(th, x, tx, tt, w, shift, xs)[:2],
        theta0,
        model=name,
        names=_NAMES,
        n=total,
        scales=TIME_SCALES,
        newton=lambda th: _loglik(th, x, tx, tt, w, shift, xs),
        penalizer=penalizer,
    )


def _fit_covariates(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    weights: npt.ArrayLike | None,
    purchase: npt.ArrayLike | None,
    dropout: npt.ArrayLike | None,
    shift: int,
    penalizer: float = 0.0,
    initial: Mapping[str, float] | Sequence[float] | None = None,
) -> tuple[FitSummary, CovariateEffects]:
    """Maximum likelihood with customer-specific alpha, a, b (see :mod:`.covariates`); starts
    from the fit without covariates, coefficients at 0."""
    name = "MBG/NBD" if shift else "BG/NBD"
    x, tx, tt = fit_history(frequency, recency, T, model=name)
    n = len(x)
    zp = covariate_matrix(purchase, n, name="purchase_covariates")
    zd = covariate_matrix(dropout, n, name="dropout_covariates")
    kp, kd = zp.shape[1], zd.shape[1]
    w0 = None if weights is None else weights_or_ones(weights, n)
    cols, w = compress_rows(x, tx, tt, *zp.T, *zd.T, weights=w0)
    x, tx, tt = cols[:3]
    zp = np.column_stack(cols[3 : 3 + kp]) if kp else np.zeros((len(x), 0))
    zd = np.column_stack(cols[3 + kp :]) if kd else np.zeros((len(x), 0))
    base = _fit(x, tx, tt, w, shift, penalizer)
    total = float(w.sum())

    def loglik(th: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = th[:4]
        ai = alpha * np.exp(-(zp @ th[4 : 4 + kp]))
        m = np.exp(zd @ th[4 + kp :])
        ll, d_r, d_al, d_a, d_b = bg_row_derivatives(r, ai, a * m, b * m, x, tx, tt, shift)
        wal = w * d_al * ai
        wab = w * (d_a * a * m + d_b * b * m)
        g = [np.dot(w, d_r), wal.sum() / alpha, np.dot(w * d_a, m), np.dot(w * d_b, m)]
        return float(np.dot(w, ll)), np.concatenate([g, -(zp.T @ wal), zd.T @ wab])

    names = list(_NAMES)
    names += [f"purchase[{j}]" for j in range(kp)] + [f"dropout[{j}]" for j in range(kd)]
    start = np.concatenate([base.estimates, np.zeros(kp + kd)])
    fit = maximum_likelihood(
        loglik,
        initial_values(initial, start, names, model=name),
        model=f"{name} with covariates",
        names=names,
        n=total,
        scales=TIME_SCALES,
        free=kp + kd,
        penalizer=penalizer,
    )
    th, se = np.array(fit.estimates), fit.standard_errors
    effects = CovariateEffects(
        tuple(th[4 : 4 + kp].tolist()),
        tuple(th[4 + kp :].tolist()),
        None if se is None else tuple(se[4 : 4 + kp]),
        None if se is None else tuple(se[4 + kp :]),
    )
    return fit, effects


@attrs.frozen
class _BetaGeoBase(FittedModel):
    params: BGNBDParams = attrs.field(validator=instance(BGNBDParams, "a BGNBDParams"))
    fit: FitSummary | None = attrs.field(
        default=None, validator=instance(FitSummary, "a FitSummary", optional=True)
    )
    time_unit: str | None = attrs.field(default=None, validator=optional_time_unit)
    covariates: CovariateEffects | None = attrs.field(
        default=None, validator=instance(CovariateEffects, "a CovariateEffects", optional=True)
    )

    _shift = 0

    @property
    def standard_errors(self) -> BGNBDParams | None:
        """Standard errors of r, alpha, a, b (None without a fit or a regular information)."""
        return self._standard_errors_as(BGNBDParams, 4)

    # -- pieces shared by the predictions ---------------------------------------------------
    def _alive_block(self, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
        """P(alive) of one block of customers (element-wise; see ``_alive``)."""
        p = self.params
        s = self._shift
        num = T + p.alpha
        den = tx + p.alpha
        np.divide(num, den, out=num)
        np.log(num, out=num)
        np.add(x, p.r, out=den)
        num *= den
        x_max = float(x.max()) if len(x) else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            if x_max < 1e6:  # log(a / (b + x - 1 + s)) looked up per whole x
                table = np.log(p.a) - np.log(p.b + np.arange(int(x_max) + 1.0) - 1 + s)
                if not s:
                    table[0] = -np.inf  # x = 0 without shift: alive for sure
                num += table[x.astype(np.intp)]
            else:
                num += np.log(p.a) - np.log(np.maximum(p.b + x - 1 + s, 1e-300))
                if not s:
                    num[x == 0] = -np.inf
        with np.errstate(over="ignore"):
            np.exp(num, out=num)
        num += 1.0
        return np.reciprocal(num, out=num)

    def _alive(self, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
        """P(alive) = 1 / (1 + a / (b + x - 1 + s) ((alpha + T) / (alpha + t_x))^(r + x))."""
        return chunked(self._alive_block, x, tx, T)

    def _future(self, t: FloatArray | float, x: FloatArray, T: FloatArray) -> FloatArray:
        """E[purchases in (T, T+t] | alive at T, x], Euler-transformed hypergeometric form."""
        p = self.params
        return _future_bg(t, x, T, p.r, p.alpha, p.a, p.b, self._shift)

    def _scales(
        self, purchase: npt.ArrayLike | None, dropout: npt.ArrayLike | None, n: int
    ) -> tuple[FloatArray, FloatArray, FloatArray] | None:
        """Per-customer (alpha_i, a_i, b_i) of a model with covariates; None without them."""
        if self.covariates is None:
            if purchase is not None or dropout is not None:
                raise ValidationError(
                    "covariates were given, but the model was fitted without covariates"
                )
            return None
        p = self.params
        return customer_scales(self.covariates, p.alpha, p.a, p.b, purchase, dropout, n)

    def _covariate_path(
        self,
        times: FloatArray,
        x: FloatArray,
        tx: FloatArray,
        T: FloatArray,
        purchase: npt.ArrayLike | None,
        dropout: npt.ArrayLike | None,
    ) -> tuple[FloatArray, FloatArray] | None:
        """P(alive) per customer and E[purchases in (T, T + times]] given alive (customers x
        times), for a model with covariates; None without them (used by the CLV)."""
        sc = self._scales(purchase, dropout, len(x))
        if sc is None:
            return None
        al, a, b = sc
        s = self._shift
        alive = _alive_bg(x, tx, T, self.params.r, al, a, b, s)
        cum = _future_bg(
            times[None, :],
            x[:, None],
            T[:, None],
            self.params.r,
            al[:, None],
            a[:, None],
            b[:, None],
            s,
        )
        return alive, cum

    # -- public predictions -------------------------------------------------------------------
    @elementwise("frequency", "recency", "T", rows=("purchase_covariates", "dropout_covariates"))
    def probability_alive(
        self,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """P(alive at T | x, t_x, T) per customer (covariates: for a model fitted with them).

        ``nan_policy`` follows the element-wise rule of :mod:`crmcore.arrays` (a customer
        with a NaN is an error, left out, or NaN in the result).
        """
        if self.covariates is None and purchase_covariates is None and dropout_covariates is None:
            return map_rft(self._alive_block, frequency, recency, T)
        x, tx, tt = check_rft(frequency, recency, T)
        sc = self._scales(purchase_covariates, dropout_covariates, len(x))
        assert sc is not None
        return _alive_bg(x, tx, tt, self.params.r, *sc, self._shift)

    @elementwise(
        "t", "frequency", "recency", "T", rows=("purchase_covariates", "dropout_covariates")
    )
    def conditional_expected_purchases(
        self,
        t: npt.ArrayLike,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """E[purchases in (T, T+t] | x, t_x, T] per customer (t scalar or per customer)."""
        x, tx, tt = check_rft(frequency, recency, T)
        ts = time_steps(t)
        sc = self._scales(purchase_covariates, dropout_covariates, len(x))
        if sc is not None:
            al, a, b = sc
            r, s = self.params.r, self._shift
            g = _future_bg(np.broadcast_to(ts, x.shape), x, tt, r, al, a, b, s)
            return _alive_bg(x, tx, tt, r, al, a, b, s) * g
        if ts.ndim == 0:
            (ux, uT), inv = factorize_rows(x, tt)
            g = self._future(float(ts), ux, uT)[inv]
        else:
            ts = np.broadcast_to(ts, x.shape)
            g = self._future(ts, x, tt)
        return self._alive(x, tx, tt) * g

    @elementwise(
        "t", "frequency", "recency", "T", rows=("purchase_covariates", "dropout_covariates")
    )
    def probability_of_repurchase(
        self,
        t: npt.ArrayLike,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """P(at least one purchase in (T, T+t] | x, t_x, T): alive, then a Poisson arrival."""
        x, tx, tt = check_rft(frequency, recency, T)
        ts = time_steps(t)
        p = self.params
        sc = self._scales(purchase_covariates, dropout_covariates, len(x))
        if sc is not None:
            al, a, b = sc
            none = np.exp(-(p.r + x) * np.log1p(ts / (al + tt)))
            return _alive_bg(x, tx, tt, p.r, al, a, b, self._shift) * (1.0 - none)
        none = np.exp(-(p.r + x) * np.log1p(ts / (p.alpha + tt)))
        return self._alive(x, tx, tt) * (1.0 - none)

    def expected_purchases(self, t: npt.ArrayLike) -> FloatArray:
        """E[X(t)]: expected purchases in (0, t] of a new customer (with covariates: a baseline
        customer, every covariate 0)."""
        return finite_prediction(self._expected_purchases(t), "expected_purchases", self)

    def _expected_purchases(self, t: npt.ArrayLike) -> FloatArray:
        ts = np.atleast_1d(time_steps(t))
        zero = np.zeros(1)
        out: FloatArray = self._alive(zero, zero, zero)[0] * self._future(
            ts, np.zeros_like(ts), zero
        )
        return out

    def probability_of_purchases(self, x: npt.ArrayLike, t: npt.ArrayLike) -> FloatArray:
        """P(X(t) = x) for a new customer (x, t broadcast)."""
        return finite_prediction(
            self._probability_of_purchases(x, t), "probability_of_purchases", self
        )

    def _probability_of_purchases(self, x: npt.ArrayLike, t: npt.ArrayLike) -> FloatArray:
        xs = as_counts(x, name="x")
        ts = np.atleast_1d(time_steps(t))
        xs, ts = np.broadcast_arrays(xs, ts)
        p = self.params
        if not self._shift:
            return _bg_pmf(xs, ts, p.r, p.alpha, p.a, p.b)
        at0 = p.a / (p.a + p.b)
        pmf: FloatArray = (1 - at0) * _bg_pmf(xs, ts, p.r, p.alpha, p.a, p.b + 1)
        return np.asarray(pmf + at0 * (xs == 0), dtype=np.float64)


def _alive_bg(
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
    r: float,
    alpha: FloatArray,
    a: FloatArray,
    b: FloatArray,
    shift: int,
) -> FloatArray:
    """P(alive) with customer-specific alpha, a, b (the covariate models)."""
    with np.errstate(divide="ignore", over="ignore"):
        ld = (r + x) * np.log((alpha + T) / (alpha + tx)) + np.log(a) - np.log(b + x - 1 + shift)
        out = 1.0 / (1.0 + np.exp(ld))
    if not shift:
        out = np.where(x == 0, 1.0, out)
    return np.asarray(out, dtype=np.float64)


def _future_bg(
    t: FloatArray | float,
    x: FloatArray,
    T: FloatArray,
    r: float,
    alpha: float | FloatArray,
    a: float | FloatArray,
    b: float | FloatArray,
    shift: int,
) -> FloatArray:
    """E[purchases in (T, T+t] | alive at T, x] in the Euler-transformed hypergeometric form
    (a within 1e-7 of 1 is nudged off the removable singularity)."""
    a = np.where(np.abs(np.subtract(a, 1)) > 1e-7, a, 1 + 1e-7)
    c = a + b + x - 1 + shift
    z = t / (alpha + T + t)
    f = hyp2f1(c - r - x, a - 1, c, z)
    # z = 1 (alpha + T = 0): log1p(-1) = -inf, exp(-inf) = 0; an overflowing hyp2f1 gives NaN,
    # which finite_prediction reports
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = c / (a - 1) * (1 - np.exp((a - 1) * np.log1p(-z)) * f)
    return out


def _bg_pmf(x: FloatArray, t: FloatArray, r: float, alpha: float, a: float, b: float) -> FloatArray:
    lab = betaln(a, b)
    q = t / (alpha + t)
    nb = (
        betaln(a, b + x)
        - lab
        + gammaln(r + x)
        - gammaln(r)
        - gammaln(x + 1)
        + r * np.log(alpha / (alpha + t))
        + xlogy(x, q)
    )
    out = np.exp(nb)
    pos = x > 0
    out[pos] += np.exp(betaln(a + 1, b + x[pos] - 1) - lab) * betainc(x[pos], r, q[pos])
    return np.asarray(out, dtype=np.float64)


@attrs.frozen
class BGNBDModel(_BetaGeoBase):
    """A fitted BG/NBD model (frozen; round-trips through ``crmcore.serialization``).

    Worked example of Fader, Hardie & Lee (2005), section 5: with the CDNOW
    estimates, a customer with x = 2, t_x = 30.43, T = 38.86 is expected to
    make 1.226 purchases in the next 39 weeks.

    >>> m = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426), time_unit="W")
    >>> round(float(m.conditional_expected_purchases(39, 2, 30.43, 38.86)[0]), 3)
    1.226
    """

    _shift = 0


@attrs.frozen
class MBGNBDModel(_BetaGeoBase):
    """A fitted MBG/NBD model: as BG/NBD, but a customer may also drop out right after the first purchase.

    >>> m = MBGNBDModel(BGNBDParams(0.5, 5.0, 0.8, 2.5))
    >>> float(m.probability_alive(0, 0, 10)[0]) < 1
    True
    """

    _shift = 1


def fit_bgnbd(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    purchase_covariates: npt.ArrayLike | None = None,
    dropout_covariates: npt.ArrayLike | None = None,
    penalizer: float = 0.0,
    initial: Mapping[str, float] | Sequence[float] | None = None,
    time_unit: str | None = None,
    nan_policy: NanPolicy = "raise",
) -> BGNBDModel:
    """Fit BG/NBD by maximum likelihood (identical rows are merged exactly into weights).

    Time-invariant covariates (one row per customer; see :mod:`.covariates`) make alpha
    (``purchase_covariates``) and a, b (``dropout_covariates``) customer-specific.
    ``nan_policy='omit'`` leaves out every customer with a NaN (with her weight and
    covariate rows); ``'propagate'`` is refused (see :func:`._common.fit_rows`).
    ``penalizer`` adds the L2 penalty ``penalizer * sum(theta**2)`` to the negative mean
    log-likelihood (lifetimes' ``penalizer_coef``); ``initial`` gives start values by name;
    ``time_unit`` is the unit of ``recency`` and ``T`` (``"D"``, ``"W"``, ``"M"``), kept on
    the model. The fit is summarised in ``model.fit`` (:class:`crmcore.fitting.FitSummary`).

    >>> fit_bgnbd([0, 0], [0, 0], [5, 5])
    Traceback (most recent call last):
    crmcore.errors.FitError: BG/NBD: no customer made a repeat purchase; the model cannot be fitted
    """
    fit, effects = _fit_either(
        0,
        nan_policy,
        frequency,
        recency,
        T,
        weights,
        purchase_covariates,
        dropout_covariates,
        penalizer,
        initial,
    )
    unit = None if time_unit is None else as_time_unit(time_unit)
    return BGNBDModel(_params(fit), fit, unit, effects)


def fit_mbgnbd(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    purchase_covariates: npt.ArrayLike | None = None,
    dropout_covariates: npt.ArrayLike | None = None,
    penalizer: float = 0.0,
    initial: Mapping[str, float] | Sequence[float] | None = None,
    time_unit: str | None = None,
    nan_policy: NanPolicy = "raise",
) -> MBGNBDModel:
    """Fit MBG/NBD by maximum likelihood (covariates as for :func:`fit_bgnbd`).

    >>> from crmcore.datasets import load_cdnow_summary
    >>> s = load_cdnow_summary()
    >>> round(fit_mbgnbd(s["x"], s["t_x"], s["T"]).params.r, 2)
    0.52
    """
    fit, effects = _fit_either(
        1,
        nan_policy,
        frequency,
        recency,
        T,
        weights,
        purchase_covariates,
        dropout_covariates,
        penalizer,
        initial,
    )
    unit = None if time_unit is None else as_time_unit(time_unit)
    return MBGNBDModel(_params(fit), fit, unit, effects)


def _fit_either(
    shift: int,
    nan_policy: str,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    weights: npt.ArrayLike | None,
    purchase: npt.ArrayLike | None,
    dropout: npt.ArrayLike | None,
    penalizer: float,
    initial: Mapping[str, float] | Sequence[float] | None,
) -> tuple[FitSummary, CovariateEffects | None]:
    """BG/NBD (shift 0) or MBG/NBD (shift 1), with or without covariates, after the fit's
    NaN policy: the fit summary and the covariate effects (None without covariates)."""
    d = fit_rows(
        nan_policy,
        {"frequency": frequency, "recency": recency, "T": T, "weights": weights},
        model="MBG/NBD" if shift else "BG/NBD",
        rows={"purchase_covariates": purchase, "dropout_covariates": dropout},
    )
    x, tx, tt, w = d["frequency"], d["recency"], d["T"], d["weights"]
    zp, zd = d["purchase_covariates"], d["dropout_covariates"]
    if zp is None and zd is None:
        return _fit(x, tx, tt, w, shift, penalizer, initial), None
    return _fit_covariates(x, tx, tt, w, zp, zd, shift, penalizer, initial)


def _params(fit: FitSummary) -> BGNBDParams:
    r, alpha, a, b = fit.estimates[:4]
    return BGNBDParams(r, alpha, a, b)
