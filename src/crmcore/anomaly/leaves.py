"""Incremental leaf evaluators of the streaming engine: one small object per leaf rule.

Each evaluator keeps per-customer state in a plain list or deque, updates it
with one transaction and says whether the rule fires *before* the update
sees the transaction (baselines) or including it (windows) — the same
definitions, and the same floating-point operations, as
:mod:`crmcore.anomaly._kernels`.

>>> from crmcore.anomaly.rules import RobustZ
>>> ev = make_evaluator(RobustZ(lookback=5, min_history=5, z=5))
>>> st = ev.new_state()
>>> [ev.step(st, 0, x, 0) for x in (10.0, 11, 9, 10, 12)]
[None, None, None, None, None]
>>> hit = ev.step(st, 0, 100.0, 0)
>>> hit.baseline, round(hit.deviation, 2)
(10.0, 60.7)
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from typing import Any

from crmcore.anomaly._kernels import DAY_US
from crmcore.anomaly.plan import Hit, new_hit
from crmcore.anomaly.rules import (
    BehaviourChange,
    Direction,
    Dormant,
    EWBaseline,
    Measure,
    RobustZ,
    Rule,
    Threshold,
    Velocity,
    parse_window,
)
from crmcore.errors import ValidationError

__all__ = ["Evaluator", "make_evaluator"]


def _passes(direction: Direction, z: float, limit: float) -> bool:
    if direction is Direction.UP:
        return z >= limit
    if direction is Direction.DOWN:
        return z <= -limit
    return z >= limit or z <= -limit


def _mad(s: list[float], n: int, k1: int, k2: int, med: float) -> float:
    """Median of ``|s_i - med|`` for sorted ``s`` without building the deviations.

    They form two ascending runs from the middle outwards, ``A[p] = med - s[k1 - p]``
    and ``B[q] = s[k1 + 1 + q] - med``; a binary search finds how many of the
    ``k1 + 1`` smallest come from each run (the k-th of two sorted arrays).
    """
    big = n - k1 - 1
    want = k1 + 1
    lo, hi = max(0, want - big), want
    while lo < hi:
        i = (lo + hi) >> 1
        if med - s[k1 - i] < s[k1 + want - i] - med:
            lo = i + 1
        else:
            hi = i
    i, j = lo, want - lo
    d1 = med - s[k1 - i + 1] if i > 0 else -1.0
    if j > 0:
        b = s[k1 + j] - med
        if b > d1:
            d1 = b
    if k1 == k2:
        return d1
    d2 = med - s[k1 - i] if i <= k1 else math.inf
    if j < big:
        b = s[k1 + 1 + j] - med
        if b < d2:
            d2 = b
    return (d1 + d2) / 2


class Evaluator:
    """Base class: ``new_state()``, ``step(state, t_us, amount, cents)``, and JSON state."""

    def new_state(self) -> Any:
        """A fresh per-customer state."""
        return None

    def step(self, state: Any, t: int, x: float, cents: int) -> Hit | None:
        """Fold one in-scope transaction into ``state``; the hit when the rule fires on it."""
        raise NotImplementedError

    def dump(self, state: Any) -> Any:
        """``state`` as JSON-safe values (floats are written exactly by ``json``)."""
        return state

    def load(self, data: Any) -> Any:
        """The state back from :meth:`dump`'s output."""
        return data


class _Threshold(Evaluator):
    def __init__(self, rule: Threshold) -> None:
        self.lim = float(rule.at_least)

    def step(self, state: Any, t: int, x: float, cents: int) -> Hit | None:
        return new_hit(x, self.lim, x / self.lim, 0) if x >= self.lim else None


