"""Shared helpers of the economics package: confidence levels, weights, survey NaN policy.

Group labels go through :mod:`crmcore.labels` (one missing-value rule).

>>> round(z_value(0.95), 4)
1.96
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from crmcore.arrays import (
    FloatArray,
    as_float_array,
    check_nonnegative,
    validate_nan_policy,
)
from crmcore.errors import ValidationError
from crmcore.labels import check_labels

__all__ = [
    "check_confidence",
    "drop_missing",
    "fbincount",
    "optional_weights",
    "show_label",
    "z_value",
]


def check_confidence(confidence: float) -> float:
    """Return ``confidence`` if it lies strictly between 0 and 1.

    >>> check_confidence(1.5)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'confidence' must be in (0, 1): 1.5
    """
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise ValidationError(f"'confidence' must be in (0, 1): {confidence!r}")
    return c


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile for ``confidence``.

    >>> round(z_value(0.90), 4)
    1.6449
    """
    c = check_confidence(confidence)
    return float(special.ndtri(0.5 + c / 2.0))


def optional_weights(weights: npt.ArrayLike | None, n: int) -> FloatArray | None:
    """Validate survey weights: same length as the responses, finite and >= 0.

    >>> optional_weights([1, 2], 2).tolist()
    [1.0, 2.0]
    >>> optional_weights([1, -2], 2)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'weights' must be >= 0: -2.0 at index 1
    """
    if weights is None:
        return None
    w = as_float_array(weights, name="weights")
    if len(w) != n:
        raise ValidationError(f"'weights' must have one weight per response: {len(w)} for {n}")
    check_nonnegative(w, name="weights")
    return w


def show_label(label: Any) -> str:
    """``repr`` of a label, unwrapping numpy scalars so messages read ``'web'`` or ``3``.

    >>> show_label(np.int64(3)), show_label(np.str_("web"))
    ('3', "'web'")
    """
    value = label.item() if isinstance(label, np.generic) else label
    return repr(value)


def fbincount(
    codes: npt.NDArray[np.int64], weights: npt.ArrayLike | None = None, *, minlength: int
) -> FloatArray:
    """:func:`numpy.bincount` as float64 (sums of ``weights`` per code, or counts).

    >>> fbincount(np.array([0, 2, 2]), minlength=4).tolist()
    [1.0, 0.0, 2.0, 0.0]
    """
    return np.bincount(codes, weights=weights, minlength=minlength).astype(np.float64, copy=False)


def drop_missing(
    scores: npt.ArrayLike,
    nan_policy: str,
    *,
    groups: npt.ArrayLike | None = None,
    weights: npt.ArrayLike | None = None,
) -> tuple[npt.ArrayLike, npt.ArrayLike | None, npt.ArrayLike | None]:
    """Apply the NaN policy to survey answers (NaN = no answer), with their groups and weights.

    ``"raise"`` leaves the input to the usual checks (a NaN is an error),
    ``"omit"`` drops unanswered rows, ``"propagate"`` is refused: a survey
    summary of missing answers would be a silent NaN.

    >>> s, g, w = drop_missing([9, float("nan"), 3], "omit", groups=["a", "b", "c"])
    >>> s.tolist(), g.tolist(), w
    ([9.0, 3.0], ['a', 'c'], None)
    >>> drop_missing([1], "propagate")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: nan_policy='propagate' does not apply to a survey summary: use 'omit' or 'raise'
    """
    pol = validate_nan_policy(nan_policy)
    if pol == "propagate":
        raise ValidationError(
            "nan_policy='propagate' does not apply to a survey summary: use 'omit' or 'raise'"
        )
    if pol == "raise":
        return scores, groups, weights
    arr = as_float_array(scores, name="scores", allow_nan=True)
    keep = ~np.isnan(arr)
    n = len(arr)
    if groups is not None:
        g = check_labels(groups, name="groups")
        if len(g) != n:
            raise ValidationError(f"'groups' must label every answer: {len(g)} labels for {n}")
        groups = g[keep]
    w = optional_weights(weights, n)
    return arr[keep], groups, (None if w is None else w[keep])
