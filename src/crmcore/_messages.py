"""How a value is shown in an error message: one short, safe ``repr``.

Every crmcore message that quotes the caller's value goes through
:func:`show`, so a value reads the same whichever check refused it: numpy
scalars as plain numbers (``3``, not ``np.int64(3)``), missing markers by
name (``nan``, ``<NA>``, ``NaT``), long values cut to ``limit`` characters,
and an object whose own ``repr`` fails shown by its type.

>>> import numpy as np
>>> show(np.int64(3)), show(float("nan")), show("x" * 100)[-5:]
('3', 'nan', "x...'")
"""

from __future__ import annotations

import numpy as np

__all__ = ["show"]


def show(value: object, limit: int = 80) -> str:
    """A short ``repr`` of ``value`` for an error message (at most ``limit`` characters).

    >>> show(np.datetime64("NaT")), show(10**100)[:12], len(show(10**100))
    ('NaT', '100000000000', 80)
    """
    try:
        if isinstance(value, float | np.floating) and value != value:
            text = "nan"
        elif type(value).__name__ in ("NAType", "NaTType") or isinstance(
            value, np.datetime64 | np.timedelta64
        ):
            text = str(value)
        elif isinstance(value, np.generic):
            text = repr(value.item())
        else:
            text = repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        text = f"<{type(value).__name__} object>"
    if len(text) <= limit:
        return text
    closing = text[-1] if text[-1] in "'\"" else ""
    return text[: limit - 3 - len(closing)] + "..." + closing
