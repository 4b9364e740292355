"""Robustness: finite answers for extreme histories, fits that converge, clear errors, JSON."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import FitError, ValidationError
from crmcore.serialization import from_json, to_json
from crmcore.valuation import (
    BGBBModel,
    BGBBParams,
    BGNBDModel,
    BGNBDParams,
    GammaGammaModel,
    GammaGammaParams,
    MBGNBDModel,
    ParetoNBDModel,
    ParetoNBDParams,
    fit_bgbb,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_mbgnbd,
    fit_pareto_nbd,
    simulate_bgbb,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)
from crmcore.valuation.btyd._pareto_math import log_power_integral

sys.path.insert(0, str(Path(__file__).parent))
from pareto_reference import adaptive_log_integral as _quad_one

BG = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426))
MBG = MBGNBDModel(BGNBDParams(0.525, 6.183, 0.891, 1.614))
PNBD = ParetoNBDModel(ParetoNBDParams(0.553, 10.578, 0.606, 11.668))
PNBD_B = ParetoNBDModel(ParetoNBDParams(2.0, 3.0, 1.5, 0.5))  # alpha > beta


@st.composite
def histories(draw: st.DrawFn) -> tuple[float, float, float, float]:
    T = draw(st.floats(0.01, 5000.0))
    x = draw(st.integers(0, 5000))
    tx = 0.0 if x == 0 else draw(st.floats(1e-6, 1.0)) * T
    t = draw(st.floats(0.0, 5000.0))
    return float(x), tx, T, t


@settings(max_examples=40)
@given(histories())
def test_continuous_models_finite_for_extreme_histories(
    h: tuple[float, float, float, float],
) -> None:
    x, tx, T, t = h
    for m in (BG, MBG, PNBD, PNBD_B):
        alive = m.probability_alive(x, tx, T)[0]
        expect = m.conditional_expected_purchases(t, x, tx, T)[0]
        again = m.probability_of_repurchase(t, x, tx, T)[0]
        assert np.isfinite(alive) and -1e-12 <= alive <= 1 + 1e-12, (m, alive)
        assert np.isfinite(expect) and expect >= -1e-9, (m, expect)
        assert np.isfinite(again) and -1e-12 <= again <= 1 + 1e-12, (m, again)
        # the expectation grows with the horizon
        assert m.conditional_expected_purchases(t + 1.0, x, tx, T)[0] >= expect - 1e-9


@settings(max_examples=30)
@given(
    st.floats(0.05, 3000.0),
    st.floats(0.05, 30.0),
    st.floats(0.01, 500.0),
    st.floats(0.01, 500.0),
    st.floats(0.0, 200.0),
    st.floats(1e-3, 500.0),
)
def test_power_integral_matches_adaptive_quadrature(
    p: float, q: float, alpha: float, beta: float, lo: float, width: float
) -> None:
    if p + q <= 1.05:
        q += 1.0
    got = log_power_integral(
        np.array([p]), np.array([q]), alpha, beta, np.array([lo]), np.array([lo + width])
    )[0]
    ref = _quad_one(p, q, alpha, beta, lo, lo + width)
    assert np.isfinite(got)
    assert abs(got - ref) <= 1e-7 * max(1.0, abs(ref))


@settings(max_examples=25)
@given(st.integers(0, 3000), st.integers(0, 3000), st.integers(0, 200))
def test_bgbb_finite_for_long_histories(x: int, extra: int, m: int) -> None:
    model = BGBBModel(BGBBParams(1.204, 0.750, 0.657, 2.783))
    tx = x + (extra if x > 0 else 0)
    n = tx + extra
    alive = model.probability_alive(x, tx, n)[0]
    expect = model.conditional_expected_purchases(m, x, tx, n)[0]
    assert np.isfinite(alive) and 0 <= alive <= 1 + 1e-12
    assert np.isfinite(expect) and 0 <= expect <= m + 1e-9


def test_probability_of_purchases_sums_to_one() -> None:
    xs = np.arange(400)
    for m in (BG, MBG, PNBD):
        assert m.probability_of_purchases(xs, 39.0).sum() == pytest.approx(1.0, abs=1e-8)


def test_pareto_expected_purchases_is_mean_of_pmf() -> None:
    xs = np.arange(600)
    mean = float(PNBD.probability_of_purchases(xs, 20.0) @ xs)
    assert mean == pytest.approx(float(PNBD.expected_purchases(20.0)[0]), rel=1e-7)


def test_fits_converge_on_random_simulated_sets() -> None:
    """20 small random data sets per model (the 100-set check is benchmarks/bench_btyd_robust.py)."""
    rng = np.random.default_rng(2024)
    for i in range(20):
        T = np.round(rng.uniform(20, 80, 600) * 7) / 7
        bg = BGNBDParams(*rng.uniform([0.2, 2, 0.5, 1.5], [2.0, 15, 1.5, 6.0]))
        x, tx, TT = simulate_bgnbd(bg, T, seed=i)
        fitted = fit_bgnbd(x, tx, TT)
        assert fitted.converged and np.isfinite(fitted.log_likelihood)
        x, tx, TT = simulate_mbgnbd(bg, T, seed=100 + i)
        assert fit_mbgnbd(x, tx, TT).converged
        bb = BGBBParams(*rng.uniform([0.5, 0.5, 0.5, 1.0], [2.0, 2.0, 1.5, 4.0]))
        assert fit_bgbb(*simulate_bgbb(bb, np.full(600, 6), seed=200 + i)).converged
        freq = rng.integers(1, 8, 300)
        gg = GammaGammaParams(*rng.uniform([2, 2.5, 5], [10, 6, 30]))
        assert fit_gamma_gamma(freq, simulate_gamma_gamma(gg, freq, seed=300 + i)).converged
    for i in range(4):
        T = np.round(rng.uniform(20, 80, 400) * 7) / 7
        pp = ParetoNBDParams(*rng.uniform([0.3, 3, 0.3, 5], [2.0, 15, 1.5, 20]))
        x, tx, TT = simulate_pareto_nbd(pp, T, seed=400 + i)
        assert fit_pareto_nbd(x, np.minimum(np.ceil(tx * 7) / 7, TT), TT).converged


def test_failed_fits_raise_fit_error_with_reason() -> None:
    with pytest.raises(FitError, match="no customer made a repeat purchase"):
        fit_bgnbd([0, 0, 0], [0, 0, 0], [3, 4, 5])
    with pytest.raises(FitError, match="Pareto/NBD"):
        fit_pareto_nbd([0], [0], [5])
    with pytest.raises(FitError, match="BG/BB"):
        fit_bgbb([0, 0], [0, 0], [6, 6])


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ValidationError, match="'recency' must be <= 'T'"):
        fit_bgnbd([1], [5.0], [4.0])
    with pytest.raises(ValidationError, match="'frequency' must hold whole numbers"):
        BG.probability_alive([1.5], [1.0], [2.0])
    with pytest.raises(ValidationError, match="'T' must not contain NaN"):
        BG.probability_alive([1], [1.0], [float("nan")])
    with pytest.raises(ValidationError, match="'t' must be >= 0"):
        BG.conditional_expected_purchases(-1, [1], [1.0], [2.0])
    with pytest.raises(ValidationError, match="'weights' must be >= 0"):
        fit_bgnbd([1, 2], [1.0, 2.0], [3.0, 3.0], weights=[1, -1])
    with pytest.raises(ValidationError, match="monetary_value"):
        fit_gamma_gamma([1, 2], [5.0, -1.0])


def test_weights_are_exact_compression() -> None:
    rng = np.random.default_rng(7)
    x, tx, T = simulate_bgnbd(BGNBDParams(0.5, 6.0, 0.8, 2.5), np.full(400, 30.0), seed=3)
    tx = np.ceil(tx)  # whole days; a repeat purchase comes >= 1 day after the first
    T = T.copy()
    rows = np.c_[x, tx, T]
    uniq, counts = np.unique(rows, axis=0, return_counts=True)
    full = fit_bgnbd(x, tx, T)
    weighted = fit_bgnbd(uniq[:, 0], uniq[:, 1], uniq[:, 2], weights=counts)
    assert weighted.log_likelihood == pytest.approx(full.log_likelihood, rel=1e-12)
    assert weighted.params.r == pytest.approx(full.params.r, rel=1e-6)
    order = rng.permutation(len(x))
    shuffled = fit_bgnbd(x[order], tx[order], T[order])
    assert shuffled.log_likelihood == pytest.approx(full.log_likelihood, rel=1e-12)


def test_models_round_trip_through_json() -> None:
    d_x, d_tx, d_T = simulate_bgnbd(BGNBDParams(0.5, 6.0, 0.8, 2.5), np.full(500, 40.0), seed=1)
    fitted = fit_bgnbd(d_x, np.ceil(d_tx), d_T)
    for model in (fitted, BG, MBG, PNBD):
        assert from_json(type(model), to_json(model)) == model
    gg = GammaGammaModel(GammaGammaParams(6.25, 3.74, 15.44))
    assert from_json(GammaGammaModel, to_json(gg)) == gg
    bb = BGBBModel(BGBBParams(1.2, 0.75, 0.66, 2.78), period="year")
    assert from_json(BGBBModel, to_json(bb)) == bb
    with pytest.raises(ValidationError, match="alpha"):
        from_json(BGBBModel, to_json(bb).replace('"alpha": 1.2', '"alpha": -1.2'))
