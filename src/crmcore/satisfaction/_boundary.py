"""The edge of the loyalty model's parameter space: where the floor is 0 (internal).

The captive floor ``f(c) = σ(γ₀ + γ₁c)`` lies in (0, 1) for finite
coefficients. When the likelihood keeps rising as the floor falls to 0, the
maximum lies on the closure of that space, on one of three *faces*:

- ``"none"``: the floor is 0 at every competition level (``γ₀ → −∞``);
- ``"lowest"``: the floor is estimated at the lowest observed level and is 0
  at every other one (``γ₁ → −∞`` with ``γ₀ + γ₁·c_min`` finite);
- ``"highest"``: the same at the highest observed level (``γ₁ → +∞``).

(A floor of 1 would make loyalty certain at a level: that is data at exactly
1, not a face.) On a face the remaining coefficients are an ordinary
smooth model, fitted by the same optimiser with the boundary coefficients
held fixed: ``floor_logit`` at −30 on ``"none"`` (a floor of 1e-13), and
``floor_logit_competition`` at ∓50/Δ on ``"lowest"``/``"highest"`` (Δ the gap
to the nearest other observed level, so that the floor there is below
σ(−30) ≈ 1e-13 for any floor logit up to the divergence bound 20 at the end
level). A face's fit is a maximum on the closure when the first-order
condition holds: every way the model allows of raising the floor from 0 where
the face holds it there lowers the likelihood (:func:`exit_slope`, from the
per-level slopes ``∂ℓ/∂f = Σ (k/q − m)`` over the level's cells, ``q`` the loyal
share of the customers who are free to leave).

>>> import numpy as np
>>> from crmcore.satisfaction._likelihood import _cells_from_table
>>> cells = _cells_from_table([1, 5, 1, 5], [0.2, 0.2, 0.6, 0.6], [5, 9, 1, 9], [10, 10, 10, 10])
>>> [f.name for f in faces(cells, moderated=True)]
['none', 'lowest', 'highest']
>>> round(faces(cells, moderated=True)[1].fixed[5], 9)   # -50 / (0.6 - 0.2)
-125.0
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import log_expit

from crmcore.arrays import FloatArray
from crmcore.errors import FitError
from crmcore.satisfaction._likelihood import BOUND, _Cells

__all__: list[str] = []

NO_FLOOR = -30.0
"""``floor_logit`` of a floor fixed at 0 at every level (σ(−30) ≈ 1e-13)."""
FLOOR_STEP = NO_FLOOR - BOUND
"""Fall of the floor logit from an end level to the nearest other observed level on a
one-level face: from at most +20 (the divergence bound) to at most −30 (a floor of 1e-13)."""
FLOOR_EDGE = 10.0
"""A floor below σ(−10) ≈ 4.5e-5 at a level is on its way to 0 there."""
KKT_TOLERANCE = 1e-10
"""Per-response slope ∂ℓ/∂f at f = 0 below −this: raising the floor lowers the likelihood;
above +this: it raises it; between, the likelihood is flat off the face to first order (a
curve fitting its cells exactly) and the face proves nothing."""


@attrs.frozen
class Face:
    """One part of the boundary: which coefficients are held fixed, and where.

    ``fixed`` maps indices of the six coefficients (PARAMETER_NAMES order) to
    their values; ``anchor`` is the competition level whose floor stays free
    (``None`` on ``"none"``); ``names`` are the coefficients on the boundary;
    ``moderated`` whether the floor may differ between competition levels.
    """

    name: str
    fixed: dict[int, float]
    anchor: float | None
    names: tuple[str, ...]
    moderated: bool

    def start(self, theta: FloatArray) -> FloatArray:
        """A starting point on this face from six coefficients anywhere (its floor kept
        at the anchor level, within ±FLOOR_EDGE)."""
        out = np.array(theta, dtype=np.float64)
        if self.anchor is not None:
            h = float(np.clip(out[4] + out[5] * self.anchor, -FLOOR_EDGE, FLOOR_EDGE))
            out[4] = h - self.fixed[5] * self.anchor
        for i, v in self.fixed.items():
            out[i] = v
        return out

    def zero_levels(self, cells: _Cells) -> FloatArray:
        """The competition levels where this face's floor is 0."""
        levels = np.unique(cells.c)
        return levels if self.anchor is None else levels[levels != self.anchor]


