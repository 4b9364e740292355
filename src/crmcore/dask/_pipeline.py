"""Pipeline analytics over a Dask DataFrame of stage-history events."""

from __future__ import annotations

from typing import Any

import numpy as np

from crmcore.dask._base import check_frame, on_partitions
from crmcore.dask.partitions import deals_partition
from crmcore.errors import ValidationError, require
from crmcore.options import expect_instance
from crmcore.pipeline import DealFields, DealScoreModel, Funnel, FunnelHistory
from crmcore.pipeline._scoring_data import BUILTIN_FACTORS
from crmcore.serialization import to_json
from crmcore.tables import FieldHistory, StageHistory

__all__ = ["funnel_history_dask", "score_deals_dask"]


def score_deals_dask(
    frame: Any,
    model: DealScoreModel,
    funnel: Funnel,
    *,
    as_of: Any,
    known_at: Any = None,
    fields: DealFields | None = None,
    changes: FieldHistory | None = None,
    opportunity: str = "opportunity_id",
    partitioned: bool = False,
    threads: int | None = 1,
) -> Any:
    """The deal scores of :func:`crmcore.pipeline.score_deals` (P(win) of every deal open
    at ``as_of`` with its explanation) over a Dask DataFrame of stage-history events
    (the columns of :meth:`crmcore.tables.StageHistory.from_frame`), partitioned by
    opportunity: every score is one deal's own. The model and the funnel travel to the
    workers as their JSON (:func:`crmcore.dask.partitions.deals_partition` reads them).
    ``partitioned=True`` skips the shuffle when every event of a deal is already in one
    partition; ``threads`` as for :func:`crmcore.dask.summarize_dask`.

    ``fields`` (a :class:`~crmcore.pipeline.DealFields`: one row per deal) and ``changes``
    (a :class:`~crmcore.tables.FieldHistory`: the deals' edits) mean what they mean for
    ``score_deals`` and are required the same way (a model fitted with fields needs them).
    They are in-memory tables sized by the number of deals, not by the events: each enters
    the task graph once, shared by every partition's task, and each partition reads its
    own deals' rows.

    >>> import dask.dataframe as dd
    >>> from crmcore.pipeline import fit_deal_scores, score_deals, synthetic_scoring_pipeline
    >>> from crmcore.pipeline.presets import B2B
    >>> s = synthetic_scoring_pipeline(B2B, n_opportunities=120, seed=2)
    >>> m = fit_deal_scores(s.history, B2B, as_of=s.as_of)
    >>> f = dd.from_pandas(s.history.to_pandas(), npartitions=3)
    >>> len(score_deals_dask(f, m, B2B, as_of=s.as_of).compute()) == len(
    ...     score_deals(m, s.history, B2B, as_of=s.as_of))
    True
    >>> mf = fit_deal_scores(s.history, B2B, as_of=s.as_of, fields=s.fields)
    >>> got = score_deals_dask(f, mf, B2B, as_of=s.as_of, fields=s.fields).compute()
    >>> sorted(got["probability"]) == sorted(
    ...     score_deals(mf, s.history, B2B, as_of=s.as_of, fields=s.fields).probability)
    True
    """
    model = expect_instance(model, DealScoreModel, name="model")
    funnel = expect_instance(funnel, Funnel, name="funnel")
    if fields is not None:
        fields = expect_instance(fields, DealFields, name="fields")
    if changes is not None:
        changes = expect_instance(changes, FieldHistory, name="changes")
    needed = [n for n in model.factors if n not in BUILTIN_FACTORS]
    absent = [n for n in needed if fields is None or n not in fields.names]
    if absent:  # score_deals' message, before any partition is read
        raise ValidationError(f"the model uses the fields {absent}: pass fields= with them")
    check_frame(frame, opportunity)
    grouped = frame if partitioned else frame.shuffle(on=opportunity)
    shared = {k: v for k, v in (("fields", fields), ("changes", changes)) if v is not None}
    return on_partitions(
        grouped,
        deals_partition,
        shared=shared,
        model=to_json(model),
        funnel=to_json(funnel),
        as_of=as_of,
        known_at=known_at,
        threads=threads,
    )


def funnel_history_dask(
    frame: Any,
    funnel: Funnel,
    *,
    as_of: Any = None,
    known_at: Any = None,
    opportunity: str = "opportunity_id",
    partitioned: bool = False,
) -> FunnelHistory:
    """The :class:`~crmcore.pipeline.FunnelHistory` of a Dask DataFrame of stage-history
    events, for every metric of :mod:`crmcore.pipeline` (``win_rate``,
    ``stage_conversion``, ``time_in_stage``, ``sales_cycle``, ``weighted_pipeline``, ...):
    each partition's deals are checked against the funnel on the workers (the rules the
    repositories enforce: first event creates the deal, moves from the stage the deal is
    in, time order), then the events, far fewer than a customer base's transactions, are
    brought to the client and summarised once, so every metric is the single-machine one.

    >>> import dask.dataframe as dd
    >>> from crmcore.pipeline import synthetic_history, win_rate
    >>> from crmcore.pipeline.presets import B2B
    >>> h = synthetic_history(B2B, n_opportunities=80, seed=1)
    >>> fh = funnel_history_dask(dd.from_pandas(h.to_pandas(), npartitions=3), B2B)
    >>> win_rate(fh) == win_rate(FunnelHistory.build(h, B2B))
    True
    """
    funnel = expect_instance(funnel, Funnel, name="funnel")
    check_frame(frame, opportunity)
    pd: Any = require("pandas", "dask")
    grouped = frame if partitioned else frame.shuffle(on=opportunity)

    def check(part: Any) -> Any:
        if len(part):
            FunnelHistory.build(
                StageHistory.from_frame(part.reset_index(drop=True)),
                funnel,
                as_of=as_of,
                known_at=known_at,
            )
        return pd.DataFrame({"events": [len(part)]})

    grouped.map_partitions(check, meta={"events": np.int64}).compute()
    events = frame.compute().reset_index(drop=True)
    return FunnelHistory.build(
        StageHistory.from_frame(events), funnel, as_of=as_of, known_at=known_at
    )
