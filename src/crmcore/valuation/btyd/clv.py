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
>>> bg = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426), time_unit="W")
>>> gg = GammaGammaModel(GammaGammaParams(6.25, 3.74, 15.44))
>>> clv = customer_lifetime_value(bg, gg, [2, 0], [30.43, 0.0], [38.86, 38.86], [22.35, 0.0],
...                               horizon=12, step=52 / 12, discount_rate=0.01)
>>> [round(float(v), 2) for v in clv]
[36.21, 8.35]

The default step is one month (365.2425 / 12 days) in the model's unit, here weeks:

>>> default = customer_lifetime_value(bg, gg, [2], [30.43], [38.86], [22.35])
>>> round(float(default[0]), 2)
36.31
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray, NanPolicy, check_nonnegative
from crmcore.durations import Duration, as_time_unit, check_same_unit, in_time_unit
from crmcore.errors import ValidationError
from crmcore.options import as_horizon, as_number, expect_instance
from crmcore.valuation.btyd._common import (
    MAX_FIT_AGE,
    aligned,
    check_rft,
    elementwise,
    factorize_rows,
    summary_columns,
)
from crmcore.valuation.btyd._family import PurchaseModel, PurchaseModelBase
from crmcore.valuation.btyd.gamma_gamma import GammaGammaModel
from crmcore.valuation.btyd.summary import RFMSummary

__all__ = ["customer_lifetime_value"]


def customer_lifetime_value(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel | None,
    frequency: Any,
    recency: npt.ArrayLike | None = None,
    T: npt.ArrayLike | None = None,
    monetary_value: npt.ArrayLike | None = None,
    *,
    horizon: int = 12,
    discount_rate: float = 0.01,
    margin: float = 1.0,
    step: Any = None,
    time_unit: str | None = None,
    purchase_covariates: npt.ArrayLike | None = None,
    dropout_covariates: npt.ArrayLike | None = None,
    nan_policy: NanPolicy = "raise",
) -> FloatArray:
    """Discounted expected margin over ``horizon`` steps per customer.

    The customers are given as arrays (frequency, recency, T, monetary value) or as an
    :class:`~crmcore.valuation.btyd.summary.RFMSummary` alone (its unit must be the
    model's).

    ``step`` is the length of one step: a number in the purchase model's time unit or a
    calendar span (:class:`crmcore.durations.Duration`, ``timedelta``); by default one
    month (365.2425 / 12 days, the one definition of :mod:`crmcore.durations`) in the
    model's ``time_unit``. ``time_unit`` is needed only for a model without one (built from
    parameters by hand or fitted without it) and must agree with the model's otherwise:
    mixing units is an error, never a silent rescale. ``discount_rate`` is per step,
    ``margin`` the share of the value kept. With ``spend_model`` None the given
    ``monetary_value`` is used as the expected value per transaction. A purchase model
    fitted with covariates takes them per customer (``purchase_covariates``,
    ``dropout_covariates``). ``nan_policy`` follows the element-wise rule of
    :mod:`crmcore.arrays` (one value per customer). ``step`` times ``horizon`` is at most
    1e10 time units, the longest customer age a BTYD fit takes.

    >>> customer_lifetime_value(None, None, [1], [1.0], [2.0], [1.0])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'purchase_model' must be a fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gompertz/NBD or one offering probability_alive and expected_purchases_if_alive): None
    """
    if not isinstance(purchase_model, PurchaseModel):
        raise ValidationError(
            "'purchase_model' must be a fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD, "
            "Gamma-Gompertz/NBD or one offering probability_alive and "
            f"expected_purchases_if_alive): {purchase_model!r}"[:300]
        )
    if isinstance(frequency, RFMSummary):
        if monetary_value is not None:
            raise ValidationError(
                "'monetary_value' comes from the summary: pass the RFMSummary alone"
            )
        monetary_value = frequency.monetary_value
    elif monetary_value is None:
        raise ValidationError("'monetary_value' is required (or pass an RFMSummary as 'frequency')")
    own = getattr(purchase_model, "time_unit", None)
    x, tx, tt, unit = summary_columns(frequency, recency, T, unit=own, against="the purchase model")
    return _clv(
        purchase_model,
        spend_model,
        x,
        tx,
        tt,
        monetary_value,
        horizon=horizon,
        discount_rate=discount_rate,
        margin=margin,
        step=step,
        time_unit=_summary_unit(time_unit, unit) if own is None else time_unit,
        purchase_covariates=purchase_covariates,
        dropout_covariates=dropout_covariates,
        nan_policy=nan_policy,
    )


@elementwise(
    "frequency",
    "recency",
    "T",
    "monetary_value",
    rows=("purchase_covariates", "dropout_covariates"),
)
def _clv(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel | None,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    monetary_value: npt.ArrayLike,
    *,
    horizon: int,
    discount_rate: float,
    margin: float,
    step: Any,
    time_unit: str | None,
    purchase_covariates: npt.ArrayLike | None,
    dropout_covariates: npt.ArrayLike | None,
    nan_policy: NanPolicy = "raise",
) -> FloatArray:
    if spend_model is not None:
        expect_instance(spend_model, GammaGammaModel, name="spend_model")
    horizon = as_horizon(horizon, name="horizon", low=1)
    discount_rate = as_number(discount_rate, name="discount_rate", low=-1, inclusive=(False, True))
    margin = as_number(margin, name="margin")
    unit = _unit(purchase_model, time_unit)
    if step is None:
        step = Duration(1, "M")
    step = as_number(
        in_time_unit(step, unit, name="step"), name="step", low=0, inclusive=(False, True)
    )
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
    cov = {"purchase_covariates": purchase_covariates, "dropout_covariates": dropout_covariates}
    plain = purchase_covariates is None and dropout_covariates is None
    if isinstance(purchase_model, PurchaseModelBase) and plain:
        th = purchase_model._customer(None, None, len(x))
        (ux, uT), inv = factorize_rows(x, tt)  # G(t; x, T) once per distinct (x, T)
        cum = purchase_model._future_rows(times[None, :], ux[:, None], uT[:, None], th)
        per_pair = np.diff(cum, axis=1) @ disc
        alive = purchase_model._alive_rows(x, tx, tt, th)
        out: FloatArray = margin * value * alive * per_pair[inv]
        return out
    alive = purchase_model.probability_alive(x, tx, tt, **cov)
    cum_i = purchase_model.expected_purchases_if_alive(times[None, :], x, tx, tt, **cov)
    return np.asarray(margin * value * alive * (np.diff(cum_i, axis=1) @ disc))


def _summary_unit(given: str | None, summary: str | None) -> str | None:
    """For a model without a unit: the summary's unit (``time_unit`` must agree with it)."""
    if summary is None:
        return given
    if given is not None:
        check_same_unit(as_time_unit(given), summary, what="'time_unit'", against="the summary")
    return summary


def _unit(model: PurchaseModel, given: str | None) -> str | None:
    """The time unit of the CLV: the model's; ``time_unit`` only for a model without one."""
    own = getattr(model, "time_unit", None)
    if given is None:
        return own
    given = as_time_unit(given)
    check_same_unit(given, own, what="'time_unit'", against="the purchase model")
    return given
