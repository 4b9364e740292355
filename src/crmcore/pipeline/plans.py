"""Quantified plans per rep (day, week, month), plan versus actual, and the next-period forecast.

The seeds' three plans: a daily schedule (what happened today), a weekly
plan (did customer states change), a monthly plan (was the target met).
Each is a :class:`Plan` with :class:`Targets` — activities done,
opportunities advanced, deals won, revenue — and is compared with what the
activity log and the stage history say happened.

>>> from datetime import date
>>> p = Period.week(date(2025, 3, 5))
>>> p.start, p.end, p.next().start
(datetime.date(2025, 3, 3), datetime.date(2025, 3, 10), datetime.date(2025, 3, 10))
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

import attrs
import numpy as np

from crmcore._frames import Columns, Tabular, texts
from crmcore._results import array
from crmcore.arrays import FloatArray, IntArray
from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels
from crmcore.model._fields import instance, record_id, tuple_of
from crmcore.model.activity import Activity, ActivityStatus
from crmcore.options import as_choice, as_count, as_enum, as_number, expect_instance, expect_items
from crmcore.pipeline._paths import advance_events
from crmcore.pipeline.forecast import _close_probabilities, time_to_close, win_probabilities
from crmcore.pipeline.history import FunnelHistory, _days_between, _wsum

__all__ = [
    "Actuals",
    "NextPeriodForecast",
    "Period",
    "PeriodKind",
    "Plan",
    "PlanReport",
    "Targets",
    "actuals",
    "next_period_forecast",
    "plan_vs_actual",
]


class PeriodKind(StrEnum):
    """The length of a plan's period."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def _to_period_kind(value: object) -> PeriodKind:
    return as_enum(value, PeriodKind, name="kind")


def _add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    return date(d.year + m // 12, m % 12 + 1, 1)


@attrs.frozen
class Period:
    """A day, an ISO week (Monday to Sunday) or a calendar month; ``end`` is exclusive.

    >>> Period.month(date(2025, 12, 9)).next()
    Period(kind=<PeriodKind.MONTH: 'month'>, start=datetime.date(2026, 1, 1))
    >>> Period("week", date(2025, 3, 5))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: a week period starts on a Monday: 2025-03-05
    """

    kind: PeriodKind = attrs.field(converter=_to_period_kind)
    start: date

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.start, date) or isinstance(self.start, datetime):
            raise ValidationError(f"'start' must be a date: {self.start!r}")
        if self.kind is PeriodKind.WEEK and self.start.weekday() != 0:
            raise ValidationError(f"a week period starts on a Monday: {self.start}")
        if self.kind is PeriodKind.MONTH and self.start.day != 1:
            raise ValidationError(f"a month period starts on day 1: {self.start}")

    @classmethod
    def day(cls, d: date) -> Period:
        """The day ``d``."""
        return cls(PeriodKind.DAY, d)

    @classmethod
    def week(cls, d: date) -> Period:
        """The ISO week (Monday first) that holds ``d``."""
        return cls(PeriodKind.WEEK, d - timedelta(days=d.weekday()))

    @classmethod
    def month(cls, d: date) -> Period:
        """The calendar month that holds ``d``."""
        return cls(PeriodKind.MONTH, d.replace(day=1))

    @property
    def end(self) -> date:
        """The first day after the period."""
        if self.kind is PeriodKind.DAY:
            return self.start + timedelta(days=1)
        if self.kind is PeriodKind.WEEK:
            return self.start + timedelta(days=7)
        return _add_months(self.start, 1)

    def shift(self, n: int) -> Period:
        """The period ``n`` periods later (earlier when negative).

        >>> Period.day(date(2025, 1, 1)).shift(-1).start
        datetime.date(2024, 12, 31)
        >>> Period.day(date(2025, 1, 1)).shift(3_000_000)
        Traceback (most recent call last):
        crmcore.errors.ValidationError: 'n' moves the period outside the years 1 to 9999: 3000000
        """
        n = as_count(n, name="n", low=-_MAX_SHIFT, high=_MAX_SHIFT)
        try:
            return self._shift(n)
        except (OverflowError, ValueError):  # date arithmetic past year 1 or 9999
            raise ValidationError(
                f"'n' moves the period outside the years 1 to 9999: {n!r}"
            ) from None

    def _shift(self, n: int) -> Period:
        if self.kind is PeriodKind.DAY:
            return Period(self.kind, self.start + timedelta(days=n))
        if self.kind is PeriodKind.WEEK:
            return Period(self.kind, self.start + timedelta(days=7 * n))
        return Period(self.kind, _add_months(self.start, n))

    def next(self) -> Period:
        """The following period."""
        return self.shift(1)

    def bounds(self) -> tuple[np.datetime64, np.datetime64]:
        """``[start, end)`` as UTC ``datetime64[us]``."""
        return np.datetime64(self.start, "us"), np.datetime64(self.end, "us")

    def start_at(self) -> datetime:
        """The start as an aware UTC datetime."""
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)


