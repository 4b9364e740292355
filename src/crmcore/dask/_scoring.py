"""Scoring a Dask summary with fitted models (P(alive), expected purchases, CLV)."""

from __future__ import annotations

from typing import Any

from crmcore.dask._base import on_partitions
from crmcore.dask._summary import DaskSummary
from crmcore.dask.partitions import score_partition
from crmcore.errors import ValidationError
from crmcore.options import expect_instance
from crmcore.serialization import to_json
from crmcore.valuation import GammaGammaModel, PurchaseModel

__all__ = ["score_dask"]


def score_dask(
    summary: DaskSummary,
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel | None = None,
    *,
    t: float = 1.0,
    horizon: int = 12,
    discount_rate: float = 0.01,
    margin: float = 1.0,
    threads: int | None = 1,
) -> Any:
    """Every customer's P(alive), expected purchases over ``t`` and CLV, as a Dask
    DataFrame (the customer column, ``p_alive``, ``expected_purchases``, ``clv``): the
    models' own methods and :func:`~crmcore.valuation.customer_lifetime_value` on each
    partition. The models travel to the workers as their JSON.

    >>> import pandas as pd, dask.dataframe as dd
    >>> from crmcore.valuation import BGNBDModel, BGNBDParams
    >>> rows = pd.DataFrame({"customer_id": ["a", "a", "b"],
    ...     "occurred_at": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-05"]),
    ...     "amount": [10.0, 7.0, 3.0]})
    >>> from crmcore.dask import summarize_dask
    >>> s = summarize_dask(dd.from_pandas(rows, npartitions=1), observation_end="2024-01-10")
    >>> m = BGNBDModel(BGNBDParams(0.5, 5.0, 0.8, 2.5), time_unit="D")
    >>> score_dask(s, m).compute()["p_alive"].round(3).tolist()
    [0.713, 1.0]
    """
    summary = expect_instance(summary, DaskSummary, name="summary")
    if not isinstance(purchase_model, PurchaseModel):
        raise ValidationError(
            f"'purchase_model' must be a fitted purchase model: {purchase_model!r}"[:200]
        )
    unit = getattr(purchase_model, "time_unit", None)
    if unit is not None and unit != summary.time_unit:
        raise ValidationError(
            f"the summary is in time unit {summary.time_unit!r} and the purchase model in "
            f"{unit!r}: summarise in the model's unit"
        )
    if spend_model is not None:
        spend_model = expect_instance(spend_model, GammaGammaModel, name="spend_model")
    return on_partitions(
        summary.frame,
        score_partition,
        purchase_model=to_json(purchase_model),
        spend_model=None if spend_model is None else to_json(spend_model),
        customer=summary.customer,
        t=t,
        horizon=horizon,
        discount_rate=discount_rate,
        margin=margin,
        threads=threads,
    )
