"""Forecasts from history: who will win, when, how much, and how sure; and their back-test.

* :func:`win_probabilities` — the empirical probability of eventually
  winning from each open stage, among closed deals that reached it,
  smoothed towards the funnel's stage probability with a Beta prior:
  ``p = (won + w * p0) / (closed + w)`` (``w`` pseudo-deals, default 2).
* :func:`time_to_close` — the empirical distribution of days from entering
  a stage to winning, over won deals.
* :func:`forecast` — expected won revenue per future month from the open
  pipeline: each open deal ``i`` in stage ``s``, aged ``a`` days in it, wins
  in month ``m`` with ``q_im = p_s * P(a + t_m < T <= a + t_m+1 | T > a)``,
  ``T`` drawn from the stage's time-to-close sample. Expected revenue is
  ``sum_i v_i q_im``; deals are independent Bernoulli events, so the
  variance is ``sum_i v_i^2 q_im (1 - q_im)`` (a weighted Poisson-binomial)
  and the band is the normal interval at ``level``.
  ``method="stage"`` uses the funnel's stage probabilities instead of the
  history's, with the same timing, so the two differ only in the odds.
* :func:`backtest` — replay history to a past date, forecast, and score
  against what actually closed (MAPE and bias per method).

>>> from crmcore.pipeline.synthetic import synthetic_pipeline
>>> from crmcore.pipeline.presets import B2B
>>> p = synthetic_pipeline(B2B, n_opportunities=2000, seed=11)
>>> fc = forecast(FunnelHistory.build(p.history, B2B, as_of=p.as_of), months=3)
>>> fc.months.astype(str).tolist(), bool(np.all(fc.low <= fc.expected))
(['2025-06', '2025-07', '2025-08'], True)
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import ndtri

from crmcore._frames import Columns, Tabular, texts, wide
from crmcore._results import COUNT, NONNEGATIVE, PROBABILITY, array, each, number
from crmcore.arrays import FloatArray, IntArray
from crmcore.errors import ValidationError
from crmcore.model._fields import instance, tuple_of
from crmcore.options import as_choice, as_confidence, as_horizon, as_number, expect_instance
from crmcore.pipeline._paths import open_positions, reached
from crmcore.pipeline.currency import RateTable
from crmcore.pipeline.funnel import Funnel
from crmcore.pipeline.history import FunnelHistory, _days_between, _wsum
from crmcore.pipeline.metrics import _ratio, view
from crmcore.tables import StageHistory
from crmcore.timestamps import as_instant

if TYPE_CHECKING:  # scoring imports the forecast: no import at run time
    from crmcore.pipeline.scoring import DealScores

__all__ = [
    "Backtest",
    "Forecast",
    "TimeToClose",
    "WinProbabilities",
    "backtest",
    "forecast",
    "time_to_close",
    "win_probabilities",
]

Method = Literal["history", "stage"]
_MAX_WEIGHT = 10.0
_MAX_MONTHS = 120  # the longest forecast, in months
_MAX_DAYS = 2000  # the day grid of the timing tables (longer paths count as 2000 days)


@attrs.frozen(eq=False)
class WinProbabilities(Tabular):
    """Per open stage: closed deals that reached it, how many were won, raw and smoothed rates.

    "Reached" follows each deal's actual path (a deal that skipped a stage
    did not reach it; see :mod:`crmcore.pipeline._paths`).

    ``empirical = won / closed`` is NaN at a stage that no closed deal has
    reached (``closed`` is 0: there is no rate to measure). ``smoothed``
    is the value to use: ``(won + prior_weight * prior) / (closed + prior_weight)``,
    always a probability; where ``closed`` and ``prior_weight`` are both 0
    it is the stage's ``prior`` (the limit of the formula as the weight goes to 0).
    """

    stages: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a stage name"))
    closed: IntArray = attrs.field(validator=array("i", lo=0))
    won: IntArray = attrs.field(validator=array("i", lo=0, length="closed"))
    empirical: FloatArray = attrs.field(
        validator=array(
            lo=0,
            hi=1,
            length="closed",
            nan="no closed deals from this stage (closed is 0); use smoothed",
        )
    )
    prior: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="closed"))
    smoothed: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="closed"))
    prior_weight: float = attrs.field(validator=NONNEGATIVE)

    def _columns(self) -> Columns:
        return {
            "stage": texts(self.stages),
            "closed": self.closed,
            "won": self.won,
            "empirical": self.empirical,
            "prior": self.prior,
            "smoothed": self.smoothed,
        }


def _check_months(months: object) -> int:
    return as_horizon(months, name="months", low=1, cap=_MAX_MONTHS)


def _check_method(method: object) -> Method:
    return as_choice(method, name="method", allowed=("history", "stage"))  # type: ignore[return-value]  # narrowed by the check


def _check_weight(prior_weight: float) -> float:
    return as_number(prior_weight, name="prior_weight", low=0.0)


def win_probabilities(
    data: FunnelHistory | StageHistory, funnel: Funnel | None = None, *, prior_weight: float = 2.0
) -> WinProbabilities:
    """Smoothed empirical probability of eventually winning from each open stage.

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a", "a", "b", "b"], sequence=[0, 1, 0, 1],
    ...     from_stage=[None, "TOP", None, "TOP"], to_stage=["TOP", "LOST", "TOP", "LOST"],
    ...     at=["2025-01-01", "2025-01-02", "2025-01-01", "2025-01-03"])
    >>> wp = win_probabilities(h, TOP_IN_BEST, prior_weight=2)
    >>> wp.closed[0], wp.empirical[0], wp.smoothed[0]  # (0 + 2 * 0.1) / (2 + 2)
    (np.int64(2), np.float64(0.0), np.float64(0.05))

    A stage no closed deal has reached has no empirical rate (NaN, see
    :class:`WinProbabilities`); its smoothed rate is the stage's prior:

    >>> wp.closed[1], wp.empirical[1], wp.smoothed[1] == wp.prior[1]
    (np.int64(0), np.float64(nan), np.True_)
    """
    w = _check_weight(prior_weight)
    fh = view(data, funnel)
    open_idx, names = open_positions(fh)
    hit = reached(fh)[:, open_idx]  # the deals' actual paths: a skipped stage was not reached
    n = (hit & ~fh.is_open[:, None]).sum(axis=0, dtype=np.int64)
    k = (hit & fh.is_won[:, None]).sum(axis=0, dtype=np.int64)
    p0 = fh.stage_probability[open_idx]
    # no closed deal and no prior weight: the limit of the formula as the weight goes to 0
    smoothed = np.where(n + w > 0, _ratio(k + w * p0, n + w), p0)
    return WinProbabilities(
        stages=names,
        closed=n,
        won=k,
        empirical=_ratio(k, n),
        prior=p0,
        smoothed=smoothed,
        prior_weight=w,
    )


@attrs.frozen(eq=False)
class TimeToClose(Tabular):
    """Days from entering each open stage to the win, over won deals (sorted samples per stage).

    ``samples[offsets[i]:offsets[i + 1]]`` are open stage ``i``'s durations
    (sorted), ``stays`` the days the same deals stayed in that stage, and
    ``weights`` their weights (None: all 1). :func:`time_to_close` weights a
    duration ``d`` by ``min(L / (L - d), 10)``, ``L`` the length of the
    history: a long road to a win is less likely to have finished inside
    the observed window, so each one observed stands for more
    (inverse-probability weighting for a steady flow of new deals).
    """

    stages: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a stage name"))
    samples: FloatArray = attrs.field(validator=array(lo=0))
    offsets: IntArray = attrs.field(validator=array("i", lo=0))
    stays: FloatArray | None = attrs.field(
        default=None, validator=array(lo=0, length="samples", optional=True)
    )
    weights: FloatArray | None = attrs.field(
        default=None, validator=array(lo=0, length="samples", optional=True)
    )

    def stage_sample(self, i: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Sorted durations of open stage number ``i``, the stays in it, and their weights.

        >>> TimeToClose(("TOP",), np.array([2.0, 5.0]), np.array([0, 2])).stage_sample(0)[2].tolist()
        [1.0, 1.0]
        """
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        d = self.samples[lo:hi]
        w = self.weights[lo:hi] if self.weights is not None else np.ones(hi - lo)
        st = self.stays[lo:hi] if self.stays is not None else d
        return d, st, w

    def of(self, stage: str) -> FloatArray:
        """The sorted durations of one stage.

        >>> TimeToClose(("TOP",), np.array([2.0, 5.0]), np.array([0, 2])).of("TOP").tolist()
        [2.0, 5.0]
        """
        if stage not in self.stages:
            raise ValidationError(f"'stage' must be one of {list(self.stages)}: {stage!r}")
        return self.stage_sample(self.stages.index(stage))[0]

    def quantiles(self, q: npt.ArrayLike = (0.25, 0.5, 0.75)) -> FloatArray:
        """Weighted quantiles per stage (rows) in days; NaN for a stage without won deals.

        >>> TimeToClose(("TOP",), np.array([2.0, 4.0]), np.array([0, 2])).quantiles([0.5]).tolist()
        [[3.0]]
        """
        qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
        out = np.full((len(self.stages), len(qs)), np.nan)
        for i in range(len(self.stages)):  # one pass per stage
            s, _, w = self.stage_sample(i)
            if len(s):
                mid = (np.cumsum(w) - w / 2) / w.sum()  # weighted plotting positions
                out[i] = np.interp(qs, mid, s)
        return out

    def _columns(self) -> Columns:
        sizes = np.diff(self.offsets)
        return {
            "stage": np.repeat(texts(self.stages), sizes),
            "days": self.samples,
            "stay_days": self.samples if self.stays is None else self.stays,
            "weight": np.ones(len(self.samples)) if self.weights is None else self.weights,
        }


