"""The batch anomaly engine over a Dask DataFrame of transactions, partitioned by customer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmcore.anomaly import CustomerContext, RuleSet
from crmcore.dask._base import by_customer, check_frame, on_partitions
from crmcore.dask.partitions import alerts_partition
from crmcore.errors import ValidationError
from crmcore.options import expect_instance
from crmcore.serialization import to_dict, to_json

__all__ = ["detect_dask"]


def detect_dask(
    frame: Any,
    ruleset: RuleSet,
    customers: Mapping[str, CustomerContext] | None = None,
    *,
    customer: str = "customer_id",
    time: str = "occurred_at",
    amount: str = "amount",
    kind: str | None = None,
    id: str = "id",
    unknown_customers: str = "queue",
    team_queue: str | None = None,
    partitioned: bool = False,
    threads: int | None = 1,
) -> Any:
    """Every alert of :func:`crmcore.anomaly.detect` over a Dask DataFrame of transactions,
    as a Dask DataFrame of :class:`~crmcore.anomaly.AlertTable` rows. Every rule reads one
    customer's own history, so each partition (all of its customers' rows) gives exactly
    that customer's alerts, with the same ids; ``id`` is the transaction id column, which
    names the alerts. The rule set travels as its JSON, ``customers`` as dicts.
    ``partitioned`` and ``threads`` as for :func:`summarize_dask`.

    >>> import pandas as pd, dask.dataframe as dd
    >>> from crmcore.anomaly import Threshold
    >>> rows = pd.DataFrame({"customer_id": ["c-1", "c-1", "c-2"], "id": ["t-1", "t-2", "t-3"],
    ...     "occurred_at": pd.to_datetime(["2025-01-02", "2025-01-05", "2025-01-03"]),
    ...     "amount": [50.0, 9_000.0, 20.0], "kind": ["deposit", "withdrawal", "deposit"]})
    >>> rs = RuleSet(name="bank", rules=[Threshold(name="big", at_least=5_000)])
    >>> detect_dask(dd.from_pandas(rows, npartitions=2), rs, kind="kind").compute()[
    ...     ["customer_id", "transaction_ids"]].values.tolist()
    [['c-1', 't-2']]
    """
    ruleset = expect_instance(ruleset, RuleSet, name="ruleset")
    check_frame(frame, customer, time, amount, kind, id)
    if customers is not None and not isinstance(customers, Mapping):
        raise ValidationError(
            f"'customers' must be a mapping of customer id to CustomerContext: {customers!r}"[:200]
        )
    ctx = None if customers is None else {str(k): to_dict(v) for k, v in customers.items()}
    grouped = frame if partitioned else by_customer(frame, customer)
    return on_partitions(
        grouped,
        alerts_partition,
        ruleset=to_json(ruleset),
        customers=ctx,
        customer=customer,
        time=time,
        amount=amount,
        kind=kind,
        id=id,
        unknown_customers=unknown_customers,
        team_queue=team_queue,
        threads=threads,
    )
