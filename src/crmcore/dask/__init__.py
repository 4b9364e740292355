"""The customer-base analytics on Dask DataFrames, with the single-machine answers.

Install with ``pip install 'crmcore[dask]'`` (``dask[dataframe]`` and ``distributed``);
the core never imports this package. Each function shuffles the rows by customer, runs
crmcore's single-machine function on every partition (:mod:`crmcore.dask.partitions`,
pandas in and out, also usable from Spark's ``applyInPandas``), and combines only what
is global: the observation dates, the value counts behind quantile scores, the
sufficient statistics behind the fits. See docs/scale-out.md.

>>> import pandas as pd, dask.dataframe as dd
>>> rows = pd.DataFrame({"customer_id": ["a", "a", "b"],
...     "occurred_at": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-05"]),
...     "amount": [10.0, 7.0, 3.0]})
>>> s = summarize_dask(dd.from_pandas(rows, npartitions=2), observation_end="2024-01-10")
>>> s.compute().frequency.tolist()
[1.0, 0.0]
"""

from __future__ import annotations

from crmcore.errors import require

require("dask.dataframe", "dask")
require("distributed", "dask")

from crmcore.dask._anomaly import detect_dask  # noqa: E402 (after the dependency check)
from crmcore.dask._pipeline import funnel_history_dask, score_deals_dask  # noqa: E402
from crmcore.dask._scoring import score_dask  # noqa: E402
from crmcore.dask._segments import (  # noqa: E402
    DaskConcentration,
    DaskRFM,
    concentration_dask,
    rfm_dask,
    tier_migration_dask,
    value_tiers_dask,
)
from crmcore.dask._summary import (  # noqa: E402
    DaskSummary,
    fit_from_statistics,
    summarize_dask,
)
from crmcore.dask._workers import ThreadsPlugin  # noqa: E402

__all__ = [
    "DaskConcentration",
    "DaskRFM",
    "DaskSummary",
    "ThreadsPlugin",
    "concentration_dask",
    "detect_dask",
    "fit_from_statistics",
    "funnel_history_dask",
    "rfm_dask",
    "score_dask",
    "score_deals_dask",
    "summarize_dask",
    "tier_migration_dask",
    "value_tiers_dask",
]
