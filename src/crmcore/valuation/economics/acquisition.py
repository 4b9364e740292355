"""Customer acquisition cost (CAC) per channel, per cohort and blended; CLV:CAC; payback.

Attribution rules (documented in ``docs/unit-economics.md``):

* the spend of period ``p`` on channel ``c`` is divided by the customers
  acquired in ``p`` via ``c``: ``CAC(c, p) = spend(c, p) / customers(c, p)``;
* spend booked under the ``shared`` channel label (default
  ``"unattributed"``: brand, TV, agency fees) belongs to no channel. With
  ``unattributed="spread"`` it is allocated within its period to the channels
  in proportion to the customers each acquired; with ``"report"`` it stays
  apart and is only counted in the per-cohort and blended CAC. Per-cohort and
  blended CAC are the same under both rules;
* per channel sums spend and customers over all periods; per cohort sums
  over all channels; blended is total spend / total customers;
* a cell with spend but no customers has no CAC: ``zero_customers="raise"``
  (default) raises naming the channel and period, ``"flag"`` returns the
  cell with ``defined = False`` and ``cac = nan`` (never silently).

>>> spend = SpendTable.from_arrays(
...     channel=["search", "social", "unattributed"], period=["2025-01"] * 3, amount=[600, 300, 300])
>>> r = acquisition_cost(spend, ["search"] * 4 + ["social"] * 2, ["2025-01"] * 6)
>>> r.by_channel.channel.tolist(), r.by_channel.cac.tolist(), r.blended
(['search', 'social'], [200.0, 200.0], 200.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import COUNT, NONNEGATIVE, array, choice, number
from crmcore.arrays import (
    FloatArray,
    IntArray,
    NanPolicy,
    as_float_array,
    check_nonnegative,
    check_same_length,
)
from crmcore.errors import ValidationError
from crmcore.labels import check_labels, factorize_together
from crmcore.model import CostEntry
from crmcore.model._fields import instance
from crmcore.options import as_choice, expect_instance
from crmcore.valuation.economics._common import fbincount, omit_missing, show_label

__all__ = [
    "ACQUISITION_CATEGORIES",
    "CACReport",
    "CACTable",
    "SpendTable",
    "acquisition_cost",
]

ACQUISITION_CATEGORIES = ("marketing", "acquisition")
"""Cost categories that :meth:`SpendTable.from_cost_entries` counts as acquisition spend."""


@attrs.frozen(eq=False)
class SpendTable(Tabular):
    """Acquisition spend records: one row per (channel, period[, campaign]) amount, all >= 0.

    >>> SpendTable.from_arrays(channel=["tv"], period=[1], amount=[-5])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'amount' must be >= 0: -5.0 at index 0
    """

    channel: npt.NDArray[Any] = attrs.field(validator=array("O"))
    period: npt.NDArray[Any] = attrs.field(validator=array("O", length="channel"))
    amount: FloatArray = attrs.field(validator=array(lo=0, length="channel"))
    campaign: npt.NDArray[Any] | None = attrs.field(
        default=None, validator=array("O", length="channel", optional=True)
    )

    @classmethod
    def from_arrays(
        cls,
        *,
        channel: npt.ArrayLike,
        period: npt.ArrayLike,
        amount: npt.ArrayLike,
        campaign: npt.ArrayLike | None = None,
    ) -> SpendTable:
        """Validate aligned columns (``period`` labels: month strings, ints, ``datetime64[M]``...)."""
        ch = check_labels(channel, name="channel")
        pe = check_labels(period, name="period")
        am = as_float_array(amount, name="amount")
        check_nonnegative(am, name="amount")
        cols = {"channel": len(ch), "period": len(pe), "amount": len(am)}
        ca = None
        if campaign is not None:
            ca = check_labels(campaign, name="campaign")
            cols["campaign"] = len(ca)
        if len(set(cols.values())) > 1:
            shown = ", ".join(f"{k} has {v}" for k, v in cols.items())
            raise ValidationError(f"spend columns must have the same length: {shown}")
        return cls(channel=ch, period=pe, amount=am, campaign=ca)

    def by_campaign(self) -> SpendTable:
        """The same spend with campaigns in the channel column, for CAC per campaign.

        Pass each customer's acquiring campaign as her "channel" to
        :func:`acquisition_cost`; rows of the shared label keep it.

        >>> t = SpendTable.from_arrays(channel=["web", "web"], period=[1, 1], amount=[10, 20],
        ...                            campaign=["spring", "summer"])
        >>> t.by_campaign().channel.tolist()
        ['spring', 'summer']
        >>> SpendTable.from_arrays(channel=["web"], period=[1], amount=[1]).by_campaign()
        Traceback (most recent call last):
        crmcore.errors.ValidationError: this spend table has no 'campaign' column
        """
        if self.campaign is None:
            raise ValidationError("this spend table has no 'campaign' column")
        return SpendTable(
            channel=self.campaign, period=self.period, amount=self.amount, campaign=self.campaign
        )

    @classmethod
    def from_cost_entries(
        cls,
        entries: Iterable[CostEntry],
        *,
        categories: Iterable[str] = ACQUISITION_CATEGORIES,
        shared: str = "unattributed",
    ) -> SpendTable:
        """Monthly spend from :class:`~crmcore.model.CostEntry` records of acquisition categories.

        Entries without a channel are booked under ``shared``; the period is the
        UTC month (``datetime64[M]``). All entries must share one currency.

        >>> from datetime import datetime, timezone
        >>> from crmcore.model import Money
        >>> e = CostEntry(id="k1", customer_id="c1", incurred_at=datetime(2025, 3, 9, tzinfo=timezone.utc),
        ...               amount=Money("40", "EUR"), category="marketing", channel="web")
        >>> t = SpendTable.from_cost_entries([e])
        >>> t.channel.tolist(), str(t.period[0]), t.amount.tolist()
        (['web'], '2025-03', [40.0])
        """
        cats = set(categories)
        chans: list[str] = []
        months: list[np.datetime64] = []
        amounts: list[float] = []
        currency: str | None = None
        for e in entries:
            if e.category not in cats:
                continue
            if currency is None:
                currency = e.amount.currency
            elif e.amount.currency != currency:
                raise ValidationError(
                    f"spend entries must share one currency: {currency} and {e.amount.currency} "
                    f"(entry {e.id!r})"
                )
            chans.append(e.channel if e.channel is not None else shared)
            stamp = e.incurred_at.astimezone(UTC).replace(tzinfo=None)
            months.append(np.datetime64(stamp, "M"))
            amounts.append(float(e.amount.amount))
        return cls.from_arrays(
            channel=np.array(chans, dtype=object if not chans else None),
            period=np.array(months, dtype="datetime64[M]"),
            amount=np.array(amounts, dtype=np.float64),
        )

    def _columns(self) -> Columns:
        cols = {"channel": self.channel, "period": self.period, "amount": self.amount}
        return cols if self.campaign is None else {**cols, "campaign": self.campaign}


@attrs.frozen(eq=False)
class CACTable(Tabular):
    """Spend, customers and CAC per group; ``channel`` and/or ``period`` name the rows.

    ``defined`` is False where no customer was acquired (then ``cac`` is nan).

    >>> spend = SpendTable.from_arrays(channel=["web"], period=[1], amount=[90.0])
    >>> acquisition_cost(spend, ["web"] * 3, [1] * 3).by_channel.cac.tolist()
    [30.0]
    """

    channel: npt.NDArray[Any] | None = attrs.field(
        validator=array("O", length="spend", optional=True)
    )
    period: npt.NDArray[Any] | None = attrs.field(
        validator=array("O", length="spend", optional=True)
    )
    spend: FloatArray = attrs.field(validator=array(lo=0))
    customers: FloatArray = attrs.field(validator=array(lo=0, length="spend"))
    cac: FloatArray = attrs.field(
        validator=array(lo=0, length="spend", nan="no customer acquired (defined is False)")
    )
    defined: npt.NDArray[np.bool_] = attrs.field(validator=array("b", length="spend"))

    def __len__(self) -> int:
        return len(self.spend)

    def _columns(self) -> Columns:
        groups = {"channel": self.channel, "period": self.period}
        return {
            **{k: v for k, v in groups.items() if v is not None},
            "spend": self.spend,
            "customers": self.customers,
            "cac": self.cac,
            "defined": self.defined,
        }


@attrs.frozen(eq=False)
class CACReport:
    """CAC per channel × period cell, per channel, per cohort (period) and blended.

    ``unattributed`` holds the shared spend per period (rows of ``by_period``)
    and ``customer_cell`` the cell row of every customer (for :func:`clv_to_cac`).

    >>> spend = SpendTable.from_arrays(channel=["web", "tv"], period=[1, 1], amount=[90.0, 30.0])
    >>> r = acquisition_cost(spend, ["web", "web", "tv"], [1, 1, 1])
    >>> r.blended, r.customer_cell.tolist()
    (40.0, [1, 1, 0])
    """

    cells: CACTable = attrs.field(validator=instance(CACTable, "a CACTable"))
    by_channel: CACTable = attrs.field(validator=instance(CACTable, "a CACTable"))
    by_period: CACTable = attrs.field(validator=instance(CACTable, "a CACTable"))
    blended: float = attrs.field(
        validator=number(0, nan='zero_customers="flag" and no customer acquired at all')
    )
    total_spend: float = attrs.field(validator=NONNEGATIVE)
    total_customers: int = attrs.field(validator=COUNT)
    unattributed: FloatArray = attrs.field(validator=array(lo=0))
    rule: str = attrs.field(validator=choice("spread", "report"))
    customer_cell: IntArray = attrs.field(validator=array("i", lo=0))
    customer_channel: IntArray = attrs.field(validator=array("i", lo=0, length="customer_cell"))
    customer_period: IntArray = attrs.field(validator=array("i", lo=0, length="customer_cell"))

    @property
    def blended_defined(self) -> bool:
        """False only with ``zero_customers='flag'`` and no customer at all (``blended`` is nan)."""
        return self.total_customers > 0


def _union_codes(
    a: npt.NDArray[Any], b: npt.NDArray[Any], name: str
) -> tuple[npt.NDArray[Any], IntArray, IntArray]:
    labels, (ca, cb) = factorize_together([a, b], names=[f"spend {name}", f"customer {name}"])
    return labels, ca, cb


def _table(
    channel: npt.NDArray[Any] | None,
    period: npt.NDArray[Any] | None,
    spend: FloatArray,
    customers: FloatArray,
    zero_customers: str,
    what: str,
) -> CACTable:
    defined = customers > 0
    undefined = ~defined & (spend > 0)
    if undefined.any() and zero_customers == "raise":
        i = int(np.flatnonzero(undefined)[0])
        parts = []
        if channel is not None:
            parts.append(f"channel {show_label(channel[i])}")
        if period is not None:
            parts.append(f"period {show_label(period[i])}")
        args = " and ".join(
            repr(a)
            for a, col in (("customer_channels", channel), ("customer_periods", period))
            if col is not None
        )
        raise ValidationError(
            f"CAC undefined for {what} {' '.join(parts)}: spend {spend[i]:g} but 0 customers "
            f"acquired (no row of {args} in it); pass zero_customers='flag' to get the cell "
            "flagged instead"
        )
    cac = np.divide(spend, customers, out=np.full(len(spend), np.nan), where=defined)
    return CACTable(
        channel=channel, period=period, spend=spend, customers=customers, cac=cac, defined=defined
    )


def acquisition_cost(
    spend: SpendTable,
    customer_channels: npt.ArrayLike,
    customer_periods: npt.ArrayLike,
    *,
    shared: str = "unattributed",
    unattributed: str = "spread",
    zero_customers: str = "raise",
    nan_policy: NanPolicy = "raise",
) -> CACReport:
    """CAC from spend records and the acquisition channel and period of every customer.

    Cells with neither spend nor customers do not appear; customers of a
    channel without spend (organic, referral) get a CAC of 0 (plus their share
    of spread spend). ``nan_policy`` follows the aggregate rule of
    :mod:`crmcore.arrays` for customers whose channel or period is missing:
    ``'raise'`` refuses them, ``'omit'`` leaves them out; ``'propagate'`` is
    refused (a CAC report of NaN would say nothing).

    >>> spend = SpendTable.from_arrays(channel=["tv", "web"], period=[1, 1], amount=[500, 100])
    >>> acquisition_cost(spend, ["web"], [1])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: CAC undefined for cell channel 'tv' period 1: spend 500 but 0 customers acquired (no row of 'customer_channels' and 'customer_periods' in it); pass zero_customers='flag' to get the cell flagged instead
    >>> r = acquisition_cost(spend, ["web"], [1], zero_customers="flag")
    >>> r.by_channel.defined.tolist(), r.blended
    ([False, True], 600.0)
    """
    spend = expect_instance(spend, SpendTable, name="spend")
    unattributed = as_choice(unattributed, name="unattributed", allowed=("spread", "report"))
    zero_customers = as_choice(zero_customers, name="zero_customers", allowed=("raise", "flag"))
    kept = omit_missing(
        nan_policy,
        what="a CAC report",
        labels={"customer_channels": customer_channels, "customer_periods": customer_periods},
    )
    customer_channels, customer_periods = kept["customer_channels"], kept["customer_periods"]
    cch = check_labels(customer_channels, name="customer_channels")
    cpe = check_labels(customer_periods, name="customer_periods")
    check_same_length(customer_channels=cch, customer_periods=cpe)
    is_shared = spend.channel == shared
    if np.any(cch == shared):
        raise ValidationError(f"customers cannot be acquired via the shared label {shared!r}")
    direct = ~is_shared
    ch_labels, s_ch, c_ch = _union_codes(spend.channel[direct], cch, "channel")
    pe_labels, s_pe_all, c_pe = _union_codes(spend.period, cpe, "period")
    n_ch, n_pe = len(ch_labels), len(pe_labels)
    s_pe = s_pe_all[direct]
    sh_pe = s_pe_all[is_shared]

    grid_spend = fbincount(s_ch * n_pe + s_pe, weights=spend.amount[direct], minlength=n_ch * n_pe)
    cell_code = c_ch * n_pe + c_pe
    grid_cust = fbincount(cell_code, minlength=n_ch * n_pe).astype(np.float64)
    shared_pe = fbincount(sh_pe, weights=spend.amount[is_shared], minlength=n_pe)
    cust_pe = grid_cust.reshape(n_ch, n_pe).sum(axis=0)
    orphan = (shared_pe > 0) & (cust_pe == 0)
    if orphan.any() and zero_customers == "raise":
        i = int(np.flatnonzero(orphan)[0])
        raise ValidationError(
            f"CAC undefined for period {show_label(pe_labels[i])}: shared spend "
            f"{shared_pe[i]:g} but 0 customers acquired (no row of 'customer_periods' in it); "
            "pass zero_customers='flag'"
        )
    if unattributed == "spread":
        share = np.divide(
            grid_cust.reshape(n_ch, n_pe), cust_pe, out=np.zeros((n_ch, n_pe)), where=cust_pe > 0
        )
        grid_spend = grid_spend + (share * shared_pe).ravel()

    present = (grid_spend > 0) | (grid_cust > 0)
    rows = np.flatnonzero(present)
    remap = np.full(n_ch * n_pe, -1, dtype=np.int64)
    remap[rows] = np.arange(len(rows))
    cells = _table(
        ch_labels[rows // n_pe],
        pe_labels[rows % n_pe],
        grid_spend[rows],
        grid_cust[rows],
        zero_customers,
        "cell",
    )
    g2s = grid_spend.reshape(n_ch, n_pe)
    g2c = grid_cust.reshape(n_ch, n_pe)
    by_channel = _table(
        ch_labels, None, g2s.sum(axis=1), g2c.sum(axis=1), zero_customers, "channel"
    )
    # shared spend stays with its cohort; under "spread" only a cohort without customers
    # (flagged) still holds it unspread
    period_spend = g2s.sum(axis=0) + (shared_pe if unattributed == "report" else shared_pe * orphan)
    by_period = _table(None, pe_labels, period_spend, cust_pe, zero_customers, "cohort")
    total_spend = float(spend.amount.sum())
    total_customers = len(cch)
    if total_customers == 0:
        if zero_customers == "raise" or total_spend == 0:
            raise ValidationError(
                f"blended CAC undefined: spend {total_spend:g} but 0 customers acquired"
            )
        blended = float("nan")
    else:
        blended = total_spend / total_customers
    return CACReport(
        cells=cells,
        by_channel=by_channel,
        by_period=by_period,
        blended=blended,
        total_spend=total_spend,
        total_customers=total_customers,
        unattributed=shared_pe,
        rule=unattributed,
        customer_cell=remap[cell_code],
        customer_channel=c_ch,
        customer_period=c_pe,
    )
