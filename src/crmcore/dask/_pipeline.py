"""Pipeline analytics over a Dask DataFrame of stage-history events."""

from __future__ import annotations

from typing import Any

import numpy as np

from crmcore.dask._base import check_frame, on_partitions
from crmcore.dask.partitions import deals_partition
from crmcore.errors import require
from crmcore.options import expect_instance
from crmcore.pipeline import DealScoreModel, Funnel, FunnelHistory
from crmcore.serialization import to_json
from crmcore.tables import StageHistory

__all__ = ["funnel_history_dask", "score_deals_dask"]


def score_deals_dask(
    frame: Any,
    model: DealScoreModel,
    funnel: Funnel,
    *,
    as_of: Any,
    known_at: Any = None,
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

    >>> import dask.dataframe as dd
    >>> from crmcore.pipeline import fit_deal_scores, score_deals, synthetic_scoring_pipeline
    >>> from crmcore.pipeline.presets import B2B
    >>> s = synthetic_scoring_pipeline(B2B, n_opportunities=120, seed=2)
    >>> m = fit_deal_scores(s.history, B2B, as_of=s.as_of)
    >>> f = dd.from_pandas(s.history.to_pandas(), npartitions=3)
    >>> len(score_deals_dask(f, m, B2B, as_of=s.as_of).compute()) == len(
    ...     score_deals(m, s.history, B2B, as_of=s.as_of))
    True
    """
    model = expect_instance(model, DealScoreModel, name="model")
    funnel = expect_instance(funnel, Funnel, name="funnel")
    check_frame(frame, opportunity)
    grouped = frame if partitioned else frame.shuffle(on=opportunity)
    return on_partitions(
        grouped,
        deals_partition,
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
