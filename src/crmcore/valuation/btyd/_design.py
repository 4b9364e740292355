"""Per-row parameters of a purchase-model fit, written once for every model.

A fit's likelihood is a sum over compressed rows (identical customers merged exactly into
weights). Each row has its own parameters: the model's base parameters moved by the
linear predictors of its covariates, ``ln alpha_i = ln alpha - z_purchase . gamma_purchase``
and so on (see :mod:`.covariates`). A model's likelihood gives, per row, its log-likelihood
and the derivatives in the row's own coordinates ``v`` (for example ``(r, ln alpha_i,
ln a_i, ln b_i)``); :func:`chain` carries them to the fitted parameters ``theta`` = (base
parameters, purchase coefficients, drop-out coefficients). The plain model is the case with
no covariate column: the same rows, the same likelihood, the same chain.

>>> import numpy as np
>>> rows = FitData.build(np.array([1.0, 1.0, 0.0]), np.array([2.0, 2.0, 0.0]),
...                      np.array([3.0, 3.0, 3.0]), None, np.zeros((3, 0)), np.zeros((3, 0)))
>>> rows.x.tolist(), rows.w.tolist(), rows.kp + rows.kd
([0.0, 1.0], [1.0, 2.0], 0)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray
from crmcore.valuation.btyd._common import compress_rows

__all__ = ["UPPER", "FitData", "Layout", "chain", "linear", "unpack"]

UPPER = np.triu_indices(4)
"""The entries of a 4 x 4 symmetric matrix kept per row: the upper triangle, row-major."""


def unpack(h: FloatArray) -> FloatArray:
    """(10, n) upper-triangle entries -> (4, 4, n) symmetric.

    >>> unpack(np.arange(10.0)[:, None])[:, :, 0].tolist()[1]
    [1.0, 4.0, 5.0, 6.0]
    """
    out = np.empty((4, 4, h.shape[1]))
    out[UPPER[0], UPPER[1]] = h
    out[UPPER[1], UPPER[0]] = h
    return out


@attrs.frozen
class FitData:
    """The compressed rows of a fit: history columns, weights and covariate matrices
    (``(n, 0)`` for a side without covariates)."""

    x: FloatArray
    tx: FloatArray
    T: FloatArray
    w: FloatArray
    zp: FloatArray
    zd: FloatArray

    @classmethod
    def build(
        cls,
        x: FloatArray,
        tx: FloatArray,
        T: FloatArray,
        weights: FloatArray | None,
        zp: FloatArray,
        zd: FloatArray,
    ) -> FitData:
        """Identical rows (history and covariates) merged into one with the summed weight."""
        kp, kd = zp.shape[1], zd.shape[1]
        cols, w = compress_rows(x, tx, T, *zp.T, *zd.T, weights=weights)
        n = len(cols[0])
        zp_c = np.column_stack(cols[3 : 3 + kp]) if kp else np.zeros((n, 0))
        zd_c = np.column_stack(cols[3 + kp :]) if kd else np.zeros((n, 0))
        return cls(cols[0], cols[1], cols[2], w, zp_c, zd_c)

    @property
    def kp(self) -> int:
        """Purchase covariates."""
        return int(self.zp.shape[1])

    @property
    def kd(self) -> int:
        """Drop-out covariates."""
        return int(self.zd.shape[1])

    @property
    def total(self) -> float:
        """Customers (the sum of the weights)."""
        return float(self.w.sum())

    def plain(self) -> FitData:
        """The same customers without covariates (rows merged again): the start of a fit
        with covariates."""
        none = np.zeros((len(self.x), 0))
        return FitData.build(self.x, self.tx, self.T, self.w, none, none)

    def take(self, order: npt.NDArray[np.intp]) -> FitData:
        """The rows in another order."""
        return FitData(
            self.x[order],
            self.tx[order],
            self.T[order],
            self.w[order],
            self.zp[order],
            self.zd[order],
        )


def linear(z: FloatArray, coef: FloatArray) -> FloatArray | float:
    """The linear predictor ``z . coef`` per row (0.0 without a column). einsum, not BLAS: the
    products are too small for BLAS threads, which a busy machine makes wait."""
    if z.shape[1] == 0:
        return 0.0
    out: FloatArray = np.einsum("ij,j->i", z, coef)
    return out


@attrs.frozen
class Layout:
    """How the fitted parameters enter a row's coordinates ``v``: base parameter j is
    coordinate ``base[j]`` (its logarithm when ``logs[j]``); a purchase (drop-out)
    coefficient moves the coordinates ``purchase`` (``dropout``), each ``(index, sign)``, by
    sign times its covariate."""

    base: tuple[int, ...]
    logs: tuple[bool, ...]
    purchase: tuple[tuple[int, float], ...]
    dropout: tuple[tuple[int, float], ...]


def _channel(parts: Sequence[tuple[int, float]], q: int) -> FloatArray:
    c = np.zeros(q)
    for i, sign in parts:
        c[i] += sign
    return c


@functools.lru_cache(maxsize=16)
def _plain_plan(layout: Layout) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_], FloatArray]:
    """The indices :func:`_chain_plain` uses for a layout: the base coordinates, which are
    logarithms, and the (4, 4) matrix's place of each upper-triangle entry."""
    base = np.array(layout.base, dtype=np.intp)
    logs = np.array(layout.logs, dtype=bool)
    spread = np.zeros((10, 16))  # upper-triangle sums -> the symmetric 4 x 4, flattened
    for p, (i, j) in enumerate(zip(*UPPER, strict=True)):
        spread[p, 4 * i + j] = spread[p, 4 * j + i] = 1.0
    return base, logs, spread