_MAX_SHIFT = 3_660_000
"""More days than the calendar holds (years 1 to 9999): a larger shift is refused at once."""

_MAX_LOOKBACK = 1000
"""The most past periods :func:`next_period_forecast` averages over."""


def _non_negative(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    as_number(value, name=attribute.name, low=0)


@attrs.frozen
class Targets:
    """Quantified targets of a period: activities done, opportunities advanced, wins, revenue.

    >>> Targets(activities=-1)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'activities' must be >= 0: -1
    """

    activities: int = attrs.field(default=0, validator=_non_negative)
    advances: int = attrs.field(default=0, validator=_non_negative)
    wins: int = attrs.field(default=0, validator=_non_negative)
    revenue: float = attrs.field(default=0.0, validator=_non_negative)


@attrs.frozen
class Plan:
    """A rep's plan for one period.

    >>> Plan("rep-1", Period.month(date(2025, 3, 1)), Targets(activities=80, revenue=50000.0)).targets.wins
    0
    """

    rep_id: str = attrs.field(validator=record_id)
    period: Period = attrs.field(validator=instance(Period, "a Period"))
    targets: Targets = attrs.field(validator=instance(Targets, "a Targets"))


@attrs.frozen(eq=False)
class Actuals(Tabular):
    """What each rep did in a period (aligned arrays, one entry per rep); ``revenue`` is in
    ``currency`` (the history's; None: the history gave no currency)."""

    period: Period = attrs.field(validator=instance(Period, "a Period"))
    reps: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a rep id"))
    activities: IntArray = attrs.field(validator=array("i", lo=0))
    advances: IntArray = attrs.field(validator=array("i", lo=0, length="activities"))
    wins: IntArray = attrs.field(validator=array("i", lo=0, length="activities"))
    revenue: FloatArray = attrs.field(validator=array(lo=0, length="activities"))
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )

    def of(self, rep_id: str) -> Targets:
        """One rep's actuals, in the shape of targets.

        >>> a = Actuals(Period.day(date(2025, 1, 1)), ("r",), np.array([3]), np.array([1]),
        ...             np.array([0]), np.array([0.0]))
        >>> a.of("r").activities
        3
        """
        if rep_id not in self.reps:
            raise ValidationError(f"'rep_id' has no actuals in this period: {rep_id!r}")
        i = self.reps.index(rep_id)
        return Targets(
            int(self.activities[i]),
            int(self.advances[i]),
            int(self.wins[i]),
            float(self.revenue[i]),
        )

    def _columns(self) -> Columns:
        return {
            "rep": texts(self.reps),
            "activities": self.activities,
            "advances": self.advances,
            "wins": self.wins,
            "revenue": self.revenue,
        }


def _activity_counts(
    activities: Sequence[Activity], lo: np.datetime64, hi: np.datetime64
) -> dict[str, int]:
    done = [
        (a.rep_id, a.done_at)
        for a in activities
        if a.status is ActivityStatus.DONE and a.done_at is not None
    ]
    if not done:
        return {}
    reps = np.array([r for r, _ in done])
    at = np.array([d.replace(tzinfo=None) for _, d in done], dtype="M8[us]")
    inside = (at >= lo) & (at < hi)
    labels, codes = factorize_labels(reps[inside], name="rep_id")
    counts = np.bincount(codes, minlength=len(labels))
    return {str(k): int(v) for k, v in zip(labels.tolist(), counts.tolist(), strict=True)}


