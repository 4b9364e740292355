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
>>> round(m.log_likelihood, 1)
-33225.6
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import betaln, digamma, gammaln, polygamma

from crmcore._results import COUNT, FINITE
from crmcore.arrays import FloatArray, NanPolicy
from crmcore.errors import FitError, ValidationError
from crmcore.model._fields import instance
from crmcore.valuation.btyd._common import (
    aligned,
    as_counts,
    check_customers,
    compress_rows,
    elementwise,
    finite_prediction,
    fit_rows,
    maximize,
    positive,
    trigamma,
    weights_or_ones,
)

__all__ = ["BGBBModel", "BGBBParams", "fit_bgbb"]

_BLOCK = 1 << 21


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


def _terms(
    theta: FloatArray, x: FloatArray, tx: FloatArray, n: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Log of the likelihood's terms: column 0 'alive at n', column 1 + i 'died after t_x + i'."""
    al, be, ga, de = theta
    K = int((n - tx).max()) if len(n) else 0
    i = np.arange(K, dtype=np.float64)[None, :]
    lab = betaln(al, be)
    lgd = betaln(ga, de)
    first = betaln(al + x, be + n - x) - lab + betaln(ga, de + n) - lgd
    txc = tx[:, None]
    rest = (
        betaln(al + x[:, None], be + txc - x[:, None] + i)
        - lab
        + betaln(ga + 1, de + txc + i)
        - lgd
    )
    rest = np.where(i < (n - tx)[:, None], rest, -np.inf)
    logs = np.concatenate([first[:, None], rest], axis=1)
    top = logs.max(axis=1, keepdims=True)
    ll = top[:, 0] + np.log(np.exp(logs - top).sum(axis=1))
    return logs, ll, i


def _beta_ratio(
    a: float, b: float, u: FloatArray, v: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Derivatives of log B(a + u, b + v) - log B(a, b) wrt (a, b): d/da, d/db, d2/da2,
    d2/dadb, d2/db2 (digamma and trigamma differences)."""
    s = a + b + u + v
    ds, ts = digamma(s), trigamma(s)
    d0, t0 = digamma(a + b), trigamma(a + b)
    ga = digamma(a + u) - ds - digamma(a) + d0
    gb = digamma(b + v) - ds - digamma(b) + d0
    haa = trigamma(a + u) - ts - trigamma(a) + t0
    hbb = trigamma(b + v) - ts - trigamma(b) + t0
    return ga, gb, haa, t0 - ts, hbb


def _loglik_block(
    theta: FloatArray, x: FloatArray, tx: FloatArray, n: FloatArray, w: FloatArray
) -> tuple[float, FloatArray, FloatArray]:
    """Log-likelihood, gradient and Hessian of a block of rows.

    Each row's likelihood is a sum of terms ``B(al + x, be + y) B(ga + c, de + z) / (B(al, be)
    B(ga, de))``; the log of the sum has gradient ``E[g]`` and Hessian ``E[H + g g'] - E[g] E[g]'``
    under the terms' shares ``P``.
    """
    al, be, ga, de = theta
    logs, ll, i = _terms(theta, x, tx, n)
    P = np.exp(logs - ll[:, None]) * w[:, None]  # weighted shares; 0 for the padding terms
    txc, xc = tx[:, None], x[:, None]
    y = np.concatenate([(n - x)[:, None], txc - xc + i], axis=1)  # beta-side offsets per term
    z = np.concatenate([n[:, None], txc + i], axis=1)  # delta-side offsets per term
    c = np.concatenate([np.zeros((len(x), 1)), np.ones_like(i + txc)], axis=1)
    g_al, g_be, h_aa, h_ab, h_bb = _beta_ratio(al, be, np.broadcast_to(xc, y.shape), y)
    g_ga, g_de, h_gg, h_gd, h_dd = _beta_ratio(ga, de, c, z)
    G = (g_al, g_be, g_ga, g_de)
    mean = np.array([float((P * g).sum()) for g in G])
    Pg = [(P * g).sum(axis=1) for g in G]  # per row E[g] (weighted)
    H = np.zeros((4, 4))
    for j in range(4):
        for k in range(j + 1):
            H[j, k] = float((P * G[j] * G[k]).sum()) - float(np.dot(Pg[j], Pg[k] / w))
    H[0, 0] += float((P * h_aa).sum())
    H[1, 0] += float((P * h_ab).sum())
    H[1, 1] += float((P * h_bb).sum())
    H[2, 2] += float((P * h_gg).sum())
    H[3, 2] += float((P * h_gd).sum())
    H[3, 3] += float((P * h_dd).sum())
    iu = np.triu_indices(4, 1)
    H[iu] = H.T[iu]
    return float(np.dot(w, ll)), mean, H


def _loglik(
    theta: FloatArray, x: FloatArray, tx: FloatArray, n: FloatArray, w: FloatArray
) -> tuple[float, FloatArray, FloatArray]:
    K = int((n - tx).max()) + 1 if len(n) else 1
    rows = max(1, _BLOCK // K)
    ll, grad, hess = 0.0, np.zeros(4), np.zeros((4, 4))
    for lo in range(0, len(x), rows):
        sl = slice(lo, lo + rows)
        a, g, h = _loglik_block(theta, x[sl], tx[sl], n[sl], w[sl])
        ll += a
        grad += g
        hess += h
    return ll, grad, hess


def fit_bgbb(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    n_periods: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    nan_policy: NanPolicy = "raise",
) -> BGBBModel:
    """Fit BG/BB by maximum likelihood (rows with the same history merged exactly).

    ``nan_policy='omit'`` leaves out every customer with a NaN (and her weight);
    ``'propagate'`` is refused (see :func:`._common.fit_rows`).

    >>> fit_bgbb([0, 0], [0, 0], [6, 6])
    Traceback (most recent call last):
    crmcore.errors.FitError: BG/BB: no customer transacted; the model cannot be fitted
    """
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
    res = maximize(
        lambda th: _loglik(th, x, tx, n, w)[:2],
        np.array([share * 2, (1 - share) * 2 + 0.1, 1.0, 2.0]),
        total_weight=total,
        model="BG/BB",
        names=["alpha", "beta", "gamma", "delta"],
        newton=lambda th: _loglik(th, x, tx, n, w),
    )
    se = None if res.standard_errors is None else BGBBParams(*res.standard_errors.tolist())
    return BGBBModel(
        BGBBParams(*res.theta.tolist()),
        se,
        res.log_likelihood,
        round(total),
        res.converged,
        res.message,
    )


def _survival_sum(gamma: float, D: FloatArray, m: FloatArray) -> FloatArray:
    """sum_{k=1}^{m} B(gamma, D + k) / B(gamma, D): expected surviving opportunities of m.

    ``-D / c * expm1(E)`` with ``c = gamma - 1`` and ``E`` the log of
    ``G(g + D) G(D + m + 1) / (G(D + 1) G(g + D + m))``. Near ``gamma = 1`` the
    difference of log-gammas cancels (0.4 % off at gamma = 1, D = 100), so there ``E``
    is its Taylor series in ``c`` (through the polygammas; exact limit at ``c = 0``).
    """
    c = gamma - 1.0
    if abs(c) >= 1e-3:
        E = gammaln(D + m + 1) - gammaln(D + 1) + gammaln(gamma + D) - gammaln(gamma + D + m)
        out: FloatArray = -D * np.expm1(E) / c
        return out
    lo, hi = D + 1, D + m + 1
    # E / c = sum_j c^(j-1) / j! * (psi_(j-1)(lo) - psi_(j-1)(hi)), to c^3 (error < 1e-9 relative)
    e_over_c = (
        (digamma(lo) - digamma(hi))
        + c / 2 * (polygamma(1, lo) - polygamma(1, hi))
        + c * c / 6 * (polygamma(2, lo) - polygamma(2, hi))
        + c**3 / 24 * (polygamma(3, lo) - polygamma(3, hi))
    )
    E = c * e_over_c
    ratio = np.where(E == 0, 1.0, np.expm1(E) / np.where(E == 0, 1.0, E))  # expm1(E) / E
    near: FloatArray = -D * e_over_c * ratio
    return near


@attrs.frozen
class BGBBModel:
    """A fitted BG/BB model (frozen; round-trips through ``crmcore.serialization``).

    >>> m = BGBBModel(BGBBParams(1.204, 0.750, 0.657, 2.783), None, -33225.6, 11104, True, "")
    >>> round(float(m.expected_purchases(6)[0]), 2)
    2.22
    """

    params: BGBBParams = attrs.field(validator=instance(BGBBParams, "a BGBBParams"))
    standard_errors: BGBBParams | None = attrs.field(
        validator=instance(BGBBParams, "a BGBBParams", optional=True)
    )
    log_likelihood: float = attrs.field(validator=FINITE)
    n: int = attrs.field(validator=COUNT)
    converged: bool = attrs.field(validator=instance(bool, "a bool"))
    message: str = attrs.field(validator=instance(str, "a string"))

    def _theta(self) -> FloatArray:
        p = self.params
        return np.array([p.alpha, p.beta, p.gamma, p.delta])

    def _alive(self, x: FloatArray, tx: FloatArray, n: FloatArray) -> FloatArray:
        p = self.params
        (ux, utx, un), inv = _unique(x, tx, n)
        _, ll, _ = _terms(self._theta(), ux, utx, un)
        first = (
            betaln(p.alpha + ux, p.beta + un - ux)
            - betaln(p.alpha, p.beta)
            + betaln(p.gamma, p.delta + un)
            - betaln(p.gamma, p.delta)
        )
        return np.asarray(np.exp(first - ll)[inv], dtype=np.float64)

    def _future(self, m: FloatArray | float, x: FloatArray, n: FloatArray) -> FloatArray:
        p = self.params
        mean_p = (p.alpha + x) / (p.alpha + p.beta + n)
        return mean_p * _survival_sum(p.gamma, p.delta + n, np.asarray(m, dtype=np.float64))

    @elementwise("frequency", "recency", "n_periods")
    def probability_alive(
        self,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        n_periods: npt.ArrayLike,
        *,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """P(alive after the n observed opportunities | x, t_x, n).

        ``nan_policy`` follows the element-wise rule of :mod:`crmcore.arrays`.
        """
        return self._alive(*check_bgbb(frequency, recency, n_periods))

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
        return p.alpha / (p.alpha + p.beta) * _survival_sum(p.gamma, np.full_like(ns, p.delta), ns)

    def probability_of_purchases(self, x: npt.ArrayLike, n: npt.ArrayLike) -> FloatArray:
        """P(X(n) = x) for a new customer (FHS 2010, eq. 7)."""
        return finite_prediction(
            self._probability_of_purchases(x, n), "probability_of_purchases", self
        )

    def _probability_of_purchases(self, x: npt.ArrayLike, n: npt.ArrayLike) -> FloatArray:
        xs = as_counts(x, name="x")
        ns = as_counts(n, name="n")
        xs, ns = np.broadcast_arrays(xs, ns)
        p = self.params
        lab, lgd = betaln(p.alpha, p.beta), betaln(p.gamma, p.delta)

        def lchoose(a: FloatArray, b: FloatArray) -> FloatArray:
            out: FloatArray = gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)
            return out

        with np.errstate(invalid="ignore"):
            alive = np.exp(
                lchoose(ns, xs)
                + betaln(p.alpha + xs, p.beta + ns - xs)
                - lab
                + betaln(p.gamma, p.delta + ns)
                - lgd
            )
            alive = np.where(xs <= ns, alive, 0.0)
            K = int(ns.max()) if ns.size else 0
            i = np.arange(K, dtype=np.float64)
            xx = xs[..., None]
            terms = np.exp(
                lchoose(i, xx)
                + betaln(p.alpha + xx, p.beta + i - xx)
                - lab
                + betaln(p.gamma + 1, p.delta + i)
                - lgd
            )
            terms = np.where((i >= xx) & (ns[..., None] > i), terms, 0.0)
        return np.asarray(alive + terms.sum(axis=-1), dtype=np.float64)


def _unique(
    x: FloatArray, tx: FloatArray, n: FloatArray
) -> tuple[list[FloatArray], npt.NDArray[np.int64]]:
    from crmcore.valuation.btyd._common import factorize_rows

    return factorize_rows(x, tx, n)