def faces(cells: _Cells, moderated: bool) -> list[Face]:
    """The faces where the floor is 0 at some levels: ``"none"``, and with a moderated
    fit and several levels ``"lowest"`` and ``"highest"``."""
    out = [
        Face(
            "none",
            {4: NO_FLOOR, 5: 0.0},
            None,
            ("floor_logit", "floor_logit_competition") if moderated else ("floor_logit",),
            moderated,
        )
    ]
    levels = np.unique(cells.c)
    if moderated and len(levels) > 1:
        lo, hi = float(levels[0]), float(levels[-1])
        step = FLOOR_STEP / float(levels[1] - lo), -FLOOR_STEP / float(hi - levels[-2])
        out.append(Face("lowest", {5: step[0]}, lo, ("floor_logit_competition",), True))
        out.append(Face("highest", {5: step[1]}, hi, ("floor_logit_competition",), True))
    return out


def floor_vanishes(theta: FloatArray, cells: _Cells) -> bool:
    """Whether a fit's floor is below σ(−10) at every observed level but perhaps one end
    level: the fit is drifting to a face rather than sitting at an interior maximum."""
    levels = np.unique(cells.c)
    low = theta[4] + theta[5] * levels < -FLOOR_EDGE
    return bool(low.all() or low[1:].all() or low[:-1].all())


def floor_pull(theta: FloatArray, cells: _Cells) -> FloatArray:
    """Per observed competition level, ``∂ℓ/∂f`` at a floor of 0 divided by the number of
    responses: ``Σ (k/q − m) / n`` over the level's cells (> 0: a floor would raise ℓ).

    >>> from crmcore.satisfaction._likelihood import _cells_from_table
    >>> cells = _cells_from_table([1, 5], [0.5, 0.5], [0, 5], [10, 10])
    >>> theta = np.array([0.0, 0.0, np.log(20.0), 0.0, NO_FLOOR, 0.0])  # q(5) = 0.5
    >>> floor_pull(theta, cells).round(6).tolist()   # (5/0.5 - 10 + 0 - 10) / 20
    [-0.5]
    """
    a0, a1, b0, b1 = theta[:4]
    eta = a0 + a1 * cells.c + np.exp(b0 + b1 * cells.c) * cells.x
    with np.errstate(over="ignore"):
        inv_q = np.exp(-log_expit(eta))
    terms = np.where(cells.k > 0, cells.k * inv_q, 0.0) - cells.m
    _levels, inv = np.unique(cells.c, return_inverse=True)
    return np.asarray(np.bincount(inv, weights=terms) / cells.m.sum(), dtype=np.float64)


_GRID = np.sinh(np.linspace(-7.0, 7.0, 801))  # γ₁ × (spread of the levels), up to ~550


def _exit_means(pull: FloatArray, levels: FloatArray) -> FloatArray:
    """The weighted means of the pulls with weights ∝ exp(γ₁c) over the γ₁ grid."""
    z = (levels - levels[0]) / (levels[-1] - levels[0])
    logw = _GRID[:, None] * z[None, :]
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    return np.asarray((w @ pull) / w.sum(axis=1), dtype=np.float64)


def exit_slope(face: Face, theta: FloatArray, cells: _Cells) -> float:
    """The steepest first-order rise of the log-likelihood per response (as the floor
    leaves 0) along the ways of leaving ``face`` that the model allows. Below
    ``−KKT_TOLERANCE`` the first-order condition for a maximum on the boundary holds.

    Leaving a one-level face (``γ₁`` back from ∓∞) raises the floor first, and
    infinitely faster than anywhere else, at the observed level next to the anchor:
    the slope is that level's :func:`floor_pull`. Leaving ``"none"`` (``γ₀`` up from
    −∞) raises the floors in proportions ``exp(γ₁c)`` for any ``γ₁`` in a moderated
    fit: the slope is the largest such weighted mean of the pulls (at the two ends,
    ``γ₁ → ±∞``, and on a grid of ``γ₁`` between); in an unmoderated fit the floor
    rises equally everywhere: the sum of the pulls.
    """
    levels = np.unique(cells.c)
    pull = floor_pull(theta, cells)
    if not face.moderated:
        return float(pull.sum())
    if face.anchor is not None:
        a = int(np.flatnonzero(levels == face.anchor)[0])
        return float(pull[1 if a == 0 else a - 1])
    ends = max(float(pull[0]), float(pull[-1]))
    return ends if len(levels) < 3 else max(ends, float(_exit_means(pull, levels).max()))


