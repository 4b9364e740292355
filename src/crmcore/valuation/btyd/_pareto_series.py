"""ln F(τ) of the Pareto/NBD integral with its derivatives, for every end of every interval:
the one method of the likelihood's integral, for the plain fit and the fit with covariates.

``I = ∫_{t_x}^{T} (α+τ)^-(r+x) (β+τ)^-(s+1) dτ = F(t_x) − F(T)`` with
``F(τ) = (γ+τ)^-M / M · ₂F₁(M, e; M+1; z)``, ``M = r+x+s``, ``z = d/(γ+τ)``; for α ≥ β
``γ = α, e = s+1, d = α−β``, else ``γ = β, e = r+x, d = β−α``. Each end has its own α and β
(the fit with covariates: α_i, β_i of its row; the plain fit: one α and β, and the ends
distinct per (x, τ)), so the case is taken per end. (M, e, γ, d) are linear in (r, α, s, β)
(:data:`KAPPA`): the derivatives are taken in them, then carried per end to
v = (r, s, ln α, ln β).

By Euler's transformation ``₂F₁(M, e; M+1; z) = (1−z)^(1−e) U``,
``U = Σ_n u_n``, ``u_n = (h)_n / (c)_n z^n`` with ``h = M+1−e``, ``c = M+1``: positive
terms that fall at least as fast as z^n (no cancellation, no overflow). The
derivatives of ln U are moments under the term weights ``u_n / U``: the gradient
the mean of ∂ ln u_n, the Hessian the mean of ∂² ln u_n plus the covariance of
∂ ln u_n. The terms depend on (x, case) only through (M, e), so per (x, case) the 12
accumulators are polynomials in z, and the ends of one (x, case) are evaluated by one
matrix product with a (12 × terms) coefficient table (as many terms as the block's
largest z needs).

Ends with z > 0.92 (α and β far apart, τ small) would need too many terms:
there F(τ) = ∫_τ^m (α+u)^-(r+x) (β+u)^-(s+1) du + F(m), with m the point where
z = 0.92, the first part by the reduced-form Gauss-Legendre quadrature of
:mod:`._pareto_math` (:func:`._pareto_math.log_integral_hessian`).

>>> import numpy as np
>>> ends = ParetoEnds.build(np.array([0.0, 2.0]), np.array([0.0, 3.0]), np.array([5.0, 6.0]),
...                         shared=True)
>>> f, grad, hes = series_ends(ends, 0.5, 0.7, 4.0, 6.0)
>>> f.shape, grad.shape, hes.shape  # ends (x, τ): (0, 0), (0, 5), (2, 3), (2, 6)
((4,), (4, 4), (10, 4))
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray
from crmcore.valuation.btyd._pareto_math import log_integral_hessian

__all__ = ["KAPPA", "ParetoEnds", "series_ends"]

_Z_MAX = 0.92  # largest z summed as a series; beyond, quadrature up to z = _Z_MAX
_Z_SPLIT = 0.3  # ends above get their own block (0.3^_K_MAX > 1e-300: no subnormals)
_K_MAX = 560
_KK = np.arange(_K_MAX + 2, dtype=np.float64)
_LOG_EPS, _LOG_EPS1, _LOG_EPS2 = math.log(1e-15), math.log(1e-12), math.log(1e-9)
_BIG_BLOCK = 24  # blocks with fewer ends are evaluated together
_FEW_TERMS = 8  # blocks needing at most this many terms are evaluated with the others
_PIECE = 2048  # ends per batched evaluation (the gathered coefficients stay small)
_BINS = np.array([0.1, 0.2, _Z_SPLIT, 0.4, 0.5, 0.6, 0.7, 0.8, 0.86])  # blocks' z ranges
_IU = np.triu_indices(4)
_GRADIENT_ROWS = [0, 1, 2, 8]  # the accumulators of the value and the gradient
_P22, _P33 = 7, 9  # packed (row-major upper triangle) positions of (2, 2) and (3, 3)

KAPPA = {
    True: np.array([[1.0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, -1]]),  # α >= β
    False: np.array([[1.0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, -1], [0, 0, 1, 1]]),
}
"""d(M, e, γ, d) / d(r, s, α, β) by case α >= β: the gradient in (r, s, α, β) is KAPPA @ the
gradient in (M, e, γ, d) (rows r, s, α, β; columns M, e, γ, d)."""


def _packed_map(K: FloatArray) -> FloatArray:
    """(10, 10): packed Hessian in (M, e, γ, d) -> packed Hessian in (r, s, α, β), K H K'."""
    out = np.empty((10, 10))
    for kl, (k, l_) in enumerate(zip(*_IU, strict=True)):
        for p, (a, b) in enumerate(zip(*_IU, strict=True)):
            v = K[k, a] * K[l_, b]
            if a != b:
                v += K[k, b] * K[l_, a]
            out[kl, p] = v
    return out


