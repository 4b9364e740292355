"""Pareto/NBD P(alive) where alpha and beta are close but unequal (the positive series of
``_pareto_alive_kernel``) against an independent 40-digit mpmath evaluation: daily-grid
histories at (alpha, beta) = (100, 120), (100, 150), (30, 60) and the mirrored (150, 100),
(60, 30); short and empty intervals; random points of the regime (w1 = |alpha − beta| /
(max + t_x) up to the series' limit and beyond). Tolerance: relative, 1e-12 scaled by the
purchases (an exponent r + x read to 1 ulp moves the odds by r + x ulp).

The reference is the closed form of Fader, Hardie & Lee's note on Pareto/NBD P(alive): the
integral ∫_tx^T (alpha + τ)^-p (beta + τ)^-q dτ is F(T) − F(t_x) with
F(τ) = −(alpha + τ)^(1−p−q) / (p + q − 1) 2F1(q, p + q − 1; p + q; (alpha − beta) /
(alpha + τ)), evaluated by mpmath's hyp2f1 at 40 digits (the difference loses at most a
dozen of them); checked against ``pareto_reference``'s tanh-sinh quadrature below.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import pareto_reference as ref

from crmcore.valuation import ParetoNBDModel, ParetoNBDParams, simulate_pareto_nbd


def _grid(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily-grid histories over two years (ages 1..730 days, whole-day recencies)."""
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 731, n).astype(float)
    x, tx, T = simulate_pareto_nbd(ParetoNBDParams(0.55, 100.0, 0.6, 300.0), T, seed=seed)
    tx = np.where(x > 0, np.clip(np.ceil(tx), 1.0, T), 0.0)
    return x, tx, T


def alive_hyp2f1(
    r: float, alpha: float, s: float, beta: float, x: float, tx: float, T: float
) -> mp.mpf:
    """P(alive) = 1 / (1 + s I (alpha + T)^(r + x) (beta + T)^s), I by the closed form."""
    with mp.workdps(40):
        R, A, S, B, X, TX, TT = (mp.mpf(v) for v in (r, alpha, s, beta, x, tx, T))
        p, q = R + X, S + 1
        if TX == TT:
            return mp.mpf(1)

        def F(tau: mp.mpf) -> mp.mpf:
            return (
                -((A + tau) ** (1 - p - q))
                / (p + q - 1)
                * mp.hyp2f1(q, p + q - 1, p + q, (A - B) / (A + tau))
            )

        odds = S * (F(TT) - F(TX)) * (A + TT) ** p * (B + TT) ** S
        return 1 / (1 + odds)


def _check(r: float, alpha: float, s: float, beta: float, x, tx, T) -> None:
    got = ParetoNBDModel(ParetoNBDParams(r, alpha, s, beta)).probability_alive(x, tx, T)
    for g, xi, ti, Ti in zip(got, x, tx, T, strict=True):
        want = float(alive_hyp2f1(r, alpha, s, beta, xi, ti, Ti))
        assert g == pytest.approx(want, rel=1e-12 * (1 + xi / 10), abs=1e-300), (xi, ti, Ti)


def test_the_closed_form_reference_agrees_with_the_quadrature_reference() -> None:
    for args in [
        (0.55, 100.0, 0.6, 150.0, 3.0, 200.0, 500.0),
        (0.55, 60.0, 0.6, 30.0, 1.0, 5.0, 700.0),
    ]:
        a, b = alive_hyp2f1(*args), ref.probability_alive(*args)
        assert abs(a - b) <= 1e-14 * abs(b), (args, a, b)  # the quadrature: ~16 digits


@pytest.mark.parametrize(
    ("alpha", "beta"), [(100.0, 120.0), (100.0, 150.0), (30.0, 60.0), (150.0, 100.0), (60.0, 30.0)]
)
def test_close_scales_on_a_daily_grid_match_mpmath(alpha: float, beta: float) -> None:
    x, tx, T = _grid(4000, 7)
    rep = np.flatnonzero(x > 0)
    pick = np.r_[
        np.argsort(x)[-3:],  # the most purchases
        rep[np.argsort(tx[rep])[:3]],  # the earliest repeat purchases (largest w1)
        np.flatnonzero((x > 0) & (T - tx <= 1))[:2],  # a day or less since the last one
        np.flatnonzero(x == 0)[:2],
        rep[:6],
    ]
    _check(0.55, alpha, 0.6, beta, x[pick], tx[pick], T[pick])


def test_short_and_empty_intervals_with_close_scales() -> None:
    x = np.array([1.0, 3.0, 40.0, 2.0, 5.0])
    tx = np.array([10.0, 700.0, 729.0, 5.0, 100.0])
    T = np.array([10.0 + 1e-6, 700.5, 729.0, 5.0, 100.0 + 1e-12])
    _check(0.55, 100.0, 0.6, 130.0, x, tx, T)
    _check(0.55, 130.0, 0.6, 100.0, x, tx, T)


@settings(max_examples=12, deadline=None)
@given(
    st.floats(0.05, 3.0),  # r
    st.floats(1.0, 300.0),  # alpha
    st.floats(0.05, 3.0),  # s
    st.floats(-0.9, 2.0),  # (beta - alpha) / alpha
    st.integers(0, 60),  # x
    st.floats(0.0, 1.0),  # t_x / T
    st.floats(1.0, 800.0),  # T
)
def test_close_scales_at_random_points_match_mpmath(
    r: float, alpha: float, s: float, rel: float, x: int, frac: float, T: float
) -> None:
    beta = alpha * (1.0 + rel)
    tx = 0.0 if x == 0 else max(frac * T, 1e-3)
    _check(r, alpha, s, beta, np.array([float(x)]), np.array([tx]), np.array([T]))
