"""ln F(τ) of the Pareto/NBD integral with its derivatives, for every end of every interval.

``I = ∫_{t_x}^{T} (α+τ)^-(r+x) (β+τ)^-(s+1) dτ = F(t_x) − F(T)`` with
``F(τ) = (γ+τ)^-M / M · ₂F₁(M, e; M+1; z)``, ``M = r+x+s``, ``z = d/(γ+τ)``; for α ≥ β
``γ = α, e = s+1, d = α−β``, else ``γ = β, e = r+x, d = β−α``. (M, e, γ, d) are linear in
(r, α, s, β) (:data:`JACOBIANS`), so the derivatives are taken in them.

By Euler's transformation ``₂F₁(M, e; M+1; z) = (1−z)^(1−e) U``,
``U = Σ_n u_n``, ``u_n = (h)_n / (c)_n z^n`` with ``h = M+1−e``, ``c = M+1``: positive
terms that fall at least as fast as z^n (no cancellation, no overflow). The
derivatives of ln U are moments under the term weights ``u_n / U``: the gradient
the mean of ∂ ln u_n, the Hessian the mean of ∂² ln u_n plus the covariance of
∂ ln u_n. The terms depend on x only through (M, e), so per distinct x the 12
accumulators are polynomials in z, and all ends of one x are evaluated by one
matrix product with a (12 × terms) coefficient table.

Ends with z > 0.92 (α and β far apart, τ small) would need too many terms:
there F(τ) = ∫_τ^m (α+u)^-(r+x) (β+u)^-(s+1) du + F(m), with m the point where
z = 0.92, the first part by Gauss-Legendre quadrature (its derivatives are
moments of the log-integrand's derivatives under the normalised integrand).

>>> import numpy as np
>>> data = ParetoData.build(np.array([0.0, 2.0]), np.array([0.0, 3.0]), np.array([5.0, 6.0]),
...                         np.array([1.0, 1.0]))
>>> f, grad, hes = series_ends(data, np.array([0.5, 4.0, 0.7, 6.0]))
>>> f.shape, grad.shape, hes.shape  # ends (x, τ): (0, 0), (0, 5), (2, 3), (2, 6)
((4,), (4, 4), (10, 4))
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray
from crmcore.valuation.btyd._pareto_math import quad_moments

__all__ = ["JACOBIANS", "ParetoData", "series_ends", "sym4"]

_Z_MAX = 0.92  # largest z summed as a series; beyond, quadrature up to z = _Z_MAX
_Z_SPLIT = 0.3  # ends above get their own number of terms (0.3^_K_MAX > 1e-300: no subnormals)
_K_MAX = 560
_KK = np.arange(_K_MAX + 2, dtype=np.float64)
_LOG_EPS, _LOG_EPS1, _LOG_EPS2 = math.log(1e-15), math.log(1e-12), math.log(1e-9)
_BIG_GROUP = 24  # groups with fewer ends are evaluated together

JACOBIANS = {
    True: np.array([[1.0, 0, 1, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 1, 0, -1]]),  # α >= β
    False: np.array([[1.0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, -1, 0, 1]]),
}
"""d(M, e, γ, d) / d(r, α, s, β) by case α >= β: rows v, columns θ."""
_J_INV = {k: np.linalg.inv(v) for k, v in JACOBIANS.items()}
_IU = np.triu_indices(4)


def sym4(h: FloatArray) -> FloatArray:
    """(..., 10) upper-triangle entries (row-major) -> (..., 4, 4) symmetric."""
    out = np.empty((*h.shape[:-1], 4, 4))
    out[..., _IU[0], _IU[1]] = h
    out[..., _IU[1], _IU[0]] = h
    return out


@attrs.frozen
class ParetoData:
    """Compressed rows of a fit (rows with t_x < T first) and the ends of their intervals,
    distinct per (x, τ), grouped by x with τ ascending; built once per fit."""

    x: FloatArray
    tx: FloatArray
    T: FloatArray
    w: FloatArray
    n_act: int  # rows [:n_act] have t_x < T; the others have I = 0
    ux: FloatArray  # distinct x
    wu: FloatArray  # weight per distinct x
    gx: FloatArray  # x of each group of ends (distinct x of the active rows)
    end_tau: FloatArray
    end_g: npt.NDArray[np.intp]  # group of each end
    starts: npt.NDArray[np.intp]  # ends of group j: starts[j]:starts[j + 1]
    lo: npt.NDArray[np.intp]  # end of t_x per active row
    hi: npt.NDArray[np.intp]  # end of T per active row
    big: npt.NDArray[np.intp]  # groups with many ends (one matrix product each)
    small: npt.NDArray[np.intp]  # the ends of the other groups (one batched product)

    @classmethod
    def build(cls, x: FloatArray, tx: FloatArray, T: FloatArray, w: FloatArray) -> ParetoData:
        order = np.argsort(tx >= T, kind="stable")
        x, tx, T, w = x[order], tx[order], T[order], w[order]
        na = int(np.count_nonzero(tx < T))
        ux, xi = _codes(x)
        wu = np.bincount(xi, weights=w, minlength=len(ux)).astype(np.float64)
        gx, gi = _codes(x[:na])
        keys = np.concatenate([gi, gi])
        taus = np.concatenate([tx[:na], T[:na]])
        srt = np.lexsort((taus, keys))
        sk, st = keys[srt], taus[srt]
        new = np.ones(len(srt), dtype=bool)
        new[1:] = (sk[1:] != sk[:-1]) | (st[1:] != st[:-1])
        inv = np.empty(len(srt), dtype=np.intp)
        inv[srt] = np.cumsum(new) - 1
        end_g = sk[new].astype(np.intp)
        starts = np.searchsorted(end_g, np.arange(len(gx) + 1)).astype(np.intp)
        is_big = np.diff(starts) >= _BIG_GROUP
        big = np.flatnonzero(is_big).astype(np.intp)
        small = np.flatnonzero(~is_big[end_g]).astype(np.intp)
        ends = (st[new], end_g, starts, inv[:na], inv[na:], big, small)
        return cls(x, tx, T, w, na, ux, wu, gx, *ends)


def _codes(x: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Distinct values of whole numbers x (>= 0) and each one's index, by counting."""
    top = float(x.max()) if len(x) else 0.0
    if top > 8 * len(x) + 1024:
        u, inv = np.unique(x, return_inverse=True)
        return u, inv.reshape(-1).astype(np.intp)
    xi = x.astype(np.intp)
    present = np.bincount(xi, minlength=1) > 0
    pos = np.cumsum(present) - 1
    return np.flatnonzero(present).astype(np.float64), pos[xi]


