"""Confidence intervals for a binomial proportion: Wilson score and Agresti-Coull.

Both are vectorized over arrays of successes ``k`` and trials ``n``.

* **Wilson** (1927): the interval of ``p`` whose score test does not reject,
  ``(k + z²/2 ± z·sqrt(k(n−k)/n + z²/4)) / (n + z²)``; it stays inside
  [0, 1] and has near-nominal average coverage even for small ``n`` and
  extreme ``p`` (Brown, Cai & DasGupta 2001, "Interval estimation for a
  binomial proportion", Statistical Science 16(2)). It is the default.
* **Agresti-Coull** (1998): the Wald interval around ``p̃ = (k + z²/2)/(n + z²)``
  with ``ñ = n + z²``, clipped to [0, 1]; slightly wider than Wilson.

>>> lo, hi = wilson_interval(3, 100)
>>> round(float(lo), 4), round(float(hi), 4)
(0.0103, 0.0845)
>>> lo, hi = agresti_coull_interval(3, 100)
>>> round(float(lo), 4), round(float(hi), 4)
(0.0065, 0.0883)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from crmcore.arrays import (
    FloatArray,
    NanPolicy,
    apply_nan_policy,
    as_float_array,
    check_nonnegative,
)
from crmcore.errors import ValidationError
from crmcore.options import as_choice
from crmcore.valuation.economics._common import z_value

__all__ = ["IntervalMethod", "agresti_coull_interval", "proportion_interval", "wilson_interval"]

IntervalMethod = Literal["wilson", "agresti-coull"]


def _check_counts(k: npt.ArrayLike, n: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    kk = as_float_array(k, name="successes", ndim=None)
    nn = as_float_array(n, name="trials", ndim=None)
    check_nonnegative(kk, name="successes")
    check_nonnegative(nn, name="trials", strict=True)
    try:
        kk, nn = np.broadcast_arrays(kk, nn)
    except ValueError as e:
        raise ValidationError(
            f"'successes' and 'trials' must broadcast: shapes {kk.shape} and {nn.shape}"
        ) from e
    over = kk > nn
    if over.any():
        i = int(np.flatnonzero(over.ravel())[0])
        raise ValidationError(
            f"'successes' must be <= 'trials': {kk.ravel()[i]} > {nn.ravel()[i]} at index {i}"
        )
    return kk.astype(np.float64), nn.astype(np.float64)


def _per_row(
    fn: Callable[..., tuple[FloatArray, FloatArray]],
    successes: npt.ArrayLike,
    trials: npt.ArrayLike,
    nan_policy: str,
    **options: Any,
) -> tuple[FloatArray, FloatArray]:
    """The element-wise NaN policy of an interval (1-D inputs of one length, or scalars)."""
    split = apply_nan_policy(
        {"successes": successes, "trials": trials},
        policy=nan_policy,
        broadcast=("successes", "trials"),
    )
    clean = split.clean()
    low, high = fn(clean["successes"], clean["trials"], **options)
    return split.fill(low), split.fill(high)


def wilson_interval(
    successes: npt.ArrayLike,
    trials: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    nan_policy: NanPolicy = "raise",
) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval ``(low, high)`` for ``successes`` out of ``trials`` (arrays broadcast).

    Trials may be weighted (non-integer) effective sample sizes. ``nan_policy``
    follows the element-wise rule of :mod:`crmcore.arrays` (then the inputs are
    scalars or 1-D arrays of one length).

    >>> lo, hi = wilson_interval([0, 10], [10, 10])
    >>> lo.round(4).tolist(), hi.round(4).tolist()
    ([0.0, 0.7225], [0.2775, 1.0])
    >>> wilson_interval(1, 0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'trials' must be > 0: 0.0 at index 0
    """
    if nan_policy != "raise":
        return _per_row(wilson_interval, successes, trials, nan_policy, confidence=confidence)
    k, n = _check_counts(successes, trials)
    z = z_value(confidence)
    z2 = z * z
    p = k / n
    # divisions one at a time: 2 * n or n * n would overflow for n near the float limit
    center = (p + z2 / 2 / n) / (1 + z2 / n)
    half = z * np.sqrt(np.maximum(p * (1 - p) / n + z2 / 4 / n / n, 0.0)) / (1 + z2 / n)
    # exact endpoints at the boundaries (the subtraction above leaves rounding noise there)
    low = np.where(k <= 0, 0.0, np.clip(center - half, 0.0, 1.0))
    high = np.where(k >= n, 1.0, np.clip(center + half, 0.0, 1.0))
    return low, high


def agresti_coull_interval(
    successes: npt.ArrayLike,
    trials: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    nan_policy: NanPolicy = "raise",
) -> tuple[FloatArray, FloatArray]:
    """Agresti-Coull interval ``(low, high)``: Wald around ``(k + z²/2)/(n + z²)``, clipped to [0, 1].

    >>> lo, hi = agresti_coull_interval(0, 10)
    >>> float(lo), round(float(hi), 4)
    (0.0, 0.3209)
    """
    if nan_policy != "raise":
        return _per_row(
            agresti_coull_interval, successes, trials, nan_policy, confidence=confidence
        )
    k, n = _check_counts(successes, trials)
    z = z_value(confidence)
    z2 = z * z
    nt = n + z2
    pt = (k + z2 / 2) / nt
    half = z * np.sqrt(pt * (1 - pt) / nt)
    return np.clip(pt - half, 0.0, 1.0), np.clip(pt + half, 0.0, 1.0)


def proportion_interval(
    successes: npt.ArrayLike,
    trials: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    method: str = "wilson",
    nan_policy: NanPolicy = "raise",
) -> tuple[FloatArray, FloatArray]:
    """Dispatch to :func:`wilson_interval` (default) or :func:`agresti_coull_interval`.

    >>> proportion_interval(5, 10, method="exact")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'method' must be one of 'wilson', 'agresti-coull': 'exact'
    """
    if as_choice(method, name="method", allowed=("wilson", "agresti-coull")) == "wilson":
        return wilson_interval(successes, trials, confidence=confidence, nan_policy=nan_policy)
    return agresti_coull_interval(successes, trials, confidence=confidence, nan_policy=nan_policy)
