"""BG/NBD and MBG/NBD with time-invariant covariates: recovery, per-customer predictions, errors."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.serialization import from_json, to_json
from crmcore.valuation import (
    BGNBDModel,
    BGNBDParams,
    CovariateEffects,
    GammaGammaModel,
    GammaGammaParams,
    MBGNBDModel,
    ParetoNBDModel,
    ParetoNBDParams,
    customer_lifetime_value,
    fit_bgnbd,
    fit_mbgnbd,
    fit_pareto_nbd,
)
from crmcore.valuation.btyd._covariates import bg_row_derivatives


def _simulate(
    r: float,
    alpha_i: np.ndarray,
    a_i: np.ndarray,
    b_i: np.ndarray,
    T: np.ndarray,
    rng: np.random.Generator,
    at_zero: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The model's own story, customer by customer in vectorised steps: Poisson purchases at
    rate lambda_i ~ gamma(r, alpha_i) until a coin with p_i ~ beta(a_i, b_i) ends the life
    (MBG/NBD: also at time zero)."""
    n = len(T)
    lam = rng.gamma(r, 1.0 / alpha_i)
    p = rng.beta(a_i, b_i)
    x, tx, t = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    if at_zero:
        alive &= rng.random(n) >= p
    while alive.any():
        t = np.where(alive, t + rng.exponential(1.0 / lam), t)
        alive &= t <= T
        x[alive] += 1
        tx[alive] = t[alive]
        alive &= rng.random(n) >= p
    return x, tx


@pytest.mark.parametrize(("fit", "at_zero"), [(fit_bgnbd, False), (fit_mbgnbd, True)])
def test_fit_recovers_known_coefficients(fit: object, at_zero: bool) -> None:
    rng = np.random.default_rng(11)
    n = 6000
    z_p = rng.integers(0, 2, n).astype(float)  # e.g. acquired by a campaign
    z_d = rng.normal(size=n)
    r, alpha, a, b, g_p, g_d = 0.5, 6.0, 0.8, 2.5, 0.6, -0.4
    T = np.round(rng.uniform(20, 80, n) * 7) / 7
    alpha_i = alpha * np.exp(-g_p * z_p)
    m = np.exp(g_d * z_d)
    x, tx = _simulate(r, alpha_i, a * m, b * m, T, rng, at_zero)
    model = fit(x, tx, T, purchase_covariates=z_p, dropout_covariates=z_d)  # type: ignore[operator]
    assert model.covariates is not None and model.covariates.purchase_errors is not None
    got = [*(getattr(model.params, k) for k in ("r", "alpha", "a", "b"))]
    got += [model.covariates.purchase[0], model.covariates.dropout[0]]
    se = [*(getattr(model.standard_errors, k) for k in ("r", "alpha", "a", "b"))]
    se += [model.covariates.purchase_errors[0], model.covariates.dropout_errors[0]]  # type: ignore[index]
    truth = [r, alpha, a, b, g_p, g_d]
    z = np.abs(np.array(got) - truth) / np.array(se)
    assert (z < 4).all(), (got, se)
    # the covariates explain something: a clearly better likelihood than without them
    assert model.log_likelihood > fit(x, tx, T).log_likelihood + 20  # type: ignore[operator]


def test_a_covariate_without_effect_gets_a_coefficient_near_zero() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    T = np.full(n, 52.0)
    x, tx = _simulate(0.4, np.full(n, 5.0), np.full(n, 0.8), np.full(n, 2.5), T, rng)
    noise = rng.normal(size=n)
    model = fit_bgnbd(x, tx, T, purchase_covariates=noise)
    base = fit_bgnbd(x, tx, T)
    assert model.covariates is not None and model.covariates.purchase_errors is not None
    assert abs(model.covariates.purchase[0]) < 4 * model.covariates.purchase_errors[0]
    assert model.covariates.dropout == ()
    assert model.log_likelihood >= base.log_likelihood - 1e-6
    assert abs(model.params.r / base.params.r - 1) < 0.05


