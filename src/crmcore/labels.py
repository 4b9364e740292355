"""Labels and ids to codes: one factorisation with one missing-value rule.

Every table, analytical function and import that turns per-row labels
(customer and opportunity ids, channels, products, stages, tiers, groups,
periods) into integer codes goes through :func:`factorize_labels`, and every
one that only needs the labels checked goes through :func:`check_labels`, so
the same input gets the same answer on every path.

The rule, applied to the whole array:

* **Missing values** are ``None``, a float NaN (Python or numpy), ``pandas.NA``,
  ``pandas.NaT``, numpy ``NaT``, a polars or Arrow null and the empty string
  (how CSV files and text columns write "no value"). They are refused with a
  :class:`~crmcore.errors.ValidationError` naming the argument, the first
  missing row and its value, and how many rows are missing in all. A column
  the caller documents as optional (``missing="code"``: a creation event's
  ``from_stage``, a row without product) gets the code ``-1`` there instead.
  The *strings* ``"nan"``, ``"None"`` and ``"<NA>"`` are ordinary labels.
* **Kinds**: strings, integers, booleans, bytes, ``datetime64`` /
  ``timedelta64`` values and Python dates are labels, taken as given (no
  conversion to text: ``1`` and ``"1"`` are different labels). One kind per
  array: an array that mixes kinds is refused, as is one whose values cannot
  be ordered (naive and aware datetimes).
* **Floats are refused** (a float id is nearly always an integer column that
  went through a missing value): pass integers or strings.
* The labels come back **sorted and unique**, with an ``int64`` code per row:
  ``labels[codes]`` is the input.

Accepted containers: numpy arrays, lists, tuples, pandas Series / Index /
Categorical (categories' codes are used directly), polars Series and Arrow
arrays; nothing is imported to recognise them.

>>> labels, codes = factorize_labels(["b", "a", "nan", "b"], name="customer_id")
>>> labels.tolist(), codes.tolist()
(['a', 'b', 'nan'], [1, 0, 2, 1])
>>> factorize_labels(["a", None, "b", float("nan")], name="customer_id")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'customer_id' must not contain missing labels: None at index 1 (2 missing in all)
>>> factorize_labels(["lead", None], name="from_stage", missing="code")[1].tolist()
[0, -1]
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import itertools
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from crmcore._messages import show as _show
from crmcore.errors import ArgumentTypeError, ValidationError

__all__ = [
    "MissingLabels",
    "check_labels",
    "factorize_labels",
    "factorize_together",
    "missing_mask",
]

MissingLabels = Literal["raise", "code"]
"""What :func:`factorize_labels` does with missing values: refuse them, or give them code -1."""

_CHUNK = 1 << 16  # rows compared at a time when checking the hash groups


def factorize_labels(
    values: Any, *, name: str, missing: MissingLabels = "raise"
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """Sorted unique labels and the ``int64`` code of every row (``labels[codes] == values``).

    ``name`` is the argument named in errors. With ``missing="code"`` missing
    rows get the code -1 instead of an error. Integers and dates take a
    linear-time path (a presence table) when their range is not much larger
    than their number; strings are hashed (one sort of integers, then one of
    the distinct labels), so millions of ids factorise in well under a second.

    >>> labels, codes = factorize_labels([30, 10, 30], name="segment")
    >>> labels.tolist(), codes.tolist()
    ([10, 30], [1, 0, 1])
    >>> factorize_labels(["a", 1], name="channel")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'channel' mixes label kinds: 'a' (str) at index 0 and 1 (int) at index 1; pass one kind (all strings, all integers or all dates)
    >>> factorize_labels([1.5], name="customer_id")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'customer_id' must hold strings, integers or dates, not floats: 1.5 at index 0
    """
    if missing not in ("raise", "code"):
        raise ValidationError(f"'missing' must be 'raise' or 'code': {missing!r}")
    cat = _categorical(values)
    if cat is not None:
        return _from_categorical(cat[0], cat[1], name=name, missing=missing)
    arr, miss = _prepare(values, name=name, missing=missing)
    labels, codes = _codes(arr, name=name)
    if miss is None:
        return labels, codes
    full = np.full(len(miss), -1, dtype=np.int64)
    full[~miss] = codes
    return labels, full


def factorize_together(
    parts: Sequence[Any], *, names: Sequence[str]
) -> tuple[npt.NDArray[Any], list[npt.NDArray[np.int64]]]:
    """One set of sorted labels for several label arrays, and the codes of each part.

    For labels that must mean the same thing in two inputs (the channels of
    spend and of customers, the ids of two snapshots): each part follows the
    rule of :func:`factorize_labels`, and parts of different kinds are
    refused (numpy would silently turn the integers into strings).

    >>> labels, (a, b) = factorize_together([["web", "tv"], ["tv", "mail"]], names=["spend", "customers"])
    >>> labels.tolist(), a.tolist(), b.tolist()
    (['mail', 'tv', 'web'], [2, 1], [1, 0])
    >>> factorize_together([[1, 2], ["a"]], names=["before_ids", "after_ids"])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'before_ids' (int) and 'after_ids' (str) must be labels of one kind (all strings, all integers or all dates)
    """
    if isinstance(parts, str | bytes | Mapping) or not isinstance(parts, Sequence):
        raise ArgumentTypeError(
            f"'parts' must be a list of label arrays, one per name: {_show(parts)}"
        )
    if not parts:
        raise ValidationError("'parts' must hold at least one label array: []")
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) != len(parts):
        raise ValidationError(f"'names' must name each of the {len(parts)} 'parts': {_show(names)}")
    arrays = [check_labels(part, name=name) for part, name in zip(parts, names, strict=True)]
    families = [(_family(a), name) for a, name in zip(arrays, names, strict=True) if len(a)]
    for fam, name in families[1:]:
        if fam != families[0][0]:
            raise ValidationError(
                f"{families[0][1]!r} ({families[0][0]}) and {name!r} ({fam}) must be labels of "
                "one kind (all strings, all integers or all dates)"
            )
    nonempty = [a for a in arrays if len(a)]
    both = np.concatenate(nonempty) if len(nonempty) > 1 else (nonempty or arrays)[0]
    labels, codes = _codes(both, name=" and ".join(names))
    bounds = np.cumsum([0] + [len(a) for a in arrays])
    return labels, [codes[lo:hi] for lo, hi in itertools.pairwise(bounds.tolist())]


def _family(arr: npt.NDArray[Any]) -> str:
    """The kind of a validated, non-empty label array, as named in errors."""
    kind = arr.dtype.kind
    if kind == "O":
        k = _kind_of(type(arr[0]))
        return _KIND_NAMES.get(_DATE if k is None else k, "object")
    return {"U": "str", "S": "bytes", "i": "int", "u": "int", "b": "bool"}.get(
        kind, "datetime64" if kind == "M" else "timedelta64"
    )


def check_labels(values: Any, *, name: str) -> npt.NDArray[Any]:
    """The labels as a validated 1-D numpy array (the rule of :func:`factorize_labels`, no codes).

    >>> check_labels(("x", "y"), name="channel").tolist()
    ['x', 'y']
    >>> check_labels(np.array(["2025-01", "NaT"], dtype="datetime64[M]"), name="period")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'period' must not contain missing labels: NaT at index 1 (1 missing in all)
    """
    arr, _ = _prepare(values, name=name, missing="raise")
    return arr


# -- containers -------------------------------------------------------------------------------
def _categorical(values: Any) -> tuple[Any, Any] | None:
    """``(codes, categories)`` of a pandas Categorical or category-typed Series, else None."""
    if isinstance(values, np.ndarray | list | tuple):
        return None
    cat = values if hasattr(values, "categories") else getattr(values, "cat", None)
    codes = getattr(cat, "codes", None)
    categories = getattr(cat, "categories", None)
    if codes is None or categories is None:
        return None
    return codes, categories


def _object_array(values: Any) -> npt.NDArray[Any]:
    arr = np.empty(len(values), dtype=object)
    try:
        arr[:] = values
    except ValueError:  # nested sequences: numpy reports the shape
        return np.asarray(values, dtype=object)
    return arr


def _as_array(values: Any) -> npt.NDArray[Any]:
    """A numpy array of the values, as given: lists are not coerced (``["a", nan]`` keeps its NaN).

    Polars, Arrow and pandas containers with nulls come back as Python
    objects, so an integer column's nulls do not turn its ids into floats.
    """
    if isinstance(values, np.ndarray):
        return values
    if isinstance(values, list | tuple):
        if values and isinstance(values[0], list | tuple | np.ndarray):
            return np.asarray(values, dtype=object)  # nested: its shape is reported
        return _object_array(values)
    package = type(values).__module__.split(".")[0]
    if package == "polars" and hasattr(values, "null_count"):
        if values.null_count():
            return _object_array(values.to_list())
        return np.asarray(values.to_numpy())
    if package == "pyarrow" and hasattr(values, "null_count"):
        if values.null_count:
            return _object_array(values.to_pylist())
        return np.asarray(values.to_numpy(zero_copy_only=False))
    if package == "pandas" and hasattr(values, "hasnans") and hasattr(values, "to_numpy"):
        return np.asarray(values.to_numpy(dtype=object) if values.hasnans else values.to_numpy())
    return np.asarray(values)


# -- the rule -----------------------------------------------------------------------------------
def _missing_error(miss: npt.NDArray[np.bool_], arr: npt.NDArray[Any], name: str) -> None:
    where = np.flatnonzero(miss)
    i = int(where[0])
    raise ValidationError(
        f"{name!r} must not contain missing labels: {_show(arr[i])} at index {i} "
        f"({len(where)} missing in all)"
    )


def _float_error(arr: npt.NDArray[Any], at: int, name: str) -> None:
    raise ValidationError(
        f"{name!r} must hold strings, integers or dates, not floats: {_show(arr[at])} at index {at}"
    )


def _prepare(
    values: Any, *, name: str, missing: MissingLabels
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]:
    """The non-missing labels in a canonical dtype, and the missing mask (None when none)."""
    arr = _as_array(values)
    if arr.ndim != 1:
        raise ValidationError(f"{name!r} must be 1-dimensional, got shape {arr.shape}")
    kind = arr.dtype.kind
    miss: npt.NDArray[np.bool_] | None = None
    if kind == "T":  # numpy StringDType (its own NA object, if any, is found below)
        arr, kind = arr.astype(object), "O"
    if kind in "fc":
        if not len(arr):
            return np.empty(0, dtype=str), None
        nan = np.isnan(arr)
        if nan.any():
            miss = nan
            if missing == "raise" or not nan.all():
                if missing == "raise":
                    _missing_error(nan, arr, name)
                _float_error(arr, int(np.flatnonzero(~nan)[0]), name)
            return np.empty(0, dtype=str), miss
        _float_error(arr, 0, name)
    if kind in "Mm":
        nat = np.isnat(arr)
        miss = nat if nat.any() else None
    elif kind in "US":
        empty = arr == arr.dtype.type()
        miss = empty if empty.any() else None
    elif kind == "O":
        return _prepare_objects(arr, name=name, missing=missing)
    elif kind not in "iub":
        raise ValidationError(
            f"{name!r} must hold strings, integers or dates: got an array of dtype {arr.dtype}"
        )
    if miss is None:
        return arr, None
    if missing == "raise":
        _missing_error(miss, arr, name)
    return arr[~miss], miss


_STR, _BYTES, _INT, _BOOL, _DT64, _TD64, _DATE, _FLOAT, _MISSING = range(9)
_KIND_NAMES = {
    _STR: "str",
    _BYTES: "bytes",
    _INT: "int",
    _BOOL: "bool",
    _DT64: "datetime64",
    _TD64: "timedelta64",
    _DATE: "date",
    _FLOAT: "float",
}


def _kind_of(t: type) -> int | None:
    if issubclass(t, str):
        return _STR
    if t is type(None) or t.__name__ in ("NAType", "NaTType"):
        return _MISSING
    if issubclass(t, bool | np.bool_):
        return _BOOL
    if issubclass(t, int | np.integer):
        return _INT
    if issubclass(t, float | np.floating | Decimal):
        return _FLOAT
    if issubclass(t, bytes):
        return _BYTES
    if issubclass(t, np.datetime64):
        return _DT64
    if issubclass(t, np.timedelta64):
        return _TD64
    if issubclass(t, _dt.date):
        return _DATE
    return None


def _prepare_objects(
    arr: npt.NDArray[Any], *, name: str, missing: MissingLabels
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]:
    """:func:`_prepare` for an object array: one pass over the types, then per kind."""
    if not len(arr):
        return np.empty(0, dtype=str), None
    tset = set(map(type, arr))
    if tset == {str}:  # the common case
        empty = arr == ""
        if not empty.any():
            return arr, None
        if missing == "raise":
            _missing_error(empty, arr, name)
        return arr[~empty], empty
    miss, kinds, unknown = _scan_objects(arr, tset)
    if unknown is not None:
        i = unknown
        raise ValidationError(
            f"{name!r} must hold strings, integers or dates: {arr[i]!r} "
            f"({type(arr[i]).__name__}) at index {i}"
        )
    if miss.any() and missing == "raise":
        _missing_error(miss, arr, name)
    if _FLOAT in kinds:
        _float_error(arr, int(np.argmax(kinds[_FLOAT])), name)
    if len(kinds) > 1:
        (k1, m1), (k2, m2) = sorted(kinds.items(), key=lambda kv: int(np.argmax(kv[1])))[:2]
        i, j = int(np.argmax(m1)), int(np.argmax(m2))
        raise ValidationError(
            f"{name!r} mixes label kinds: {_show(arr[i])} ({_KIND_NAMES[k1]}) at index {i} and "
            f"{_show(arr[j])} ({_KIND_NAMES[k2]}) at index {j}; pass one kind (all strings, "
            "all integers or all dates)"
        )
    mask = miss if miss.any() else None
    kept = arr if mask is None else arr[~mask]
    kind = next(iter(kinds), _STR)
    if kind == _INT:
        with contextlib.suppress(OverflowError):  # beyond 64 bits: Python ints, as objects
            kept = kept.astype(np.int64)
    elif kind == _BOOL:
        kept = kept.astype(bool)
    elif kind in (_DT64, _TD64):
        kept = np.array(kept.tolist())
    return kept, mask


# -- codes ------------------------------------------------------------------------------------
def _codes(arr: npt.NDArray[Any], *, name: str) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """Sorted unique labels and codes of validated, non-missing labels."""
    n = len(arr)
    kind = arr.dtype.kind
    if n and kind in "iubMm":
        fast = _integer_codes(arr)
        if fast is not None:
            return fast
    elif n and kind in "US":
        fast = _string_codes(arr)
        if fast is not None:
            return fast
    elif n and kind == "O" and isinstance(arr[0], str):
        fast = _object_string_codes(arr)
        if fast is not None:
            return fast
    try:
        labels, codes = np.unique(arr, return_inverse=True)
    except TypeError as e:
        raise ValidationError(f"{name!r} labels must be mutually comparable: {e}") from e
    return labels, codes.astype(np.int64, copy=False).reshape(-1)


def _integer_codes(
    arr: npt.NDArray[Any],
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]] | None:
    """Integers, booleans and dates through a presence table when their range is small."""
    if arr.dtype.kind in "Mm":
        ints = arr.view(np.int64)
    elif arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and int(arr.max()) >= 1 << 63:
        return None
    else:
        ints = arr.astype(np.int64, copy=False)
    lo, hi = int(ints.min()), int(ints.max())
    span = hi - lo + 1
    if span > max(4 * len(ints), 1 << 16):
        return None
    shifted = ints - lo if lo else ints
    present = np.bincount(shifted, minlength=span) > 0
    uniq = np.flatnonzero(present) + lo
    labels = uniq.view(arr.dtype) if arr.dtype.kind in "Mm" else uniq.astype(arr.dtype)
    if present.all():  # the labels are already the codes 0..G-1 (after the shift)
        return labels, shifted.astype(np.int64, copy=False)
    remap = np.cumsum(present) - 1
    return labels, remap[shifted].astype(np.int64, copy=False)


def _few_values(h: npt.NDArray[Any], *, limit: int) -> npt.NDArray[Any] | None:
    """Sorted distinct values of ``h`` if there are at most ``limit`` of them, else None."""
    if len(h) > 4 * limit and len(np.unique(h[: 64 * limit])) > limit:
        return None  # many distinct values already among the first rows
    found: list[Any] = []
    rest = h
    while len(rest):
        if len(found) == limit:
            return None
        v = rest[0]
        found.append(v)
        rest = rest[rest != v]
    return np.sort(np.array(found, dtype=h.dtype))


def _hash_groups(
    h: npt.NDArray[Any],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """First row of every distinct hash and every row's group (groups in hash order)."""
    few = _few_values(h, limit=32)
    if few is None:  # one unstable sort of the hashes (any row of a group represents it)
        order = np.argsort(h)
        hs = h[order]
        new = np.empty(len(h), dtype=bool)
        new[:1] = True
        np.not_equal(hs[1:], hs[:-1], out=new[1:])
        inv = np.empty(len(h), dtype=np.intp)
        inv[order] = np.cumsum(new) - 1
        return order[new], inv
    # low cardinality (channels, segments): k linear passes beat an n log n sort
    inv = np.searchsorted(few, h)
    first = np.array([int(np.argmax(h == u)) for u in few], dtype=np.intp)
    return first, inv


