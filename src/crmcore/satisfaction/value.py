"""Where satisfaction work pays: the loyalty gain of one more level, and its value in CLV.

The marginal gain of moving a customer from ``s`` to ``s + 1`` is
``ΔP(s, c) = P(s + 1, c) − P(s, c)`` (0 at ``s = 5``). Multiplied by the
customer's lifetime value it is the expected value of raising that
customer's satisfaction by one level; ranking customers by it puts effort
where it pays. Under high competition almost all of the gain is in moving
4s to 5 ("is 100% satisfaction worth chasing?" — there, yes); under low
competition every step is worth little.

>>> from crmcore.satisfaction import preset_model
>>> gain_table(preset_model(), [0.0, 1.0]).round(2).tolist()
[[0.01, 0.04, 0.1, 0.1], [0.0, 0.0, 0.12, 0.67]]
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import array
from crmcore.arrays import FloatArray, IntArray
from crmcore.errors import ValidationError
from crmcore.options import as_count
from crmcore.satisfaction._validate import LEVELS, competition_array, scoring_inputs
from crmcore.satisfaction.curve import LoyaltyCurve, LoyaltyModel

__all__ = ["UpliftRanking", "gain_table", "marginal_gain", "uplift_value"]

_Model = LoyaltyModel | LoyaltyCurve


def _check_sums(sums: float | npt.NDArray[Any]) -> None:
    if not np.isfinite(sums).all():
        raise ValidationError(
            "the sum of the uplift values overflows the float range (beyond 1.8e308): "
            "express 'clv' in larger units"
        )


def _check_model(model: object) -> None:
    if not isinstance(model, LoyaltyModel | LoyaltyCurve):
        raise ValidationError(f"'model' must be a LoyaltyModel or LoyaltyCurve: {model!r}")


def gain_table(model: _Model, competition: npt.ArrayLike = 0.0) -> FloatArray:
    """ΔP for moves 1→2, 2→3, 3→4, 4→5 (columns) at each competition level (rows).

    A :class:`LoyaltyCurve` has one row whatever ``competition`` says.

    >>> from crmcore.satisfaction import preset_curve
    >>> gain_table(preset_curve("low")).round(3).tolist()
    [[0.009, 0.038, 0.1, 0.1]]
    """
    _check_model(model)
    if isinstance(model, LoyaltyCurve):
        return model.marginal_gains()[None, :]
    return np.diff(model.table(competition), axis=1)  # table() checks the levels by name


def _gains(model: _Model, s: IntArray, c: FloatArray, competition: npt.ArrayLike) -> FloatArray:
    if isinstance(model, LoyaltyCurve):
        return np.append(model.marginal_gains(), 0.0)[s - 1]
    if np.ndim(competition) == 0:
        level = float(competition_array(np.atleast_1d(np.asarray(competition)))[0])
        return np.append(model.curve(level).marginal_gains(), 0.0)[s - 1]
    up = model.probability(np.minimum(s + 1, LEVELS), c)
    return up - model.probability(s, c)


def marginal_gain(
    model: _Model,
    satisfaction: npt.ArrayLike,
    competition: npt.ArrayLike = 0.0,
    *,
    nan_policy: Literal["propagate", "omit", "raise"] = "raise",
) -> FloatArray:
    """Per customer, the loyalty gained by moving up one satisfaction level (0 at level 5).

    >>> from crmcore.satisfaction import preset_model
    >>> marginal_gain(preset_model(), [3, 4, 5], 1.0).round(3).tolist()
    [0.118, 0.667, 0.0]
    """
    _check_model(model)
    s, c, nan, _, _ = scoring_inputs(satisfaction, competition, nan_policy=nan_policy)
    out = _gains(model, s, c, competition)
    if nan is not None:
        out = out.astype(np.float64, copy=True)
        out[nan] = np.nan
    return np.asarray(out, dtype=np.float64)


@attrs.frozen
class UpliftRanking(Tabular):
    """Expected value of raising each customer's satisfaction by one level, ranked.

    ``gain`` is ΔP(loyal) per customer, ``value`` = gain × CLV, ``order``
    the customer indices from most to least valuable (NaN last). ``order``
    and :meth:`top` are always row numbers of the caller's input, so
    ``sat[r.top(100)]`` picks the right customers; with ``nan_policy="omit"``
    ``gain``, ``value`` and ``satisfaction`` hold the rows kept only.

    >>> from crmcore.satisfaction import preset_model
    >>> r = uplift_value(preset_model(), [4, 2, 5, 4], [100.0, 1000.0, 500.0, 50.0], 1.0)
    >>> r.order.tolist(), round(r.total, 1)
    ([0, 3, 1, 2], 104.9)
    """

    gain: FloatArray = attrs.field(
        eq=False,
        repr=False,
        validator=array(nan='nan_policy="propagate": a customer with a missing input'),
    )
    value: FloatArray = attrs.field(
        eq=False,
        repr=False,
        validator=array(
            length="gain", nan='nan_policy="propagate": a customer with a missing input'
        ),
    )
    order: IntArray = attrs.field(eq=False, repr=False, validator=array("i", lo=0))
    satisfaction: IntArray = attrs.field(
        eq=False, repr=False, validator=array("i", lo=0, length="gain")
    )

    @property
    def total(self) -> float:
        """The expected value of raising every customer by one level (NaN rows skipped).

        >>> from crmcore.satisfaction import preset_curve
        >>> round(uplift_value(preset_curve("high"), [4], [30.0]).total, 2)   # (0.8 - 2/15) * 30
        20.0
        """
        with np.errstate(over="ignore"):  # refused by name just below
            total = float(np.nansum(self.value))
        _check_sums(total)
        return total

    def top(self, n: int) -> IntArray:
        """Indices of the ``n`` customers where one more level is worth most.

        >>> from crmcore.satisfaction import preset_curve
        >>> uplift_value(preset_curve("high"), [3, 4], [100.0, 100.0]).top(1).tolist()
        [1]
        """
        return self.order[: as_count(n, name="n", high=2**63 - 1)]

    def by_level(self) -> FloatArray:
        """Total uplift value of the customers currently at satisfaction 1, 2, 3, 4 (and 5: 0).

        >>> from crmcore.satisfaction import preset_curve
        >>> uplift_value(preset_curve("high"), [1, 4, 4], [10.0, 30.0, 30.0]).by_level().round(2).tolist()
        [0.0, 0.0, 0.0, 40.0, 0.0]
        """
        v = np.where(np.isnan(self.value), 0.0, self.value)
        with np.errstate(over="ignore"):  # refused by name just below
            out = np.bincount(self.satisfaction - 1, weights=v, minlength=LEVELS)
        _check_sums(out)
        return np.asarray(out, dtype=np.float64)

    def _columns(self) -> Columns:
        return {"satisfaction": self.satisfaction, "gain": self.gain, "value": self.value}


def uplift_value(
    model: _Model,
    satisfaction: npt.ArrayLike,
    clv: npt.ArrayLike,
    competition: npt.ArrayLike = 0.0,
    *,
    nan_policy: Literal["propagate", "omit", "raise"] = "raise",
) -> UpliftRanking:
    """ΔP(loyal) × CLV for raising each customer's satisfaction by one level, ranked.

    ``clv`` is any per-customer value array (a CLV from :mod:`crmcore.valuation`
    or your own); negative values (loss-making customers) rank last. NaN rows
    follow the one NaN policy: ``omit`` ranks the rows kept, and ``order``
    holds the caller's row numbers.

    >>> from crmcore.satisfaction import preset_curve
    >>> r = uplift_value(preset_curve("high"), [3, float("nan"), 4], [100.0, 1.0, 100.0],
    ...                  nan_policy="omit")
    >>> r.top(2).tolist(), r.value.round(1).tolist()
    ([2, 0], [11.8, 66.7])

    >>> uplift_value(preset_curve("high"), [4, 4], [10.0, float("inf")])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'clv' must be finite: inf at index 1
    """
    _check_model(model)
    s, c, nan, extra, rows = scoring_inputs(
        satisfaction, competition, nan_policy=nan_policy, extra={"clv": clv}
    )
    value_in = extra["clv"]
    gain = _gains(model, s, c, competition)
    value = gain * value_in
    if nan is not None:
        gain = gain.astype(np.float64, copy=True)
        gain[nan] = np.nan
        value[nan] = np.nan
    key = np.where(np.isnan(value), np.inf, -value)
    order = np.argsort(key, kind="stable").astype(np.int64)
    return UpliftRanking(
        gain=np.asarray(gain, dtype=np.float64),
        value=np.asarray(value, dtype=np.float64),
        order=order if rows is None else rows[order],
        satisfaction=s,
    )
