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

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import betainc, betaln, gammaln, hyp2f1, xlogy

from crmcore.arrays import FloatArray, NanPolicy
from crmcore.durations import as_time_unit, optional_time_unit
from crmcore.errors import FitError
from crmcore.fitting import FitSummary, initial_values, maximum_likelihood
from crmcore.model._fields import instance
from crmcore.progress import Progress
from crmcore.valuation.btyd._bgnbd_loglik import BGRows, loglik
from crmcore.valuation.btyd._blocks import Scratch, block_kernel
from crmcore.valuation.btyd._common import (
    TIME_SCALES,
    chunked,
    factorize_rows,
    fit_history,
    fit_rows,
    positive,
    summary_columns,
    time_penalty_scales,
    weights_or_ones,
)
from crmcore.valuation.btyd._covariates import (
    coefficient_names,
    covariate_columns,
    named_rows,
)
from crmcore.valuation.btyd._design import FitData
from crmcore.valuation.btyd._family import Params, PurchaseModelBase
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
    data: FitData,
    shift: int,
    penalizer: float = 0.0,
    initial: Mapping[str, float] | Sequence[float] | None = None,
    names_given: tuple[tuple[str, ...] | None, tuple[str, ...] | None] = (None, None),
    progress: Progress | None = None,
) -> tuple[FitSummary, CovariateEffects | None]:
    """Maximum likelihood of (r, alpha, a, b) and the covariates' coefficients (none: the
    plain model) on the compressed rows: one likelihood (:mod:`._bgnbd_loglik`), analytic
    Newton steps. With covariates the start is the fit without them, coefficients at 0."""
    name = "MBG/NBD" if shift else "BG/NBD"
    x, tt, w = data.x, data.T, data.w
    total = data.total
    if len(x) == 0:
        raise FitError(f"{name}: no customers to fit")
    mean_x = float(np.dot(w, x)) / total
    if mean_x == 0:
        raise FitError(f"{name}: no customer made a repeat purchase; the model cannot be fitted")
    kp, kd = data.kp, data.kd
    names = list(_NAMES)
    names += coefficient_names("purchase", names_given[0], kp)
    names += coefficient_names("dropout", names_given[1], kd)
    if kp or kd:
        base = _fit(data.plain(), shift, penalizer)[0]
        start = np.concatenate([base.estimates, np.zeros(kp + kd)])
    else:
        # the purchase rate while alive, E[lambda] = r / alpha, read from the repeat buyers'
        # spans (x / T counts the time after drop-out too; fewer steps than x / T and r = 1),
        # at most 1000 times x / T (spans far shorter than the ages: a start in range)
        overall = mean_x / max(float(np.dot(w, tt)) / total, 1e-12)
        rep = x > 0
        spans = float(np.dot(w[rep], data.tx[rep]))
        rate = min(float(np.dot(w[rep], x[rep])) / spans, 1e3 * overall) if spans > 0 else overall
        start = np.array([0.5, 0.5 / rate, 1.0, 3.0])
    rows = BGRows.build(data)
    fit = maximum_likelihood(
        lambda th: loglik(th, rows, shift, hessian=False)[:2],
        initial_values(initial, start, names, model=name),
        model=f"{name} with covariates" if kp or kd else name,
        names=names,
        n=total,
        scales=TIME_SCALES,
        free=kp + kd,
        newton=lambda th: loglik(th, rows, shift),
        penalizer=penalizer,
        penalty_scales=time_penalty_scales(names, tt),
        progress=progress,
    )
    if not (kp or kd):
        return fit, None
    th, se = np.array(fit.estimates), fit.standard_errors
    effects = CovariateEffects(
        tuple(th[4 : 4 + kp].tolist()),
        tuple(th[4 + kp :].tolist()),
        None if se is None else tuple(se[4 : 4 + kp]),
        None if se is None else tuple(se[4 + kp :]),
        names_given[0],
        names_given[1],
    )
    return fit, effects


