"""BG/BB arithmetic: the log-likelihood with its analytic derivatives, the shares of a
history's likelihood (alive / died), and the transaction distribution of a customer alive
at the start (a new customer, or a customer alive at n with her posterior parameters)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import betaln, digamma, gammaln, logsumexp, polygamma

from crmcore.arrays import FloatArray
from crmcore.valuation.btyd._common import trigamma

__all__ = ["loglik", "loglik_of", "pmf_alive_start", "shares", "survival_sum", "terms"]

_BLOCK = 1 << 21
"""Cells (rows x terms) evaluated at once."""


def terms(
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
    logs, ll, i = terms(theta, x, tx, n)
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


def loglik(
    theta: FloatArray, x: FloatArray, tx: FloatArray, n: FloatArray, w: FloatArray
) -> tuple[float, FloatArray, FloatArray]:
    """Log-likelihood, gradient and Hessian of weighted histories (in blocks of rows)."""
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


def loglik_of(
    x: FloatArray, tx: FloatArray, n: FloatArray, w: FloatArray
) -> Callable[[FloatArray], tuple[float, FloatArray, FloatArray]]:
    """The fit's hook: theta -> (log-likelihood, gradient, Hessian), the last few points
    remembered. One evaluation gives all three, and the engine asks for the value and
    gradient of a point and then its Hessian (or the reverse): computed once."""
    seen: dict[bytes, tuple[float, FloatArray, FloatArray]] = {}

    def hook(theta: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        key = np.asarray(theta, dtype=np.float64).tobytes()
        hit = seen.get(key)
        if hit is None:
            if len(seen) >= 8:
                seen.clear()
            hit = seen[key] = loglik(theta, x, tx, n, w)
        return hit

    return hook


def survival_sum(gamma: float, D: FloatArray, m: FloatArray) -> FloatArray:
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


def shares(
    theta: FloatArray, x: FloatArray, tx: FloatArray, n: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per history, the shares of its likelihood: alive after the n opportunities (the
    first term), and died after t_x + i opportunities (the others: 1 - the first, summed in
    log space so a share near 0 keeps its digits)."""
    logs, ll, _ = terms(theta, x, tx, n)
    alive = np.exp(logs[:, 0] - ll)
    if logs.shape[1] > 1:
        with np.errstate(divide="ignore"):
            dead = np.exp(logsumexp(logs[:, 1:], axis=1) - ll)
    else:
        dead = np.zeros(len(x))
    return np.asarray(alive, dtype=np.float64), np.asarray(dead, dtype=np.float64)


def _lchoose(a: FloatArray, b: FloatArray) -> FloatArray:
    out: FloatArray = gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)
    return out


def pmf_alive_start(
    k: FloatArray,
    m: FloatArray,
    a: FloatArray,
    b: FloatArray,
    gamma: float,
    d: FloatArray,
) -> FloatArray:
    """P(k transactions in m opportunities) of a customer alive at the start whose
    transaction probability is beta(a, b) and drop-out probability beta(gamma, d), per row
    (FHS 2010, eq. 7): alive through the m opportunities, or dead after i of them (i >= k).

    A new customer has (a, b, d) = (alpha, beta, delta); a customer alive after n
    opportunities with x transactions has (alpha + x, beta + n - x, delta + n).
    """
    k, m, a, b, d = np.broadcast_arrays(k, m, a, b, d)
    out = np.zeros(k.shape, dtype=np.float64)
    if not out.size:
        return out
    lab, lgd = betaln(a, b), betaln(gamma, d)
    with np.errstate(invalid="ignore"):
        alive = np.exp(_lchoose(m, k) + betaln(a + k, b + m - k) - lab + betaln(gamma, d + m) - lgd)
    out[:] = np.where(k <= m, alive, 0.0)
    K = int(m.max())
    if K == 0:
        return out
    rows = max(1, _BLOCK // K)
    i = np.arange(K, dtype=np.float64)[None, :]
    for lo in range(0, len(k), rows):
        sl = slice(lo, lo + rows)
        kk, mm = k[sl, None], m[sl, None]
        with np.errstate(invalid="ignore"):
            cells = np.exp(
                _lchoose(i, kk)
                + betaln(a[sl, None] + kk, b[sl, None] + i - kk)
                - lab[sl, None]
                + betaln(gamma + 1, d[sl, None] + i)
                - lgd[sl, None]
            )
        out[sl] += np.where((i >= kk) & (i < mm), cells, 0.0).sum(axis=1)
    return out