def actuals(
    period: Period,
    *,
    history: FunnelHistory,
    activities: Sequence[Activity] = (),
    reps: Sequence[str] | None = None,
) -> Actuals:
    """Per rep in ``period``: done activities, opportunities advanced, deals won and their revenue.

    An advance is a forward move (to a won stage, or an open stage listed
    later) into a stage the deal had not entered before: losses, reopens,
    back-moves and re-entries after going back are not advances (see
    :mod:`crmcore.pipeline._paths`). It is credited to the opportunity's
    owner at that event. Reps
    default to every owner in the history and every rep with activities.

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> from crmcore.tables import StageHistory
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a", "a", "a"], sequence=[0, 1, 2], from_stage=[None, "TOP", "IN"],
    ...     to_stage=["TOP", "IN", "LOST"], at=["2025-03-01", "2025-03-04", "2025-03-05"],
    ...     owner_ids=["ann"] * 3)
    >>> a = actuals(Period.week(date(2025, 3, 3)), history=FunnelHistory.build(h, TOP_IN_BEST))
    >>> a.reps, a.advances.tolist(), a.wins.tolist()
    (('ann',), [1], [0])
    """
    expect_instance(period, Period, name="period")
    expect_instance(history, FunnelHistory, name="history")
    activities = expect_items(activities, Activity, name="activities")
    if reps is not None:
        reps = expect_items(reps, str, name="reps")
    lo, hi = period.bounds()
    fh = history
    counts = _activity_counts(activities, lo, hi)
    owner_labels = [str(x) for x in fh.owner_ids.tolist()]
    names = list(reps) if reps is not None else sorted(set(owner_labels) | set(counts))
    pos = {r: i for i, r in enumerate(names)}
    owner_map = np.array([pos.get(o, -1) for o in owner_labels] + [-1], dtype=np.int64)
    inside = (fh.ev_at >= lo) & (fh.ev_at < hi) & (fh.ev_from >= 0)
    who = owner_map[fh.ev_owner]
    k = len(names)
    adv = inside & advance_events(fh) & (who >= 0)
    won = inside & (fh.stage_kind[fh.ev_stage] == 1) & (who >= 0)
    amt = np.nan_to_num(fh.ev_amount, nan=0.0)
    return Actuals(
        period=period,
        reps=tuple(names),
        activities=np.array([counts.get(r, 0) for r in names], dtype=np.int64),
        advances=np.bincount(who[adv], minlength=k).astype(np.int64),
        wins=np.bincount(who[won], minlength=k).astype(np.int64),
        revenue=_wsum(who[won], weights=amt[won], minlength=k),
        currency=fh.currency,
    )


@attrs.frozen(eq=False)
class PlanReport(Tabular):
    """Plan versus actual: one row per plan; ``attainment`` is actual / target (NaN for target 0).

    Revenue is in ``currency`` (the history's; the plans' revenue targets are
    taken to be in it too; None: the history gave no currency).
    """

    plans: tuple[Plan, ...] = attrs.field(validator=tuple_of(Plan, "a Plan"))
    measures: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a measure name"))
    target: FloatArray = attrs.field(validator=array(lo=0, ndim=None))
    actual: FloatArray = attrs.field(validator=array(lo=0, ndim=None))
    attainment: FloatArray = attrs.field(validator=array(lo=0, ndim=None, nan="a target of 0"))
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )

    def _columns(self) -> Columns:
        k = len(self.measures)
        cols: Columns = {
            "rep": texts([p.rep_id for p in self.plans]),
            "period": texts([p.period.kind.value for p in self.plans]),
            "start": np.array([p.period.start for p in self.plans], dtype="datetime64[D]"),
        }
        for j, m in enumerate(self.measures):
            cols[f"{m}_target"] = self.target.reshape(-1, k)[:, j]
            cols[f"{m}_actual"] = self.actual.reshape(-1, k)[:, j]
            cols[f"{m}_attainment"] = self.attainment.reshape(-1, k)[:, j]
        return cols


def plan_vs_actual(
    plans: Sequence[Plan],
    *,
    history: FunnelHistory,
    activities: Sequence[Activity] = (),
) -> PlanReport:
    """Compare each plan with its rep's actuals in the plan's period (any period kind).

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> from crmcore.tables import StageHistory
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a", "a"], sequence=[0, 1], from_stage=[None, "TOP"],
    ...     to_stage=["TOP", "IN"], at=["2025-03-01", "2025-03-04"], owner_ids=["ann"] * 2)
    >>> plan = Plan("ann", Period.month(date(2025, 3, 1)), Targets(advances=4))
    >>> r = plan_vs_actual([plan], history=FunnelHistory.build(h, TOP_IN_BEST))
    >>> r.measures[1], r.attainment[0, 1]
    ('advances', np.float64(0.25))
    """
    plans = expect_items(plans, Plan, name="plans")
    expect_instance(history, FunnelHistory, name="history")
    activities = expect_items(activities, Activity, name="activities")
    measures = ("activities", "advances", "wins", "revenue")
    tgt = np.zeros((len(plans), 4))
    act = np.zeros((len(plans), 4))
    cache: dict[Period, Actuals] = {}
    for i, p in enumerate(plans):  # one row per plan (plans are few)
        if p.period not in cache:
            cache[p.period] = actuals(p.period, history=history, activities=activities)
        got = cache[p.period]
        a = got.of(p.rep_id) if p.rep_id in got.reps else Targets()
        tgt[i] = [getattr(p.targets, m) for m in measures]
        act[i] = [getattr(a, m) for m in measures]
    att = np.full(tgt.shape, np.nan)
    np.divide(act, tgt, out=att, where=tgt > 0)
    return PlanReport(tuple(plans), measures, tgt, act, att, currency=history.currency)


