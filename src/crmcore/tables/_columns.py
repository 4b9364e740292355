"""Column helpers shared by the tables: id factorisation (timestamps: :mod:`crmcore.timestamps`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from crmcore.errors import ValidationError

__all__ = ["factorize"]


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