class _Robust(Evaluator):
    # state: [deque of the last n_max amounts (chronological), the same amounts sorted]
    def __init__(self, rule: RobustZ) -> None:
        self.n_max, self.low, self.z = rule.lookback, rule.min_history, rule.z
        self.direction, self.min_scale = rule.direction, rule.min_scale
        self.up, self.down = rule.direction is Direction.UP, rule.direction is Direction.DOWN

    def new_state(self) -> list[Any]:
        return [deque(maxlen=self.n_max), []]

    def step(self, state: list[Any], t: int, x: float, cents: int) -> Hit | None:
        buf: deque[float] = state[0]
        s: list[float] = state[1]
        n = len(buf)
        hit = None
        if n >= self.low:
            k1, k2 = (n - 1) // 2, n // 2
            med = (s[k1] + s[k2]) / 2
            d = x - med
            if (d > 0) if self.up else (d < 0) if self.down else (d != 0):
                mad = _mad(s, n, k1, k2, med)
                scale = 1.4826 * mad
                if mad == 0:
                    acc = 0.0
                    for v in buf:
                        acc = acc + abs(v - med)
                    scale = 1.2533 * (acc / n)
                if not scale >= self.min_scale:
                    scale = self.min_scale
                z = d / scale
                lim = self.z
                if (z >= lim) if self.up else (z <= -lim) if self.down else (z >= lim or z <= -lim):
                    hit = new_hit(x, med, z, n)
        if n == self.n_max:
            del s[bisect_left(s, buf[0])]
        buf.append(x)
        insort(s, x)
        return hit

    def dump(self, state: list[Any]) -> list[float]:
        return list(state[0])

    def load(self, data: Any) -> list[Any]:
        buf = deque((float(v) for v in data), maxlen=self.n_max)
        return [buf, sorted(buf)]


class _EW(Evaluator):
    def __init__(self, rule: EWBaseline) -> None:
        self.alpha, self.keep = rule.alpha, 1.0 - rule.alpha
        self.low, self.z, self.direction, self.min_scale = (
            rule.min_history,
            rule.z,
            rule.direction,
            rule.min_scale,
        )

    def new_state(self) -> list[Any]:
        return [0, 0.0, 0.0]

    def step(self, state: list[Any], t: int, x: float, cents: int) -> Hit | None:
        n, mean, var = state
        if n == 0:
            state[0], state[1], state[2] = 1, x, 0.0
            return None
        hit = None
        if n >= self.low:
            sd = math.sqrt(var)
            z = (x - mean) / (sd if sd >= self.min_scale else self.min_scale)
            if _passes(self.direction, z, self.z):
                hit = new_hit(x, mean, z, n)
        diff = x - mean
        incr = self.alpha * diff
        state[0], state[1], state[2] = n + 1, mean + incr, self.keep * (var + diff * incr)
        return hit

    def load(self, data: Any) -> list[Any]:
        return [int(data[0]), float(data[1]), float(data[2])]


class _Velocity(Evaluator):
    def __init__(self, rule: Velocity) -> None:
        self.width = parse_window(rule.window)
        self.count = rule.measure is Measure.COUNT
        self.lim = float(rule.at_least)

    def new_state(self) -> list[Any]:
        return [deque(), 0]

    def step(self, state: list[Any], t: int, x: float, cents: int) -> Hit | None:
        dq: deque[tuple[int, int]] = state[0]
        total: int = state[1]
        edge = t - self.width
        while dq and dq[0][0] <= edge:
            total -= dq.popleft()[1]
        dq.append((t, cents))
        total += cents
        state[1] = total
        n = len(dq)
        obs = float(n) if self.count else total / 100
        return new_hit(obs, self.lim, obs / self.lim, n) if obs >= self.lim else None

    def dump(self, state: list[Any]) -> list[list[int]]:
        return [[a, b] for a, b in state[0]]

    def load(self, data: Any) -> list[Any]:
        dq = deque((int(a), int(b)) for a, b in data)
        return [dq, sum(b for _, b in dq)]


