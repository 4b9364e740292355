"""Effective competition of a market or segment, on a documented 0–1 scale.

How hard it is for a customer to leave is what turns satisfaction into
loyalty (DOMAIN.md §4). Four things lower it below the raw intensity of
competition: a regulated monopoly, high switching costs, proprietary
technology, and rewards for long-standing customers (frequent-flyer
programs). The scale:

* ``0`` — a captive market: customers cannot take their business elsewhere;
* ``1`` — a fully contestable market: many close substitutes, nothing that
  holds a customer back.

The effective level multiplies the raw intensity by what each dampening
factor leaves of it::

    c = raw · Π_k (1 − w_k · d_k)

with ``raw`` and every factor strength ``d_k`` in [0, 1] and the weights
``w_k`` in [0, 1] (the share of competition a factor removes at full strength).

>>> effective_competition(0.9, switching_cost=0.5).round(3).tolist()
[0.63]
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy.typing as npt

from crmcore.arrays import FloatArray, apply_nan_policy, check_in_range
from crmcore.errors import ValidationError
from crmcore.options import as_probability

__all__ = ["DEFAULT_WEIGHTS", "DampeningWeights", "MarketConditions", "effective_competition"]


def _unit(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    as_probability(value, name=attribute.name)


@attrs.frozen
class DampeningWeights:
    """How much of the competition each factor removes when it is at full strength (0–1).

    The defaults are judgement, not estimates: a full legal monopoly removes
    all competition; high switching costs remove 60%; proprietary technology
    50%; loyalty rewards 30%. Set your own from what you know of the market.

    >>> DampeningWeights(switching_cost=0.8).switching_cost
    0.8
    >>> DampeningWeights(loyalty_rewards=1.2)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'loyalty_rewards' must be in [0, 1]: 1.2
    """

    regulated_monopoly: float = attrs.field(default=1.0, validator=_unit)
    switching_cost: float = attrs.field(default=0.6, validator=_unit)
    proprietary_technology: float = attrs.field(default=0.5, validator=_unit)
    loyalty_rewards: float = attrs.field(default=0.3, validator=_unit)


DEFAULT_WEIGHTS = DampeningWeights()
"""The default weights (see :class:`DampeningWeights`)."""


@attrs.frozen
class MarketConditions:
    """One market's raw competition and the strength (0–1) of each dampening factor.

    >>> m = MarketConditions(raw_intensity=0.8, regulated_monopoly=1.0)
    >>> m.effective()
    0.0
    >>> MarketConditions(raw_intensity=0.8, proprietary_technology=1.0).effective()
    0.4
    """

    raw_intensity: float = attrs.field(validator=_unit)
    regulated_monopoly: float = attrs.field(default=0.0, validator=_unit)
    switching_cost: float = attrs.field(default=0.0, validator=_unit)
    proprietary_technology: float = attrs.field(default=0.0, validator=_unit)
    loyalty_rewards: float = attrs.field(default=0.0, validator=_unit)

    def effective(self, weights: DampeningWeights = DEFAULT_WEIGHTS) -> float:
        """The effective competition in [0, 1] (see the module docstring).

        >>> MarketConditions(raw_intensity=1.0).effective()
        1.0
        """
        return float(
            effective_competition(
                self.raw_intensity,
                regulated_monopoly=self.regulated_monopoly,
                switching_cost=self.switching_cost,
                proprietary_technology=self.proprietary_technology,
                loyalty_rewards=self.loyalty_rewards,
                weights=weights,
            )[0]
        )


def effective_competition(
    raw_intensity: npt.ArrayLike,
    *,
    regulated_monopoly: npt.ArrayLike = 0.0,
    switching_cost: npt.ArrayLike = 0.0,
    proprietary_technology: npt.ArrayLike = 0.0,
    loyalty_rewards: npt.ArrayLike = 0.0,
    weights: DampeningWeights = DEFAULT_WEIGHTS,
    nan_policy: str = "raise",
) -> FloatArray:
    """Effective competition per market, vectorized (all in [0, 1]; a number applies to every market).

    Arrays must have one entry per market (lengths are checked, only scalars
    are repeated). A market with a NaN input follows the one NaN policy:
    ``omit`` leaves it out, ``propagate`` gives it NaN.

    ``c = raw · (1 − w_m·monopoly)(1 − w_s·switching)(1 − w_p·proprietary)(1 − w_r·rewards)``

    >>> effective_competition([0.9, 0.9, 0.9], switching_cost=[0, 1, 1],
    ...                       loyalty_rewards=[0, 0, 1]).round(3).tolist()
    [0.9, 0.36, 0.252]
    >>> effective_competition([0.5], switching_cost=[2])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'switching_cost' must be in [0, 1]: 2.0 at index 0
    """
    if not isinstance(weights, DampeningWeights):
        raise ValidationError(f"'weights' must be a DampeningWeights: {weights!r}")
    inputs = {
        "raw_intensity": raw_intensity,
        "regulated_monopoly": regulated_monopoly,
        "switching_cost": switching_cost,
        "proprietary_technology": proprietary_technology,
        "loyalty_rewards": loyalty_rewards,
    }
    split = apply_nan_policy(inputs, policy=nan_policy, broadcast=tuple(inputs))
    arrs = split.clean()
    for name, a in arrs.items():
        check_in_range(a, name=name, low=0.0, high=1.0)
    out = arrs["raw_intensity"] * (1.0 - weights.regulated_monopoly * arrs["regulated_monopoly"])
    out = out * (1.0 - weights.switching_cost * arrs["switching_cost"])
    out = out * (1.0 - weights.proprietary_technology * arrs["proprietary_technology"])
    out = out * (1.0 - weights.loyalty_rewards * arrs["loyalty_rewards"])
    return split.fill(out)