def _ranked(
    reps: npt.NDArray[Any], inv: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    order = np.argsort(reps)  # distinct labels: no ties to keep in order
    rank = np.empty(len(reps), dtype=np.int64)
    rank[order] = np.arange(len(reps))
    return reps[order], rank[inv]


def _string_codes(
    arr: npt.NDArray[Any],
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]] | None:
    """Fixed-width strings by hashing their machine words (sorts n integers, not n strings).

    None on a hash collision (the caller then sorts the strings).
    """
    size = arr.dtype.itemsize
    if size == 0:
        return None
    unit = np.uint64 if size % 8 == 0 else np.uint32 if size % 4 == 0 else np.uint8
    words: npt.NDArray[Any] = np.ascontiguousarray(arr).view(unit).reshape(len(arr), -1)
    # h = sum_j word_j * M**(J-1-j) mod 2**64 (FNV-style): one integer matmul reads the rows once
    n_words = words.shape[1]
    powers = np.array(
        [pow(0x100000001B3, n_words - 1 - j, 1 << 64) for j in range(n_words)], dtype=np.uint64
    )
    h = (words if unit is np.uint64 else words.astype(np.uint64)) @ powers
    first, inv = _hash_groups(h)
    reps_words = words[first]
    for start in range(0, len(arr), _CHUNK):
        stop = start + _CHUNK
        if not np.array_equal(words[start:stop], reps_words[inv[start:stop]]):
            return None
    return _ranked(arr[first], inv)