def _n_terms(z_max: float) -> int:
    """Terms for z <= z_max. The terms are at most z^n, so the tail after n terms is below
    z^n / (1 - z): below 1e-15 of the sum (which is >= 1) for the value, and the tails of
    the accumulators weighted n / z and n (n - 1) / z^2 below 1e-12 and 1e-9 (their
    leading terms are O(1): relative precision of the gradient and the Hessian)."""
    if z_max <= 1e-12:
        return 3
    lz = math.log(z_max)
    rhs = math.log1p(-z_max)
    n = max(3, int((_LOG_EPS + rhs) / lz))
    while n < _K_MAX and (
        (n - 1) * lz + math.log(n) > _LOG_EPS1 + rhs
        or (n - 2) * lz + 2 * math.log(n) > _LOG_EPS2 + rhs
    ):
        n += 1
    return min(n + 1, _K_MAX)


def _powers(z: FloatArray, k: int) -> FloatArray:
    """z^0 .. z^(k-1) as rows (k, n), by doubling."""
    Z = np.empty((k, len(z)))
    Z[0] = 1.0
    done = 1
    while done < k:
        step = min(done, k - done)
        np.multiply(Z[:step], Z[done - 1] * z, out=Z[done : done + step])
        done += step
    return Z


def _tables(M: FloatArray, e: FloatArray, k: int) -> FloatArray:
    """Per group, the coefficients (12, G, k) of the 12 accumulators as polynomials in z.

    With a_n = d ln u_n / dM = Σ_{j<n} e / ((h+j)(c+j)), ψ_n = −d ln u_n / de =
    Σ_{j<n} 1 / (h+j), ψ2_n = Σ_{j<n} 1 / (h+j)^2 and dd_n = d² ln u_n / dM² =
    −e Σ_{j<n} (h+c+2j) / ((h+j)^2 (c+j)^2), the rows are Σ_n u_n times 1, a, ψ, ψ2,
    dd, a², aψ, ψ², n/z, a n/z, ψ n/z, n(n−1)/z².
    """
    G = len(M)
    h, c, ee = (M + 1 - e)[:, None], (M + 1)[:, None], e[:, None]
    kk = _KK[: k + 1]
    ihk = 1.0 / (h + kk)
    ick = 1.0 / (c + kk)
    st = np.empty((5, G, k + 2))  # per step j: the term ratio, the a-, ψ-, ψ2- and dd-steps
    st[:, :, 0] = 0.0
    st[0, :, 0] = 1.0
    np.multiply(h + kk, ick, out=st[0, :, 1:])
    a_st = np.multiply(ee * ihk, ick, out=st[1, :, 1:])
    st[2, :, 1:] = ihk
    np.multiply(ihk, ihk, out=st[3, :, 1:])
    np.multiply(a_st, -(ihk + ick), out=st[4, :, 1:])
    np.cumprod(st[0], axis=1, out=st[0])  # u_n at z = 1: (h)_n / (c)_n
    np.cumsum(st[1:], axis=2, out=st[1:])
    u, a, psi = st[0], st[1], st[2]
    C = np.empty((12, G, k))
    u0 = u[:, :k]
    C[0] = u0
    np.multiply(u0, st[1:, :, :k], out=C[1:5])  # u a, u ψ, u ψ2, u dd
    np.multiply(C[1], a[:, :k], out=C[5])
    np.multiply(C[1], psi[:, :k], out=C[6])
    np.multiply(C[2], psi[:, :k], out=C[7])
    # n u_n / z and n (n - 1) u_n / z^2: powers of z shifted down by one and two
    c1 = np.multiply(kk[1:], u[:, 1 : k + 1], out=C[8])
    np.multiply(c1, a[:, 1 : k + 1], out=C[9])
    np.multiply(c1, psi[:, 1 : k + 1], out=C[10])
    np.multiply(kk[1:] * (kk[1:] + 1.0), u[:, 2 : k + 2], out=C[11])
    return C


