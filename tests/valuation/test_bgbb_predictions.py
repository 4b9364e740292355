"""BG/BB predictions of issue 13: P(alive) m opportunities ahead and the conditional
probability of x transactions in the next m opportunities, against independent evaluators.

The exact evaluator integrates the individual-level model over p ~ beta(alpha, beta) and
theta ~ beta(gamma, delta) with Gauss-Jacobi quadrature (every integrand is a polynomial in
p and theta, so the quadrature is exact to rounding); it enumerates the future explicitly:
alive at n, the customer survives j more opportunities (theta (1 - theta)**j, or
(1 - theta)**m for all m) and makes Binomial(j, p) transactions. A Monte-Carlo simulation
with a fixed seed checks the same quantities with a tolerance from its standard error.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from crmcore.datasets import load_donations
from crmcore.errors import ValidationError
from crmcore.serialization import from_json, load_model, to_json
from crmcore.valuation import BGBBModel, BGBBParams, fit_bgbb

FHS = BGBBParams(1.204, 0.750, 0.657, 2.783)  # Fader, Hardie & Shang (2010), Table 2


def _nodes(a: float, b: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    z, w = special.roots_jacobi(k, b - 1, a - 1)
    return (1 + z) / 2, w / w.sum()


def exact(params: BGBBParams, x: int, tx: int, n: int, m: int) -> tuple[float, float, np.ndarray]:
    """(P(alive at n + m | history), P(alive at n | history), P(X(n, n+m) = k) for k = 0..m)."""
    k_nodes = (n + m) // 2 + 4
    p, wp = _nodes(params.alpha, params.beta, k_nodes)
    th, wt = _nodes(params.gamma, params.delta, k_nodes)
    P, TH = np.meshgrid(p, th, indexing="ij")
    W = np.outer(wp, wt)
    alive = P**x * (1 - P) ** (n - x) * (1 - TH) ** n
    history = alive.copy()
    for i in range(n - tx):
        history = history + P**x * (1 - P) ** (tx - x + i) * TH * (1 - TH) ** (tx + i)
    norm = (W * history).sum()
    ahead = float((W * alive * (1 - TH) ** m).sum() / norm)
    pmf = np.empty(m + 1)
    for k in range(m + 1):
        future = sum(
            (TH * (1 - TH) ** j if j < m else (1 - TH) ** m) * stats.binom.pmf(k, j, P)
            for j in range(m + 1)
        )
        dead = (history - alive) if k == 0 else 0.0
        pmf[k] = (W * (alive * future + dead)).sum() / norm
    return ahead, float((W * alive).sum() / norm), pmf


HISTORIES = [(0, 0, 6), (1, 1, 6), (3, 4, 6), (6, 6, 6), (2, 5, 5), (4, 9, 12), (0, 0, 1)]


@pytest.mark.parametrize(("x", "tx", "n"), HISTORIES)
@pytest.mark.parametrize("m", [0, 1, 2, 5, 9])
def test_alive_ahead_and_conditional_pmf_match_the_exact_mixture_integral(
    x: int, tx: int, n: int, m: int
) -> None:
    model = BGBBModel(FHS)
    ahead, now, pmf = exact(FHS, x, tx, n, m)
    assert float(model.probability_alive(x, tx, n, m=m)[0]) == pytest.approx(ahead, rel=1e-12)
    assert float(model.probability_alive(x, tx, n)[0]) == pytest.approx(now, rel=1e-12)
    got = model.conditional_probability_of_purchases(np.arange(m + 1), m, x, tx, n)
    np.testing.assert_allclose(got, pmf, rtol=1e-11, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(
    params=st.tuples(*(st.floats(0.2, 8.0) for _ in range(4))),
    history=st.sampled_from(HISTORIES),
    m=st.integers(0, 12),
)
def test_predictions_match_the_exact_integral_at_any_parameters(
    params: tuple[float, float, float, float], history: tuple[int, int, int], m: int
) -> None:
    pr = BGBBParams(*params)
    model = BGBBModel(pr)
    ahead, _, pmf = exact(pr, *history, m)
    assert float(model.probability_alive(*history, m=m)[0]) == pytest.approx(ahead, rel=1e-10)
    got = model.conditional_probability_of_purchases(np.arange(m + 1), m, *history)
    np.testing.assert_allclose(got, pmf, rtol=1e-9, atol=1e-14)
    # a distribution over 0..m whose mean is the conditional expectation
    assert got.sum() == pytest.approx(1.0, abs=1e-12)
    if m:
        mean = float(model.conditional_expected_purchases(m, *history)[0])
        assert float(np.arange(m + 1) @ got) == pytest.approx(mean, rel=1e-10, abs=1e-14)
    assert float(model.conditional_probability_of_purchases(m + 1, m, *history)[0]) == 0.0


def _simulate(
    params: BGBBParams, n: int, m: int, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Histories over n opportunities and the next m, with the alive flag at n + m (a
    simulation of its own: death at the start of an opportunity, then a coin)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(params.alpha, params.beta, size)
    theta = rng.beta(params.gamma, params.delta, size)
    lives = rng.geometric(theta) - 1  # opportunities survived before dying
    t = np.arange(1, n + m + 1)
    buys = (rng.random((size, n + m)) < p[:, None]) & (t[None, :] <= lives[:, None])
    past = buys[:, :n]
    x = past.sum(axis=1)
    tx = np.where(past.any(axis=1), n - np.argmax(past[:, ::-1], axis=1), 0)
    return x, tx, buys[:, n:].sum(axis=1), lives >= n + m


def test_predictions_agree_with_a_simulation() -> None:
    """300,000 simulated customers: among those with a given history, the share alive m
    opportunities later and the distribution of their next-m transactions (4 SEs)."""
    n, m = 6, 4
    x, tx, future, alive = _simulate(FHS, n, m, 300_000, seed=13)
    model = BGBBModel(FHS)
    for hx, htx in [(0, 0), (2, 5), (6, 6)]:
        sel = (x == hx) & (tx == htx)
        k = int(sel.sum())
        assert k > 2000
        share = float(alive[sel].mean())
        want = float(model.probability_alive(hx, htx, n, m=m)[0])
        assert abs(share - want) < 4 * np.sqrt(want * (1 - want) / k)
        freq = np.bincount(future[sel], minlength=m + 1) / k
        pmf = model.conditional_probability_of_purchases(np.arange(m + 1), m, hx, htx, n)
        se = np.sqrt(pmf * (1 - pmf) / k)
        assert np.all(np.abs(freq - pmf) < 4 * se + 1e-12)


def test_alive_ahead_matches_lifetimes() -> None:
    """lifetimes' conditional_probability_alive(m, ...) (FHS A10; it adds 1e-15 to each
    history's likelihood, hence 1e-9)."""
    lifetimes = pytest.importorskip("lifetimes")
    f = lifetimes.BetaGeoBetaBinomFitter()
    f.params_ = __import__("pandas").Series(
        [FHS.alpha, FHS.beta, FHS.gamma, FHS.delta], index=["alpha", "beta", "gamma", "delta"]
    )
    x, tx, n = (np.array(c) for c in zip(*HISTORIES, strict=True))
    model = BGBBModel(FHS)
    for m in (0, 1, 4):
        theirs = f.conditional_probability_alive(m, x, tx, n)
        np.testing.assert_allclose(model.probability_alive(x, tx, n, m=m), theirs, rtol=1e-9)