def _chain_plain(
    theta: FloatArray, gv: FloatArray, Hv: FloatArray | None, w: FloatArray, layout: Layout
) -> tuple[FloatArray, FloatArray | None]:
    """:func:`chain` without covariates: the weighted sums of the rows' derivatives, from
    the logarithms of the scales to the scales (a handful of small operations: a fit
    evaluates this every step)."""
    base, logs, spread = _plain_plan(layout)
    g_u = np.einsum("vn,n->v", gv, w)[base]
    d = np.where(logs, 1.0 / theta[: len(base)], 1.0)
    grad = g_u * d
    if Hv is None:
        return grad, None
    S = (np.einsum("pn,n->p", Hv, w) @ spread).reshape(4, 4)
    hess = S[base][:, base] * np.outer(d, d)
    hess[logs, logs] -= g_u[logs] * d[logs] ** 2
    return grad, (hess + hess.T) / 2


def chain(
    theta: FloatArray,
    gv: FloatArray,
    Hv: FloatArray | None,
    data: FitData,
    layout: Layout,
) -> tuple[FloatArray, FloatArray | None]:
    """Gradient and Hessian of ``sum_i w_i ln L_i`` in ``theta`` (natural scale) from the
    rows' gradients ``gv`` (4, n) and Hessians ``Hv`` (10, n: :data:`UPPER`) in their
    coordinates ``v``.

    With u = (base parameters, logarithms for the scales; coefficients) every v is linear in
    u, so the total is ``sum_i w_i J_i' H_i J_i`` in u, then carried to theta.

    >>> lay = Layout(base=(0,), logs=(True,), purchase=((0, -1.0),), dropout=())
    >>> d = FitData(np.zeros(2), np.zeros(2), np.ones(2), np.ones(2), np.array([[0.0], [1.0]]),
    ...             np.zeros((2, 0)))
    >>> gv = np.zeros((4, 2)); gv[0] = 1.0  # d ln L_i / d ln theta_i = 1 for both rows
    >>> g, H = chain(np.array([2.0, 0.0]), gv, np.zeros((10, 2)), d, lay)
    >>> g.tolist()  # d/d theta = 2 rows x 1 / theta; d/d gamma = -z summed
    [1.0, -1.0]
    """
    w, zp, zd = data.w, data.zp, data.zd
    kp, kd = data.kp, data.kd
    if not (kp or kd):
        return _chain_plain(theta, gv, Hv, w, layout)
    nb = len(layout.base)
    q = gv.shape[0]
    base = list(layout.base)
    k = nb + kp + kd
    g_u = np.empty(k)
    g_u[:nb] = np.einsum("vn,n->v", gv, w)[base]
    cp = _channel(layout.purchase, q)
    cd = _channel(layout.dropout, q)
    if kp:
        g_u[nb : nb + kp] = np.einsum("n,n,nj->j", w, np.einsum("v,vn->n", cp, gv), zp)
    if kd:
        g_u[nb + kp :] = np.einsum("n,n,nj->j", w, np.einsum("v,vn->n", cd, gv), zd)
    H_u = None
    if Hv is not None:
        H_u = np.empty((k, k))
        S = unpack(np.einsum("pn,n->p", Hv, w)[:, None])[:, :, 0]
        H_u[:nb, :nb] = S[np.ix_(base, base)]
        full = unpack(Hv) if kp or kd else Hv
        sides = []
        if kp:
            sides.append((slice(nb, nb + kp), cp, zp))
        if kd:
            sides.append((slice(nb + kp, k), cd, zd))
        for sl, c, z in sides:
            hc = np.einsum("vwn,w->vn", full, c)  # H c per row (q, n)
            H_u[:nb, sl] = np.einsum("vn,n,nj->vj", hc, w, z)[base]
            H_u[sl, :nb] = H_u[:nb, sl].T
            for sl2, c2, z2 in sides:
                cc = np.einsum("v,vn->n", c2, hc) * w
                H_u[sl2, sl] = np.einsum("ni,n,nj->ij", z2, cc, z)
    # from the logarithms of the scales to the scales
    d = np.ones(k)
    logs = np.flatnonzero(np.array(layout.logs))
    d[logs] = 1.0 / theta[logs]
    grad = g_u * d
    if H_u is None:
        return grad, None
    hess = H_u * d[:, None] * d[None, :]
    hess[logs, logs] -= g_u[logs] * d[logs] ** 2
    return grad, (hess + hess.T) / 2
