"""Column helpers shared by the tables: id factorisation and UTC timestamp columns."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from crmcore.errors import ValidationError

__all__ = ["factorize", "to_datetime64", "to_python_datetimes"]

DT = np.dtype("datetime64[us]")


def factorize(
    values: npt.ArrayLike, *, name: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    """Codes (int64) and sorted unique labels of ``values`` (ids as str or int).

    >>> codes, labels = factorize(["b", "a", "b"], name="customer_id")
    >>> codes.tolist(), labels.tolist()
    ([1, 0, 1], ['a', 'b'])
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValidationError(f"{name!r} must be 1-dimensional, got shape {arr.shape}")
    if arr.dtype.kind == "O":
        bad = [v for v in arr[:1000] if not isinstance(v, str | int)]
        if bad:
            raise ValidationError(f"{name!r} must hold string or integer ids: {bad[0]!r}")
        arr = arr.astype(str)
    if arr.dtype.kind == "f":
        raise ValidationError(f"{name!r} must hold string or integer ids, not floats")
    labels, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64, copy=False), labels


def to_datetime64(values: Any, *, name: str) -> npt.NDArray[np.datetime64]:
    """UTC timestamps as ``datetime64[us]``.

    Accepts numpy datetime64 arrays (taken as UTC), ISO strings with or
    without offset (an offset is converted to UTC; strings without one are
    taken as UTC dates or times), aware ``datetime`` objects; naive
    ``datetime`` objects are rejected as ambiguous.

    >>> to_datetime64(["1997-01-01T00:00:00+08:00"], name="at").astype(str).tolist()
    ['1996-12-31T16:00:00.000000']
    """
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype(DT)
    if arr.dtype.kind in "iu":
        raise ValidationError(
            f"{name!r} must be timestamps, not integers (convert epoch numbers with "
            "np.asarray(x, dtype='datetime64[s]'))"
        )
    if arr.dtype.kind in "US":
        try:
            with warnings.catch_warnings():
                # numpy converts an ISO offset to UTC correctly but warns that it did
                warnings.simplefilter("ignore", UserWarning)
                return arr.astype(DT)
        except ValueError:
            pass
        # strings with an offset: parse one by one (edge case, not a hot path)
        arr = arr.astype(object)
    out = np.empty(arr.shape[0] if arr.ndim else 1, dtype=DT)
    for i, v in enumerate(np.atleast_1d(arr)):
        if isinstance(v, str):
            try:
                v = datetime.fromisoformat(v)
            except ValueError:
                raise ValidationError(
                    f"{name!r} must be ISO 8601 timestamps: {v!r} at index {i}"
                ) from None
            if v.tzinfo is None:
                v = v.replace(tzinfo=UTC)
        if not isinstance(v, datetime):
            raise ValidationError(f"{name!r} must be timestamps: {v!r} at index {i}")
        if v.tzinfo is None:
            raise ValidationError(
                f"{name!r} must be timezone-aware (naive datetimes are ambiguous): {v!r} at index {i}"
            )
        out[i] = np.datetime64(v.astimezone(UTC).replace(tzinfo=None), "us")
    return out


def to_python_datetimes(values: npt.NDArray[np.datetime64]) -> list[datetime]:
    """``datetime64`` values back to aware UTC datetimes.

    >>> to_python_datetimes(np.array(["2020-01-01"], dtype="datetime64[us]"))
    [datetime.datetime(2020, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)]
    """
    return [d.replace(tzinfo=UTC) for d in values.astype(DT).astype(object)]
