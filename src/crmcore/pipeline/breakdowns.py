"""Who sells what, why, and why not: breakdowns by rep, product, lost reason and entry cohort.

>>> from crmcore.pipeline.synthetic import synthetic_pipeline
>>> from crmcore.pipeline.presets import B2B
>>> p = synthetic_pipeline(B2B, n_opportunities=400, seed=5)
>>> fh = FunnelHistory.build(p.history, B2B, as_of=p.as_of, reasons=p.reasons)
>>> b = breakdown(fh, by="owner")
>>> int(b.opportunities.sum()) == fh.n_opportunities
True
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, long_form, texts, wide
from crmcore._results import array
from crmcore.arrays import FloatArray, IntArray
from crmcore.model._fields import instance, tuple_of
from crmcore.options import as_choice, expect_instance
from crmcore.pipeline._paths import open_positions, reached
from crmcore.pipeline.funnel import Funnel
from crmcore.pipeline.history import FunnelHistory, _wsum
from crmcore.pipeline.metrics import _ratio, view
from crmcore.tables import StageHistory

__all__ = [
    "Breakdown",
    "CohortConversion",
    "LostReasons",
    "SalesMatrix",
    "breakdown",
    "cohort_conversion",
    "lost_reasons",
    "who_sells_what",
]


@attrs.frozen(eq=False)
class Breakdown(Tabular):
    """Per label (rep or product): counts, win rate, won value, open and weighted pipeline
    (each open deal weighted by its probability: a rep's own, else its stage's; values in
    ``currency``; None: the history gave no currency)."""

    by: str = attrs.field(validator=instance(str, "what the rows are grouped by"))
    labels: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a label"))
    opportunities: IntArray = attrs.field(validator=array("i", lo=0))
    open: IntArray = attrs.field(validator=array("i", lo=0, length="opportunities"))
    won: IntArray = attrs.field(validator=array("i", lo=0, length="opportunities"))
    lost: IntArray = attrs.field(validator=array("i", lo=0, length="opportunities"))
    win_rate: FloatArray = attrs.field(
        validator=array(
            lo=0,
            hi=1,
            length="opportunities",
            nan="a ratio whose denominator is 0 (the counts beside it say so)",
        )
    )
    won_value: FloatArray = attrs.field(validator=array(lo=0, length="opportunities"))
    pipeline_value: FloatArray = attrs.field(validator=array(lo=0, length="opportunities"))
    weighted_value: FloatArray = attrs.field(validator=array(lo=0, length="opportunities"))
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )

    def _columns(self) -> Columns:
        return {
            self.by: texts(self.labels),
            "opportunities": self.opportunities,
            "open": self.open,
            "won": self.won,
            "lost": self.lost,
            "win_rate": self.win_rate,
            "won_value": self.won_value,
            "pipeline_value": self.pipeline_value,
            "weighted_value": self.weighted_value,
        }


def breakdown(
    data: FunnelHistory | StageHistory,
    funnel: Funnel | None = None,
    *,
    by: Literal["owner", "product"] = "owner",
) -> Breakdown:
    """Pipeline and results per owner (rep) or per product ("who sells what").

    Opportunities without a product are grouped under ``"(none)"``.

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a", "a", "b"], sequence=[0, 1, 0], from_stage=[None, "TOP", None],
    ...     to_stage=["TOP", "LOST", "TOP"], at=["2025-01-01", "2025-01-02", "2025-01-01"],
    ...     amount=[5.0, 5.0, 7.0], owner_ids=["ann", "ann", "bob"])
    >>> b = breakdown(h, TOP_IN_BEST)
    >>> b.labels, b.lost.tolist(), b.pipeline_value.tolist()
    (('ann', 'bob'), [1, 0], [0.0, 7.0])
    """
    fh = view(data, funnel)
    if as_choice(by, name="by", allowed=("owner", "product")) == "owner":
        codes, labels = fh.owner, [str(x) for x in fh.owner_ids.tolist()]
    else:
        codes = np.where(fh.product < 0, len(fh.products), fh.product)
        labels = [str(x) for x in fh.products.tolist()] + ["(none)"]
    k = len(labels)
    amt = np.nan_to_num(fh.amount, nan=0.0)
    is_open, won, lost = fh.is_open, fh.is_won, fh.is_lost
    n = np.bincount(codes, minlength=k)
    n_open = np.bincount(codes[is_open], minlength=k)
    n_won = np.bincount(codes[won], minlength=k)
    n_lost = np.bincount(codes[lost], minlength=k)
    won_value = _wsum(codes[won], weights=amt[won], minlength=k)
    pipe = _wsum(codes[is_open], weights=amt[is_open], minlength=k)
    weights = amt[is_open] * fh.probability[is_open]  # a rep's own, else the stage's
    weighted = _wsum(codes[is_open], weights=weights, minlength=k)
    keep = np.flatnonzero(n) if by == "product" else np.arange(k)
    return Breakdown(
        by=by,
        labels=tuple(labels[i] for i in keep),
        opportunities=n[keep].astype(np.int64),
        open=n_open[keep].astype(np.int64),
        won=n_won[keep].astype(np.int64),
        lost=n_lost[keep].astype(np.int64),
        win_rate=_ratio(n_won, n_won + n_lost)[keep],
        won_value=won_value[keep],
        pipeline_value=pipe[keep],
        weighted_value=weighted[keep],
        currency=fh.currency,
    )


@attrs.frozen(eq=False)
class SalesMatrix(Tabular):
    """Won value per rep (rows) and product (columns), in ``currency``."""

    owners: tuple[str, ...] = attrs.field(validator=tuple_of(str, "an owner id"))
    products: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a product"))
    won_value: FloatArray = attrs.field(validator=array(lo=0, ndim=2))
    won_count: IntArray = attrs.field(validator=array("i", lo=0, ndim=2, length="won_value"))
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )

    def _columns(self) -> Columns:
        return long_form(
            ("owner", self.owners),
            ("product", self.products),
            won_value=self.won_value,
            won_count=self.won_count,
        )


def who_sells_what(data: FunnelHistory | StageHistory, funnel: Funnel | None = None) -> SalesMatrix:
    """Won value and count per (rep, product); the last column is "(none)".

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a", "a", "a", "a"], sequence=[0, 1, 2, 3],
    ...     from_stage=[None, "TOP", "IN", "BEST"], to_stage=["TOP", "IN", "BEST", "WIN"],
    ...     at=["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"], amount=[9.0] * 4,
    ...     owner_ids=["ann"] * 4, products=["erp"] * 4)
    >>> who_sells_what(h, TOP_IN_BEST).won_value.tolist()
    [[9.0, 0.0]]
    """
    fh = view(data, funnel)
    n_o, n_p = len(fh.owner_ids), len(fh.products) + 1
    won = fh.is_won
    prod = np.where(fh.product < 0, n_p - 1, fh.product)
    cell = fh.owner[won] * n_p + prod[won]
    amt = np.nan_to_num(fh.amount[won], nan=0.0)
    value = _wsum(cell, weights=amt, minlength=n_o * n_p).reshape(n_o, n_p)
    count = np.bincount(cell, minlength=n_o * n_p).reshape(n_o, n_p)
    return SalesMatrix(
        tuple(str(x) for x in fh.owner_ids.tolist()),
        (*(str(x) for x in fh.products.tolist()), "(none)"),
        value,
        count.astype(np.int64),
        currency=fh.currency,
    )


@attrs.frozen(eq=False)
class LostReasons(Tabular):
    """Lost deals per reason: count, value (in ``currency``), share of lost deals, and the stage
    they were lost from."""

    reasons: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a reason"))
    count: IntArray = attrs.field(validator=array("i", lo=0))
    value: FloatArray = attrs.field(validator=array(lo=0, length="count"))
    share: FloatArray = attrs.field(
        validator=array(
            lo=0,
            hi=1,
            length="count",
            nan="a ratio whose denominator is 0 (the counts beside it say so)",
        )
    )
    from_stages: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a stage name"))
    by_stage: IntArray = attrs.field(validator=array("i", lo=0, ndim=2, length="count"))
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )

    def _columns(self) -> Columns:
        return {
            "reason": texts(self.reasons),
            "count": self.count,
            "value": self.value,
            "share": self.share,
            **wide("from_", self.from_stages, self.by_stage),
        }


def lost_reasons(data: FunnelHistory) -> LostReasons:
    """Why deals are lost ("why not"): needs a history built with ``reasons=``.

    Only the final loss of each lost opportunity counts; losses without a
    reason are grouped under ``"(none)"``.

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a", "a", "b", "b"], sequence=[0, 1, 0, 1],
    ...     from_stage=[None, "TOP", None, "TOP"], to_stage=["TOP", "LOST", "TOP", "LOST"],
    ...     at=["2025-01-01", "2025-01-02", "2025-01-01", "2025-01-03"], amount=[1.0, 1.0, 3.0, 3.0])
    >>> lr = lost_reasons(FunnelHistory.build(h, TOP_IN_BEST, reasons=[None, "price", None, "price"]))
    >>> lr.reasons, lr.count.tolist(), lr.value.tolist()
    (('price', '(none)'), [2, 0], [4.0, 0.0])
    """
    fh = expect_instance(
        data,
        FunnelHistory,
        name="data",
        what="a FunnelHistory built with reasons= (FunnelHistory.build(history, funnel, reasons=...))",
    )
    last = np.flatnonzero(np.append(fh.ev_opp[1:] != fh.ev_opp[:-1], True))
    lost = fh.is_lost
    rows = last[lost]
    k = len(fh.reasons) + 1
    code = fh.ev_reason[rows]
    code = np.where(code < 0, k - 1, code)
    amt = np.nan_to_num(fh.amount[lost], nan=0.0)
    count = np.bincount(code, minlength=k)
    value = _wsum(code, weights=amt, minlength=k)
    n_st = len(fh.stage_kind)
    frm = fh.ev_from[rows]
    frm = np.where(frm < 0, fh.ev_stage[rows], frm)
    by_stage = np.bincount(code * n_st + frm, minlength=k * n_st).reshape(k, n_st)
    open_cols = np.flatnonzero(fh.stage_kind == 0)
    return LostReasons(
        reasons=(*(str(x) for x in fh.reasons.tolist()), "(none)"),
        count=count.astype(np.int64),
        value=value,
        share=_ratio(count, count.sum()),
        from_stages=tuple(fh.funnel.stage_names[i] for i in open_cols),
        by_stage=by_stage[:, open_cols].astype(np.int64),
        currency=fh.currency,
    )


@attrs.frozen(eq=False)
class CohortConversion(Tabular):
    """Per entry month: created, reached each open stage, won, lost, still open.

    ``reached[c, i]`` counts cohort ``c``'s opportunities that entered open
    stage ``i`` (their actual path: a skipped stage was not reached; see
    :mod:`crmcore.pipeline._paths`); ``win_rate`` is won / (won + lost) of
    the cohort.
    """

    months: npt.NDArray[Any] = attrs.field(validator=array("M"))
    stages: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a stage name"))
    created: IntArray = attrs.field(validator=array("i", lo=0, length="months"))
    reached: IntArray = attrs.field(validator=array("i", lo=0, length="months", ndim=2))
    won: IntArray = attrs.field(validator=array("i", lo=0, length="months"))
    lost: IntArray = attrs.field(validator=array("i", lo=0, length="months"))
    open: IntArray = attrs.field(validator=array("i", lo=0, length="months"))
    win_rate: FloatArray = attrs.field(
        validator=array(
            lo=0,
            hi=1,
            length="months",
            nan="a ratio whose denominator is 0 (the counts beside it say so)",
        )
    )

    def _columns(self) -> Columns:
        return {
            "month": self.months,
            "created": self.created,
            **wide("reached_", self.stages, self.reached),
            "won": self.won,
            "lost": self.lost,
            "open": self.open,
            "win_rate": self.win_rate,
        }


def cohort_conversion(
    data: FunnelHistory | StageHistory, funnel: Funnel | None = None
) -> CohortConversion:
    """Conversion by the month opportunities entered the funnel (their creation month).

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> h = StageHistory.from_arrays(
    ...     opportunity_ids=["a", "a", "b"], sequence=[0, 1, 0], from_stage=[None, "TOP", None],
    ...     to_stage=["TOP", "IN", "TOP"], at=["2025-01-05", "2025-02-02", "2025-02-01"])
    >>> c = cohort_conversion(h, TOP_IN_BEST)
    >>> c.months.astype(str).tolist(), c.reached.tolist()
    (['2025-01', '2025-02'], [[1, 1, 0], [1, 0, 0]])
    """
    fh = view(data, funnel)
    month = fh.created.astype("M8[M]")
    if not len(month):
        empty = np.zeros(0, dtype=np.int64)
        r = fh.n_open_stages
        return CohortConversion(
            month, (), empty, np.zeros((0, r), np.int64), empty, empty, empty, np.zeros(0)
        )
    m0 = month.min()
    c = (month - m0).astype(np.int64)
    n_c = int(c.max()) + 1
    open_idx, names = open_positions(fh)
    r = len(open_idx)
    hit = reached(fh)[:, open_idx]  # the deals' actual paths: a skipped stage was not reached
    reached_n = np.zeros((n_c, r), dtype=np.int64)
    for i in range(r):  # one pass per open stage
        reached_n[:, i] = np.bincount(c[hit[:, i]], minlength=n_c)
    won = np.bincount(c[fh.is_won], minlength=n_c)
    lost = np.bincount(c[fh.is_lost], minlength=n_c)
    opn = np.bincount(c[fh.is_open], minlength=n_c)
    created = np.bincount(c, minlength=n_c)
    months = m0 + np.arange(n_c)
    return CohortConversion(
        months=months,
        stages=names,
        created=created.astype(np.int64),
        reached=reached_n.astype(np.int64),
        won=won.astype(np.int64),
        lost=lost.astype(np.int64),
        open=opn.astype(np.int64),
        win_rate=_ratio(won, won + lost),
    )
