"""Where the loyalty likelihood is highest: the model's hooks into the one engine (internal).

:func:`optimise` maximises over the coefficients not held fixed with
:func:`crmcore.fitting.maximum_likelihood` (the likelihood, its analytic gradient and
Hessian, the starting points and the rule that ends a start running out of range are
this model's hooks); :func:`maximise` adds the boundary of the parameter space
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
from crmcore.fitting import maximum_likelihood
from crmcore.satisfaction._boundary import (
    FLOOR_EDGE,
    KKT_TOLERANCE,
    Face,
    data_cause,
    diverged,
    exit_slope,
    faces,
    far,
    floor_vanishes,
    leave,
    runaway,
    singular_cause,
)
from crmcore.satisfaction._likelihood import _Cells, _nll_grad, _nll_hess, _starts
from crmcore.satisfaction.curve import PARAMETER_NAMES

__all__: list[str] = []

MODERATION = (1, 3, 5)  # indices of the competition coefficients in PARAMETER_NAMES
_GRADIENT_TOLERANCE = 1e-8  # per response, at the end of the Newton polish
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


def optimise(
    cells: _Cells, fixed: dict[int, float], starts: list[FloatArray], face: Face | None = None
) -> Optimum:
    """Maximise the likelihood over the coefficients not in ``fixed`` with the one engine,
    :func:`crmcore.fitting.maximum_likelihood` (every start, the best end point polished by
    Newton steps on the analytic Hessian); a start that leaves the range of estimates
    (:func:`~crmcore.satisfaction._boundary.far`) ends there, for :func:`failure_of` and
    the faces to judge."""
    base = np.zeros(6)
    for i, v in fixed.items():
        base[i] = v
    free = np.array([i for i in range(6) if i not in fixed])
    n = float(cells.m.sum())

    def full(t: FloatArray) -> FloatArray:
        th = base.copy()
        th[free] = t
        return th

    def loglik(t: FloatArray) -> tuple[float, FloatArray]:
        v, g = _nll_grad(full(t), cells.x, cells.c, cells.k, cells.m)
        return -v, -g[free]

    def newton(t: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        th = full(t)
        v, g = _nll_grad(th, cells.x, cells.c, cells.k, cells.m)
        h = _nll_hess(th, cells.x, cells.c, cells.k, cells.m)
        return -v, -g[free], -h[np.ix_(free, free)]

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        summary = maximum_likelihood(
            loglik,
            starts[0][free],
            starts=[s[free] for s in starts[1:]],
            model="loyalty",
            names=[PARAMETER_NAMES[i] for i in free],
            n=n,
            free=len(free),
            newton=newton,
            stop=lambda t: far(full(t), cells, face),
            diverging="report",
            subproblem="exact",
        )
        theta = full(np.asarray(summary.estimates, dtype=np.float64))
        value, grad = _nll_grad(theta, cells.x, cells.c, cells.k, cells.m)
        hess = _nll_hess(theta, cells.x, cells.c, cells.k, cells.m)[np.ix_(free, free)]
    return Optimum(theta, float(value) / n, grad[free] / n, hess / n, free, summary.iterations)


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
        opt = optimise(cells, {**fixed, **face.fixed}, [face.start(s) for s in starts], face)
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
        f_opt = optimise(cells, {**fixed, **face.fixed}, f_starts, face)
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
        return FitError(
            "the data do not identify the loyalty model: "
            + singular_cause(opt.theta, cells, moderated)
        )
    return None