def leave(face: Face, theta: FloatArray, cells: _Cells) -> FloatArray:
    """Six coefficients just off ``face`` in the direction the likelihood rises: where the
    first-order condition fails, the maximum is inside, and the search restarts here
    (the floor at σ(−8) where it rises first)."""
    out = np.array(theta, dtype=np.float64)
    levels = np.unique(cells.c)
    edge = -0.8 * FLOOR_EDGE
    if face.anchor is not None:
        a = int(np.flatnonzero(levels == face.anchor)[0])
        nxt = float(levels[1 if a == 0 else a - 1])
        h = out[4] + out[5] * face.anchor
        out[5] = (edge - h) / (nxt - face.anchor)
        out[4] = h - out[5] * face.anchor
        return out
    out[5] = 0.0
    if face.moderated and len(levels) > 1:
        means = _exit_means(floor_pull(theta, cells), levels)
        out[5] = float(_GRID[int(np.argmax(means))]) / float(levels[-1] - levels[0])
    out[4] = edge - float(np.max(out[5] * levels))
    return out


def _show_cells(cells: _Cells, which: npt.NDArray[np.bool_], limit: int = 3) -> str:
    idx = np.flatnonzero(which)
    several = cells.levels > 1
    shown = [
        f"satisfaction {int(cells.x[i]) + 5}"
        + (f" at competition {cells.c[i]:g}" if several else "")
        + f": {int(cells.k[i])} of {int(cells.m[i])} loyal"
        for i in idx[:limit]
    ]
    more = f"; {len(idx) - limit} more" if len(idx) > limit else ""
    return "; ".join(shown) + more


def runaway(theta: FloatArray, cells: _Cells, face: Face | None) -> tuple[str, float, float] | None:
    """The shape coefficient furthest outside the range of estimates, as ``(name,
    competition level, value)``, or None: the intercept and log-slope must stay within
    ±BOUND at the lowest and highest observed levels (so at every level between,
    whatever the spread of the levels), and so must the floor logit on its way to 1
    (loyalty certain). Below, a floor may be tiny at an interior maximum (a steep floor
    over many levels); one that runs to 0 is found by :func:`floor_vanishes` and the
    faces. On a one-level face the floor logit at the anchor stays in [NO_FLOOR, BOUND].

    >>> from crmcore.satisfaction._likelihood import _cells_from_table
    >>> cells = _cells_from_table([1, 5, 1, 5], [0.2, 0.2, 0.6, 0.6], [5, 9, 1, 9], [10] * 4)
    >>> runaway(np.array([1.0, 0.0, 0.0, 0.0, -49.7, 53.1]), cells, None) is None
    True
    >>> runaway(np.array([1.0, 60.0, 0.0, 0.0, 0.0, 0.0]), cells, None)
    ('intercept', 0.6, 37.0)
    """
    levels = np.unique(cells.c)
    worst: tuple[float, str, float, float] | None = None
    for c in {float(levels[0]), float(levels[-1])}:
        a, b, g = theta[0] + theta[1] * c, theta[2] + theta[3] * c, theta[4] + theta[5] * c
        found = [("intercept", a, abs(a) - BOUND), ("log_slope", b, abs(b) - BOUND)]
        if face is None:  # a floor running to 0 is a face's business, not a runaway
            found.append(("floor_logit", g, g - BOUND))
        elif face.anchor == c:  # the floor estimated at the anchor level
            found.append(("floor_logit", g, max(g - BOUND, NO_FLOOR - g)))
        for name, value, excess in found:
            if excess > 0 and (worst is None or excess > worst[0]):
                worst = (float(excess), name, c, float(value))
    return None if worst is None else worst[1:]


