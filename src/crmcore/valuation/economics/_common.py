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
    apply_nan_policy,
    as_float_array,
    check_nonnegative,
    check_same_length,
    validate_nan_policy,
)
from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels
from crmcore.options import as_confidence

__all__ = [
    "drop_missing",
    "fbincount",
    "omit_missing",
    "optional_weights",
    "show_label",
    "weighted_counts",
    "z_value",
]


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile for ``confidence``.

    >>> round(z_value(0.90), 4)
    1.6449
    """
    c = as_confidence(confidence)
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


def weighted_counts(
    codes: npt.NDArray[np.int64],
    cells: npt.NDArray[Any],
    weights: FloatArray | None,
    *,
    labels: npt.NDArray[Any],
    k: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Survey answers per (group, category): shares, total weight and Kish's effective n.

    ``codes`` are group codes, ``cells`` the category (0..k-1) of every answer. Returns
    the (groups x k) shares, the total weight per group and the effective sample size
    ``(Σw)² / Σw²`` (the count without weights). Weights are summed in units of the
    largest weight, so shares and effective n are right for weights up to 1e308; a total
    beyond the range of a float is an error naming the group. Empty groups get total 0.

    >>> shares, n, n_eff = weighted_counts(np.array([0, 0]), np.array([1, 0]), np.array([1e308, 5e307]), labels=np.array(["a"]), k=2)
    >>> shares.round(4).tolist(), n.tolist(), n_eff.round(4).tolist()
    ([[0.3333, 0.6667]], [1.5e+308], [1.8])
    >>> weighted_counts(np.array([0, 0]), np.array([1, 0]), np.array([1e308, 1e308]), labels=np.array(["a"]), k=2)[1]
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'weights' of group 'a' sum beyond the range of a float: divide them by a common factor
    """
    g = len(labels)
    flat = codes * k + cells
    if weights is None:
        counts = fbincount(flat, minlength=k * g).reshape(g, k)
        total = counts.sum(axis=1)
        n_eff = total
    else:
        top = float(weights.max()) if len(weights) else 0.0
        scale = top if top > 0 else 1.0
        ws = weights / scale
        counts = fbincount(flat, weights=ws, minlength=k * g).reshape(g, k)
        tot = counts.sum(axis=1)
        sw2 = fbincount(codes, weights=ws * ws, minlength=g)
        n_eff = np.divide(tot * tot, sw2, out=np.zeros(g), where=sw2 > 0)
        with np.errstate(over="ignore"):
            total = tot * scale
        big = ~np.isfinite(total)
        if big.any():
            i = int(np.flatnonzero(big)[0])
            raise ValidationError(
                f"'weights' of group {show_label(labels[i])} sum beyond the range of a float: "
                "divide them by a common factor"
            )
        total = np.where(tot > 0, total, 0.0)
        counts_sum = tot
    if weights is None:
        counts_sum = total
    shares = np.divide(
        counts, counts_sum[:, None], out=np.zeros_like(counts), where=counts_sum[:, None] > 0
    )
    return shares, total, n_eff


def omit_missing(
    nan_policy: str,
    *,
    what: str,
    labels: dict[str, Any] | None = None,
    numbers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The aggregate NaN policy for per-row labels and numbers of a summary (``what``):
    ``'raise'`` returns them as given (the usual checks refuse a missing value),
    ``'omit'`` drops every row where a label is missing (the rule of
    :mod:`crmcore.labels`) or a number is NaN; ``'propagate'`` is refused (the summary
    would be NaN). Inputs given as None stay None; lengths are checked first.

    >>> out = omit_missing("omit", what="a CAC report", labels={"channel": ["a", None, "b"]},
    ...                    numbers={"cost": [1.0, 2.0, float("nan")], "acquired": None})
    >>> out["channel"].tolist(), out["cost"].tolist(), out["acquired"]
    (['a'], [1.0], None)
    """
    pol = validate_nan_policy(
        nan_policy, allowed=("raise", "omit"), what=f"{what} (it would be NaN)"
    )
    given_labels = {k: v for k, v in (labels or {}).items() if v is not None}
    given_numbers = {k: v for k, v in (numbers or {}).items() if v is not None}
    out: dict[str, Any] = {**(labels or {}), **(numbers or {})}
    if pol == "raise":
        return out
    coded = {k: factorize_labels(v, name=k, missing="code") for k, v in given_labels.items()}
    nums = {k: as_float_array(v, name=k, allow_nan=True) for k, v in given_numbers.items()}
    n = check_same_length(**{k: c for k, (_, c) in coded.items()}, **nums)
    keep = np.ones(n, dtype=bool)
    for _, c in coded.values():
        keep &= c >= 0
    for v in nums.values():
        keep &= ~np.isnan(v)
    out.update({k: u[c[keep]] for k, (u, c) in coded.items()})
    out.update({k: v[keep] for k, v in nums.items()})
    return out


def drop_missing(
    scores: npt.ArrayLike,
    nan_policy: str,
    *,
    groups: npt.ArrayLike | None = None,
    weights: npt.ArrayLike | None = None,
) -> tuple[npt.ArrayLike, npt.ArrayLike | None, npt.ArrayLike | None]:
    """Apply the NaN policy to survey answers (NaN = no answer), with their groups and weights.

    ``"raise"`` refuses a NaN score or weight (recommending ``'omit'``) and
    leaves the rest to the usual checks,
    ``"omit"`` drops unanswered rows (a NaN score, a NaN weight or a missing
    group label), ``"propagate"`` is refused: a survey summary of missing
    answers would be a silent NaN.

    >>> s, g, w = drop_missing([9, float("nan"), 3], "omit", groups=["a", "b", "c"])
    >>> s.tolist(), g.tolist(), w
    ([9.0, 3.0], ['a', 'c'], None)
    >>> drop_missing([1], "propagate")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'nan_policy' 'propagate' has no meaning for a survey summary (it would be NaN): it takes 'raise' or 'omit'
    """
    pol = validate_nan_policy(
        nan_policy, allowed=("raise", "omit"), what="a survey summary (it would be NaN)"
    )
    if pol == "raise":
        for name, values in (("scores", scores), ("weights", weights)):
            if values is not None and np.asarray(values).dtype.kind not in "iub":
                apply_nan_policy({name: values}, policy="raise")  # NaN: named, 'omit' suggested
        return scores, groups, weights
    arr = as_float_array(scores, name="scores", allow_nan=True)
    keep = ~np.isnan(arr)
    n = len(arr)
    if groups is not None:
        labels, codes = factorize_labels(groups, name="groups", missing="code")
        check_same_length(scores=arr, groups=codes)
        keep &= codes >= 0
    w = None
    if weights is not None:
        w = as_float_array(weights, name="weights", allow_nan=True)
        if len(w) != n:
            raise ValidationError(f"'weights' must have one weight per response: {len(w)} for {n}")
        keep &= ~np.isnan(w)
        w = optional_weights(w[keep], int(keep.sum()))
    if groups is not None:
        groups = labels[codes[keep]]
    return arr[keep], groups, w
