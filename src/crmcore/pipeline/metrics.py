"""Pipeline metrics over whole stage histories (array world, vectorised with numpy).

Every function takes a :class:`~crmcore.pipeline.history.FunnelHistory`
(or a ``StageHistory`` plus its funnel) and returns a frozen result. Rates
whose denominator is zero are NaN, with the counts beside them. Amounts are
each opportunity's amount on its last event before ``as_of``; opportunities
without an amount count in the count-based figures and are reported as
``missing_amounts`` in the value-based ones. See ``docs/pipeline.md`` for
the formulas.

>>> from crmcore.pipeline.synthetic import synthetic_history
>>> from crmcore.pipeline.presets import B2B
>>> fh = FunnelHistory.build(synthetic_history(B2B, n_opportunities=500, seed=1), B2B)
>>> wr = win_rate(fh)
>>> 0 <= wr.by_count <= 1 and wr.won + wr.lost == wr.closed
True
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, texts
from crmcore._results import COUNT, NONNEGATIVE, POSITIVE, array, number
from crmcore.arrays import FloatArray, IntArray
from crmcore.errors import ValidationError
from crmcore.model._fields import instance, tuple_of
from crmcore.options import as_number, expect_instance
from crmcore.pipeline._paths import advanced_from, open_positions, reached
from crmcore.pipeline.funnel import ForecastCategory, Funnel
from crmcore.pipeline.history import FunnelHistory, _days_between, _wsum
from crmcore.tables import StageHistory
from crmcore.timestamps import as_instant

if TYPE_CHECKING:  # scoring imports the metrics: no import at run time
    from crmcore.pipeline.scoring import DealScores

__all__ = [
    "Coverage",
    "SalesCycle",
    "SalesVelocity",
    "StageConversion",
    "TimeInStage",
    "WeightedPipeline",
    "WinRate",
    "pipeline_coverage",
    "sales_cycle",
    "sales_velocity",
    "stage_conversion",
    "time_in_stage",
    "view",
    "weighted_pipeline",
    "win_rate",
]


def view(
    data: FunnelHistory | StageHistory,
    funnel: Funnel | None = None,
    *,
    as_of: datetime | np.datetime64 | str | None = None,
) -> FunnelHistory:
    """``data`` as a :class:`FunnelHistory` (built when a ``StageHistory`` and funnel are given).

    >>> view(None)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'data' must be a FunnelHistory, or a StageHistory with funnel=: None
    """
    if isinstance(data, FunnelHistory):
        if as_of is not None:
            raise ValidationError("'as_of' applies when building: pass it to FunnelHistory.build")
        return data
    if isinstance(data, StageHistory) and funnel is not None:
        return FunnelHistory.build(
            data, expect_instance(funnel, Funnel, name="funnel"), as_of=as_of
        )
    shown = repr(data)[:80]
    raise ValidationError(
        f"'data' must be a FunnelHistory, or a StageHistory with funnel=: {shown}"
    )


def _ratio(num: npt.ArrayLike, den: npt.ArrayLike) -> FloatArray:
    n = np.asarray(num, dtype=np.float64)
    d = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(n, d).shape, np.nan)
    np.divide(n, d, out=out, where=d > 0)
    return out


def _scalar_ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else float("nan")


@attrs.frozen(eq=False)
class StageConversion(Tabular):
    """Conversion out of each open stage, from each deal's actual path (any funnel graph).

    ``reached[i]``: deals that entered open stage ``i``; ``advanced[i]``:
    those that left it by a forward move (to a won stage or an open stage
    listed later) at least once, counted once however often they went back
    and forth; ``decided[i]``: ``advanced[i]`` plus those that never advanced
    from it and are lost at ``as_of`` (deals still open that never advanced
    are pending, not failures); ``rate = advanced / decided``;
    ``converted[i]``: deals that entered it and are won at ``as_of``. A deal
    that skipped a stage did not reach it. See :mod:`crmcore.pipeline._paths`.
    """

    stages: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a stage name"))
    reached: IntArray = attrs.field(validator=array("i", lo=0))
    advanced: IntArray = attrs.field(validator=array("i", lo=0, length="reached"))
    decided: IntArray = attrs.field(validator=array("i", lo=0, length="reached"))
    rate: FloatArray = attrs.field(
        validator=array(
            lo=0,
            hi=1,
            length="reached",
            nan="a ratio whose denominator is 0 (the counts beside it say so)",
        )
    )
    converted: IntArray | None = attrs.field(
        default=None, validator=array("i", lo=0, length="reached", optional=True)
    )

    def _columns(self) -> Columns:
        cols = {
            "stage": texts(self.stages),
            "reached": self.reached,
            "advanced": self.advanced,
            "decided": self.decided,
            "rate": self.rate,
        }
        return cols if self.converted is None else {**cols, "converted": self.converted}


def stage_conversion(
    data: FunnelHistory | StageHistory, funnel: Funnel | None = None
) -> StageConversion:
    """Conversion out of each open stage along the deals' actual paths (see :class:`StageConversion`).

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a", "a", "b", "b", "c"], sequence=[0, 1, 0, 1, 0],
    ...     from_stage=[None, "TOP", None, "TOP", None], to_stage=["TOP", "IN", "TOP", "LOST", "TOP"],
    ...     at=["2025-01-01", "2025-01-02", "2025-01-01", "2025-01-03", "2025-01-04"])
    >>> c = stage_conversion(h, TOP_IN_BEST)
    >>> c.stages, c.reached.tolist(), c.decided.tolist(), c.rate.tolist()[0]
    (('TOP', 'IN', 'BEST'), [3, 1, 0], [2, 0, 0], 0.5)
    """
    fh = view(data, funnel)
    idx, names = open_positions(fh)
    hit = reached(fh)[:, idx]
    went_on = advanced_from(fh)[:, idx] & hit
    failed = hit & ~went_on & fh.is_lost[:, None]
    n_reached = hit.sum(axis=0, dtype=np.int64)
    n_advanced = went_on.sum(axis=0, dtype=np.int64)
    decided = n_advanced + failed.sum(axis=0, dtype=np.int64)
    return StageConversion(
        names,
        n_reached,
        n_advanced,
        decided,
        _ratio(n_advanced, decided),
        (hit & fh.is_won[:, None]).sum(axis=0, dtype=np.int64),
    )


@attrs.frozen
class WinRate:
    """Won share of closed opportunities, by count and by value (values in ``currency``;
    None: the history gave no currency)."""

    won: int = attrs.field(validator=COUNT)
    lost: int = attrs.field(validator=COUNT)
    closed: int = attrs.field(validator=number(0, integer=True, at_least=("won", "lost")))
    by_count: float = attrs.field(
        validator=number(0, 1, nan="a ratio whose denominator is 0 (the counts beside it say so)")
    )
    won_value: float = attrs.field(validator=NONNEGATIVE)
    lost_value: float = attrs.field(validator=NONNEGATIVE)
    by_value: float = attrs.field(
        validator=number(0, 1, nan="a ratio whose denominator is 0 (the counts beside it say so)")
    )
    missing_amounts: int = attrs.field(validator=COUNT)
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )


def win_rate(data: FunnelHistory | StageHistory, funnel: Funnel | None = None) -> WinRate:
    """``won / (won + lost)`` by count and by amount, over opportunities closed before ``as_of``.

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a", "a", "b", "b"], sequence=[0, 1, 0, 1],
    ...     from_stage=[None, "TOP", None, "TOP"], to_stage=["TOP", "LOST", "TOP", "LOST"],
    ...     at=["2025-01-01", "2025-01-02", "2025-01-01", "2025-01-03"], amount=[1.0, 1.0, 3.0, 3.0])
    >>> win_rate(h, TOP_IN_BEST).by_value
    0.0
    """
    fh = view(data, funnel)
    won, lost = fh.is_won, fh.is_lost
    amt = fh.amount
    has = ~np.isnan(amt)
    wv = float(amt[won & has].sum())
    lv = float(amt[lost & has].sum())
    nw, nl = int(won.sum()), int(lost.sum())
    return WinRate(
        won=nw,
        lost=nl,
        closed=nw + nl,
        by_count=_scalar_ratio(nw, nw + nl),
        won_value=wv,
        lost_value=lv,
        by_value=_scalar_ratio(wv, wv + lv),
        missing_amounts=int(((won | lost) & ~has).sum()),
        currency=fh.currency,
    )


@attrs.frozen(eq=False)
class TimeInStage(Tabular):
    """Completed stays per stage (entered, then left before ``as_of``), in days."""

    stages: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a stage name"))
    count: IntArray = attrs.field(validator=array("i", lo=0))
    mean_days: FloatArray = attrs.field(
        validator=array(lo=0, length="count", nan="no deal to measure")
    )
    median_days: FloatArray = attrs.field(
        validator=array(lo=0, length="count", nan="no deal to measure")
    )

    def _columns(self) -> Columns:
        return {
            "stage": texts(self.stages),
            "count": self.count,
            "mean_days": self.mean_days,
            "median_days": self.median_days,
        }


def time_in_stage(data: FunnelHistory | StageHistory, funnel: Funnel | None = None) -> TimeInStage:
    """Average and median days spent in each stage, over stays that ended before ``as_of``.

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a", "a", "b", "b"], sequence=[0, 1, 0, 1],
    ...     from_stage=[None, "TOP", None, "TOP"], to_stage=["TOP", "IN", "TOP", "IN"],
    ...     at=["2025-01-01", "2025-01-03", "2025-01-01", "2025-01-07"])
    >>> t = time_in_stage(h, TOP_IN_BEST)
    >>> t.count[0], t.mean_days[0], t.median_days[0]
    (np.int64(2), np.float64(4.0), np.float64(4.0))
    """
    fh = view(data, funnel)
    n_st = len(fh.stage_kind)
    done = ~np.isnat(fh.ev_exit)
    st = fh.ev_stage[done]
    d = _days_between(fh.ev_at[done], fh.ev_exit[done])
    count = np.bincount(st, minlength=n_st)
    mean = _ratio(_wsum(st, weights=d, minlength=n_st), count)
    median = np.full(n_st, np.nan)
    order = np.argsort(st.astype(np.int16), kind="stable")
    bounds = np.concatenate([[0], np.cumsum(count)])
    d_sorted = d[order]
    for s in np.flatnonzero(count):  # one pass per stage, not per event
        median[s] = float(np.median(d_sorted[bounds[s] : bounds[s + 1]]))
    return TimeInStage(fh.funnel.stage_names, count.astype(np.int64), mean, median)


@attrs.frozen
class SalesCycle:
    """Days from creation to close, for won deals (and for all closed deals)."""

    won: int = attrs.field(validator=COUNT)
    mean_days: float = attrs.field(validator=number(0, nan="no deal to measure"))
    median_days: float = attrs.field(
        validator=number(0, nan="no deal to measure", at_least=("p25_days",))
    )
    p25_days: float = attrs.field(validator=number(0, nan="no deal to measure"))
    p75_days: float = attrs.field(
        validator=number(0, nan="no deal to measure", at_least=("median_days",))
    )
    closed_mean_days: float = attrs.field(validator=number(0, nan="no deal to measure"))


def sales_cycle(data: FunnelHistory | StageHistory, funnel: Funnel | None = None) -> SalesCycle:
    """Sales cycle length: days from an opportunity's creation to its win.

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a"] * 4, sequence=[0, 1, 2, 3],
    ...     from_stage=[None, "TOP", "IN", "BEST"], to_stage=["TOP", "IN", "BEST", "WIN"],
    ...     at=["2025-01-01", "2025-01-03", "2025-01-07", "2025-01-11"])
    >>> sales_cycle(h, TOP_IN_BEST).median_days
    10.0
    """
    fh = view(data, funnel)
    closed = ~fh.is_open
    days = _days_between(fh.created[closed], fh.closed_at[closed])
    won_days = days[fh.is_won[closed]]
    if len(won_days):
        p25, med, p75 = (float(x) for x in np.percentile(won_days, [25, 50, 75]))
        mean = float(won_days.mean())
    else:
        p25 = med = p75 = mean = float("nan")
    return SalesCycle(
        won=len(won_days),
        mean_days=mean,
        median_days=med,
        p25_days=p25,
        p75_days=p75,
        closed_mean_days=float(days.mean()) if len(days) else float("nan"),
    )


@attrs.frozen
class SalesVelocity:
    """``open opportunities × average won deal × win rate / cycle days``: revenue per day
    (in ``currency``; None: the history gave no currency)."""

    opportunities: int = attrs.field(validator=COUNT)
    average_deal: float = attrs.field(validator=number(0, nan="no deal to measure"))
    win_rate: float = attrs.field(
        validator=number(0, 1, nan="a ratio whose denominator is 0 (the counts beside it say so)")
    )
    cycle_days: float = attrs.field(validator=number(0, nan="no deal to measure"))
    per_day: float = attrs.field(
        validator=number(0, nan="a ratio whose denominator is 0 (the counts beside it say so)")
    )
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )


def sales_velocity(
    data: FunnelHistory | StageHistory, funnel: Funnel | None = None
) -> SalesVelocity:
    """Sales velocity from the open pipeline and the closed history (see :class:`SalesVelocity`).

    >>> from crmcore.pipeline.synthetic import synthetic_history
    >>> from crmcore.pipeline.presets import B2B
    >>> v = sales_velocity(synthetic_history(B2B, n_opportunities=300, seed=2), B2B)
    >>> v.per_day > 0
    True
    """
    fh = view(data, funnel)
    wr = win_rate(fh)
    cyc = sales_cycle(fh)
    won_amt = fh.amount[fh.is_won]
    won_amt = won_amt[~np.isnan(won_amt)]
    avg = float(won_amt.mean()) if len(won_amt) else float("nan")
    n_open = int(fh.is_open.sum())
    per_day = (
        n_open * avg * wr.by_count / cyc.mean_days
        if cyc.mean_days > 0 and not np.isnan(avg * wr.by_count)
        else float("nan")
    )
    return SalesVelocity(n_open, avg, wr.by_count, cyc.mean_days, per_day, currency=fh.currency)


@attrs.frozen(eq=False)
class WeightedPipeline(Tabular):
    """Open pipeline per stage and per forecast category, raw and probability-weighted.

    Each open deal is weighted by its probability and counted in its forecast
    category as of the history's date: a rep's own (set by an edit) where there
    is one, else its stage's (``FunnelHistory.probability`` and ``category``).
    ``categories`` are pipeline, best case, commit, closed (won since
    ``closed_since``), omitted; ``cumulative`` rolls them up the Salesforce
    way: closed, commit (+ closed), best case (+ commit), pipeline (+ best
    case); omitted is never rolled up. Amounts are in ``currency`` (None: the
    history gave no currency; see :mod:`crmcore.pipeline.currency`).
    """

    stages: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a stage name"))
    count: IntArray = attrs.field(validator=array("i", lo=0))
    total: FloatArray = attrs.field(validator=array(lo=0, length="count"))
    weighted: FloatArray = attrs.field(validator=array(lo=0, length="count"))
    categories: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a forecast category"))
    category_total: FloatArray = attrs.field(validator=array(lo=0))
    category_weighted: FloatArray = attrs.field(validator=array(lo=0, length="category_total"))
    cumulative: FloatArray = attrs.field(validator=array(lo=0, length="category_total"))
    missing_amounts: int = attrs.field(validator=COUNT)
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )

    @property
    def open_total(self) -> float:
        """Sum of open amounts."""
        return float(self.total.sum())

    @property
    def weighted_total(self) -> float:
        """Sum of open amounts times their probabilities."""
        return float(self.weighted.sum())

    def _columns(self) -> Columns:
        return {
            "stage": texts(self.stages),
            "count": self.count,
            "total": self.total,
            "weighted": self.weighted,
        }


def weighted_pipeline(
    data: FunnelHistory | StageHistory,
    funnel: Funnel | None = None,
    *,
    closed_since: datetime | np.datetime64 | str | None = None,
    scores: DealScores | None = None,
) -> WeightedPipeline:
    """Open amounts per stage weighted by each deal's probability, and per forecast category.

    A deal's probability and category are a rep's own where an edit set them,
    else its stage's (a history without edits or event probabilities: the
    stage's). With ``scores`` (:func:`~crmcore.pipeline.scoring.score_deals` of
    the same history at the same ``as_of``) each open deal is weighted by its
    scored P(win) instead.

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a", "b", "b"], sequence=[0, 0, 1],
    ...     from_stage=[None, None, "TOP"], to_stage=["TOP", "TOP", "BEST"],
    ...     at=["2025-01-01", "2025-01-01", "2025-01-02"], amount=[100.0, 50.0, 50.0])
    >>> w = weighted_pipeline(h, TOP_IN_BEST)
    >>> w.weighted.tolist()[:3], w.open_total, w.weighted_total
    ([10.0, 0.0, 35.0], 150.0, 45.0)
    """
    fh = view(data, funnel)
    n_st = len(fh.stage_kind)
    is_open = fh.is_open
    amt = np.nan_to_num(fh.amount, nan=0.0)
    st = fh.final_stage[is_open]
    a = amt[is_open]
    count = np.bincount(st, minlength=n_st)
    total = _wsum(st, weights=a, minlength=n_st)
    # each deal's probability and category at as_of: a rep's own, else the stage's (issue 14)
    p = fh.probability[is_open] if scores is None else scores.for_history(fh)[is_open]
    weighted = _wsum(st, weights=a * p, minlength=n_st)
    cats = tuple(c.value for c in ForecastCategory)
    cat = fh.category[is_open]
    cat_total = _wsum(cat, weights=a, minlength=len(cats))
    cat_weighted = _wsum(cat, weights=a * p, minlength=len(cats))
    closed_i = cats.index(ForecastCategory.CLOSED.value)
    if closed_since is not None:
        since = as_instant(closed_since, name="closed_since")
        won_recent = fh.is_won & (fh.closed_at >= since)
        cat_total[closed_i] = cat_weighted[closed_i] = float(amt[won_recent].sum())
    c = dict(zip(cats, cat_total, strict=True))
    closed = c["closed"]
    commit = closed + c["commit"]
    best = commit + c["best_case"]
    pipe = best + c["pipeline"]
    cumulative = np.array([pipe, best, commit, closed, c["omitted"]])
    return WeightedPipeline(
        stages=fh.funnel.stage_names,
        count=count.astype(np.int64),
        total=total,
        weighted=weighted,
        categories=cats,
        category_total=cat_total,
        category_weighted=cat_weighted,
        cumulative=cumulative,
        missing_amounts=int((is_open & np.isnan(fh.amount)).sum()),
        currency=fh.currency,
    )


_TARGET_MET = "the target is already met (remaining is 0): nothing is left to cover"


@attrs.frozen
class Coverage:
    """Open pipeline against what is still to be sold: ``pipeline / (target - achieved)``.

    Once the target is met (``achieved >= target``, so ``remaining`` is 0)
    there is nothing left to cover: ``coverage`` and ``weighted_coverage``
    are then NaN (not infinity, not 0), and :attr:`target_met` is True.
    The pipeline amounts are in ``currency`` (the target is taken to be in it too).
    """

    target: float = attrs.field(validator=POSITIVE)
    achieved: float = attrs.field(validator=NONNEGATIVE)
    remaining: float = attrs.field(validator=NONNEGATIVE)
    open_pipeline: float = attrs.field(validator=NONNEGATIVE)
    weighted_pipeline: float = attrs.field(validator=NONNEGATIVE)
    coverage: float = attrs.field(validator=number(0, nan=_TARGET_MET))
    weighted_coverage: float = attrs.field(validator=number(0, nan=_TARGET_MET))
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )

    @property
    def target_met(self) -> bool:
        """Whether ``achieved`` already reaches ``target`` (coverage is then NaN)."""
        return self.remaining == 0.0


def pipeline_coverage(
    data: FunnelHistory | StageHistory,
    funnel: Funnel | None = None,
    *,
    target: float,
    achieved: float = 0.0,
) -> Coverage:
    """Pipeline coverage against a revenue target (3x is a common rule of thumb).

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(opportunity_ids=["a"], sequence=[0], from_stage=[None],
    ...                              to_stage=["TOP"], at=["2025-01-01"], amount=[300.0])
    >>> pipeline_coverage(h, TOP_IN_BEST, target=100.0).coverage
    3.0

    Once ``achieved`` reaches ``target`` nothing is left to cover: the
    coverage is NaN by definition (see :class:`Coverage`), never infinity.

    >>> met = pipeline_coverage(h, TOP_IN_BEST, target=100.0, achieved=120.0)
    >>> met.target_met, met.remaining, met.coverage
    (True, 0.0, nan)
    >>> pipeline_coverage(h, TOP_IN_BEST, target=0.0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'target' must be > 0: 0.0
    """
    target = as_number(target, name="target", low=0.0, inclusive=(False, True))
    achieved = as_number(achieved, name="achieved", low=0.0)
    wp = weighted_pipeline(data, funnel)
    remaining = max(float(target) - float(achieved), 0.0)
    coverage = _scalar_ratio(wp.open_total, remaining)
    if np.isinf(coverage):
        raise ValidationError(
            f"'target' minus 'achieved' is too small for a coverage of an open pipeline of "
            f"{wp.open_total:g} (it overflows a float): 'target' = {target!r}, 'achieved' = {achieved!r}"
        )
    return Coverage(
        target=float(target),
        achieved=float(achieved),
        remaining=remaining,
        open_pipeline=wp.open_total,
        weighted_pipeline=wp.weighted_total,
        coverage=coverage,
        weighted_coverage=_scalar_ratio(wp.weighted_total, remaining),
        currency=wp.currency,
    )
