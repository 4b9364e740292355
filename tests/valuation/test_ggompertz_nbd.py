"""Gamma-Gompertz/NBD (Bemmaor & Glady 2012; R CLVTools' ``ggomnbd``).

Three kinds of proof:

* published figures: CDNOW (2,357 customers, 39 calibration weeks to 1997-09-30) in
  Bemmaor & Glady (2012, Management Science 58(5), Table 2: r 0.553, alpha 10.578,
  s 0.603, log-likelihood -9594.98, with b 0.0002 and beta 0.0026) and in CLVTools'
  tests (tests/testthat/test_correctness_ggomnbd.R: r 0.55313, alpha 10.5758,
  b 0.0000011, s 0.60682, beta 0.000013, log-likelihood -9594.9762, "kkt2" false). Both
  are points of the ridge b -> 0 with beta / b ~ 11.7, where the model is Pareto/NBD:
  CLVTools' Pareto/NBD log-likelihood on the same data is -9594.976. crmcore's fit
  reports that limit (a FitError: the likelihood has no maximum) with these figures;
* an independent implementation (``ggompertz_reference``: 30-digit mpmath quadrature of
  the definitions) at ordinary and extreme points, finite differences of the
  log-likelihood for its analytic gradient and Hessian, and simulation recovery with an
  independent simulator (inverse of the cohort survival, not of the Gompertz given eta);
* special cases: as b -> 0 with beta / b fixed the model is Pareto/NBD (crmcore's
  ParetoNBDModel), covariates at 0 are the plain model, weights are repeated rows.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import ggompertz_reference as ref

from crmcore.datasets import load_cdnow_sample
from crmcore.errors import FitError, ValidationError
from crmcore.serialization import load_model, to_json
from crmcore.valuation import (
    GGompertzNBDModel,
    GGompertzNBDParams,
    ParetoNBDModel,
    ParetoNBDParams,
    customer_lifetime_value,
    fit_ggompertz_nbd,
    simulate_ggompertz_nbd,
    summarize_transactions,
)
from crmcore.valuation.btyd._ggompertz_fit import NAMES, Rows, loglik
from crmcore.valuation.btyd._ggompertz_math import loglik_rows

P = GGompertzNBDParams(r=0.85, alpha=4.45, b=0.12, s=0.75, beta=9.55)
"""BTYDplus' simulation example for its Gamma/Gompertz/NBD (ggnbd) functions."""


def _cdnow():
    return summarize_transactions(load_cdnow_sample(), time_unit="W", calibration_end="1997-09-30")


def _simulate(p: GGompertzNBDParams, T: np.ndarray, seed: int):
    """Independent simulator: the death time by inverting the cohort survival
    S(t) = (beta / (beta + e^(bt) - 1))^s at a uniform draw; purchases Poisson until then."""
    rng = np.random.default_rng(seed)
    n = len(T)
    lam = rng.gamma(p.r, 1.0 / p.alpha, n)
    u = rng.uniform(size=n)
    tau = np.log1p(p.beta * np.expm1(-np.log(u) / p.s)) / p.b
    window = np.minimum(tau, T)
    x = rng.poisson(lam * window).astype(float)
    tx = np.where(x > 0, window * rng.beta(np.maximum(x, 1.0), 1.0), 0.0)
    return x, tx, T


def _within(model: GGompertzNBDModel, truth: GGompertzNBDParams, k: float = 3.0) -> None:
    se = model.standard_errors
    assert se is not None
    for name in NAMES:
        est, s, true = getattr(model.params, name), getattr(se, name), getattr(truth, name)
        assert abs(est - true) <= k * s, f"{name}: {est:.4g} vs truth {true:.4g} (se {s:.3g})"


# -- published figures ---------------------------------------------------------------------


