"""The long-term relationship report: years of contacts and the four long-term indices.

For one customer, a list of customers or a segment (``Customer.segment``), as of a date:

* **touches per year** (:class:`YearlyTouches`): the timeline events (interactions,
  activities, transactions, surveys, opportunity changes, service cases; every kind of
  :data:`~crmcore.relationship.TIMELINE_KINDS` but the alerts) of the last ``years`` calendar
  years up to ``as_of``, counted by year, kind and channel ("show the meetings and calls
  of three years ago" is the rows of that year with kind ``interaction`` or
  ``activity`` and channel ``meeting`` or ``phone``); read by the timeline's range reads;
* **tenure** (from ``acquired_at``, else from the customer's first record) and the
  **last touch** (the latest interaction, done activity or service case of the window;
  NaT when the customer had none in the window);
* the **four long-term indices** side by side (:class:`LongTermIndices`): the CAC of the
  customer's acquisition channel (its row of a given
  :class:`~crmcore.valuation.CACReport`, :func:`~crmcore.valuation.acquisition_cost`), the
  CLV and the repurchase propensity from a fitted purchase model
  (:func:`~crmcore.valuation.customer_lifetime_value`,
  :func:`~crmcore.valuation.repurchase_propensity`), and the NPS of the customer's answers
  in the window (:func:`~crmcore.valuation.nps`, a score in [-1, 1]), with the check
  **CLV > CAC** per customer and for the selection (mean CLV over mean CAC).

>>> from datetime import datetime, UTC
>>> from crmcore.model import Customer, Interaction
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.customers.add(Customer(id="c-1", name="Ada",
...                                    acquired_at=datetime(2020, 5, 1, tzinfo=UTC)))
...     _ = uow.interactions.add(Interaction(id="i-1", customer_id="c-1", channel="meeting",
...         direction="outbound", occurred_at=datetime(2022, 3, 1, tzinfo=UTC)))
...     uow.commit()
>>> with uow:
...     r3 = long_term_report(uow, as_of="2024-12-31", customer_ids=["c-1"], years=3)
...     r4 = long_term_report(uow, as_of="2024-12-31", customer_ids=["c-1"], years=4)
>>> r3.years, len(r3.touches), r3.indices.tenure_days.tolist()
((2022, 2023, 2024), 1, [1705.0])
>>> r4.touches.to_pandas().to_dict("records")
[{'year': 2022, 'kind': 'interaction', 'channel': 'meeting', 'count': 1}]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import array, number
from crmcore.durations import in_time_unit
from crmcore.errors import ValidationError
from crmcore.model import ActivityStatus, Customer
from crmcore.model._fields import instance, tuple_of, utc
from crmcore.options import as_count, as_id, as_number, expect_instance
from crmcore.relationship._timeline import TIMELINE_KINDS, customer_timeline, iter_timeline
from crmcore.relationship._value_state import check_models, model_values
from crmcore.relationship._view_fields import instants_or_nat, objects, optional_labels
from crmcore.repositories.protocols import UnitOfWork, expect_unit_of_work
from crmcore.timestamps import as_datetime
from crmcore.valuation import CACReport, GammaGammaModel, NPSResult, PurchaseModel, nps

__all__ = ["LongTermIndices", "LongTermReport", "YearlyTouches", "long_term_report"]

_TOUCH_KINDS = tuple(k for k in TIMELINE_KINDS if k != "alert")
"""Every kind of the timeline but the alerts (raised by rules, not a contact)."""


def _instants(values: Iterable[datetime | None]) -> npt.NDArray[np.datetime64]:
    return np.array(
        [np.datetime64("NaT") if v is None else np.datetime64(v.replace(tzinfo=None), "us")
         for v in values],
        dtype="datetime64[us]",
    )  # fmt: skip


@attrs.frozen(eq=False)
class YearlyTouches(Tabular):
    """Event counts by calendar year, kind and channel (None where the kind has none), one
    row per combination that occurred, ordered by year, kind, channel.

    >>> len(YearlyTouches.from_counts(Counter()))
    0
    """

    year: npt.NDArray[np.int64] = attrs.field(validator=array("i", lo=1, hi=9999))
    kind: npt.NDArray[Any] = attrs.field(validator=array("O", length="year"))
    channel: npt.NDArray[Any] = attrs.field(validator=optional_labels)
    count: npt.NDArray[np.int64] = attrs.field(validator=array("i", lo=1, length="year"))

    def __attrs_post_init__(self) -> None:
        if len(self.channel) != len(self.year):
            raise ValidationError(
                f"YearlyTouches: 'channel' must have the length of 'year' ({len(self.year)}): "
                f"{len(self.channel)}"
            )

    def __len__(self) -> int:
        return len(self.year)

    @classmethod
    def from_counts(cls, counts: Counter[tuple[int, str, str | None]]) -> YearlyTouches:
        """The table of ``(year, kind, channel) -> count``."""
        keys = sorted(counts, key=lambda k: (k[0], k[1], k[2] or ""))
        return cls(
            np.array([k[0] for k in keys], dtype=np.int64),
            objects(k[1] for k in keys),
            objects(k[2] for k in keys),
            np.array([counts[k] for k in keys], dtype=np.int64),
        )

    def _columns(self) -> Columns:
        return {"year": self.year, "kind": self.kind, "channel": self.channel, "count": self.count}


@attrs.frozen(eq=False)
class LongTermIndices(Tabular):
    """Per customer (in selection order): segment, acquisition channel, tenure in days,
    last touch, and the four indices: ``cac``, ``clv``, ``nps`` (score of the customer's
    answers in the window, in [-1, 1]) and ``repurchase`` (P(a purchase within the
    horizon)); NaN where undefined (no CAC report or channel, no model or purchase, no
    answer). ``clv_above_cac`` is masked where CLV or CAC is NaN.

    >>> LongTermIndices.empty().to_pandas().columns.tolist()[:4]
    ['customer_id', 'segment', 'acquisition_channel', 'tenure_days']
    """

    customer_id: npt.NDArray[Any] = attrs.field(validator=array("O"))
    segment: npt.NDArray[Any] = attrs.field(validator=optional_labels)
    acquisition_channel: npt.NDArray[Any] = attrs.field(validator=optional_labels)
    tenure_days: npt.NDArray[np.float64] = attrs.field(
        validator=array(lo=0, length="customer_id", nan="no acquisition date and no record")
    )
    last_touch: npt.NDArray[np.datetime64] = attrs.field(validator=instants_or_nat)
    cac: npt.NDArray[np.float64] = attrs.field(
        validator=array(lo=0, length="customer_id", nan="no CAC report, channel or defined CAC")
    )
    clv: npt.NDArray[np.float64] = attrs.field(
        validator=array(lo=0, length="customer_id", nan="no purchase model or no purchase")
    )
    nps: npt.NDArray[np.float64] = attrs.field(
        validator=array("f", -1, 1, length="customer_id", nan="no NPS answer in the window")
    )
    repurchase: npt.NDArray[np.float64] = attrs.field(
        validator=array("f", 0, 1, length="customer_id", nan="no purchase model or no purchase")
    )

    def __attrs_post_init__(self) -> None:
        n = len(self.customer_id)
        for col in ("segment", "acquisition_channel", "last_touch"):
            if len(getattr(self, col)) != n:
                raise ValidationError(
                    f"LongTermIndices: {col!r} must have the length of 'customer_id' ({n}): "
                    f"{len(getattr(self, col))}"
                )

    def __len__(self) -> int:
        return len(self.customer_id)

    @classmethod
    def empty(cls) -> LongTermIndices:
        """A table of no customer."""
        e = np.zeros(0)
        o = objects([])
        return cls(o, o, o, e, _instants([]), e, e, e, e)

    @property
    def clv_above_cac(self) -> np.ma.MaskedArray[Any, np.dtype[np.bool_]]:
        """CLV > CAC per customer, masked where either is NaN."""
        return np.ma.masked_array(self.clv > self.cac, mask=np.isnan(self.clv) | np.isnan(self.cac))

    def _columns(self) -> Columns:
        return {
            "customer_id": self.customer_id,
            "segment": self.segment,
            "acquisition_channel": self.acquisition_channel,
            "tenure_days": self.tenure_days,
            "last_touch": self.last_touch,
            "cac": self.cac,
            "clv": self.clv,
            "nps": self.nps,
            "repurchase": self.repurchase,
            "clv_above_cac": self.clv_above_cac,
        }


@attrs.frozen(eq=False)
class LongTermReport:
    """The long-term relationship report of a selection of customers as of ``as_of``.

    ``years`` lists the calendar years covered (a year without a row in ``touches`` had no
    event); ``nps`` is the NPS of every answer of the selection in the window (None: no
    answer); ``mean_clv`` / ``mean_cac`` average the customers where both are defined and
    ``clv_to_cac`` is their ratio (NaN where undefined); ``profitable`` is CLV > CAC for
    the selection (None where undefined).

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     long_term_report(uow, as_of="2025-01-01", segment="gold").profitable is None
    True
    """

    as_of: datetime = attrs.field(validator=utc)
    years: tuple[int, ...] = attrs.field(validator=tuple_of(int, "a year"))
    touches: YearlyTouches = attrs.field(validator=instance(YearlyTouches, "a YearlyTouches"))
    indices: LongTermIndices = attrs.field(validator=instance(LongTermIndices, "a LongTermIndices"))
    nps: NPSResult | None = attrs.field(
        validator=instance(NPSResult, "an NPSResult", optional=True)
    )
    mean_clv: float = attrs.field(validator=number(0, nan="no customer with both CLV and CAC"))
    mean_cac: float = attrs.field(validator=number(0, nan="no customer with both CLV and CAC"))

    @property
    def clv_to_cac(self) -> float:
        """Mean CLV over mean CAC of the customers where both are defined (NaN otherwise)."""
        if not np.isfinite(self.mean_clv) or not self.mean_cac > 0:
            return float("nan")
        return self.mean_clv / self.mean_cac

    @property
    def profitable(self) -> bool | None:
        """CLV > CAC for the selection: the test of profitable long-term growth."""
        if not (np.isfinite(self.mean_clv) and np.isfinite(self.mean_cac)):
            return None
        return bool(self.mean_clv > self.mean_cac)


def _select(
    uow: UnitOfWork, customer_ids: Iterable[str] | None, segment: str | None
) -> list[Customer]:
    if (customer_ids is None) == (segment is None):
        raise ValidationError(
            "pass exactly one of 'customer_ids' and 'segment': "
            + ("both given" if segment is not None else "neither given")
        )
    if segment is not None:
        segment = as_id(segment, name="segment")
        return list(uow.customers.list(segment=segment))
    if isinstance(customer_ids, str) or not isinstance(customer_ids, Iterable):
        raise ValidationError(f"'customer_ids' must be a list of customer ids: {customer_ids!r}")
    ids = [as_id(c, name="customer_ids") for c in customer_ids]
    if len(set(ids)) != len(ids):
        dup = next(c for c in ids if ids.count(c) > 1)
        raise ValidationError(f"'customer_ids' must not repeat an id: {dup!r}")
    return [uow.customers.get(c) for c in ids]


def _cac_of(report: CACReport | None) -> dict[str, float]:
    if report is None:
        return {}
    t = report.by_channel
    if t.channel is None:
        return {}
    return {str(ch): float(c) for ch, c, ok in zip(t.channel, t.cac, t.defined, strict=True) if ok}


def long_term_report(
    uow: UnitOfWork,
    *,
    as_of: Any,
    customer_ids: Iterable[str] | None = None,
    segment: str | None = None,
    years: int = 3,
    cac: CACReport | None = None,
    purchase_model: PurchaseModel | None = None,
    spend_model: GammaGammaModel | None = None,
    repurchase_within: Any = timedelta(days=90),
    clv_steps: int = 12,
    discount_rate: float = 0.01,
) -> LongTermReport:
    """The long-term report (see the module docstring) of ``customer_ids`` (each must be
    stored: NotFoundError otherwise) or of the customers of ``segment`` (none: an empty
    report), over the ``years`` calendar years (1 to 100) that end with ``as_of``'s year.

    ``cac`` gives each customer the CAC of their acquisition channel; ``purchase_model``
    (and ``spend_model``) the CLV over ``clv_steps`` steps at ``discount_rate`` and the
    propensity to buy again within ``repurchase_within`` (a span, or a number in the
    model's time unit), both from the purchases before ``as_of``.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     long_term_report(uow, as_of="2025-01-01", customer_ids=["c-1"], segment="gold")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: pass exactly one of 'customer_ids' and 'segment': both given
    """
    uow = expect_unit_of_work(uow)
    at = as_datetime(as_of, name="as_of")
    n_years = as_count(years, name="years", low=1, high=100)
    if cac is not None:
        cac = expect_instance(cac, CACReport, name="cac")
    check_models(purchase_model, spend_model)
    clv_steps = as_count(clv_steps, name="clv_steps", low=1)
    discount_rate = as_number(discount_rate, name="discount_rate", low=0)
    within: float | None = None
    if purchase_model is not None:
        unit = getattr(purchase_model, "time_unit", None)
        within = as_number(
            in_time_unit(repurchase_within, unit, name="repurchase_within"),
            name="repurchase_within",
            low=0,
            inclusive=(False, True),
        )
    customers = _select(uow, customer_ids, segment)

    first_year = max(at.year - n_years + 1, 1)
    window_start = datetime(first_year, 1, 1, tzinfo=UTC)
    year_list = tuple(range(first_year, at.year + 1))
    if at <= window_start:  # as_of is the first instant of its year: that year is empty
        window_start = at
    counts: Counter[tuple[int, str, str | None]] = Counter()
    ids: list[str] = []
    tenure: list[float] = []
    last_touch: list[datetime | None] = []
    nps_of: list[float] = []
    answers: list[int] = []
    for c in customers:
        ids.append(c.id)
        last: datetime | None = None
        mine: list[int] = []
        if window_start < at:
            for e in iter_timeline(uow, c.id, start=window_start, end=at, kinds=_TOUCH_KINDS):
                counts[(e.at.year, e.kind, e.channel)] += 1
                touched = e.kind in ("interaction", "service_case") or (
                    e.kind == "activity" and e.record.status is ActivityStatus.DONE
                )
                if touched:
                    last = e.at
                if e.kind == "survey" and e.record.nps is not None:
                    mine.append(e.record.nps)
        last_touch.append(last)
        answers.extend(mine)
        nps_of.append(nps(mine).score if mine else float("nan"))
        since = c.acquired_at
        if since is None:
            first = customer_timeline(uow, c.id, end=at, kinds=_TOUCH_KINDS, limit=1).events
            since = first[0].at if first else None
        tenure.append(
            float("nan") if since is None else max((at - since).total_seconds() / 86400.0, 0.0)
        )

    cac_by = _cac_of(cac)
    cac_col = np.array(
        [cac_by.get(c.acquisition_channel or "", np.nan) for c in customers], dtype=np.float64
    )
    clv_col = np.full(len(customers), np.nan)
    again = np.full(len(customers), np.nan)
    if purchase_model is not None and customers:
        values = model_values(
            uow,
            ids,
            at,
            purchase_model,
            spend_model,
            clv_steps=clv_steps,
            discount_rate=discount_rate,
            repurchase_within=within,
        )
        for i, cid in enumerate(ids):
            if cid in values:
                clv_col[i], again[i] = values[cid][1], values[cid][2]
    indices = LongTermIndices(
        customer_id=objects(ids),
        segment=objects(c.segment for c in customers),
        acquisition_channel=objects(c.acquisition_channel for c in customers),
        tenure_days=np.array(tenure, dtype=np.float64),
        last_touch=_instants(last_touch),
        cac=cac_col,
        clv=clv_col,
        nps=np.array(nps_of, dtype=np.float64),
        repurchase=again,
    )
    both = ~np.isnan(clv_col) & ~np.isnan(cac_col)
    return LongTermReport(
        as_of=at,
        years=year_list,
        touches=YearlyTouches.from_counts(counts),
        indices=indices,
        nps=nps(answers) if answers else None,
        mean_clv=float(clv_col[both].mean()) if both.any() else float("nan"),
        mean_cac=float(cac_col[both].mean()) if both.any() else float("nan"),
    )