@settings(max_examples=30, deadline=None)
@given(
    st.floats(0.1, 3),
    st.floats(0.5, 20),
    st.floats(0.2, 3),
    st.floats(0.5, 8),
    st.integers(0, 50),
    st.floats(0, 60),
    st.floats(0, 1),
    st.sampled_from([0, 1]),
)
def test_row_derivatives_match_finite_differences(
    r: float, alpha: float, a: float, b: float, x: int, T: float, share: float, shift: int
) -> None:
    xs = np.array([float(x)])
    tx = np.array([share * T if x > 0 else 0.0])
    Ts = np.array([T])

    def ll(r_: float, al: float, a_: float, b_: float) -> float:
        return float(
            bg_row_derivatives(
                r_, np.array([al]), np.array([a_]), np.array([b_]), xs, tx, Ts, shift
            )[0][0]
        )

    _, *derivs = bg_row_derivatives(
        r, np.array([alpha]), np.array([a]), np.array([b]), xs, tx, Ts, shift
    )
    point = [r, alpha, a, b]
    for j, d in enumerate(derivs):
        h = 1e-6 * point[j]
        up, down = list(point), list(point)
        up[j] += h
        down[j] -= h
        num = (ll(*up) - ll(*down)) / (2 * h)
        assert d[0] == pytest.approx(num, rel=1e-5, abs=1e-7)


EFFECTS = CovariateEffects(purchase=(0.5, -0.2), dropout=(0.3,))
COV_MODEL = BGNBDModel(BGNBDParams(0.3, 5.0, 0.8, 2.4), time_unit="W", covariates=EFFECTS)
ZP = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
ZD = np.array([0.0, -1.0, 2.0])
X, TX, TT = np.array([0.0, 3.0, 7.0]), np.array([0.0, 20.0, 30.0]), np.array([40.0, 40.0, 45.0])


def _plain(i: int) -> BGNBDModel:
    """Customer i as a model without covariates: her own alpha, a, b."""
    alpha = 5.0 * np.exp(-(ZP[i] @ np.array(EFFECTS.purchase)))
    m = float(np.exp(ZD[i] * EFFECTS.dropout[0]))
    return BGNBDModel(BGNBDParams(0.3, float(alpha), 0.8 * m, 2.4 * m), time_unit="W")


def test_predictions_are_the_plain_model_with_each_customers_own_parameters() -> None:
    kw = {"purchase_covariates": ZP, "dropout_covariates": ZD}
    alive = COV_MODEL.probability_alive(X, TX, TT, **kw)
    expect = COV_MODEL.conditional_expected_purchases(26, X, TX, TT, **kw)
    rep = COV_MODEL.probability_of_repurchase(13, X, TX, TT, **kw)
    gg = GammaGammaModel(GammaGammaParams(6.25, 3.74, 15.44))
    m = np.array([0.0, 30.0, 45.0])
    clv = customer_lifetime_value(COV_MODEL, gg, X, TX, TT, m, horizon=12, **kw)
    for i in range(3):
        plain = _plain(i)
        one = (X[i : i + 1], TX[i : i + 1], TT[i : i + 1])
        assert alive[i] == pytest.approx(plain.probability_alive(*one)[0], rel=1e-12)
        assert expect[i] == pytest.approx(
            plain.conditional_expected_purchases(26, *one)[0], rel=1e-10
        )
        assert rep[i] == pytest.approx(plain.probability_of_repurchase(13, *one)[0], rel=1e-10)
        plain_clv = customer_lifetime_value(plain, gg, *one, m[i : i + 1], horizon=12)
        assert clv[i] == pytest.approx(plain_clv[0], rel=1e-10)


def test_covariate_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match="'purchase_covariates' are required"):
        COV_MODEL.probability_alive(X, TX, TT, dropout_covariates=ZD)
    with pytest.raises(ValidationError, match="must have 2 column"):
        COV_MODEL.probability_alive(X, TX, TT, purchase_covariates=ZD, dropout_covariates=ZD)
    with pytest.raises(ValidationError, match="one row per customer"):
        COV_MODEL.probability_alive(X, TX, TT, purchase_covariates=ZP[:2], dropout_covariates=ZD)
    with pytest.raises(ValidationError, match="fitted without covariates"):
        _plain(0).probability_alive(X, TX, TT, purchase_covariates=ZP)
    with pytest.raises(ValidationError, match="must be finite: nan at row 1"):
        fit_bgnbd(X, TX, TT, dropout_covariates=[0.0, np.nan, 1.0])