def test_cdnow_has_no_maximum_the_pareto_limit_matches_the_published_figures() -> None:
    with pytest.raises(FitError, match="has no maximum") as info:
        fit_ggompertz_nbd(_cdnow())
    msg = str(info.value)
    ll = float(re.search(r"log-likelihood (-[\d.]+)", msg).group(1))
    found = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", msg)}
    assert abs(ll - (-9594.9762)) < 5e-4  # CLVTools' ggomnbd (and its pnbd: -9594.976)
    assert abs(ll - (-9594.98)) < 5e-3  # Bemmaor & Glady, Table 2
    # CLVTools' estimates to 0.1% (its test's tolerance); its s stopped 0.1% short on the
    # flat ridge (its "kkt2" is false there)
    for name, clvtools, rel in (
        ("r", 0.55313, 1e-3),
        ("alpha", 10.5758, 1e-3),
        ("s", 0.60682, 2e-3),
    ):
        assert abs(found[name] / clvtools - 1) < rel, (name, found[name])
    # the paper's r and alpha to its 3 decimals; its s (0.603) to 0.6%
    assert abs(found["r"] - 0.553) < 6e-4 and abs(found["alpha"] - 10.578) < 6e-3
    assert abs(found["s"] / 0.603 - 1) < 6e-3
    # beta / b on the ridge: CLVTools 0.000013 / 0.0000011 (two digits each)
    assert abs(found["beta"] / (0.000013 / 0.0000011) - 1) < 0.05


def test_cdnow_log_likelihood_at_the_published_estimates() -> None:
    # the published points lie on the ridge: their log-likelihood is the limit's, up to
    # the rounding of the printed b and beta (2 digits; beta / b 11.8 against 11.67)
    s = _cdnow()
    rows = Rows.build(
        s.frequency, s.recency, s.T, None, np.zeros((len(s.T), 0)), np.zeros((len(s.T), 0))
    )
    clvtools = loglik(np.array([0.55313, 10.5758, 0.0000011, 0.60682, 0.000013]), rows, order=0)[0]
    assert abs(clvtools - (-9594.9762)) < 0.01
    # along the ridge the log-likelihood rises to the Pareto/NBD maximum
    ridge = [
        loglik(np.array([0.553277, 10.57768, b, 0.606240, b * 11.668735]), rows, order=0)[0]
        for b in (1e-3, 1e-5, 1e-7)
    ]
    assert ridge[0] < ridge[1] < ridge[2] <= -9594.976178 + 1e-6


# -- the independent implementation ----------------------------------------------------------

POINTS = [
    # r, alpha, b, s, beta, x, t_x, T
    (0.85, 4.45, 0.12, 0.75, 9.55, 2.0, 20.0, 32.0),
    (0.553, 10.578, 1e-7, 0.606, 1.1668e-6, 2.0, 30.43, 38.86),  # CDNOW, the Pareto limit
    (0.3, 130.0, 3e-5, 1.36, 3.9e-4, 24.0, 52.97, 214.49),
    (2.1, 176.2, 1.96, 0.054, 111.0, 49.0, 87.9, 558.9),  # doubly exponential fall
    (9.0, 10.0, 1.1e-6, 3.0, 704.5, 57.0, 8.77, 44.84),  # P(alive) ~ 1e-22
    (0.6, 2.0, 0.5, 2.5, 0.02, 0.0, 0.0, 400.0),
    (1.5, 0.2, 0.01, 0.3, 50.0, 300.0, 700.0, 730.0),  # daily grid, a frequent buyer
]


@pytest.mark.parametrize("point", POINTS)
def test_log_likelihood_and_p_alive_match_mpmath(point) -> None:
    r, alpha, b, s, beta, x, tx, T = point
    want_ll, want_alive = ref.loglik(*point)
    one = np.ones(1)
    got_ll = loglik_rows(r, alpha * one, b, s, beta * one, x * one, tx * one, T * one)[0][0]
    assert got_ll == pytest.approx(float(want_ll), rel=1e-12, abs=1e-10)
    m = GGompertzNBDModel(GGompertzNBDParams(r, alpha, b, s, beta))
    assert m.probability_alive(x, tx, T)[0] == pytest.approx(float(want_alive), rel=1e-9)


