"""Segments of a Dask customer base: RFM scores, value tiers (exact, from value counts),
concentration (Pareto shares, Gini, ABC) and tier migration."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import numpy as np

from crmcore._results import number
from crmcore.dask._base import by_customer, check_frame, dd, on_partitions
from crmcore.dask.partitions import in_threads, located, rfm_partition, rfm_scores_partition
from crmcore.errors import ValidationError, require
from crmcore.segmentation import (
    ABCClasses,
    Concentration,
    TierMigration,
    abc_classes,
    concentration,
    tier_migration,
    value_tiers,
)

__all__ = [
    "DaskConcentration",
    "DaskRFM",
    "concentration_dask",
    "population",
    "rfm_dask",
    "tier_migration_dask",
    "value_tiers_dask",
]


def population(column: Any) -> tuple[Any, Any]:
    """The (distinct values, counts) of a Dask Series, sorted by value: the whole base's
    distribution that :func:`crmcore.segmentation.quantile_scores` ranks a part against
    (as small as the number of distinct values). NaN values are left out here; the
    scoring refuses them by the one NaN policy.

    >>> import pandas as pd, dask.dataframe as dd
    >>> population(dd.from_pandas(pd.Series([3, 1, 3, 2]), npartitions=2))
    (array([1, 2, 3]), array([1, 1, 2]))
    """
    return _pair(column.value_counts().compute())


def _pair(counts: Any) -> tuple[Any, Any]:
    counts = counts.sort_index()
    return counts.index.to_numpy(), counts.to_numpy(dtype=np.int64)


def _dask() -> Any:
    return require("dask", "dask")


@attrs.frozen(eq=False)
class DaskRFM:
    """RFM of a Dask customer base: ``summary`` (a Dask DataFrame of the customer column,
    recency in days, frequency, monetary) and ``scores`` (the same with ``r``, ``f``, ``m``
    and ``cell``, each ranked in the whole base), with the ``populations`` behind them.

    >>> import pandas as pd, dask.dataframe as dd
    >>> rows = pd.DataFrame({"customer_id": ["a", "a", "b", "c"],
    ...     "occurred_at": pd.to_datetime(["1998-06-01", "1998-06-21", "1998-06-30", "1998-01-02"]),
    ...     "amount": [10.0, 30.0, 5.0, 1.0]})
    >>> r = rfm_dask(dd.from_pandas(rows, npartitions=2), "1998-06-30", bins=3)
    >>> r.scores.compute().sort_values("customer_id")["cell"].tolist()
    [233, 312, 111]
    """

    summary: Any
    scores: Any
    populations: dict[str, tuple[Any, Any]]
    bins: int = attrs.field(validator=number(2, integer=True))


def rfm_dask(
    frame: Any,
    as_of: Any,
    *,
    bins: int = 5,
    monetary: str = "total",
    customer: str = "customer_id",
    time: str = "occurred_at",
    amount: str = "amount",
    kind: str | None = None,
    partitioned: bool = False,
    threads: int | None = 1,
) -> DaskRFM:
    """:func:`crmcore.segmentation.rfm_from_log` of a Dask DataFrame of transactions: the
    per-customer :func:`~crmcore.segmentation.rfm_summary` on each partition, the value
    counts of recency, frequency and monetary over the whole base (one pass), then each
    partition's scores against them (the documented tie rule, exactly: a score depends
    only on how many customers have a smaller value). ``partitioned`` and ``threads`` as
    for :func:`summarize_dask` (with ``partitioned=True``, a customer found in two
    partitions is refused in the pass that counts the values).
    """
    check_frame(frame, customer, time, amount, kind)
    grouped = frame if partitioned else by_customer(frame, customer)
    summary = on_partitions(
        grouped,
        rfm_partition,
        as_of=str(np.datetime64(_instant(as_of), "us")),
        customer=customer,
        time=time,
        amount=amount,
        kind=kind,
        monetary=monetary,
        threads=threads,
    ).persist()
    names = ("recency", "frequency", "monetary")
    lazy = [summary[c].value_counts() for c in names]
    if partitioned:  # in the same pass: one summary row per customer, as promised
        lazy += [summary[customer].size, summary[customer].nunique()]
    counted = _dask().compute(*lazy)
    if partitioned and counted[3] != counted[4]:
        raise ValidationError(
            f"partitioned=True, but some customers' rows are in more than one partition: "
            f"{counted[3]} RFM rows for {counted[4]} customers; drop partitioned=True (the "
            "rows are then shuffled by customer) or write the files by customer bucket"
        )
    populations = {k: _pair(v) for k, v in zip(names, counted[:3], strict=True)}
    scores = on_partitions(
        summary,
        rfm_scores_partition,
        shared={"populations": populations},
        bins=bins,
        threads=threads,
    )
    return DaskRFM(summary, scores, populations, bins)


def _instant(value: Any) -> Any:
    from crmcore.timestamps import as_instant

    return as_instant(value, name="as_of")


def _values(column: Any, name: str) -> Any:
    if not isinstance(column, dd().Series):
        raise ValidationError(f"{name!r} must be a dask.dataframe.Series: {type(column).__name__}")
    return column.compute().to_numpy()


@attrs.frozen(eq=False)
class DaskConcentration:
    """What :func:`concentration_dask` returns: ``concentration`` (Pareto shares, Lorenz
    curve, Gini), ``abc`` (the ABC classes, in the order of ``customer_ids``) and
    ``customer_ids`` (the caller's ids of the customers, or None when only a Series of
    values was given). It unpacks as the pair ``concentration, abc`` (as before).

    >>> import pandas as pd, dask.dataframe as dd
    >>> f = dd.from_pandas(pd.DataFrame({"customer_id": ["a", "b", "c"],
    ...                                  "clv": [80.0, 15.0, 5.0]}), npartitions=2)
    >>> r = concentration_dask(f, column="clv")
    >>> r.classes().values.tolist()
    [['a', 'A'], ['b', 'B'], ['c', 'C']]
    >>> c, abc = r
    """

    concentration: Concentration
    abc: ABCClasses
    customer_ids: Any = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.concentration, self.abc))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> Any:
        return (self.concentration, self.abc)[i]

    def classes(self, customer: str = "customer_id") -> Any:
        """A pandas DataFrame of each customer's id (column ``customer``) and ABC class
        (``class``); a ValidationError when no ids were given."""
        if self.customer_ids is None:
            raise ValidationError(
                "no customer ids: call concentration_dask(frame, column=...) on a frame "
                "holding the customer column"
            )
        pd: Any = require("pandas", "dask")
        return pd.DataFrame({customer: self.customer_ids, "class": self.abc.names()})


def concentration_dask(
    values: Any,
    *,
    column: str | None = None,
    customer: str = "customer_id",
    nan_policy: str = "raise",
) -> DaskConcentration:
    """Pareto shares, Lorenz curve, Gini (:func:`crmcore.segmentation.concentration`) and
    the ABC classes (:func:`~crmcore.segmentation.abc_classes`, default cut-offs) of a Dask
    Series of per-customer values, or of a Dask DataFrame's ``column`` with its
    ``customer`` column (then the ABC classes come with the caller's ids: ``.classes()``).
    They need the whole sorted distribution: the values (one float per customer, 80 MB
    for 10 million customers; with the ids, those too) are brought to the client in one
    pass and the single-machine functions run there, so the figures are exactly theirs.

    >>> import pandas as pd, dask.dataframe as dd
    >>> c, abc = concentration_dask(dd.from_pandas(pd.Series([80.0, 10, 5, 3, 2]), npartitions=2))
    >>> round(c.top_share(0.2), 2), abc.names().tolist()
    (0.8, ['A', 'B', 'B', 'C', 'C'])
    """
    ids = None
    if column is None:
        v = _values(values, "values")
    else:
        check_frame(values, customer, column)
        both = values[[customer, column]].compute()  # one pass: ids and values aligned
        v = both[column].to_numpy()
        ids = both[customer].to_numpy(dtype=object)
    return DaskConcentration(
        concentration(v, nan_policy=nan_policy), abc_classes(v, nan_policy=nan_policy), ids
    )


def value_tiers_dask(
    frame: Any,
    column: str,
    *,
    customer: str = "customer_id",
    tiers: Sequence[str] = ("platinum", "gold", "silver", "bronze"),
    deciles: Sequence[int] = (1, 2, 3, 4),
    threads: int | None = 1,
) -> Any:
    """:func:`crmcore.segmentation.value_tiers` of a per-customer Dask DataFrame (``column``
    the value, CLV or profit): each partition tiered against the whole base's value counts,
    as a Dask DataFrame of the customer column and ``tier``.

    >>> import pandas as pd, dask.dataframe as dd
    >>> f = dd.from_pandas(pd.DataFrame({"customer_id": list("abcdefghij"),
    ...                                  "clv": [float(v) for v in range(10)]}), npartitions=3)
    >>> value_tiers_dask(f, "clv").compute()["tier"].tolist()[-3:]
    ['gold', 'gold', 'platinum']
    """
    check_frame(frame, customer, column)
    pop = population(frame[column])
    pd: Any = require("pandas", "dask")

    def part(p: Any, pop: tuple[Any, Any]) -> Any:
        try:  # the ids checked by the single-machine rule (no missing id)
            t = in_threads(
                threads,
                value_tiers,
                p[column].to_numpy(),
                customer_ids=p[customer].to_numpy(dtype=object),
                tiers=tiers,
                deciles=deciles,
                population=pop,
            )
        except ValidationError as e:
            raise located(e, p, customer, None) from e
        return pd.DataFrame(
            {
                customer: p[customer].reset_index(drop=True),
                "tier": np.asarray(t.labels(), dtype=object),
            }
        )

    return on_partitions(frame, part, shared={"pop": pop})


def tier_migration_dask(
    before: Any,
    after: Any,
    *,
    tiers: Sequence[str],
    customer: str = "customer_id",
    tier: str = "tier",
) -> TierMigration:
    """:func:`crmcore.segmentation.tier_migration` between two Dask DataFrames of (customer,
    tier): the two columns (one id and one tier per customer) are brought to the client.

    >>> import pandas as pd, dask.dataframe as dd
    >>> b = dd.from_pandas(pd.DataFrame({"customer_id": ["a", "b"], "tier": ["gold", "silver"]}), npartitions=1)
    >>> a = dd.from_pandas(pd.DataFrame({"customer_id": ["a", "c"], "tier": ["silver", "gold"]}), npartitions=1)
    >>> tier_migration_dask(b, a, tiers=["gold", "silver"]).matrix.tolist()
    [[0, 1, 0], [0, 0, 1], [1, 0, 0]]
    """
    check_frame(before, customer, tier)
    check_frame(after, customer, tier)
    b, a = _dask().compute(before[[customer, tier]], after[[customer, tier]])
    return tier_migration(
        b[customer].to_numpy(dtype=object),
        b[tier].to_numpy(dtype=object),
        a[customer].to_numpy(dtype=object),
        a[tier].to_numpy(dtype=object),
        tiers=tiers,
    )
