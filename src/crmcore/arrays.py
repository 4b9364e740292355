"""Validation of array inputs and the one NaN policy, shared by every analytical module.

Array functions in crmcore take array-likes, validate them once with these
helpers, and work on numpy arrays from then on. Messages name the argument,
the offending value and its position. Aligned inputs must have the same
length; this is checked before anything is broadcast, and the message names
every argument with its length. Scalar options (probabilities, counts,
horizons, seeds, method names) are checked by :mod:`crmcore.options`.

The NaN policy (``nan_policy=``) means the same in every function that takes
it. A row is *missing* when any of the function's aligned inputs is NaN in
that row. Infinite values are never missing: they are refused unless a
function documents them.

============  ==========================  ===========================  ======================
policy        element-wise functions      rankings and scores          aggregates
              (one result per row)        (a row's result depends on   (one result from
                                          the other rows)              all rows)
============  ==========================  ===========================  ======================
``raise``     a missing row is a          same                         same
              ValidationError naming the
              argument, the first row
              and how many in all
``omit``      missing rows are left out:  ranks among the rows kept;   computed over the
              ``f(x, nan_policy="omit")   the result holds the rows    rows kept
              == f(x[~missing])``; every  kept, and every index or
              index or order a result     order refers to the
              returns is a row number     caller's rows
              of the caller's input
``propagate`` a missing row gives NaN in  a missing row is unranked    the result is NaN
              that row's result; the      (NaN, or the documented
              other rows are unaffected   "unscored" value of an
                                          integer score) and does not
                                          move the others' ranks
============  ==========================  ===========================  ======================

A function for which one of the policies has no meaning (a survey summary
cannot propagate a missing answer) refuses it with a message that says which
policies it takes.

>>> import numpy as np
>>> x = as_float_array([1.0, 2.5], name="amount")
>>> x.dtype, x.shape
(dtype('float64'), (2,))
>>> kept = apply_nan_policy({"x": [1.0, np.nan, 3.0], "y": [1, 2, 3]}, policy="omit")
>>> kept.arrays["x"].tolist(), kept.mask.tolist(), kept.to_caller([1]).tolist()
([1.0, 3.0], [True, False, True], [2])
>>> prop = apply_nan_policy({"x": [1.0, np.nan, 3.0]}, policy="propagate")
>>> prop.fill(prop.clean()["x"] * 10).tolist()
[10.0, nan, 30.0]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._messages import show as _show
from crmcore.errors import ArgumentTypeError, ValidationError

__all__ = [
    "FloatArray",
    "IntArray",
    "NanPolicy",
    "NanSplit",
    "apply_nan_policy",
    "as_float_array",
    "as_int_array",
    "check_exact_total",
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
_INT64_MAX = 2**63 - 1
_EXACT_TOTAL = 2.0**53  # integers up to here are exact in float64


def _first_bad(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _refuse_non_values(values: object, *, name: str) -> None:
    """None, a string or a mapping where numbers go: refused naming the argument."""
    if values is None or isinstance(values, str | bytes | Mapping):
        raise ArgumentTypeError(
            f"{name!r} must be numeric: could not convert {_show(values)} to numbers"
        )


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
    >>> as_float_array([True, False], name="amount")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'amount' must hold numbers, not booleans
    >>> as_float_array(np.array(["1000", "600"]), name="counts")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'counts' must hold numbers, not text: '1000' at index 0

    Booleans are refused as in :func:`as_int_array` (one rule for numbers): a
    caller that means a flag as 0/1 converts it explicitly.
    """
    _refuse_non_values(values, name=name)
    if isinstance(values, np.ndarray) and values.dtype.kind in "US":
        # text is not a number, even text that reads as one ('1000')
        raise ValidationError(
            f"{name!r} must hold numbers, not text: {_show(values.ravel()[0])} at index 0"
        )
    try:
        if isinstance(values, np.ndarray) or hasattr(values, "dtype"):  # arrays, Series
            arr = np.asarray(values)
            if arr.dtype.kind == "c":  # astype would drop the imaginary part
                raise TypeError("complex numbers are not real numbers")
            if arr.dtype.kind != "b":
                arr = arr.astype(np.float64, copy=False)
        elif _leads_with_bool(values):  # the only way a list can be all booleans
            arr = np.asarray(values)
            if arr.dtype.kind != "b":
                arr = arr.astype(np.float64, copy=False)
        else:  # lists of numbers: one conversion (no dtype inference pass)
            arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as e:
        shown = repr(values) if len(repr(values)) < 60 else repr(values)[:57] + "..."
        raise ValidationError(
            f"{name!r} must be numeric: could not convert {shown} to float"
        ) from e
    if arr.dtype.kind == "b":
        raise ValidationError(f"{name!r} must hold numbers, not booleans")
    if ndim is not None and arr.ndim != ndim:
        if ndim == 1 and arr.ndim == 0:
            arr = arr.reshape(1)
        else:
            raise ValidationError(f"{name!r} must be {ndim}-dimensional, got shape {arr.shape}")
    if (not allow_nan or not allow_inf) and _all_finite(arr):
        return arr  # the common case, proved by one sum instead of two element-wise passes
    if not allow_nan:
        _refuse_nan(arr, name=name)
    if not allow_inf:
        inf = np.isinf(arr)
        if inf.any():
            i = _first_bad(inf.ravel())
            raise ValidationError(f"{name!r} must be finite: {arr.ravel()[i]} at index {i}")
    return arr