@pytest.mark.parametrize("point", POINTS[:4])
def test_predictions_match_mpmath(point) -> None:
    r, alpha, b, s, beta, x, tx, T = point
    m = GGompertzNBDModel(GGompertzNBDParams(r, alpha, b, s, beta))
    t = 26.0
    assert m.conditional_expected_purchases(t, x, tx, T)[0] == pytest.approx(
        float(ref.cet(t, *point)), rel=1e-10
    )
    assert m.expected_purchases(t)[0] == pytest.approx(
        float(ref.expected(t, r, alpha, b, s, beta)), rel=1e-10
    )
    for n in (0, 1, 3):
        assert m.probability_of_purchases(n, t)[0] == pytest.approx(
            float(ref.pmf_new(n, t, r, alpha, b, s, beta)), rel=1e-10, abs=1e-300
        )
        want = float(ref.pmf_conditional(n, t, *point))
        assert m.conditional_probability_of_purchases(n, t, x, tx, T)[0] == pytest.approx(
            want, rel=1e-9, abs=1e-300
        )
    want_none = float(ref.pmf_conditional(0, t, *point))
    assert m.probability_of_repurchase(t, x, tx, T)[0] == pytest.approx(1 - want_none, rel=1e-9)


def _rows_with_covariates() -> tuple[Rows, np.ndarray]:
    x, tx, T = _simulate(P, np.full(60, 32.0), seed=4)
    rng = np.random.default_rng(5)
    zp, zd = rng.normal(size=(60, 1)), rng.normal(size=(60, 2))
    return Rows.build(x, tx, T, None, zp, zd), np.array(
        [0.85, 4.45, 0.12, 0.75, 9.55, 0.3, -0.2, 0.4]
    )


def test_gradient_and_hessian_are_those_of_the_log_likelihood() -> None:
    rows, theta = _rows_with_covariates()
    _, g, H = loglik(theta, rows, order=2)
    assert g is not None and H is not None
    for j in range(len(theta)):
        h = 1e-5 * max(abs(theta[j]), 0.1)
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        f_up, g_up, _ = loglik(up, rows, order=1)
        f_down, g_down, _ = loglik(down, rows, order=1)
        assert g[j] == pytest.approx((f_up - f_down) / (2 * h), rel=1e-6, abs=1e-6)
        assert H[:, j] == pytest.approx((g_up - g_down) / (2 * h), rel=1e-5, abs=1e-5)
    assert np.allclose(H, H.T)


def test_simulation_recovers_the_parameters_within_their_standard_errors() -> None:
    x, tx, T = _simulate(P, np.full(5000, 32.0), seed=11)
    m = fit_ggompertz_nbd(x, tx, T, time_unit="W")
    assert m.converged and m.time_unit == "W"
    _within(m, P)


def test_simulation_recovers_covariate_effects() -> None:
    # group 1 buys e^0.5 times as often and its beta is e^-1 times smaller (faster ageing out)
    T = np.full(3000, 52.0)
    x0, tx0, _ = _simulate(P, T, seed=21)
    p1 = GGompertzNBDParams(P.r, P.alpha * np.exp(-0.5), P.b, P.s, P.beta * np.exp(-1.0))
    x1, tx1, _ = _simulate(p1, T, seed=22)
    z = np.r_[np.zeros(3000), np.ones(3000)]
    m = fit_ggompertz_nbd(
        np.r_[x0, x1],
        np.r_[tx0, tx1],
        np.r_[T, T],
        purchase_covariates={"vip": z},
        dropout_covariates={"vip": z},
    )
    cov = m.covariates
    assert cov is not None and cov.purchase_errors is not None and cov.dropout_errors is not None
    assert abs(cov.purchase[0] - 0.5) < 3 * cov.purchase_errors[0]
    assert abs(cov.dropout[0] - 1.0) < 3 * cov.dropout_errors[0]
    assert m.fit is not None and m.fit.names[5:] == ("purchase[vip]", "dropout[vip]")
    _within(m, P)
    # predictions per customer use the covariates
    pa = m.probability_alive(
        [2, 2],
        [20.0, 20.0],
        [52.0, 52.0],
        purchase_covariates={"vip": [0, 1]},
        dropout_covariates={"vip": [0, 1]},
    )
    assert pa[0] != pa[1]