def time_to_close(data: FunnelHistory | StageHistory, funnel: Funnel | None = None) -> TimeToClose:
    """The empirical distribution of days from entering each open stage to winning.

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a"] * 4, sequence=[0, 1, 2, 3],
    ...     from_stage=[None, "TOP", "IN", "BEST"], to_stage=["TOP", "IN", "BEST", "WIN"],
    ...     at=["2025-01-01", "2025-01-03", "2025-01-07", "2025-01-11"])
    >>> time_to_close(h, TOP_IN_BEST).quantiles([0.5]).ravel().tolist()
    [10.0, 8.0, 4.0]
    """
    fh = view(data, funnel)
    open_idx = np.flatnonzero(fh.stage_kind == 0)
    pos = np.full(len(fh.stage_kind), -1, dtype=np.int64)
    pos[open_idx] = np.arange(len(open_idx))
    ev_pos = pos[fh.ev_stage]
    sel = (ev_pos >= 0) & fh.is_won[fh.ev_opp] & ~np.isnat(fh.ev_exit)
    d = _days_between(fh.ev_at[sel], fh.closed_at[fh.ev_opp[sel]])
    stay = _days_between(fh.ev_at[sel], fh.ev_exit[sel])
    p = ev_pos[sel]
    order = np.lexsort((d, p))
    counts = np.bincount(p, minlength=len(open_idx))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    span = (
        float(_days_between(fh.ev_at.min(keepdims=True), np.array([fh.as_of]))[0])
        if len(fh.ev_at)
        else 0.0
    )
    d = d[order]
    span = max(span, float(np.max(d, initial=0.0)))
    w = np.minimum(span / np.maximum(span - d, span / _MAX_WEIGHT), _MAX_WEIGHT)
    return TimeToClose(
        tuple(fh.funnel.stage_names[i] for i in open_idx),
        d,
        offsets,
        stay[order],
        w.astype(np.float64) if span > 0 else np.ones(len(d)),
    )


