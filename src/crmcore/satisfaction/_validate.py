"""Input checks shared by the satisfaction modules (built on :mod:`crmcore.arrays`).

>>> satisfaction_array([1, 5.0]).tolist()
[1, 5]
>>> satisfaction_array([0])
Traceback (most recent call last):
crmcore.errors.ValidationError: 'satisfaction' must be in [1, 5]: 0 at index 0
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from crmcore.arrays import (
    FloatArray,
    IntArray,
    apply_nan_policy,
    as_float_array,
    as_int_array,
    check_in_range,
    check_same_length,
    validate_nan_policy,
)
from crmcore.errors import ValidationError
from crmcore.options import as_count, as_probability

__all__ = [
    "LEVELS",
    "binary_array",
    "competition_array",
    "flags_as_numbers",
    "satisfaction_array",
    "satisfied_from",
    "scoring_inputs",
    "unit_scalar",
]

LEVELS = 5
"""Satisfaction is measured on 1 (very dissatisfied) … 5 (completely satisfied)."""


def satisfaction_array(
    values: npt.ArrayLike, *, name: str = "satisfaction", high: int | None = LEVELS
) -> IntArray:
    """Whole scores in 1..5 as int64 (codes >= 0 with ``high=None``); else a ValidationError.

    >>> satisfaction_array([4.5])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'satisfaction' must hold whole numbers: 4.5 at index 0
    """
    arr = as_int_array(values, name=name)
    if high is None:
        if arr.size and arr.min() < 0:
            i = int(np.flatnonzero(arr < 0)[0])
            raise ValidationError(f"{name!r} codes must be >= 0: {arr[i]} at index {i}")
    elif arr.size and (arr.min() < 1 or arr.max() > high):
        check_in_range(arr, name=name, low=1, high=high)
    return arr


def competition_array(values: npt.ArrayLike, *, name: str = "competition") -> FloatArray:
    """Effective competition levels in [0, 1] as float64.

    >>> competition_array([0.2, 1]).tolist()
    [0.2, 1.0]
    >>> competition_array([1.5])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'competition' must be in [0, 1]: 1.5 at index 0
    """
    raw = np.asarray(values)
    # fast path: min/max are NaN when any value is, so NaN and inf fall through to the checks
    if (
        raw.dtype == np.float64
        and raw.ndim == 1
        and raw.size
        and raw.min() >= 0.0
        and raw.max() <= 1.0
    ):
        return raw
    arr = as_float_array(values, name=name)
    check_in_range(arr, name=name, low=0.0, high=1.0)
    return arr


def flags_as_numbers(values: npt.ArrayLike) -> npt.ArrayLike:
    """A boolean outcome as 0/1 floats (a flag is a legitimate 0/1 outcome here, while the
    numeric rule of :func:`~crmcore.arrays.as_float_array` refuses booleans); anything else as given.

    >>> flags_as_numbers([True, False]).tolist()
    [1.0, 0.0]
    """
    if isinstance(values, np.ndarray | list | tuple) or hasattr(values, "dtype"):
        try:
            arr = np.asarray(values)
        except (TypeError, ValueError):
            return values  # refused by name where it is converted
        if arr.dtype.kind == "b":
            return arr.astype(np.float64)
    return values


def binary_array(values: npt.ArrayLike, *, name: str = "outcome") -> FloatArray:
    """A 0/1 outcome (bools accepted) as float64; any other value is rejected by name.

    >>> binary_array([True, 0, 1.0]).tolist()
    [1.0, 0.0, 1.0]
    >>> binary_array([True, False]).tolist()
    [1.0, 0.0]
    >>> binary_array([0, 2])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'outcome' must be binary (0 or 1): 2.0 at index 1
    """
    arr = as_float_array(flags_as_numbers(values), name=name)
    bad = (arr != 0.0) & (arr != 1.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(f"{name!r} must be binary (0 or 1): {arr[i]} at index {i}")
    return arr


def unit_scalar(value: float, *, name: str) -> float:
    """A finite number in [0, 1] (:func:`crmcore.options.as_probability`).

    >>> unit_scalar(0.5, name="loyal_from")
    0.5
    >>> unit_scalar(2, name="loyal_from")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'loyal_from' must be in [0, 1]: 2
    """
    return as_probability(value, name=name)


def satisfied_from(value: object, *, low: int = 1) -> int:
    """The ``satisfied_from`` option: a level in ``low..5``.

    >>> satisfied_from(6)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'satisfied_from' must be <= 5: 6
    """
    return as_count(value, name="satisfied_from", low=low, high=LEVELS)


def scoring_inputs(
    satisfaction: npt.ArrayLike,
    competition: npt.ArrayLike,
    *,
    nan_policy: str,
    extra: Mapping[str, npt.ArrayLike] | None = None,
) -> tuple[
    IntArray, FloatArray, npt.NDArray[np.bool_] | None, dict[str, FloatArray], IntArray | None
]:
    """Validate aligned scoring inputs under the one NaN policy (:func:`~crmcore.arrays.apply_nan_policy`).

    Returns the satisfaction scores (NaN rows replaced by a placeholder), the
    competition levels broadcast to the scores' length, the mask of NaN rows to
    blank out (``propagate`` only, else ``None``), the ``extra`` arrays, and
    the caller's row numbers of the rows kept when ``omit`` dropped some
    (else ``None``), to map any index a result returns.
    A scalar competition applies to every customer.

    >>> s, c, nan, _, _ = scoring_inputs([1, float("nan")], 0.5, nan_policy="propagate")
    >>> s.tolist(), c.tolist(), nan.tolist()
    ([1, 5], [0.5, 0.0], [False, True])
    >>> scoring_inputs([1, float("nan"), 3], 0.5, nan_policy="omit")[4].tolist()
    [0, 2]
    """
    policy = validate_nan_policy(nan_policy)
    extra = dict(extra or {})
    c_raw = np.asarray(competition)
    scalar_c = c_raw.ndim == 0
    s_int = np.asarray(satisfaction).dtype.kind in "iub"
    no_nan_possible = s_int and (scalar_c or c_raw.dtype.kind in "iub")
    if not extra and (policy == "raise" or no_nan_possible):
        s = satisfaction_array(satisfaction)
        c = competition_array(c_raw.reshape(-1) if scalar_c else c_raw)
        if scalar_c:
            c = np.full(s.shape, c[0])
        check_same_length(satisfaction=s, competition=c)
        return s, c, None, {}, None
    arrays: dict[str, npt.ArrayLike] = {"satisfaction": satisfaction, "competition": c_raw}
    arrays.update(extra)
    split = apply_nan_policy(arrays, policy=policy, broadcast=("competition",))
    got = dict(split.arrays)
    nan: npt.NDArray[np.bool_] | None = None
    if policy == "propagate":
        stacked = np.zeros(len(split.mask), dtype=bool)
        for v in got.values():
            stacked |= np.isnan(v)
        if stacked.any():
            nan = stacked
            got = {
                k: np.where(stacked, 5.0 if k == "satisfaction" else 0.0, v) for k, v in got.items()
            }
    s = satisfaction_array(got.pop("satisfaction"))
    c = competition_array(got.pop("competition"))
    return s, c, nan, got, (split.rows if split.dropped else None)
