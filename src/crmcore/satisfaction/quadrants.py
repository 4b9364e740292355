"""False loyalty: the loyalty quadrants, and what a rise in competition puts at risk.

Customers are placed by what they say (satisfaction) and what they do
(loyalty behaviour: repurchase, retention, a loyalty score in [0, 1]):

==============  ==================  ======================
                loyal               not loyal
==============  ==================  ======================
satisfied       loyalist (apostle)  mercenary
dissatisfied    hostage             defector (terrorist)
==============  ==================  ======================

Hostages are the false loyalty: they stay because they cannot leave, and
they go when competition arrives. :func:`competition_scenario` prices that:
if a segment's effective competition rises from ``c0`` to ``c1``, each
customer's expected loss of loyalty is ``P(s, c0) − P(s, c1)``; summed per
segment it is the expected number of defections, and weighted by revenue or
CLV the value at risk.

>>> r = classify_quadrants([5, 4, 2, 1], [1, 0, 1, 0])
>>> r.labels().tolist()
['loyalist', 'mercenary', 'hostage', 'defector']
"""

from __future__ import annotations

from enum import IntEnum

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import array
from crmcore.arrays import (
    FloatArray,
    IntArray,
    apply_nan_policy,
    as_int_array,
    check_in_range,
    validate_nan_policy,
)
from crmcore.errors import ValidationError
from crmcore.model._fields import instance
from crmcore.satisfaction._validate import (
    LEVELS,
    competition_array,
    flags_as_numbers,
    satisfaction_array,
    unit_scalar,
)
from crmcore.satisfaction._validate import (
    satisfied_from as satisfied_from_option,
)
from crmcore.satisfaction.curve import LoyaltyModel

__all__ = [
    "Quadrant",
    "QuadrantResult",
    "ScenarioResult",
    "classify_quadrants",
    "competition_scenario",
]


class Quadrant(IntEnum):
    """The loyalty quadrants (apostle and terrorist only with ``extremes=True``).

    >>> Quadrant.HOSTAGE.label
    'hostage'
    """

    LOYALIST = 0
    MERCENARY = 1
    HOSTAGE = 2
    DEFECTOR = 3
    APOSTLE = 4
    TERRORIST = 5

    @property
    def label(self) -> str:
        """The lowercase name used in reports."""
        return self.name.lower()


_LABELS = np.array([q.label for q in Quadrant])


def _satisfied_from(value: int) -> int:
    return satisfied_from_option(value, low=2)


@attrs.frozen
class QuadrantResult(Tabular):
    """Each customer's :class:`Quadrant` code, with counts and masks.

    >>> r = classify_quadrants([5, 5, 1], [1, 1, 0], extremes=True)
    >>> r.counts()
    {'loyalist': 0, 'mercenary': 0, 'hostage': 0, 'defector': 0, 'apostle': 2, 'terrorist': 1}
    """

    codes: npt.NDArray[np.int8] = attrs.field(eq=False, repr=False, validator=array("i", lo=0))
    extremes: bool = attrs.field(default=False, validator=instance(bool, "a bool"))

    def counts(self) -> dict[str, int]:
        """Customers per quadrant, in :class:`Quadrant` order (the extremes only if asked for).

        >>> classify_quadrants([2, 3], [1, 1]).counts()
        {'loyalist': 0, 'mercenary': 0, 'hostage': 2, 'defector': 0}
        """
        n = np.bincount(self.codes, minlength=len(Quadrant))
        shown = list(Quadrant) if self.extremes else list(Quadrant)[:4]
        return {q.label: int(n[q]) for q in shown}

    def labels(self) -> npt.NDArray[np.str_]:
        """Each customer's quadrant name.

        >>> classify_quadrants([4], [0]).labels().tolist()
        ['mercenary']
        """
        return _LABELS[self.codes]

    def mask(self, quadrant: Quadrant) -> npt.NDArray[np.bool_]:
        """True for the customers in ``quadrant``.

        >>> classify_quadrants([2, 5], [1, 1]).mask(Quadrant.HOSTAGE).tolist()
        [True, False]
        """
        return np.asarray(self.codes == int(Quadrant(quadrant)), dtype=bool)

    def _columns(self) -> Columns:
        return {"quadrant": self.labels()}


