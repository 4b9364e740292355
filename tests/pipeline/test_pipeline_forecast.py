"""Forecast cross-checks: an independent brute-force implementation, a Monte Carlo check of the band,
and the back-test telling the better method apart on data where the stage guesses are wrong."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.pipeline import (
    B2B,
    TOP_IN_BEST,
    FunnelHistory,
    backtest,
    forecast,
    synthetic_pipeline,
    time_to_close,
    win_probabilities,
)

DAY = np.timedelta64(86_400_000_000, "us")


def _brute_force(fh: FunnelHistory, months: int) -> list[float]:
    """The forecast re-derived deal by deal with Python loops from the raw events."""
    names = TOP_IN_BEST.stage_names
    events: dict[int, list[tuple[int, np.datetime64]]] = {}
    for o, s, t in zip(fh.ev_opp.tolist(), fh.ev_stage.tolist(), fh.ev_at, strict=True):
        events.setdefault(o, []).append((s, t))
    if not events:  # nothing created before as_of: nothing to forecast
        return [0.0] * months
    # look-alikes per stage: (stay days, days to win, weight), from won deals
    span = (fh.as_of - fh.ev_at.min()) / DAY
    looks: dict[int, list[tuple[float, float, float]]] = {}
    won_k = {s for s in range(len(names)) if TOP_IN_BEST.stages[s].kind.value == "won"}
    for evs in events.values():
        if evs[-1][0] not in won_k:
            continue
        end = evs[-1][1]
        for (s, t), (_, t_next) in itertools.pairwise(evs):
            if TOP_IN_BEST.stages[s].kind.value != "open":
                continue
            d = (end - t) / DAY
            w = min(span / max(span - d, span / 10), 10.0)
            looks.setdefault(s, []).append((math.floor((t_next - t) / DAY), math.floor(d), w))
    p = win_probabilities(fh).smoothed
    m0 = fh.as_of.astype("M8[M]")
    edges = [fh.as_of] + [(m0 + i).astype("M8[us]") for i in range(1, months + 1)]
    out = [0.0] * months
    for o, evs in events.items():
        s, entered = evs[-1]
        if TOP_IN_BEST.stages[s].kind.value != "open":
            continue
        age = (fh.as_of - entered) / DAY
        cand = [(d, w) for stay, d, w in looks.get(s, []) if stay >= math.floor(age) + 1]
        total = sum(w for _, w in cand)
        if total == 0:
            continue
        amount = float(np.nan_to_num(fh.amount[o]))
        for m in range(months):
            lo = math.floor(age + (edges[m] - fh.as_of) / DAY)
            hi = math.floor(age + (edges[m + 1] - fh.as_of) / DAY)
            share = sum(w for d, w in cand if lo < d <= hi) / total
            out[m] += amount * p[s] * share
    return out


@settings(max_examples=15)
@given(seed=st.integers(0, 10**6), n=st.integers(20, 150), cut=st.integers(120, 500))
def test_forecast_matches_a_brute_force_implementation(seed: int, n: int, cut: int) -> None:
    p = synthetic_pipeline(TOP_IN_BEST, n_opportunities=n, seed=seed, days=540)
    fh = FunnelHistory.build(p.history, TOP_IN_BEST, as_of=p.start + cut * DAY)
    fc = forecast(fh, months=3)
    assert fc.expected == pytest.approx(_brute_force(fh, 3), rel=1e-9, abs=1e-6)


def test_band_matches_a_simulation() -> None:
    """The Poisson-binomial mean and variance against 4,000 simulated futures (fixed seed)."""
    p = synthetic_pipeline(B2B, n_opportunities=1500, seed=9)
    fh = FunnelHistory.build(p.history, B2B, as_of=p.as_of)
    fc = forecast(fh, months=2)
    from crmcore.pipeline.forecast import _close_probabilities, _month_edges

    _, edge = _month_edges(fh.as_of, 2)
    rows = np.flatnonzero(fh.is_open)
    q, _ = _close_probabilities(fh, win_probabilities(fh).smoothed, time_to_close(fh), edge, rows)
    v = np.nan_to_num(fh.amount[rows])
    rng = np.random.default_rng(1)
    u = rng.random((4000, len(rows)))
    cum = np.cumsum(q, axis=1)
    month = (u[:, :, None] >= cum[None, :, :]).sum(axis=2)  # 0, 1 or 2 (= not won in horizon)
    sims = np.stack([((month == m) * v).sum(axis=1) for m in range(2)], axis=1)
    assert sims.mean(axis=0) == pytest.approx(fc.expected, rel=0.03)
    assert sims.std(axis=0) == pytest.approx(fc.sd, rel=0.06)
    assert sims.sum(axis=1).std() == pytest.approx(fc.total_sd, rel=0.06)
    inside = np.mean((sims[:, 0] >= fc.low[0]) & (sims[:, 0] <= fc.high[0]))
    assert 0.75 <= inside <= 0.85


def test_backtest_prefers_history_when_stage_guesses_are_wrong() -> None:
    """B2B guesses 5% from lead; the synthetic reps win about 15%: the history method must win."""
    p = synthetic_pipeline(B2B, n_opportunities=6000, seed=21)
    bt = backtest(p.history, B2B, as_of="2025-02-01", months=3)
    assert bt.best() == "history"
    h_mape, s_mape = bt.mape
    assert h_mape is not None and s_mape is not None and h_mape < s_mape
    assert abs(bt.bias[0] or 0) < abs(bt.bias[1] or 0)


def test_forecast_arguments_are_checked() -> None:
    p = synthetic_pipeline(B2B, n_opportunities=50, seed=1)
    fh = FunnelHistory.build(p.history, B2B)
    with pytest.raises(ValidationError, match="'method'"):
        forecast(fh, method="guess")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'level'"):
        forecast(fh, level=1.5)
    with pytest.raises(ValidationError, match="'prior_weight'"):
        win_probabilities(fh, prior_weight=-1)