_KAPPA10 = {k: _packed_map(v) for k, v in KAPPA.items()}


@attrs.frozen
class ParetoEnds:
    """The ends t_x and T of the active rows' intervals (t_x < T), grouped by x: distinct per
    (x, τ) when every row has the same α and β (``shared``), else two per row (each row its
    own α_i, β_i); built once per fit. ``row`` is the active row each end belongs to (one of
    them when shared), ``lo`` and ``hi`` each active row's ends of t_x and T."""

    gx: FloatArray  # distinct x of the active rows (the groups)
    tau: FloatArray
    group: npt.NDArray[np.intp]  # group of each end
    row: npt.NDArray[np.intp]
    lo: npt.NDArray[np.intp]
    hi: npt.NDArray[np.intp]
    shared: bool

    @classmethod
    def build(cls, x: FloatArray, tx: FloatArray, T: FloatArray, *, shared: bool) -> ParetoEnds:
        """From the active rows' x, t_x and T."""
        na = len(x)
        gx, gi = _codes(x)
        rows = np.arange(na, dtype=np.intp)
        if not shared:
            ends = (np.concatenate([tx, T]), np.concatenate([gi, gi]), np.concatenate([rows, rows]))
            return cls(gx, *ends, rows, rows + na, False)
        keys = np.concatenate([gi, gi])
        taus = np.concatenate([tx, T])
        srt = np.lexsort((taus, keys))
        sk, st = keys[srt], taus[srt]
        new = np.ones(len(srt), dtype=bool)
        new[1:] = (sk[1:] != sk[:-1]) | (st[1:] != st[:-1])
        inv = np.empty(len(srt), dtype=np.intp)
        inv[srt] = np.cumsum(new) - 1
        row = np.concatenate([rows, rows])[srt][new].astype(np.intp)
        return cls(gx, st[new], sk[new].astype(np.intp), row, inv[:na], inv[na:], True)


