"""Pareto/NBD P(alive) where the two scales are close: a series of positive terms.

In the reduced form of :mod:`._pareto_math` (m = min(alpha, beta), M_s = max(alpha, beta),
d = M_s − m, u0 = m + t_x, du = M_s + t_x, P and Q the exponents at m and at M_s,
M = P + Q − 1) the integral J = ∫_0^W e^{(1−P)η} G^−Q dη is, with v = e^−η,
``(1 + ε)^Q ∫_{v0}^1 v^{M−1} (1 + ε v)^−Q dv`` (ε = d / u0, v0 = u0 / (m + T)), whose
antiderivative is ``v^M / M 2F1(Q, M; M + 1; −ε v)``. Euler's (Pfaff's) transformation
turns that 2F1 into ``(1 + ε v)^−Q S(w)``, ``S(w) = Σ_k c_k w^k``,
``c_k = (Q)_k / (M + 1)_k``, ``w = ε v / (1 + ε v)``: every term positive, each at most
``w`` times the one before (Q + k − 1 < M + k). At the two ends w1 = d / du and
w0 = d / (M_s + T), and

    M J = S(w1) − R S(w0) = Σ_k c_k w1^k (1 − R ρ^k),
    R = (u0 / (m + T))^(P−1) (du / (M_s + T))^Q = exp(−(P − 1) W − Q W2),

with ρ = w0 / w1 = e^−W2, W = ln(1 + (T − t_x) / u0) and W2 = ln(1 + (T − t_x) / du) (the
two logarithms P(alive) needs anyway). Where R <= 1 (always when P >= 1, i.e. for every
customer with a repeat purchase) every term is non-negative, and 1 − R ρ^k grows from
1 − R by the positive steps R ρ^(k−1) (1 − ρ), 1 − ρ = (T − t_x) / (M_s + T): nothing
cancels, however short the interval (the form of the alternating series in
:func:`._pareto_math._log_j`, whose terms fall only by Q ε). The series needs about
37 / ln(1 / w1) terms (fewer where M is large): rows are grouped by w1 (a counting sort),
each group sums the terms its largest w1 needs and stops early once every row's last term
is below 2^-56 of its sum. Rows with w1 above :data:`W1_MAX` (scales far apart) are left
to the quadrature.

>>> import numpy as np
>>> one = np.ones(1)
>>> # alpha = beta (w1 = 0): M J = 1 − R, J = ∫_0^W e^{-2η} dη with P = Q = 1.5, W = ln 2
>>> v = log_j_close(1.5 * one, 1.5, np.log(2) * one, np.log(2) * one, 0 * one, 0.5 * one)
>>> round(float(np.exp(v[0])), 12)  # (1 − 1/4) / 2
0.375
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray

__all__ = ["W1_MAX", "log1p_pos", "log_j_close"]

W1_MAX = 0.6
"""Largest w1 = |alpha − beta| / (max(alpha, beta) + t_x) summed as the series (measured:
cheaper than the quadrature up to about this ratio on the daily grid)."""

_TOL = 2.0**-56
_CHECK = 4  # terms between convergence checks


def log1p_pos(y: FloatArray) -> FloatArray:
    """ln(1 + y) for finite y >= 0 to about 1 ulp, by one ``log`` and a correction
    (Goldberg's: ln u − ((u − 1) − y) / u, u = 1 + y rounded); about twice as fast as
    ``np.log1p`` with this machine's libm.

    >>> import numpy as np
    >>> log1p_pos(np.array([0.0, 1e-20, 1.0])).tolist() == np.log1p([0.0, 1e-20, 1.0]).tolist()
    True
    """
    u = 1.0 + y
    out: FloatArray = np.log(u)
    c = u - 1.0
    c -= y  # the rounding of 1 + y
    c /= u
    out -= c
    return out


def _terms(hi: float) -> int:
    """Terms after which w^k / (1 − w) < 2^-56 for every w <= hi."""
    if hi <= 0.0:
        return 0
    return int(np.ceil(np.log(_TOL * (1.0 - hi)) / np.log(hi))) + 2


_EDGES = np.array([0.0, 0.02, 0.05, 0.09, 0.14, 0.2, 0.27, 0.35, 0.45, W1_MAX])
"""Upper ends of the groups of w1 (each group sums the terms its upper end needs)."""


def _series(
    Q: FloatArray | float,
    M: FloatArray,
    w1: FloatArray,
    step: FloatArray,
    log_r: FloatArray,
    n_terms: int,
) -> FloatArray:
    """M J = Σ_k c_k w1^k (1 − R ρ^k) with ρ = 1 − ``step`` = e^-W2, at most ``n_terms``
    terms after the first. 1 − R ρ^k ("gone") grows by positive steps R ρ^(k−1) (1 − ρ)
    from 1 − R (by ``expm1`` where R > 1/2; below, 1 − R loses no digit)."""
    n = len(M)
    left = np.exp(log_r)  # R ρ^k
    gone = 1.0 - left  # 1 − R ρ^k
    near = left > 0.5
    if near.any():
        gone[near] = -np.expm1(log_r[near])
    total = gone.copy()
    if n_terms == 0:
        return total
    t = np.ones(n)  # c_k w1^k
    rho = 1.0 - step
    rat = np.empty(n)
    tmp = np.empty(n)
    q_arr = isinstance(Q, np.ndarray) and Q.ndim > 0
    for k in range(1, n_terms + 1):
        np.add(M, float(k), out=rat)
        if q_arr:
            np.add(Q, float(k - 1), out=tmp)
            np.divide(tmp, rat, out=rat)
        else:
            np.divide(float(Q) + (k - 1), rat, out=rat)
        t *= rat
        t *= w1
        np.multiply(left, step, out=tmp)
        gone += tmp
        left *= rho
        np.multiply(t, gone, out=tmp)
        total += tmp
        if k % _CHECK == 0 and k < n_terms:
            # the next terms are at most w1 times these: stop when all are negligible
            np.multiply(total, _TOL, out=rat)
            if bool(np.all(tmp <= rat)):
                break
    return total


_TERMS = [_terms(float(hi)) for hi in _EDGES]


_TERMS = [_terms(float(hi)) for hi in _EDGES]


def _groups(w1: FloatArray) -> npt.NDArray[np.uint8]:
    """Group i of each row, _EDGES[i - 1] < w1 <= _EDGES[i] (by comparisons into uint8:
    a quarter of ``searchsorted``'s time, and uint8 keys sort by radix)."""
    key = np.zeros(len(w1), dtype=np.uint8)
    above = np.empty(len(w1), dtype=np.bool_)
    for edge in _EDGES[:-1].tolist():
        np.greater(w1, edge, out=above)
        key += above
    return key


def log_j_close(
    P: FloatArray | float,
    Q: FloatArray | float,
    W: FloatArray,
    W2: FloatArray,
    w1: FloatArray,
    step: FloatArray,
    factor: FloatArray | float = 1.0,
) -> FloatArray:
    """ln(factor J) (J of the module docstring) for rows with w1 <= :data:`W1_MAX` and
    R <= 1 (the caller picks them); ``P`` and ``Q`` scalars or per row; -inf where the
    interval is empty. Rows are ordered by their group of w1 (a counting sort) and each
    group sums the terms its largest w1 needs."""
    M = np.asarray(P + Q - 1.0)
    if M.ndim == 0:
        M = np.full(len(W), float(M))
    log_r = (1.0 - P) * W
    log_r -= Q * W2
    if not len(w1) or np.maximum.reduce(w1) == 0.0:  # alpha = beta: M J = 1 − R
        total: FloatArray = np.expm1(log_r)
        np.negative(total, out=total)
        return _finish(total, M, factor)
    key = _groups(w1)
    counts = np.bincount(key, minlength=len(_EDGES))
    q_arr = isinstance(Q, np.ndarray) and Q.ndim > 0
    if np.count_nonzero(counts) <= 1:
        total = _series(Q, M, w1, step, log_r, _TERMS[int(key[0])])
    else:
        total = np.empty(len(W))
        order = np.argsort(key, kind="stable")  # a radix sort of the uint8 keys
        start = 0
        for i, count in enumerate(counts.tolist()):
            if not count:
                continue
            idx = order[start : start + count]
            start += count
            Qg = Q[idx] if q_arr else Q  # type: ignore[index]
            total[idx] = _series(Qg, M[idx], w1[idx], step[idx], log_r[idx], _TERMS[i])
    return _finish(total, M, factor)


def _finish(total: FloatArray, M: FloatArray, factor: FloatArray | float) -> FloatArray:
    """ln(factor J) from M J."""
    total /= M
    total *= factor
    with np.errstate(divide="ignore"):
        out: FloatArray = np.log(total, out=total)
    return out
