"""Issue 13, structure: one likelihood per model (the plain model is the zero-covariate case),
the predictions' preparation hook, and the minor findings (NaT horizons, text counts, a
penalised sBG on data that cannot identify it)."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.valuation import (
    BGNBDModel,
    BGNBDParams,
    ParetoNBDParams,
    fit_sbg,
    simulate_bgnbd,
    simulate_pareto_nbd,
    summarize_arrays,
)
from crmcore.valuation.btyd import _bgnbd_loglik, _pareto_loglik
from crmcore.valuation.btyd._design import FitData
from crmcore.valuation.btyd._family import PurchaseModelBase

MODEL = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426), time_unit="W")


# -- one likelihood: with covariates at 0 it is the plain model's ---------------------------


def _with_and_without(
    x: np.ndarray, tx: np.ndarray, T: np.ndarray, seed: int
) -> tuple[FitData, FitData]:
    rng = np.random.default_rng(seed)
    w = rng.integers(1, 4, len(x)).astype(float)
    zp = rng.normal(size=(len(x), 1))
    zd = np.column_stack([rng.integers(0, 2, len(x)), rng.normal(size=len(x))]).astype(float)
    none = np.zeros((len(x), 0))
    return FitData.build(x, tx, T, w, zp, zd), FitData.build(x, tx, T, w, none, none)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 999), st.sampled_from([0, 1]))
def test_bgnbd_with_covariates_at_zero_is_the_plain_likelihood(seed: int, shift: int) -> None:
    T = np.random.default_rng(seed).integers(1, 200, 300).astype(float)
    x, tx, TT = simulate_bgnbd(BGNBDParams(0.5, 20.0, 0.8, 2.5), T, seed=seed)
    cov, plain = _with_and_without(x, tx, TT, seed)
    th = np.array([0.5, 20.0, 0.8, 2.5])
    ll0, g0, H0 = _bgnbd_loglik.loglik(th, _bgnbd_loglik.BGRows.build(plain), shift)
    ll1, g1, H1 = _bgnbd_loglik.loglik(
        np.concatenate([th, np.zeros(3)]), _bgnbd_loglik.BGRows.build(cov), shift
    )
    assert ll1 == pytest.approx(ll0, rel=1e-12)
    np.testing.assert_allclose(g1[:4], g0, rtol=1e-9, atol=1e-9 * np.abs(g0).max())
    np.testing.assert_allclose(H1[:4, :4], H0, rtol=1e-9, atol=1e-9 * np.abs(H0).max())


@pytest.mark.parametrize("params", [(0.55, 100.0, 0.6, 300.0), (0.55, 300.0, 0.6, 100.0)])
def test_pareto_with_covariates_at_zero_is_the_plain_likelihood(
    params: tuple[float, ...],
) -> None:
    """The plain rows take the series, the rows with covariates the quadrature: one
    likelihood, two evaluations of its integral, the same numbers."""
    T = np.random.default_rng(4).integers(1, 731, 400).astype(float)
    x, tx, TT = simulate_pareto_nbd(ParetoNBDParams(*params), T, seed=4)
    cov, plain = _with_and_without(x, tx, TT, 4)
    th = np.array(params)
    ll0, g0, H0 = _pareto_loglik.loglik(th, _pareto_loglik.ParetoRows.build(plain))
    ll1, g1, H1 = _pareto_loglik.loglik(
        np.concatenate([th, np.zeros(3)]), _pareto_loglik.ParetoRows.build(cov)
    )
    assert ll1 == pytest.approx(ll0, rel=1e-11)
    np.testing.assert_allclose(g1[:4], g0, rtol=1e-7, atol=1e-8 * np.abs(g0).max())
    np.testing.assert_allclose(H1[:4, :4], H0, rtol=1e-6, atol=1e-7 * np.abs(H0).max())


# -- the predictions: one checked body each, prepared by the elementwise hook ---------------


def test_public_predictions_have_no_private_twin() -> None:
    for name in (
        "probability_alive",
        "conditional_expected_purchases",
        "probability_of_repurchase",
        "conditional_probability_of_purchases",
    ):
        assert not hasattr(PurchaseModelBase, "_" + name)
        assert getattr(PurchaseModelBase, name).__doc__


def test_summary_span_and_nan_policy_through_the_hook() -> None:
    s = summarize_arrays(
        ["a", "a", "a", "b"],
        ["2024-01-01", "2024-01-15", "2024-02-05", "2024-01-20"],
        time_unit="W",
        observation_end="2024-03-04",
    )
    by_arrays = MODEL.conditional_expected_purchases(2, s.frequency, s.recency, s.T)
    by_summary = MODEL.conditional_expected_purchases(datetime.timedelta(weeks=2), s)
    np.testing.assert_array_equal(by_summary, by_arrays)
    out = MODEL.probability_of_repurchase(
        1.0, [2, np.nan], [30.0, 30.0], [38.0, 38.0], nan_policy="propagate"
    )
    assert np.isfinite(out[0]) and np.isnan(out[1])
    with pytest.raises(ValidationError, match=r"'n' must be >= 0"):
        MODEL.conditional_probability_of_purchases(-1, 2, 1, 1.0, 2.0)


# -- minor findings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "t",
    [
        np.timedelta64("NaT"),
        np.array([np.timedelta64(7, "D"), np.timedelta64("NaT")]),
    ],
)
def test_a_nat_horizon_is_named(t: object) -> None:
    with pytest.raises(ValidationError, match=r"'t' must be a duration, not NaT"):
        MODEL.conditional_expected_purchases(t, 2, 30.43, 38.86)


def test_a_pandas_nat_horizon_is_named() -> None:
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValidationError, match=r"'t' must be a duration, not NaT"):
        MODEL.probability_of_repurchase(pd.NaT, 2, 30.43, 38.86)


@pytest.mark.parametrize("counts", [["1000", "800", "700"], [["1000", "800", "700"]]])
def test_fit_sbg_refuses_text_counts(counts: object) -> None:
    with pytest.raises(ValidationError, match=r"must hold numbers, not text: '1000'"):
        fit_sbg(counts)  # type: ignore[arg-type]


@pytest.mark.parametrize("counts", [[1000, 600], [1000, 800, 640, 512]])
def test_a_penalised_sbg_on_unidentified_data_says_the_penalty_fixed_it(
    counts: list[int],
) -> None:
    """Decided as lifetimes (penalizer_coef) and statsmodels (fit_regularized) do: the
    penalised maximum is unique, so it is returned as converged; its message says that the
    penalty, not the data, identified alpha and beta. Unpenalised, the same data are a
    FitError (tests/valuation/test_economics_sbg.py)."""
    m = fit_sbg(counts, penalizer=0.01)
    assert m.fit is not None and m.fit.converged
    assert "identified by the penalty alone" in m.fit.message


def test_a_penalised_sbg_on_identified_data_has_no_note() -> None:
    m = fit_sbg([1000, 631, 468, 382, 326], penalizer=0.01)
    assert m.fit is not None and "penalty alone" not in m.fit.message
