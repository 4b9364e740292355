"""Field validators of the view and report results that ``crmcore._results`` has no form
for: columns of labels where None means "none" (a channel, a name), and instants where
NaT means "never" (a last touch).

>>> import attrs, numpy as np
>>> @attrs.frozen(eq=False)
... class Row:
...     channel: np.ndarray = attrs.field(validator=optional_labels)
>>> Row(np.array(["phone", None], dtype=object)).channel.tolist()
['phone', None]
>>> Row(np.array([float("nan")], dtype=object))
Traceback (most recent call last):
crmcore.errors.ValidationError: Row: 'channel' must be a 1-D object array of non-empty strings or None: nan at index 0
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from crmcore.errors import ValidationError

__all__ = ["instants_or_nat", "objects", "optional_labels"]


def objects(values: Any) -> np.ndarray[Any, np.dtype[np.object_]]:
    """A 1-D object array of ``values`` (strings and None kept as they are)."""
    items = list(values)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def optional_labels(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a 1-D object array whose items are non-empty strings or None."""
    expected = "a 1-D object array of non-empty strings or None"
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind != "O":
        raise ValidationError(
            f"{type(inst).__name__}: {attribute.name!r} must be {expected}: {value!r}"[:300]
        )
    for i, item in enumerate(value):
        if item is not None and (not isinstance(item, str) or not item):
            raise ValidationError(
                f"{type(inst).__name__}: {attribute.name!r} must be {expected}: {item!r} at "
                f"index {i}"
            )


def instants_or_nat(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a 1-D ``datetime64[us]`` array (NaT: never)."""
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype != "datetime64[us]":
        raise ValidationError(
            f"{type(inst).__name__}: {attribute.name!r} must be a 1-D datetime64[us] array "
            f"(NaT: none): {value!r}"[:300]
        )