@attrs.frozen(eq=False)
class NextPeriodForecast(Tabular):
    """Revenue expected in ``period`` per rep: from the open pipeline plus the run-rate of new business.

    ``run_rate`` is the average, over the ``lookback`` previous periods, of
    revenue from deals created and won inside the same period (business the
    current pipeline cannot show yet). ``sd`` combines the pipeline's
    Bernoulli variance with the run-rate's variance across those periods.
    Amounts are in ``currency`` (the history's; None: the history gave no
    currency).
    """

    period: Period = attrs.field(validator=instance(Period, "a Period"))
    reps: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a rep id"))
    pipeline: FloatArray = attrs.field(validator=array(lo=0))
    run_rate: FloatArray = attrs.field(validator=array(lo=0, length="pipeline"))
    expected: FloatArray = attrs.field(validator=array(lo=0, length="pipeline"))
    sd: FloatArray = attrs.field(validator=array(lo=0, length="pipeline"))
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )

    @property
    def total(self) -> float:
        """The team's expected revenue."""
        return float(self.expected.sum())

    def _columns(self) -> Columns:
        return {
            "rep": texts(self.reps),
            "pipeline": self.pipeline,
            "run_rate": self.run_rate,
            "expected": self.expected,
            "sd": self.sd,
        }


def next_period_forecast(
    history: FunnelHistory,
    *,
    period: Period,
    lookback: int = 3,
    method: str = "history",
    prior_weight: float = 2.0,
) -> NextPeriodForecast:
    """Forecast ``period`` (usually the one after ``history.as_of``) per rep.

    ``lookback`` (1 to 1000 periods) is how many past periods the run-rate
    averages; ``method`` is ``"history"`` (stage win rates learnt from the
    history) or ``"stage"`` (the funnel's stage probabilities).

    >>> from crmcore.pipeline.synthetic import synthetic_pipeline
    >>> from crmcore.pipeline.presets import B2B
    >>> p = synthetic_pipeline(B2B, n_opportunities=800, seed=3)
    >>> fh = FunnelHistory.build(p.history, B2B, as_of=p.as_of)
    >>> nf = next_period_forecast(fh, period=Period.month(date(2025, 7, 1)))
    >>> len(nf.reps), nf.total > 0
    (6, True)
    """
    expect_instance(history, FunnelHistory, name="history")
    expect_instance(period, Period, name="period")
    lookback = as_count(lookback, name="lookback", low=1, high=_MAX_LOOKBACK)
    method = as_choice(method, name="method", allowed=("history", "stage"))
    fh = history
    lo, hi = period.bounds()
    if hi <= fh.as_of:
        raise ValidationError(
            f"'period' must end after the history's as_of ({fh.as_of}): {period.start}..{period.end}"
        )
    reps = tuple(str(x) for x in fh.owner_ids.tolist())
    k = len(reps)
    open_idx = np.flatnonzero(fh.stage_kind == 0)
    if method == "history":
        p_stage = win_probabilities(fh, prior_weight=prior_weight).smoothed
        p_stage = np.where(np.isnan(p_stage), fh.stage_probability[open_idx], p_stage)
    else:  # "stage"
        p_stage = fh.stage_probability[open_idx]
    edges = _days_between(np.array([fh.as_of, fh.as_of]), np.array([max(lo, fh.as_of), hi]))
    rows = np.flatnonzero(fh.is_open)
    q, _ = _close_probabilities(fh, p_stage, time_to_close(fh), edges, rows)
    v = np.nan_to_num(fh.amount[rows], nan=0.0)
    q1 = q[:, 0]
    pipe = _wsum(fh.owner[rows], weights=v * q1, minlength=k)
    var = _wsum(fh.owner[rows], weights=v * v * q1 * (1 - q1), minlength=k)
    past = np.zeros((lookback, k))
    won = fh.is_won
    for j in range(lookback):  # one pass per past period
        plo, phi = period.shift(-(j + 1)).bounds()
        sel = won & (fh.created >= plo) & (fh.closed_at < phi) & (fh.closed_at >= plo)
        past[j] = _wsum(fh.owner[sel], weights=np.nan_to_num(fh.amount[sel]), minlength=k)
    rate = past.mean(axis=0)
    rate_var = past.var(axis=0, ddof=1) if lookback > 1 else np.zeros(k)
    return NextPeriodForecast(
        period=period,
        reps=reps,
        pipeline=pipe,
        run_rate=rate,
        expected=pipe + rate,
        sd=np.sqrt(var + rate_var),
        currency=fh.currency,
    )
