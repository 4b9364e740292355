"""An independent high-precision Pareto/NBD evaluator with mpmath, for the tests.

Nothing here comes from crmcore: the integral ``∫_lo^hi (alpha + τ)^-p (beta + τ)^-q dτ``
is integrated by mpmath's tanh-sinh quadrature (30 digits) in the variable ln(m + τ),
m = min(alpha, beta), on pieces that cover the region where the integrand is within
e^-80 of its peak (found on a grid), with a cut at the real part of the integrand's
complex singularity; P(alive), the count distributions and the moments are written from
their definitions (Fader & Hardie's 2005 note, equations (19)-(20) and (36)-(37)) on top
of it.
"""

from __future__ import annotations

from collections.abc import Callable

import mpmath as mp
import numpy as np

DPS = 30


def _pieces(log_f: Callable[[float], float], a: float, b: float, extra: list[float]) -> list[float]:
    """Cut points of [a, b]: 40 equal pieces over the part within e^-80 of the peak (on a
    float grid of 4001 points) plus the given points inside."""
    grid = np.linspace(a, b, 4001)
    vals = np.array([log_f(float(g)) for g in grid])
    keep = grid[vals > np.nanmax(vals) - 80]
    lo, hi = float(keep.min()), float(keep.max())
    width = (b - a) / 4000
    lo, hi = max(a, lo - width), min(b, hi + width)
    pts = {*np.linspace(lo, hi, 41).tolist(), *(e for e in extra if lo < e < hi)}
    return sorted(pts)


def log_integral(p: float, q: float, alpha: float, beta: float, lo: float, hi: float) -> mp.mpf:
    """ln ∫_lo^hi (alpha + τ)^-p (beta + τ)^-q dτ (hi finite)."""
    mp.mp.dps = DPS
    P, Q, A, B, L, H = (mp.mpf(v) for v in (p, q, alpha, beta, lo, hi))
    m = min(A, B)
    y0, y1 = mp.log(m + L), mp.log(m + H)
    if y1 <= y0:
        return mp.mpf("-inf")

    def f(y: mp.mpf) -> mp.mpf:
        tau = mp.exp(y) - m
        return mp.exp(y - P * mp.log(A + tau) - Q * mp.log(B + tau))

    def log_f(y: float) -> float:
        tau = np.exp(y) - float(m)
        return float(y - p * np.log(alpha + tau) - q * np.log(beta + tau))

    gap = abs(A - B)
    extra = [float(mp.log(gap))] if gap > 0 else []
    pts = _pieces(log_f, float(y0), float(y1), extra)
    pts[0], pts[-1] = y0, y1
    return mp.log(mp.quad(f, [mp.mpf(v) for v in pts]))


def probability_alive(
    r: float, alpha: float, s: float, beta: float, x: float, tx: float, T: float
) -> mp.mpf:
    """P(alive at T | x, t_x, T) = 1 / (1 + s I (alpha + T)^(r + x) (beta + T)^s)."""
    mp.mp.dps = DPS
    if tx == T:
        return mp.mpf(1)
    log_i = log_integral(r + x, s + 1, alpha, beta, tx, T)
    R, A, S, B, X, TT = (mp.mpf(v) for v in (r, alpha, s, beta, x, T))
    odds = mp.log(S) + log_i + (R + X) * mp.log(A + TT) + S * mp.log(B + TT)
    return 1 / (1 + mp.exp(odds))