def _mm(c: FloatArray, z: FloatArray, out: FloatArray) -> None:
    """out = c @ z by einsum's own loop, not BLAS: a threaded BLAS spins its threads on a
    busy machine (a Pareto/NBD fit on 20,000 daily-grid customers took 1.2 s of CPU with
    OpenBLAS's default threads, 0.15 s with one, at a load of 13 on 2 cores)."""
    np.einsum("jk,ke->je", c, z, out=out)


def _accumulate(
    data: ParetoData, C: FloatArray, z: FloatArray, z_max: float, forced_hi: npt.NDArray[np.bool_]
) -> FloatArray:
    """The 12 accumulators (12, n_end) at each end's z.

    Ends with z above _Z_SPLIT (and ``forced_hi``, placeholders at z = 0) are a prefix of
    their group's ends (τ ascends) and get all C's terms; the others only as many as the
    largest z among them needs.
    """
    starts, g_of, sm = data.starts, data.end_g, data.small
    n_end = len(z)
    acc = np.empty((12, n_end))
    k_all = C.shape[2]
    if z_max <= _Z_SPLIT and not forced_hi.any():
        Z = _powers(z, k_all)
        for j in data.big:
            a, b = starts[j], starts[j + 1]
            _mm(C[:, j], Z[:, a:b], acc[:, a:b])
    else:
        is_hi = (z > _Z_SPLIT) | forced_hi
        m_hi = np.add.reduceat(is_hi, starts[:-1], dtype=np.intp)
        z_lo = np.where(is_hi, 0.0, z)
        k = _n_terms(float(z_lo.max()))
        Z = _powers(z_lo, k)
        for j in data.big:
            a, b = starts[j] + m_hi[j], starts[j + 1]
            _mm(C[:, j, :k], Z[:, a:b], acc[:, a:b])
        sm = sm[~is_hi[sm]]
        Zh = _powers(z[is_hi], k_all)
        pos = 0
        for j in np.flatnonzero(m_hi):
            a, m = starts[j], m_hi[j]
            _mm(C[:, j], Zh[:, pos : pos + m], acc[:, a : a + m])
            pos += m
    if len(sm):
        k = Z.shape[0]
        acc[:, sm] = np.einsum("jek,ke->je", C[:, g_of[sm], :k], Z[:, sm])
    return acc