@attrs.frozen
class _BetaGeoBase(PurchaseModelBase):
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

    # -- the family's hooks (see ._family) ------------------------------------------------------
    def _params_rows(self, lin_p: FloatArray | None, lin_d: FloatArray | None) -> Params:
        """(r, alpha_i, a_i, b_i): alpha_i = alpha e^(-lin_p), a_i, b_i = a, b times e^(lin_d)."""
        p = self.params
        if lin_p is None or lin_d is None:
            return p.r, p.alpha, p.a, p.b
        m = np.exp(lin_d)
        return p.r, p.alpha * np.exp(-lin_p), p.a * m, p.b * m

    def _alive_rows(self, x: FloatArray, tx: FloatArray, T: FloatArray, th: Params) -> FloatArray:
        """P(alive) = 1 / (1 + a / (b + x - 1 + s) ((alpha + T) / (alpha + t_x))^(r + x))."""
        r, al, a, b = th
        if np.ndim(al) == 0 and np.ndim(x) == 1:
            return chunked(self._alive_block, x, tx, T)
        return _alive_bg(x, tx, T, r, al, a, b, self._shift)

    @block_kernel
    def _alive_block(
        self, x: FloatArray, tx: FloatArray, T: FloatArray, out: FloatArray, sc: Scratch
    ) -> None:
        """P(alive) of one checked block of customers with the plain parameters, written into
        ``out`` (the fast path of ``_alive_rows`` and ``probability_alive``): ld = (r + x)
        log((alpha + T) / (alpha + t_x)) + log(a / (b + x - 1 + s)), P = 1 / (1 + e^ld),
        every pass in place in the thread's scratch, the last term looked up per whole x
        (one log and one exp per customer; the lookup's index is x + 2^52 with its exponent
        bits masked off, cheaper than a float-to-int conversion)."""
        p = self.params
        s = self._shift
        k = len(x)
        num, den = sc.f0[:k], sc.f1[:k]
        x_max = float(np.maximum.reduce(x)) if sc.x_max is None else sc.x_max
        t_max = float(np.maximum.reduce(T)) if sc.t_max is None else sc.t_max
        if x_max < _TABLE_ROWS:
            length = _table_length(x_max)
            table, top = _frequency_terms(p.a, p.b, s, length, _zero_term(p, s, t_max))
            np.add(x, _TWO52, out=den)  # whole x < 2^52: its bits are 2^52's plus x
            xi = den.view(np.int64)
            np.bitwise_and(xi, length - 1, out=xi)
            table.take(xi, out=out, mode="clip")  # 0 <= x <= x_max < length: never clipped
        else:
            with np.errstate(divide="ignore"):
                np.subtract(np.log(p.a), np.log(np.maximum((x - 1 + s) + p.b, 1e-300)), out=out)
            if not s:
                out[x == 0] = -np.inf
            top = math.inf
        np.add(T, p.alpha, out=num)
        np.add(tx, p.alpha, out=den)
        np.divide(num, den, out=num)
        np.log(num, out=num)
        np.add(x, p.r, out=den)
        num *= den
        out += num
        # e^ld overflows (P = 0, correctly) only beyond ld = 709: warnings are silenced only
        # where the block's bound reaches there (np.errstate costs as much as a pass)
        if (p.r + x_max) * math.log1p(t_max / p.alpha) + top < 700.0:
            np.exp(out, out=out)
        else:
            with np.errstate(over="ignore"):
                np.exp(out, out=out)
        out += 1.0
        np.divide(1.0, out, out=out)

    def _future_rows(self, t: Any, x: FloatArray, T: FloatArray, th: Params) -> FloatArray:
        """E[purchases in (T, T+t] | alive at T, x], Euler-transformed hypergeometric form
        (evaluated once per distinct (x, T) for one horizon and the plain parameters)."""
        r, al, a, b = th
        if np.ndim(t) == 0 and np.ndim(al) == 0 and np.ndim(x) == 1 and len(x) > 64:
            (ux, uT), inv = factorize_rows(x, T)
            return _future_bg(float(t), ux, uT, r, al, a, b, self._shift)[inv]
        return _future_bg(t, x, T, r, al, a, b, self._shift)

    def _none_rows(self, t: Any, x: FloatArray, T: FloatArray, th: Params) -> FloatArray:
        """P(no purchase in (T, T+t] | alive at T, x) = ((alpha + T) / (alpha + T + t))^(r + x)."""
        r, al, _a, _b = th
        return np.asarray(np.exp(-(r + x) * np.log1p(t / (al + T))), dtype=np.float64)

    def _pmf_rows(
        self, n: FloatArray, t: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray, th: Params
    ) -> FloatArray:
        """Given alive at T the rest of her life is a new BG/NBD customer with the posterior
        parameters (r + x, alpha + T, a, b + x + s): lambda and p are independent given
        alive, and she has survived the x (MBG/NBD: x + 1) drop-out chances so far."""
        r, al, a, b = th
        return _bg_pmf(n, t, r + x, al + T, a, b + x + self._shift)


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


