"""sBG likelihood: the cohort counts' checks, the counts as transitions, the
log-likelihood with its analytic gradient and Hessian, and the identification checks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import special

from crmcore.arrays import FloatArray, as_float_array, check_integer_valued, check_nonnegative
from crmcore.errors import FitError, ValidationError

__all__ = [
    "check_not_geometric",
    "check_two_periods",
    "cohorts_of",
    "loglik",
    "newton",
    "transitions",
    "whole",
]


def whole(values: npt.ArrayLike, name: str) -> FloatArray:
    """Finite whole numbers (periods, survivor counts); a NaN is an error: a count or a
    period has no NaN policy (a gap in a survivor series is not a missing row)."""
    # as an array first: text, even numeric text ('1000'), is refused by crmcore.arrays
    c = as_float_array(np.asarray(values), name=name, allow_nan=True)
    nan = np.isnan(c)
    if nan.any():
        i = int(np.flatnonzero(nan)[0])
        raise ValidationError(f"{name!r} must be a whole number, not NaN: nan at index {i}")
    check_integer_valued(c, name=name)
    return c


def _check_cohort(counts: npt.ArrayLike, name: str) -> FloatArray:
    c = whole(counts, name)
    if len(c) < 2:
        raise ValidationError(
            f"{name!r} needs the cohort size and at least one later count: {c.tolist()}"
        )
    check_nonnegative(c, name=name)
    if c[0] <= 0:
        raise ValidationError(f"{name!r} must start with a positive cohort size: {c[0]:g}")
    up = np.diff(c) > 0
    if up.any():
        i = int(np.flatnonzero(up)[0]) + 1
        raise ValidationError(
            f"{name!r} must not increase (survivors only leave): "
            f"{c[i]:g} at index {i} after {c[i - 1]:g}"
        )
    return c


def cohorts_of(counts: npt.ArrayLike | Sequence[npt.ArrayLike]) -> list[FloatArray]:
    if (
        isinstance(counts, (list, tuple))
        and counts
        and isinstance(counts[0], (list, tuple, np.ndarray))
    ):
        return [_check_cohort(c, f"counts[{i}]") for i, c in enumerate(counts)]
    arr = np.asarray(counts)
    if arr.ndim == 2:
        return [_check_cohort(c, f"counts[{i}]") for i, c in enumerate(arr)]
    return [_check_cohort(arr, "counts")]


def transitions(cohorts: list[FloatArray]) -> tuple[FloatArray, FloatArray]:
    """Per period k = 0, 1, …: customers lost in period k + 1 and customers renewing it,
    summed over the cohorts (the sBG log-likelihood depends on the counts only so)."""
    n = max(len(c) for c in cohorts) - 1
    lost, stay = np.zeros(n), np.zeros(n)
    for c in cohorts:
        t = len(c) - 1
        lost[:t] += c[:-1] - c[1:]
        stay[:t] += c[1:]
    return lost, stay


def _log_rates(alpha: float, beta: float, n: int) -> tuple[FloatArray, FloatArray]:
    """ln θ_k and ln(1 − θ_k) for k < n, from the per-period churn
    θ_k = α / (α + β + k) = 1 / (1 + (β + k) / α) (no difference of two log-beta functions,
    which cancels to nothing for α, β near 1e300)."""
    bk = beta + np.arange(n, dtype=np.float64)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        u = bk / alpha  # inf when alpha is tiny (5e-324): then ln θ_k = ln α − ln(β + k)
        v = alpha / bk  # inf when alpha dwarfs β + k: then ln(1 − θ_k) = ln(β + k) − ln α
        log_alpha, log_bk = np.log(alpha), np.log(bk)
        log_churn = np.where(np.isinf(u), log_alpha - log_bk, -np.log1p(u))  # ln θ_k
        log_stay = np.where(np.isinf(v), log_bk - log_alpha, -np.log1p(v))  # ln(1 − θ_k)
    return log_churn, log_stay


def _value(alpha: float, beta: float, lost: FloatArray, stay: FloatArray) -> float:
    """Σ_k lost_k ln θ_k + stay_k ln(1 − θ_k): the sBG log-likelihood (a churn in period t
    has probability S(t − 1) θ_{t−1}, a survivor of T periods S(T) = Π_{k<T} (1 − θ_k))."""
    log_churn, log_stay = _log_rates(alpha, beta, len(lost))
    return float(
        np.sum(np.where(lost > 0, lost * log_churn, 0.0))
        + np.sum(np.where(stay > 0, stay * log_stay, 0.0))
    )


def loglik(alpha: float, beta: float, cohorts: list[FloatArray]) -> float:
    return _value(alpha, beta, *transitions(cohorts))


def newton(
    theta: FloatArray, lost: FloatArray, stay: FloatArray
) -> tuple[float, FloatArray, FloatArray]:
    """Log-likelihood, gradient and Hessian in (α, β): with s_k = α + β + k, b_k = β + k,
    N_k = lost_k + stay_k, ln θ_k = ln α − ln s_k and ln(1 − θ_k) = ln b_k − ln s_k."""
    alpha, beta = float(theta[0]), float(theta[1])
    k = np.arange(len(lost), dtype=np.float64)
    s, b = alpha + beta + k, beta + k
    at_risk = lost + stay
    total_lost = float(lost.sum())
    q1, q2 = float(np.sum(at_risk / s)), float(np.sum(at_risk / s**2))
    grad = np.array([total_lost / alpha - q1, float(np.sum(stay / b)) - q1])
    hess = np.array(
        [
            [q2 - total_lost / alpha**2, q2],
            [q2, q2 - float(np.sum(stay / b**2))],
        ]
    )
    return _value(alpha, beta, lost, stay), grad, hess


def check_two_periods(cohorts: list[FloatArray]) -> None:
    """Two parameters need at least two retention rates: customers at risk in period 2 or later."""
    if any(len(c) > 2 and c[1] > 0 for c in cohorts):
        return
    rate = sum(float(c[1]) for c in cohorts) / sum(float(c[0]) for c in cohorts)
    raise FitError(
        "sBG fit: 'counts' hold one transition (period 1 only, retention "
        f"{rate:.6g}): one retention rate cannot identify the two parameters alpha and beta; "
        "give survivor counts for at least two periods"
    )


_GEOMETRIC_TOLERANCE = 1e-6
"""Log-likelihood gain over the geometric limit below which α, β are not identified."""


def check_not_geometric(
    cohorts: list[FloatArray], log_likelihood: float, *, cause: Exception | None = None
) -> None:
    """The sBG tends to a geometric (constant churn ``p``) as α, β → ∞ with α/(α + β) = p.

    When the best sBG does not beat that limit (survival exactly geometric, or
    retention not rising), the likelihood is maximised at infinity along the
    ridge α/(α + β) = p and α, β are not identified: a :class:`FitError` says so
    and gives ``p``, the maximum-likelihood constant churn."""
    lost = sum(float(np.sum(c[:-1] - c[1:])) for c in cohorts)
    at_risk = sum(float(np.sum(c[:-1])) for c in cohorts)
    p = lost / at_risk
    geometric = float(special.xlogy(lost, p) + special.xlogy(at_risk - lost, 1.0 - p))
    if log_likelihood - geometric <= _GEOMETRIC_TOLERANCE * max(1.0, 1e-3 * abs(geometric)):
        raise FitError(
            "sBG fit: alpha and beta are not identified by these 'counts': retention does "
            "not rise with tenure (exactly geometric survival, or falling retention), so the "
            "sBG likelihood is maximised only in the limit alpha, beta -> infinity with "
            f"alpha/(alpha + beta) = p, a constant churn p = {p:.6g} per period; use the "
            f"geometric (constant-churn) answer S(t) = (1 - {p:.6g})**t"
        ) from cause
