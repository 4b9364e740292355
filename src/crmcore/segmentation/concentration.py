"""Concentration of a value over customers: Pareto curve, Lorenz curve, Gini, ABC classes.

One sort of the values, then everything is read from it: the sorted values
are cut into blocks of ``_BLOCK`` and only the block sums are accumulated, so
no second array of the customers' size is made unless a whole curve is asked for.

Definitions (``s`` sorted ascending, ``S`` the total, ``n`` customers):

* the Pareto (cumulative share) curve passes through ``(k/n, D_k/S)`` where
  ``D_k`` is the sum of the ``k`` largest values; between the points it is
  linear, so :meth:`Concentration.top_share` is defined for any ``x`` in [0, 1];
* the Lorenz curve is ``(j/n, C_j/S)`` with ``C_j`` the sum of the ``j`` smallest;
* ``G = 2·Σ_i i·s_(i) / (n·S) − (n+1)/n`` (``i`` = 1..n); it lies in
  ``[0, (n−1)/n]``; the small-sample correction multiplies by ``n/(n−1)``
  so that one customer holding everything gives exactly 1;
* a share is "reached" up to a relative tolerance of 1e-12 of the total, so
  that ``0.8·S`` computed in floating point is reached by customers holding 80%;
* values so large that their sums would overflow (``1e308``) are summed scaled
  by an exact power of two, so shares, curves and Gini stay finite and right.

NaN rows follow the one NaN policy of :mod:`crmcore.arrays`: ``raise``
(default) or ``omit`` (left out of the ranking; a per-customer result then
holds the rows kept); ``propagate`` makes :func:`gini` NaN and leaves a
customer of :func:`abc_classes` unclassified, and has no meaning for a curve
(:func:`concentration`, :func:`lorenz_curve` refuse it).

>>> c = concentration([50, 30, 10, 5, 5])
>>> round(c.top_share(0.2), 3), c.customers_for_share(0.8)
(0.5, 2)
>>> round(c.gini(), 3), round(c.gini(corrected=True), 3)
(0.46, 0.575)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, texts
from crmcore._results import COUNT, array
from crmcore.arrays import (
    FloatArray,
    NanSplit,
    apply_nan_policy,
    as_float_array,
    validate_nan_policy,
)
from crmcore.errors import ValidationError
from crmcore.model._fields import tuple_of
from crmcore.options import as_count, as_probability

__all__ = [
    "ABCClasses",
    "Concentration",
    "abc_classes",
    "concentration",
    "gini",
    "lorenz_curve",
]

_BLOCK = 4096
_RTOL = 1e-12
_HUGE = 2.0**1000  # sums of values up to this size cannot overflow


def _split(
    values: npt.ArrayLike, *, name: str, nan_policy: str, what: str | None = None
) -> NanSplit:
    """The values under the NaN policy; ``what`` names a curve that refuses ``propagate``."""
    if what is not None:
        validate_nan_policy(nan_policy, allowed=("raise", "omit"), what=what)
    return apply_nan_policy({name: values}, policy=nan_policy)


def _sorted_values(values: npt.ArrayLike, *, name: str, nan_policy: str) -> tuple[FloatArray, int]:
    """Sorted copy of the values kept and the number of NaN rows dropped (``omit``).

    The one sort proves clean input for free (NaN sorts last, infinities to
    the ends); anything else goes through the one NaN policy, which raises or
    drops rows, and the kept values are the sorted prefix (NaN sorted last).
    """
    validate_nan_policy(nan_policy, allowed=("raise", "omit"), what=f"a ranking of {name!r}")
    x = as_float_array(values, name=name, allow_nan=True, allow_inf=True)
    s = np.sort(x)
    if len(s) == 0 or (np.isfinite(s[0]) and np.isfinite(s[-1])):
        return s, 0
    kept = apply_nan_policy({name: x}, policy=nan_policy).arrays[name]
    return s[: len(kept)], len(x) - len(kept)


@attrs.frozen(eq=False)
class Concentration:
    """The values sorted once, with block sums; every concentration measure is read from it.

    Build it with :func:`concentration`. ``n`` customers (after NaN rows were
    omitted), ``total`` their sum, ``negatives`` how many values are < 0.

    >>> c = concentration([4.0, -1.0, 7.0])
    >>> c.n, c.total, c.negatives
    (3, 10.0, 1)
    """

    sorted_values: FloatArray = attrs.field(validator=array())  # ascending
    block_cumsum: FloatArray = attrs.field(validator=array())  # C at positions 0, B, 2B, ..., n
    nan_omitted: int = attrs.field(default=0, validator=COUNT)
    _cache: dict[str, float] = attrs.field(factory=dict, repr=False, alias="_cache")

    @property
    def n(self) -> int:
        """Number of customers ranked."""
        return len(self.sorted_values)

    @property
    def total(self) -> float:
        """Sum of the values (``inf`` only when the true sum is beyond the float range).

        >>> concentration([1.0, 2.0]).total
        3.0
        """
        return self._unscale(float(self.block_cumsum[-1])) if self.n else 0.0

    # -- sums of huge values are kept scaled by 2**-exp (exact), see concentration() -----
    @property
    def _exp(self) -> int:
        return int(self._cache.get("exp", 0))

    def _unscale(self, v: float) -> float:
        e = self._exp
        if not e:
            return v
        with np.errstate(over="ignore"):  # a true sum beyond the float range is inf
            return float(np.ldexp(v, e))

    def _scaled(self, lo: int, hi: int) -> FloatArray:
        """``sorted_values[lo:hi]`` in the units the sums are kept in."""
        seg = self.sorted_values[lo:hi]
        e = self._exp
        return np.ldexp(seg, -e) if e else seg

    @property
    def _total_s(self) -> float:
        return float(self.block_cumsum[-1]) if self.n else 0.0

    @property
    def negatives(self) -> int:
        """How many values are below zero (loss-making customers when the value is profit)."""
        return int(np.searchsorted(self.sorted_values, 0.0, side="left"))

    # -- exact prefix sums ---------------------------------------------------------------
    def _prefix(self, j: int) -> float:
        """``C_j``: the sum of the ``j`` smallest values (scaled, see :meth:`_unscale`)."""
        b = j // _BLOCK
        return float(self.block_cumsum[b] + self._scaled(b * _BLOCK, j).sum())

    def _positions(self) -> npt.NDArray[np.int64]:
        pos = np.arange(0, self.n + 1, _BLOCK, dtype=np.int64)
        if pos[-1] != self.n:
            pos = np.append(pos, self.n)
        return pos

    def _largest_prefix_le(self, u: float) -> int:
        """Largest ``j`` in ``[negatives, n]`` with ``C_j <= u`` (``C`` is nondecreasing there)."""
        j0 = self.negatives
        pos = self._positions()
        bc = self.block_cumsum
        first = int(np.searchsorted(pos, j0, side="left"))
        i = first + int(np.searchsorted(bc[first:], u, side="right")) - 1
        if i < first:
            lo, hi = j0, int(pos[first])
        else:
            lo = int(pos[i])
            hi = int(pos[i + 1]) if i + 1 < len(pos) else self.n
        base = self._prefix(lo)
        local = base + np.cumsum(self._scaled(lo, hi))
        return lo + int(np.searchsorted(local, u, side="right"))

    def _require_shares(self, name: str = "values") -> float:
        """The (scaled) total, after checking that shares of it are defined."""
        if self.n == 0:
            raise ValidationError(f"{name!r} is empty: shares of the total are undefined")
        total = self._total_s
        if total <= 0:
            raise ValidationError(
                f"the total of {name!r} must be > 0 for shares of it: {self.total!r}"
            )
        return total

    # -- the Pareto curve ----------------------------------------------------------------------
    def top_value(self, k: int) -> float:
        """``D_k``: the sum held by the ``k`` customers with the largest values.

        >>> concentration([5, 1, 3]).top_value(2)
        8.0
        """
        k = as_count(k, name="k", high=self.n)
        return self._unscale(self._total_s - self._prefix(self.n - k))

    def top_share(self, x: float) -> float:
        """Share of the total held by the top fraction ``x`` of customers (linear between ranks).

        Monotone in ``x`` for non-negative values; with negative values (profit)
        the share rises above 1 before the loss-makers bring it back to 1.

        >>> concentration([50, 30, 10, 5, 5]).top_share(0.4)
        0.8
        """
        total = self._require_shares()
        x = as_probability(x, name="x")
        kf = x * self.n
        k0 = min(int(np.floor(kf)), self.n)
        d = total - self._prefix(self.n - k0)
        if k0 < self.n:
            d += (kf - k0) * float(self._scaled(self.n - k0 - 1, self.n - k0)[0])
        return d / total

    def customers_for_share(self, y: float) -> int:
        """The smallest number of top customers holding at least share ``y`` of the total.

        Ties do not matter here: the ``k`` largest values have one sum however
        tied customers are ordered.

        >>> concentration([50, 30, 10, 5, 5]).customers_for_share(0.81)
        3
        """
        total = self._require_shares()
        y = as_probability(y, name="y")
        if y == 0.0:
            return 0
        u = total - y * total + _RTOL * abs(total)
        return self.n - self._largest_prefix_le(u)

    def fraction_for_share(self, y: float) -> float:
        """``customers_for_share(y) / n``: the smallest top fraction holding share ``y``.

        >>> concentration([50, 30, 10, 5, 5]).fraction_for_share(0.8)
        0.4
        """
        return self.customers_for_share(y) / self.n if self.n else 0.0

    def pareto_curve(self) -> tuple[FloatArray, FloatArray]:
        """The whole curve: ``(k/n, D_k/S)`` for ``k = 0..n`` (allocates two arrays of n+1).

        >>> [a.tolist() for a in concentration([3.0, 1.0]).pareto_curve()]
        [[0.0, 0.5, 1.0], [0.0, 0.75, 1.0]]
        """
        total = self._require_shares()
        d = np.empty(self.n + 1)
        d[0] = 0.0
        np.cumsum(self._scaled(0, self.n)[::-1], out=d[1:])
        return np.arange(self.n + 1) / self.n, d / total

    # -- the Lorenz curve and Gini --------------------------------------------------------------
    def _require_nonnegative(self, what: str) -> float:
        total = self._require_shares()
        if self.negatives:
            raise ValidationError(
                f"{what} needs non-negative 'values' (revenue, not profit): "
                f"{self.negatives} value(s) < 0, the smallest {float(self.sorted_values[0])!r}"
            )
        return total

    def lorenz(self) -> tuple[FloatArray, FloatArray]:
        """The Lorenz curve ``(j/n, C_j/S)`` for ``j = 0..n``: convex, from (0, 0) to (1, 1).

        >>> [a.tolist() for a in concentration([3.0, 1.0]).lorenz()]
        [[0.0, 0.5, 1.0], [0.0, 0.25, 1.0]]
        """
        total = self._require_nonnegative("the Lorenz curve")
        c = np.empty(self.n + 1)
        c[0] = 0.0
        np.cumsum(self._scaled(0, self.n), out=c[1:])
        return np.arange(self.n + 1) / self.n, c / total

    def gini(self, *, corrected: bool = False) -> float:
        """The Gini coefficient; ``corrected=True`` multiplies by ``n/(n−1)`` (0.0 for one customer).

        Computed as ``(n+1)/n − 2·Σ_j C_j/(n·S)`` from the block sums, without a
        second full-size array; clipped to ``[0, 1]`` against rounding.

        >>> concentration([1.0, 1.0, 1.0]).gini()
        0.0
        >>> concentration([0.0, 0.0, 9.0]).gini(corrected=True)
        1.0
        """
        total = self._require_nonnegative("the Gini coefficient")
        n = self.n
        acc = self._cache.get("sum_c")
        if acc is None:
            acc = self._cache["sum_c"] = self._sum_of_prefixes()
        g = (n + 1) / n - 2.0 * acc / (n * total)
        if corrected:
            g = g * n / (n - 1) if n > 1 else 0.0
        return float(min(max(g, 0.0), 1.0))

    def _sum_of_prefixes(self) -> float:
        """``Σ_{j=1..n} C_j = Σ_i (n − i)·s_i`` (i 0-based), summed block by block."""
        n = self.n
        s = self._scaled(0, n)
        nb = n // _BLOCK
        bsum = np.diff(self.block_cumsum[: nb + 1])
        starts = np.arange(nb, dtype=np.float64) * _BLOCK
        weighted = self._cache.get("weighted")
        if weighted is None:
            full = s[: nb * _BLOCK].reshape(nb, _BLOCK)
            weighted = float((full @ np.arange(_BLOCK, dtype=np.float64)).sum())
        acc = float(np.dot(n - starts, bsum)) - weighted
        tail = s[nb * _BLOCK :]
        acc += float(np.dot(n - nb * _BLOCK - np.arange(len(tail), dtype=np.float64), tail))
        return acc

    # -- ABC ------------------------------------------------------------------------------------
    def abc_thresholds(self, cutoffs: Sequence[float] = (0.8, 0.95)) -> FloatArray:
        """The smallest value of each class but the last (see :func:`abc_classes`).

        >>> concentration([50, 30, 10, 5, 5]).abc_thresholds((0.8, 0.95)).tolist()
        [30.0, 5.0]
        """
        total = self._require_shares()
        cuts = _check_cutoffs(cutoffs)
        out = np.empty(len(cuts))
        for i, y in enumerate(cuts):
            k = self.customers_for_share(float(y)) if total else 0
            out[i] = self.sorted_values[self.n - k] if k else np.inf
        return out

    def abc(
        self,
        values: npt.ArrayLike,
        cutoffs: Sequence[float] = (0.8, 0.95),
        *,
        labels: Sequence[str] = ("A", "B", "C"),
    ) -> ABCClasses:
        """ABC classes of ``values``, the same values this was built from, without sorting again.

        >>> v = [50, 30, 10, 6, 4]
        >>> concentration(v).abc(v).codes.tolist()
        [0, 0, 1, 1, 2]
        """
        split = apply_nan_policy({"values": values}, policy="omit" if self.nan_omitted else "raise")
        if len(split.mask) != self.n + self.nan_omitted:
            raise ValidationError(
                f"'values' must be the {self.n + self.nan_omitted} values the concentration was "
                f"built from: got {len(split.mask)}"
            )
        return _abc(split.arrays["values"], self, cutoffs, labels)


_CHUNK = 1 << 16


def _count_exceeding(x: FloatArray, thresholds: FloatArray, cmp: Any) -> npt.NDArray[np.int8]:
    """``Σ_t cmp(x, t)`` as int8, chunk by chunk so that the work stays in the CPU cache.

    Implementation detail of :func:`abc_classes` and the RFM scores: the callers
    pass checked float arrays and a numpy comparison ufunc.

    >>> _count_exceeding(np.array([1.0, 5.0, 9.0]), np.array([4.0, 8.0]), np.greater).tolist()
    [0, 1, 2]
    """
    out = np.zeros(len(x), dtype=np.int8)
    if len(thresholds) == 0:
        return out
    buf = np.empty(min(_CHUNK, len(x)), dtype=bool)
    for start in range(0, len(x), _CHUNK):
        xs = x[start : start + _CHUNK]
        os_ = out[start : start + _CHUNK]
        b = buf[: len(xs)]
        cmp(xs, thresholds[0], out=os_.view(np.bool_))
        for t in thresholds[1:]:
            cmp(xs, t, out=b)
            os_ += b.view(np.int8)
    return out


def _check_cutoffs(cutoffs: Sequence[float]) -> FloatArray:
    try:
        items = list(cutoffs)
    except TypeError:
        raise ValidationError(f"'cutoffs' must be a sequence of shares: {cutoffs!r}") from None
    if len(items) == 0:
        raise ValidationError("'cutoffs' must hold at least one share")
    cuts = np.array([as_probability(v, name=f"cutoffs[{i}]") for i, v in enumerate(items)])
    if cuts[0] == 0.0:
        raise ValidationError(f"'cutoffs[0]' must be in (0, 1]: {items[0]!r}")
    if np.any(np.diff(cuts) <= 0):
        raise ValidationError(f"'cutoffs' must be strictly increasing: {cuts.tolist()}")
    return cuts


def concentration(values: npt.ArrayLike, *, nan_policy: str = "raise") -> Concentration:
    """Sort the values once and return the :class:`Concentration` read from them.

    Negative values are allowed (profit); the Lorenz curve and Gini then raise.
    ``nan_policy``: ``"raise"`` (default) or ``"omit"`` (NaN rows are left out
    of the ranking); ``"propagate"`` is refused, a curve cannot hold NaN.

    >>> concentration([1.0, float("nan"), 2.0], nan_policy="omit").n
    2
    """
    s, n_nan = _sorted_values(values, name="values", nan_policy=nan_policy)
    return _build(s, n_nan)


def _build(s: FloatArray, n_nan: int) -> Concentration:
    n = len(s)
    cache: dict[str, float] = {}
    sv = s
    big = max(-float(s[0]), float(s[-1])) if n else 0.0
    if n and big > _HUGE / (
        float(n) * float(n)
    ):  # Σ (n − i)·s_i could overflow: sum scaled by 2**-e
        e = math.frexp(big)[1]
        cache["exp"] = float(e)
        sv = np.ldexp(s, -e)
    nb = n // _BLOCK
    sums = np.empty(nb + (1 if n % _BLOCK else 0) + 1)
    sums[0] = 0.0
    weighted = 0.0  # Σ_r r·s_(b,r) within blocks, for the Gini coefficient
    if nb:
        # one pass over the sorted values gives both the block sums and the weighted sums
        both = sv[: nb * _BLOCK].reshape(nb, _BLOCK) @ _block_weights()
        sums[1 : nb + 1] = both[:, 0]
        weighted = float(both[:, 1].sum())
    if n % _BLOCK:
        sums[-1] = sv[nb * _BLOCK :].sum()
    np.cumsum(sums, out=sums)
    cache["weighted"] = weighted
    return Concentration(sorted_values=s, block_cumsum=sums, nan_omitted=n_nan, _cache=cache)


def _block_weights() -> FloatArray:
    w = np.empty((_BLOCK, 2))
    w[:, 0] = 1.0
    w[:, 1] = np.arange(_BLOCK, dtype=np.float64)
    return w


def gini(values: npt.ArrayLike, *, corrected: bool = False, nan_policy: str = "raise") -> float:
    """Gini coefficient of non-negative values (see :meth:`Concentration.gini`).

    >>> round(gini([1, 2, 3, 4]), 4), round(gini([1, 2, 3, 4], corrected=True), 4)
    (0.25, 0.3333)
    >>> gini([5.0, -1.0])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: the Gini coefficient needs non-negative 'values' (revenue, not profit): 1 value(s) < 0, the smallest -1.0
    >>> gini([1e308, 1.0]), gini([1.0, float("nan")], nan_policy="propagate")
    (0.5, nan)
    """
    if validate_nan_policy(nan_policy) == "propagate":
        split = _split(values, name="values", nan_policy=nan_policy)
        if split.has_missing:
            return float("nan")
    s, n_nan = _sorted_values(
        values, name="values", nan_policy=nan_policy.replace("propagate", "raise")
    )
    return _build(s, n_nan).gini(corrected=corrected)


def lorenz_curve(
    values: npt.ArrayLike, *, nan_policy: str = "raise"
) -> tuple[FloatArray, FloatArray]:
    """The Lorenz curve ``(population share, value share)`` with ``n + 1`` points.

    >>> p, L = lorenz_curve([1, 1, 2])
    >>> L.tolist()
    [0.0, 0.25, 0.5, 1.0]
    """
    s, n_nan = _sorted_values(values, name="values", nan_policy=nan_policy)
    return _build(s, n_nan).lorenz()


@attrs.frozen(eq=False)
class ABCClasses(Tabular):
    """Class per customer (``codes``: 0 = first label; -1 = unclassified NaN row, ``propagate``).

    ``thresholds[i]`` is the smallest value in class ``i`` (classes but the last;
    NaN when there is no customer to class), ``counts`` and ``shares`` are per class.

    >>> abc_classes([9, 1]).thresholds.tolist()
    [9.0, 1.0]
    """

    codes: npt.NDArray[np.int8] = attrs.field(validator=array("i", lo=-1))
    labels: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a class label"))
    thresholds: FloatArray = attrs.field(
        validator=array(nan="undefined without customers to class (empty input)")
    )
    counts: npt.NDArray[np.int64] = attrs.field(validator=array("i", lo=0))
    shares: FloatArray = attrs.field(validator=array(length="counts"))

    def names(self) -> npt.NDArray[np.str_]:
        """The class label of every customer ("" for unclassified rows).

        >>> abc_classes([10, 1, 1]).names().tolist()
        ['A', 'B', 'B']
        """
        table = np.array([*self.labels, ""])
        return table[self.codes]

    def _columns(self) -> Columns:
        last = np.full(len(self.labels) - len(self.thresholds), np.nan)
        return {
            "class": texts(self.labels),
            "customers": self.counts,
            "share": self.shares,
            "threshold": np.concatenate((self.thresholds, last)),
        }


def abc_classes(
    values: npt.ArrayLike,
    cutoffs: Sequence[float] = (0.8, 0.95),
    *,
    labels: Sequence[str] = ("A", "B", "C"),
    nan_policy: str = "raise",
) -> ABCClasses:
    """ABC classes: A = the smallest top group holding ``cutoffs[0]`` of the total, B up to ``cutoffs[1]``, ...

    Tie policy: tied values are never split across classes. A class is
    defined by its smallest value (the value of the customer that reaches the
    cut-off), and every customer with that value or more is in it, so a class
    can hold a little more than its cut-off share. Empty input (or nothing left
    after ``omit``) gives empty codes, zero counts and shares, and NaN thresholds
    (no smallest value of a class without customers).
    With ``nan_policy="omit"`` the codes are those of the rows kept; with
    ``"propagate"`` a NaN row gets code -1 and the others are classed as if
    it were absent.

    >>> r = abc_classes([50, 30, 10, 6, 4])
    >>> r.codes.tolist(), r.counts.tolist(), r.shares.round(2).tolist()
    ([0, 0, 1, 1, 2], [2, 2, 1], [0.8, 0.16, 0.04])
    >>> abc_classes([50, 30, 10, 5, 5]).codes.tolist()  # the two 5s stay together in B
    [0, 0, 1, 1, 1]
    >>> abc_classes([1, 1, 1, 1, 1]).codes.tolist()  # ties are never split
    [0, 0, 0, 0, 0]
    >>> r = abc_classes([])
    >>> r.codes.tolist(), r.counts.tolist(), r.thresholds.tolist()
    ([], [0, 0, 0], [nan, nan])
    """
    split = _split(values, name="values", nan_policy=nan_policy)
    x = split.arrays["values"]
    if split.has_missing:  # propagate: classed among the complete rows, NaN rows -1
        kept = x[split.complete]
        return _abc(x, _build(np.sort(kept), len(x) - len(kept)), cutoffs, labels)
    return _abc(x, _build(np.sort(x), 0), cutoffs, labels)


def _abc(
    x: FloatArray, c: Concentration, cutoffs: Sequence[float], labels: Sequence[str]
) -> ABCClasses:
    cuts = _check_cutoffs(cutoffs)
    labs = tuple(str(v) for v in labels)
    if len(labs) != len(cuts) + 1:
        raise ValidationError(
            f"'labels' must have one more entry than 'cutoffs' ({len(cuts) + 1}): {list(labs)}"
        )
    k = len(labs)
    if c.n == 0:
        empty = np.zeros(len(x), dtype=np.int8) - 1
        return ABCClasses(empty, labs, np.full(k - 1, np.nan), np.zeros(k, np.int64), np.zeros(k))
    th = c.abc_thresholds(cuts.tolist())
    # one comparison per cut-off; class = number of thresholds above the value
    codes = _count_exceeding(x, th, np.less)
    if len(x) > c.n:  # propagate: the NaN rows are unclassified
        codes[np.isnan(x)] = -1
    s = c.sorted_values
    # class i holds the values in [th[i], th[i-1]) → positions by searchsorted on the sorted values
    bounds = np.concatenate(([c.n], np.searchsorted(s, th, side="left"), [0]))
    counts = (bounds[:-1] - bounds[1:]).astype(np.int64)
    pref = np.array([c._prefix(int(b)) for b in bounds])
    shares = (pref[:-1] - pref[1:]) / c._total_s
    return ABCClasses(codes, labs, th, counts, shares)
