"""Closed-form CLV for a constant retention rate, the retention what-if, repurchase propensity.

Convention (stated once, used everywhere here): a customer is acquired at
time 0, no margin is counted at time 0, and a margin ``m`` is received at
the **end** of every period ``t = 1, 2, …`` the customer is still active;
the customer is active at the end of period ``t`` with probability ``r^t``
and money at ``t`` is worth ``1/(1 + d)^t`` today. Then, with
``q = r / (1 + d)``,

* infinite horizon: ``CLV = Σ_{t≥1} m·q^t = m·r / (1 + d − r)``;
* horizon of ``H`` periods: ``CLV_H = m·q·(1 − q^H) / (1 − q)``.

If your margin is received at the *start* of each period (first period
included), add ``m`` to the value: ``m·(1 + d)/(1 + d − r)``.

>>> round(retention_clv(100.0, 0.8, 0.1), 2)
266.67
>>> round(retention_clv(100.0, 0.8, 0.1, horizon=3), 2)
164.09
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, flat
from crmcore._results import FINITE, array
from crmcore.arrays import (
    FloatArray,
    NanPolicy,
    NanSplit,
    apply_nan_policy,
    check_in_range,
    check_nonnegative,
    validate_nan_policy,
)
from crmcore.errors import ValidationError
from crmcore.options import as_horizon, as_number
from crmcore.valuation.btyd._common import check_rft, elementwise
from crmcore.valuation.btyd._family import PurchaseModel

__all__ = [
    "RetentionWhatIf",
    "repurchase_propensity",
    "retention_clv",
    "retention_what_if",
]


def _rows(nan_policy: str, **arrays: npt.ArrayLike) -> NanSplit:
    """Aligned per-cohort inputs (scalars stand for every row) after the element-wise NaN policy."""
    return apply_nan_policy(arrays, policy=nan_policy, broadcast=tuple(arrays))


def retention_clv(
    margin: npt.ArrayLike,
    retention: npt.ArrayLike,
    discount: npt.ArrayLike,
    *,
    horizon: int | None = None,
    nan_policy: NanPolicy = "raise",
) -> Any:
    """CLV with constant retention ``r``, margin ``m`` per period and discount rate ``d`` (broadcasts).

    Returns a float for scalar inputs, else an array. An infinite horizon
    with ``r = 1`` and ``d = 0`` has no finite value and is refused. Arrays
    must have one length (scalars stand for every row); ``nan_policy``
    follows the element-wise rule of :mod:`crmcore.arrays`; ``horizon`` is
    capped at :data:`crmcore.options.MAX_PERIODS`.

    >>> retention_clv([10, 20], 0.5, 0.0).tolist()
    [10.0, 20.0]
    >>> retention_clv(10, 1.0, 0.0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: CLV is infinite with retention 1 and discount 0: pass a 'horizon'
    >>> retention_clv(10, 1.2, 0.1)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'retention' must be in [0, 1]: 1.2 at index 0
    """
    scalar = all(np.ndim(x) == 0 for x in (margin, retention, discount))
    split = _rows(nan_policy, margin=margin, retention=retention, discount=discount)
    a = split.clean()
    m, r, d = a["margin"], a["retention"], a["discount"]
    check_in_range(r, name="retention", low=0, high=1)
    check_nonnegative(d, name="discount")
    q = r / (1.0 + d)
    if horizon is None:
        bad = q >= 1.0
        if bad.any():
            raise ValidationError(
                "CLV is infinite with retention 1 and discount 0: pass a 'horizon'"
            )
        with np.errstate(over="ignore"):
            out = m * r / (1.0 + d - r)
    else:
        h = as_horizon(horizon, name="horizon")
        one = q == 1.0
        safe_q = np.where(one, 0.5, q)
        geo = safe_q * (1.0 - safe_q**h) / (1.0 - safe_q)
        with np.errstate(over="ignore"):
            out = m * np.where(one, float(h), geo)
    _refuse_overflow(out, "margin", m, "the CLV")
    full = split.fill(out)
    return float(full[0]) if scalar else full


def _refuse_overflow(out: FloatArray, name: str, given: FloatArray, what: str) -> None:
    """A finite input whose result overflows float64 is refused naming the argument."""
    big = ~np.isfinite(out)
    if big.any():
        i = int(np.flatnonzero(big.ravel())[0])
        value = np.broadcast_to(given, out.shape).ravel()[i]
        raise ValidationError(
            f"{name!r} {value:g} at index {i} is too large: {what} overflows float64"
        )


@attrs.frozen(eq=False)
class RetentionWhatIf(Tabular):
    """Effect of raising retention by ``points`` percentage points, per cohort.

    ``clv_before``/``clv_after`` per customer, ``profit_effect`` =
    (after − before) × cohort size, ``relative_change`` = after / before − 1.

    >>> w = retention_what_if(10.0, 0.5, 0.0, 100, points=10)
    >>> w.clv_before.tolist(), w.clv_after.round(4).tolist(), round(w.total_effect, 2)
    ([10.0], [15.0], 500.0)
    """

    retention_before: FloatArray = attrs.field(validator=array(lo=0, hi=1, ndim=None))
    retention_after: FloatArray = attrs.field(validator=array(lo=0, hi=1, ndim=None))
    clv_before: FloatArray = attrs.field(validator=array(ndim=None))
    clv_after: FloatArray = attrs.field(validator=array(ndim=None))
    profit_effect: FloatArray = attrs.field(validator=array(ndim=None))
    relative_change: FloatArray = attrs.field(validator=array(ndim=None))
    points: float = attrs.field(validator=FINITE)

    @property
    def total_effect(self) -> float:
        """Sum of the profit effect over all cohorts."""
        return float(self.profit_effect.sum())

    def _columns(self) -> Columns:
        names = (
            "retention_before",
            "retention_after",
            "clv_before",
            "clv_after",
            "profit_effect",
            "relative_change",
        )
        return dict(zip(names, flat(*(getattr(self, n) for n in names)), strict=True))


def retention_what_if(
    margin: npt.ArrayLike,
    retention: npt.ArrayLike,
    discount: npt.ArrayLike,
    cohort_sizes: npt.ArrayLike,
    *,
    points: float,
    horizon: int | None = None,
    nan_policy: NanPolicy = "raise",
) -> RetentionWhatIf:
    """Profit effect of ``+points`` of retention (e.g. ``points=5``: 0.80 → 0.85) for each cohort.

    ``nan_policy='omit'`` leaves out cohorts with a NaN input (the result holds the
    cohorts kept); ``'propagate'`` is refused (the result holds no NaN).

    >>> w = retention_what_if([100.0, 100.0], [0.6, 0.8], 0.1, [1000, 500], points=5)
    >>> w.clv_before.round(2).tolist(), w.clv_after.round(2).tolist()
    ([120.0, 266.67], [144.44, 340.0])
    >>> w.profit_effect.round(0).tolist(), round(w.total_effect)
    ([24444.0, 36667.0], 61111)
    """
    p = as_number(points, name="points")
    validate_nan_policy(
        nan_policy, allowed=("raise", "omit"), what="a retention what-if (it holds no NaN)"
    )
    a = _rows(
        nan_policy,
        margin=margin,
        retention=retention,
        discount=discount,
        cohort_sizes=cohort_sizes,
    ).arrays
    check_nonnegative(a["cohort_sizes"], name="cohort_sizes")
    r0 = a["retention"]
    r1 = r0 + p / 100.0
    over = (r1 > 1.0) | (r1 < 0.0)
    if over.any():
        i = int(np.flatnonzero(over.ravel())[0])
        raise ValidationError(
            f"'points' {p:g} moves retention {r0.ravel()[i]:g} outside [0, 1] at index {i}"
        )
    m, d = a["margin"], a["discount"]
    before = np.asarray(retention_clv(m, r0, d, horizon=horizon))
    after = np.asarray(retention_clv(m, r1, d, horizon=horizon))
    # per unit of margin (m cancels from the relative change: no subnormal m * r0 product)
    unit0 = np.asarray(retention_clv(1.0, r0, d, horizon=horizon))
    unit1 = np.asarray(retention_clv(1.0, r1, d, horizon=horizon))
    with np.errstate(over="ignore"):
        rel = np.divide(
            unit1 - unit0, unit0, out=np.zeros_like(unit0), where=(unit0 != 0) & (m != 0)
        )
    huge = ~np.isfinite(rel)
    if huge.any():  # only a retention next to 0 (5e-324) makes the change overflow
        i = int(np.flatnonzero(huge.ravel())[0])
        raise ValidationError(
            f"'retention' {r0.ravel()[i]:g} at index {i} is too close to 0 for a relative "
            f"change of +{p:g} points: the CLV grows by more than a float64 factor"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        effect = (after - before) * a["cohort_sizes"]
    _refuse_overflow(effect, "cohort_sizes", a["cohort_sizes"], "the profit effect")
    return RetentionWhatIf(
        retention_before=r0,
        retention_after=r1,
        clv_before=before,
        clv_after=after,
        profit_effect=effect,
        relative_change=rel,
        points=p,
    )


@elementwise("frequency", "recency", "T")
def repurchase_propensity(
    model: PurchaseModel,
    t: float,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    nan_policy: NanPolicy = "raise",
) -> FloatArray:
    """Per-customer probability of at least one purchase in the next ``t`` periods.

    Delegates to ``model.probability_of_repurchase`` (duck-typed: any fitted
    model with that method), after validating the inputs (the BTYD rule of
    :func:`crmcore.valuation.btyd._common.check_rft`), and checks that the
    model answered with probabilities. ``nan_policy`` follows the element-wise
    rule of :mod:`crmcore.arrays`.

    >>> class Coin:
    ...     def probability_of_repurchase(self, t, frequency, recency, T):
    ...         return 1.0 - 0.5 ** (t * (frequency > 0) + 1)
    >>> repurchase_propensity(Coin(), 1, [0, 3], [0, 5], [10, 10]).tolist()
    [0.5, 0.75]
    """
    if not callable(getattr(model, "probability_of_repurchase", None)):
        raise ValidationError(
            f"'model' must offer probability_of_repurchase(t, frequency, recency, T): "
            f"{type(model).__name__}"
        )
    t = as_number(t, name="t", low=0, inclusive=(False, True))
    f, rec, big_t = check_rft(frequency, recency, T)
    out = np.asarray(model.probability_of_repurchase(float(t), f, rec, big_t), dtype=np.float64)
    out = np.broadcast_to(out, f.shape).astype(np.float64)
    bad = ~np.isfinite(out) | (out < 0) | (out > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"the purchase model returned a non-probability {out[i]!r} at index {i}"
        )
    return out
