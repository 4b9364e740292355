"""CLV:CAC per channel and cohort with unprofitable customers flagged; CAC payback period.

``clv_to_cac`` compares each customer's CLV (from any model: the BTYD
models, :func:`~crmcore.valuation.economics.retention_clv`, an sBG DERL
times margin) with the CAC of the channel × period cell the customer was
acquired in. A customer is flagged when ``CLV < CAC`` of her cell; a channel
or cohort when its mean CLV is below its CAC. The ratio is ``mean CLV / CAC``;
where CAC is 0 (free customers) it has no value: ``ratio`` is nan there and
``ratio_defined`` is False.

Payback (same convention as the closed-form CLV: margin at the end of each
month, survival ``r^t``, monthly discount ``d``, ``q = r/(1 + d)``): the
expected cumulative margin after ``k`` months is ``m·q·(1 − q^k)/(1 − q)``
(``m·k`` when ``q = 1``), and the payback period is the ``k`` at which it
reaches CAC:

* no decay (``r = 1``, ``d = 0``): ``k = CAC / m``;
* with decay: ``k = ln(1 − CAC·(1 − q)/(m·q)) / ln q``, which exists only
  when ``CAC < m·q/(1 − q)`` (the CLV); otherwise ``recovered`` is False and
  ``months`` is ``inf``.

>>> p = cac_payback([300.0, 300.0], 50.0)
>>> p.months.tolist(), p.whole_months.tolist()
([6.0, 6.0], [6, 6])
>>> p = cac_payback(300.0, 50.0, retention=0.9)
>>> round(float(p.months[0]), 2), bool(p.recovered[0])
(10.43, True)
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, flat
from crmcore._results import array, number
from crmcore.arrays import (
    FloatArray,
    NanPolicy,
    apply_nan_policy,
    check_in_range,
    check_nonnegative,
    validate_nan_policy,
)
from crmcore.errors import ValidationError
from crmcore.model._fields import instance
from crmcore.options import as_number, expect_instance
from crmcore.valuation.economics._common import fbincount
from crmcore.valuation.economics.acquisition import CACReport

__all__ = ["CLVCACReport", "CLVCACTable", "PaybackResult", "cac_payback", "clv_to_cac"]


@attrs.frozen(eq=False)
class CLVCACTable(Tabular):
    """Mean CLV, CAC and their ratio per group; ``flagged`` where mean CLV < CAC.

    >>> from crmcore.valuation.economics.acquisition import SpendTable, acquisition_cost
    >>> rep = acquisition_cost(SpendTable.from_arrays(channel=["a"], period=[1], amount=[10.0]), ["a"], [1])
    >>> clv_to_cac(rep, [25.0]).by_channel.ratio.tolist()
    [2.5]
    """

    channel: npt.NDArray[Any] | None = attrs.field(
        validator=array("O", length="customers", optional=True)
    )
    period: npt.NDArray[Any] | None = attrs.field(
        validator=array("O", length="customers", optional=True)
    )
    customers: FloatArray = attrs.field(validator=array(lo=0))
    mean_clv: FloatArray = attrs.field(validator=array(length="customers"))
    cac: FloatArray = attrs.field(
        validator=array(lo=0, length="customers", nan="no CAC for the group (no customer acquired)")
    )
    ratio: FloatArray = attrs.field(
        validator=array(
            length="customers",
            nan="undefined where CAC is 0 or there is no customer (ratio_defined is False)",
        )
    )
    ratio_defined: npt.NDArray[np.bool_] = attrs.field(validator=array("b", length="customers"))
    flagged: npt.NDArray[np.bool_] = attrs.field(validator=array("b", length="customers"))
    flagged_customers: FloatArray = attrs.field(validator=array(lo=0, length="customers"))

    def _columns(self) -> Columns:
        groups = {"channel": self.channel, "period": self.period}
        return {
            **{k: v for k, v in groups.items() if v is not None},
            "customers": self.customers,
            "mean_clv": self.mean_clv,
            "cac": self.cac,
            "ratio": self.ratio,
            "ratio_defined": self.ratio_defined,
            "flagged": self.flagged,
            "flagged_customers": self.flagged_customers,
        }


@attrs.frozen(eq=False)
class CLVCACReport:
    """CLV:CAC per channel, per cohort and per cell; per-customer CAC and flags.

    >>> from crmcore.valuation.economics.acquisition import SpendTable, acquisition_cost
    >>> rep = acquisition_cost(SpendTable.from_arrays(channel=["a"], period=[1], amount=[20.0]), ["a"] * 2, [1] * 2)
    >>> clv_to_cac(rep, [5.0, 30.0]).customer_flag.tolist()
    [True, False]
    """

    by_channel: CLVCACTable = attrs.field(validator=instance(CLVCACTable, "a CLVCACTable"))
    by_period: CLVCACTable = attrs.field(validator=instance(CLVCACTable, "a CLVCACTable"))
    cells: CLVCACTable = attrs.field(validator=instance(CLVCACTable, "a CLVCACTable"))
    customer_cac: FloatArray = attrs.field(validator=array(lo=0))
    customer_flag: npt.NDArray[np.bool_] = attrs.field(validator=array("b", length="customer_cac"))
    blended_ratio: float = attrs.field(validator=number(nan="the blended CAC is 0 or undefined"))

    @property
    def flagged_channels(self) -> list[Any]:
        """Channels whose mean CLV is below their CAC."""
        ch = self.by_channel.channel
        assert ch is not None
        return [x.item() if isinstance(x, np.generic) else x for x in ch[self.by_channel.flagged]]


def _ratio_table(
    channel: npt.NDArray[Any] | None,
    period: npt.NDArray[Any] | None,
    codes: npt.NDArray[np.int64],
    size: int,
    clv: FloatArray,
    flag: npt.NDArray[np.bool_],
    cac: FloatArray,
) -> CLVCACTable:
    n = fbincount(codes, minlength=size).astype(np.float64)
    total = fbincount(codes, weights=clv, minlength=size)
    mean = np.divide(total, n, out=np.zeros(size), where=n > 0)
    defined = (cac > 0) & (n > 0)
    ratio = np.divide(mean, cac, out=np.full(size, np.nan), where=defined)
    flagged = (n > 0) & (mean < np.nan_to_num(cac, nan=0.0))
    return CLVCACTable(
        channel=channel,
        period=period,
        customers=n,
        mean_clv=mean,
        cac=cac,
        ratio=ratio,
        ratio_defined=defined,
        flagged=flagged,
        flagged_customers=fbincount(codes, weights=flag.astype(np.float64), minlength=size),
    )


def clv_to_cac(
    report: CACReport, clv: npt.ArrayLike, *, nan_policy: NanPolicy = "raise"
) -> CLVCACReport:
    """CLV:CAC for the customers of ``report`` (``clv[i]`` belongs to the i-th customer passed there).

    ``nan_policy='omit'`` leaves customers with a NaN CLV out of the means, flags and
    the blended ratio (``customer_cac`` and ``customer_flag`` then hold the customers
    kept, in order); ``'propagate'`` is refused (the report would be NaN).

    >>> from crmcore.valuation.economics.acquisition import SpendTable, acquisition_cost
    >>> spend = SpendTable.from_arrays(channel=["ads", "mail"], period=[1, 1], amount=[300, 100])
    >>> cac = acquisition_cost(spend, ["ads", "ads", "mail"], [1, 1, 1])
    >>> r = clv_to_cac(cac, [100.0, 180.0, 400.0])
    >>> r.by_channel.ratio.tolist(), r.flagged_channels, r.customer_flag.tolist()
    ([0.9333333333333333, 4.0], ['ads'], [True, False, False])
    """
    expect_instance(report, CACReport, name="report")
    validate_nan_policy(
        nan_policy, allowed=("raise", "omit"), what="a CLV:CAC report (it would be NaN)"
    )
    split = apply_nan_policy({"clv": clv}, policy=nan_policy)
    v = split.arrays["clv"]
    if len(split.mask) != report.total_customers:
        raise ValidationError(
            f"'clv' needs one value per acquired customer: {len(split.mask)} for "
            f"{report.total_customers}"
        )
    if len(v) == 0 and report.total_customers:
        raise ValidationError("'clv' holds no value once the NaN rows are omitted")
    keep = split.mask
    cell_of = report.customer_cell[keep]
    cells = report.cells
    cust_cac = cells.cac[cell_of]  # every customer's cell has >= 1 customer
    flag = v < cust_cac
    by_cell = _ratio_table(
        cells.channel,
        cells.period,
        cell_of,
        len(cells),
        v,
        flag,
        np.where(cells.defined, cells.cac, np.nan),
    )
    bc, bp = report.by_channel, report.by_period
    by_channel = _ratio_table(
        bc.channel, None, report.customer_channel[keep], len(bc), v, flag, bc.cac
    )
    by_period = _ratio_table(
        bp.channel, bp.period, report.customer_period[keep], len(bp), v, flag, bp.cac
    )
    blended = float(v.mean() / report.blended) if report.blended > 0 else float("nan")
    return CLVCACReport(
        by_channel=by_channel,
        by_period=by_period,
        cells=by_cell,
        customer_cac=cust_cac,
        customer_flag=flag,
        blended_ratio=blended,
    )


@attrs.frozen(eq=False)
class PaybackResult(Tabular):
    """Months of margin to recover CAC: ``months`` (fractional; inf where never recovered).

    >>> p = cac_payback([100.0, 500.0], 50.0, retention=0.9)
    >>> p.recovered.tolist(), p.whole_months.tolist()
    ([True, False], [3, -1])
    """

    months: FloatArray = attrs.field(
        validator=array(lo=0, ndim=None, inf="the CAC is never recovered")
    )
    recovered: npt.NDArray[np.bool_] = attrs.field(validator=array("b", ndim=None))

    @property
    def whole_months(self) -> npt.NDArray[np.int64]:
        """Months rounded up; -1 where CAC is never recovered."""
        out = np.full(self.months.shape, -1, dtype=np.int64)
        ok = self.recovered
        out[ok] = np.ceil(self.months[ok] - 1e-9).astype(np.int64)
        return out

    def _columns(self) -> Columns:
        months, whole, recovered = flat(self.months, self.whole_months, self.recovered)
        return {"months": months, "whole_months": whole, "recovered": recovered}


def cac_payback(
    cac: npt.ArrayLike,
    monthly_margin: npt.ArrayLike,
    *,
    retention: npt.ArrayLike | None = None,
    discount: float = 0.0,
    nan_policy: NanPolicy = "raise",
) -> PaybackResult:
    """CAC payback in months from the gross margin per customer per month.

    Inputs are scalars (standing for every row) or 1-D arrays of one length.
    ``nan_policy='omit'`` leaves out rows with a NaN input (the result holds the
    rows kept); ``'propagate'`` is refused (a payback result holds no NaN).
    ``months`` is ``inf`` where the CAC is never recovered: a ``monthly_margin``
    of 0 or less (for a CAC above 0), or a retention too low for the cumulative
    margin ever to reach the CAC; ``recovered`` is False there and
    ``whole_months`` -1. Infinity means "never" here, a documented value
    (``PaybackResult.months``), not a failed computation.

    >>> cac_payback(300.0, 50.0, retention=0.8).recovered.tolist()
    [False]
    >>> cac_payback(100.0, [-5.0, 0.0, 50.0]).months.tolist()
    [inf, inf, 2.0]
    >>> cac_payback(-1.0, 50.0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'cac' must be >= 0: -1.0 at index 0
    """
    d = as_number(discount, name="discount", low=0)
    validate_nan_policy(
        nan_policy, allowed=("raise", "omit"), what="a payback result (it holds no NaN)"
    )
    cols: dict[str, npt.ArrayLike] = {"cac": cac, "monthly_margin": monthly_margin}
    if retention is not None:
        cols["retention"] = retention
    a = apply_nan_policy(cols, policy=nan_policy, broadcast=tuple(cols)).arrays
    c, m = a["cac"], a["monthly_margin"]
    r = a["retention"] if retention is not None else np.ones_like(c)
    check_nonnegative(c, name="cac")
    check_in_range(r, name="retention", low=0, high=1)
    q = r / (1.0 + d)
    months = np.full(c.shape, np.inf)
    zero = c == 0
    months[zero] = 0.0
    flat = (q == 1.0) & (m > 0) & ~zero
    months[flat] = c[flat] / m[flat]
    decay = (q < 1.0) & (q > 0) & (m > 0) & ~zero
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = 1.0 - c * (1.0 - q) / (m * q)
        ok = decay & (inner > 0)
        months[ok] = np.log(inner[ok]) / np.log(q[ok])
    return PaybackResult(months=months, recovered=np.isfinite(months))