def test_alive_ahead_falls_with_m_and_is_the_plain_p_alive_at_0() -> None:
    model = BGBBModel(FHS)
    ms = np.arange(0, 40)
    a = model.probability_alive(3, 4, 6, m=ms)
    assert np.all(np.diff(a) < 0) and a[0] == model.probability_alive(3, 4, 6)[0]
    # per customer: one m each, scalars broadcast
    got = model.probability_alive([3, 0], [4, 0], 6, m=[2, 5])
    assert got[0] == a[2] and got[1] == model.probability_alive(0, 0, 6, m=5)[0]


def test_donations_fit_predictions_read_like_the_paper() -> None:
    """A supporter who gave in all 6 years is far more likely to be alive and to give in
    the next 5 than one who gave only in the first."""
    d = load_donations()
    m = fit_bgbb(d["frequency"], d["recency"], d["periods"], weights=d["weights"])
    alive = m.probability_alive([6, 1], [6, 1], 6, m=5)
    none = m.conditional_probability_of_purchases(0, 5, [6, 1], [6, 1], 6)
    assert alive[0] > 0.7 > 0.06 > alive[1]
    assert none[0] < 0.1 < 0.95 < none[1]


def test_nan_policy_of_the_new_predictions() -> None:
    model = BGBBModel(FHS)
    nan = float("nan")
    out = model.probability_alive([3, nan], [4, 0], 6, m=2, nan_policy="propagate")
    assert np.isnan(out[1]) and out[0] == model.probability_alive(3, 4, 6, m=2)[0]
    kept = model.conditional_probability_of_purchases(
        1, [2, 3], [3, nan], [4, 4], 6, nan_policy="omit"
    )
    assert kept.tolist() == model.conditional_probability_of_purchases(1, 2, 3, 4, 6).tolist()
    with pytest.raises(ValidationError, match="nan_policy='omit'"):
        model.probability_alive([nan], [0], [6])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.probability_alive(3, 4, 6, m=-1), "'m' must be >= 0"),
        (lambda m: m.probability_alive(3, 4, 6, m=1.5), "'m' must hold whole numbers"),
        (lambda m: m.conditional_probability_of_purchases(-1, 2, 3, 4, 6), "'x' must be >= 0"),
        (lambda m: m.conditional_probability_of_purchases(1, 2, 5, 4, 6), "'frequency' must be <="),
        (
            lambda m: m.conditional_probability_of_purchases(1, [2, 3], 3, 4, [6, 6, 6]),
            "same length",
        ),
    ],
)
def test_bad_input_is_named(call: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call(BGBBModel(FHS))  # type: ignore[operator]


def test_period_label_is_kept_and_checked() -> None:
    d = load_donations()
    m = fit_bgbb(d["frequency"], d["recency"], d["periods"], weights=d["weights"], period="year")
    back = load_model(to_json(m))
    assert isinstance(back, BGBBModel) and back.period == "year" and back == m
    assert from_json(BGBBModel, to_json(m)).fit == m.fit
    for bad in ("", " year", 3):
        with pytest.raises(ValidationError, match="'period' must be a non-empty string"):
            fit_bgbb([1, 0], [1, 0], [2, 2], period=bad)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="'period' must be a non-empty string"):
            BGBBModel(FHS, period=bad)  # type: ignore[arg-type]


def test_fit_summary_of_the_donations_fit() -> None:
    d = load_donations()
    m = fit_bgbb(d["frequency"], d["recency"], d["periods"], weights=d["weights"])
    s = m.summary()
    assert s.names == ("alpha", "beta", "gamma", "delta") and s.n == 11104 and s.converged
    assert s.aic == pytest.approx(2 * 4 - 2 * m.log_likelihood)
    assert m.standard_errors is not None and 0.05 < m.standard_errors.alpha < 0.1
    e = s["delta"]
    assert e.lower is not None and e.upper is not None and e.lower < e.estimate < e.upper
    with pytest.raises(ValidationError, match="built from parameters, not fitted"):
        BGBBModel(FHS).summary()