@attrs.frozen(eq=False)
class Forecast(Tabular):
    """Expected won revenue per future month from the open pipeline, with a band at ``level``.

    Month 0 runs from ``as_of`` to the end of its calendar month. ``total_*``
    cover the whole horizon. ``missing_amounts`` open deals had no amount
    (counted as 0); ``stale`` open deals had no won look-alike (see
    :func:`_close_probabilities`) and contribute nothing. Revenue is in
    ``currency`` (None: the history gave no currency).
    """

    method: str = attrs.field(validator=instance(str, "a method name"))
    as_of: np.datetime64 = attrs.field(validator=array("M", ndim=None))
    months: npt.NDArray[Any] = attrs.field(validator=array("M"))
    expected: FloatArray = attrs.field(validator=array(lo=0, length="months"))
    sd: FloatArray = attrs.field(validator=array(lo=0, length="months"))
    low: FloatArray = attrs.field(validator=array(lo=0, length="months"))
    high: FloatArray = attrs.field(validator=array(lo=0, length="months"))
    total_expected: float = attrs.field(validator=NONNEGATIVE)
    total_sd: float = attrs.field(validator=NONNEGATIVE)
    total_low: float = attrs.field(validator=NONNEGATIVE)
    total_high: float = attrs.field(validator=number(0, at_least=("total_low",)))
    level: float = attrs.field(validator=PROBABILITY)
    n_open: int = attrs.field(validator=COUNT)
    missing_amounts: int = attrs.field(validator=COUNT)
    stale: int = attrs.field(validator=COUNT)
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )

    def _columns(self) -> Columns:
        return {
            "month": self.months,
            "expected": self.expected,
            "sd": self.sd,
            "low": self.low,
            "high": self.high,
        }


