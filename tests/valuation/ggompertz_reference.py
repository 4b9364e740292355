"""An independent Gamma-Gompertz/NBD implementation with mpmath (30 digits), for the tests.

Written from the model's definition (Bemmaor & Glady 2012), not from crmcore's code:
the purchase rate λ ~ gamma(r, α), the lifetime has survival
S(τ) = (β / (β + e^{bτ} − 1))^s and density f = −S'; every quantity integrates over the
death time τ in its own variable with mpmath's tanh-sinh quadrature, split at the points
where the integrand turns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import mpmath as mp

_DPS = 30


def _digits(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run at 30 significant digits (mpmath's global precision is left as it was)."""

    @functools.wraps(fn)
    def inner(*args: Any) -> Any:
        with mp.workdps(_DPS):
            return fn(*args)

    return inner


def _S(t, b, s, beta):
    return (beta / (beta + mp.expm1(b * t))) ** s


def _f(t, b, s, beta):
    return b * s * beta**s * mp.exp(b * t) * (beta + mp.expm1(b * t)) ** (-s - 1)


def _split(lo, hi, points, depth):
    """The interval cut at the given points, at 16 even steps and geometrically towards both
    ends down to 2**-depth of its length (the likelihood's integrand can fall by hundreds of
    e-folds within a sliver of the interval)."""
    span = hi - lo
    marks = {lo + span * j / 16 for j in range(1, 16)}
    marks |= {lo + span * mp.mpf(2) ** -j for j in range(5, depth)}
    marks |= {hi - span * mp.mpf(2) ** -j for j in range(5, depth)}
    inner = sorted({p for p in (*points, *marks) if lo < p < hi})
    return [lo, *inner, hi]


def _quad(fn, lo, hi, *points, depth=12):
    cuts = _split(mp.mpf(lo), mp.mpf(hi), [mp.mpf(p) for p in points], depth)
    return mp.quad(fn, cuts)


@_digits
def loglik(r, alpha, b, s, beta, x, tx, T):
    r, alpha, b, s, beta, x, tx, T = map(mp.mpf, (r, alpha, b, s, beta, x, tx, T))
    k = r + x
    alive = (alpha + T) ** (-k) * _S(T, b, s, beta)
    dead = (
        _quad(lambda u: (alpha + u) ** (-k) * _f(u, b, s, beta), tx, T, depth=45) if tx < T else 0
    )
    front = mp.loggamma(k) - mp.loggamma(r) + r * mp.log(alpha)
    return front + mp.log(alive + dead), alive / (alive + dead)


@functools.lru_cache(maxsize=64)
@_digits
def p_alive(r, alpha, b, s, beta, x, tx, T):
    return loglik(r, alpha, b, s, beta, x, tx, T)[1]


def _residual(b, beta, T):
    return (beta + mp.expm1(b * T)) * mp.exp(-b * T)


@_digits
def cet(t, r, alpha, b, s, beta, x, tx, T):
    """E[purchases in (T, T+t] | x, t_x, T]."""
    r, alpha, b, s, beta, x, tx, T, t = map(mp.mpf, (r, alpha, b, s, beta, x, tx, T, t))
    bt = _residual(b, beta, T)
    life = _quad(lambda u: _S(u, b, s, bt), 0, t, t / 4, t / 2)
    return p_alive(r, alpha, b, s, beta, x, tx, T) * (r + x) / (alpha + T) * life


@_digits
def expected(t, r, alpha, b, s, beta):
    """E[X(t)] of a new customer."""
    r, alpha, b, s, beta, t = map(mp.mpf, (r, alpha, b, s, beta, t))
    return r / alpha * _quad(lambda u: _S(u, b, s, beta), 0, t, t / 4, t / 2)


def _nbd(n, u, r, alpha):
    return mp.exp(
        mp.loggamma(r + n)
        - mp.loggamma(r)
        - mp.loggamma(n + 1)
        + r * mp.log(alpha / (alpha + u))
        + (n * mp.log(u / (alpha + u)) if n else 0)
    )


@_digits
def pmf_new(n, t, r, alpha, b, s, beta):
    """P(X(t) = n) of a new customer."""
    r, alpha, b, s, beta, t = map(mp.mpf, (r, alpha, b, s, beta, t))
    mode = n * alpha / r
    dead = _quad(lambda u: _f(u, b, s, beta) * _nbd(n, u, r, alpha), 0, t, mode, t / 4, t / 2)
    return _S(t, b, s, beta) * _nbd(n, t, r, alpha) + dead


@_digits
def pmf_conditional(n, t, r, alpha, b, s, beta, x, tx, T):
    """P(X(T, T+t) = n | x, t_x, T)."""
    pa = p_alive(r, alpha, b, s, beta, x, tx, T)
    r, alpha, b, s, beta, x, T = map(mp.mpf, (r, alpha, b, s, beta, x, T))
    given_alive = pmf_new(n, t, r + x, alpha + T, b, s, _residual(b, beta, T))
    return pa * given_alive + (1 - pa) * (1 if n == 0 else 0)
