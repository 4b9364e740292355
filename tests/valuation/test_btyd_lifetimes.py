"""Cross-checks against lifetimes 0.11.3, an independent implementation (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest

from crmcore.datasets import load_cdnow_summary, load_donations
from crmcore.valuation import (
    customer_lifetime_value,
    fit_bgbb,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_mbgnbd,
    fit_pareto_nbd,
)

lifetimes = pytest.importorskip("lifetimes")
pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    return load_cdnow_summary()


def _rows(s: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pick = np.r_[0:40, 2300:2357]
    return s["x"][pick], s["t_x"][pick], s["T"][pick]


def test_bgnbd_predictions_match_lifetimes(cdnow: dict[str, np.ndarray]) -> None:
    ours = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    theirs = lifetimes.BetaGeoFitter().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    p = ours.params
    np.testing.assert_allclose([p.r, p.alpha, p.a, p.b], theirs.params_.values, rtol=1e-4)
    x, tx, T = _rows(cdnow)
    # same parameters on both sides so only the formulas are compared
    theirs.params_[:] = [p.r, p.alpha, p.a, p.b]
    np.testing.assert_allclose(
        ours.conditional_expected_purchases(10, x, tx, T),
        theirs.conditional_expected_number_of_purchases_up_to_time(10, x, tx, T),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        ours.probability_alive(x, tx, T), theirs.conditional_probability_alive(x, tx, T), rtol=1e-9
    )
    for k in (0, 1, 3):
        assert ours.probability_of_purchases(k, 20)[0] == pytest.approx(
            theirs.probability_of_n_purchases_up_to_time(20, k), rel=1e-9
        )


def test_mbgnbd_matches_lifetimes(cdnow: dict[str, np.ndarray]) -> None:
    ours = fit_mbgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    theirs = lifetimes.ModifiedBetaGeoFitter().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    p = ours.params
    np.testing.assert_allclose([p.r, p.alpha, p.a, p.b], theirs.params_.values, rtol=1e-4)
    theirs.params_[:] = [p.r, p.alpha, p.a, p.b]
    x, tx, T = _rows(cdnow)
    np.testing.assert_allclose(
        ours.conditional_expected_purchases(39, x, tx, T),
        theirs.conditional_expected_number_of_purchases_up_to_time(39, x, tx, T),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        ours.expected_purchases([1.0, 39.0]),
        theirs.expected_number_of_purchases_up_to_time(np.array([1.0, 39.0])),
        rtol=1e-9,
    )


def test_pareto_nbd_matches_lifetimes(cdnow: dict[str, np.ndarray]) -> None:
    ours = fit_pareto_nbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    theirs = lifetimes.ParetoNBDFitter().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    p = ours.params
    # lifetimes stops Nelder-Mead early; our log-likelihood is at least as high
    assert -ours.log_likelihood <= theirs._negative_log_likelihood_ * 2357 + 1e-6
    np.testing.assert_allclose([p.r, p.alpha, p.s, p.beta], theirs.params_.values, rtol=2e-3)
    theirs.params_[:] = [p.r, p.alpha, p.s, p.beta]
    x, tx, T = _rows(cdnow)
    np.testing.assert_allclose(
        ours.conditional_expected_purchases(39, x, tx, T),
        theirs.conditional_expected_number_of_purchases_up_to_time(39, x, tx, T),
        rtol=1e-8,
    )
    np.testing.assert_allclose(
        ours.probability_alive(x, tx, T), theirs.conditional_probability_alive(x, tx, T), rtol=1e-8
    )
    for k in (0, 2, 5):
        expected = _pnbd_pmf_lifetimes(theirs, k, 39.0)
        assert ours.probability_of_purchases(k, 39)[0] == pytest.approx(expected, rel=1e-6)


def _pnbd_pmf_lifetimes(fitter: object, k: int, t: float) -> float:
    """lifetimes' unconditional P(X(t)=x): its conditional version at a fresh customer."""
    value = fitter.conditional_probability_of_n_purchases_up_to_time(k, t, 0, 0, 0)  # type: ignore[attr-defined]
    return float(np.asarray(value).ravel()[0])


def test_bgbb_matches_lifetimes() -> None:
    d = load_donations()
    ours = fit_bgbb(d["frequency"], d["recency"], d["periods"], weights=d["weights"])
    theirs = lifetimes.BetaGeoBetaBinomFitter().fit(
        d["frequency"], d["recency"], d["periods"], weights=d["weights"]
    )
    p = ours.params
    np.testing.assert_allclose(
        [p.alpha, p.beta, p.gamma, p.delta], theirs.params_.values, rtol=1e-4
    )
    f, r, n = d["frequency"], d["recency"], d["periods"]
    np.testing.assert_allclose(
        ours.conditional_expected_purchases(5, f, r, n),
        theirs.conditional_expected_number_of_purchases_up_to_time(5, f, r, n),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        ours.probability_alive(f, r, n), theirs.conditional_probability_alive(0, f, r, n), rtol=1e-5
    )


def test_gamma_gamma_and_clv_match_lifetimes(cdnow: dict[str, np.ndarray]) -> None:
    rep = cdnow["x"] > 0
    gg = fit_gamma_gamma(cdnow["x"][rep], cdnow["zbar"][rep])
    lg = lifetimes.GammaGammaFitter().fit(cdnow["x"][rep], cdnow["zbar"][rep])
    np.testing.assert_allclose(
        [gg.params.p, gg.params.q, gg.params.gamma], lg.params_.values, rtol=1e-4
    )
    bg = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    lb = lifetimes.BetaGeoFitter().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    lb.params_[:] = [bg.params.r, bg.params.alpha, bg.params.a, bg.params.b]
    lg.params_[:] = [gg.params.p, gg.params.q, gg.params.gamma]
    x, tx, T = _rows(cdnow)
    m = cdnow["zbar"][np.r_[0:40, 2300:2357]]
    ours = customer_lifetime_value(bg, gg, x, tx, T, m, horizon=12, step=4.345, discount_rate=0.01)
    theirs = lg.customer_lifetime_value(
        lb,
        pd.Series(x),
        pd.Series(tx),
        pd.Series(T),
        pd.Series(m),
        time=12,
        discount_rate=0.01,
        freq="W",
    ).to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
