"""Where the loyalty likelihood is highest: the optimiser and the boundary rules (internal).

:func:`optimise` maximises over the coefficients not held fixed (Fisher scoring from each
start, scipy's BFGS where scoring stalls, then Newton steps on the analytic observed
Hessian to rounding level); :func:`maximise` adds the boundary of the parameter space
(:mod:`crmcore.satisfaction._boundary`): it fits the interior and each face and returns
the highest maximum whose first-order condition holds; :func:`failure_of` says why an
end point is not an estimate.

>>> import numpy as np
>>> from crmcore.satisfaction._likelihood import _cells_from_table
>>> cells = _cells_from_table([1, 2, 3, 4, 5], [0.5] * 5, [30, 34, 45, 70, 90], [100] * 5)
>>> opt, face = maximise(cells, moderated=False)
>>> face is None, round(float(opt.theta[4]), 3)   # interior; floor logit
(True, -0.884)
"""

from __future__ import annotations

import attrs
import numpy as np

from crmcore.arrays import FloatArray, IntArray
from crmcore.errors import FitError
from crmcore.satisfaction._boundary import (
    FLOOR_EDGE,
    KKT_TOLERANCE,
    Face,
    data_cause,
    diverged,
    exit_slope,
    faces,
    floor_vanishes,
    leave,
    runaway,
)
from crmcore.satisfaction._likelihood import (
    BOUND,
    _Cells,
    _converged,
    _fisher,
    _nll_grad,
    _nll_hess,
    _scoring,
    _starts,
)

__all__: list[str] = []

MODERATION = (1, 3, 5)  # indices of the competition coefficients in PARAMETER_NAMES
_GRADIENT_TOLERANCE = 1e-8  # per response, at the end of the Newton polish
_POLISH_STEPS = 50
_POLISH_STEP = 1e-12  # a Newton step this small (relative) ends the polish
_SINGULAR = 1e-12  # smallest eigenvalue of the observed information, relative to its largest
_TIE = 1e-12  # per-response log-likelihoods this close are the same maximum


@attrs.frozen
class Optimum:
    """Where one optimisation ended: all six coefficients, the negative log-likelihood per
    response and its gradient and Hessian over the free coefficients."""

    theta: FloatArray
    value: float
    grad: FloatArray
    hess: FloatArray
    free: IntArray
    iterations: int


def optimise(cells: _Cells, fixed: dict[int, float], starts: list[FloatArray]) -> Optimum:
    """Maximise the likelihood over the coefficients not in ``fixed``: Fisher scoring from
    each start (scipy's BFGS where scoring stalls), then Newton steps on the observed
    Hessian from the best end point until the step is at rounding level."""
    base = np.zeros(6)
    for i, v in fixed.items():
        base[i] = v
    free = np.array([i for i in range(6) if i not in fixed])
    n = float(cells.m.sum())

    def full(t: FloatArray) -> FloatArray:
        th = base.copy()
        th[free] = t
        return th

    def fun(t: FloatArray) -> tuple[float, FloatArray]:
        v, g = _nll_grad(full(t), cells.x, cells.c, cells.k, cells.m)
        return v / n, g[free] / n

    def hess_fn(t: FloatArray) -> FloatArray:
        info = _fisher(full(t), cells.x, cells.c, cells.m)
        return np.asarray(
            info[np.ix_(free, free)] / n + 1e-12 * np.eye(len(free)), dtype=np.float64
        )

    def observed(t: FloatArray) -> FloatArray:
        h = _nll_hess(full(t), cells.x, cells.c, cells.k, cells.m)
        return np.asarray(h[np.ix_(free, free)] / n, dtype=np.float64)

    best: tuple[float, FloatArray] | None = None
    iterations = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in starts:
            v, t_hat, its = _scoring(fun, hess_fn, start[free])
            ran_away = np.abs(t_hat - start[free]).max() > 2 * BOUND  # BFGS would follow
            if not ran_away and not _converged(fun, t_hat):  # scipy's quasi-Newton from there
                from scipy import optimize  # only on this rare path: a slow import

                res = optimize.minimize(
                    fun, t_hat, jac=True, method="BFGS", options={"maxiter": 1000, "gtol": 1e-10}
                )
                v, t_hat, its = float(res.fun), np.asarray(res.x, dtype=np.float64), its + res.nit
            iterations += its
            if np.isfinite(v) and (best is None or v < best[0]):
                best = (v, t_hat)
        if best is None:
            raise FitError(
                "loyalty fit failed: the likelihood was not finite at any starting point"
            )
        t = best[1]
        val, grad = fun(t)
        hess = observed(t)
        previous = np.inf
        for _ in range(_POLISH_STEPS):  # Newton: the parameters to rounding level
            if not np.all(np.isfinite(grad)) or not np.any(grad):
                break
            try:
                step = np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError:
                break
            size = float(np.abs(step).max())
            if not np.isfinite(size) or (size > 0.5 * previous and np.abs(grad).max() < 1e-12):
                break  # no longer contracting at a vanishing gradient: rounding noise
            for _half in range(30):
                cand = t - step
                cv, cg = fun(cand)
                if np.isfinite(cv) and cv <= val + 1e-15:
                    break
                step = step / 2.0
            else:
                break
            t, val, grad = cand, cv, cg
            hess = observed(t)
            iterations += 1
            previous = size
            if size <= _POLISH_STEP * max(1.0, float(np.abs(t).max())):
                break
    return Optimum(full(t), float(val), grad, hess, free, iterations)