def _log_f(
    acc: FloatArray, z: FloatArray, gt: FloatArray, M: FloatArray, e: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ln F, its gradient (4, n) and Hessian entries (10, n) in (M, e, γ, d) from the
    accumulators; ``gt`` = γ + τ."""
    U = acc[0]
    Ea, Ep, Eps2, Edd, Ea2, Eap, Ep2, R, Ear, Epr, Q = acc[1:] / U
    q = 1.0 / gt
    inv_m = 1.0 / M
    l1z = np.log1p(-z)
    i1z = 1.0 / (1.0 - z)
    e1 = 1.0 - e
    u = np.log(gt)
    f = np.log(U) + e1 * l1z - M * u + np.log(inv_m)
    # derivatives of ln ₂F₁ = (1 - e) ln(1 - z) + ln U in (M, e, z): l_*
    l_z = R - e1 * i1z
    l_mz = Ear - Ea * R
    l_ez = i1z - (Epr - Ep * R)
    l_zz = Q - R * R - e1 * i1z * i1z
    zq = z * q
    n = len(z)
    grad = np.empty((4, n))
    grad[0] = Ea - u - inv_m
    grad[1] = -(Ep + l1z)
    grad[2] = -(M * q + l_z * zq)
    grad[3] = l_z * q
    q2 = q * q
    lzz_z = l_zz * z
    hes = np.empty((10, n))
    hes[0] = inv_m * inv_m + Edd + (Ea2 - Ea * Ea)  # M M
    hes[1] = Eps2 - (Eap - Ea * Ep)  # M e
    hes[2] = -q - l_mz * zq  # M γ
    hes[3] = l_mz * q  # M d
    hes[4] = (Ep2 - Ep * Ep) - Eps2  # e e
    hes[5] = -l_ez * zq  # e γ
    hes[6] = l_ez * q  # e d
    hes[7] = q2 * (M + z * (lzz_z + 2 * l_z))  # γ γ
    hes[8] = -q2 * (lzz_z + l_z)  # γ d
    hes[9] = l_zz * q2  # d d
    return f, grad, hes


def series_ends(data: ParetoData, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ln F at every end, its gradient (4, n_end) and Hessian entries (10, n_end) in
    (M, e, γ, d) (see :data:`JACOBIANS`); NaN where not finite (the caller integrates
    those rows directly)."""
    r, alpha, s, beta = (float(v) for v in theta)
    case_ge = alpha >= beta
    gx = data.gx
    M = r + s + gx
    e = np.full_like(gx, s + 1) if case_ge else r + gx
    gamma, d = (alpha, alpha - beta) if case_ge else (beta, beta - alpha)
    tau, g_of = data.end_tau, data.end_g
    n_end = len(tau)
    z = d / (gamma + tau)
    z_max = float(z.max()) if n_end else 0.0
    if z_max <= _Z_MAX:
        C = _tables(M, e, _n_terms(z_max))
        acc = _accumulate(data, C, z, z_max, np.zeros(n_end, dtype=bool))
        return _log_f(acc, z, gamma + tau, M[g_of], e[g_of])
    # ends with z > _Z_MAX: F(τ) = Q(τ, m) + F(m), z(m) = _Z_MAX; F(m) once per group
    bad = z > _Z_MAX
    m = d / _Z_MAX - gamma
    vg = np.unique(g_of[bad])
    z = np.where(bad, 0.0, z)
    z_v = d / (gamma + m)
    C = _tables(M, e, _n_terms(max(float(z.max()), z_v)))
    acc = _accumulate(data, C, z, max(float(z.max()), z_v), bad)
    acc_v = np.einsum("jek,k->je", C[:, vg], _powers(np.array([z_v]), C.shape[2])[:, 0])
    ext = np.concatenate([g_of, vg])
    f, grad, hes = _log_f(
        np.concatenate([acc, acc_v], axis=1),
        np.concatenate([z, np.full(len(vg), z_v)]),
        gamma + np.concatenate([tau, np.full(len(vg), m)]),
        M[ext],
        e[ext],
    )
    b = np.flatnonzero(bad)
    gb = g_of[b]
    lq, gq, Hq = quad_moments(
        r + gx[gb], np.full(len(b), s + 1), alpha, beta, tau[b], np.full(len(b), m)
    )
    Ji = _J_INV[case_ge]  # quadrature derivatives are in θ: to (M, e, γ, d)
    gq = Ji.T @ gq
    Hq = np.einsum("ai,nab,bj->nij", Ji, Hq, Ji)
    vi = n_end + np.searchsorted(vg, gb)
    fv, gv, Hv = f[vi], grad[:, vi], sym4(hes[:, vi].T)
    L = np.logaddexp(lq, fv)
    pq = np.exp(lq - L)
    pv = np.exp(fv - L)
    dl = gq - gv
    Hb = pq[:, None, None] * Hq + pv[:, None, None] * Hv
    Hb += (pq * pv)[:, None, None] * (dl.T[:, :, None] * dl.T[:, None, :])
    f[b], grad[:, b], hes[:, b] = L, pq * gq + pv * gv, Hb[:, _IU[0], _IU[1]].T
    return f[:n_end], grad[:, :n_end], hes[:, :n_end]
