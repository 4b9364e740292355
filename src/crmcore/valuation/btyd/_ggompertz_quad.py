"""Adaptive Gauss-Legendre quadrature of many integrals at once, in log space.

``adaptive_nodes(logf, edges)`` integrates ``exp(logf)`` over each row's interval (split
at the row's initial ``edges``) and returns the accepted nodes: a panel is accepted when
its 16-point and 8-point Gauss-Legendre sums agree to ``tol`` of the row's total, and is
bisected otherwise. Every row is refined only where it needs it, all rows in one
vectorised pass per round. The result is a flat set of nodes ``(row, v, logw)`` with
``sum(exp(logw))`` over a row equal to its integral: the value and every moment under
the integrand (a likelihood's derivatives) are sums over the same nodes.

>>> import numpy as np
>>> edges = np.array([[0.0, 1.0], [0.0, 2.0]])
>>> nodes = adaptive_nodes(lambda rows, v: -v, edges)  # ∫ e^-v
>>> [round(float(v), 12) for v in np.exp(row_logsum(nodes, 2))]
[0.632120558829, 0.864664716763]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray

__all__ = ["Nodes", "adaptive_nodes", "at_rows", "row_logsum", "row_sum"]

_X16, _W16 = np.polynomial.legendre.leggauss(16)
_X8, _W8 = np.polynomial.legendre.leggauss(8)
_LOG_W16 = np.log(_W16)
_ROUNDS = 60  # bisections of one panel at most (a width of 2**-60 of the interval)
_OVER = 600.0  # largest log-ratio to a row's reference kept in linear space

IntArray = npt.NDArray[np.intp]
LogF = Callable[[IntArray, FloatArray], FloatArray]
"""(rows (m,), points (m, q)) -> log of the integrand at the points of those rows."""


class Nodes(NamedTuple):
    """Accepted quadrature nodes: the row of each node, its point and log(weight x f)."""

    row: IntArray
    v: FloatArray
    logw: FloatArray


def at_rows(value: float | FloatArray, rows: IntArray) -> float | FloatArray:
    """A per-row parameter at ``rows`` as a column (a scalar as it is)."""
    if np.ndim(value) == 0:
        return value
    out: FloatArray = np.asarray(value)[rows][:, None]
    return out


def adaptive_nodes(logf: LogF, edges: FloatArray, *, tol: float = 1e-9) -> Nodes:
    """The nodes of ∫ exp(logf) over each row of ``edges`` ((n, k) initial panel edges,
    non-decreasing; empty panels are skipped), refined until every panel's 16- and
    8-point sums agree to ``tol`` of the row's integral (see the module docstring)."""
    n, k = edges.shape
    a = edges[:, :-1].ravel()
    b = edges[:, 1:].ravel()
    rows = np.repeat(np.arange(n), k - 1)
    keep = b > a
    rows, a, b = rows[keep], a[keep], b[keep]
    ref = np.full(n, -np.inf)
    total = np.zeros(n)
    out_rows: list[IntArray] = []
    out_v: list[FloatArray] = []
    out_l: list[FloatArray] = []
    for depth in range(_ROUNDS + 1):
        if not len(rows):
            break
        half = (b - a) / 2
        mid = (a + b) / 2
        v16 = mid[:, None] + half[:, None] * _X16
        with np.errstate(all="ignore"):
            l16 = np.asarray(logf(rows, v16), dtype=np.float64)
            l8 = np.asarray(logf(rows, mid[:, None] + half[:, None] * _X8), dtype=np.float64)
        l16 = np.where(np.isnan(l16), -np.inf, l16)
        l8 = np.where(np.isnan(l8), -np.inf, l8)
        if depth == 0:
            np.maximum.at(ref, rows, l16.max(axis=1))
            ref = np.where(np.isfinite(ref), ref, 0.0)
        r = ref[rows][:, None]
        e16 = np.exp(np.minimum(l16 - r, _OVER)) @ _W16 * half
        e8 = np.exp(np.minimum(l8 - r, _OVER)) @ _W8 * half
        row_total = total + np.bincount(rows, weights=e16, minlength=n)
        done = np.abs(e16 - e8) <= tol * row_total[rows]
        if depth == _ROUNDS:
            done[:] = True
        if done.any():
            out_rows.append(np.repeat(rows[done], 16))
            out_v.append(v16[done].ravel())
            out_l.append((l16[done] + np.log(half[done])[:, None] + _LOG_W16).ravel())
            total += np.bincount(rows[done], weights=e16[done], minlength=n)
        split = ~done
        rows, a, b, mid = rows[split], a[split], b[split], mid[split]
        rows = np.concatenate([rows, rows])
        a, b = np.concatenate([a, mid]), np.concatenate([mid, b])
    if not out_rows:
        return Nodes(np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0))
    return Nodes(np.concatenate(out_rows), np.concatenate(out_v), np.concatenate(out_l))


def row_logsum(nodes: Nodes, n: int) -> FloatArray:
    """ln Σ exp(logw) per row (-inf for a row without nodes or with a zero integral)."""
    top = np.full(n, -np.inf)
    np.maximum.at(top, nodes.row, nodes.logw)
    safe = np.where(np.isfinite(top), top, 0.0)
    total = np.bincount(nodes.row, weights=np.exp(nodes.logw - safe[nodes.row]), minlength=n)
    with np.errstate(divide="ignore"):
        out: FloatArray = np.log(total) + safe
    return out


def row_sum(values: FloatArray, rows: IntArray, n: int) -> FloatArray:
    """Σ values per row."""
    out: FloatArray = np.bincount(rows, weights=values, minlength=n).astype(np.float64)
    return out
