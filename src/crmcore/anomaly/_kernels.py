"""Array kernels of the batch engine: one function per leaf rule type.

Every kernel works on the *in-scope* rows of one rule, sorted by customer
then time: ``x`` amounts, ``t`` int64 microseconds, ``c`` customer codes and
``pos`` each row's position in its customer's in-scope history. It returns
the positions (into those rows) where the rule fires and the alert numbers.
The arithmetic is written so that it performs the same floating-point
operations, in the same order, as the streaming engine.

>>> import numpy as np
>>> from crmcore.anomaly.rules import Dormant
>>> t = np.array([0, 10, 200], dtype=np.int64) * 86_400_000_000
>>> dormant(np.zeros(3, np.int64), t, np.array([0, 1, 2]), Dormant(gap="100d")).rows.tolist()
[2]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from crmcore.anomaly.rules import (
    BehaviourChange,
    Direction,
    Dormant,
    EWBaseline,
    Measure,
    RobustZ,
    Threshold,
    Velocity,
    parse_window,
)
from crmcore.arrays import FloatArray, IntArray

__all__ = [
    "DAY_US",
    "LeafHits",
    "behaviour_change",
    "dormant",
    "ew_baseline",
    "robust_z",
    "threshold",
    "to_cents",
    "velocity",
    "window_start",
]

DAY_US = 86_400_000_000
_CHUNK = 4_000_000  # matrix elements per chunk of the rolling-median kernel


class LeafHits(NamedTuple):
    """Where a leaf fired (positions into its in-scope rows) and the alert numbers there."""

    rows: IntArray
    observed: FloatArray
    baseline: FloatArray
    deviation: FloatArray
    history: IntArray


def _hits(
    rows: IntArray, obs: FloatArray, base: FloatArray, dev: FloatArray, hist: IntArray
) -> LeafHits:
    order = np.argsort(rows, kind="stable")
    return LeafHits(rows[order], obs[order], base[order], dev[order], hist[order].astype(np.int64))


def _fire(direction: Direction, z: FloatArray, limit: float) -> npt.NDArray[np.bool_]:
    if direction is Direction.UP:
        return z >= limit
    if direction is Direction.DOWN:
        return z <= -limit
    return (z >= limit) | (z <= -limit)


def to_cents(x: FloatArray) -> IntArray:
    """Amounts in hundredths, rounded half to even (exact window sums).

    >>> to_cents(np.array([0.125, 19.99])).tolist()
    [12, 1999]
    """
    return np.rint(x * 100).astype(np.int64)


def threshold(x: FloatArray, rule: Threshold) -> LeafHits:
    """Rows whose amount is at least the limit.

    >>> threshold(np.array([5.0, 50.0]), Threshold(at_least=10)).rows.tolist()
    [1]
    """
    rows = np.flatnonzero(x >= rule.at_least)
    obs = x[rows]
    lim = float(rule.at_least)
    return LeafHits(rows, obs, np.full(len(rows), lim), obs / lim, np.zeros(len(rows), np.int64))


def robust_z(x: FloatArray, pos: IntArray, rule: RobustZ) -> LeafHits:
    """Robust z of each amount against the previous ``lookback`` amounts of the customer.

    >>> x = np.array([10.0, 11, 9, 10, 12, 100])
    >>> h = robust_z(x, np.arange(6), RobustZ(lookback=5, min_history=5, z=5))
    >>> h.rows.tolist(), h.baseline.tolist(), round(float(h.deviation[0]), 2)
    ([5], [10.0], 60.7)
    """
    n_max, low = rule.lookback, rule.min_history
    hist = np.minimum(pos, n_max)
    cand = np.flatnonzero(hist >= low)
    order = np.argsort(hist[cand], kind="stable")
    cand = cand[order]
    counts = np.bincount(hist[cand], minlength=n_max + 1)
    bounds = np.concatenate(([0], np.cumsum(counts)))
    out: list[tuple[IntArray, FloatArray, FloatArray, FloatArray, IntArray]] = []
    for n in range(low, n_max + 1):
        group = cand[bounds[n] : bounds[n + 1]]
        if not len(group):
            continue
        view = sliding_window_view(x, n)
        step = max(1, _CHUNK // n)
        k1, k2 = (n - 1) // 2, n // 2
        kth = sorted({k1, k2})
        for s in range(0, len(group), step):
            rows = group[s : s + step]
            w = view[rows - n]
            p = np.partition(w, kth, axis=1)
            med = (p[:, k1] + p[:, k2]) / 2
            d = x[rows] - med
            sel = (
                d > 0
                if rule.direction is Direction.UP
                else d < 0
                if rule.direction is Direction.DOWN
                else d != 0
            )
            if not sel.any():
                continue
            rows, med, d, w = rows[sel], med[sel], d[sel], w[sel]
            dev = np.abs(w - med[:, None])
            pd = np.partition(dev, kth, axis=1)
            mad = (pd[:, k1] + pd[:, k2]) / 2
            scale = 1.4826 * mad
            zero = mad == 0
            if zero.any():
                dz = dev[zero]
                acc = np.zeros(len(dz))
                for j in range(n):
                    acc = acc + dz[:, j]
                scale[zero] = 1.2533 * (acc / n)
            scale = np.maximum(scale, rule.min_scale)
            z = d / scale
            f = _fire(rule.direction, z, rule.z)
            out.append((rows[f], x[rows[f]], med[f], z[f], np.full(int(f.sum()), n)))
    if not out:
        e = np.zeros(0)
        return LeafHits(np.zeros(0, np.int64), e, e, e, np.zeros(0, np.int64))
    return _hits(*(np.concatenate(parts) for parts in zip(*out, strict=True)))


def ew_baseline(x: FloatArray, starts: IntArray, lengths: IntArray, rule: EWBaseline) -> LeafHits:
    """Exponentially weighted mean/variance per customer, advanced position by position.

    The loop runs over positions in a customer's history (not over
    customers): its length is the longest history.

    >>> x = np.array([10.0, 10, 10, 40])
    >>> h = ew_baseline(x, np.array([0]), np.array([4]), EWBaseline(alpha=0.5, min_history=3, z=2))
    >>> h.rows.tolist(), h.baseline.tolist(), h.deviation.tolist()
    ([3], [10.0], [30.0])
    """
    if not len(starts):
        e = np.zeros(0)
        return LeafHits(np.zeros(0, np.int64), e, e, e, np.zeros(0, np.int64))
    order = np.argsort(-lengths, kind="stable")
    st, ln = starts[order], lengths[order]
    neg = -ln
    alpha, keep = rule.alpha, 1.0 - rule.alpha
    mean = x[st].copy()
    var = np.zeros(len(st))
    out: list[tuple[IntArray, FloatArray, FloatArray, FloatArray, IntArray]] = []
    for k in range(1, int(ln[0])):
        a = int(np.searchsorted(neg, -k, side="left"))
        rows = st[:a] + k
        xi = x[rows]
        m = mean[:a]
        v = var[:a]
        if k >= rule.min_history:
            z = (xi - m) / np.maximum(np.sqrt(v), rule.min_scale)
            f = _fire(rule.direction, z, rule.z)
            if f.any():
                out.append((rows[f], xi[f], m[f], z[f], np.full(int(f.sum()), k)))
        diff = xi - m
        incr = alpha * diff
        mean[:a] = m + incr
        var[:a] = keep * (v + diff * incr)
    if not out:
        e = np.zeros(0)
        return LeafHits(np.zeros(0, np.int64), e, e, e, np.zeros(0, np.int64))
    return _hits(*(np.concatenate(parts) for parts in zip(*out, strict=True)))


def window_start(c: IntArray, t: IntArray, gstart: IntArray, width: int) -> IntArray:
    """For each row ``i``, the first row of the same customer with ``t > t[i] - width``.

    Rows are sorted by customer then time; one ``searchsorted`` on composite
    ``(customer, time)`` keys (time in the coarsest exact unit; dense time
    ranks when the keys would not fit in 63 bits).

    >>> c = np.array([0, 0, 0, 1, 1]); t = np.array([0, 5, 10, 3, 4])
    >>> window_start(c, t, np.array([0, 0, 0, 3, 3]), 6).tolist()
    [0, 0, 1, 3, 3]
    """
    if not len(t):
        return np.zeros(0, np.int64)
    tmin, tmax = int(t.min()), int(t.max())
    rel = t - tmin
    res = 1
    for unit in (DAY_US, 3_600_000_000, 60_000_000, 1_000_000, 1_000):
        if width % unit == 0 and not (rel % unit).any():
            res = unit
            break
    span = (tmax - tmin) // res + 1
    n_cust = int(c.max()) + 1
    if n_cust * (span + width // res + 1) < 2**62:
        keys = c * span + rel // res
        q = c * span + (rel - width) // res
        start = np.searchsorted(keys, q, side="right")
    else:
        uniq = np.unique(t)
        u = len(uniq)
        keys = c * u + np.searchsorted(uniq, t)
        q = c * u + np.searchsorted(uniq, t - width, side="right")
        start = np.searchsorted(keys, q, side="left")
    return np.maximum(start, gstart).astype(np.int64)


def velocity(c: IntArray, t: IntArray, x: FloatArray, gstart: IntArray, rule: Velocity) -> LeafHits:
    """Count or exact sum of the in-scope transactions in ``(t - window, t]`` (this one included).

    >>> c = np.zeros(3, np.int64); t = np.array([0, 1, 2]) * DAY_US
    >>> velocity(c, t, np.ones(3), np.zeros(3, np.int64), Velocity(window="2d", at_least=2)).rows.tolist()
    [1, 2]
    """
    idx = np.arange(len(t))
    start = window_start(c, t, gstart, parse_window(rule.window))
    count = idx - start + 1
    if rule.measure is Measure.COUNT:
        obs = count.astype(np.float64)
    else:
        g = np.concatenate(([0], np.cumsum(to_cents(x))))
        obs = (g[idx + 1] - g[start]) / 100
    rows = np.flatnonzero(obs >= rule.at_least)
    lim = float(rule.at_least)
    o = obs[rows]
    return LeafHits(rows, o, np.full(len(rows), lim), o / lim, count[rows].astype(np.int64))


def behaviour_change(
    c: IntArray, t: IntArray, x: FloatArray, gstart: IntArray, rule: BehaviourChange
) -> LeafHits:
    """The measure in ``(t - w, t]`` divided by the measure in ``(t - 2w, t - w]``.

    >>> c = np.zeros(3, np.int64); t = np.array([0, 1, 2]) * DAY_US
    >>> h = behaviour_change(c, t, np.array([10.0, 10, 50]), np.zeros(3, np.int64),
    ...                      BehaviourChange(window="1d", ratio=3))
    >>> h.rows.tolist(), h.deviation.tolist()
    ([2], [5.0])
    """
    w = parse_window(rule.window)
    idx = np.arange(len(t))
    s1 = window_start(c, t, gstart, w)
    s2 = window_start(c, t, gstart, 2 * w)
    n_last = idx + 1 - s1
    n_prev = s1 - s2
    cand = np.flatnonzero(n_prev >= rule.min_history)
    if rule.measure is Measure.COUNT:
        last = n_last[cand].astype(np.float64)
        prev = n_prev[cand].astype(np.float64)
    else:
        g = np.concatenate(([0], np.cumsum(to_cents(x))))
        last_c = g[cand + 1] - g[s1[cand]]
        prev_c = g[s1[cand]] - g[s2[cand]]
        if rule.measure is Measure.SUM:
            last, prev = last_c / 100, prev_c / 100
        else:
            last = last_c / n_last[cand] / 100
            prev = prev_c / n_prev[cand] / 100
    ok = prev > 0
    cand, last, prev = cand[ok], last[ok], prev[ok]
    ratio = last / prev
    up, down = ratio >= rule.ratio, ratio <= 1.0 / rule.ratio
    f = (
        up
        if rule.direction is Direction.UP
        else down
        if rule.direction is Direction.DOWN
        else up | down
    )
    return LeafHits(cand[f], last[f], prev[f], ratio[f], n_prev[cand[f]].astype(np.int64))


def dormant(c: IntArray, t: IntArray, pos: IntArray, rule: Dormant) -> LeafHits:
    """Rows whose gap since the customer's previous in-scope transaction is at least ``gap``."""
    gap_us = parse_window(rule.gap)
    prev = np.concatenate(([0], t[:-1])) if len(t) else t
    gap = t - prev
    rows = np.flatnonzero((pos > 0) & (gap >= gap_us))
    days = gap[rows] / DAY_US
    limit = gap_us / DAY_US
    return LeafHits(rows, days, np.full(len(rows), limit), days / limit, pos[rows].astype(np.int64))