FAR = 2.0 * BOUND
"""A start whose intercept or log-slope at an end level, or floor logit rising towards 1,
passes ±this has left the range of estimates: the search ends there (:func:`far`)."""
FLOOR_FAR = 50.0 * BOUND
"""A floor logit below −this where it is estimated: the floor is 0 to any precision."""


def far(theta: FloatArray, cells: _Cells, face: Face | None) -> bool:
    """The model's stop rule for the engine: whether a search has run far beyond the range
    of estimates (:func:`runaway` judges the end point with the tighter ±BOUND).

    >>> from crmcore.satisfaction._likelihood import _cells_from_table
    >>> cells = _cells_from_table([1, 5, 1, 5], [0.2, 0.2, 0.6, 0.6], [5, 9, 1, 9], [10] * 4)
    >>> far(np.array([1.0, 0.0, 0.0, 0.0, -49.7, 53.1]), cells, None)
    False
    >>> far(np.array([1.0, 100.0, 0.0, 0.0, 0.0, 0.0]), cells, None)
    True
    """
    levels = np.unique(cells.c)
    for c in (float(levels[0]), float(levels[-1])):
        a, b, g = theta[0] + theta[1] * c, theta[2] + theta[3] * c, theta[4] + theta[5] * c
        if not (abs(a) <= FAR and abs(b) <= FAR):
            return True
        if (face is None or face.anchor == c) and not -FLOOR_FAR <= g <= FAR:
            return True
    return False


def flat_levels(cells: _Cells) -> list[float]:
    """The competition levels where loyalty does not rise with satisfaction: the best
    non-decreasing curve through the observed rates is flat (no group of the highest
    answers is more loyal than the level as a whole), so the slope runs to 0 there.

    >>> from crmcore.satisfaction._likelihood import _cells_from_table
    >>> flat_levels(_cells_from_table([1, 2, 3, 1, 2, 3], [0.2] * 3 + [0.8] * 3,
    ...                               [8, 7, 6, 2, 5, 8], [10] * 6))
    [0.2]
    """
    out = []
    for lv in np.unique(cells.c):
        sel = cells.c == lv
        x, k, m = cells.x[sel], cells.k[sel], cells.m[sel]
        if len(np.unique(x)) < 2:
            continue
        mean = k.sum() / m.sum()
        upper = [k[x >= t].sum() / m[x >= t].sum() for t in np.unique(x)[1:]]
        if max(upper) <= mean * (1.0 + 1e-12):
            out.append(float(lv))
    return out


def data_cause(cells: _Cells) -> str | None:
    """What in the data leaves the likelihood without a maximum, when the data show it."""
    levels = np.unique(cells.c)
    certain = [lv for lv in levels if np.all(cells.k[cells.c == lv] == cells.m[cells.c == lv])]
    several = len(levels) > 1
    if certain:
        where = f" at competition {certain[0]:g}" if several else ""
        return (
            f"every customer asked{where} is loyal, so the captive floor runs to 1; "
            "add responses or fit moderated=False"
        )
    flat = flat_levels(cells)
    if flat:
        where = f" at competition {flat[0]:g}" if several else ""
        return (
            f"loyalty does not rise with satisfaction{where} (no group of the highest "
            "answers is more loyal than all of them), so the slope runs to 0 and the floor "
            "and the intercept cannot be told apart; check the coding of 'satisfaction' and "
            "'outcome' (a higher score must mean more satisfied, 1 must mean loyal)"
        )
    extreme = (cells.k == 0) | (cells.k == cells.m)
    if extreme.any():
        return (
            f"loyalty is exactly 0 or 1 in {int(extreme.sum())} of {len(extreme)} cells "
            f"({_show_cells(cells, extreme)}), which the likelihood approaches without "
            "reaching; add responses at more satisfaction levels or fit moderated=False"
        )
    return None


STEP = 4.0
"""A log-slope beyond ±this at a competition level: a slope of more than e**4 ≈ 55 per
answer (a step between two answers) or less than e**-4 ≈ 0.018 (no rise at all)."""


