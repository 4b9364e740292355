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

from crmcore.arrays import (
    FloatArray,
    IntArray,
    as_float_array,
    check_nonnegative,
    validate_nan_policy,
)
from crmcore.errors import ValidationError

__all__ = [
    "as_labels",
    "check_confidence",
    "drop_missing",
    "fbincount",
    "group_codes",
    "optional_weights",
    "show_label",
    "z_value",
]


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

    Labels may be strings, integers or ``datetime64`` periods. Integer and
    datetime labels take a linear-time path (a presence table instead of a
    sort) when their range is not much larger than their number; strings go
    through :func:`numpy.unique` (sorting), so for millions of rows integer
    codes are faster.

    >>> group_codes([3, 1, 3], name="g")[1].tolist()
    [1, 0, 1]
    >>> group_codes(np.array(["2025-02", "2025-01"], dtype="datetime64[M]"), name="g")[0]
    array(['2025-01', '2025-02'], dtype='datetime64[M]')
    """
    arr = as_labels(values, name=name)
    if arr.dtype.kind in "iuM" and len(arr):
        ints = arr.view(np.int64) if arr.dtype.kind == "M" else arr.astype(np.int64, copy=False)
        lo, hi = int(ints.min()), int(ints.max())
        span = hi - lo + 1
        if span <= max(4 * len(ints), 1 << 16):
            shifted = ints - lo if lo else ints
            present = np.bincount(shifted, minlength=span) > 0
            uniq = np.flatnonzero(present) + lo
            labels = uniq.view(arr.dtype) if arr.dtype.kind == "M" else uniq.astype(arr.dtype)
            if present.all():  # labels are already the codes 0..G-1 (after the shift)
                return labels, shifted
            remap = np.cumsum(present) - 1
            return labels, remap[shifted].astype(np.int64, copy=False)
    if arr.dtype.kind == "O" and len(arr) and all(_plain_str(v) for v in arr):
        arr = arr.astype(str)
    if arr.dtype.kind in "US" and len(arr):
        fast = _string_codes(arr)
        if fast is not None:
            return fast
    try:
        labels, codes = np.unique(arr, return_inverse=True)
    except TypeError as e:
        raise ValidationError(f"{name!r} labels must be mutually comparable: {e}") from e
    return labels, codes.astype(np.int64, copy=False).reshape(-1)


def _plain_str(v: object) -> bool:
    # numpy's fixed-width strings drop trailing NULs, so such strings stay objects
    return isinstance(v, str) and not v.endswith("\x00")


def _few_values(h: npt.NDArray[np.uint64], *, limit: int) -> npt.NDArray[np.uint64] | None:
    """Sorted distinct values of ``h`` if there are at most ``limit`` of them, else None."""
    found: list[np.uint64] = []
    rest = h
    while len(rest):
        if len(found) == limit:
            return None
        v = rest[0]
        found.append(v)
        rest = rest[rest != v]
    return np.sort(np.array(found, dtype=np.uint64))


def _string_codes(arr: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], IntArray] | None:
    """Codes of fixed-width strings by hashing their characters (sorts n integers, not n strings).

    Returns None on a hash collision (the caller then sorts the strings).
    """
    size = arr.dtype.itemsize
    if size == 0:
        return None
    unit = np.uint64 if size % 8 == 0 else np.uint32 if size % 4 == 0 else np.uint8
    words = np.ascontiguousarray(arr).view(unit).reshape(len(arr), -1)
    h = np.zeros(len(arr), dtype=np.uint64)
    mult = np.uint64(0x100000001B3)
    for j in range(words.shape[1]):  # over machine words of the string, not rows
        h = h * mult + words[:, j].astype(np.uint64, copy=False)
    few = _few_values(h, limit=32)
    if few is None:
        uniq, first, inv = np.unique(h, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
    else:  # low cardinality (channels, segments): k linear passes beat an n log n sort
        uniq = few
        inv = np.searchsorted(uniq, h)
        first = np.array([int(np.argmax(h == u)) for u in uniq], dtype=np.int64)
    reps = arr[first]
    if not bool(np.all(arr == reps[inv])):
        return None
    order = np.argsort(reps, kind="stable")
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[order] = np.arange(len(uniq))
    return reps[order], rank[inv]


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
        g = as_labels(groups, name="groups")
        if len(g) != n:
            raise ValidationError(f"'groups' must label every answer: {len(g)} labels for {n}")
        groups = g[keep]
    w = optional_weights(weights, n)
    return arr[keep], groups, (None if w is None else w[keep])