def test_models_with_covariates_round_trip_through_json() -> None:
    mbg = MBGNBDModel(COV_MODEL.params, covariates=EFFECTS)
    for model in (COV_MODEL, mbg):
        assert from_json(type(model), to_json(model)) == model


def test_pareto_nbd_recovers_known_coefficients() -> None:
    """Pareto/NBD's own story with alpha_i = alpha exp(-g_p z), beta_i = beta exp(-g_d z)."""
    rng = np.random.default_rng(21)
    n = 3000
    z_p = rng.integers(0, 2, n).astype(float)
    z_d = rng.integers(0, 2, n).astype(float)
    r, alpha, s, beta, g_p, g_d = 0.6, 8.0, 0.8, 12.0, 0.7, 0.8
    T = np.round(rng.uniform(30, 80, n) * 7) / 7
    lam = rng.gamma(r, 1.0 / (alpha * np.exp(-g_p * z_p)))
    mu = rng.gamma(s, 1.0 / (beta * np.exp(-g_d * z_d)))
    death = rng.exponential(1.0 / mu)
    end = np.minimum(death, T)
    x = rng.poisson(lam * end).astype(float)
    tx = np.where(x > 0, end * rng.beta(np.maximum(x, 1), 1.0), 0.0)  # last of x uniform times
    model = fit_pareto_nbd(x, tx, T, purchase_covariates=z_p, dropout_covariates=z_d)
    eff = model.covariates
    assert eff is not None and eff.purchase_errors is not None and eff.dropout_errors is not None
    got = [*attrs.astuple(model.params), eff.purchase[0], eff.dropout[0]]
    se = [*attrs.astuple(model.standard_errors), eff.purchase_errors[0], eff.dropout_errors[0]]
    z = np.abs(np.array(got) - [r, alpha, s, beta, g_p, g_d]) / np.array(se)
    assert (z < 4).all(), (got, se)


def test_pareto_nbd_predictions_with_covariates_are_the_plain_model_per_customer() -> None:
    eff = CovariateEffects(purchase=(0.5,), dropout=(-0.3, 0.2))
    params = ParetoNBDParams(0.55, 10.6, 0.61, 11.7)
    model = ParetoNBDModel(params, time_unit="W", covariates=eff)
    zp = np.array([0.0, 1.0, 2.0])
    zd = np.array([[0.0, 0.0], [1.0, 2.0], [-1.0, 0.5]])
    kw = {"purchase_covariates": zp, "dropout_covariates": zd}
    alive = model.probability_alive(X, TX, TT, **kw)
    expect = model.conditional_expected_purchases(26, X, TX, TT, **kw)
    rep = model.probability_of_repurchase(13, X, TX, TT, **kw)
    gg = GammaGammaModel(GammaGammaParams(6.25, 3.74, 15.44))
    m = np.array([0.0, 30.0, 45.0])
    clv = customer_lifetime_value(model, gg, X, TX, TT, m, horizon=6, **kw)
    for i in range(3):
        al = params.alpha * np.exp(-zp[i] * 0.5)
        be = params.beta * np.exp(-(zd[i] @ np.array([-0.3, 0.2])))
        plain = ParetoNBDModel(ParetoNBDParams(0.55, float(al), 0.61, float(be)), time_unit="W")
        one = (X[i : i + 1], TX[i : i + 1], TT[i : i + 1])
        assert alive[i] == pytest.approx(plain.probability_alive(*one)[0], rel=1e-12)
        assert expect[i] == pytest.approx(
            plain.conditional_expected_purchases(26, *one)[0], rel=1e-10
        )
        assert rep[i] == pytest.approx(plain.probability_of_repurchase(13, *one)[0], rel=1e-10)
        plain_clv = customer_lifetime_value(plain, gg, *one, m[i : i + 1], horizon=6)
        assert clv[i] == pytest.approx(plain_clv[0], rel=1e-10)
    with pytest.raises(ValidationError, match="'dropout_covariates' are required"):
        model.probability_alive(X, TX, TT, purchase_covariates=zp)
    assert from_json(ParetoNBDModel, to_json(model)) == model