def _leads_with_bool(values: object) -> bool:
    """True when the first scalar of a (nested) list is a boolean: O(depth)."""
    while isinstance(values, list | tuple) and values:
        values = values[0]
    return isinstance(values, bool | np.bool_)


def _all_finite(arr: FloatArray) -> bool:
    """True when no element is NaN or infinite, by one pairwise sum (no temporary array).

    A NaN or an infinity anywhere makes the sum NaN or infinite; a sum of
    finite values that overflows only sends the caller to the exact checks.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.add.reduce(arr, axis=None)))


def _refuse_nan(arr: FloatArray, *, name: str, hint: str = "") -> None:
    if _all_finite(arr):
        return
    nan = np.isnan(arr)
    if nan.any():
        i = _first_bad(nan.ravel())
        raise ValidationError(
            f"{name!r} must not contain NaN: found at index {i} ({int(nan.sum())} in all){hint}"
        )


def _refuse_big_ints(values: Sequence[object], *, name: str) -> None:
    for i, v in enumerate(values):
        if isinstance(v, int) and not -(2**63) <= v <= _INT64_MAX:
            raise ValidationError(
                f"{name!r} must be within the 64-bit integer range: {_show(v)} at index {i}"
            )


def as_int_array(values: npt.ArrayLike, *, name: str, ndim: int | None = 1) -> IntArray:
    """Convert integer-valued input to an int64 array; 2.0 is accepted, 2.5 is not.

    Values outside the signed 64-bit range are refused rather than wrapped
    around, and so are NaN and infinite values.

    >>> as_int_array([1, 2.0], name="frequency").tolist()
    [1, 2]
    >>> as_int_array([1.5], name="frequency")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'frequency' must hold whole numbers: 1.5 at index 0
    >>> as_int_array([2**63], name="quantity")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'quantity' must be within the 64-bit integer range: 9223372036854775808 at index 0
    """
    _refuse_non_values(values, name=name)
    if isinstance(values, list | tuple):  # Python ints: check before numpy rounds them to float
        _refuse_big_ints(values, name=name)
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError, OverflowError) as e:
        raise ValidationError(f"{name!r} must hold whole numbers: {e}") from e
    if arr.dtype.kind == "b":
        raise ValidationError(f"{name!r} must hold whole numbers, not booleans")
    if arr.dtype.kind == "u" and arr.dtype.itemsize >= 8:
        big = arr > np.uint64(_INT64_MAX)
        if big.any():
            i = _first_bad(big.ravel())
            raise ValidationError(
                f"{name!r} must be within the 64-bit integer range: {_show(arr.ravel()[i])} at index {i}"
            )
    if arr.dtype.kind in "iu":
        out = arr.astype(np.int64, copy=False)
        if ndim is not None and out.ndim != ndim:
            if ndim == 1 and out.ndim == 0:
                return out.reshape(1)
            raise ValidationError(f"{name!r} must be {ndim}-dimensional, got shape {out.shape}")
        return out
    if arr.dtype.kind == "O":
        _refuse_big_ints(arr.ravel().tolist(), name=name)
    f = as_float_array(arr, name=name, ndim=ndim)
    check_integer_valued(f, name=name)
    out_of_range = (f >= 2.0**63) | (f < -(2.0**63))
    if out_of_range.any():
        i = _first_bad(out_of_range.ravel())
        raise ValidationError(
            f"{name!r} must be within the 64-bit integer range: {_show(f.ravel()[i])} at index {i}"
        )
    return f.astype(np.int64)


def _numeric(arr: object, name: str) -> npt.NDArray[Any]:
    """``arr`` when it is a numeric numpy array, else converted (or refused) by :func:`as_float_array`."""
    if isinstance(arr, np.ndarray) and arr.dtype.kind in "biuf":
        return arr
    return as_float_array(arr, name=name, ndim=None, allow_nan=True, allow_inf=True)  # type: ignore[arg-type]


def check_integer_valued(arr: npt.NDArray[Any], *, name: str) -> None:
    """Raise unless every element is a whole number.

    >>> check_integer_valued(np.array([1.0, 2.0]), name="x")
    """
    arr = _numeric(arr, name)
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
    arr = _numeric(arr, name)
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
    arr = _numeric(arr, name)
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


def check_exact_total(arr: npt.NDArray[Any], *, name: str, unit: str) -> float:
    """The sum of counts (or weights counting things), refused beyond 2**53, where a count of
    ``unit`` is no longer exact in float64; returns the sum.

    >>> check_exact_total(np.array([2.0, 3.0]), name="weights", unit="customers")
    5.0
    >>> check_exact_total(np.array([1e308, 1e308]), name="total", unit="responses")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'total' must sum to at most 2**53 responses: inf
    """
    with np.errstate(over="ignore"):  # an overflowing sum is refused by name below
        total = float(_numeric(arr, name).sum())
    if not 0.0 <= total <= _EXACT_TOTAL:  # NaN, infinities and negative sums too
        raise ValidationError(f"{name!r} must sum to at most 2**53 {unit}: {total:g}")
    return total


def check_same_length(**arrays: npt.NDArray[Any]) -> int:
    """Raise unless all arrays have the same length; return it.

    >>> check_same_length(x=np.zeros(3), t=np.zeros(3))
    3
    >>> check_same_length(x=np.zeros(3), t=np.zeros(2))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: inputs must have the same length: x has 3, t has 2
    """
    for k, v in arrays.items():
        if not hasattr(v, "__len__") or isinstance(v, str | bytes | Mapping) or np.ndim(v) == 0:
            raise ArgumentTypeError(f"{k!r} must be an array of values: {_show(v)}")
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ValidationError(f"inputs must have the same length: {shown}")
    return next(iter(lengths.values()), 0)


def validate_nan_policy(
    policy: str, *, allowed: Collection[str] = _POLICIES, what: str = "this function"
) -> NanPolicy:
    """Return ``policy`` if it is one of the three policies, else raise.

    A function for which a policy has no meaning passes the ones it takes as
    ``allowed`` and names itself in ``what``.

    >>> validate_nan_policy("omit")
    'omit'
    >>> validate_nan_policy("propagate", allowed=("raise", "omit"), what="a curve")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'nan_policy' 'propagate' has no meaning for a curve: it takes 'raise' or 'omit'
    """
    if not isinstance(policy, str) or policy not in _POLICIES:
        raise ValidationError(f"'nan_policy' must be one of {_POLICIES}: {policy!r}")
    if policy not in allowed:
        takes = " or ".join(repr(p) for p in allowed)
        raise ValidationError(
            f"'nan_policy' {policy!r} has no meaning for {what}: it takes {takes}"
        )
    return policy  # type: ignore[return-value]


@attrs.frozen
class NanSplit:
    """Aligned inputs after the NaN policy.

    ``arrays`` are the rows the function works on: all rows for ``raise`` and
    ``propagate``, the rows kept for ``omit``. ``mask`` marks, over the
    caller's rows, the rows in ``arrays`` (all True unless ``omit`` dropped
    some); ``complete`` marks, over the rows of ``arrays``, those with no NaN.
    """

    arrays: Mapping[str, FloatArray]
    mask: npt.NDArray[np.bool_]
    complete: npt.NDArray[np.bool_]
    policy: NanPolicy = "raise"

    @property
    def dropped(self) -> int:
        """How many rows were dropped.

        >>> apply_nan_policy({"x": [1.0, float("nan")]}, policy="omit").dropped
        1
        """
        if self.policy != "omit":
            return 0
        return int(len(self.mask) - np.count_nonzero(self.mask))

    @property
    def has_missing(self) -> bool:
        """Whether any row of ``arrays`` holds a NaN (only possible with ``propagate``).

        >>> apply_nan_policy({"x": [float("nan")]}, policy="propagate").has_missing
        True
        """
        return not bool(self.complete.all())

    @property
    def rows(self) -> IntArray:
        """The caller's row numbers of the rows in ``arrays``.

        >>> apply_nan_policy({"x": [float("nan"), 2.0]}, policy="omit").rows.tolist()
        [1]
        """
        return np.flatnonzero(self.mask).astype(np.int64, copy=False)

    def to_caller(self, indices: npt.ArrayLike) -> IntArray:
        """Row numbers into ``arrays`` mapped to the caller's row numbers.

        >>> apply_nan_policy({"x": [float("nan"), 2.0, 3.0]}, policy="omit").to_caller([0, 1]).tolist()
        [1, 2]
        """
        idx = np.asarray(indices, dtype=np.int64)
        if self.mask.all():
            return idx
        return self.rows[idx]

    def clean(self) -> dict[str, FloatArray]:
        """The rows of ``arrays`` that hold no NaN (all of them unless ``propagate`` kept some).

        >>> apply_nan_policy({"x": [float("nan"), 2.0]}, policy="propagate").clean()["x"].tolist()
        [2.0]
        """
        if not self.has_missing:
            return dict(self.arrays)
        return {k: v[self.complete] for k, v in self.arrays.items()}

    def fill(self, values: npt.ArrayLike, fill_value: float = np.nan) -> FloatArray:
        """Per-row results computed on :meth:`clean` rows, placed back on the rows of ``arrays``.

        Rows with a NaN input get ``fill_value`` (NaN: the ``propagate`` rule).

        >>> s = apply_nan_policy({"x": [1.0, float("nan")]}, policy="propagate")
        >>> s.fill([5.0]).tolist()
        [5.0, nan]
        """
        v = np.asarray(values, dtype=np.float64)
        if not self.has_missing:
            return v
        out = np.full(len(self.complete), fill_value, dtype=np.float64)
        out[self.complete] = v
        return out


def apply_nan_policy(
    arrays: Mapping[str, npt.ArrayLike],
    *,
    policy: str = "raise",
    broadcast: Collection[str] = (),
    allow_inf: bool = False,
) -> NanSplit:
    """Apply the NaN policy once to aligned 1-D inputs (see the table in this module's doc).

    Lengths are checked before anything is broadcast: only the inputs named
    in ``broadcast`` may be scalars, which are then repeated to the common
    length. ``raise`` rejects any NaN naming the argument and row; ``omit``
    keeps the rows where no input is NaN; ``propagate`` keeps every row and
    marks the incomplete ones in ``complete``. Infinite values are rejected
    unless ``allow_inf``.

    >>> apply_nan_policy({"x": [1.0, float("nan")]}, policy="raise")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'x' must not contain NaN: found at index 1 (1 in all); use nan_policy='omit' to drop such rows
    >>> apply_nan_policy({"x": [1.0, 2.0], "t": [1.0, 2.0, 3.0]})
    Traceback (most recent call last):
    crmcore.errors.ValidationError: inputs must have the same length: x has 2, t has 3
    >>> apply_nan_policy({"x": [1.0, 2.0], "t": 4.0}, broadcast=("t",)).arrays["t"].tolist()
    [4.0, 4.0]
    """
    if not isinstance(arrays, Mapping) or not all(isinstance(k, str) for k in arrays):
        raise ArgumentTypeError(f"'arrays' must be a mapping of names to arrays: {_show(arrays)}")
    pol = validate_nan_policy(policy)
    converted: dict[str, FloatArray] = {}
    scalars: dict[str, FloatArray] = {}
    incomplete: list[str] = []  # the inputs that may hold NaN
    for k, v in arrays.items():
        if k in broadcast and np.ndim(v) == 0:
            scalars[k] = as_float_array(v, name=k, ndim=None, allow_inf=allow_inf)
            if np.isnan(scalars[k]):
                raise ValidationError(f"{k!r} must be a number, not NaN")
            continue
        arr = as_float_array(v, name=k, allow_nan=True, allow_inf=True)
        if not _all_finite(arr):  # one sum proves the common case; the exact checks otherwise
            if pol == "raise":
                _refuse_nan(arr, name=k, hint="; use nan_policy='omit' to drop such rows")
            if not allow_inf:
                as_float_array(arr, name=k, allow_nan=True)  # raises naming the infinite value
            incomplete.append(k)
        converted[k] = arr
    n = check_same_length(**converted) if converted else 1
    for k, v in scalars.items():
        converted[k] = np.full(n, float(v), dtype=np.float64)
    converted = {k: converted[k] for k in arrays}
    # all rows kept and complete: one read-only all-True array serves as both masks
    all_rows = np.ones(n, dtype=bool)
    all_rows.flags.writeable = False
    complete = all_rows
    if pol != "raise" and incomplete:
        complete = np.ones(n, dtype=bool)
        for k in incomplete:
            complete &= ~np.isnan(converted[k])
    mask = all_rows
    if pol == "omit" and not complete.all():
        mask = complete
        converted = {k: v[mask] for k, v in converted.items()}
        complete = np.ones(len(next(iter(converted.values()))), dtype=bool)
    return NanSplit(arrays=converted, mask=mask, complete=complete, policy=pol)
