"""Tracking curves: a cohort's expected repeat transactions over calendar time, against
the actual ones (the cumulative and incremental plots of Fader, Hardie & Lee 2005, fig. 3).

Customer i joins the cohort at her first purchase, ``b_i`` time units after the cohort's
first day; by calendar time tau the model expects

    E[cumulative repeat transactions](tau) = sum over i with b_i < tau of E[X(tau - b_i)]

(``E[X(t)]`` the expected repeat purchases of a new customer in (0, t], with her covariates
when the model has them). The actual curve counts the repeat transactions of the same
customers (purchases in one ``period`` merged, the first one not counted: the summaries'
convention). Expectations are evaluated once per distinct join time and grid point.

>>> from crmcore.datasets import load_cdnow_sample
>>> from crmcore.valuation import fit_bgnbd, summarize_transactions
>>> log = load_cdnow_sample()
>>> s = summarize_transactions(log, time_unit="W", calibration_end="1997-09-30")
>>> curves = tracking_curves(fit_bgnbd(s), log, end="1998-06-30")
>>> len(curves), str(curves.dates[38]), int(curves.actual_cumulative[38])
(78, '1997-09-30', 2457)
>>> round(float(curves.expected_cumulative[38]))
2502
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import array, choice
from crmcore.arrays import FloatArray
from crmcore.durations import DAYS_PER_UNIT, as_time_unit
from crmcore.errors import ValidationError
from crmcore.options import as_number, expect_instance
from crmcore.tables import TransactionLog
from crmcore.timestamps import as_instant
from crmcore.valuation.btyd._family import PurchaseModelBase
from crmcore.valuation.btyd.summary import repeat_transaction_days

__all__ = ["TrackingCurves", "tracking_curves"]


@attrs.frozen(eq=False)
class TrackingCurves(Tabular):
    """Expected and actual repeat transactions of a cohort at the end of each step.

    ``dates[k]`` is the last day of step k (the cohort's first day plus ``(k + 1) * step``
    time units, in ``time_unit``); the cumulative arrays count up to and including it, the
    incremental ones within step k.
    """

    dates: npt.NDArray[np.datetime64] = attrs.field(validator=array("M"))
    expected_cumulative: FloatArray = attrs.field(validator=array(lo=0, length="dates"))
    expected_incremental: FloatArray = attrs.field(validator=array(length="dates"))
    actual_cumulative: FloatArray = attrs.field(validator=array(lo=0, length="dates"))
    actual_incremental: FloatArray = attrs.field(validator=array(lo=0, length="dates"))
    time_unit: str = attrs.field(validator=choice("D", "W", "M"))

    def __len__(self) -> int:
        return len(self.dates)

    def _columns(self) -> Columns:
        return {
            "date": self.dates,
            "expected_cumulative": self.expected_cumulative,
            "actual_cumulative": self.actual_cumulative,
            "expected_incremental": self.expected_incremental,
            "actual_incremental": self.actual_incremental,
        }


def tracking_curves(
    model: PurchaseModelBase,
    log: TransactionLog,
    *,
    end: Any = None,
    step: float = 1.0,
    period: str = "D",
    kinds: tuple[str, ...] = ("purchase",),
    purchase_covariates: npt.ArrayLike | None = None,
    dropout_covariates: npt.ArrayLike | None = None,
) -> TrackingCurves:
    """The tracking curves of the customers in ``log`` under ``model`` (a fitted purchase
    model with a ``time_unit``), in steps of ``step`` time units up to ``end`` (default: the
    last transaction). Covariates, for a model fitted with them, are one row per customer
    of the log in the order of ``log.customer_ids``.

    >>> from crmcore.valuation import BGNBDModel, BGNBDParams
    >>> tracking_curves(BGNBDModel(BGNBDParams(0.2, 4.0, 0.8, 2.4)), None)
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'log' must be a TransactionLog: None
    """
    log = expect_instance(log, TransactionLog, name="log")
    if not isinstance(model, PurchaseModelBase):
        raise ValidationError(
            f"'model' must be a fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD, "
            f"Gamma-Gompertz/NBD): {type(model).__name__}"
        )
    if model.time_unit is None:
        raise ValidationError(
            "'model' has no time unit: fit it from a summary or with time_unit= to place its "
            "expectations on the calendar"
        )
    unit = as_time_unit(model.time_unit)
    step = as_number(step, name="step", low=0, inclusive=(False, True))
    customers, first, repeats = repeat_transaction_days(log, period=period, kinds=kinds)
    origin = int(first.min())
    last = int(repeats.max()) if len(repeats) else int(first.max())
    stop = (
        last
        if end is None
        else int(as_instant(end, name="end").astype("datetime64[D]").astype(np.int64))
    )
    if stop < origin:
        raise ValidationError(
            f"'end' must not be before the cohort's first purchase "
            f"{np.datetime64(origin, 'D')}: {np.datetime64(stop, 'D')}"
        )
    days_per = DAYS_PER_UNIT[unit]
    n_steps = int(np.floor((stop - origin + 1) / (step * days_per) + 1e-9))
    if n_steps < 1:
        raise ValidationError(
            f"'step' of {step:g} {unit} is longer than the span from "
            f"{np.datetime64(origin, 'D')} to {np.datetime64(stop, 'D')}"
        )
    if n_steps > 100_000:
        raise ValidationError(f"'step' of {step:g} gives {n_steps} steps: at most 100000")
    grid = step * np.arange(1, n_steps + 1, dtype=np.float64)  # step ends, model units
    ends = origin + np.floor(grid * days_per + 1e-9).astype(np.int64) - 1  # last day in step
    births = (first - origin) / days_per  # join times in model units (day starts)
    expected = _expected(
        model, births, grid, len(customers), purchase_covariates, dropout_covariates, customers
    )
    actual = np.searchsorted(np.sort(repeats), ends, side="right").astype(np.float64)
    return TrackingCurves(
        dates=ends.astype("datetime64[D]"),
        expected_cumulative=expected,
        expected_incremental=np.diff(expected, prepend=0.0),
        actual_cumulative=actual,
        actual_incremental=np.diff(actual, prepend=0.0),
        time_unit=unit,
    )


def _expected(
    model: PurchaseModelBase,
    births: FloatArray,
    grid: FloatArray,
    n: int,
    purchase: npt.ArrayLike | None,
    dropout: npt.ArrayLike | None,
    customers: npt.NDArray[np.int64],
) -> FloatArray:
    """sum_i E[X(tau_k - b_i)] over customers joined by tau_k, per grid point."""
    if purchase is None and dropout is None:
        ub, count = np.unique(births, return_counts=True)
        ages = grid[None, :] - ub[:, None]
        alive = ages > 0
        values = np.zeros(ages.shape)
        values[alive] = model.expected_purchases(ages[alive])
        return np.asarray(count @ values, dtype=np.float64)
    ages = grid[None, :] - births[:, None]
    out = np.zeros(len(grid))
    pc = None if purchase is None else np.asarray(purchase, dtype=np.float64)[customers]
    dc = None if dropout is None else np.asarray(dropout, dtype=np.float64)[customers]
    for k in range(len(grid)):
        joined = ages[:, k] > 0
        if joined.any():
            out[k] = model.expected_purchases(
                ages[joined, k],
                purchase_covariates=None if pc is None else pc[joined],
                dropout_covariates=None if dc is None else dc[joined],
            ).sum()
    return out