class _VelocityCount(Evaluator):
    # a count needs only the times: state is a deque of times within the window
    def __init__(self, rule: Velocity) -> None:
        self.width = parse_window(rule.window)
        self.lim = float(rule.at_least)

    def new_state(self) -> deque[int]:
        return deque()

    def step(self, state: deque[int], t: int, x: float, cents: int) -> Hit | None:
        edge = t - self.width
        while state and state[0] <= edge:
            state.popleft()
        state.append(t)
        n = len(state)
        if n < self.lim:
            return None
        obs = float(n)
        return new_hit(obs, self.lim, obs / self.lim, n)

    def dump(self, state: deque[int]) -> list[int]:
        return list(state)

    def load(self, data: Any) -> deque[int]:
        return deque(int(a) for a in data)


class _Change(Evaluator):
    def __init__(self, rule: BehaviourChange) -> None:
        self.width = parse_window(rule.window)
        self.measure, self.ratio, self.direction = rule.measure, rule.ratio, rule.direction
        self.inv = 1.0 / rule.ratio
        self.low = rule.min_history

    def new_state(self) -> list[Any]:
        return [deque(), 0, deque(), 0]

    def step(self, state: list[Any], t: int, x: float, cents: int) -> Hit | None:
        last, last_c, prev, prev_c = state
        edge1, edge2 = t - self.width, t - 2 * self.width
        while last and last[0][0] <= edge1:
            item = last.popleft()
            last_c -= item[1]
            prev.append(item)
            prev_c += item[1]
        while prev and prev[0][0] <= edge2:
            prev_c -= prev.popleft()[1]
        last.append((t, cents))
        last_c += cents
        state[1], state[3] = last_c, prev_c
        n_last, n_prev = len(last), len(prev)
        if n_prev < self.low:
            return None
        if self.measure is Measure.COUNT:
            lv, pv = float(n_last), float(n_prev)
        elif self.measure is Measure.SUM:
            lv, pv = last_c / 100, prev_c / 100
        else:
            lv, pv = last_c / n_last / 100, prev_c / n_prev / 100
        if not pv > 0:
            return None
        ratio = lv / pv
        up, down = ratio >= self.ratio, ratio <= self.inv
        f = (
            up
            if self.direction is Direction.UP
            else down
            if self.direction is Direction.DOWN
            else up or down
        )
        return new_hit(lv, pv, ratio, n_prev) if f else None

    def dump(self, state: list[Any]) -> list[list[list[int]]]:
        return [[[a, b] for a, b in state[0]], [[a, b] for a, b in state[2]]]

    def load(self, data: Any) -> list[Any]:
        last = deque((int(a), int(b)) for a, b in data[0])
        prev = deque((int(a), int(b)) for a, b in data[1])
        return [last, sum(b for _, b in last), prev, sum(b for _, b in prev)]


class _Dormant(Evaluator):
    def __init__(self, rule: Dormant) -> None:
        self.gap = parse_window(rule.gap)
        self.limit = self.gap / DAY_US

    def new_state(self) -> list[Any]:
        return [None, 0]

    def step(self, state: list[Any], t: int, x: float, cents: int) -> Hit | None:
        last, n = state
        hit = None
        if last is not None and t - last >= self.gap:
            days = (t - last) / DAY_US
            hit = new_hit(days, self.limit, days / self.limit, n)
        state[0], state[1] = t, n + 1
        return hit

    def load(self, data: Any) -> list[Any]:
        return [None if data[0] is None else int(data[0]), int(data[1])]


def make_evaluator(rule: Rule) -> Evaluator:
    """The incremental evaluator of a leaf rule.

    >>> make_evaluator(Dormant(gap="30d")).new_state()
    [None, 0]
    """
    if isinstance(rule, Threshold):
        return _Threshold(rule)
    if isinstance(rule, RobustZ):
        return _Robust(rule)
    if isinstance(rule, EWBaseline):
        return _EW(rule)
    if isinstance(rule, Velocity):
        return _VelocityCount(rule) if rule.measure is Measure.COUNT else _Velocity(rule)
    if isinstance(rule, BehaviourChange):
        return _Change(rule)
    if isinstance(rule, Dormant):
        return _Dormant(rule)
    raise ValidationError(
        "'rule' must be a leaf rule (threshold, robust_z, ew_baseline, velocity, "
        f"behaviour_change or dormant): {rule!r}"
    )