def classify_quadrants(
    satisfaction: npt.ArrayLike,
    loyalty: npt.ArrayLike,
    *,
    satisfied_from: int = 4,
    loyal_from: float = 0.5,
    extremes: bool = False,
    nan_policy: str = "raise",
) -> QuadrantResult:
    """Place customers in the loyalty quadrants.

    ``nan_policy``: ``"raise"`` (default) or ``"omit"`` (a customer with a NaN
    input is left out: the codes are those of the rows kept); a quadrant code
    cannot hold NaN, so ``"propagate"`` is refused.

    Satisfied means ``satisfaction >= satisfied_from`` (default 4); loyal
    means ``loyalty >= loyal_from`` (loyalty is behaviour in [0, 1]: a 0/1
    repurchase flag or a score). With ``extremes``, satisfied-and-loyal
    customers at 5 are apostles and unloyal ones at 1 terrorists.

    >>> classify_quadrants([3, 3], [0.9, 0.2], satisfied_from=3).labels().tolist()
    ['loyalist', 'mercenary']
    >>> classify_quadrants([5, 5], [True, False]).labels().tolist()
    ['loyalist', 'mercenary']
    >>> classify_quadrants([3], [1.5])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'loyalty' must be in [0, 1]: 1.5 at index 0
    """
    validate_nan_policy(nan_policy, allowed=("raise", "omit"), what="quadrant codes")
    split = apply_nan_policy(
        {"satisfaction": satisfaction, "loyalty": flags_as_numbers(loyalty)}, policy=nan_policy
    )
    s = satisfaction_array(split.arrays["satisfaction"])
    y = split.arrays["loyalty"]
    check_in_range(y, name="loyalty", low=0.0, high=1.0)
    sat = s >= _satisfied_from(satisfied_from)
    loyal = y >= unit_scalar(loyal_from, name="loyal_from")
    codes = np.where(sat, np.where(loyal, Quadrant.LOYALIST, Quadrant.MERCENARY),
                     np.where(loyal, Quadrant.HOSTAGE, Quadrant.DEFECTOR)).astype(np.int8)  # fmt: skip
    if extremes:
        codes[sat & loyal & (s == LEVELS)] = Quadrant.APOSTLE
        codes[~sat & ~loyal & (s == 1)] = Quadrant.TERRORIST
    return QuadrantResult(codes=codes, extremes=bool(extremes))


@attrs.frozen
class ScenarioResult(Tabular):
    """Per segment: customers, expected loyal before and after, defections and value at risk.

    ``hostage_*`` restrict the same figures to dissatisfied customers
    (``satisfaction < satisfied_from``), whose loyalty is the false kind.

    >>> from crmcore.satisfaction import preset_model
    >>> r = competition_scenario(preset_model(), [2, 2, 5], value=[100.0, 100.0, 300.0],
    ...                          competition_before=0.0, competition_after=1.0)
    >>> r.defections.round(2).tolist(), r.hostage_defections.round(2).tolist()
    ([1.55], [1.4])
    """

    competition_before: FloatArray = attrs.field(eq=False, validator=array(lo=0, hi=1))
    competition_after: FloatArray = attrs.field(
        eq=False, validator=array(lo=0, hi=1, length="competition_before")
    )
    customers: IntArray = attrs.field(
        eq=False, validator=array("i", lo=0, length="competition_before")
    )
    loyal_before: FloatArray = attrs.field(
        eq=False, validator=array(lo=0, length="competition_before")
    )
    loyal_after: FloatArray = attrs.field(
        eq=False, validator=array(lo=0, length="competition_before")
    )
    hostage_defections: FloatArray = attrs.field(
        eq=False, validator=array(length="competition_before")
    )
    value_at_risk: FloatArray = attrs.field(eq=False, validator=array(length="competition_before"))
    hostage_value_at_risk: FloatArray = attrs.field(
        eq=False, validator=array(length="competition_before")
    )
    customer_risk: FloatArray = attrs.field(eq=False, repr=False, validator=array())

    @property
    def defections(self) -> FloatArray:
        """Expected defections per segment: loyal before − loyal after (negative = gains).

        >>> from crmcore.satisfaction import preset_model
        >>> competition_scenario(preset_model(), [5], value=[1.0], competition_before=1.0,
        ...                      competition_after=1.0).defections.tolist()
        [0.0]
        """
        return self.loyal_before - self.loyal_after

    def _columns(self) -> Columns:
        return {
            "segment": np.arange(len(self.customers)),
            "competition_before": self.competition_before,
            "competition_after": self.competition_after,
            "customers": self.customers,
            "loyal_before": self.loyal_before,
            "loyal_after": self.loyal_after,
            "defections": self.defections,
            "hostage_defections": self.hostage_defections,
            "value_at_risk": self.value_at_risk,
            "hostage_value_at_risk": self.hostage_value_at_risk,
        }


