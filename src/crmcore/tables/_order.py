"""The one total order of transactions: customer, then time, then transaction id.

Every reader of transactions (``read_log`` on every backend, the batch anomaly
engine, :meth:`TransactionLog.sorted`) orders rows with :func:`total_order`,
so that two transactions of one customer at the same instant come in the same
order everywhere: by transaction id, compared by code point (Python's ``str``
order, which is also the byte order of their UTF-8 text). Rows without ids
keep their row order among ties (a stable sort).

>>> import numpy as np
>>> total_order(np.array([0, 0, 0]), np.array([5, 5, 1]), np.array(["t-9", "t-10", "t-1"], dtype=object)).tolist()
[2, 1, 0]
>>> total_order(np.array([0, 1]), np.array([5, 1]), None) is None
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["tie_rows", "total_order"]

IntArray = npt.NDArray[np.int64]


def _id_text(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The ids as an object array of ``str`` (an int id orders as its text)."""
    out = np.empty(len(values), dtype=object)
    out[:] = [v if type(v) is str else str(v) for v in values.tolist()]
    return out


def tie_rows(customer: npt.NDArray[Any], micros: npt.NDArray[Any]) -> IntArray:
    """Positions ``i`` of rows ordered by (customer, time) whose next row has the same
    customer and time (the ties that the transaction id decides).

    >>> tie_rows(np.array([0, 0, 0, 1]), np.array([1, 1, 2, 2])).tolist()
    [0]
    """
    if len(customer) < 2:
        return np.zeros(0, dtype=np.int64)
    same = (customer[1:] == customer[:-1]) & (micros[1:] == micros[:-1])
    return np.flatnonzero(same).astype(np.int64)


def _ids_ordered(ids: npt.NDArray[Any], ties: IntArray) -> bool:
    a, b = _id_text(ids[ties]), _id_text(ids[ties + 1])
    return bool(np.all(a <= b))


def total_order(
    customer: npt.NDArray[Any], micros: npt.NDArray[Any], ids: npt.NDArray[Any] | None
) -> IntArray | None:
    """The permutation that orders rows by (customer code, time, transaction id), or None
    when the rows are in that order already (the common case of a log read from a
    repository costs two comparisons per row and one per tie).

    ``customer`` are int codes, ``micros`` int times (any integer or datetime64 array),
    ``ids`` the transaction ids (None: ties keep their row order).
    """
    c = np.asarray(customer)
    t = np.asarray(micros)
    if t.dtype.kind == "M":
        t = t.astype("datetime64[us]").view(np.int64)
    n = len(c)
    if n < 2:
        return None
    dc = np.diff(c)
    order: IntArray | None = None
    if not ((dc >= 0).all() and ((dc > 0) | (np.diff(t) >= 0)).all()):
        tmin = int(t.min())
        span = int(t.max()) - tmin + 1
        if (int(c.max()) + 1) * span < 2**62:
            order = np.argsort(c * span + (t - tmin), kind="stable").astype(np.int64)
        else:
            order = np.lexsort((t, c)).astype(np.int64)
    if ids is None:
        return order
    cs, ts, idv = (c, t, ids) if order is None else (c[order], t[order], ids[order])
    ties = tie_rows(cs, ts)
    if not len(ties) or _ids_ordered(idv, ties):
        return order
    # sort each run of equal (customer, time) by id; runs stay where they are
    start = np.ones(n, dtype=bool)
    start[ties + 1] = False
    run = np.cumsum(start) - 1
    in_tie = np.zeros(n, dtype=bool)
    in_tie[ties] = True
    in_tie[ties + 1] = True
    rows = np.flatnonzero(in_tie)
    sub = rows[np.lexsort((_id_text(idv[rows]), run[rows]))]
    perm = np.arange(n, dtype=np.int64)
    perm[rows] = sub
    return perm if order is None else order[perm]
