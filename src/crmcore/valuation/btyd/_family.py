"""The purchase-model family: every prediction written once over a model's hooks.

A purchase model (BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gompertz/NBD) is a subclass of
:class:`PurchaseModelBase` that supplies a handful of element-wise hooks over per-customer
parameters ``th`` (scalars for a model without covariates, arrays with them: the plain
model is the zero-covariate case of the same code):

* ``_params_rows(lin_p, lin_d)``: the per-customer parameters from the covariates' linear
  predictors (``None, None``: the plain parameters, scalars);
* ``_alive_rows(x, tx, T, th)``: P(alive at T | x, t_x, T);
* ``_future_rows(t, x, T, th)``: E[purchases in (T, T + t] | alive at T, x];
* ``_none_rows(t, x, T, th)``: P(no purchase in (T, T + t] | alive at T, x);
* ``_pmf_rows(n, t, x, tx, T, th)``: P(n purchases in (T, T + t] | alive at T, x, t_x).

Input checks (the one (frequency, recency, T) rule), the NaN policy, time units,
covariates and every public prediction are here. New-customer predictions are the
``x = t_x = T = 0`` case of the conditional ones.

>>> from crmcore.valuation import BGNBDModel, BGNBDParams
>>> m = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426), time_unit="W")
>>> isinstance(m, PurchaseModel)
True
>>> round(float(m.conditional_probability_of_purchases(0, 39, 2, 30.43, 38.86)[0]), 4)
0.4454
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray, NanPolicy
from crmcore.durations import in_time_unit
from crmcore.errors import ValidationError
from crmcore.fitting import FittedModel
from crmcore.valuation.btyd._common import (
    as_counts,
    check_rft,
    elementwise,
    finite_prediction,
    map_rft,
    summary_columns,
    time_steps,
)
from crmcore.valuation.btyd._covariates import linear_predictors
from crmcore.valuation.btyd.covariates import CovariateEffects

__all__ = ["PurchaseModel", "PurchaseModelBase"]

Params = tuple[Any, ...]
"""Per-customer parameters of a model (scalars, or arrays of one value per customer)."""


@runtime_checkable
class PurchaseModel(Protocol):
    """What a fitted purchase model offers (the public contract of the family; CLV and the
    repurchase propensity take any object with these methods).

    ``t`` is a duration in the model's ``time_unit`` (a number) or a calendar span
    (:class:`crmcore.durations.Duration`, ``datetime.timedelta``, ``numpy.timedelta64``).
    """

    @property
    def time_unit(self) -> str | None:  # pragma: no cover - protocol
        """The unit of ``recency``, ``T`` and horizons (None: not recorded)."""
        ...

    def probability_alive(
        self,
        frequency: Any,
        recency: npt.ArrayLike | None = None,
        T: npt.ArrayLike | None = None,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
    ) -> FloatArray:  # pragma: no cover - protocol
        """P(alive at T | frequency, recency, T) per customer."""
        ...

    def expected_purchases_if_alive(
        self,
        t: Any,
        frequency: Any,
        recency: npt.ArrayLike | None = None,
        T: npt.ArrayLike | None = None,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
    ) -> FloatArray:  # pragma: no cover - protocol
        """E[purchases in (T, T + t] | alive at T] per customer."""
        ...

    def probability_of_repurchase(
        self,
        t: Any,
        frequency: Any,
        recency: npt.ArrayLike | None = None,
        T: npt.ArrayLike | None = None,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
    ) -> FloatArray:  # pragma: no cover - protocol
        """P(at least one purchase in (T, T + t]) per customer."""
        ...


_COVARIATES = ("purchase_covariates", "dropout_covariates")


def _prepare(model: PurchaseModelBase, args: dict[str, Any]) -> None:
    """The public predictions' inputs as their bodies take them (the ``prepare`` hook of
    :func:`._common.elementwise`): the history's columns from arrays or an RFMSummary in the
    model's unit, the horizon ``t`` in the model's time unit (a calendar span converted), the
    counts ``n`` checked."""
    args["frequency"], args["recency"], args["T"] = model._columns(
        args["frequency"], args.get("recency"), args.get("T")
    )
    if "t" in args:
        args["t"] = model._t(args["t"])
    if "n" in args:
        args["n"] = as_counts(args["n"], name="n")


class PurchaseModelBase(FittedModel):
    """Base of the purchase models: the public predictions over the model's hooks.

    Subclasses are frozen attrs classes with ``params``, ``fit``, ``time_unit`` and
    ``covariates`` fields.
    """

    time_unit: str | None
    covariates: CovariateEffects | None
    params: Any

    # -- hooks (element-wise over numpy arrays; th from _params_rows) -------------------------
    def _params_rows(self, lin_p: FloatArray | None, lin_d: FloatArray | None) -> Params:
        raise NotImplementedError  # pragma: no cover

    def _alive_rows(self, x: FloatArray, tx: FloatArray, T: FloatArray, th: Params) -> FloatArray:
        raise NotImplementedError  # pragma: no cover

    def _future_rows(self, t: Any, x: FloatArray, T: FloatArray, th: Params) -> FloatArray:
        raise NotImplementedError  # pragma: no cover

    def _none_rows(self, t: Any, x: FloatArray, T: FloatArray, th: Params) -> FloatArray:
        raise NotImplementedError  # pragma: no cover

    def _pmf_rows(
        self, n: FloatArray, t: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray, th: Params
    ) -> FloatArray:
        raise NotImplementedError  # pragma: no cover

    # -- shared pieces -------------------------------------------------------------------------
    def _t(self, t: Any, name: str = "t", *, table: bool = False) -> FloatArray:
        """A horizon in the model's time unit (a number as it is; a calendar span converted;
        a span for a model without a unit is an error); with ``table`` it may also be 2-D."""
        arr = in_time_unit(t, self.time_unit, name=name)
        if table and np.ndim(arr) == 2:  # a customers x horizons table
            return time_steps(np.ravel(arr), name=name).reshape(np.shape(arr))
        return time_steps(arr, name=name)

    def _columns(self, frequency: Any, recency: Any, T: Any) -> tuple[Any, Any, Any]:
        """The history's three columns, from arrays or an RFMSummary in the model's unit."""
        x, tx, tt, _unit = summary_columns(
            frequency, recency, T, unit=self.time_unit, against="the model"
        )
        return x, tx, tt

    def _customer(
        self, purchase: npt.ArrayLike | None, dropout: npt.ArrayLike | None, n: int
    ) -> Params:
        """Per-customer parameters: the plain ones without covariates; an error when
        covariates are given to a model fitted without them, or missing for one fitted with."""
        if self.covariates is None:
            if purchase is not None or dropout is not None:
                raise ValidationError(
                    "covariates were given, but the model was fitted without covariates"
                )
            return self._params_rows(None, None)
        return self._params_rows(*linear_predictors(self.covariates, purchase, dropout, n))

    def _history(
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        purchase: npt.ArrayLike | None,
        dropout: npt.ArrayLike | None,
    ) -> tuple[FloatArray, FloatArray, FloatArray, Params]:
        x, tx, tt = check_rft(frequency, recency, T)
        return x, tx, tt, self._customer(purchase, dropout, len(x))

    def _finite(self, out: FloatArray, what: str) -> FloatArray:
        return finite_prediction(np.asarray(out, dtype=np.float64), what, self)

    # -- public predictions --------------------------------------------------------------------
    @elementwise("frequency", "recency", "T", rows=_COVARIATES, prepare=_prepare)
    def probability_alive(
        self,
        frequency: Any,
        recency: npt.ArrayLike | None = None,
        T: npt.ArrayLike | None = None,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """P(alive at T | x, t_x, T) per customer (covariates: for a model fitted with them).

        The history is three arrays (frequency, recency, T in the model's time unit) or an
        :class:`~crmcore.valuation.btyd.summary.RFMSummary` alone (in the model's unit).
        ``nan_policy`` follows the element-wise rule of :mod:`crmcore.arrays` (a customer
        with a NaN is an error, left out, or NaN in the result).
        """
        block = getattr(self, "_alive_block", None)
        plain = purchase_covariates is None and dropout_covariates is None
        if block is not None and self.covariates is None and plain:
            assert recency is not None and T is not None  # filled in by _prepare
            return map_rft(block, frequency, recency, T)  # checked and computed per block
        x, tx, tt, th = self._history(
            frequency, recency, T, purchase_covariates, dropout_covariates
        )
        return self._alive_rows(x, tx, tt, th)

    @elementwise("t", "frequency", "recency", "T", rows=_COVARIATES, prepare=_prepare)
    def conditional_expected_purchases(
        self,
        t: Any,
        frequency: Any,
        recency: npt.ArrayLike | None = None,
        T: npt.ArrayLike | None = None,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """E[purchases in (T, T + t] | x, t_x, T] per customer (``t`` scalar or per customer,
        in the model's time unit or as a calendar span)."""
        x, tx, tt, th = self._history(
            frequency, recency, T, purchase_covariates, dropout_covariates
        )
        ts = time_steps(t)
        return self._alive_rows(x, tx, tt, th) * self._future_rows(ts, x, tt, th)

    def expected_purchases_if_alive(
        self,
        t: Any,
        frequency: Any,
        recency: npt.ArrayLike | None = None,
        T: npt.ArrayLike | None = None,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
    ) -> FloatArray:
        """E[purchases in (T, T + t] | alive at T, x, t_x, T] per customer: the conditional
        expectation without the P(alive) factor (``t`` may have one more axis, for example
        ``t[None, :]`` against ``frequency[:, None]`` for a customers x horizons table)."""
        frequency, recency, T = self._columns(frequency, recency, T)
        ts = self._t(t, table=True)
        x, _tx, tt, th = self._history(
            frequency, recency, T, purchase_covariates, dropout_covariates
        )
        if ts.ndim == 2:
            th = tuple(np.asarray(v)[:, None] if np.ndim(v) else v for v in th)
            return self._finite(
                self._future_rows(ts, x[:, None], tt[:, None], th), "expected_purchases_if_alive"
            )
        return self._finite(self._future_rows(ts, x, tt, th), "expected_purchases_if_alive")

    @elementwise("t", "frequency", "recency", "T", rows=_COVARIATES, prepare=_prepare)
    def probability_of_repurchase(
        self,
        t: Any,
        frequency: Any,
        recency: npt.ArrayLike | None = None,
        T: npt.ArrayLike | None = None,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """P(at least one purchase in (T, T + t] | x, t_x, T): alive, then a purchase."""
        x, tx, tt, th = self._history(
            frequency, recency, T, purchase_covariates, dropout_covariates
        )
        ts = time_steps(t)
        return self._alive_rows(x, tx, tt, th) * (1.0 - self._none_rows(ts, x, tt, th))

    @elementwise("n", "t", "frequency", "recency", "T", rows=_COVARIATES, prepare=_prepare)
    def conditional_probability_of_purchases(
        self,
        n: npt.ArrayLike,
        t: Any,
        frequency: Any,
        recency: npt.ArrayLike | None = None,
        T: npt.ArrayLike | None = None,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
        nan_policy: NanPolicy = "raise",
    ) -> FloatArray:
        """P(exactly ``n`` purchases in (T, T + t] | x, t_x, T) per customer: alive at T
        times the count distribution of the rest of her life, plus the probability that she
        is gone for ``n = 0`` (``n`` scalar or per customer)."""
        x, tx, tt, th = self._history(
            frequency, recency, T, purchase_covariates, dropout_covariates
        )
        ns, ts = as_counts(n, name="n"), time_steps(t)
        ns, ts, x, tx, tt = (
            np.ascontiguousarray(v) for v in np.broadcast_arrays(ns, ts, x, tx, tt)
        )
        alive = self._alive_rows(x, tx, tt, th)
        pmf = self._pmf_rows(ns, ts, x, tx, tt, th)
        return np.asarray(alive * pmf + (1.0 - alive) * (ns == 0), dtype=np.float64)

    def expected_purchases(
        self,
        t: Any,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
    ) -> FloatArray:
        """E[X(t)]: expected purchases in (0, t] of a new customer, for each ``t``; with
        covariates (a model fitted with them), one value per row of covariates (``t`` scalar
        or one per row); without, the baseline customer (every covariate 0)."""
        ts = np.atleast_1d(self._t(t))
        th, rows = self._new_customers(purchase_covariates, dropout_covariates, ts)
        zero = np.zeros(rows)
        out = self._alive_rows(zero, zero, zero, th) * self._future_rows(ts, zero, zero, th)
        return self._finite(out, "expected_purchases")

    def probability_of_purchases(
        self,
        x: npt.ArrayLike,
        t: Any,
        *,
        purchase_covariates: npt.ArrayLike | None = None,
        dropout_covariates: npt.ArrayLike | None = None,
    ) -> FloatArray:
        """P(X(t) = x) for a new customer (``x``, ``t`` broadcast; covariates as for
        :meth:`expected_purchases`)."""
        ns = np.atleast_1d(as_counts(x, name="x"))
        ts = np.atleast_1d(self._t(t))
        ns, ts = np.broadcast_arrays(ns, ts)
        th, rows = self._new_customers(purchase_covariates, dropout_covariates, ts)
        ns, ts = np.broadcast_to(ns, (rows,)), np.broadcast_to(ts, (rows,))
        zero = np.zeros(rows)
        alive = self._alive_rows(zero, zero, zero, th)
        out = alive * self._pmf_rows(ns, ts, zero, zero, zero, th) + (1.0 - alive) * (ns == 0)
        return self._finite(out, "probability_of_purchases")

    def _new_customers(
        self, purchase: npt.ArrayLike | None, dropout: npt.ArrayLike | None, ts: FloatArray
    ) -> tuple[Params, int]:
        """Per-customer parameters of new customers and the number of rows of the result."""
        if self.covariates is None or (purchase is None and dropout is None):
            rows = len(ts)  # without covariates: the baseline customer (every covariate 0)
            return self._customer(purchase, dropout, rows) if self.covariates is None else (
                self._params_rows(None, None)
            ), rows
        rows = _rows_of(purchase if purchase is not None else dropout)
        if len(ts) != rows and 1 not in (len(ts), rows):
            raise ValidationError(
                f"inputs must have the same length: t has {len(ts)}, covariates have {rows} rows"
            )
        return self._customer(purchase, dropout, rows), max(rows, len(ts))


def _rows_of(values: Any) -> int:
    """Rows of covariates given as an array, a DataFrame or a mapping of name to column."""
    if isinstance(values, Mapping):
        first = next(iter(values.values()), ())
        return int(np.shape(first)[0]) if np.ndim(first) else 1
    if hasattr(values, "columns") and hasattr(values, "to_numpy"):
        return len(values)
    arr = np.asarray(values)
    return int(arr.shape[0]) if arr.ndim else 1