def _codes(x: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Distinct values of whole numbers x (>= 0) and each one's index, by counting."""
    top = float(x.max()) if len(x) else 0.0
    if top > 8 * len(x) + 1024 or not bool(np.all(x == np.floor(x))):
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


_GRID = 4096
_TERMS = np.array([_n_terms(v) for v in np.linspace(0.0, _Z_MAX, _GRID + 1)], dtype=np.intp)


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
    """Per table, the coefficients (12, G, k) of the 12 accumulators as polynomials in z.

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
    """out = c @ z by BLAS on the calling thread: in pieces whose m n k stays below
    OpenBLAS's threading threshold (65,536 x 4, interface/gemm.c), so no BLAS thread is
    woken (threads spin on a busy machine: a fit on 20,000 daily-grid customers once took
    1.2 s of CPU with OpenBLAS's default threads, 0.15 s with one, at a load of 13 on 2
    cores); 3-5x less CPU than einsum's own loop for 60-445 terms."""
    m, k = c.shape
    step = max(1, (_ONE_THREAD - 1) // (m * k))
    for a in range(0, z.shape[1], step):
        out[:, a : a + step] = c @ z[:, a : a + step]


_ONE_THREAD = 1 << 18


def _terms_of(z: FloatArray) -> npt.NDArray[np.intp]:
    """:func:`_n_terms` of each z (<= _Z_MAX), read from a table at the grid point above."""
    i = np.ceil(z * (_GRID / _Z_MAX)).astype(np.intp)
    out: npt.NDArray[np.intp] = _TERMS[np.minimum(i, _GRID)]
    return out


def _accumulate(C: FloatArray, tab: npt.NDArray[np.intp], z: FloatArray) -> FloatArray:
    """The accumulators (12, n; or those of C's rows) at each end's z, the coefficients of
    table ``tab``.

    The ends are cut into blocks of one table and one range of z (:data:`_BINS`); a block of
    many ends that needs many terms is one matrix product with as many terms as its
    largest z needs; the ends of the other blocks are evaluated together, in pieces of
    ends that need about as many terms."""
    n = len(z)
    if n == 0:
        return np.empty((len(C), 0))
    nb = len(_BINS) + 1
    key = nb * tab + np.searchsorted(_BINS, z)
    order = np.argsort(key, kind="stable")
    ks, zs = key[order], z[order]
    starts = np.flatnonzero(np.concatenate([[True], ks[1:] != ks[:-1]]))
    sizes = np.diff(np.append(starts, n))
    terms = _terms_of(np.maximum.reduceat(zs, starts))
    acc = np.empty((len(C), n))  # in the sorted order
    big = (sizes >= _BIG_BLOCK) & (terms > _FEW_TERMS)
    for j in np.flatnonzero(big).tolist():
        a, b, k = int(starts[j]), int(starts[j] + sizes[j]), int(terms[j])
        _mm(C[:, ks[a] // nb, :k], _powers(zs[a:b], k), acc[:, a:b])
    if not big.all():
        rest = np.repeat(~big, sizes)
        idx = np.flatnonzero(rest)
        k_end = np.repeat(terms, sizes)[idx]
        srt = np.argsort(k_end, kind="stable")
        idx, k_end = idx[srt], k_end[srt]
        ts = tab[order]
        # pieces of at most _PIECE ends whose terms are within a factor 1.5 of each other
        level = np.floor(np.log(k_end) / np.log(1.5)).astype(np.intp)
        cuts = np.flatnonzero(np.diff(level)) + 1
        for lo, hi in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(idx)].tolist(), strict=True):
            for c in range(lo, hi, _PIECE):
                p = idx[c : min(c + _PIECE, hi)]
                k = int(k_end[min(c + _PIECE, hi) - 1])
                acc[:, p] = np.einsum("jek,ke->je", C[:, ts[p], :k], _powers(zs[p], k))
    out = np.empty_like(acc)
    out[:, order] = acc
    return out


def _log_f(
    acc: FloatArray, z: FloatArray, gt: FloatArray, M: FloatArray, e: FloatArray, hessian: bool
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """ln F, its gradient (4, n) and Hessian entries (10, n, or None) in (M, e, γ, d) from
    the accumulators; ``gt`` = γ + τ."""
    U = acc[0]
    if hessian:
        Ea, Ep, Eps2, Edd, Ea2, Eap, Ep2, R, Ear, Epr, Q = acc[1:] / U
    else:  # the accumulators of the gradient only: 1, a, ψ, n/z
        Ea, Ep, R = acc[1:] / U
    q = 1.0 / gt
    inv_m = 1.0 / M
    l1z = np.log1p(-z)
    i1z = 1.0 / (1.0 - z)
    e1 = 1.0 - e
    u = np.log(gt)
    f = np.log(U) + e1 * l1z - M * u + np.log(inv_m)
    # derivatives of ln ₂F₁ = (1 - e) ln(1 - z) + ln U in (M, e, z): l_*
    l_z = R - e1 * i1z
    zq = z * q
    n = len(z)
    grad = np.empty((4, n))
    grad[0] = Ea - u - inv_m
    grad[1] = -(Ep + l1z)
    grad[2] = -(M * q + l_z * zq)
    grad[3] = l_z * q
    if not hessian:
        return f, grad, None
    l_mz = Ear - Ea * R
    l_ez = i1z - (Epr - Ep * R)
    l_zz = Q - R * R - e1 * i1z * i1z
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


def _apply(K: FloatArray, g: FloatArray) -> FloatArray:
    """K @ g (BLAS on the calling thread, :func:`_mm`)."""
    out = np.empty((K.shape[0], g.shape[1]))
    _mm(K, g, out)
    return out


def _to_v(
    g: FloatArray,
    h: FloatArray | None,
    ge: npt.NDArray[np.bool_] | bool,
    alpha: FloatArray | float,
    beta: FloatArray | float,
) -> tuple[FloatArray, FloatArray | None]:
    """Gradient (4, n) and packed Hessian (10, n) in (M, e, γ, d) to v = (r, s, ln α, ln β),
    the case per end."""
    if isinstance(ge, bool):
        gv = _apply(KAPPA[ge], g)
        hv = None if h is None else _apply(_KAPPA10[ge], h)
    else:
        gv = np.where(ge, _apply(KAPPA[True], g), _apply(KAPPA[False], g))
        hv = None
        if h is not None:
            hv = np.where(ge, _apply(_KAPPA10[True], h), _apply(_KAPPA10[False], h))
    gv[2] *= alpha
    gv[3] *= beta
    if hv is not None:
        for p, (i, j) in enumerate(zip(*_IU, strict=True)):
            if i >= 2:
                hv[p] *= alpha if i == 2 else beta
            if j >= 2:
                hv[p] *= alpha if j == 2 else beta
        hv[_P22] += gv[2]
        hv[_P33] += gv[3]
    return gv, hv


def series_ends(
    ends: ParetoEnds,
    r: float,
    s: float,
    alpha: FloatArray | float,
    beta: FloatArray | float,
    *,
    hessian: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """ln F at every end, its gradient (4, n_end) and packed Hessian (10, n_end; None
    without ``hessian``) in v = (r, s, ln α, ln β) (the derivatives in r and s are those in
    r + x and s + 1); ``alpha`` and ``beta`` one for every end or one per end. NaN where not
    finite (the caller integrates those rows directly)."""
    tau, grp, gx = ends.tau, ends.group, ends.gx
    ge: npt.NDArray[np.bool_] | bool
    gam: FloatArray | float
    d: FloatArray | float
    M = r + s + gx
    if isinstance(alpha, float) and isinstance(beta, float):
        ge = alpha >= beta
        gam, d = max(alpha, beta), abs(alpha - beta)
        tab = grp  # one table per x
        e_all = np.full_like(gx, s + 1.0) if ge else r + gx
        M_all = M
    else:  # tables per x for α >= β, then per x for α < β
        ge = np.asarray(alpha >= beta)
        gam, d = np.maximum(alpha, beta), np.abs(alpha - beta)
        tab = grp + len(gx) * (~ge)
        e_all = np.concatenate([np.full_like(gx, s + 1.0), r + gx])
        M_all = np.concatenate([M, M])
    gt = gam + tau
    z = d / gt
    bad = np.flatnonzero(z > _Z_MAX)
    if len(bad):  # F(m) at z = _Z_MAX: γ + m = d / _Z_MAX
        z[bad] = _Z_MAX
        gt[bad] = (d if isinstance(d, float) else d[bad]) / _Z_MAX
    C = _tables(
        M_all, e_all, int(_terms_of(z.max(initial=0.0)))
    )  # the blocks read C by the same table
    acc = _accumulate(C if hessian else C[_GRADIENT_ROWS], tab, z)
    f, gm, hm = _log_f(acc, z, gt, M_all[tab], e_all[tab], hessian)
    g, h = _to_v(gm, hm, ge, alpha, beta)
    if len(bad):
        _add_quadrature(bad, ends, r, s, alpha, beta, d, gam, f, g, h)
    return f, g, h


def _add_quadrature(
    b: npt.NDArray[np.intp],
    ends: ParetoEnds,
    r: float,
    s: float,
    alpha: FloatArray | float,
    beta: FloatArray | float,
    d: FloatArray | float,
    gam: FloatArray | float,
    f: FloatArray,
    g: FloatArray,
    h: FloatArray | None,
) -> None:
    """F(τ) = Q(τ, m) + F(m) at the ends ``b`` (f, g, h hold F(m)), Q by quadrature, in place."""

    def at(v: FloatArray | float) -> FloatArray:
        return np.full(len(b), v) if isinstance(v, float) else v[b]

    tau = ends.tau[b]
    m = at(d) / _Z_MAX - at(gam)
    lq, gq, Hq = log_integral_hessian(
        r + ends.gx[ends.group[b]], np.full(len(b), s + 1.0), at(alpha), at(beta), tau, m
    )
    fv = f[b]
    L = np.logaddexp(lq, fv)
    pq = np.exp(lq - L)
    pv = np.exp(fv - L)
    gv = g[:, b]
    dl = gq - gv
    f[b] = L
    g[:, b] = pq * gq + pv * gv
    if h is not None:
        hq = Hq[_IU[0], _IU[1]]
        h[:, b] = pq * hq + pv * h[:, b] + (pq * pv) * dl[_IU[0]] * dl[_IU[1]]
