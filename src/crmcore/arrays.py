"""Validation of array inputs and the one NaN policy, shared by every analytical module.

Array functions in crmcore take array-likes, validate them once with these
helpers, and work on numpy arrays from then on. Messages name the argument,
the offending value and its position.

The NaN policy (``nan_policy=``) is the same everywhere:

* ``"raise"`` (default for fitting): any NaN is a :class:`~crmcore.errors.ValidationError`;
* ``"omit"``: rows with a NaN in any of the aligned inputs are dropped;
* ``"propagate"``: NaN rows give NaN results (element-wise functions only).

>>> import numpy as np
>>> x = as_float_array([1.0, 2.5], name="amount")
>>> x.dtype, x.shape
(dtype('float64'), (2,))
>>> kept = apply_nan_policy({"x": [1.0, np.nan, 3.0], "y": [1, 2, 3]}, policy="omit")
>>> kept.arrays["x"].tolist(), kept.mask.tolist()
([1.0, 3.0], [True, False, True])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.errors import ValidationError

__all__ = [
    "FloatArray",
    "IntArray",
    "NanPolicy",
    "NanSplit",
    "apply_nan_policy",
    "as_float_array",
    "as_int_array",
    "check_in_range",
    "check_integer_valued",
    "check_nonnegative",
    "check_same_length",
    "validate_nan_policy",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
NanPolicy: TypeAlias = Literal["propagate", "omit", "raise"]
_POLICIES = ("propagate", "omit", "raise")


def _first_bad(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def as_float_array(
    values: npt.ArrayLike,
    *,
    name: str,
    ndim: int | None = 1,
    allow_nan: bool = False,
    allow_inf: bool = False,
) -> FloatArray:
    """Convert ``values`` to a float64 array, rejecting non-numbers, NaN and inf by default.

    >>> as_float_array([1, 2], name="t").tolist()
    [1.0, 2.0]
    >>> as_float_array(["a"], name="t")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 't' must be numeric: could not convert ['a'] to float
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        shown = repr(values) if len(repr(values)) < 60 else repr(values)[:57] + "..."
        raise ValidationError(
            f"{name!r} must be numeric: could not convert {shown} to float"
        ) from e
    if ndim is not None and arr.ndim != ndim:
        if ndim == 1 and arr.ndim == 0:
            arr = arr.reshape(1)
        else:
            raise ValidationError(f"{name!r} must be {ndim}-dimensional, got shape {arr.shape}")
    if not allow_nan:
        nan = np.isnan(arr)
        if nan.any():
            i = _first_bad(nan.ravel())
            raise ValidationError(
                f"{name!r} must not contain NaN: found at index {i} "
                f"({int(nan.sum())} in all); use nan_policy='omit' to drop such rows"
            )
    if not allow_inf:
        inf = np.isinf(arr)
        if inf.any():
            i = _first_bad(inf.ravel())
            raise ValidationError(f"{name!r} must be finite: {arr.ravel()[i]} at index {i}")
    return arr