def test_our_simulator_draws_the_same_histories_in_distribution() -> None:
    T = np.full(20000, 32.0)
    x1, _, _ = simulate_ggompertz_nbd(P, T, seed=3)
    x2, _, _ = _simulate(P, T, seed=3)
    assert abs(x1.mean() - x2.mean()) < 4 * np.sqrt((x1.var() + x2.var()) / len(T))
    assert abs((x1 == 0).mean() - (x2 == 0).mean()) < 0.015
    m = GGompertzNBDModel(P)
    assert abs(x1.mean() - m.expected_purchases(32.0)[0]) < 4 * x1.std() / np.sqrt(len(T))


# -- special cases ---------------------------------------------------------------------------


def test_small_b_is_pareto_nbd_with_beta_over_b() -> None:
    r, alpha, s, beta_p = 0.553, 10.58, 0.606, 11.67
    b = 1e-8
    gg = GGompertzNBDModel(GGompertzNBDParams(r, alpha, b, s, b * beta_p), time_unit="W")
    pn = ParetoNBDModel(ParetoNBDParams(r, alpha, s, beta_p), time_unit="W")
    x = np.array([0.0, 1.0, 2.0, 7.0, 20.0])
    tx = np.array([0.0, 5.0, 30.43, 36.0, 38.0])
    T = np.array([38.86, 38.86, 38.86, 38.86, 38.86])
    close = {"rel": 1e-5}
    assert gg.probability_alive(x, tx, T) == pytest.approx(pn.probability_alive(x, tx, T), **close)
    for t in (1.0, 39.0, 200.0):
        assert gg.conditional_expected_purchases(t, x, tx, T) == pytest.approx(
            pn.conditional_expected_purchases(t, x, tx, T), **close
        )
        assert gg.probability_of_repurchase(t, x, tx, T) == pytest.approx(
            pn.probability_of_repurchase(t, x, tx, T), **close
        )
    ts = np.array([1.0, 39.0, 78.0])
    assert gg.expected_purchases(ts) == pytest.approx(pn.expected_purchases(ts), **close)
    for n in (0, 1, 4):
        assert gg.probability_of_purchases(n, ts) == pytest.approx(
            pn.probability_of_purchases(n, ts), rel=1e-4
        )


def test_covariates_at_zero_are_the_plain_model() -> None:
    rows, theta = _rows_with_covariates()
    plain = Rows.build(
        rows.x, rows.tx, rows.T, rows.w, np.zeros((len(rows.x), 0)), np.zeros((len(rows.x), 0))
    )
    zero = theta.copy()
    zero[5:] = 0.0
    assert loglik(zero, rows, order=0)[0] == pytest.approx(
        loglik(theta[:5], plain, order=0)[0], rel=1e-14
    )


def test_weights_are_repeated_rows() -> None:
    x, tx, T = _simulate(P, np.full(400, 32.0), seed=8)
    x, tx = np.round(x), np.round(tx)
    tx = np.where(x > 0, np.maximum(tx, 1.0), 0.0)
    T = np.full(400, 32.0)
    rows = np.unique(np.column_stack([x, tx, T]), axis=0, return_counts=True)
    (ux, utx, uT), w = rows[0].T, rows[1]
    a = fit_ggompertz_nbd(x, tx, T)
    b = fit_ggompertz_nbd(ux, utx, uT, weights=w)
    assert a.params == b.params
    assert a.log_likelihood == b.log_likelihood


# -- properties and edges --------------------------------------------------------------------


@settings(max_examples=25)
@given(
    x=st.integers(0, 60),
    frac=st.floats(0.01, 1.0),
    T=st.floats(1.0, 700.0),
    later=st.floats(1.0, 300.0),
)
def test_p_alive_is_a_probability_that_falls_while_nothing_is_bought(x, frac, T, later) -> None:
    m = GGompertzNBDModel(P)
    tx = frac * T if x else 0.0
    now, then = m.probability_alive([x, x], [tx, tx], [T, T + later])
    assert 0.0 <= then <= now <= 1.0


