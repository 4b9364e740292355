"""Discounted customer lifetime value from a purchase model and a spend model.

CLV_i = margin * E[value_i] * sum_{k=1}^{K} (E[Y_i(k h)] - E[Y_i((k-1) h)]) / (1 + d)^k

with K steps of length h (in the purchase model's time unit), a discount
rate d per step, E[Y_i(t)] the conditional expected purchases and
E[value_i] the spend model's conditional expected transaction value (or the
given monetary value). Every purchase model here factors as
E[Y_i(t)] = P(alive_i) * G(t; x_i, T_i), so the K-step sum is evaluated once
per distinct (x, T) pair as one (pairs x K) numpy expression and gathered
back: exact, no loop over customers or periods.

>>> from crmcore.valuation.btyd.bgnbd import BGNBDModel, BGNBDParams
>>> from crmcore.valuation.btyd.gamma_gamma import GammaGammaModel, GammaGammaParams
>>> bg = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426))
>>> gg = GammaGammaModel(GammaGammaParams(6.25, 3.74, 15.44), None, -4055.9, 946, True, "")
>>> clv = customer_lifetime_value(bg, gg, [2, 0], [30.43, 0.0], [38.86, 38.86], [22.35, 0.0],
...                               horizon=12, step=52 / 12, discount_rate=0.01)
>>> [round(float(v), 2) for v in clv]
[36.21, 8.35]
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray, NanPolicy, check_nonnegative
from crmcore.errors import ValidationError
from crmcore.options import as_choice, as_horizon, as_number, expect_instance
from crmcore.valuation.btyd._common import (
    MAX_FIT_AGE,
    aligned,
    check_rft,
    elementwise,
    factorize_rows,
)
from crmcore.valuation.btyd.gamma_gamma import GammaGammaModel

__all__ = ["STEP_LENGTHS", "PurchaseModel", "customer_lifetime_value"]

STEP_LENGTHS: dict[str, float] = {"D": 30.0, "W": 52.0 / 12.0, "M": 1.0}
"""Length of a one-month step in a model's time unit (days, weeks, months)."""


class PurchaseModel(Protocol):
    """What CLV needs from a fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD)."""

    def _alive(self, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray: ...

    def _future(self, t: Any, x: FloatArray, T: FloatArray) -> FloatArray: ...


@elementwise(
    "frequency",
    "recency",
    "T",
    "monetary_value",
    rows=("purchase_covariates", "dropout_covariates"),
)
def customer_lifetime_value(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel | None,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    monetary_value: npt.ArrayLike,
    *,
    horizon: int = 12,
    discount_rate: float = 0.01,
    margin: float = 1.0,
    step: float | None = None,
    time_unit: str = "W",
    purchase_covariates: npt.ArrayLike | None = None,
    dropout_covariates: npt.ArrayLike | None = None,
    nan_policy: NanPolicy = "raise",
) -> FloatArray:
    """Discounted expected margin over ``horizon`` steps per customer.

    ``step`` is the length of one step in the purchase model's time unit;
    by default one month in ``time_unit`` (``STEP_LENGTHS``: 30 days,
    52/12 weeks or 1 month). ``discount_rate`` is per step, ``margin`` the
    share of the value kept. With ``spend_model`` None the given
    ``monetary_value`` is used as the expected value per transaction. A
    purchase model fitted with covariates takes them per customer
    (``purchase_covariates``, ``dropout_covariates``). ``nan_policy`` follows the
    element-wise rule of :mod:`crmcore.arrays` (one value per customer).
    ``step`` times ``horizon`` is at most 1e10 time units, the longest customer
    age a BTYD fit takes.

    >>> customer_lifetime_value(None, None, [1], [1.0], [2.0], [1.0])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'purchase_model' must be a fitted BG/NBD, MBG/NBD or Pareto/NBD model: None
    """
    if not all(callable(getattr(purchase_model, k, None)) for k in ("_alive", "_future")):
        raise ValidationError(
            "'purchase_model' must be a fitted BG/NBD, MBG/NBD or Pareto/NBD model: "
            f"{purchase_model!r}"[:200]
        )
    if spend_model is not None:
        expect_instance(spend_model, GammaGammaModel, name="spend_model")
    horizon = as_horizon(horizon, name="horizon", low=1)
    discount_rate = as_number(discount_rate, name="discount_rate", low=-1, inclusive=(False, True))
    margin = as_number(margin, name="margin")
    if step is None:
        step = STEP_LENGTHS[as_choice(time_unit, name="time_unit", allowed=sorted(STEP_LENGTHS))]
    step = as_number(step, name="step", low=0, inclusive=(False, True))
    x, tx, tt, m = aligned(
        {"frequency": frequency, "recency": recency, "T": T, "monetary_value": monetary_value}
    )
    x, tx, tt = check_rft(x, tx, tt)
    check_nonnegative(m, name="monetary_value")
    value = m if spend_model is None else spend_model.conditional_expected_average_value(x, m)
    if not step * horizon <= MAX_FIT_AGE:  # the expected purchases overflow far beyond it
        raise ValidationError(
            f"'step' times 'horizon' must be at most {MAX_FIT_AGE:g} (in the purchase model's "
            f"time unit, the longest age a BTYD fit takes): {step!r} x {horizon}"
        )
    times = step * np.arange(horizon + 1, dtype=np.float64)
    disc = (1.0 + discount_rate) ** -np.arange(1, horizon + 1, dtype=np.float64)
    path = getattr(purchase_model, "_covariate_path", None)
    per_customer = (
        None if path is None else path(times, x, tx, tt, purchase_covariates, dropout_covariates)
    )
    if per_customer is not None:  # covariates: every customer has her own parameters
        alive, cum_i = per_customer
        return np.asarray(margin * value * alive * (np.diff(cum_i, axis=1) @ disc))
    if path is None and (purchase_covariates is not None or dropout_covariates is not None):
        raise ValidationError("covariates were given, but the purchase model takes none")
    (ux, uT), inv = factorize_rows(x, tt)
    cum = purchase_model._future(times[None, :], ux[:, None], uT[:, None])
    per_pair = np.diff(cum, axis=1) @ disc
    out: FloatArray = margin * value * purchase_model._alive(x, tx, tt) * per_pair[inv]
    return out
