"""RFM: recency, frequency and monetary scores by quantile, and named segments.

Score of a value ``v`` among ``n`` customers with ``q`` bins:

* frequency and monetary: ``1 + floor(q · #{values < v} / n)``;
* recency (days since the last purchase; smaller is better) is reversed:
  ``1 + floor(q · #{values > v} / n)``.

Tie policy: the score depends on the value only (the rank of the first
occurrence of the value), so tied customers always get the same score and
ties are never split across bins; when many customers share a value (one
purchase), the bins are uneven and some scores may be absent. Scores lie in
``1..q`` and are monotone in the value. Computed from ``q − 1`` order
statistics of one sort.

NaN rows follow the one NaN policy of :mod:`crmcore.arrays`: ``raise``
(default); ``omit`` scores the rows kept among themselves and returns their
scores only; ``propagate`` returns a score for every row, 0 (unscored) for a
NaN row, which does not move the others' scores.

>>> quantile_scores([10, 20, 30, 40, 50], bins=5).tolist()
[1, 2, 3, 4, 5]
>>> quantile_scores([1, 1, 1, 2, 5], bins=5).tolist()
[1, 1, 1, 4, 5]
>>> quantile_scores([3, 30, 300], bins=3, reverse=True).tolist()
[3, 2, 1]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, decode, texts
from crmcore._results import array, number
from crmcore.arrays import (
    FloatArray,
    IntArray,
    NanSplit,
    apply_nan_policy,
    as_int_array,
    check_same_length,
    validate_nan_policy,
)
from crmcore.errors import ConfigurationError, ValidationError
from crmcore.labels import check_labels
from crmcore.model._fields import as_tuple, instance, name_text, tuple_of
from crmcore.options import as_choice, as_count, expect_instance
from crmcore.segmentation.concentration import _count_exceeding
from crmcore.tables import TransactionLog
from crmcore.timestamps import as_instant

__all__ = [
    "DEFAULT_SEGMENTS",
    "RFMScores",
    "RFMSummary",
    "SegmentMap",
    "SegmentRule",
    "SegmentTable",
    "Segments",
    "quantile_scores",
    "rfm_from_log",
    "rfm_scores",
    "rfm_summary",
    "segment_table",
]

_DAY_US = 86_400_000_000


def _check_bins(bins: int) -> int:
    return as_count(bins, name="bins", low=2, high=100)


def quantile_scores(
    values: npt.ArrayLike,
    bins: int = 5,
    *,
    reverse: bool = False,
    nan_policy: str = "raise",
    name: str = "values",
    population: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
) -> npt.NDArray[np.int8]:
    """Quantile scores ``1..bins`` (see the module docstring for the formula and tie policy).

    ``reverse=True`` gives the highest score to the smallest values (recency).
    Empty input gives an empty array. ``nan_policy``: ``"raise"`` (default);
    ``"omit"``: the scores of the rows kept, ranked among themselves;
    ``"propagate"``: NaN rows get score 0 (unscored) and are left out of the ranking.

    ``population`` (distinct values, their counts) ranks ``values`` among that
    population instead of among themselves: the same formula with ``n`` = the total
    count, so a part of a customer base (a partition of a Dask DataFrame,
    :mod:`crmcore.dask`) is scored exactly as the whole base would be, from the
    base's value counts only.

    >>> quantile_scores([4.0, float("nan"), 1.0], bins=2, nan_policy="propagate").tolist()
    [2, 0, 1]
    >>> quantile_scores([4.0, float("nan"), 1.0], bins=2, nan_policy="omit").tolist()
    [2, 1]
    >>> quantile_scores([1, 5], bins=5, population=([1, 2, 5], [3, 1, 1])).tolist()
    [1, 5]
    """
    q = _check_bins(bins)
    validate_nan_policy(nan_policy)
    if population is not None:
        split = apply_nan_policy({name: values}, policy=nan_policy)
        cuts, cmp = _population_cuts(population, q, reverse, name)
        return _fill_unscored(split, 1 + _count_exceeding(_complete(split, name), cuts, cmp))
    raw = np.asarray(values)
    if raw.dtype.kind in "iu" and raw.ndim == 1:  # integers hold no NaN: every policy agrees
        return _scores(raw.astype(np.int64, copy=False), q, reverse)
    split = apply_nan_policy({name: values}, policy=nan_policy)
    return _fill_unscored(split, _scores(_complete(split, name), q, reverse))


def _cut_positions(n: int, q: int, reverse: bool) -> IntArray:
    """Sorted positions of the ``q - 1`` order statistics the scores compare against:
    score >= j+1  ⇔  v > s[m_j − 1]  (or v < s[n − m_j] reversed), m_j = ceil(j·n/q)."""
    m = -((-np.arange(1, q, dtype=np.int64) * n) // q)
    out: IntArray = n - m if reverse else m - 1
    return out


def _population_cuts(
    population: tuple[npt.ArrayLike, npt.ArrayLike], q: int, reverse: bool, name: str
) -> tuple[FloatArray, Any]:
    """The order statistics of a population given as (distinct values, counts)."""
    if not isinstance(population, tuple) or len(population) != 2:
        raise ValidationError(
            f"'population' must be a pair (distinct values, counts): {population!r}"[:200]
        )
    split = apply_nan_policy({name: population[0]}, policy="raise")
    vals = split.arrays[name]
    counts = as_int_array(population[1], name="population counts")
    check_same_length(population_values=vals, population_counts=counts)
    if len(vals) and (counts.min() < 0 or (len(vals) > 1 and (np.diff(vals) <= 0).any())):
        raise ValidationError(
            "'population' must hold distinct values in increasing order and counts >= 0"
        )
    n = int(counts.sum())
    if n == 0:
        raise ValidationError("'population' must count at least one value")
    cum = np.cumsum(counts)
    cuts = vals[np.searchsorted(cum, _cut_positions(n, q, reverse), side="right")]
    return cuts, np.less if reverse else np.greater


def _complete(split: NanSplit, name: str) -> FloatArray:
    x = split.arrays[name]
    return x[split.complete] if split.has_missing else x


def _fill_unscored(split: NanSplit, scores: npt.NDArray[np.int8]) -> npt.NDArray[np.int8]:
    """Scores of the complete rows placed back on every row, 0 (unscored) on a NaN row."""
    if not split.has_missing:
        return scores
    out = np.zeros(len(split.complete), dtype=np.int8)
    out[split.complete] = scores
    return out


def _scores(x: npt.NDArray[Any], q: int, reverse: bool) -> npt.NDArray[np.int8]:
    """Quantile scores of values free of NaN and inf (integers counted, floats sorted once)."""
    if x.dtype.kind in "iu":
        fast = _counting_scores(x, q, reverse)
        if fast is not None:
            return fast
        x = x.astype(np.float64)
    head = x[:1024]
    if len(x) and np.array_equal(head, np.floor(head)):  # cheap reject of non-integers first
        with np.errstate(invalid="ignore"):  # huge values do not cast; they fail the test
            whole = x.astype(np.int64)
        if np.array_equal(whole, x):  # whole numbers (days, counts): no sort needed
            fast = _counting_scores(whole, q, reverse)
            if fast is not None:
                return fast
    s = np.sort(x)
    n = len(s)
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    th, cmp = s[_cut_positions(n, q, reverse)], np.less if reverse else np.greater
    out = _count_exceeding(x, th, cmp)
    out += 1
    return out


def _counting_scores(
    ints: npt.NDArray[np.int64], q: int, reverse: bool
) -> npt.NDArray[np.int8] | None:
    """The same scores by counting (bincount) when the values are integers in a small range."""
    n = len(ints)
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    lo, hi = int(ints.min()), int(ints.max())
    if hi - lo > 4 * n + 1024:
        return None
    shifted = ints - lo
    cnt = np.bincount(shifted, minlength=hi - lo + 1)
    upto = np.cumsum(cnt)
    worse = n - upto if reverse else upto - cnt  # #values > v, or #values < v
    table = (1 + (q * worse) // n).astype(np.int8)
    out: npt.NDArray[np.int8] = table[shifted]
    return out


@attrs.frozen(eq=False)
class RFMSummary(Tabular):
    """Per-customer recency (days since the last purchase), frequency and monetary value.

    Build it from a :class:`~crmcore.tables.TransactionLog` with :func:`rfm_summary`.

    >>> log = TransactionLog.from_arrays(customer_ids=["a"], timestamps=["2020-01-01"], amounts=[3.0])
    >>> len(rfm_summary(log, "2020-01-11")), rfm_summary(log, "2020-01-11").recency.tolist()
    (1, [10.0])
    """

    customer_ids: npt.NDArray[Any] = attrs.field(validator=array("O"))
    recency: FloatArray = attrs.field(validator=array(lo=0, length="customer_ids"))
    frequency: IntArray = attrs.field(validator=array("i", lo=0, length="customer_ids"))
    monetary: FloatArray = attrs.field(validator=array(length="customer_ids"))
    as_of: np.datetime64 = attrs.field(validator=array("M", ndim=None))

    def __len__(self) -> int:
        return len(self.customer_ids)

    def _columns(self) -> Columns:
        return {
            "customer_id": self.customer_ids,
            "recency": self.recency,
            "frequency": self.frequency,
            "monetary": self.monetary,
        }


def rfm_summary(
    log: TransactionLog,
    as_of: datetime | np.datetime64 | str,
    *,
    monetary: str = "total",
) -> RFMSummary:
    """Summarise a transaction log per customer as of a date, vectorized.

    Rows after ``as_of`` are ignored. ``frequency`` counts purchase rows,
    ``recency`` is in days from the last purchase to ``as_of``, ``monetary``
    is the ``"total"`` (default) or ``"mean"`` of purchases net of refunds.
    Customers without a purchase by ``as_of`` are left out.

    >>> log = TransactionLog.from_arrays(customer_ids=["a", "a", "b"],
    ...     timestamps=["1998-06-01", "1998-06-21", "1998-06-30"], amounts=[10.0, 30.0, 5.0])
    >>> r = rfm_summary(log, "1998-06-30")
    >>> r.customer_ids.tolist(), r.recency.tolist(), r.frequency.tolist(), r.monetary.tolist()
    (['a', 'b'], [9.0, 0.0], [2, 1], [40.0, 5.0])
    """
    expect_instance(log, TransactionLog, name="log")
    monetary = as_choice(monetary, name="monetary", allowed=("total", "mean"))
    t_end = as_instant(as_of, name="as_of")
    n = log.n_customers
    inside = log.time <= t_end
    purchase = inside & (log.kind == 0)
    refund = inside & (log.kind == 1)
    if purchase.all():  # the common case: no copies of the columns
        cust, amount, when = log.customer, log.amount, log.time
    else:
        cust, amount, when = log.customer[purchase], log.amount[purchase], log.time[purchase]
    freq = np.bincount(cust, minlength=n)
    money = np.bincount(cust, weights=amount, minlength=n)
    if refund.any():
        money -= np.bincount(log.customer[refund], weights=log.amount[refund], minlength=n)
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, cust, when.view(np.int64))
    keep = freq > 0
    end_us = t_end.astype("datetime64[us]").view(np.int64)
    recency = (end_us - last[keep]) / _DAY_US
    f = freq[keep].astype(np.int64)
    mon: FloatArray = money[keep].astype(np.float64)
    if monetary == "mean":
        mon = mon / f
    return RFMSummary(log.customer_ids[keep], recency, f, mon, t_end)


def _score_range(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    ok = (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and 1 <= value[0] <= value[1]
    )
    if not ok:
        raise ConfigurationError(
            f"segment {getattr(inst, 'name', '?')!r}: {attribute.name!r} must be a range (low, high) of integers "
            f"with 1 <= low <= high: {value!r}"
        )


@attrs.frozen
class SegmentRule:
    """A named segment: inclusive score ranges ``(low, high)`` for R, F and M.

    >>> SegmentRule("champions", recency=(5, 5), frequency=(4, 5)).monetary
    (1, 100)
    """

    name: str = attrs.field(validator=name_text(error=ConfigurationError))
    recency: tuple[int, int] = attrs.field(default=(1, 100), validator=_score_range)
    frequency: tuple[int, int] = attrs.field(default=(1, 100), validator=_score_range)
    monetary: tuple[int, int] = attrs.field(default=(1, 100), validator=_score_range)


@attrs.frozen
class SegmentMap:
    """Score patterns → segment names; the first matching rule wins, else ``default``.

    ``bins`` (when set) is the number of bins the rules were written for.

    >>> SegmentMap((SegmentRule("top", recency=(2, 2), frequency=(2, 2)),), default="rest").default
    'rest'
    """

    rules: tuple[SegmentRule, ...] = attrs.field(
        converter=as_tuple,
        validator=tuple_of(SegmentRule, "a SegmentRule", error=ConfigurationError),
    )
    default: str = attrs.field(default="other", validator=name_text(error=ConfigurationError))
    bins: int | None = attrs.field(
        default=None, validator=instance(int, "an integer", optional=True, error=ConfigurationError)
    )

    def lookup(self, bins: int) -> tuple[npt.NDArray[np.int16], tuple[str, ...]]:
        """A ``(bins+1)³`` table of segment codes (index 0 = unscored) and the segment names.

        >>> table, names = DEFAULT_SEGMENTS.lookup(5)
        >>> names[table[5, 5, 5]], names[table[1, 1, 1]]
        ('champions', 'lost')
        """
        if self.bins is not None and self.bins != bins:
            raise ConfigurationError(
                f"this segment map is written for {self.bins} bins, the scores have {bins}"
            )
        names = tuple(dict.fromkeys([*(r.name for r in self.rules), self.default, "unscored"]))
        code = {nm: i for i, nm in enumerate(names)}
        table = np.full((bins + 1,) * 3, code[self.default], dtype=np.int16)
        done = np.zeros((bins + 1,) * 3, dtype=bool)
        idx = np.arange(bins + 1)
        for rule in self.rules:
            r = (idx >= rule.recency[0]) & (idx <= rule.recency[1])
            f = (idx >= rule.frequency[0]) & (idx <= rule.frequency[1])
            m = (idx >= rule.monetary[0]) & (idx <= rule.monetary[1])
            hit = r[:, None, None] & f[None, :, None] & m[None, None, :] & ~done
            table[hit] = code[rule.name]
            done |= hit
        table[0, :, :] = table[:, 0, :] = table[:, :, 0] = code["unscored"]
        return table, names


DEFAULT_SEGMENTS = SegmentMap(
    rules=(
        SegmentRule("champions", recency=(5, 5), frequency=(4, 5)),
        SegmentRule("loyal", recency=(3, 4), frequency=(4, 5)),
        SegmentRule("potential loyalist", recency=(4, 5), frequency=(2, 3)),
        SegmentRule("new", recency=(5, 5), frequency=(1, 1)),
        SegmentRule("promising", recency=(4, 4), frequency=(1, 1)),
        SegmentRule("need attention", recency=(3, 3), frequency=(3, 3)),
        SegmentRule("about to sleep", recency=(3, 3), frequency=(1, 2)),
        SegmentRule("can't lose", recency=(1, 2), frequency=(5, 5)),
        SegmentRule("at risk", recency=(1, 2), frequency=(3, 4)),
        SegmentRule("hibernating", recency=(2, 2), frequency=(1, 2)),
        SegmentRule("lost", recency=(1, 1), frequency=(1, 2)),
    ),
    default="other",
    bins=5,
)
"""The shipped map for 5 bins, on R and F (M is reported beside it); it covers all 25 RF cells."""


@attrs.frozen(eq=False)
class Segments(Tabular):
    """Segment code per customer, the names the codes index, and counts per name.

    >>> Segments(np.array([1, 0, 1], dtype=np.int16), ("a", "b")).labels().tolist()
    ['b', 'a', 'b']
    """

    codes: npt.NDArray[np.int16] = attrs.field(validator=array("i", lo=-1))
    names: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a segment name"))

    def counts(self) -> dict[str, int]:
        """Customers per segment (segments with none left out), in map order.

        >>> s = rfm_scores([1, 50], [9, 1], [100, 5], bins=2).segments(
        ...     SegmentMap((SegmentRule("best", recency=(2, 2)),), default="rest"))
        >>> s.counts()
        {'best': 1, 'rest': 1}
        """
        c = np.bincount(self.codes, minlength=len(self.names))
        return {nm: int(k) for nm, k in zip(self.names, c, strict=True) if k}

    def labels(self) -> npt.NDArray[np.str_]:
        """The segment name of every customer."""
        return np.array(self.names)[self.codes]

    def _columns(self) -> Columns:
        return {"segment": decode(self.names, self.codes)}


@attrs.frozen(eq=False)
class RFMScores(Tabular):
    """R, F and M scores (``1..bins``, 0 = unscored NaN row) of each customer.

    >>> rfm_scores([1, 9], [3, 1], [50.0, 5.0], bins=2).recency.tolist()
    [2, 1]
    """

    recency: npt.NDArray[np.int8] = attrs.field(validator=array("i", lo=0))
    frequency: npt.NDArray[np.int8] = attrs.field(validator=array("i", lo=0, length="recency"))
    monetary: npt.NDArray[np.int8] = attrs.field(validator=array("i", lo=0, length="recency"))
    bins: int = attrs.field(validator=number(1, integer=True))
    customer_ids: npt.NDArray[Any] | None = attrs.field(
        default=None, validator=array("O", length="recency", optional=True)
    )

    def cells(self) -> IntArray:
        """The classic three-digit cell ``100·R + 10·F + M`` (555 = best with 5 bins).

        >>> rfm_scores([1, 50], [9, 1], [100, 5], bins=2).cells().tolist()
        [222, 111]
        """
        return (
            self.recency.astype(np.int64) * 100
            + self.frequency.astype(np.int64) * 10
            + self.monetary.astype(np.int64)
        )

    def segments(self, segment_map: SegmentMap = DEFAULT_SEGMENTS) -> Segments:
        """Name every customer's segment with ``segment_map`` (a table lookup, vectorized).

        >>> s = rfm_scores([0, 10, 20, 30, 400], [12, 5, 4, 3, 1], [900.0, 80, 70, 60, 10])
        >>> s.segments().labels().tolist()
        ['champions', 'loyal', 'need attention', 'hibernating', 'lost']
        """
        table, names = segment_map.lookup(self.bins)
        side = self.bins + 1
        cell = self.recency.astype(np.int32)  # flat cell index, built in place
        cell *= side
        cell += self.frequency
        cell *= side
        cell += self.monetary
        return Segments(table.ravel().take(cell), names)

    def _columns(self) -> Columns:
        ids = {} if self.customer_ids is None else {"customer_id": self.customer_ids}
        return {
            **ids,
            "recency": self.recency,
            "frequency": self.frequency,
            "monetary": self.monetary,
            "cell": self.cells(),
        }


def rfm_scores(
    recency: npt.ArrayLike,
    frequency: npt.ArrayLike,
    monetary: npt.ArrayLike,
    *,
    bins: int = 5,
    nan_policy: str = "raise",
    customer_ids: npt.ArrayLike | None = None,
) -> RFMScores:
    """RFM scores from per-customer arrays (recency in any time unit; smaller = more recent).

    A customer is missing when any of the three is NaN (the one NaN policy):
    ``omit`` scores the other customers among themselves and returns theirs
    only (``customer_ids`` kept alongside); ``propagate`` gives a missing
    customer 0 on all three scores without moving the others'.

    >>> s = rfm_scores([2, 30, 300], [5, 2, 1], [500.0, 80.0, 20.0], bins=3)
    >>> s.recency.tolist(), s.frequency.tolist(), s.monetary.tolist()
    ([3, 2, 1], [3, 2, 1], [3, 2, 1])
    """
    q = _check_bins(bins)
    given = {"recency": recency, "frequency": frequency, "monetary": monetary}
    raw = {k: np.asarray(v) for k, v in given.items()}
    # integer columns hold no NaN and stay integers (their scores are counted, not sorted)
    ints = {k: a for k, a in raw.items() if a.dtype.kind in "iu" and a.ndim == 1}
    others = {k: given[k] for k in given if k not in ints}
    if others:
        split = apply_nan_policy(others, policy=nan_policy)
    else:
        validate_nan_policy(nan_policy)
        n = len(next(iter(ints.values())))
        split = NanSplit(arrays={}, mask=np.ones(n, bool), complete=np.ones(n, bool))
    check_same_length(**{k: ints.get(k, split.mask) for k in given})
    ids = None if customer_ids is None else check_labels(customer_ids, name="customer_ids")
    if ids is not None:
        check_same_length(customer_ids=ids, recency=split.mask)
    arrays: dict[str, npt.NDArray[Any]] = {}
    for key in given:
        a = ints[key][split.mask] if key in ints and split.dropped else ints.get(key)
        a = split.arrays[key] if a is None else a
        arrays[key] = a[split.complete] if split.has_missing else a
        if key != "monetary" and (arrays[key] < 0).any():
            i = int(np.flatnonzero(arrays[key] < 0)[0])
            row = split.rows[split.complete][i]  # the caller's row
            raise ValidationError(f"{key!r} must be >= 0: {arrays[key][i]} at index {row}")
    if ids is not None and split.dropped:
        ids = ids[split.mask]
    r = _fill_unscored(split, _scores(arrays["recency"], q, True))
    f = _fill_unscored(split, _scores(arrays["frequency"], q, False))
    m = _fill_unscored(split, _scores(arrays["monetary"], q, False))
    return RFMScores(r, f, m, q, ids)


def rfm_from_log(
    log: TransactionLog,
    as_of: datetime | np.datetime64 | str,
    *,
    bins: int = 5,
    monetary: str = "total",
) -> tuple[RFMSummary, RFMScores]:
    """Summarise the log as of a date (:func:`rfm_summary`) and score it (:func:`rfm_scores`).

    >>> from crmcore.datasets import load_cdnow_sample
    >>> summary, scores = rfm_from_log(load_cdnow_sample(), "1998-06-30")
    >>> len(summary), scores.segments().counts()["champions"]
    (2357, 414)
    """
    expect_instance(log, TransactionLog, name="log")
    summary = rfm_summary(log, as_of, monetary=monetary)
    scores = rfm_scores(
        summary.recency,
        summary.frequency,
        summary.monetary,
        bins=bins,
        customer_ids=summary.customer_ids,
    )
    return summary, scores


@attrs.frozen(eq=False)
class SegmentTable(Tabular):
    """Per segment (in the segment map's order, empty segments left out): customers and the
    mean recency, frequency and monetary value of its customers.

    Built by :func:`segment_table`. Iterating gives one ``(segment, customers, recency,
    frequency, monetary)`` tuple per row.

    >>> t = SegmentTable(("new", "lost"), np.array([2, 1]), np.array([3.0, 90.0]),
    ...                  np.array([1.0, 1.0]), np.array([20.0, 5.0]))
    >>> len(t), list(t)[1]
    (2, ('lost', 1, 90.0, 1.0, 5.0))
    >>> SegmentTable(("new",), np.array([-1]), np.array([3.0]), np.array([1.0]), np.array([2.0]))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: SegmentTable: 'customers' must be an integer >= 0: -1 at index 0
    """

    segments: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a segment name"))
    customers: IntArray = attrs.field(validator=array("i", lo=0, length="segments"))
    recency: FloatArray = attrs.field(validator=array(lo=0, length="segments"))
    frequency: FloatArray = attrs.field(validator=array(lo=0, length="segments"))
    monetary: FloatArray = attrs.field(validator=array(length="segments"))

    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self) -> Iterator[tuple[str, int, float, float, float]]:
        for i, name in enumerate(self.segments):
            yield (
                name,
                int(self.customers[i]),
                float(self.recency[i]),
                float(self.frequency[i]),
                float(self.monetary[i]),
            )

    def _columns(self) -> Columns:
        return {
            "segment": texts(self.segments),
            "customers": self.customers,
            "recency": self.recency,
            "frequency": self.frequency,
            "monetary": self.monetary,
        }


def segment_table(summary: RFMSummary, segments: Segments) -> SegmentTable:
    """Per segment: customers and the mean recency, frequency and monetary value (a
    :class:`SegmentTable`; empty segments left out).

    >>> log = TransactionLog.from_arrays(customer_ids=["a", "b"], timestamps=["1998-06-01", "1998-06-30"],
    ...                                  amounts=[10.0, 5.0])
    >>> summary, scores = rfm_from_log(log, "1998-06-30", bins=2)
    >>> table = segment_table(summary, scores.segments(SegmentMap((SegmentRule("recent", recency=(2, 2)),))))
    >>> list(table)
    [('recent', 1, 0.0, 1.0, 5.0), ('other', 1, 29.0, 1.0, 10.0)]
    >>> table.segments, table.monetary.tolist()
    (('recent', 'other'), [5.0, 10.0])
    """
    expect_instance(summary, RFMSummary, name="summary")
    expect_instance(segments, Segments, name="segments")
    check_same_length(segments=segments.codes, summary=summary.recency)
    k = len(segments.names)
    cnt = np.bincount(segments.codes, minlength=k)
    sums: Mapping[str, FloatArray] = {
        "r": np.bincount(segments.codes, weights=summary.recency, minlength=k).astype(float),
        "f": np.bincount(segments.codes, weights=summary.frequency, minlength=k).astype(float),
        "m": np.bincount(segments.codes, weights=summary.monetary, minlength=k).astype(float),
    }
    seen = cnt > 0
    c = cnt[seen].astype(np.float64)
    return SegmentTable(
        tuple(nm for nm, s in zip(segments.names, seen, strict=True) if s),
        cnt[seen].astype(np.int64),
        sums["r"][seen] / c,
        sums["f"][seen] / c,
        sums["m"][seen] / c,
    )
