"""Shared helpers of the economics package: group codes, confidence levels, weights.

>>> labels, codes = group_codes(["b", "a", "b"], name="channel")
>>> labels.tolist(), codes.tolist()
(['a', 'b'], [1, 0, 1])
>>> round(z_value(0.95), 4)
1.96
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from crmcore.arrays import FloatArray, IntArray, as_float_array, check_nonnegative
from crmcore.errors import ValidationError

__all__ = ["as_labels", "check_confidence", "group_codes", "optional_weights", "z_value"]


def as_labels(values: Any, *, name: str) -> npt.NDArray[Any]:
    """A 1-D array of group labels (any sortable dtype); missing labels are rejected.

    >>> as_labels(["x", "y"], name="channel").tolist()
    ['x', 'y']
    >>> as_labels([None], name="channel")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'channel' must not contain missing labels: None at index 0
    """
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValidationError(f"{name!r} must be 1-dimensional, got shape {arr.shape}")
    if arr.dtype.kind == "O":
        bad = np.array([v is None or (isinstance(v, float) and v != v) for v in arr], dtype=bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                f"{name!r} must not contain missing labels: {arr[i]!r} at index {i}"
            )
    elif arr.dtype.kind == "f" and np.isnan(arr).any():
        i = int(np.flatnonzero(np.isnan(arr))[0])
        raise ValidationError(f"{name!r} must not contain missing labels: nan at index {i}")
    elif arr.dtype.kind == "M" and np.isnat(arr).any():
        i = int(np.flatnonzero(np.isnat(arr))[0])
        raise ValidationError(f"{name!r} must not contain missing labels: NaT at index {i}")
    return arr


def group_codes(values: Any, *, name: str) -> tuple[npt.NDArray[Any], IntArray]:
    """Sorted unique labels and the int64 code of every element (``labels[codes] == values``).

    Every input goes through :func:`numpy.unique`, so labels may be strings,
    integers or ``datetime64`` periods.

    >>> group_codes([3, 1, 3], name="g")[1].tolist()
    [1, 0, 1]
    """
    arr = as_labels(values, name=name)
    try:
        labels, codes = np.unique(arr, return_inverse=True)
    except TypeError as e:
        raise ValidationError(f"{name!r} labels must be mutually comparable: {e}") from e
    return labels, codes.astype(np.int64, copy=False).reshape(-1)


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
