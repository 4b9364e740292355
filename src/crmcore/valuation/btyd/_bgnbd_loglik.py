"""The BG/NBD and MBG/NBD log-likelihood with its analytic gradient and Hessian (the fits'
Newton steps and standard errors).

>>> import numpy as np
>>> ll, g, H = _loglik(np.array([0.243, 4.414, 0.793, 2.426]), np.array([2.0]), np.array([30.43]),
...                    np.array([38.86]), np.ones(1), 0)
>>> bool(np.isfinite(ll) and np.allclose(H, H.T))
True
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, digamma, gammaln

from crmcore.arrays import FloatArray
from crmcore.valuation.btyd._common import trigamma

__all__ = ["_loglik"]


def _loglik(
    theta: FloatArray,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
    w: FloatArray,
    shift: int,
    xs: tuple[FloatArray, npt.NDArray[np.int64], FloatArray] | None = None,
) -> tuple[float, FloatArray, FloatArray]:
    """Total log-likelihood, its gradient and its Hessian; ``shift`` 0 = BG/NBD, 1 = MBG/NBD.

    Per customer ``log L = lin + logaddexp(A2, A3)`` with ``lin`` the NBD part,
    ``A2`` the 'still alive at T' and ``A3`` the 'dropped out after the last
    purchase' branch. The log-sum-exp's Hessian is ``p2 H2 + p3 H3 + p2 p3 D D'``
    with ``p`` the branch weights and ``D = grad A2 - grad A3``, whose a- and
    b-components are the constants ``-1/a`` and ``1/(b + x - 1 + shift)``.
    Terms that depend on x alone (the special functions) are evaluated once per
    distinct x (``xs`` = distinct x, row -> distinct index, weight per distinct x).
    """
    r, alpha, a, b = theta
    if xs is None:
        ux, inv = np.unique(x, return_inverse=True)
        xi = inv.astype(np.int64)
        wu = np.bincount(xi, weights=w, minlength=len(ux)).astype(np.float64)
    else:
        ux, xi, wu = xs
    m = len(ux)
    lab = betaln(a, b)
    ab = digamma(a + b)
    t_ab = trigamma(a + b)
    has3_u = (ux > 0) | (shift == 1)
    b3_u = np.where(has3_u, b + ux - 1 + shift, 1.0)
    B2 = betaln(a, b + ux + shift) - lab
    B3 = np.where(has3_u, betaln(a + 1, b3_u) - lab, -np.inf)
    abx = a + b + ux + shift
    dab_u = digamma(abx)
    tab_u = trigamma(abx)
    dbx_u = digamma(b + ux + shift)
    tbx_u = trigamma(b + ux + shift)
    db3_u = np.where(has3_u, digamma(b3_u), 0.0)
    tb3_u = np.where(has3_u, trigamma(b3_u), 0.0)
    inv_b3 = np.where(has3_u, 1.0 / b3_u, 0.0)
    rx = r + x
    log_aT = np.log(alpha + T)
    log_atx = np.log(alpha + tx)
    iT = 1.0 / (alpha + T)
    itx = 1.0 / (alpha + tx)
    A2 = B2[xi] - rx * log_aT
    A3 = B3[xi] - rx * log_atx
    L = np.logaddexp(A2, A3)
    p3 = np.exp(A3 - L)
    p2 = 1.0 - p3
    wp2, wp3 = w * p2, w * p3
    v = wp2 * p3  # w p2 p3
    wp2_u = np.bincount(xi, weights=wp2, minlength=m)
    wp3_u = np.bincount(xi, weights=wp3, minlength=m)
    v_u = np.bincount(xi, weights=v, minlength=m)
    total = float(wu.sum())
    s3 = float(wp3_u.sum())

    lin = gammaln(r + ux) - gammaln(r) + r * np.log(alpha)
    ll = float(np.dot(wu, lin) + np.dot(w, L))
    g_r = float(np.dot(wu, digamma(r + ux)) + total * (np.log(alpha) - digamma(r)))
    g_r -= float(np.dot(wp2, log_aT) + np.dot(wp3, log_atx))
    rx_iT, rx_itx = rx * iT, rx * itx
    g_alpha = total * r / alpha - float(np.dot(wp2, rx_iT) + np.dot(wp3, rx_itx))
    g_a = float(np.dot(wu, ab - dab_u)) + s3 / a
    g_b = float(np.dot(wu, ab - dab_u - digamma(b)))
    g_b += float(np.dot(wp2_u, dbx_u) + np.dot(wp3_u, db3_u))

    # Hessian: NBD part, branch-weighted Hessians of A2 and A3, then the p2 p3 D D' term
    d_r = log_atx - log_aT  # D_r
    d_al = rx_itx - rx_iT  # D_alpha
    H = np.empty((4, 4))
    H[0, 0] = float(np.dot(wu, trigamma(r + ux))) - total * float(trigamma(r))
    H[0, 0] += float(np.dot(v, d_r * d_r))
    H[0, 1] = total / alpha - float(np.dot(wp2, iT) + np.dot(wp3, itx))
    H[0, 1] += float(np.dot(v, d_r * d_al))
    H[1, 1] = -total * r / alpha**2 + float(np.dot(wp2, rx_iT * iT) + np.dot(wp3, rx_itx * itx))
    H[1, 1] += float(np.dot(v, d_al * d_al))
    v_ra = float(np.dot(v, d_r))
    v_aa = float(np.dot(v, d_al))
    vb_u = v_u * inv_b3
    H[0, 2] = -v_ra / a
    H[1, 2] = -v_aa / a
    H[0, 3] = float(np.dot(np.bincount(xi, weights=v * d_r, minlength=m), inv_b3))
    H[1, 3] = float(np.dot(np.bincount(xi, weights=v * d_al, minlength=m), inv_b3))
    common = float(np.dot(wu, t_ab - tab_u))  # the a-a and a-b trigamma terms of both branches
    H[2, 2] = common - s3 / a**2 + float(v_u.sum()) / a**2
    H[2, 3] = common - float(vb_u.sum()) / a
    H[3, 3] = common - total * float(trigamma(b)) + float(np.dot(wp2_u, tbx_u))
    H[3, 3] += float(np.dot(wp3_u, tb3_u)) + float(np.dot(vb_u, inv_b3))
    iu = np.triu_indices(4, 1)
    H[(iu[1], iu[0])] = H[iu]
    return ll, np.array([g_r, g_alpha, g_a, g_b]), H