_TABLE_ROWS = 1 << 16
"""Frequencies below this are looked up in a table of log(a / (b + x - 1 + s)) (at most 512 KiB)."""


def _table_length(x_max: float) -> int:
    """Rows of the frequency table for frequencies up to ``x_max``: a power of two, so few
    tables are built and cached."""
    return max(64, 1 << int(x_max).bit_length())


def _zero_term(p: BGNBDParams, shift: int, t_max: float) -> float | None:
    """The table's entry for x = 0 when it is not the formula's (None: MBG/NBD). BG/NBD: a
    customer without repeat purchases is alive for sure, and P = 1 / (1 + e^ld) is 1 exactly
    once e^ld < 2^-54. The formula's -inf gives that, but exp takes a slow path there (5-10x),
    and so does any ld below -512 (glibc's exp: 16 against 11 ns here, and twice that
    again where such rows are mixed at random with the others, which mispredicts the
    branch). -(38 + ceil(r ln((alpha + T_max) / alpha))) puts every such ld in
    [-38 - ceil(...), -38], where e^ld < 2^-54 and exp takes its common path (the same P,
    bit for bit); -inf beyond an age of e^(230 / r) scales."""
    if shift:
        return None
    grow = math.ceil(p.r * math.log1p(t_max / p.alpha))
    return -(38.0 + grow) if grow <= 230 else -math.inf


_TWO52 = float(1 << 52)
"""2^52: a whole number x in [0, 2^52) added to it is exact, and the sum's low bits are x."""


