"""The one maximum-likelihood engine: :func:`maximum_likelihood`."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize

from crmcore.arrays import FloatArray, as_float_array
from crmcore.errors import FitError, ValidationError
from crmcore.fitting._summary import FitSummary
from crmcore.options import as_count, as_number, expect_callable, expect_items
from crmcore.progress import Progress, stage

__all__ = ["LogLik", "Newton", "maximum_likelihood"]

_log = logging.getLogger("crmcore.fitting")

LogLik = Callable[[FloatArray], tuple[float, FloatArray | None]]
"""theta (natural scale) -> (total log-likelihood, its gradient in theta, or None)."""

Newton = Callable[[FloatArray], tuple[float, FloatArray, FloatArray]]
"""theta (natural scale) -> (total log-likelihood, gradient, Hessian), all analytic."""

_EDGE = 50.0  # |log-parameter| beyond which the objective is treated as infinite
_FREE_EDGE = 1e6  # |initial value| of a free parameter (a coefficient) beyond: refused
_POLISH_STEPS = 12
_CONVERGED = "Optimization terminated successfully."
_RESIDUAL = 1e-10  # predicted distance to the maximum (log-parameters) at which Newton stops
_LAST_STEP = 1e-6  # the largest final Newton step taken without evaluating its end point
_RADIUS = 1.0  # the first trust radius (log-parameters)
_SLOW = 20  # iterations after which a gradient below gtol hands over to the polish
_REGION_STEPS = 60  # iterations of the trust-region Newton method before scipy's take over


class _Objective:
    """The minimised function f(u) = -log L(theta(u)) / n + c * sum(theta**2) over
    u = (log theta_1..k0, theta_k0+1..k): value, gradient and Hessian in u, with the
    natural-scale triple of the last point kept for the standard errors."""

    def __init__(
        self,
        loglik: LogLik,
        newton: Newton | None,
        k0: int,
        n: float,
        penalizer: float,
        penalty_scales: FloatArray | None = None,
    ) -> None:
        self.loglik, self.newton, self.k0, self.n, self.c = loglik, newton, k0, n, penalizer
        self.s2 = None if penalty_scales is None else np.asarray(penalty_scales) ** 2
        self._cache: dict[bytes, tuple[float, FloatArray, FloatArray | None]] = {}
        # the natural-scale (log L, gradient, Hessian) of the points evaluated with the
        # Hessian: the estimate's log-likelihood and covariance without evaluating it again
        self._natural: dict[bytes, tuple[float, FloatArray, FloatArray]] = {}

    def theta(self, u: FloatArray) -> FloatArray:
        if self.k0 == len(u):
            out: FloatArray = np.exp(u)
            return out
        return np.concatenate([np.exp(u[: self.k0]), u[self.k0 :]])

    def _penalty(self, th: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        """c * sum(theta**2) with its gradient and Hessian in u."""
        k0 = self.k0
        c = self.c * (np.ones(len(th)) if self.s2 is None else self.s2)  # per parameter
        pos, free = th[:k0], th[k0:]
        value = float(np.dot(c, th * th))
        grad = np.concatenate([2 * c[:k0] * pos**2, 2 * c[k0:] * free])
        hess = np.diag(np.concatenate([4 * c[:k0] * pos**2, 2 * c[k0:]]))
        return value, grad, hess

    def triple(
        self, u: FloatArray, *, hessian: bool
    ) -> tuple[float, FloatArray, FloatArray | None]:
        """(f, df/du, d2f/du2 or None) at u; f = inf outside the usable range."""
        key = u.tobytes() + (b"h" if hessian else b"g")
        hit = self._cache.get(key)
        if hit is None and not hessian:  # a point evaluated with its Hessian serves both
            hit = self._cache.get(u.tobytes() + b"h")
        if hit is not None:
            return hit
        k = len(u)
        out: tuple[float, FloatArray, FloatArray | None] = (np.inf, np.zeros(k), None)
        if np.all(np.abs(u[: self.k0]) <= _EDGE) and np.all(np.isfinite(u)):
            th = self.theta(u)
            jac = th if self.k0 == k else np.concatenate([th[: self.k0], np.ones(k - self.k0)])
            natural: tuple[float, FloatArray, FloatArray] | None = None
            with np.errstate(all="ignore"):
                H_u: FloatArray | None = None
                if hessian and self.newton is not None:
                    ll, g, H = self.newton(th)
                    natural = (float(ll), g, H)
                    gu = g * jac
                    H_u = jac[:, None] * H * jac[None, :]
                    H_u[np.diag_indices(self.k0)] += gu[: self.k0]
                else:
                    ll, g_or_none = self.loglik(th)
                    gu = (
                        self._forward_gradient(u, ll)
                        if g_or_none is None
                        else np.asarray(g_or_none) * jac
                    )
                f, grad = -float(ll) / self.n, -gu / self.n
                hess = None if H_u is None else -H_u / self.n
                if self.c:
                    pv, pg, ph = self._penalty(th)
                    f, grad = f + pv, grad + pg
                    hess = None if hess is None else hess + ph
            ok = np.isfinite(f) and np.isfinite(grad).all()
            if ok and hess is not None and not np.isfinite(hess).all():
                ok = False
            if ok:
                out = (f, grad, hess)
            if ok and natural is not None:
                self._natural[u.tobytes()] = natural
        if len(self._cache) > 64:
            self._cache.clear()
            self._natural.clear()
        self._cache[key] = out
        return out

    def forget(self, u: FloatArray) -> None:
        """Drop what is known at u (a failed evaluation with the Hessian must not stand for
        the value there)."""
        self._cache.pop(u.tobytes() + b"h", None)

    def natural(self, u: FloatArray) -> tuple[float, FloatArray, FloatArray] | None:
        """(log L, gradient, Hessian) in the natural parameters at u when u was evaluated
        with its Hessian (None otherwise)."""
        return self._natural.get(u.tobytes())

    def _forward_gradient(self, u: FloatArray, ll: float) -> FloatArray:
        """Forward differences of log L in u (relative steps in the natural scale)."""
        gu = np.empty_like(u)
        for j in range(len(u)):
            e = np.zeros_like(u)
            e[j] = 1e-7
            gu[j] = (self.loglik(self.theta(u + e))[0] - ll) / 1e-7
        return gu

    def value(self, u: FloatArray) -> float:
        return self.triple(u, hessian=False)[0]

    def grad(self, u: FloatArray) -> FloatArray:
        return self.triple(u, hessian=False)[1]

    def hess(self, u: FloatArray) -> FloatArray:
        """d2f/du2: analytic with ``newton``, else central differences of the gradient."""
        if self.newton is not None:
            h = self.triple(u, hessian=True)[2]
            if h is not None:
                return h
        k = len(u)
        H = np.empty((k, k))
        for j in range(k):
            e = np.zeros(k)
            e[j] = 1e-5
            H[:, j] = (self.grad(u + e) - self.grad(u - e)) / 2e-5
        out: FloatArray = (H + H.T) / 2
        return out


def _region_step(
    lam: FloatArray, Q: FloatArray, gt: FloatArray, radius: float
) -> tuple[FloatArray, float, bool]:
    """The exact minimiser p of the model g'p + p'Hp/2 over |p| <= radius, with
    H = Q diag(lam) Q' (lam ascending) and gt = Q'g: (p, the model's predicted decrease,
    whether p is the interior Newton step). On the boundary p = -(H + mu I)^-1 g with
    mu > max(0, -lam_1) solving 1/|p(mu)| = 1/radius by Newton's method (the secular
    equation, nearly linear in mu, approached from below); in the 'hard case' (g without
    a component along the lowest eigenvector) that eigenvector completes p to the boundary."""
    if lam[0] > 0:
        pt = -gt / lam
        if float(np.sqrt(np.dot(pt, pt))) <= radius:
            return Q @ pt, -float(np.dot(gt, pt) + 0.5 * np.dot(pt, lam * pt)), True
    scale = max(float(np.max(np.abs(lam))), np.finfo(float).tiny)
    lo = max(0.0, -float(lam[0]))
    g2 = gt * gt
    mu = lo + 1e-12 * scale
    with np.errstate(all="ignore"):
        norm = float(np.sqrt(np.sum(g2 / (lam + mu) ** 2)))
    if not norm > radius:  # the hard case
        mu = lo
        with np.errstate(all="ignore"):
            pt = np.where(lam + mu > 1e-12 * scale, -gt / (lam + mu), 0.0)
        rest = radius * radius - float(np.dot(pt, pt))
        pt[0] += np.sqrt(max(rest, 0.0)) * (-1.0 if gt[0] > 0 else 1.0)
    else:
        for _ in range(50):
            d = lam + mu
            n2 = float(np.sum(g2 / d**2))
            norm = np.sqrt(n2)
            dn = float(np.sum(g2 / d**3)) / (norm * n2)  # d(1/|p|)/dmu
            change = (1.0 / radius - 1.0 / norm) / dn
            mu += change
            if abs(change) <= 1e-14 * max(mu, scale) or abs(norm - radius) <= 1e-10 * radius:
                break
        pt = -gt / (lam + mu)
    return Q @ pt, -float(np.dot(gt, pt) + 0.5 * np.dot(pt, lam * pt)), False


def _newton_region(
    obj: _Objective, u: FloatArray, stop: Callable[[FloatArray], bool] | None, gtol: float
) -> tuple[FloatArray, FloatArray, int, str]:
    """The trust-region Newton method with the exact subproblem (a k x k eigenproblem: the
    models have a handful of parameters), every point evaluated with its analytic Hessian,
    run until the Newton step from a point with a positive-definite Hessian is below 1e-11
    in every coordinate (the polish's rule, so no polish follows), or the point cannot be
    improved in floating point. Returns (end point, the point last evaluated, iterations,
    status): ``"converged"``, ``"gtol"`` (after :data:`_SLOW` iterations without the
    quadratic convergence, for example along a direction the data hardly identify, the
    gradient is below ``gtol``: the polish takes over, as after scipy's methods),
    ``"halted"`` (the model's ``stop`` rule fired at an iterate) or ``"failed"`` (no
    convergence within the iterations or no usable Hessian: the caller falls back to
    scipy's methods)."""
    f, g, H = obj.triple(u, hessian=True)
    if H is None or not np.isfinite(f):
        return u, u, 0, "failed"
    radius, its = _RADIUS, 0
    eps = np.finfo(float).eps
    last = np.inf  # the size of the last step when it was the full Newton step
    while its < _REGION_STEPS:
        try:
            lam, Q = np.linalg.eigh(H)
        except np.linalg.LinAlgError:
            return u, u, its, "failed"
        if not np.isfinite(lam).all():
            return u, u, its, "failed"
        gt = Q.T @ g
        if its >= _SLOW and float(np.max(np.abs(g))) < gtol:
            return u, u, its, "gtol"
        if lam[0] > 0:
            newton = -(Q @ (gt / lam))
            size = float(np.max(np.abs(newton)))
            if size < 1e-11:
                return u, u, its, "converged"
            # quadratic convergence: the step after this one is about m * size**2, m the
            # contraction seen on the last one (at least 1): when that is below
            # _RESIDUAL the step is taken without evaluating its end point
            if size <= _LAST_STEP and max(1.0, size / last**2) * size**2 <= _RESIDUAL:
                return u + newton, u, its + 1, "converged"
        its += 1
        step, pred, inside = _region_step(lam, Q, gt, radius)
        size = float(np.sqrt(np.dot(step, step)))
        if not (np.isfinite(size) and size > 0):
            return u, u, its, "failed"
        cand = u + step
        f1, g1, H1 = obj.triple(cand, hessian=True)
        slack = 8 * eps * max(abs(f), 1.0)
        if H1 is None or not np.isfinite(f1):
            radius, last = 0.25 * size, np.inf
            continue
        rho = (f - f1) / pred if pred > 0 else -np.inf
        rounding = pred <= slack  # the model's decrease is below f's rounding
        if rounding:
            accept = f1 <= f + slack or float(np.max(np.abs(g1))) < float(np.max(np.abs(g)))
            if not accept:
                return u, u, its, "converged" if inside and lam[0] > 0 else "failed"
        else:
            accept = rho > 0.15
            if rho < 0.25:
                radius = 0.25 * size
            elif rho > 0.75 and not inside:
                radius = min(2.0 * radius, 1000.0)
        if accept:
            u, f, g, H = cand, f1, g1, H1
            last = float(np.max(np.abs(step))) if inside and lam[0] > 0 else np.inf
            if stop is not None and stop(obj.theta(u)):
                return u, u, its, "halted"
        else:
            last = np.inf
        if radius < 1e-13:
            return u, u, its, "failed"
    return u, u, its, "failed"


def _polish(obj: _Objective, u: FloatArray) -> tuple[FloatArray, int]:
    """Newton steps from a converged point until the step is below 1e-11 in every
    log-parameter (relative 1e-11 in the natural scale): the optimum to 1e-8 relative with
    room to spare, whatever tolerance the first stage stopped at. A step is kept only when
    it does not raise f beyond rounding or it lowers the gradient."""
    steps = 0
    f0, g0, _ = obj.triple(u, hessian=False)
    for _ in range(_POLISH_STEPS):
        H = obj.hess(u)
        if not np.isfinite(H).all():
            break
        try:
            step = np.linalg.solve(H, -g0)
        except np.linalg.LinAlgError:
            break
        if not np.isfinite(step).all() or float(np.dot(step, g0)) > 0:
            break
        t = 1.0
        moved = False
        while t >= 1.0 / 64:
            cand = u + t * step
            f1, g1, _ = obj.triple(cand, hessian=False)
            slack = 8 * np.finfo(float).eps * max(abs(f0), 1.0)
            if np.isfinite(f1) and (
                f1 <= f0 + slack or float(np.max(np.abs(g1))) < float(np.max(np.abs(g0)))
            ):
                u, f0, g0, moved = cand, f1, g1, True
                break
            t /= 2
        steps += 1
        if not moved or float(np.max(np.abs(t * step))) < 1e-11:
            break
    return u, steps


def _watch(
    obj: _Objective, stop: Callable[[FloatArray], bool] | None, seen: list[FloatArray]
) -> Callable[[optimize.OptimizeResult], None] | None:
    """scipy's per-iteration callback: records the iterate and halts the search (raising
    StopIteration, which scipy honours) when the model's ``stop`` rule fires there."""
    if stop is None:
        return None

    def callback(intermediate_result: optimize.OptimizeResult) -> None:
        u = np.asarray(intermediate_result.x, dtype=np.float64)
        if stop(obj.theta(u)):
            seen.append(u.copy())
            raise StopIteration

    return callback


def _trust_region(
    obj: _Objective,
    u0: FloatArray,
    gtol: float,
    callback: Callable[[optimize.OptimizeResult], None] | None = None,
    method: str = "trust-krylov",
) -> optimize.OptimizeResult:
    """scipy's trust-region Newton method on the analytic triple: ``trust-krylov``, or
    ``trust-exact`` (the subproblem solved exactly: the fallback where the Krylov one
    fails to predict an improvement)."""
    # near the optimum the Krylov subproblem can divide 0 by 0 inside scipy (a RuntimeWarning
    # that must not reach users) and idle without new evaluations: silenced, and capped
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)

        def hess(u: FloatArray) -> FloatArray:
            h = obj.triple(u, hessian=True)[2]
            return np.eye(len(u)) if h is None else h

        return optimize.minimize(
            lambda u: obj.triple(u, hessian=True)[0],
            u0,
            jac=lambda u: obj.triple(u, hessian=True)[1],
            hess=hess,
            method=method,
            options={"gtol": gtol, "maxiter": 60 if method == "trust-krylov" else 200},
            callback=callback,
        )


def _quasi_newton(
    obj: _Objective,
    start: FloatArray,
    u0: FloatArray,
    gtol: float,
    callback: Callable[[optimize.OptimizeResult], None] | None = None,
    stopped: list[FloatArray] | None = None,
) -> tuple[optimize.OptimizeResult, int]:
    """BFGS with the gradient, restarted from a Nelder-Mead polish (at most 3 rounds);
    a round that the model's ``stop`` rule halts ends the search there."""
    best = None
    iterations = 0
    halted = stopped if stopped is not None else []
    for attempt in range(3):
        # BFGS, not L-BFGS-B: the latter's per-step overhead (tiny LAPACK calls)
        # dominates fits of 3-4 parameters on a busy machine
        before = len(halted)
        with np.errstate(all="ignore"):
            res = optimize.minimize(
                lambda u: obj.triple(u, hessian=False)[:2],
                start,
                jac=True,
                method="BFGS",
                options={"gtol": gtol, "maxiter": 2000},
                callback=callback,
            )
        iterations += int(res.nit)
        if len(halted) > before:
            res.x = halted[-1]
            res.fun, res.jac, _ = obj.triple(halted[-1], hessian=False)
        if best is None or res.fun < best.fun:
            best = res
        gnorm = float(np.max(np.abs(res.jac))) if np.isfinite(res.fun) else np.inf
        if len(halted) > before or (np.isfinite(res.fun) and gnorm < 1e-5):
            break
        with np.errstate(all="ignore"):
            nm = optimize.minimize(
                obj.value,
                res.x if np.isfinite(res.fun) else u0 + 0.5 * (attempt + 1),
                method="Nelder-Mead",
                options={"xatol": 1e-8, "fatol": 1e-13, "maxiter": 800},
            )
        iterations += int(nm.nit)
        start = nm.x
    assert best is not None
    return best, iterations


def _natural_hessian(
    loglik: LogLik,
    newton: Newton | None,
    hessian: Callable[[FloatArray], FloatArray] | None,
    theta: FloatArray,
) -> FloatArray | None:
    """Hessian of the (unpenalised) log-likelihood in the natural parameters."""
    try:
        if newton is not None:
            return newton(theta)[2]
        if hessian is not None:
            return hessian(theta)
        return _numeric_hessian(loglik, theta)
    except (FloatingPointError, ValueError, ZeroDivisionError, FitError):
        return None


def _numeric_hessian(loglik: LogLik, theta: FloatArray) -> FloatArray:
    """Central differences of the analytic gradient, or second differences of the value."""
    k = len(theta)
    H = np.empty((k, k))
    f0, g0 = loglik(theta)
    if g0 is not None:
        step = 1e-5 * np.maximum(np.abs(theta), 1e-3)
        for j in range(k):
            e = np.zeros(k)
            e[j] = step[j]
            gp, gm = loglik(theta + e)[1], loglik(theta - e)[1]
            assert gp is not None and gm is not None
            H[:, j] = (np.asarray(gp) - np.asarray(gm)) / (2 * step[j])
        out: FloatArray = (H + H.T) / 2
        return out
    hs = 1e-4 * np.maximum(np.abs(theta), 1e-3)

    def f(*steps: tuple[int, float]) -> float:
        t = theta.copy()
        for j, sign in steps:
            t[j] += sign * hs[j]
        return float(loglik(t)[0])

    for j in range(k):
        H[j, j] = (f((j, 1)) - 2 * f0 + f((j, -1))) / hs[j] ** 2
        for i in range(j):
            H[i, j] = H[j, i] = (
                f((i, 1), (j, 1)) - f((i, 1), (j, -1)) - f((i, -1), (j, 1)) + f((i, -1), (j, -1))
            ) / (4 * hs[i] * hs[j])
    return H


def _covariance(H: FloatArray | None) -> FloatArray | None:
    """(-H)^-1 when it is a finite positive-definite covariance; None otherwise."""
    if H is None or not np.isfinite(H).all():
        return None
    try:
        cov = np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        return None
    d = np.diag(cov)
    if not (np.isfinite(cov).all() and (d > 0).all()):
        return None
    out: FloatArray = (cov + cov.T) / 2
    return out


def _names(names: Sequence[str], model: str) -> tuple[str, ...]:
    out = tuple(expect_items(names, str, name="names"))
    if not out or len(set(out)) != len(out):
        raise ValidationError(
            f"{model}: 'names' must name at least one parameter, each once: {out!r}"
        )
    return out


def _start(
    start: npt.ArrayLike, names: Sequence[str], k0: int, model: str, label: str
) -> FloatArray:
    theta0 = as_float_array(start, name=label)
    if len(theta0) != len(names):
        raise ValidationError(
            f"{model}: {label!r} must give {len(names)} values ({', '.join(names)}): "
            f"got {len(theta0)}"
        )
    bad = np.flatnonzero(~(theta0[:k0] > 0))
    if len(bad):
        j = int(bad[0])
        raise ValidationError(
            f"{model}: initial value of {names[j]!r} must be > 0: {float(theta0[j])}"
        )
    with np.errstate(divide="ignore"):
        far = np.flatnonzero(np.abs(np.log(theta0[:k0])) > _EDGE)
    if len(far):
        j = int(far[0])
        raise ValidationError(
            f"{model}: initial value of {names[j]!r} must be in e**-{_EDGE:g} .. e**{_EDGE:g} "
            f"(the range the fit searches): {float(theta0[j]):g}"
        )
    huge = np.flatnonzero(~np.isfinite(theta0[k0:]) | (np.abs(theta0[k0:]) > _FREE_EDGE))
    if len(huge):
        j = k0 + int(huge[0])
        raise ValidationError(
            f"{model}: initial value of {names[j]!r} must be a finite number within "
            f"+-{_FREE_EDGE:g}: {float(theta0[j]):g}"
        )
    return theta0


def _one_start(
    obj: _Objective,
    u0: FloatArray,
    gtol: float,
    stop: Callable[[FloatArray], bool] | None,
    subproblem: str = "krylov",
) -> tuple[optimize.OptimizeResult, int, bool]:
    """The first stage from one start: (end point, iterations, whether ``stop`` fired)."""
    halted: list[FloatArray] = []
    callback = _watch(obj, stop, halted)
    iterations = 0
    res = None
    if obj.newton is not None and subproblem == "krylov":
        u, at, its, status = _newton_region(obj, u0, stop, gtol)
        iterations += its
        if status != "failed":
            f, grad, _ = obj.triple(at, hessian=False)
            done = optimize.OptimizeResult(
                x=u,
                fun=f,
                jac=grad,
                nit=its,
                success=status != "halted",
                message=_CONVERGED if status != "halted" else "stopped by the model's rule",
                polished=status == "converged",
                evaluated=at,
            )
            return done, iterations, status == "halted"
        _log.debug("trust-region Newton (exact subproblem) did not converge: scipy's methods")
    if obj.newton is not None:
        res = _trust_region(obj, u0, gtol, callback, f"trust-{subproblem}")
        iterations += int(res.nit)
        if halted:
            res.x = halted[-1]
            res.fun, res.jac, _ = obj.triple(halted[-1], hessian=False)
            return res, iterations, True
        if subproblem == "krylov" and not (
            np.isfinite(res.fun) and float(np.max(np.abs(res.jac))) < 1e-5
        ):
            exact = _trust_region(
                obj, res.x if np.isfinite(res.fun) else u0, gtol, callback, "trust-exact"
            )
            iterations += int(exact.nit)
            if halted:
                exact.x = halted[-1]
                exact.fun, exact.jac, _ = obj.triple(halted[-1], hessian=False)
                return exact, iterations, True
            if np.isfinite(exact.fun) and not exact.fun > res.fun:
                res = exact
        if not (np.isfinite(res.fun) and float(np.max(np.abs(res.jac))) < 1e-5):
            start_u = res.x if np.isfinite(res.fun) else u0
            _log.info("trust-region Newton ended short of the optimum (%s): BFGS", res.message)
            qn, more = _quasi_newton(obj, start_u, u0, gtol, callback, halted)
            iterations += more
            if halted:
                return qn, iterations, True
            res = qn if not np.isfinite(res.fun) or qn.fun <= res.fun else res
    else:
        res, iterations = _quasi_newton(obj, u0, u0, gtol, callback, halted)
    return res, iterations, bool(halted)


def maximum_likelihood(
    loglik: LogLik,
    start: npt.ArrayLike,
    *,
    model: str,
    names: Sequence[str],
    n: float,
    free: int = 0,
    newton: Newton | None = None,
    hessian: Callable[[FloatArray], FloatArray] | None = None,
    penalizer: float = 0.0,
    penalty_scales: npt.ArrayLike | None = None,
    scales: Mapping[str, str] | None = None,
    log_bound: float = 25.0,
    gtol: float = 1e-7,
    starts: Sequence[npt.ArrayLike] = (),
    stop: Callable[[FloatArray], bool] | None = None,
    diverging: Literal["raise", "report"] = "raise",
    subproblem: Literal["krylov", "exact"] = "krylov",
    progress: Progress | None = None,
) -> FitSummary:
    """Maximise a log-likelihood; the fit of every model in crmcore goes through here.

    ``loglik(theta)`` returns the total (weighted) log-likelihood and its gradient (None:
    forward differences); ``newton(theta)`` (optional) the value, gradient and Hessian in one
    call. The first ``len(names) - free`` parameters are positive and optimised as their
    logarithms; the last ``free`` (regression coefficients) as they are. The minimised
    objective is ``-log L / n + penalizer * sum((s_j theta_j)**2)``, an L2 penalty (0: plain
    maximum likelihood) with ``penalty_scales`` s_j (default 1): a model whose time-scale
    parameters are penalised in the time rescaled to max(T) = 1, as lifetimes'
    ``penalizer_coef`` does, passes 1 / max(T) for them, so the penalty does not depend on
    the time unit.

    The path: from ``start`` and from each of ``starts`` (further starting points, for a
    likelihood with several local maxima), when ``newton`` is given, crmcore's trust-region
    Newton method (the subproblem solved exactly through the k x k eigenproblem, every
    point evaluated once with its Hessian) run to the end: until the Newton step is below
    1e-11 relative, or is below 1e-6 with the step after it predicted (quadratic
    convergence at the rate seen on the last step) below 1e-10, when it is taken without
    evaluating its end point (the log-likelihood carried there by Taylor's formula, the
    covariance that of the point it starts from, within the step's size); after 20
    iterations without that quadratic convergence a gradient below ``gtol`` hands over to
    the polish below. Where that does not converge, scipy's ``trust-krylov``, then ``trust-exact`` where it fails to predict
    an improvement (``subproblem="exact"``: scipy's ``trust-exact`` from the start, for
    likelihoods with faces and stop rules), else (or when they stall, or without
    ``newton``) BFGS restarted from Nelder-Mead; the end point with the highest
    (penalised) likelihood is kept; after scipy's methods, Newton steps (analytic or
    numerical Hessian) until every step is below 1e-11 relative, so the estimate is the
    maximum to 1e-8 relative whatever tolerance the first stage stopped at. Standard errors and covariance come from the observed information of the
    unpenalised log-likelihood at the estimate. ``scales`` maps a parameter that is a scale
    of the data to the inputs it is the scale of, so a fit ending at the edge of the
    parameter space (a log-parameter beyond ``log_bound``) says which input to express in
    another unit.

    A model whose parameter space has an edge of its own (a probability running to 0, a
    coefficient to infinity) passes ``stop(theta)``, called with every iterate: True ends
    that start there, as diverging. With ``diverging="raise"`` (default) a fit whose best
    end point diverged, lies at the edge or has not converged raises FitError; with
    ``diverging="report"`` it is returned with ``converged=False``, no standard errors
    and the reason in ``message``, for the model to apply its own boundary rules.
    ``progress`` (:mod:`crmcore.progress`) hears of every likelihood evaluation (stage
    ``"fit <model>"``, total unknown until the fit ends).

    Raises FitError when the log-likelihood is not finite at any start, the maximum lies at
    the edge of the parameter space, or the optimiser does not converge; ValidationError
    for an initial value outside the range the engine searches (a positive parameter in
    e**-50 .. e**50) or a ``penalizer`` that makes the objective infinite at the start.

    >>> def ll(th):  # Poisson rate from 10 observations summing to 30
    ...     return 30 * np.log(th[0]) - 10 * th[0], np.array([30 / th[0] - 10])
    >>> fit = maximum_likelihood(ll, [1.0], model="toy", names=["lam"], n=10)
    >>> round(fit.estimates[0], 12), round(fit.standard_errors[0] ** 2, 9), fit.converged
    (3.0, 0.3, True)
    >>> far = maximum_likelihood(ll, [1.0], model="toy", names=["lam"], n=10,
    ...                          stop=lambda th: th[0] > 2.0, diverging="report")
    >>> far.converged, far.estimates[0] > 2.0, far.message
    (False, True, "diverged: the model's stop rule ended the search")
    """
    expect_callable(loglik, name="loglik")
    if newton is not None:
        expect_callable(newton, name="newton")
    if hessian is not None:
        expect_callable(hessian, name="hessian")
    if stop is not None:
        expect_callable(stop, name="stop")
    if diverging not in ("raise", "report"):
        raise ValidationError(f"'diverging' must be 'raise' or 'report': {diverging!r}")
    if subproblem not in ("krylov", "exact"):
        raise ValidationError(f"'subproblem' must be 'krylov' or 'exact': {subproblem!r}")
    tick = stage(progress, f"fit {model}")  # one unit per likelihood evaluation
    loglik, newton = tick.counting(loglik), None if newton is None else tick.counting(newton)
    names = _names(names, model)
    free = as_count(free, name="free", high=len(names))
    k0 = len(names) - free
    n = as_number(n, name="n", low=0, inclusive=(False, True))
    penalizer = as_number(penalizer, name="penalizer", low=0)
    theta0s = [_start(x, names, k0, model, "start") for x in (start,)] + [
        _start(x, names, k0, model, f"starts[{i}]") for i, x in enumerate(starts)
    ]
    ps = None
    if penalty_scales is not None:
        ps = as_float_array(penalty_scales, name="penalty_scales")
        if len(ps) != len(names):
            raise ValidationError(
                f"{model}: 'penalty_scales' must give one value per entry of 'names' "
                f"({len(names)}): got {len(ps)}"
            )
    obj = _Objective(loglik, newton, k0, n, penalizer, ps)
    u0s = [np.concatenate([np.log(t[:k0]), t[k0:]]) for t in theta0s]
    _check_penalty(obj, u0s[0], penalizer, model)
    usable = [u for u in u0s if _usable(obj, u, newton is not None and subproblem == "krylov")]
    if not usable:
        shown = dict(zip(names, np.round(theta0s[0], 6).tolist(), strict=True))
        raise FitError(
            f"{model}: the log-likelihood is not finite at the initial values {shown}"
            + (f" (nor at the {len(starts)} other starts)" if starts else "")
            + "; check the data"
        )
    iterations = 0
    res = None
    halted = False
    for u_start in usable:
        one, its, stopped = _one_start(obj, u_start, gtol, stop, subproblem)
        iterations += its
        if res is None or (np.isfinite(one.fun) and not one.fun >= res.fun):
            res, halted = one, stopped
    assert res is not None
    u = np.asarray(res.x, dtype=np.float64)
    named = dict(zip(names, obj.theta(u).round(6).tolist(), strict=True))
    if not np.isfinite(res.fun) or not np.isfinite(u).all():
        raise FitError(f"{model}: the optimiser found no finite log-likelihood ({res.message})")
    report = diverging == "report"

    def unconverged(why: str) -> FitSummary:
        theta = obj.theta(u)
        tick.finish()
        return FitSummary(
            model=model,
            names=names,
            estimates=tuple(theta.tolist()),
            standard_errors=None,
            covariance=None,
            log_likelihood=float(loglik(theta)[0]),
            n=n,
            iterations=iterations,
            converged=False,
            message=why,
            penalizer=penalizer,
            scales=("log",) * k0 + ("linear",) * free,
        )

    if halted:
        if report:
            return unconverged("diverged: the model's stop rule ended the search")
        raise FitError(f"{model}: the estimates diverged (the search ended at {named})")
    edge = _edge(u, names, k0, log_bound, scales, model, named, penalizer)
    if edge is not None:
        if report:
            return unconverged(f"diverged: {edge}")
        raise FitError(edge)
    if not res.get("polished", False):  # the trust-region Newton method ends polished
        u, polish = _polish(obj, u)
        iterations += polish
    edge = _edge(u, names, k0, log_bound, scales, model, named, penalizer)
    if edge is not None:
        if report:
            return unconverged(f"diverged: {edge}")
        raise FitError(edge)
    if stop is not None and stop(obj.theta(u)):
        if report:
            return unconverged("diverged: the model's stop rule ended the search")
        raise FitError(f"{model}: the estimates diverged (the search ended at {named})")
    # the point last evaluated: the end point, or the one the last Newton step started from
    at = res.get("evaluated", u) if res.get("polished", False) else u
    gnorm = float(np.max(np.abs(obj.grad(at))))
    theta = obj.theta(u)
    named = dict(zip(names, theta.round(6).tolist(), strict=True))
    if not gnorm < 1e-4:  # mean log-likelihood per unit of log-parameter
        why = f"the optimiser did not converge (largest gradient {gnorm:.2e} at {named}): " + str(
            res.message
        )
        if report:
            return unconverged(why)
        raise FitError(f"{model}: {why}")
    # log L and the information at that point (evaluated with its Hessian: no new evaluation;
    # a final Newton step below 1e-6 changes them by less than its size)
    known = obj.natural(at)
    if known is None:
        ll = float(loglik(theta)[0])
    else:  # at the end point by Taylor's formula from ``at`` (exact to |step|**3)
        d = theta - obj.theta(at)
        ll = known[0] + float(np.dot(known[1], d) + 0.5 * np.dot(d, known[2] @ d))
    cov = _covariance(
        _natural_hessian(loglik, newton, hessian, theta) if known is None else known[2]
    )
    tick.finish()
    return FitSummary(
        model=model,
        names=names,
        estimates=tuple(theta.tolist()),
        standard_errors=None if cov is None else tuple(np.sqrt(np.diag(cov)).tolist()),
        covariance=None if cov is None else tuple(map(tuple, cov.tolist())),
        log_likelihood=ll,
        n=n,
        iterations=iterations,
        converged=True,
        message=str(res.message),
        penalizer=penalizer,
        scales=("log",) * k0 + ("linear",) * free,
    )


def _usable(obj: _Objective, u: FloatArray, hessian: bool) -> bool:
    """Whether the objective is finite at a start; ``hessian``: evaluated with its Hessian
    (which the first Newton step needs), the value alone only where that fails."""
    if hessian:
        if np.isfinite(obj.triple(u, hessian=True)[0]):
            return True
        obj.forget(u)
    return bool(np.isfinite(obj.value(u)))


def _check_penalty(obj: _Objective, u0: FloatArray, penalizer: float, model: str) -> None:
    """A penalizer so large that the penalty alone is not finite at the start is refused."""
    if penalizer == 0:
        return
    with np.errstate(all="ignore"):
        value = obj._penalty(obj.theta(u0))[0]
    if not np.isfinite(value):
        raise ValidationError(
            f"{model}: 'penalizer' {penalizer:g} makes the penalty infinite at the initial "
            "values: expected a finite L2 coefficient of ordinary size (for example 0.001 "
            "to 1; 0 for plain maximum likelihood)"
        )


def _edge(
    u: FloatArray,
    names: tuple[str, ...],
    k0: int,
    log_bound: float,
    scales: Mapping[str, str] | None,
    model: str,
    named: dict[str, float],
    penalizer: float = 0.0,
) -> str | None:
    """Why a log-parameter beyond ``log_bound`` puts the fit at the edge, or None."""
    if not np.any(np.abs(u[:k0]) > log_bound):
        return None
    edge = [names[int(j)] for j in np.flatnonzero(np.abs(u[:k0]) > log_bound)]
    of = scales or {}
    scaled = [f"{p!r} is the time scale of {of[p]}" for p in edge if p in of]
    if penalizer > 0 and not scaled:
        why = (
            f"the L2 penalizer {penalizer:g} pulls {', '.join(map(repr, edge))} to 0: "
            "use a smaller 'penalizer'"
        )
    elif scaled:
        why = (
            "; ".join(scaled) + f" (a fitted scale lies in e**-{log_bound:g} .. e**{log_bound:g}): "
            "express them in another time unit"
        )
    else:
        why = "the data cannot identify the model (for example no sign of drop-out)"
    return f"{model}: the maximum likelihood lies at the edge of the parameter space {named}: {why}"
