"""The BG/NBD and MBG/NBD log-likelihood, one for the plain model and the model with
covariates, with its analytic gradient and Hessian (the fits' Newton steps and standard
errors).

Per row (compressed customers) the parameters are (r, alpha_i, a_i, b_i) with
``alpha_i = alpha e^(-z_p . gamma_p)``, ``a_i = a m_i``, ``b_i = b m_i``,
``m_i = e^(z_d . gamma_d)`` (no covariate: the plain parameters), and
``log L = ln Gamma(r + x) - ln Gamma(r) + r ln alpha_i + logaddexp(A2, A3)`` with ``A2``
the 'still alive at T' and ``A3`` the 'dropped out after the last purchase' branch. The
derivatives are taken per row in ``v = (r, ln alpha_i, ln a_i, ln b_i)``, where the
log-sum-exp's Hessian is ``p2 H2 + p3 H3 + p2 p3 D D'`` (``p`` the branch weights,
``D = grad A2 - grad A3``), and carried to the parameters by :func:`._design.chain`. The
special functions depend on a row only through x and the drop-out covariates: they are
evaluated once per distinct pair (per distinct x in the plain model).

>>> import numpy as np
>>> from crmcore.valuation.btyd._design import FitData
>>> none = np.zeros((1, 0))
>>> data = FitData.build(np.array([2.0]), np.array([30.43]), np.array([38.86]), None, none, none)
>>> ll, g, H = loglik(np.array([0.243, 4.414, 0.793, 2.426]), BGRows.build(data), 0)
>>> bool(np.isfinite(ll) and np.allclose(H, H.T))
True
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import betaln, digamma, gammaln

from crmcore.arrays import FloatArray
from crmcore.valuation.btyd._common import factorize_rows, trigamma
from crmcore.valuation.btyd._design import UPPER, FitData, Layout, chain, linear

__all__ = ["LAYOUT", "BGRows", "loglik", "row_derivatives"]

LAYOUT = Layout(
    base=(0, 1, 2, 3),
    logs=(False, True, True, True),
    purchase=((1, -1.0),),
    dropout=((2, 1.0), (3, 1.0)),
)
"""theta = (r, alpha, a, b, gamma_p..., gamma_d...) into v = (r, ln alpha_i, ln a_i, ln b_i)."""


@attrs.frozen
class BGRows:
    """The rows of a fit and their keys: distinct (x, drop-out covariates), on which the
    special functions depend."""

    data: FitData
    key: npt.NDArray[np.intp]  # per row, its key
    kx: FloatArray  # x of each key
    kz: FloatArray  # drop-out covariates of each key (keys, kd)
    kw: FloatArray  # weight of each key

    @classmethod
    def build(cls, data: FitData) -> BGRows:
        cols, inv = factorize_rows(data.x, *data.zd.T)
        kz = np.column_stack(cols[1:]) if data.kd else np.zeros((len(cols[0]), 0))
        key = inv.astype(np.intp)
        kw = np.bincount(key, weights=data.w, minlength=len(cols[0])).astype(np.float64)
        return cls(data, key, cols[0], kz, kw)


def row_derivatives(
    r: float,
    alpha: FloatArray | float,
    a: FloatArray | float,
    b: FloatArray | float,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
    shift: int,
    *,
    key: npt.NDArray[np.intp] | None = None,
    kx: FloatArray | None = None,
    hessian: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Per row: log-likelihood, gradient (4, n) and Hessian (10, n: the upper triangle) in
    v = (r, ln alpha_i, ln a_i, ln b_i); a_i and b_i (scalars or one per key) are given per
    key, the keys' x ``kx`` and each row's ``key`` (None: one key per row, ``kx = x``)."""
    if key is None or kx is None:
        key, kx = np.arange(len(x)), x
    s = shift
    a_k = np.broadcast_to(np.asarray(a, dtype=np.float64), kx.shape)
    b_k = np.broadcast_to(np.asarray(b, dtype=np.float64), kx.shape)
    # per key: the special functions of x, a_i, b_i
    has3 = (kx > 0) | (s == 1)
    b3 = np.where(has3, b_k + kx - 1 + s, 1.0)
    lab = betaln(a_k, b_k)
    B2 = betaln(a_k, b_k + kx + s) - lab
    B3 = np.where(has3, betaln(a_k + 1, b3) - lab, -np.inf)
    abx = a_k + b_k + kx + s
    common_g = digamma(a_k + b_k) - digamma(abx)
    g_a0 = a_k * common_g  # d(B2)/d ln a
    g_b0 = b_k * (common_g - digamma(b_k))
    g_b2 = b_k * digamma(b_k + kx + s)
    g_b3 = np.where(has3, b_k * digamma(b3), 0.0)
    e_b = np.where(has3, b_k / b3, 0.0)  # b (d B2/db - d B3/db) = b / b3
    rk = r + kx
    lg = gammaln(rk) - gammaln(r)
    dg = digamma(rk) - digamma(r)
    # per row
    rx = r + x
    log_al = np.log(alpha)
    aT, atx = alpha + T, alpha + tx
    la, ltx = np.log(aT), np.log(atx)
    A2 = B2[key] - rx * la
    A3 = B3[key] - rx * ltx
    L = np.logaddexp(A2, A3)
    p3 = np.exp(A3 - L)
    p2 = 1.0 - p3
    ll = lg[key] + r * log_al + L
    uT, utx = alpha / aT, alpha / atx
    g = np.empty((4, len(x)))
    g[0] = dg[key] + log_al - p2 * la - p3 * ltx
    g[1] = r - rx * (p2 * uT + p3 * utx)
    g[2] = g_a0[key] + p3
    g[3] = g_b0[key] + p2 * g_b2[key] + p3 * g_b3[key]
    if not hessian:
        return ll, g, None
    q = p2 * p3
    D = np.empty((4, len(x)))
    D[0] = ltx - la
    D[1] = rx * (utx - uT)
    D[2] = -1.0
    D[3] = e_b[key]
    qD = D * q
    H = np.empty((10, len(x)))  # upper triangle, row-major: 00 01 02 03 11 12 13 22 23 33
    for p, (i, j) in enumerate(zip(*UPPER, strict=True)):
        np.multiply(qD[i], D[j], out=H[p])
    common_t = trigamma(a_k + b_k) - trigamma(abx)
    h_bb = b_k * b_k * (common_t - trigamma(b_k))
    h_b2 = b_k * b_k * trigamma(b_k + kx + s)
    h_b3 = np.where(has3, b_k * b_k * trigamma(b3), 0.0)
    H[0] += (trigamma(rk) - trigamma(r))[key]
    H[1] += 1.0 - p2 * uT - p3 * utx
    H[4] -= rx * (p2 * uT * (1.0 - uT) + p3 * utx * (1.0 - utx))
    H[7] += (a_k * a_k * common_t)[key] - p3 + g[2]
    H[8] += (a_k * b_k * common_t)[key]
    H[9] += h_bb[key] + p2 * h_b2[key] + p3 * h_b3[key] + g[3]
    return ll, g, H


def loglik(
    theta: FloatArray, rows: BGRows, shift: int, *, hessian: bool = True
) -> tuple[float, FloatArray, FloatArray]:
    """Total log-likelihood, its gradient and (with ``hessian``) its Hessian in
    theta = (r, alpha, a, b, gamma_p..., gamma_d...); ``shift`` 0 = BG/NBD, 1 = MBG/NBD
    (without ``hessian`` the Hessian returned is an empty array)."""
    data = rows.data
    kp = data.kp
    r, alpha, a, b = (float(v) for v in theta[:4])
    lin_p = linear(data.zp, theta[4 : 4 + kp])
    al = alpha * np.exp(-lin_p) if kp else alpha
    m = np.exp(linear(rows.kz, theta[4 + kp :])) if data.kd else 1.0
    ll_rows, gv, Hv = row_derivatives(
        r,
        al,
        a * m,
        b * m,
        data.x,
        data.tx,
        data.T,
        shift,
        key=rows.key,
        kx=rows.kx,
        hessian=hessian,
    )
    ll = float(np.einsum("n,n->", data.w, ll_rows))
    grad, hess = chain(theta, gv, Hv, data, LAYOUT)
    return ll, grad, np.empty((0, 0)) if hess is None else hess