def as_int_array(values: npt.ArrayLike, *, name: str, ndim: int | None = 1) -> IntArray:
    """Convert integer-valued input to an int64 array; 2.0 is accepted, 2.5 is not.

    >>> as_int_array([1, 2.0], name="frequency").tolist()
    [1, 2]
    >>> as_int_array([1.5], name="frequency")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'frequency' must hold whole numbers: 1.5 at index 0
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        out = arr.astype(np.int64, copy=False)
        if ndim is not None and out.ndim != ndim:
            if ndim == 1 and out.ndim == 0:
                return out.reshape(1)
            raise ValidationError(f"{name!r} must be {ndim}-dimensional, got shape {out.shape}")
        return out
    f = as_float_array(arr, name=name, ndim=ndim)
    check_integer_valued(f, name=name)
    return f.astype(np.int64)


def check_integer_valued(arr: npt.NDArray[Any], *, name: str) -> None:
    """Raise unless every element is a whole number.

    >>> check_integer_valued(np.array([1.0, 2.0]), name="x")
    """
    frac = arr != np.floor(arr)
    if frac.any():
        i = _first_bad(frac.ravel())
        raise ValidationError(f"{name!r} must hold whole numbers: {arr.ravel()[i]} at index {i}")


def check_nonnegative(arr: npt.NDArray[Any], *, name: str, strict: bool = False) -> None:
    """Raise unless every element is >= 0 (or > 0 with ``strict``); NaN is left to the NaN policy.

    >>> check_nonnegative(np.array([0.0, 1.0]), name="T")
    >>> check_nonnegative(np.array([0.0]), name="T", strict=True)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'T' must be > 0: 0.0 at index 0
    """
    bad = arr <= 0 if strict else arr < 0
    if bad.any():
        i = _first_bad(bad.ravel())
        op = "> 0" if strict else ">= 0"
        raise ValidationError(f"{name!r} must be {op}: {arr.ravel()[i]} at index {i}")


def check_in_range(
    arr: npt.NDArray[Any],
    *,
    name: str,
    low: float,
    high: float,
    inclusive: tuple[bool, bool] = (True, True),
) -> None:
    """Raise unless every element lies in the interval (closed by default).

    >>> check_in_range(np.array([1, 5]), name="csat", low=1, high=5)
    >>> check_in_range(np.array([6]), name="csat", low=1, high=5)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'csat' must be in [1, 5]: 6 at index 0
    """
    lo_ok = arr >= low if inclusive[0] else arr > low
    hi_ok = arr <= high if inclusive[1] else arr < high
    bad = ~(lo_ok & hi_ok)
    if bad.any():
        i = _first_bad(bad.ravel())
        lb = "[" if inclusive[0] else "("
        rb = "]" if inclusive[1] else ")"
        raise ValidationError(
            f"{name!r} must be in {lb}{low:g}, {high:g}{rb}: {arr.ravel()[i]} at index {i}"
        )


def check_same_length(**arrays: npt.NDArray[Any]) -> int:
    """Raise unless all arrays have the same length; return it.

    >>> check_same_length(x=np.zeros(3), t=np.zeros(3))
    3
    >>> check_same_length(x=np.zeros(3), t=np.zeros(2))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: inputs must have the same length: x has 3, t has 2
    """
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ValidationError(f"inputs must have the same length: {shown}")
    return next(iter(lengths.values()), 0)


def validate_nan_policy(policy: str) -> NanPolicy:
    """Return ``policy`` if it is one of the three policies, else raise.

    >>> validate_nan_policy("omit")
    'omit'
    """
    if policy not in _POLICIES:
        raise ValidationError(f"'nan_policy' must be one of {_POLICIES}: {policy!r}")
    return policy  # type: ignore[return-value]


@attrs.frozen
class NanSplit:
    """Aligned arrays after the NaN policy, and the mask of rows kept (True = kept)."""

    arrays: Mapping[str, FloatArray]
    mask: npt.NDArray[np.bool_]

    @property
    def dropped(self) -> int:
        """How many rows were dropped.

        >>> apply_nan_policy({"x": [1.0, float("nan")]}, policy="omit").dropped
        1
        """
        return int((~self.mask).sum())


def apply_nan_policy(arrays: Mapping[str, npt.ArrayLike], *, policy: str = "raise") -> NanSplit:
    """Apply the NaN policy once to aligned inputs (same length, 1-D).

    ``raise`` rejects any NaN naming the argument and index; ``omit`` keeps the
    rows where no input is NaN; ``propagate`` keeps every row (the caller's
    arithmetic turns NaN rows into NaN results). Infinite values are always
    rejected.

    >>> apply_nan_policy({"x": [1.0, float("nan")]}, policy="raise")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'x' must not contain NaN: found at index 1 (1 in all); use nan_policy='omit' to drop such rows
    """
    pol = validate_nan_policy(policy)
    converted = {k: as_float_array(v, name=k, allow_nan=pol != "raise") for k, v in arrays.items()}
    n = check_same_length(**converted)
    mask = np.ones(n, dtype=bool)
    if pol == "omit":
        for v in converted.values():
            mask &= ~np.isnan(v)
        if not mask.all():
            converted = {k: v[mask] for k, v in converted.items()}
    return NanSplit(arrays=converted, mask=mask)
