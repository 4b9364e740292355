"""CSAT on 1–5: mean with a t interval, top-box and top-2-box shares with Wilson intervals.

1 = very dissatisfied … 5 = completely satisfied (DOMAIN.md §4). For ``n``
answers with mean ``x̄`` and sample variance ``s²`` the mean's interval is
``x̄ ± t(n−1)·s/√n``; with fewer than 2 answers no interval can be estimated
and the whole scale [1, 5] is returned. The top-box share (answers of 5) and
top-2-box share (4 or 5) get Wilson score intervals. Weighted answers use
weighted means and shares and Kish's effective sample size.

>>> r = csat([5, 4, 4, 3, 5, 2, 5, 4])
>>> r.mean, r.top_box, r.top2_box
(4.0, 0.375, 0.75)
>>> r.distribution.tolist()
[0.0, 0.125, 0.125, 0.375, 0.375]
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from scipy import special, stats

from crmcore._frames import Columns, Tabular, wide
from crmcore._results import NONNEGATIVE, PROBABILITY, array, number
from crmcore.arrays import (
    FloatArray,
    NanPolicy,
    as_float_array,
    check_in_range,
    check_integer_valued,
    check_same_length,
)
from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels
from crmcore.options import as_confidence, expect_instance
from crmcore.valuation.economics._common import (
    drop_missing,
    optional_weights,
    show_label,
    weighted_counts,
)
from crmcore.valuation.economics.intervals import wilson_interval

__all__ = ["CSATComparison", "CSATResult", "CSATTable", "compare_csat", "csat", "csat_by_group"]


@attrs.frozen
class CSATResult:
    """One CSAT summary; ``distribution`` holds the shares of answers 1, 2, 3, 4, 5.

    >>> r = csat([5, 4, 2, 5])
    >>> r.mean, r.top_box, r.top2_box, r.distribution.tolist()
    (4.0, 0.5, 0.75, [0.0, 0.25, 0.0, 0.25, 0.5])
    """

    n: float = attrs.field(validator=NONNEGATIVE)
    effective_n: float = attrs.field(validator=NONNEGATIVE)
    mean: float = attrs.field(validator=number(1, 5))
    sd: float = attrs.field(validator=NONNEGATIVE)
    mean_low: float = attrs.field(validator=number(1, 5))
    mean_high: float = attrs.field(validator=number(1, 5, at_least=("mean_low",)))
    top_box: float = attrs.field(validator=PROBABILITY)
    top_box_low: float = attrs.field(validator=PROBABILITY)
    top_box_high: float = attrs.field(validator=number(0, 1, at_least=("top_box_low",)))
    top2_box: float = attrs.field(validator=number(0, 1, at_least=("top_box",)))
    top2_box_low: float = attrs.field(validator=PROBABILITY)
    top2_box_high: float = attrs.field(validator=number(0, 1, at_least=("top2_box_low",)))
    distribution: FloatArray = attrs.field(eq=False, validator=array(lo=0, hi=1))
    confidence: float = attrs.field(validator=PROBABILITY)


@attrs.frozen(eq=False)
class CSATTable(Tabular):
    """CSAT per group as aligned arrays; ``distribution`` has shape ``(groups, 5)``.

    >>> t = csat_by_group([5, 1, 4, 4], ["a", "a", "b", "b"])
    >>> t.labels.tolist(), t.mean.tolist(), t.top2_box.tolist()
    (['a', 'b'], [3.0, 4.0], [0.5, 1.0])
    """

    labels: npt.NDArray[Any] = attrs.field(validator=array("O"))
    n: FloatArray = attrs.field(validator=array(lo=0, length="labels"))
    effective_n: FloatArray = attrs.field(validator=array(lo=0, length="labels"))
    mean: FloatArray = attrs.field(validator=array(lo=1, hi=5, length="labels"))
    sd: FloatArray = attrs.field(validator=array(lo=0, length="labels"))
    mean_low: FloatArray = attrs.field(validator=array(lo=1, hi=5, length="labels"))
    mean_high: FloatArray = attrs.field(validator=array(lo=1, hi=5, length="labels"))
    top_box: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="labels"))
    top_box_low: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="labels"))
    top_box_high: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="labels"))
    top2_box: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="labels"))
    top2_box_low: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="labels"))
    top2_box_high: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="labels"))
    distribution: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="labels", ndim=2))
    confidence: float = attrs.field(validator=PROBABILITY)

    def __len__(self) -> int:
        return len(self.labels)

    def row(self, i: int) -> CSATResult:
        """Row ``i`` as a :class:`CSATResult`."""
        return CSATResult(
            n=float(self.n[i]),
            effective_n=float(self.effective_n[i]),
            mean=float(self.mean[i]),
            sd=float(self.sd[i]),
            mean_low=float(self.mean_low[i]),
            mean_high=float(self.mean_high[i]),
            top_box=float(self.top_box[i]),
            top_box_low=float(self.top_box_low[i]),
            top_box_high=float(self.top_box_high[i]),
            top2_box=float(self.top2_box[i]),
            top2_box_low=float(self.top2_box_low[i]),
            top2_box_high=float(self.top2_box_high[i]),
            distribution=self.distribution[i].copy(),
            confidence=self.confidence,
        )

    def _columns(self) -> Columns:
        return {
            "group": self.labels,
            "n": self.n,
            "effective_n": self.effective_n,
            "mean": self.mean,
            "sd": self.sd,
            "mean_low": self.mean_low,
            "mean_high": self.mean_high,
            "top_box": self.top_box,
            "top_box_low": self.top_box_low,
            "top_box_high": self.top_box_high,
            "top2_box": self.top2_box,
            "top2_box_low": self.top2_box_low,
            "top2_box_high": self.top2_box_high,
            **wide("share_", range(1, self.distribution.shape[1] + 1), self.distribution),
        }


@attrs.frozen(eq=False)
class CSATComparison:
    """``second − first`` for two independent CSAT samples.

    Mean: Welch's t-test; top-2-box: Newcombe's hybrid score interval (from
    the two Wilson intervals) and a pooled two-proportion z-test.

    >>> c = compare_csat(csat([3, 4] * 10), csat([4, 5] * 10))
    >>> c.mean_difference, c.top2_difference
    (1.0, 0.5)
    """

    mean_difference: float = attrs.field(validator=number(-4, 4))
    mean_low: float = attrs.field(validator=number(-4, 4))
    mean_high: float = attrs.field(validator=number(-4, 4, at_least=("mean_low",)))
    mean_p_value: float = attrs.field(validator=PROBABILITY)
    top2_difference: float = attrs.field(validator=number(-1, 1))
    top2_low: float = attrs.field(validator=number(-1, 1))
    top2_high: float = attrs.field(validator=number(-1, 1, at_least=("top2_low",)))
    top2_p_value: float = attrs.field(validator=PROBABILITY)
    confidence: float = attrs.field(validator=PROBABILITY)


def _scores(scores: npt.ArrayLike) -> npt.NDArray[np.int64]:
    x = as_float_array(scores, name="scores")
    if len(x) == 0:
        raise ValidationError("'scores' is empty: a CSAT needs at least one answer")
    check_integer_valued(x, name="scores")
    check_in_range(x, name="scores", low=1, high=5)
    return x.astype(np.int64) - 1


def csat_by_group(
    scores: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    confidence: float = 0.95,
    nan_policy: NanPolicy = "raise",
) -> CSATTable:
    """CSAT per segment or period (rows in sorted label order), vectorized with bincount.

    >>> csat_by_group([6], ["a"])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'scores' must be in [1, 5]: 6.0 at index 0
    """
    scores, kept, weights = drop_missing(scores, nan_policy, groups=groups, weights=weights)
    idx = _scores(scores)
    labels, codes = factorize_labels(groups if kept is None else kept, name="groups")
    check_same_length(scores=idx, groups=codes)
    return _grouped(idx, codes, labels, weights, confidence)


def csat(
    scores: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    confidence: float = 0.95,
    nan_policy: NanPolicy = "raise",
) -> CSATResult:
    """CSAT summary of 1–5 answers, optionally weighted.

    >>> r = csat([5, 4, 4, 3, 5, 2, 5, 4])
    >>> round(r.mean_low, 3), round(r.mean_high, 3)
    (3.106, 4.894)
    >>> csat([])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'scores' is empty: a CSAT needs at least one answer
    """
    scores, _, weights = drop_missing(scores, nan_policy, weights=weights)
    idx = _scores(scores)
    codes = np.zeros(len(idx), dtype=np.int64)
    return _grouped(idx, codes, np.array(["all"]), weights, confidence).row(0)


def _grouped(
    idx: npt.NDArray[np.int64],
    codes: npt.NDArray[np.int64],
    labels: npt.NDArray[Any],
    weights: npt.ArrayLike | None,
    confidence: float,
) -> CSATTable:
    confidence = as_confidence(confidence)
    w = optional_weights(weights, len(idx))
    dist, total, n_eff = weighted_counts(codes, idx, w, labels=labels, k=5)
    if (total <= 0).any():
        i = int(np.flatnonzero(total <= 0)[0])
        raise ValidationError(f"CSAT group {show_label(labels[i])} is empty (total weight 0)")
    values = np.arange(1.0, 6.0)
    mean = dist @ values
    pop_var = dist @ (values * values) - mean * mean
    pop_var = np.maximum(pop_var, 0.0)
    has_ci = n_eff > 1.0
    safe = np.where(has_ci, n_eff, 2.0)
    var = pop_var * safe / (safe - 1.0)
    se = np.sqrt(var / safe)
    t = stats.t.ppf(0.5 + confidence / 2.0, safe - 1.0)
    mean_low = np.where(has_ci, np.maximum(mean - t * se, 1.0), 1.0)
    mean_high = np.where(has_ci, np.minimum(mean + t * se, 5.0), 5.0)
    top = dist[:, 4]
    top2 = dist[:, 3] + dist[:, 4]
    tl, th = wilson_interval(top * n_eff, n_eff, confidence=confidence)
    t2l, t2h = wilson_interval(np.minimum(top2 * n_eff, n_eff), n_eff, confidence=confidence)
    return CSATTable(
        labels=labels,
        n=total,
        effective_n=n_eff,
        mean=mean,
        sd=np.sqrt(var),
        mean_low=mean_low,
        mean_high=mean_high,
        top_box=top,
        top_box_low=tl,
        top_box_high=th,
        top2_box=top2,
        top2_box_low=t2l,
        top2_box_high=t2h,
        distribution=dist,
        confidence=confidence,
    )


def compare_csat(first: CSATResult, second: CSATResult) -> CSATComparison:
    """Compare two independent CSAT samples (two periods or two segments): ``second − first``.

    >>> a = csat([3, 4, 4, 5, 2, 3, 4, 3, 4, 4] * 5)
    >>> b = csat([4, 5, 5, 5, 3, 4, 5, 4, 4, 5] * 5)
    >>> c = compare_csat(a, b)
    >>> round(c.mean_difference, 2), c.mean_p_value < 0.001, round(c.top2_difference, 2)
    (0.8, True, 0.3)
    """
    expect_instance(first, CSATResult, name="first")
    expect_instance(second, CSATResult, name="second")
    conf = first.confidence
    n1, n2 = first.effective_n, second.effective_n
    if n1 < 2 or n2 < 2:
        raise ValidationError(
            f"comparing CSAT needs at least 2 answers per sample: effective n {n1:g} and {n2:g}"
        )
    v1, v2 = first.sd**2 / n1, second.sd**2 / n2
    diff = second.mean - first.mean
    se = float(np.sqrt(v1 + v2))
    if se > 0:
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
        tq = float(stats.t.ppf(0.5 + conf / 2.0, df))
        p_mean = float(2.0 * stats.t.sf(abs(diff) / se, df))
        mlo, mhi = diff - tq * se, diff + tq * se
    else:  # both samples unanimous
        p_mean = 1.0 if diff == 0 else 0.0
        mlo = mhi = diff
    p1, p2 = first.top2_box, second.top2_box
    d = p2 - p1
    lo = d - float(np.hypot(p2 - second.top2_box_low, first.top2_box_high - p1))
    hi = d + float(np.hypot(second.top2_box_high - p2, p1 - first.top2_box_low))
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    pse = float(np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2)))
    p_top2 = float(2.0 * special.ndtr(-abs(d) / pse)) if pse > 0 else (1.0 if d == 0 else 0.0)
    return CSATComparison(
        mean_difference=diff,
        mean_low=mlo,
        mean_high=mhi,
        mean_p_value=p_mean,
        top2_difference=d,
        top2_low=max(lo, -1.0),
        top2_high=min(hi, 1.0),
        top2_p_value=p_top2,
        confidence=conf,
    )