def _object_string_codes(
    arr: npt.NDArray[Any],
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]] | None:
    """Python strings by their (cached) hashes; labels as a numpy string array when exact."""
    h = np.fromiter(
        map(hash, arr.tolist()), dtype=np.int64, count=len(arr)
    )  # a list iterates faster
    first, inv = _hash_groups(h)
    reps = arr[first]
    if not bool(np.all(arr == reps[inv])):
        return None
    fixed = reps.astype(str)  # a fixed-width array sorts faster than Python strings
    # but numpy's fixed-width strings drop trailing NULs: then the labels stay Python strings
    if int(np.strings.str_len(fixed).sum()) == sum(map(len, reps.tolist())):
        reps = fixed
    return _ranked(reps, inv)


def _from_categorical(
    cat_codes: Any, categories: Any, *, name: str, missing: MissingLabels
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """A pandas Categorical: its categories are factorised, its codes remapped (no hashing)."""
    codes = np.asarray(cat_codes).astype(np.int64)
    cat_labels, cat_rank = factorize_labels(categories, name=name, missing="code")
    if len(cat_rank):  # an empty-string category is a missing value too
        codes = np.where(codes >= 0, cat_rank[np.maximum(codes, 0)], -1)
    gone = codes < 0
    if gone.any() and missing == "raise":
        raw = np.asarray(cat_codes)
        shown = np.asarray(categories, dtype=object)[np.maximum(raw, 0)]
        shown[raw < 0] = np.nan
        _missing_error(gone, shown, name)
    present = np.bincount(codes[~gone], minlength=len(cat_labels)) > 0
    remap = np.cumsum(present) - 1
    out = np.where(gone, -1, remap[np.maximum(codes, 0)]).astype(np.int64)
    return cat_labels[present], out


def _not_itself(v: Any) -> bool:
    """NaN and NaT are the values that differ from themselves (a signalling NaN raises)."""
    try:
        return bool(v != v)
    except ArithmeticError:
        return True


def _scan_objects(
    arr: npt.NDArray[Any], tset: set[type]
) -> tuple[npt.NDArray[np.bool_], dict[int, npt.NDArray[np.bool_]], int | None]:
    """Missing rows, the rows of each label kind, and the first row of an unknown type."""
    unknown: int | None = None
    tlist = list(tset)
    position = {t: j for j, t in enumerate(tlist)}
    tcode = np.fromiter(map(position.__getitem__, map(type, arr)), dtype=np.int64, count=len(arr))
    miss = np.zeros(len(arr), dtype=bool)
    kinds: dict[int, npt.NDArray[np.bool_]] = {}
    for j, t in enumerate(tlist):
        k = _kind_of(t)
        at = tcode == j
        if k is None:
            first = int(np.argmax(at))
            unknown = first if unknown is None else min(unknown, first)
            continue
        if k == _MISSING:
            miss |= at
            continue
        if k != _INT and k != _BOOL and k != _DATE:
            idx = np.flatnonzero(at)
            sub = arr[idx]
            if k == _STR:
                gone = sub == ""
            elif k == _BYTES:
                gone = sub == b""
            else:  # NaN and NaT are the values that differ from themselves
                gone = np.fromiter(map(_not_itself, sub), dtype=bool, count=len(sub))
            if gone.any():
                miss[idx[gone]] = True
                at[idx[gone]] = False
                if not at.any():
                    continue
        kinds[k] = at | kinds[k] if k in kinds else at
    return miss, kinds, unknown


def missing_mask(values: Any) -> npt.NDArray[np.bool_]:
    """Which rows hold a missing value under the rule of :func:`factorize_labels`.

    For callers that report missing cells themselves (the validated import's
    reject report) instead of refusing the whole column.

    >>> missing_mask(["a", None, float("nan"), "", "nan"]).tolist()
    [False, True, True, True, False]
    """
    arr = _as_array(values)
    kind = arr.dtype.kind
    if kind == "T":
        arr, kind = arr.astype(object), "O"
    if kind in "fc":
        return np.asarray(np.isnan(arr), dtype=bool)
    if kind in "Mm":
        return np.asarray(np.isnat(arr), dtype=bool)
    if kind in "US":
        return np.asarray(arr == arr.dtype.type(), dtype=bool)
    if kind == "O" and arr.ndim == 1 and len(arr):
        return _scan_objects(arr, set(map(type, arr)))[0]
    return np.zeros(arr.shape, dtype=bool)