def _month_edges(as_of: np.datetime64, months: int) -> tuple[npt.NDArray[Any], FloatArray]:
    m0 = as_of.astype("M8[M]")
    labels = m0 + np.arange(months)
    starts = (m0 + np.arange(1, months + 1)).astype("M8[us]")
    edges = np.concatenate([[as_of], starts]).astype("M8[us]")
    return labels, _days_between(np.full(len(edges), as_of), edges)


def _close_probabilities(
    fh: FunnelHistory,
    p_stage: FloatArray,
    ttc: TimeToClose,
    edge_days: FloatArray,
    rows: IntArray,
    p_deal: FloatArray | None = None,
) -> tuple[FloatArray, int]:
    """``q[i, m]``: probability open deal ``rows[i]`` is won in month ``m``, and the stale count.

    For a deal ``a`` days into stage ``s``, the won deals that stayed in
    ``s`` longer than ``a`` days are its look-alikes: ``P(win in month m) =
    p_s * W(stay > a, a + t_m < T <= a + t_m+1) / W(stay > a)`` with ``W``
    the summed weights, counted on a day grid with one 2-D cumulative table
    per stage. A deal older in its stage than every won look-alike (or in a
    stage no deal was ever won from) is stale: nothing is expected from it.
    """
    open_idx = np.flatnonzero(fh.stage_kind == 0)
    pos = np.full(len(fh.stage_kind), -1, dtype=np.int64)
    pos[open_idx] = np.arange(len(open_idx))
    sp = pos[fh.final_stage[rows]]
    age = _days_between(fh.entered[rows], np.full(len(rows), fh.as_of))
    q = np.zeros((len(rows), len(edge_days) - 1))
    stale = 0
    for s in range(len(open_idx)):  # one vectorised pass per stage
        mine = np.flatnonzero(sp == s)
        if not len(mine):
            continue
        dur, stay, w = ttc.stage_sample(s)
        if not len(dur):
            stale += len(mine)
            continue
        grid = min(int(dur.max()) + 2, _MAX_DAYS)
        t_bin = np.minimum(dur.astype(np.int64), grid - 1)
        s_bin = np.minimum(stay.astype(np.int64), grid - 1)
        table = _wsum(s_bin * grid + t_bin, weights=w, minlength=grid * grid).reshape(grid, grid)
        # cum[r, t] = weight of look-alikes with stay >= r days and T <= t days
        cum = np.zeros((grid + 1, grid))
        cum[:grid] = np.cumsum(np.cumsum(table[::-1], axis=0)[::-1], axis=1)
        a = age[mine]
        row = np.minimum(a.astype(np.int64) + 1, grid)
        alive = cum[row, grid - 1]
        col = np.minimum((a[:, None] + edge_days[None, :]).astype(np.int64), grid - 1)
        hits = cum[row[:, None], col]
        share = np.diff(hits, axis=1) / np.where(alive > 0, alive, 1.0)[:, None]
        share[alive <= 0] = 0.0
        stale += int(np.count_nonzero(alive <= 0))
        q[mine] = (p_stage[s] if p_deal is None else p_deal[mine][:, None]) * share
    return q, stale


