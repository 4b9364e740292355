"""Net promoter score from 0–10 answers: shares, trinomial standard error, intervals, tests.

Answers 9–10 are promoters, 7–8 passives, 0–6 detractors. With shares
``p`` (promoters) and ``d`` (detractors) out of ``n`` answers the score is
``s = p − d`` (a fraction in [−1, 1]; multiply by 100 for "NPS points") and
its trinomial variance is ``Var(s) = (p + d − s²) / n``.

Intervals (``method=``):

* ``"adjusted-wald"`` (default): add 3 pseudo-answers, ¾ promoter, 1½ passive
  and ¾ detractor, then use the Wald formula on the adjusted shares:
  ``ñ = n + 3``, ``p̃ = (n·p + ¾)/ñ``, ``d̃ = (n·d + ¾)/ñ``,
  ``s̃ ± z·sqrt((p̃ + d̃ − s̃²)/ñ)``. This is the adjusted Wald interval of
  Rocks (2016, "Interval estimation for the 'net promoter score'", The American
  Statistician 70(4)) as described by Sauro & Lewis (MeasuringU, 2021); its
  coverage is measured in ``docs/surveys.md``.
* ``"wald"``: ``s ± z·sqrt((p + d − s²)/n)``; undercovers for small ``n``.

``se`` is the standard error of the method the interval uses, so the
interval is ``centre ± z·se`` (clipped to [−1, 1]): with ``"adjusted-wald"``
it is ``sqrt((p̃ + d̃ − s̃²)/ñ)`` around the adjusted centre ``s̃``, with
``"wald"`` the plain ``sqrt((p + d − s²)/n)`` around ``s``. ``score`` is
always the raw ``p − d``.

Weighted answers use the weighted shares and Kish's effective sample size
``n_eff = (Σw)² / Σw²`` in place of ``n``.

>>> r = nps([10, 9, 9, 8, 7, 6, 3, 10, 9, 5])
>>> r.score, r.promoters, r.passives, r.detractors
(0.2, 0.5, 0.2, 0.3)
>>> round(r.se, 4), round(r.low, 3), round(r.high, 3)
(0.2332, -0.303, 0.611)
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from scipy import special

from crmcore._frames import Columns, Tabular
from crmcore._results import NONNEGATIVE, PROBABILITY, array, choice, number
from crmcore.arrays import (
    FloatArray,
    NanPolicy,
    as_float_array,
    check_in_range,
    check_integer_valued,
    check_nonnegative,
    check_same_length,
)
from crmcore.errors import ValidationError
from crmcore.labels import check_labels, factorize_labels
from crmcore.options import as_choice, expect_instance
from crmcore.valuation.economics._common import (
    drop_missing,
    omit_missing,
    optional_weights,
    show_label,
    weighted_counts,
    z_value,
)

__all__ = [
    "NPSComparison",
    "NPSResult",
    "NPSTable",
    "compare_nps",
    "nps",
    "nps_by_group",
    "nps_counts",
]

_METHODS = ("adjusted-wald", "wald")
_PSEUDO = (
    3.0  # pseudo-answers of the adjusted Wald interval: 3/4 promoter, 3/2 passive, 3/4 detractor
)


def _check_method(method: str) -> str:
    return as_choice(method, name="method", allowed=_METHODS)


def _centre_and_variance(
    p: FloatArray, d: FloatArray, n: FloatArray, method: str
) -> tuple[FloatArray, FloatArray]:
    """Centre and variance of the score as ``method`` estimates them: the adjusted
    shares (3 pseudo-answers) for ``"adjusted-wald"``, the raw ones for ``"wald"``."""
    if method == "adjusted-wald":
        nt = n + _PSEUDO
        p = (n * p + _PSEUDO / 4) / nt
        d = (n * d + _PSEUDO / 4) / nt
        n = nt
    s = p - d
    return s, np.maximum(p + d - s * s, 0.0) / n


def _categories(scores: npt.ArrayLike) -> tuple[npt.NDArray[np.int8], int]:
    raw = np.asarray(scores)
    if raw.dtype.kind in "iu" and raw.ndim == 1 and len(raw):
        lo, hi = int(raw.min()), int(raw.max())
        if lo < 0 or hi > 10:
            i = int(np.flatnonzero((raw < 0) | (raw > 10))[0])
            raise ValidationError(f"'scores' must be in [0, 10]: {raw[i]} at index {i}")
        x: npt.NDArray[Any] = raw
    else:
        x = as_float_array(raw, name="scores")
        if len(x) == 0:
            raise ValidationError("'scores' is empty: an NPS needs at least one answer")
        check_integer_valued(x, name="scores")
        check_in_range(x, name="scores", low=0, high=10)
    # 0 detractor, 1 passive, 2 promoter
    cat = (x >= 7).view(np.int8) + (x >= 9).view(np.int8)
    return cat, len(x)


@attrs.frozen
class NPSResult:
    """One NPS: shares (fractions), score ``p − d`` in [−1, 1], its SE and interval.

    ``n`` is the (weighted) number of answers, ``effective_n`` the sample size
    used for the variance (equal to ``n`` without weights).

    ``se`` is the standard error of ``method``, the one the interval is built
    from: ``[low, high] = centre ± z·se`` clipped to [−1, 1]. For
    ``"adjusted-wald"`` (default) the centre is the adjusted score
    ``s̃ = p̃ − d̃`` and ``se = sqrt((p̃ + d̃ − s̃²)/ñ)`` with 3 pseudo-answers
    (``ñ = n + 3``); for ``"wald"`` the centre is ``score`` and
    ``se = sqrt((p + d − score²)/n)``, the plain Wald standard error. ``score``
    is always the raw ``p − d``. :func:`compare_nps` uses the same variances.

    >>> r = nps([10, 9, 8, 2])
    >>> r.n, r.promoters, r.detractors, r.score
    (4.0, 0.5, 0.25, 0.25)
    >>> a = nps([10, 9, 9, 8, 7, 6, 3, 10, 9, 5])            # adjusted Wald (default)
    >>> round(a.se, 4), round(a.low, 3), round(a.high, 3)
    (0.2332, -0.303, 0.611)
    >>> w = nps([10, 9, 9, 8, 7, 6, 3, 10, 9, 5], method="wald")
    >>> round(w.se, 4), round(w.low, 3), round(w.high, 3)      # sqrt(0.76 / 10), 0.2 ± z·se
    (0.2757, -0.34, 0.74)
    """

    n: float = attrs.field(validator=NONNEGATIVE)
    effective_n: float = attrs.field(validator=NONNEGATIVE)
    promoters: float = attrs.field(validator=PROBABILITY)
    passives: float = attrs.field(validator=PROBABILITY)
    detractors: float = attrs.field(validator=PROBABILITY)
    score: float = attrs.field(validator=number(-1, 1))
    se: float = attrs.field(validator=NONNEGATIVE)
    low: float = attrs.field(validator=number(-1, 1))
    high: float = attrs.field(validator=number(-1, 1, at_least=("low",)))
    confidence: float = attrs.field(validator=PROBABILITY)
    method: str = attrs.field(validator=choice(*_METHODS))

    @property
    def points(self) -> float:
        """The score on the usual −100…+100 scale.

        >>> nps([10, 10, 3]).points
        33.3...
        """
        return 100.0 * self.score


@attrs.frozen(eq=False)
class NPSTable(Tabular):
    """NPS per group (segment or period), as aligned arrays; ``labels[i]`` names row ``i``.

    >>> t = nps_by_group([10, 2, 9, 9], ["a", "a", "b", "b"])
    >>> t.labels.tolist(), t.score.tolist()
    (['a', 'b'], [0.0, 1.0])
    >>> t.row(1).promoters
    1.0
    """

    labels: npt.NDArray[Any] = attrs.field(validator=array("O"))
    n: FloatArray = attrs.field(validator=array(lo=0, length="labels"))
    effective_n: FloatArray = attrs.field(validator=array(lo=0, length="labels"))
    promoters: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="labels"))
    passives: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="labels"))
    detractors: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="labels"))
    score: FloatArray = attrs.field(validator=array(lo=-1, hi=1, length="labels"))
    se: FloatArray = attrs.field(validator=array(lo=0, length="labels"))
    low: FloatArray = attrs.field(validator=array(lo=-1, hi=1, length="labels"))
    high: FloatArray = attrs.field(validator=array(lo=-1, hi=1, length="labels"))
    confidence: float = attrs.field(validator=PROBABILITY)
    method: str = attrs.field(validator=choice(*_METHODS))

    def __len__(self) -> int:
        return len(self.labels)

    def row(self, i: int) -> NPSResult:
        """Row ``i`` as an :class:`NPSResult`."""
        return NPSResult(
            n=float(self.n[i]),
            effective_n=float(self.effective_n[i]),
            promoters=float(self.promoters[i]),
            passives=float(self.passives[i]),
            detractors=float(self.detractors[i]),
            score=float(self.score[i]),
            se=float(self.se[i]),
            low=float(self.low[i]),
            high=float(self.high[i]),
            confidence=self.confidence,
            method=self.method,
        )

    def changes(self) -> NPSComparison:
        """Each row against the previous one (rows in label order, e.g. periods over time).

        >>> t = nps_by_group([10] * 50 + [3] * 50 + [10] * 80 + [3] * 20, [1] * 100 + [2] * 100)
        >>> c = t.changes()
        >>> c.difference.round(2).tolist(), bool(c.p_value[0] < 0.001)
        ([0.6], True)
        """
        if len(self) < 2:
            raise ValidationError(f"'changes' needs at least 2 rows: {len(self)}")
        return _compare(
            (self.promoters[:-1], self.detractors[:-1], self.effective_n[:-1]),
            (self.promoters[1:], self.detractors[1:], self.effective_n[1:]),
            confidence=self.confidence,
            method=self.method,
        )

    def _columns(self) -> Columns:
        return {
            "group": self.labels,
            "n": self.n,
            "effective_n": self.effective_n,
            "promoters": self.promoters,
            "passives": self.passives,
            "detractors": self.detractors,
            "score": self.score,
            "se": self.se,
            "low": self.low,
            "high": self.high,
        }


@attrs.frozen(eq=False)
class NPSComparison(Tabular):
    """Difference ``second − first`` of independent NPS values with a z-test and interval.

    Arrays (one element for :func:`compare_nps`); ``p_value`` is two-sided.

    >>> c = compare_nps(nps([10, 2] * 20), nps([10, 10, 2] * 20))
    >>> round(float(c.difference[0]), 3)
    0.333
    """

    difference: FloatArray = attrs.field(validator=array(lo=-2, hi=2))
    se: FloatArray = attrs.field(validator=array(lo=0, length="difference"))
    z: FloatArray = attrs.field(validator=array(length="difference"))
    p_value: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="difference"))
    low: FloatArray = attrs.field(validator=array(lo=-2, hi=2, length="difference"))
    high: FloatArray = attrs.field(validator=array(lo=-2, hi=2, length="difference"))
    confidence: float = attrs.field(validator=PROBABILITY)
    method: str = attrs.field(validator=choice(*_METHODS))

    def _columns(self) -> Columns:
        return {
            "difference": self.difference,
            "se": self.se,
            "z": self.z,
            "p_value": self.p_value,
            "low": self.low,
            "high": self.high,
        }


def _table(
    labels: npt.NDArray[Any],
    pro: FloatArray,
    pas: FloatArray,
    det: FloatArray,
    n_eff: FloatArray,
    *,
    confidence: float,
    method: str,
    total: FloatArray | None = None,
    inputs: str = "",
) -> NPSTable:
    """The table from category counts, or from shares with the ``total`` weight per group
    given beside (as :func:`._common.weighted_counts` returns them). ``inputs`` names the
    arguments an empty group comes from, for its error."""
    method = _check_method(method)
    z = z_value(confidence)
    with np.errstate(over="ignore"):
        parts = pro + pas + det
    n_total = parts if total is None else total
    if not np.isfinite(parts).all():
        i = int(np.flatnonzero(~np.isfinite(parts))[0])
        raise ValidationError(
            f"NPS group {show_label(labels[i])}: the counts sum beyond the range of a float"
        )
    empty = (n_total <= 0) | (n_eff <= 0)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        source = f" in {inputs}" if inputs else ""
        raise ValidationError(
            f"NPS group {show_label(labels[i])} is empty (total weight {n_total[i]:g}{source}): "
            "no answers to score"
        )
    p, q, d = pro / parts, pas / parts, det / parts
    s = p - d
    centre, var = _centre_and_variance(p, d, n_eff, method)
    se = np.sqrt(var)  # the standard error of the method the interval uses
    low, high = np.clip(centre - z * se, -1.0, 1.0), np.clip(centre + z * se, -1.0, 1.0)
    return NPSTable(
        labels=labels,
        n=n_total,
        effective_n=n_eff,
        promoters=p,
        passives=q,
        detractors=d,
        score=s,
        se=se,
        low=low,
        high=high,
        confidence=confidence,
        method=method,
    )


def nps_counts(
    promoters: npt.ArrayLike,
    passives: npt.ArrayLike,
    detractors: npt.ArrayLike,
    *,
    effective_n: npt.ArrayLike | None = None,
    labels: npt.ArrayLike | None = None,
    confidence: float = 0.95,
    method: str = "adjusted-wald",
    nan_policy: NanPolicy = "raise",
) -> NPSTable:
    """NPS from category counts (arrays: one row per survey); vectorized.

    Counts may be weighted sums; then pass ``effective_n`` (default: the total).
    Rows are labelled by ``labels`` (default: the caller's row numbers).
    ``nan_policy='omit'`` leaves out surveys with a NaN count or a missing label;
    ``'propagate'`` is refused (a table of NaN scores says nothing).

    >>> t = nps_counts([50, 5], [30, 0], [20, 0])
    >>> t.score.tolist(), t.low.round(3).tolist()
    ([0.3, 1.0], [0.141, 0.175])
    >>> nps_counts([0], [0], [0])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: NPS group 0 is empty (total weight 0 in 'promoters' + 'passives' + 'detractors'): no answers to score
    """
    if labels is None:
        labels = np.arange(len(np.atleast_1d(np.asarray(promoters, dtype=object))))
    kept = omit_missing(
        nan_policy,
        what="an NPS table",
        labels={"labels": labels},
        numbers={
            "promoters": promoters,
            "passives": passives,
            "detractors": detractors,
            "effective_n": effective_n,
        },
    )
    promoters, passives, detractors = kept["promoters"], kept["passives"], kept["detractors"]
    effective_n, labels = kept["effective_n"], kept["labels"]
    pro = as_float_array(promoters, name="promoters")
    pas = as_float_array(passives, name="passives")
    det = as_float_array(detractors, name="detractors")
    check_same_length(promoters=pro, passives=pas, detractors=det)
    for name, arr in (("promoters", pro), ("passives", pas), ("detractors", det)):
        check_nonnegative(arr, name=name)
    if effective_n is None:
        n_eff = pro + pas + det
    else:
        n_eff = as_float_array(effective_n, name="effective_n")
        check_same_length(promoters=pro, effective_n=n_eff)
    labs = check_labels(labels, name="labels")
    check_same_length(promoters=pro, labels=labs)
    counts = "'promoters' + 'passives' + 'detractors'"
    return _table(
        labs,
        pro,
        pas,
        det,
        n_eff,
        confidence=confidence,
        method=method,
        inputs=counts if effective_n is None else f"{counts} or 'effective_n'",
    )


def nps(
    scores: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    confidence: float = 0.95,
    method: str = "adjusted-wald",
    nan_policy: NanPolicy = "raise",
) -> NPSResult:
    """NPS of 0–10 answers, optionally weighted, with a confidence interval.

    >>> nps([11])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'scores' must be in [0, 10]: 11 at index 0
    >>> nps([])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'scores' is empty: an NPS needs at least one answer
    >>> round(nps([10, 0], weights=[3, 1]).score, 2)
    0.5
    >>> nps([10, float("nan"), 0], nan_policy="omit").n
    2.0
    """
    scores, _, weights = drop_missing(scores, nan_policy, weights=weights)
    cat, n = _categories(scores)
    codes = np.zeros(n, dtype=np.int64)
    return _grouped(
        cat, codes, np.array(["all"]), weights, confidence=confidence, method=method
    ).row(0)


def nps_by_group(
    scores: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    confidence: float = 0.95,
    method: str = "adjusted-wald",
    nan_policy: NanPolicy = "raise",
) -> NPSTable:
    """NPS per segment or period: ``groups[i]`` labels answer ``scores[i]``; one pass of bincount.

    Rows are in sorted label order (periods come out in time order).

    >>> t = nps_by_group([9, 10, 0], ["2025-02", "2025-01", "2025-01"])
    >>> t.labels.tolist(), t.score.tolist()
    (['2025-01', '2025-02'], [0.0, 1.0])
    """
    scores, kept, weights = drop_missing(scores, nan_policy, groups=groups, weights=weights)
    cat, _ = _categories(scores)
    labels, codes = factorize_labels(groups if kept is None else kept, name="groups")
    check_same_length(scores=cat, groups=codes)
    return _grouped(cat, codes, labels, weights, confidence=confidence, method=method)


def _grouped(
    cat: npt.NDArray[np.int8],
    codes: npt.NDArray[np.int64],
    labels: npt.NDArray[Any],
    weights: npt.ArrayLike | None,
    *,
    confidence: float,
    method: str,
) -> NPSTable:
    w = optional_weights(weights, len(cat))
    shares, total, n_eff = weighted_counts(codes, cat, w, labels=labels, k=3)
    return _table(
        labels,
        shares[:, 2],
        shares[:, 1],
        shares[:, 0],
        n_eff,
        confidence=confidence,
        method=method,
        total=total,
    )


def _compare(
    first: tuple[FloatArray, FloatArray, FloatArray],
    second: tuple[FloatArray, FloatArray, FloatArray],
    *,
    confidence: float,
    method: str,
) -> NPSComparison:
    _check_method(method)
    z = z_value(confidence)

    s1, v1 = _centre_and_variance(*first, method)
    s2, v2 = _centre_and_variance(*second, method)
    diff = second[0] - second[1] - (first[0] - first[1])
    se = np.sqrt(v1 + v2)
    center = s2 - s1
    zs = np.divide(center, se, out=np.zeros_like(se), where=se > 0)
    # se == 0 only with the Wald method and two unanimous samples: identical -> p = 1, else 0
    p_value = np.where(se > 0, 2.0 * special.ndtr(-np.abs(zs)), np.where(center == 0, 1.0, 0.0))
    return NPSComparison(
        difference=diff,
        se=se,
        z=zs,
        p_value=p_value,
        low=np.clip(center - z * se, -2.0, 2.0),
        high=np.clip(center + z * se, -2.0, 2.0),
        confidence=confidence,
        method=method,
    )


def compare_nps(
    first: NPSResult, second: NPSResult, *, confidence: float = 0.95, method: str | None = None
) -> NPSComparison:
    """Test ``second − first`` for two independent samples (two periods or two segments).

    Uses the unpooled variance ``Var(s₁) + Var(s₂)``; with the adjusted-Wald
    method both samples get their 3 pseudo-answers first (the interval and z
    are centred on the adjusted difference; ``difference`` is the raw one).

    >>> a = nps([10] * 40 + [8] * 30 + [2] * 30)
    >>> b = nps([10] * 55 + [8] * 25 + [2] * 20)
    >>> c = compare_nps(a, b)
    >>> round(float(c.difference[0]), 2), round(float(c.p_value[0]), 3)
    (0.25, 0.032)
    """
    expect_instance(first, NPSResult, name="first")
    expect_instance(second, NPSResult, name="second")
    m = method if method is not None else first.method

    def arr(r: NPSResult) -> tuple[FloatArray, FloatArray, FloatArray]:
        return (np.array([r.promoters]), np.array([r.detractors]), np.array([r.effective_n]))

    return _compare(arr(first), arr(second), confidence=confidence, method=m)