def maximise(
    cells: _Cells,
    moderated: bool,
    extra_start: FloatArray | None = None,
    *,
    floor_free: bool = True,
    seen: dict[str, tuple[Optimum, Face]] | None = None,
) -> tuple[Optimum, Face | None]:
    """The maximum of the likelihood over binomial cells and where it lies (None: inside,
    else the face of the boundary); :class:`FitError` naming the cause where there is none.
    ``floor_free=False`` holds the floor at 0 at every level (the face ``"none"``) instead
    of estimating it. ``seen`` receives the fit on each face fitted on the way."""
    fixed = {} if moderated else dict.fromkeys(MODERATION, 0.0)
    starts = _starts(cells)
    if extra_start is not None:
        starts.insert(0, np.asarray(extra_start, dtype=np.float64))
    if not floor_free:
        face = faces(cells, moderated)[0]
        opt = optimise(cells, {**fixed, **face.fixed}, [face.start(s) for s in starts])
        failure = failure_of(opt, cells, moderated, face)
        if failure is not None:
            raise failure
        return opt, face
    opt = optimise(cells, fixed, starts)
    failure = failure_of(opt, cells, moderated)
    # Off the interior: the floor may be 0 at every level or at every level but an end
    # one, where the likelihood can be higher than at an interior maximum (or the only
    # maximum, when the interior search runs towards it). Each face is fitted and kept
    # when its first-order condition holds.
    settled = failure is None and not floor_vanishes(opt.theta, cells)
    candidates: list[tuple[Optimum, Face | None]] = [] if failure is not None else [(opt, None)]
    for face in faces(cells, moderated):
        f_starts = [face.start(opt.theta)]
        if not settled:
            f_starts += [face.start(s) for s in starts]
        f_opt = optimise(cells, {**fixed, **face.fixed}, f_starts)
        if failure_of(f_opt, cells, moderated, face) is not None or (
            face.anchor is not None  # its floor ran to 0 at the anchor too: face "none"
            and f_opt.theta[4] + f_opt.theta[5] * face.anchor < -FLOOR_EDGE
        ):
            continue
        if seen is not None:
            seen[face.name] = (f_opt, face)
        slope = exit_slope(face, f_opt.theta, cells)
        if slope < -KKT_TOLERANCE:  # the first-order condition holds
            candidates.append((f_opt, face))
            continue
        if settled or slope <= KKT_TOLERANCE:  # flat off the face: no unique maximum there
            continue
        # The likelihood rises off this face to first order: search inside from just off
        # it. A search that runs back to the boundary with no gain the arithmetic can see
        # (the rise happens where the floors are below 1e-13) leaves the face the maximum.
        again = optimise(cells, fixed, [leave(face, f_opt.theta, cells)])
        if failure_of(again, cells, moderated) is None:
            candidates.append((again, None))
        elif floor_vanishes(again.theta, cells) and again.value >= f_opt.value - _TIE * max(
            1.0, abs(f_opt.value)
        ):
            candidates.append((f_opt, face))
    if not candidates:
        assert failure is not None  # an interior fit without failure is a candidate
        raise failure

    def rank(cand: tuple[Optimum, Face | None]) -> float:
        """The highest likelihood; a face wins ties with an interior point drifting to it."""
        tie = _TIE * max(1.0, abs(cand[0].value))
        return cand[0].value - (tie if cand[1] is not None and not settled else 0.0)

    best = min(candidates, key=rank)
    if failure is not None and best[0].value > opt.value + _TIE * max(1.0, abs(opt.value)):
        raise failure  # the first search went higher: what ran away was not the floor
    return best


def failure_of(
    opt: Optimum, cells: _Cells, moderated: bool, face: Face | None = None
) -> FitError | None:
    """Why the optimum found is not a usable estimate, or None when it is."""
    out = runaway(opt.theta, cells, face)
    if out is not None:
        return diverged(*out, cells, moderated)
    grad = opt.grad
    if not np.all(np.isfinite(grad)) or np.abs(grad).max() > _GRADIENT_TOLERANCE:
        cause = data_cause(cells)
        return FitError(
            f"loyalty fit did not converge: gradient {np.abs(grad).max():.3g}"
            + ("" if cause is None else f": {cause}")
        )
    info = opt.hess * float(cells.m.sum())
    eig = np.linalg.eigvalsh(info)
    if eig.min() <= _SINGULAR * max(eig.max(), 1.0):
        cause = data_cause(cells)
        if len(np.unique(cells.x)) < 3 or cause is None:
            return FitError(
                "the data do not identify the loyalty model (the Hessian is singular): "
                "responses are needed at three or more satisfaction levels"
                + (" and at least two competition levels" if moderated else "")
            )
        return FitError(f"the data do not identify the loyalty model: {cause}")
    return None