@settings(max_examples=12)
@given(x=st.integers(0, 30), T=st.floats(1.0, 100.0), t=st.floats(0.1, 300.0))
def test_conditional_counts_are_a_distribution_with_the_conditional_mean(x, T, t) -> None:
    m = GGompertzNBDModel(P)
    tx = T / 2 if x else 0.0
    n = np.arange(1500)  # the tail beyond holds less than 1e-12 here
    pmf = m.conditional_probability_of_purchases(
        n, t, np.full(1500, x), np.full(1500, tx), np.full(1500, T)
    )
    assert np.all(pmf >= 0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-10)
    mean = m.conditional_expected_purchases(t, x, tx, T)[0]
    assert float(n @ pmf) == pytest.approx(mean, rel=1e-7, abs=1e-10)


def test_extreme_inputs_give_finite_predictions() -> None:
    m = GGompertzNBDModel(GGompertzNBDParams(0.5, 0.1, 2.0, 0.2, 1e-4))
    x = np.array([0.0, 5000.0, 1.0, 3.0])
    tx = np.array([0.0, 700.0, 1e-6, 1e5])
    T = np.array([1e5, 730.0, 1e6, 1e5 + 1e-3])
    for out in (
        m.probability_alive(x, tx, T),
        m.conditional_expected_purchases(1e4, x, tx, T),
        m.probability_of_repurchase(1e4, x, tx, T),
        m.expected_purchases([0.0, 1e-9, 1e9]),
        m.probability_of_purchases([0, 10], [1e9, 1e9]),
    ):
        assert np.isfinite(out).all() and (out >= 0).all()


def test_fit_inputs_and_policies() -> None:
    x, tx, T = _simulate(P, np.full(800, 32.0), seed=9)
    with pytest.raises(FitError, match="no customer made a repeat purchase"):
        fit_ggompertz_nbd([0, 0], [0, 0], [5, 5])
    with pytest.raises(ValidationError, match="propagate"):
        fit_ggompertz_nbd(x, tx, T, nan_policy="propagate")
    xs = np.r_[x, np.nan]
    omitted = fit_ggompertz_nbd(xs, np.r_[tx, 1.0], np.r_[T, 32.0], nan_policy="omit")
    assert omitted.params == fit_ggompertz_nbd(x, tx, T).params
    start = fit_ggompertz_nbd(x, tx, T, initial={"b": 0.5, "beta": 3.0})
    assert start.params.b == pytest.approx(omitted.params.b, rel=1e-7)
    shrunk = fit_ggompertz_nbd(x, tx, T, penalizer=0.01)
    assert shrunk.fit is not None and shrunk.fit.penalizer == 0.01
    assert shrunk.params.alpha < omitted.params.alpha


def test_summary_input_json_and_clv() -> None:
    x, tx, T = _simulate(P, np.full(600, 32.0), seed=13)
    m = fit_ggompertz_nbd(x, tx, T, time_unit="W")
    back = load_model(to_json(m))
    assert isinstance(back, GGompertzNBDModel) and back == m
    assert back.probability_alive(x[:5], tx[:5], T[:5]) == pytest.approx(
        m.probability_alive(x[:5], tx[:5], T[:5]), rel=0
    )
    # discounted CLV: margin x value x sum of discounted expected purchases per step
    clv = customer_lifetime_value(
        m, None, x[:3], tx[:3], T[:3], np.full(3, 10.0), horizon=4, step=13.0, discount_rate=0.02
    )
    cum = np.stack(
        [m.conditional_expected_purchases(13.0 * k, x[:3], tx[:3], T[:3]) for k in range(5)]
    )
    want = 10.0 * (np.diff(cum, axis=0).T @ (1.02 ** -np.arange(1.0, 5.0)))
    assert clv == pytest.approx(want, rel=1e-10)
