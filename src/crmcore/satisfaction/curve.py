"""The satisfaction → loyalty curve and its competition-moderated model.

At one competition level the probability that a customer answering ``s``
(1–5) stays loyal is a floor plus a logistic rise::

    P(s) = f + (1 − f) · σ(a + b · (s − 5)),   0 ≤ f < 1,  b ≥ 0

``f`` is captive loyalty (customers who stay whatever they think), ``σ(a)``
the share of the *free* customers who stay when completely satisfied and
``b`` how steeply that share falls per level below 5. Across markets the
three shape parameters move with effective competition ``c`` (0–1)::

    a(c) = α₀ + α₁c,   b(c) = exp(β₀ + β₁c),   f(c) = σ(γ₀ + γ₁c)

so the curve is non-decreasing in ``s`` by construction, and one model can
be the flat, high-floor curve of a captive market and the steep, convex curve
of a contested one (Jones & Sasser 1995).

>>> curve = preset_curve("high")
>>> curve.probabilities().round(3).tolist()
[0.01, 0.01, 0.015, 0.133, 0.8]
>>> round(float(curve.probabilities()[4] / curve.probabilities()[3]), 1)  # Xerox: 5s six times 4s
6.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import expit, logit

from crmcore._results import PROBABILITY, each, number
from crmcore.arrays import FloatArray, IntArray, apply_nan_policy, as_int_array, check_in_range
from crmcore.errors import ValidationError
from crmcore.options import as_number
from crmcore.satisfaction._validate import (
    LEVELS,
    competition_array,
    satisfaction_array,
    scoring_inputs,
)

__all__ = [
    "PARAMETER_NAMES",
    "LoyaltyCurve",
    "LoyaltyModel",
    "Zones",
    "preset_curve",
    "preset_model",
]

PARAMETER_NAMES: tuple[str, ...] = (
    "intercept",
    "intercept_competition",
    "log_slope",
    "log_slope_competition",
    "floor_logit",
    "floor_logit_competition",
)
"""The order of :attr:`LoyaltyModel.params` (α₀, α₁, β₀, β₁, γ₀, γ₁)."""

_LEVELS = np.arange(1, LEVELS + 1, dtype=np.float64)
_LEVEL_TUPLE = each(number(1, LEVELS, integer=True))
"""A tuple of satisfaction levels (whole numbers 1..5): the levels of one zone."""


def _finite(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{attribute.name!r} must be a finite number: {value!r}")
    as_number(value, name=attribute.name)  # NaN, inf and 10**400 (beyond a float) named


def _floor(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _finite(_inst, attribute, value)
    if not 0.0 <= float(value) < 1.0:  # type: ignore[arg-type]  # checked numeric just above
        raise ValidationError(f"{attribute.name!r} must be in [0, 1): {value!r}")


def _slope(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _finite(_inst, attribute, value)
    if float(value) < 0.0:  # type: ignore[arg-type]  # checked numeric just above
        raise ValidationError(
            f"{attribute.name!r} must be >= 0 (loyalty never falls with satisfaction): {value!r}"
        )


@attrs.frozen
class Zones:
    """Satisfaction levels in the zones of defection, indifference and affection.

    * defection: ``P(s) < defect_below`` — more customers leave than stay;
    * affection: ``σ(a + b(s − 5)) >= affection_from`` — most customers who
      *could* leave stay, so the loyalty is earned, not captive;
    * indifference: every other level, including the captive loyalty of
      unhappy customers in a protected market (the hostages).

    >>> preset_curve("high").zones()
    Zones(defection=(1, 2, 3, 4), indifference=(), affection=(5,), defect_below=0.5, affection_from=0.75)
    >>> preset_curve("low").zones().zone_of(2)
    'indifference'
    """

    defection: tuple[int, ...] = attrs.field(validator=_LEVEL_TUPLE)
    indifference: tuple[int, ...] = attrs.field(validator=_LEVEL_TUPLE)
    affection: tuple[int, ...] = attrs.field(validator=_LEVEL_TUPLE)
    defect_below: float = attrs.field(validator=PROBABILITY)
    affection_from: float = attrs.field(validator=PROBABILITY)

    def zone_of(self, level: int) -> str:
        """The zone that satisfaction ``level`` (1–5) falls in.

        >>> preset_curve("high").zones().zone_of(5)
        'affection'
        """
        for name in ("defection", "indifference", "affection"):
            if level in getattr(self, name):
                return name
        raise ValidationError(f"'level' must be a whole number in [1, 5]: {level!r}")


@attrs.frozen
class LoyaltyCurve:
    """P(loyal | satisfaction) at one competition level: ``f + (1 − f)·σ(a + b(s − 5))``.

    >>> LoyaltyCurve(floor=0.5, intercept=0.0, slope=1.0).probabilities().round(3).tolist()
    [0.509, 0.524, 0.56, 0.634, 0.75]
    >>> LoyaltyCurve(floor=0.5, intercept=0.0, slope=-1.0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'slope' must be >= 0 (loyalty never falls with satisfaction): -1.0
    """

    floor: float = attrs.field(validator=_floor)
    intercept: float = attrs.field(validator=_finite)
    slope: float = attrs.field(validator=_slope)

    @classmethod
    def from_anchors(cls, *, floor: float, p4: float, p5: float) -> LoyaltyCurve:
        """The curve through a floor, P(4) and P(5) (needs ``floor < p4 <= p5 < 1``).

        >>> c = LoyaltyCurve.from_anchors(floor=0.2, p4=0.5, p5=0.9)
        >>> c.probabilities()[3:].round(6).tolist()
        [0.5, 0.9]
        """
        vals = {"floor": floor, "p4": p4, "p5": p5}
        for k, v in vals.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v < 1.0:
                raise ValidationError(f"{k!r} must be a number in [0, 1): {v!r}")
        if not floor < p4 <= p5:
            raise ValidationError(
                f"anchors must satisfy floor < p4 <= p5: floor={floor!r}, p4={p4!r}, p5={p5!r}"
            )
        q5 = (p5 - floor) / (1.0 - floor)
        q4 = (p4 - floor) / (1.0 - floor)
        a = float(logit(q5))
        return cls(floor=float(floor), intercept=a, slope=a - float(logit(q4)))

    def probabilities(self) -> FloatArray:
        """P(loyal) at satisfaction 1, 2, 3, 4, 5.

        >>> preset_curve("low").probabilities().round(2).tolist()
        [0.7, 0.71, 0.75, 0.85, 0.95]
        """
        q = expit(self.intercept + self.slope * (_LEVELS - LEVELS))
        return np.asarray(self.floor + (1.0 - self.floor) * q, dtype=np.float64)

    def probability(
        self,
        satisfaction: npt.ArrayLike,
        *,
        nan_policy: Literal["propagate", "omit", "raise"] = "raise",
    ) -> FloatArray:
        """P(loyal) for each customer's satisfaction score (whole numbers 1–5).

        A missing score (NaN) follows the one NaN policy (``propagate``: NaN there).

        >>> preset_curve("high").probability([5, 4]).round(3).tolist()
        [0.8, 0.133]
        """
        if np.asarray(satisfaction).dtype.kind in "iub":  # no NaN possible: the lookup alone
            return self.probabilities()[satisfaction_array(satisfaction) - 1]
        s, _, nan, _, _ = scoring_inputs(satisfaction, 0.0, nan_policy=nan_policy)
        out = self.probabilities()[s - 1]
        if nan is not None:
            out[nan] = np.nan
        return out

    def earned(self) -> FloatArray:
        """The logistic part σ(a + b(s − 5)) at 1..5: loyalty among customers free to leave.

        >>> preset_curve("low").earned().round(2).tolist()
        [0.01, 0.04, 0.17, 0.5, 0.83]
        """
        return np.asarray(expit(self.intercept + self.slope * (_LEVELS - LEVELS)), dtype=np.float64)

    def marginal_gains(self) -> FloatArray:
        """P(s + 1) − P(s) for s = 1..4: what one more satisfaction level is worth in loyalty.

        >>> preset_curve("high").marginal_gains().round(3).tolist()
        [0.0, 0.005, 0.118, 0.667]
        """
        return np.diff(self.probabilities())

    def zones(self, *, defect_below: float = 0.5, affection_from: float = 0.75) -> Zones:
        """Read the zones of defection, indifference and affection off the curve (see :class:`Zones`).

        >>> preset_curve("low").zones().defection
        ()
        """
        for k, v in (("defect_below", defect_below), ("affection_from", affection_from)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 < v <= 1.0:
                raise ValidationError(f"{k!r} must be a number in (0, 1]: {v!r}")
        if defect_below > affection_from:
            raise ValidationError(
                f"'defect_below' must not exceed 'affection_from': {defect_below!r} > {affection_from!r}"
            )
        p, q = self.probabilities(), self.earned()
        defect = p < defect_below
        affect = (q >= affection_from) & ~defect
        levels = [int(s) for s in _LEVELS]
        return Zones(
            defection=tuple(s for s, d in zip(levels, defect, strict=True) if d),
            indifference=tuple(
                s for s, d, a in zip(levels, defect, affect, strict=True) if not d and not a
            ),
            affection=tuple(s for s, a in zip(levels, affect, strict=True) if a),
            defect_below=float(defect_below),
            affection_from=float(affection_from),
        )


@attrs.frozen
class LoyaltyModel:
    """The competition-moderated loyalty model (coefficients in :data:`PARAMETER_NAMES` order).

    >>> m = preset_model()
    >>> m.curve(1.0).probabilities().round(3).tolist()
    [0.01, 0.01, 0.015, 0.133, 0.8]
    >>> m.probability([5, 4, 1], [1.0, 1.0, 0.0]).round(3).tolist()
    [0.8, 0.133, 0.702]
    """

    intercept: float = attrs.field(validator=_finite)
    log_slope: float = attrs.field(validator=_finite)
    floor_logit: float = attrs.field(validator=_finite)
    intercept_competition: float = attrs.field(default=0.0, validator=_finite)
    log_slope_competition: float = attrs.field(default=0.0, validator=_finite)
    floor_logit_competition: float = attrs.field(default=0.0, validator=_finite)

    @property
    def params(self) -> tuple[float, ...]:
        """The six coefficients in :data:`PARAMETER_NAMES` order.

        >>> LoyaltyModel(intercept=1.0, log_slope=0.0, floor_logit=-2.0).params
        (1.0, 0.0, 0.0, 0.0, -2.0, 0.0)
        """
        return tuple(float(getattr(self, n)) for n in PARAMETER_NAMES)

    @property
    def moderated(self) -> bool:
        """Whether competition changes the curve at all.

        >>> preset_model().moderated
        True
        """
        return any(
            v != 0.0
            for v in (
                self.intercept_competition,
                self.log_slope_competition,
                self.floor_logit_competition,
            )
        )

    @classmethod
    def from_params(cls, params: Iterable[float]) -> LoyaltyModel:
        """Build from six coefficients in :data:`PARAMETER_NAMES` order.

        >>> LoyaltyModel.from_params([1, 0, 0, 0, -2, 0]).floor_logit
        -2.0
        """
        values = [float(v) for v in params]
        if len(values) != len(PARAMETER_NAMES):
            raise ValidationError(f"'params' must hold {len(PARAMETER_NAMES)} numbers: {values!r}")
        return cls(**dict(zip(PARAMETER_NAMES, values, strict=True)))

    @classmethod
    def between(cls, low: LoyaltyCurve, high: LoyaltyCurve) -> LoyaltyModel:
        """The model whose curve is ``low`` at competition 0 and ``high`` at 1.

        >>> m = LoyaltyModel.between(preset_curve("low"), preset_curve("high"))
        >>> m.curve(0.0).probabilities().round(2).tolist()
        [0.7, 0.71, 0.75, 0.85, 0.95]
        """
        for name, c in (("low", low), ("high", high)):
            if c.slope <= 0.0 or c.floor <= 0.0:
                raise ValidationError(f"{name!r} needs a slope > 0 and a floor > 0: {c!r}")
        fl, fh = float(logit(low.floor)), float(logit(high.floor))
        bl, bh = math.log(low.slope), math.log(high.slope)
        return cls(
            intercept=low.intercept,
            log_slope=bl,
            floor_logit=fl,
            intercept_competition=high.intercept - low.intercept,
            log_slope_competition=bh - bl,
            floor_logit_competition=fh - fl,
        )

    def curve(self, competition: float) -> LoyaltyCurve:
        """The curve at one effective-competition level in [0, 1].

        >>> preset_model().curve(0.5).probabilities().round(3).tolist()
        [0.133, 0.137, 0.169, 0.398, 0.841]
        """
        c = float(competition_array([competition])[0])
        return LoyaltyCurve(
            floor=float(expit(self.floor_logit + self.floor_logit_competition * c)),
            intercept=self.intercept + self.intercept_competition * c,
            slope=math.exp(self.log_slope + self.log_slope_competition * c),
        )

    def table(self, competition: npt.ArrayLike) -> FloatArray:
        """P(loyal) for each competition level (rows) and satisfaction 1..5 (columns).

        >>> preset_model().table([0.0, 1.0]).round(2).tolist()
        [[0.7, 0.71, 0.75, 0.85, 0.95], [0.01, 0.01, 0.02, 0.13, 0.8]]
        """
        c = competition_array(competition)
        return _probability(np.asarray(self.params), _LEVELS[None, :], c[:, None])

    def probability(
        self,
        satisfaction: npt.ArrayLike,
        competition: npt.ArrayLike,
        *,
        nan_policy: Literal["propagate", "omit", "raise"] = "raise",
    ) -> FloatArray:
        """P(loyal) per customer; ``competition`` is one level for all or one per customer.

        >>> preset_model().probability([1, 5], 1.0).round(2).tolist()
        [0.01, 0.8]
        >>> preset_model().probability([1, float("nan")], 1.0, nan_policy="propagate").round(2).tolist()
        [0.01, nan]
        """
        s, c, nan, _, _ = scoring_inputs(satisfaction, competition, nan_policy=nan_policy)
        if np.ndim(competition) == 0 and nan is None:
            out = self.curve(float(c[0]) if len(c) else 0.0).probabilities()[s - 1]
        else:
            out = _probability_1d(np.asarray(self.params), s, c)
        if nan is not None:
            out[nan] = np.nan
        return out

    def probability_by_segment(
        self,
        satisfaction: npt.ArrayLike,
        segment: npt.ArrayLike,
        competition: npt.ArrayLike,
        *,
        nan_policy: Literal["propagate", "omit", "raise"] = "raise",
    ) -> FloatArray:
        """P(loyal) per customer when competition is set per segment (market).

        ``segment`` holds each customer's code 0..k−1 and ``competition`` the
        k segment levels: one 5-entry curve per segment, then a lookup, which
        is several times faster than a level per customer. A customer with a
        NaN score or segment follows the one NaN policy (``propagate``: NaN there).

        >>> preset_model().probability_by_segment([5, 5, 1], [0, 1, 1], [1.0, 0.0]).round(2).tolist()
        [0.8, 0.95, 0.7]
        >>> preset_model().probability_by_segment([5], [2], [1.0, 0.0])
        Traceback (most recent call last):
        crmcore.errors.ValidationError: 'segment' must be in [0, 1]: 2 at index 0
        """
        table = self.table(competition)
        raw_s, raw_g = np.asarray(satisfaction), np.asarray(segment)
        if raw_s.dtype.kind in "iub" and raw_g.dtype.kind in "iub":  # no NaN possible
            s = satisfaction_array(raw_s)
            seg = _segment_codes(raw_g, len(s), len(table))
            return np.asarray(table.ravel()[seg * LEVELS + (s - 1)], dtype=np.float64)
        split = apply_nan_policy({"satisfaction": raw_s, "segment": raw_g}, policy=nan_policy)
        clean = split.clean()
        s = satisfaction_array(clean["satisfaction"])
        seg = _segment_codes(clean["segment"], len(s), len(table))
        return split.fill(table.ravel()[seg * LEVELS + (s - 1)])


def _segment_codes(segment: npt.ArrayLike, n: int, k: int) -> IntArray:
    seg = as_int_array(segment, name="segment")
    if len(seg) != n:
        raise ValidationError(
            f"inputs must have the same length: satisfaction has {n}, segment has {len(seg)}"
        )
    if n and (seg.min() < 0 or seg.max() >= k):
        check_in_range(seg, name="segment", low=0, high=k - 1)
    return seg


def _probability(theta: FloatArray, s: npt.ArrayLike, c: npt.ArrayLike) -> FloatArray:
    """P(loyal) for broadcastable satisfaction and competition (small inputs, tables)."""
    a0, a1, b0, b1, g0, g1 = (float(x) for x in theta)
    c_arr = np.asarray(c, dtype=np.float64)
    f = expit(g0 + g1 * c_arr)
    eta = (a0 + a1 * c_arr) + np.exp(b0 + b1 * c_arr) * (np.asarray(s, dtype=np.float64) - LEVELS)
    q = expit(eta)
    return np.asarray(f + (1.0 - f) * q, dtype=np.float64)


_BLOCK = 1 << 15


def _probability_1d(theta: FloatArray, s: IntArray, c: FloatArray) -> FloatArray:
    """P(loyal) per customer, in cache-sized blocks with in-place ufuncs (the scoring hot path)."""
    a0, a1, b0, b1, g0, g1 = (float(x) for x in theta)
    n = len(s)
    out = np.empty(n, dtype=np.float64)
    f_buf, e_buf, x_buf = np.empty(_BLOCK), np.empty(_BLOCK), np.empty(_BLOCK)
    for i in range(0, n, _BLOCK):
        cc = c[i : i + _BLOCK]
        k = len(cc)
        f, e, x = f_buf[:k], e_buf[:k], x_buf[:k]
        np.multiply(cc, b1, out=e)
        e += b0
        np.exp(e, out=e)  # slope b(c)
        np.subtract(s[i : i + k], LEVELS, out=x, casting="unsafe")
        e *= x
        np.multiply(cc, a1, out=x)
        x += a0
        e += x  # eta = a(c) + b(c)(s - 5)
        expit(e, out=e)
        np.multiply(cc, g1, out=f)
        f += g0
        expit(f, out=f)  # floor f(c)
        o = out[i : i + k]
        np.subtract(1.0, f, out=o)
        o *= e
        o += f
    return out


_PRESETS: dict[str, LoyaltyCurve] = {
    "high": LoyaltyCurve.from_anchors(floor=0.01, p4=0.8 / 6.0, p5=0.8),
    "low": LoyaltyCurve.from_anchors(floor=0.70, p4=0.85, p5=0.95),
}


def preset_curve(name: Literal["high", "low"]) -> LoyaltyCurve:
    """An illustrative curve for a ``"high"`` or ``"low"`` competition market.

    Shapes, not estimates: "high" has P(5) = 0.80 and P(4) = 0.80 / 6 (the
    Xerox ratio) over a 1% floor; "low" is flat over a 70% floor of captive
    customers, rising to 0.85 at 4 and 0.95 at 5. Use them before you have
    outcome data; fit your own with :func:`~crmcore.satisfaction.fit_loyalty`.

    >>> preset_curve("low").floor
    0.7
    >>> preset_curve("medium")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'name' must be one of ('high', 'low'): 'medium'
    """
    if name not in _PRESETS:
        raise ValidationError(f"'name' must be one of {tuple(_PRESETS)}: {name!r}")
    return _PRESETS[name]


def preset_model() -> LoyaltyModel:
    """The illustrative model: the "low" preset at competition 0, the "high" one at 1.

    >>> bool(np.allclose(preset_model().curve(1.0).probabilities(), preset_curve("high").probabilities()))
    True
    """
    return LoyaltyModel.between(_PRESETS["low"], _PRESETS["high"])
