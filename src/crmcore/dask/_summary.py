"""Transaction summaries of a Dask DataFrame, their sufficient statistics and the fits."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from crmcore._results import number
from crmcore.dask._base import by_customer, check_frame, kinds_mask, on_partitions
from crmcore.dask.partitions import summary_partition
from crmcore.durations import as_time_unit
from crmcore.errors import ValidationError, require
from crmcore.timestamps import as_instant
from crmcore.valuation import RFMSummary, summarize_arrays

__all__ = ["DaskSummary", "fit_from_statistics", "summarize_dask"]


@attrs.frozen(eq=False)
class DaskSummary:
    """Per-customer summaries as a Dask DataFrame (``frame``: the customer column,
    frequency, recency, T, monetary_value, and with a holdout holdout_frequency and
    holdout_monetary_value), with the dates, unit and period they were computed with.

    >>> import pandas as pd, dask.dataframe as dd
    >>> rows = pd.DataFrame({"customer_id": ["a", "a", "b", "b"],
    ...     "occurred_at": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-05", "2024-01-09"]),
    ...     "amount": [10.0, 7.0, 3.0, 2.0]})
    >>> s = summarize_dask(dd.from_pandas(rows, npartitions=2))
    >>> s.purchase_statistics()
       frequency  recency    T  count
    0        1.0      4.0  4.0      1
    1        1.0      7.0  8.0      1
    """

    frame: Any
    time_unit: str
    period: str
    calibration_end: np.datetime64
    observation_end: np.datetime64
    holdout_duration: float | None = attrs.field(validator=number(0, optional=True))
    customer: str = "customer_id"
    partitioned: bool = False

    def persist(self) -> DaskSummary:
        """The same summary with its frame computed and kept in the workers' memory (for
        several passes: statistics, then scoring).

        >>> import pandas as pd, dask.dataframe as dd
        >>> rows = pd.DataFrame({"customer_id": ["a"], "amount": [1.0],
        ...                      "occurred_at": pd.to_datetime(["2024-01-01"])})
        >>> len(summarize_dask(dd.from_pandas(rows, npartitions=1)).persist().frame)
        1
        """
        return attrs.evolve(self, frame=self.frame.persist())

    def purchase_statistics(self) -> Any:
        """The sufficient statistics of the purchase models: the distinct (frequency,
        recency, T) rows with the number of customers of each (``count``), sorted, as a
        small pandas DataFrame (its ``attrs["time_unit"]`` the summary's unit). A fit
        given them as weights equals the fit on every customer (see
        :func:`fit_from_statistics`)."""
        return self._counts(["frequency", "recency", "T"], self.frame)

    def spend_statistics(self) -> Any:
        """The sufficient statistics of Gamma-Gamma: the distinct (frequency,
        monetary_value) rows of the repeat customers (frequency > 0) with their ``count``."""
        f = self.frame
        return self._counts(["frequency", "monetary_value"], f[f["frequency"] > 0])

    def _counts(self, columns: list[str], frame: Any) -> Any:
        lazy = frame.groupby(columns).size()
        if self.partitioned:  # one pass: the counts, the summary rows, the distinct customers
            ids = self.frame[self.customer]
            counts, rows, distinct = _dask().compute(lazy, ids.size, ids.nunique())
            self._check_partitioned(int(rows), int(distinct))
        else:
            counts = lazy.compute()
        out = counts.rename("count").reset_index().sort_values(columns, ignore_index=True)
        out["count"] = out["count"].astype(np.int64)
        out.attrs["time_unit"] = self.time_unit
        return out

    def _check_partitioned(self, rows: int, distinct: int) -> None:
        """With ``partitioned=True``, one summary row per customer, or a clear error."""
        if rows != distinct:
            raise ValidationError(
                f"partitioned=True, but some customers' rows are in more than one partition: "
                f"{rows} summary rows for {distinct} customers (each split customer is "
                "summarised once per partition, with wrong figures); drop partitioned=True "
                "(the rows are then shuffled by customer) or write the files by customer bucket"
            )

    def compute(self) -> RFMSummary:
        """The whole summary in memory, as the single-machine :class:`RFMSummary` (customers
        in the order of their ids): for bases that fit in memory (tests, checks)."""
        pdf = self.frame.compute().sort_values(self.customer, ignore_index=True)
        if self.partitioned:
            self._check_partitioned(len(pdf), int(pdf[self.customer].nunique()))
        holdout = "holdout_frequency" in pdf.columns
        return RFMSummary(
            customer_ids=pdf[self.customer].to_numpy(dtype=object),
            frequency=pdf["frequency"].to_numpy(np.float64),
            recency=pdf["recency"].to_numpy(np.float64),
            T=pdf["T"].to_numpy(np.float64),
            monetary_value=pdf["monetary_value"].to_numpy(np.float64),
            time_unit=self.time_unit,
            period=self.period,
            calibration_end=self.calibration_end,
            observation_end=self.observation_end,
            holdout_frequency=pdf["holdout_frequency"].to_numpy(np.float64) if holdout else None,
            holdout_monetary_value=(
                pdf["holdout_monetary_value"].to_numpy(np.float64) if holdout else None
            ),
            holdout_duration=self.holdout_duration,
        )


def _dask() -> Any:
    """The ``dask`` module (the extra's)."""
    return require("dask", "dask")


def _last_day(frame: Any, time: str, kind: str | None, kinds: tuple[str, ...]) -> np.datetime64:
    """The day of the last transaction of ``kinds`` (the single-machine default end)."""
    col = frame[time]
    mask = kinds_mask(frame, kind, kinds)
    if mask is not None:
        col = col[mask]
    last = col.max().compute()
    if last is None or str(last) in ("NaT", "nan", "<NA>"):
        raise ValidationError("the log holds no transactions of the kinds " + repr(kinds))
    if getattr(last, "tzinfo", None) is not None:  # an aware column: its UTC instant
        last = last.tz_convert("UTC").tz_localize(None)
    if hasattr(last, "to_datetime64"):  # naive pandas times are UTC (as in from_frame)
        last = last.to_datetime64()
    day: np.datetime64 = as_instant(last, name=time).astype("datetime64[D]")
    return day


def summarize_dask(
    frame: Any,
    *,
    customer: str = "customer_id",
    time: str = "occurred_at",
    amount: str = "amount",
    kind: str | None = None,
    time_unit: str = "D",
    period: str = "D",
    calibration_end: Any = None,
    observation_end: Any = None,
    kinds: tuple[str, ...] = ("purchase",),
    partitioned: bool = False,
    threads: int | None = 1,
) -> DaskSummary:
    """:func:`crmcore.valuation.summarize_transactions` of a Dask DataFrame of transactions
    (columns named by ``customer``, ``time``, ``amount`` and optionally ``kind``), customer
    by customer, with the same options and defaults (the observation end defaults to the
    day of the last transaction, read in one pass).

    The rows are first shuffled by customer so that each customer's rows are in one
    partition; ``partitioned=True`` skips that when they already are (Parquet written by
    customer bucket). It requires every customer's rows in one partition: a customer
    split across partitions would be summarised once per partition (each with part of
    its rows), so ``purchase_statistics``, ``spend_statistics`` and ``compute`` check
    that there is one summary row per customer and raise a ValidationError naming
    ``partitioned=True`` otherwise. ``threads`` is crmcore's thread setting inside each partition
    (default 1: off, the Dask workers are the parallelism; None: the worker's setting).
    Each customer's figures equal the single-machine summary of the same rows ordered by
    customer, time and amount (each partition is put in that order, so the sum of
    several purchases in one period does not depend on the order Dask delivers them in).
    """
    check_frame(frame, customer, time, amount, kind)
    as_time_unit(time_unit)
    as_time_unit(period, name="period")
    obs = (
        as_instant(observation_end, name="observation_end").astype("datetime64[D]")
        if observation_end is not None
        else _last_day(frame, time, kind, kinds)
    )
    cal = (
        as_instant(calibration_end, name="calibration_end").astype("datetime64[D]")
        if calibration_end is not None
        else obs
    )
    if cal > obs:
        raise ValidationError(
            f"'calibration_end' must not be after 'observation_end': {cal} > {obs}"
        )
    # the holdout length by the single-machine rule (a one-row summary over the same dates)
    probe = summarize_arrays(
        ["probe"],
        [cal],
        [0.0],
        time_unit=time_unit,
        period=period,
        calibration_end=cal,
        observation_end=obs,
    )
    grouped = frame if partitioned else by_customer(frame, customer)
    out = on_partitions(
        grouped,
        summary_partition,
        calibration_end=str(cal),
        observation_end=str(obs),
        customer=customer,
        time=time,
        amount=amount,
        kind=kind,
        time_unit=time_unit,
        period=period,
        kinds=tuple(kinds),
        threads=threads,
    )
    return DaskSummary(
        out, time_unit, period, cal, obs, probe.holdout_duration, customer, partitioned
    )


def fit_from_statistics(fit: Callable[..., Any], statistics: Any, **options: Any) -> Any:
    """Fit a model with ``fit`` (``fit_bgnbd``, ``fit_mbgnbd``, ``fit_pareto_nbd``,
    ``fit_ggompertz_nbd``, ``fit_bgbb`` or ``fit_gamma_gamma``) from the sufficient
    statistics of :meth:`DaskSummary.purchase_statistics` (or ``spend_statistics`` for
    Gamma-Gamma), each row weighted by its count: the fit on every customer, since the fits
    merge identical rows into weights themselves. The summary's time unit is passed on
    where the fit takes one; ``options`` go to ``fit``. BG/BB takes T as its number of
    periods (a summary whose period is its unit, recency and T whole numbers).

    >>> import pandas as pd
    >>> from crmcore.valuation import fit_gamma_gamma
    >>> stats = pd.DataFrame({"frequency": [1.0, 2.0, 3.0], "monetary_value": [10.0, 12.0, 9.0],
    ...                       "count": [2, 1, 1]})
    >>> round(fit_from_statistics(fit_gamma_gamma, stats).params.p, 3) > 0
    True
    """
    if not callable(fit):
        raise ValidationError(f"'fit' must be a fit function such as fit_bgnbd: {fit!r}"[:200])
    cols = list(getattr(statistics, "columns", []))
    if "count" not in cols:
        raise ValidationError(
            "'statistics' must be the table of purchase_statistics() or spend_statistics() "
            f"(columns ... and 'count'): {cols}"
        )
    weights = statistics["count"].to_numpy(dtype=np.float64)
    params = inspect.signature(fit).parameters
    unit = getattr(statistics, "attrs", {}).get("time_unit")
    if "time_unit" in params and unit is not None and "time_unit" not in options:
        options["time_unit"] = unit
    if "monetary_value" in cols:
        args = [statistics["frequency"], statistics["monetary_value"]]
    elif {"frequency", "recency", "T"} <= set(cols):
        args = [statistics["frequency"], statistics["recency"], statistics["T"]]
    else:
        raise ValidationError(
            "'statistics' must hold frequency, recency and T, or frequency and "
            f"monetary_value: {cols}"
        )
    return fit(*(a.to_numpy(dtype=np.float64) for a in args), weights=weights, **options)
