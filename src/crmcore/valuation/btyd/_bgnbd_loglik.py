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
    key, the keys' x ``kx`` and each row's ``key`` (None: one key per row, ``kx = x``).

    The special functions of the keys are evaluated in one call per function (their
    arguments side by side) and the per-key terms brought to the rows in one ``take``: a fit
    of a few thousand rows spends its time in numpy's per-call cost, not in the arithmetic."""
    if key is None or kx is None:
        key, kx = np.arange(len(x)), x
    s = shift
    nk = len(kx)
    a_k = np.broadcast_to(np.asarray(a, dtype=np.float64), kx.shape)
    b_k = np.broadcast_to(np.asarray(b, dtype=np.float64), kx.shape)
    # per key: the special functions of x, a_i, b_i (and of r), each in one call
    has3 = (kx > 0) | (s == 1)
    b3 = np.where(has3, b_k + kx - 1 + s, 1.0)
    ab, bxs = a_k + b_k, b_k + kx + s
    abx = ab + kx + s
    rk = r + kx
    # the plain model's a and b are one value for every key: their terms evaluated once
    one = np.ndim(a) == 0 and np.ndim(b) == 0
    m = 1 if one else nk
    beta = betaln(np.concatenate([a_k[:m], a_k, a_k + 1]), np.concatenate([b_k[:m], bxs, b3]))
    lab = beta[:m]
    psi = digamma(np.concatenate([ab[:m], b_k[:m], [r], abx, bxs, b3, rk]))
    psi_ab, psi_b = psi[:m], psi[m : 2 * m]
    psi_abx, psi_bxs, psi_b3, psi_rk = psi[2 * m + 1 :].reshape(4, nk)
    lgam = gammaln(np.concatenate([rk, [r]]))
    q = 15 if hessian else 9
    K = np.empty((q, nk))
    K[0] = beta[m : m + nk] - lab  # B2
    K[1] = np.where(has3, beta[m + nk :] - lab, -np.inf)  # B3
    K[2] = lgam[:nk] - lgam[nk]  # ln Gamma(r + x) - ln Gamma(r)
    K[3] = psi_rk - psi[2 * m]
    common_g = psi_ab - psi_abx
    K[4] = a_k * common_g  # d(B2)/d ln a
    K[5] = b_k * (common_g - psi_b)
    K[6] = b_k * psi_bxs
    K[7] = np.where(has3, b_k * psi_b3, 0.0)
    K[8] = np.where(has3, b_k / b3, 0.0)  # b (d B2/db - d B3/db) = b / b3
    if hessian:
        tri = trigamma(np.concatenate([ab[:m], b_k[:m], [r], abx, bxs, b3, rk]))
        t_ab, t_b = tri[:m], tri[m : 2 * m]
        t_abx, t_bxs, t_b3, t_rk = tri[2 * m + 1 :].reshape(4, nk)
        common_t = t_ab - t_abx
        bb = b_k * b_k
        K[9] = t_rk - tri[2 * m]
        K[10] = a_k * a_k * common_t
        K[11] = a_k * b_k * common_t
        K[12] = bb * (common_t - t_b)
        K[13] = bb * t_bxs
        K[14] = np.where(has3, bb * t_b3, 0.0)
    R = K.take(key, axis=1)  # (q, n): the keys' terms on the rows
    # per row
    rx = r + x
    log_al = np.log(alpha)
    aT, atx = alpha + T, alpha + tx
    la, ltx = np.log(aT), np.log(atx)
    A2 = R[0] - rx * la
    A3 = R[1] - rx * ltx
    L = np.logaddexp(A2, A3)
    p3 = np.exp(A3 - L)
    p2 = 1.0 - p3
    ll = R[2] + r * log_al + L
    uT, utx = alpha / aT, alpha / atx
    p2uT, p3utx = p2 * uT, p3 * utx
    g = np.empty((4, len(x)))
    g[0] = R[3] + log_al - p2 * la - p3 * ltx
    g[1] = r - rx * (p2uT + p3utx)
    g[2] = R[4] + p3
    g[3] = R[5] + p2 * R[6] + p3 * R[7]
    if not hessian:
        return ll, g, None
    D = np.empty((4, len(x)))
    D[0] = ltx - la
    D[1] = rx * (utx - uT)
    D[2] = -1.0
    D[3] = R[8]
    qD = D * (p2 * p3)
    H = np.empty((10, len(x)))  # upper triangle, row-major: 00 01 02 03 11 12 13 22 23 33
    for p, (i, j) in enumerate(zip(*UPPER, strict=True)):
        np.multiply(qD[i], D[j], out=H[p])
    H[0] += R[9]
    H[1] += 1.0 - p2uT - p3utx
    H[4] -= rx * (p2uT * (1.0 - uT) + p3utx * (1.0 - utx))
    H[7] += R[10] - p3 + g[2]
    H[8] += R[11]
    H[9] += R[12] + p2 * R[13] + p3 * R[14] + g[3]
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