def forecast(
    data: FunnelHistory | StageHistory,
    funnel: Funnel | None = None,
    *,
    months: int = 3,
    method: Method = "history",
    prior_weight: float = 2.0,
    level: float = 0.8,
    train: FunnelHistory | None = None,
    scores: DealScores | None = None,
) -> Forecast:
    """Expected won revenue per month for ``months`` months after ``as_of`` (see the module docstring).

    ``train`` is the history the probabilities and timing are learnt from
    (default: ``data`` itself, i.e. everything before ``as_of``). With ``scores``
    (:func:`~crmcore.pipeline.scoring.score_deals` of the same history at the same
    ``as_of``) each open deal's own P(win) replaces its stage's (``method`` "scores").

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(opportunity_ids=["a"], sequence=[0], from_stage=[None],
    ...                              to_stage=["TOP"], at=["2025-01-01"], amount=[100.0])
    >>> forecast(h, TOP_IN_BEST, months=0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'months' must be >= 1: 0
    """
    months = _check_months(months)
    method = _check_method(method)
    level = as_confidence(level, name="level")
    fh = view(data, funnel)
    learn = train if train is not None else fh
    ttc = time_to_close(learn)
    open_idx = np.flatnonzero(fh.stage_kind == 0)
    if method == "history":
        p_stage = win_probabilities(learn, prior_weight=prior_weight).smoothed
        p_stage = np.where(np.isnan(p_stage), fh.stage_probability[open_idx], p_stage)
    else:
        p_stage = fh.stage_probability[open_idx]
    labels, edge_days = _month_edges(fh.as_of, months)
    rows = np.flatnonzero(fh.is_open)
    p_deal = None if scores is None else scores.for_history(fh)[rows]
    q, stale = _close_probabilities(fh, p_stage, ttc, edge_days, rows, p_deal)
    v = np.nan_to_num(fh.amount[rows], nan=0.0)
    expected = v @ q
    var = (v * v) @ (q * (1 - q))
    tot_q = q.sum(axis=1)
    tot_e = float(v @ tot_q)
    tot_sd = float(np.sqrt((v * v) @ (tot_q * (1 - tot_q))))
    z = float(ndtri(0.5 + level / 2))
    sd = np.sqrt(var)
    return Forecast(
        method=method if scores is None else "scores",
        as_of=fh.as_of,
        months=labels,
        expected=expected,
        sd=sd,
        low=np.maximum(expected - z * sd, 0.0),
        high=expected + z * sd,
        total_expected=tot_e,
        total_sd=tot_sd,
        total_low=max(tot_e - z * tot_sd, 0.0),
        total_high=tot_e + z * tot_sd,
        level=float(level),
        n_open=len(rows),
        missing_amounts=int(np.isnan(fh.amount[rows]).sum()),
        stale=stale,
        currency=fh.currency,
    )


@attrs.frozen(eq=False)
class Backtest(Tabular):
    """A forecast made at a past ``as_of`` scored against what the open deals actually won.

    ``mape`` averages ``|forecast - actual| / actual`` over the months with
    actual revenue (None when none had any); ``bias`` is
    ``(sum forecast - sum actual) / sum actual`` (positive = optimistic).
    Revenue is in ``currency``.
    """

    as_of: np.datetime64 = attrs.field(validator=array("M", ndim=None))
    months: npt.NDArray[Any] = attrs.field(validator=array("M"))
    actual: FloatArray = attrs.field(validator=array(lo=0, length="months"))
    methods: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a method name"))
    expected: FloatArray = attrs.field(validator=array(lo=0, ndim=2))
    mape: tuple[float | None, ...] = attrs.field(validator=each(number(0, optional=True)))
    bias: tuple[float | None, ...] = attrs.field(validator=each(number(-1, optional=True)))
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )

    def best(self) -> str:
        """The method with the lowest MAPE (ties: the first).

        >>> Backtest(np.datetime64("2025-01-01"), np.array([]), np.array([]), ("history", "stage"),
        ...          np.zeros((2, 0)), (0.1, 0.3), (0.0, 0.2)).best()
        'history'
        """
        scores = [m if m is not None else float("inf") for m in self.mape]
        return self.methods[int(np.argmin(scores))]

    def _columns(self) -> Columns:
        return {
            "month": self.months,
            "actual": self.actual,
            **wide("expected_", self.methods, self.expected.T),
        }