@functools.lru_cache(maxsize=32)
def _frequency_terms(
    a: float, b: float, shift: int, length: int, zero: float | None
) -> tuple[FloatArray, float]:
    """log(a) - log(b + x - 1 + s) for x = 0 .. length - 1, read-only (entry 0 replaced by
    ``zero`` unless None), and its largest finite entry. The whole numbers x - 1 + s are
    exact, so b is added with one rounding (b + x - 1 lost up to half of b's digits when
    b << 1 and x = 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        table: FloatArray = np.log(a) - np.log((np.arange(float(length)) - 1 + shift) + b)
    if zero is not None:
        table[0] = zero
    table.flags.writeable = False
    finite = table[np.isfinite(table)]
    return table, float(finite.max()) if len(finite) else math.inf


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


def _bg_pmf(x: FloatArray, t: FloatArray, r: Any, alpha: Any, a: Any, b: Any) -> FloatArray:
    """P(X(t) = x) of a new BG/NBD customer (Fader, Hardie & Lee 2005, eq. 8), element-wise
    over x, t and the parameters (scalars or arrays)."""
    x, t, r, alpha, a, b = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (x, t, r, alpha, a, b))
    )
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
    out[pos] += np.exp(betaln(a[pos] + 1, b[pos] + x[pos] - 1) - lab[pos]) * betainc(
        x[pos], r[pos], q[pos]
    )
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
) -> BGNBDModel:
    """Fit BG/NBD by maximum likelihood (identical rows are merged exactly into weights).

    Time-invariant covariates (one row per customer; see :mod:`.covariates`) make alpha
    (``purchase_covariates``) and a, b (``dropout_covariates``) customer-specific.
    ``nan_policy='omit'`` leaves out every customer with a NaN (with her weight and
    covariate rows); ``'propagate'`` is refused (see :func:`._common.fit_rows`).
    ``penalizer`` adds the L2 penalty ``penalizer * sum(theta**2)`` to the negative mean
    log-likelihood, alpha taken in the time rescaled to max(T) = 1 (lifetimes'
    ``penalizer_coef``: the same coefficient, the same model, in any time unit);
    ``initial`` gives start values by name;
    ``time_unit`` is the unit of ``recency`` and ``T`` (``"D"``, ``"W"``, ``"M"``), kept on
    the model. The fit is summarised in ``model.fit`` (:class:`crmcore.fitting.FitSummary`).
    ``progress`` (:mod:`crmcore.progress`) hears of each likelihood evaluation.

    >>> fit_bgnbd([0, 0], [0, 0], [5, 5])
    Traceback (most recent call last):
    crmcore.errors.FitError: BG/NBD: no customer made a repeat purchase; the model cannot be fitted
    """
    fit, effects, unit = _fit_either(
        0,
        nan_policy,
        (frequency, recency, T, time_unit),
        weights,
        purchase_covariates,
        dropout_covariates,
        penalizer,
        initial,
        progress,
    )
    return BGNBDModel(_params(fit), fit, unit, effects)


def fit_mbgnbd(
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
) -> MBGNBDModel:
    """Fit MBG/NBD by maximum likelihood (covariates and ``progress`` as for
    :func:`fit_bgnbd`).

    >>> from crmcore.datasets import load_cdnow_summary
    >>> s = load_cdnow_summary()
    >>> round(fit_mbgnbd(s["x"], s["t_x"], s["T"]).params.r, 2)
    0.52
    """
    fit, effects, unit = _fit_either(
        1,
        nan_policy,
        (frequency, recency, T, time_unit),
        weights,
        purchase_covariates,
        dropout_covariates,
        penalizer,
        initial,
        progress,
    )
    return MBGNBDModel(_params(fit), fit, unit, effects)


def _fit_either(
    shift: int,
    nan_policy: str,
    history: tuple[Any, Any, Any, str | None],
    weights: npt.ArrayLike | None,
    purchase: npt.ArrayLike | None,
    dropout: npt.ArrayLike | None,
    penalizer: float,
    initial: Mapping[str, float] | Sequence[float] | None,
    progress: Progress | None = None,
) -> tuple[FitSummary, CovariateEffects | None, str | None]:
    """BG/NBD (shift 0) or MBG/NBD (shift 1), with or without covariates, after the fit's
    NaN policy, from arrays or an RFMSummary (``history``: frequency, recency, T, time unit):
    the fit summary, the covariate effects (None without covariates) and the time unit."""
    frequency, recency, T, unit = summary_columns(
        *history[:3],
        unit=None if history[3] is None else as_time_unit(history[3]),
        against="'time_unit'",
    )
    purchase, pnames = named_rows(purchase, name="purchase_covariates")
    dropout, dnames = named_rows(dropout, name="dropout_covariates")
    d = fit_rows(
        nan_policy,
        {"frequency": frequency, "recency": recency, "T": T, "weights": weights},
        model="MBG/NBD" if shift else "BG/NBD",
        rows={"purchase_covariates": purchase, "dropout_covariates": dropout},
    )
    name = "MBG/NBD" if shift else "BG/NBD"
    x, tx, tt = fit_history(d["frequency"], d["recency"], d["T"], model=name)
    n = len(x)
    w0 = None if d["weights"] is None else weights_or_ones(d["weights"], n)
    zp, pn = covariate_columns(d["purchase_covariates"], n, name="purchase_covariates")
    zd, dn = covariate_columns(d["dropout_covariates"], n, name="dropout_covariates")
    data = FitData.build(x, tx, tt, w0, zp, zd)
    fit, effects = _fit(data, shift, penalizer, initial, (pnames or pn, dnames or dn), progress)
    return fit, effects, unit


def _params(fit: FitSummary) -> BGNBDParams:
    r, alpha, a, b = fit.estimates[:4]
    return BGNBDParams(r, alpha, a, b)