def _sum_by(seg: IntArray, weights: FloatArray, k: int) -> FloatArray:
    return np.asarray(np.bincount(seg, weights=weights, minlength=k), dtype=np.float64)


def _per_segment(values: npt.ArrayLike, k: int, name: str) -> FloatArray:
    c = competition_array(np.atleast_1d(np.asarray(values)), name=name)
    if len(c) == 1 and k > 1:
        c = np.full(k, c[0])
    if len(c) != k:
        raise ValidationError(f"{name!r} must hold one level per segment ({k}): got {len(c)}")
    return c


def competition_scenario(
    model: LoyaltyModel,
    satisfaction: npt.ArrayLike,
    *,
    value: npt.ArrayLike,
    competition_before: npt.ArrayLike,
    competition_after: npt.ArrayLike,
    segment: npt.ArrayLike | None = None,
    satisfied_from: int = 4,
    nan_policy: str = "raise",
) -> ScenarioResult:
    """Expected defections and value at risk per segment when competition moves from c0 to c1.

    ``segment`` holds each customer's segment code 0..k−1 (default: one
    segment); ``competition_before`` / ``competition_after`` one level for
    all segments or one per segment; ``value`` each customer's revenue or
    CLV. Every segment must have customers. ``nan_policy``: ``"raise"``
    (default) or ``"omit"`` (a customer with a NaN input is left out; then
    ``customer_risk`` holds the rows kept).

    >>> from crmcore.satisfaction import preset_model
    >>> r = competition_scenario(preset_model(), [1, 5, 1, 5], value=[10.0] * 4, segment=[0, 0, 1, 1],
    ...                          competition_before=[0.0, 0.5], competition_after=[1.0, 1.0])
    >>> r.value_at_risk.round(1).tolist()
    [8.4, 1.6]
    >>> competition_scenario(preset_model(), [1], value=[1.0], segment=[1],
    ...                      competition_before=[0.0, 0.5], competition_after=1.0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'segment' 0 has no customers (every segment 0..1 needs at least one)
    """
    if not isinstance(model, LoyaltyModel):
        raise ValidationError(f"'model' must be a LoyaltyModel: {model!r}")
    validate_nan_policy(nan_policy, allowed=("raise", "omit"), what="a scenario's sums")
    inputs = {"satisfaction": satisfaction, "value": value}
    if segment is not None:
        inputs["segment"] = segment
    split = apply_nan_policy(inputs, policy=nan_policy)
    s = satisfaction_array(split.arrays["satisfaction"])
    v = split.arrays["value"]
    n = len(s)
    if segment is None:
        seg = np.zeros(n, dtype=np.int64)
        k = 1
    else:
        seg = as_int_array(split.arrays["segment"], name="segment")
        if n and seg.min() < 0:
            check_in_range(seg, name="segment", low=0, high=float(seg.max()))
        sizes = [np.size(competition_before), np.size(competition_after)]
        k = max(int(seg.max()) + 1 if n else 0, *sizes)
    c0 = _per_segment(competition_before, k, "competition_before")
    c1 = _per_segment(competition_after, k, "competition_after")
    if n == 0:
        raise ValidationError("'satisfaction' is empty: a scenario needs customers")
    customers = np.bincount(seg, minlength=k)
    empty = np.flatnonzero(customers == 0)
    if len(empty):
        raise ValidationError(
            f"'segment' {int(empty[0])} has no customers (every segment 0..{k - 1} needs at least one)"
        )
    p0 = model.table(c0)[seg, s - 1]
    p1 = model.table(c1)[seg, s - 1]
    risk = p0 - p1
    host = s < _satisfied_from(satisfied_from)
    with np.errstate(over="ignore"):  # refused by name below
        at_risk = _sum_by(seg, risk * v, k)
        total_value = _sum_by(seg, np.abs(v), k)
    if not np.isfinite(total_value).all():
        raise ValidationError(
            "the sum of 'value' in a segment overflows the float range (beyond 1.8e308): "
            "express 'value' in larger units"
        )
    return ScenarioResult(
        competition_before=c0,
        competition_after=c1,
        customers=customers.astype(np.int64),
        loyal_before=_sum_by(seg, p0, k),
        loyal_after=_sum_by(seg, p1, k),
        hostage_defections=_sum_by(seg, risk * host, k),
        value_at_risk=at_risk,
        hostage_value_at_risk=_sum_by(seg, risk * v * host, k),
        customer_risk=risk,
    )