def backtest(
    history: StageHistory,
    funnel: Funnel,
    *,
    as_of: datetime | np.datetime64 | str,
    months: int = 3,
    methods: tuple[Method, ...] = ("history", "stage"),
    prior_weight: float = 2.0,
    currency: str | None = None,
    rates: RateTable | None = None,
) -> Backtest:
    """Forecast as if it were ``as_of`` (only earlier events known) and score against what followed.

    ``currency`` and ``rates`` as in :meth:`FunnelHistory.build` (the forecast values the
    deals open at ``as_of`` at its rates, the actual revenue at the wins' dates).

    >>> from crmcore.pipeline.synthetic import synthetic_pipeline
    >>> from crmcore.pipeline.presets import B2B
    >>> p = synthetic_pipeline(B2B, n_opportunities=3000, seed=4)
    >>> bt = backtest(p.history, B2B, as_of="2025-01-01", months=3)
    >>> bt.methods, len(bt.actual), bt.best()
    (('history', 'stage'), 3, 'history')
    """
    months = _check_months(months)
    if isinstance(methods, str) or not isinstance(methods, tuple | list) or not methods:
        raise ValidationError(f"'methods' must be a non-empty tuple of methods: {methods!r}")
    methods = tuple(_check_method(m) for m in methods)
    history = expect_instance(history, StageHistory, name="history")
    funnel = expect_instance(funnel, Funnel, name="funnel")
    cut = as_instant(as_of, name="as_of")
    past = FunnelHistory.build(history, funnel, as_of=cut, currency=currency, rates=rates)
    full = FunnelHistory.build(history, funnel, currency=past.currency or currency, rates=rates)
    labels, _ = _month_edges(cut, months)
    edges = np.concatenate(
        [[cut], (cut.astype("M8[M]") + np.arange(1, months + 1)).astype("M8[us]")]
    )
    if full.as_of < edges[-1]:
        raise ValidationError(
            f"'as_of' {cut} + {months} months ends after the history ({full.as_of}): "
            "choose an earlier as_of"
        )
    # the deals open at as_of, found in the full history
    where = np.full(len(history.opportunity_ids), -1, dtype=np.int64)
    where[full.opportunity_codes] = np.arange(full.n_opportunities)
    rows = where[past.opportunity_codes[past.is_open]]
    won_later = full.is_won[rows]
    closed = full.closed_at[rows][won_later]
    value = np.nan_to_num(full.amount[rows][won_later], nan=0.0)
    month = np.searchsorted(edges, closed, side="right") - 1
    inside = (month >= 0) & (month < months)
    actual = _wsum(month[inside], weights=value[inside], minlength=months)
    exp_rows = []
    mapes: list[float | None] = []
    biases: list[float | None] = []
    for m in methods:
        fc = forecast(past, months=months, method=m, prior_weight=prior_weight)
        exp_rows.append(fc.expected)
        has = actual > 0
        mapes.append(
            float(np.mean(np.abs(fc.expected[has] - actual[has]) / actual[has]))
            if has.any()
            else None
        )
        tot = float(actual.sum())
        biases.append((float(fc.expected.sum()) - tot) / tot if tot > 0 else None)
    return Backtest(
        as_of=cut,
        months=labels,
        actual=actual,
        methods=tuple(methods),
        expected=np.array(exp_rows),
        mape=tuple(mapes),
        bias=tuple(biases),
        currency=full.currency,
    )
