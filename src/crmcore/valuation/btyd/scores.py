"""Per-customer scores in one table: P(alive), expected purchases and CLV, by customer id.

:func:`score_customers` asks a fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD,
Gamma-Gompertz/NBD) for each customer of an
:class:`~crmcore.valuation.btyd.summary.RFMSummary`:

* ``p_alive``: P(alive at T | x, t_x, T), the model's :meth:`probability_alive`;
* ``expected_purchases``: E[purchases in (T, T + horizon] | x, t_x, T], the model's
  :meth:`conditional_expected_purchases` (``horizon`` in the model's time unit, or a
  calendar span);
* ``clv`` (with a spend model): the discounted customer lifetime value of
  :func:`~crmcore.valuation.btyd.clv.customer_lifetime_value` (``clv_steps`` steps of
  ``step``, a month by default, ``discount_rate`` per step, ``margin``).

Each row is named by the summary's customer id, as the caller gave it; the result is a
:class:`~crmcore._frames.Tabular` (``to_pandas()``, ``to_polars()``, ``to_arrow()``,
``_repr_html_``).

>>> from crmcore.datasets import load_cdnow_sample
>>> from crmcore.valuation import fit_bgnbd, fit_gamma_gamma, summarize_transactions
>>> s = summarize_transactions(load_cdnow_sample(), time_unit="W", observation_end="1998-06-30")
>>> scores = score_customers(fit_bgnbd(s), s, horizon=52, spend_model=fit_gamma_gamma(s))
>>> scores.to_pandas().round(3).head(3)
   customer_id  p_alive  expected_purchases     clv
0            1    0.661               1.202  29.416
1            2    0.167               0.120   2.433
2            3    1.000               0.148   5.006
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import array, number
from crmcore.arrays import FloatArray
from crmcore.durations import in_time_unit
from crmcore.errors import ValidationError
from crmcore.options import as_number, expect_instance
from crmcore.valuation.btyd._common import MAX_FIT_AGE
from crmcore.valuation.btyd._family import PurchaseModel
from crmcore.valuation.btyd.clv import customer_lifetime_value
from crmcore.valuation.btyd.gamma_gamma import GammaGammaModel
from crmcore.valuation.btyd.summary import RFMSummary

__all__ = ["CustomerScores", "score_customers"]


@attrs.frozen(eq=False)
class CustomerScores(Tabular):
    """Scores per customer (row i = ``customer_ids[i]``, as the summary named them).

    ``horizon`` is the window of ``expected_purchases`` in ``time_unit``; ``clv`` is None
    without a spend model (the column is then left out of the frames).

    >>> import numpy as np
    >>> s = CustomerScores(np.array(["a", "b"], dtype=object), np.array([0.9, 0.2]),
    ...                    np.array([1.5, 0.1]), None, horizon=52.0, time_unit="W")
    >>> len(s), s.to_arrow().column_names
    (2, ['customer_id', 'p_alive', 'expected_purchases'])
    """

    customer_ids: npt.NDArray[Any] = attrs.field(validator=array("O", length="p_alive"))
    p_alive: FloatArray = attrs.field(validator=array(lo=0, hi=1))
    expected_purchases: FloatArray = attrs.field(validator=array(lo=0, length="p_alive"))
    clv: FloatArray | None = attrs.field(validator=array(length="p_alive", optional=True))
    horizon: float = attrs.field(validator=number(0))
    time_unit: str | None = attrs.field(default=None)

    def __len__(self) -> int:
        return len(self.p_alive)

    def _columns(self) -> Columns:
        cols: Columns = {
            "customer_id": self.customer_ids,
            "p_alive": self.p_alive,
            "expected_purchases": self.expected_purchases,
        }
        if self.clv is not None:
            cols["clv"] = self.clv
        return cols


def score_customers(
    model: PurchaseModel,
    summary: RFMSummary,
    *,
    horizon: Any,
    spend_model: GammaGammaModel | None = None,
    clv_steps: int = 12,
    step: Any = None,
    discount_rate: float = 0.01,
    margin: float = 1.0,
) -> CustomerScores:
    """Score every customer of ``summary`` with ``model`` (see the module docstring).

    ``horizon`` is the window of ``expected_purchases``: a number in the model's time unit
    or a calendar span (:class:`crmcore.durations.Duration`, ``timedelta``). With
    ``spend_model`` (a fitted Gamma-Gamma model) the ``clv`` column is the discounted value
    over ``clv_steps`` steps of ``step`` (default one month) at ``discount_rate`` per step,
    times ``margin``; the summary's ``monetary_value`` feeds the spend model.

    >>> from crmcore.valuation import BGNBDModel, BGNBDParams
    >>> score_customers(BGNBDModel(BGNBDParams(0.2, 4.0, 0.8, 2.4)), {"x": [1]}, horizon=4)
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'summary' must be a RFMSummary, not a dict: {'x': [1]}
    """
    if not isinstance(model, PurchaseModel):
        raise ValidationError(
            "'model' must be a fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD, "
            f"Gamma-Gompertz/NBD): {model!r}"[:300]
        )
    summary = expect_instance(summary, RFMSummary, name="summary")
    if spend_model is not None:
        expect_instance(spend_model, GammaGammaModel, name="spend_model")
    span = as_number(  # one number for every customer, in the model's unit
        in_time_unit(horizon, model.time_unit, name="horizon"),
        name="horizon",
        low=0,
        high=MAX_FIT_AGE,
    )
    p_alive = model.probability_alive(summary)
    expected = _conditional_expected(model, span, summary)
    clv = None
    if spend_model is not None:
        clv = customer_lifetime_value(
            model,
            spend_model,
            summary,
            horizon=clv_steps,
            step=step,
            discount_rate=discount_rate,
            margin=margin,
        )
    unit = model.time_unit
    return CustomerScores(
        customer_ids=summary.customer_ids,
        p_alive=np.asarray(p_alive, dtype=np.float64),
        expected_purchases=np.asarray(expected, dtype=np.float64),
        clv=None if clv is None else np.asarray(clv, dtype=np.float64),
        horizon=span,
        time_unit=unit,
    )


def _conditional_expected(model: PurchaseModel, horizon: Any, summary: RFMSummary) -> FloatArray:
    method = getattr(model, "conditional_expected_purchases", None)
    if method is None:  # a protocol-only model: P(alive) x E[purchases | alive]
        alive = model.probability_alive(summary)
        return np.asarray(alive * model.expected_purchases_if_alive(horizon, summary))
    out: FloatArray = np.asarray(method(horizon, summary), dtype=np.float64)
    return out