def probability_of_purchases(
    n: int, t: float, r: float, alpha: float, s: float, beta: float
) -> mp.mpf:
    """P(X(t) = n) of a new customer: the NBD count of an immortal customer, mixed over the
    Pareto(s, beta) death time: P(τ > t) nb(n; t) + ∫_0^t f(y) nb(n; y) dy."""
    mp.mp.dps = DPS
    R, A, S, B, N, TT = (mp.mpf(v) for v in (r, alpha, s, beta, n, t))

    def nb(y: mp.mpf) -> mp.mpf:
        return mp.exp(
            mp.loggamma(R + N)
            - mp.loggamma(R)
            - mp.loggamma(N + 1)
            + R * mp.log(A / (A + y))
            + (N * mp.log(y / (A + y)) if N > 0 else 0)
        )

    def dens(y: mp.mpf) -> mp.mpf:
        return S * B**S / (B + y) ** (S + 1)

    # in ln y from ln(t) - 200 (the part below is < e^-200 of the rest)
    def g(v: mp.mpf) -> mp.mpf:
        y = mp.exp(v)
        return dens(y) * nb(y) * y

    def log_g(v: float) -> float:
        return float(mp.log(g(mp.mpf(v)))) if np.isfinite(v) else -np.inf

    a, b = float(mp.log(TT)) - 200.0, float(mp.log(TT))
    grid = np.linspace(a, b, 801)
    vals = np.array([log_g(v) for v in grid])
    keep = grid[vals > np.nanmax(vals) - 80]
    lo = max(a, float(keep.min()) - 0.5)
    pts = [mp.mpf(v) for v in np.linspace(lo, b, 41)]
    pts[-1] = mp.log(TT)
    dead = mp.quad(g, pts)
    return (B / (B + TT)) ** S * nb(TT) + dead


def conditional_probability_of_purchases(
    n: int, t: float, r: float, alpha: float, s: float, beta: float, x: float, tx: float, T: float
) -> mp.mpf:
    """P(n purchases in (T, T + t] | x, t_x, T): alive at T (then a new customer with the
    posterior parameters r + x, alpha + T, s, beta + T) or gone (then none)."""
    alive = probability_alive(r, alpha, s, beta, x, tx, T)
    pmf = probability_of_purchases(n, t, r + x, alpha + T, s, beta + T)
    return alive * pmf + (1 - alive) * (1 if n == 0 else 0)


def log_likelihood(
    r: float, alpha: float, s: float, beta: float, x: float, tx: float, T: float
) -> mp.mpf:
    """One customer's Pareto/NBD log-likelihood (Fader & Hardie 2005, equation (19)):
    ln Γ(r+x) − ln Γ(r) + r ln alpha + s ln beta + ln[(alpha+T)^-(r+x) (beta+T)^-s + s I]."""
    mp.mp.dps = DPS
    R, A, S, B, X, TT = (mp.mpf(v) for v in (r, alpha, s, beta, x, T))
    alive = -(R + X) * mp.log(A + TT) - S * mp.log(B + TT)
    bracket = mp.exp(alive)
    if tx < T:
        bracket += S * mp.exp(log_integral(r + x, s + 1, alpha, beta, tx, T))
    return mp.loggamma(R + X) - mp.loggamma(R) + R * mp.log(A) + S * mp.log(B) + mp.log(bracket)


def adaptive_log_integral(
    p: float, q: float, alpha: float, beta: float, lo: float, hi: float
) -> float:
    """ln ∫_lo^hi (alpha + τ)^-p (beta + τ)^-q dτ in float64 by scipy's adaptive quadrature
    (QUADPACK) on geometric pieces from ``lo`` (relative tolerance 1e-11): a second,
    faster reference for the tests that need many rows."""
    import itertools

    from scipy import integrate

    def log_f(t: float) -> float:
        return float(-p * np.log(alpha + t) - q * np.log(beta + t))

    c = log_f(lo)
    scale = 1.0 / (p / (alpha + lo) + q / (beta + lo))
    edges = [lo]
    step = scale
    while lo + step < hi and len(edges) < 60:
        edges.append(lo + step)
        step *= 4
    edges.append(hi)
    total = 0.0
    for a, b in itertools.pairwise(edges):
        # full_output: the accuracy message is returned, not issued as a warning
        val = integrate.quad(
            lambda t: np.exp(log_f(t) - c), a, b, epsabs=0.0, epsrel=1e-11, full_output=1
        )[0]
        total += val
    return float(np.log(total) + c) if total > 0 else -np.inf