def singular_cause(theta: FloatArray, cells: _Cells, moderated: bool) -> str:
    """Why the information matrix at a maximum is singular: the cause in the data or in the
    fitted curve, as a sentence.

    >>> from crmcore.satisfaction._likelihood import _cells_from_table
    >>> cells = _cells_from_table([4, 5], [0.5] * 2, [30, 60], [100] * 2)
    >>> singular_cause(np.zeros(6), cells, False)
    'responses are at 2 satisfaction levels (4, 5): a curve with a floor needs three or more'
    """
    cause = data_cause(cells)
    if cause is not None:
        return cause
    answers = np.unique(cells.x) + 5
    if len(answers) < 3:
        shown = ", ".join(str(int(v)) for v in answers)
        return (
            f"responses are at {len(answers)} satisfaction levels ({shown}): a curve with a "
            "floor needs three or more"
        )
    levels = np.unique(cells.c)
    log_slope = theta[2] + theta[3] * levels
    several = moderated and len(levels) > 1
    for i in np.argsort(-np.abs(log_slope)):
        b = float(log_slope[i])
        where = f" at competition {levels[i]:g}" if several else ""
        if b > STEP:
            return (
                f"the best curve{where} is a step between two answers (log-slope {b:.3g}, "
                f"a rise of {math.exp(b):.3g} in the logit per answer), so its steepness "
                "cannot be estimated: add responses at the answers around the step"
                + (" or fit moderated=False" if several else "")
            )
        if b < -STEP:
            return (
                f"loyalty hardly rises with satisfaction{where} (log-slope {b:.3g}), so the "
                "floor and the intercept cannot be told apart: check the coding of "
                "'satisfaction' and 'outcome'" + (" or fit moderated=False" if several else "")
            )
    if several:
        thin = [float(lv) for lv in levels if len(np.unique(cells.x[cells.c == lv])) < 3]
        if len(levels) - len(thin) < 2:
            return (
                "a moderated curve needs two or more competition levels with answers at "
                f"three or more satisfaction levels each: {len(levels) - len(thin)} here; "
                "fit moderated=False"
            )
    return (
        "the likelihood is flat along a combination of the coefficients at its maximum "
        "(the information matrix is singular): add responses or fit moderated=False"
    )


def diverged(name: str, level: float, value: float, cells: _Cells, moderated: bool) -> FitError:
    """The error of a fit whose coefficient ``name`` ran out of range at competition
    ``level`` (see :func:`runaway`), naming the cause the data show.

    >>> from crmcore.satisfaction._likelihood import _cells_from_table
    >>> cells = _cells_from_table([1, 2, 3, 3], [0.5, 0.5, 0.5, 0.9], [0, 0, 9, 5], [9, 9, 9, 9])
    >>> print(diverged("intercept", 0.5, 25.0, cells, True))
    loyalty fit failed: 'intercept' at competition 0.5 diverged beyond ±20: loyalty is exactly 0 or 1 in 3 of 4 cells (satisfaction 1 at competition 0.5: 0 of 9 loyal; satisfaction 2 at competition 0.5: 0 of 9 loyal; satisfaction 3 at competition 0.5: 9 of 9 loyal), which the likelihood approaches without reaching; add responses at more satisfaction levels or fit moderated=False
    """
    where = f" at competition {level:g}" if moderated else ""
    head = f"loyalty fit failed: {name!r}{where} diverged beyond ±{BOUND:g}: "
    cause = data_cause(cells)
    if cause is not None:
        return FitError(head + cause)
    if name == "log_slope" and value > 0:
        return FitError(
            head + f"the best curve{where} is a step between two answers, so its steepness "
            "cannot be estimated: add responses at the answers around the step"
            + (" or fit moderated=False" if moderated else "")
        )
    if name == "log_slope":
        return FitError(
            head + f"loyalty hardly rises with satisfaction{where}, so the floor and the "
            "intercept cannot be told apart: check the coding of 'satisfaction' and 'outcome'"
            + (" or fit moderated=False" if moderated else "")
        )
    if name == "floor_logit" and value < 0:
        return FitError(
            head + "the captive floor runs to 0 there in a way no boundary fit (floor 0 at "
            "every level, or at every level but the lowest or the highest) matches; add "
            "responses at low satisfaction or fit moderated=False"
        )
    return FitError(
        head + "no cell is at 0 or 1, so the model does not describe these data: check "
        "the inputs or fit moderated=False"
    )
