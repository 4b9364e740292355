"""Maximum-likelihood fit: simulation recovery, independent likelihood and optimiser, errors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import optimize

from crmcore.errors import FitError, ValidationError
from crmcore.satisfaction import (
    PARAMETER_NAMES,
    LoyaltyFit,
    LoyaltyModel,
    fit_loyalty,
    fit_loyalty_table,
    preset_model,
)
from crmcore.serialization import from_json, to_json

TRUE = LoyaltyModel(
    intercept=1.2,
    log_slope=0.2,
    floor_logit=0.5,
    intercept_competition=0.4,
    log_slope_competition=0.8,
    floor_logit_competition=-3.0,
)


def _simulate(
    model: LoyaltyModel, n: int, seed: int, levels: list[float]
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    s = rng.integers(1, 6, n)
    c = rng.choice(levels, n)
    y = (rng.random(n) < model.probability(s, c)).astype(int)
    return s, y, c


def _independent_loglik(theta: np.ndarray, s: np.ndarray, y: np.ndarray, c: np.ndarray) -> float:
    """Bernoulli log-likelihood of individual responses, written without the package."""
    a0, a1, b0, b1, g0, g1 = theta
    f = 1.0 / (1.0 + np.exp(-(g0 + g1 * c)))
    q = 1.0 / (1.0 + np.exp(-(a0 + a1 * c + np.exp(b0 + b1 * c) * (s - 5))))
    p = np.clip(f + (1.0 - f) * q, 1e-300, 1 - 1e-16)
    return float(np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)))


def test_recovers_known_parameters_within_three_standard_errors() -> None:
    s, y, c = _simulate(TRUE, 40_000, seed=11, levels=[0.0, 0.25, 0.5, 0.75, 1.0])
    fit = fit_loyalty(s, y, c)
    assert fit.parameter_names == PARAMETER_NAMES
    for name, se in zip(fit.parameter_names, fit.standard_errors, strict=True):
        est, true = getattr(fit.model, name), getattr(TRUE, name)
        assert abs(est - true) < 3 * se, (name, est, true, se)
    assert fit.n_responses == 40_000 and fit.n_cells == 25 and fit.competition_levels == 5


def test_recovers_an_unmoderated_curve() -> None:
    truth = LoyaltyModel(intercept=2.0, log_slope=0.5, floor_logit=-1.0)
    s, y, _ = _simulate(truth, 20_000, seed=3, levels=[0.5])
    fit = fit_loyalty(s, y)
    assert not fit.moderated
    for name, se in zip(fit.parameter_names, fit.standard_errors, strict=True):
        assert abs(getattr(fit.model, name) - getattr(truth, name)) < 3 * se


def test_log_likelihood_matches_an_independent_computation() -> None:
    s, y, c = _simulate(TRUE, 5_000, seed=2, levels=[0.1, 0.6, 0.9])
    fit = fit_loyalty(s, y, c)
    want = _independent_loglik(np.array(fit.model.params), s, y, c)
    assert fit.log_likelihood == pytest.approx(want, rel=1e-10)


def test_agrees_with_a_naive_optimiser_on_uncompressed_data() -> None:
    """Nelder-Mead on the individual Bernoulli likelihood, no gradient, no compression."""
    s, y, c = _simulate(TRUE, 3_000, seed=5, levels=[0.0, 0.5, 1.0])
    fit = fit_loyalty(s, y, c)
    res = optimize.minimize(
        lambda t: -_independent_loglik(t, s, y, c),
        np.array(fit.model.params) + 0.05,
        method="Nelder-Mead",
        options={"maxiter": 20_000, "maxfev": 20_000, "xatol": 1e-7, "fatol": 1e-10},
    )
    assert -res.fun <= fit.log_likelihood + 1e-6  # ours is at least as good
    assert np.array(fit.model.params) == pytest.approx(res.x, abs=5e-3)


def test_standard_errors_match_an_independent_numerical_hessian() -> None:
    s, y, c = _simulate(TRUE, 8_000, seed=8, levels=[0.0, 0.5, 1.0])
    fit = fit_loyalty(s, y, c)
    t = np.array(fit.model.params)
    h = 1e-4
    k = len(t)
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            hess[i, j] = (
                _independent_loglik(t + ei + ej, s, y, c)
                - _independent_loglik(t + ei - ej, s, y, c)
                - _independent_loglik(t - ei + ej, s, y, c)
                + _independent_loglik(t - ei - ej, s, y, c)
            ) / (4 * h * h)
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    assert np.array(fit.standard_errors) == pytest.approx(se, rel=0.02)


def test_table_fit_equals_the_individual_fit() -> None:
    s, y, c = _simulate(preset_model(), 6_000, seed=4, levels=[0.2, 0.8])
    counts = Counter(zip(s.tolist(), c.tolist(), y.tolist(), strict=True))
    cells = sorted({(a, b) for a, b, _ in counts})
    ss = [a for a, _ in cells]
    cc = [b for _, b in cells]
    loyal = [counts[(a, b, 1)] for a, b in cells]
    total = [counts[(a, b, 0)] + counts[(a, b, 1)] for a, b in cells]
    by_table = fit_loyalty_table(ss, cc, loyal, total)
    by_rows = fit_loyalty(s, y, c)
    assert by_table.log_likelihood == pytest.approx(by_rows.log_likelihood, rel=1e-12)
    assert by_table.model.params == pytest.approx(by_rows.model.params, abs=1e-6)
    assert by_table.standard_errors == pytest.approx(by_rows.standard_errors, rel=1e-4)


def test_fit_round_trips_as_json() -> None:
    s, y, c = _simulate(preset_model(), 3_000, seed=9, levels=[0.2, 0.8])
    fit = fit_loyalty(s, y, c)
    back = from_json(LoyaltyFit, to_json(fit))
    assert back == fit
    assert back.model.probability([4], 0.5) == pytest.approx(fit.model.probability([4], 0.5))
    assert fit.summary() is fit.fit and len(fit.summary().table()) == 6


def test_nan_policy_omit_drops_rows_and_raise_names_them() -> None:
    s, y, c = _simulate(preset_model(), 2_000, seed=6, levels=[0.2, 0.8])
    sf = s.astype(float)
    sf[[3, 10]] = np.nan
    with pytest.raises(
        ValidationError, match="'satisfaction' must not contain NaN: found at index 3"
    ):
        fit_loyalty(sf, y, c)
    omitted = fit_loyalty(sf, y, c, nan_policy="omit")
    keep = ~np.isnan(sf)
    assert omitted.model == fit_loyalty(s[keep], y[keep], c[keep]).model
    with pytest.raises(ValidationError, match="propagate"):
        fit_loyalty(sf, y, c, nan_policy="propagate")


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (
            ([1, 2], [0, 2], [0.1, 0.2]),
            ValidationError,
            "'outcome' must be binary \\(0 or 1\\): 2.0 at index 1",
        ),
        (([1, 2], [0, 0.5], None), ValidationError, "'outcome' must be binary"),
        (([1, 7], [0, 1], None), ValidationError, "'satisfaction' must be in \\[1, 5\\]: 7"),
        (([1, 2.5], [0, 1], None), ValidationError, "whole numbers: 2.5"),
        (([1, 2], [0, 1], [0.1, 1.1]), ValidationError, "'competition' must be in \\[0, 1\\]: 1.1"),
        (([], [], None), ValidationError, "no responses"),
    ],
)
def test_bad_input(args: tuple[object, ...], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        fit_loyalty(*args)


def test_moderation_needs_two_levels_and_defaults_off_with_one() -> None:
    s, y, _ = _simulate(preset_model(), 2_000, seed=14, levels=[0.4])
    with pytest.raises(FitError, match="from 1 competition level"):
        fit_loyalty(s, y, 0.4, moderated=True)
    assert not fit_loyalty(s, y, 0.4).moderated


def test_bad_tables() -> None:
    with pytest.raises(ValidationError, match="'total' must hold whole counts >= 0: -1.0"):
        fit_loyalty_table([1], [0.5], [0], [-1])
    with pytest.raises(ValidationError, match="'loyal' must hold whole counts"):
        fit_loyalty_table([1], [0.5], [0.5], [1])
    with pytest.raises(ValidationError, match="every 'total' is 0"):
        fit_loyalty_table([1, 2], [0.5, 0.5], [0, 0], [0, 0])
    with pytest.raises(ValidationError, match="same length"):
        fit_loyalty_table([1, 2], [0.5], [0, 0], [1, 1])


def test_unidentified_data_raise_fit_error_not_nan() -> None:
    # everyone answered 5: the slope and floor cannot be told apart
    with pytest.raises(FitError):
        fit_loyalty([5] * 50, [1, 0] * 25)
    # perfectly separated outcomes run to the edge of the logit scale
    with pytest.raises(FitError, match="diverged"):
        fit_loyalty([1, 2, 3, 4, 5] * 20, [0, 0, 0, 1, 1] * 20)


def test_a_zero_floor_is_fixed_on_its_boundary_not_an_error() -> None:
    """Plain logistic data (no captive customers): the floor's MLE is 0, on the boundary.

    (Moderated fits of such data end on the boundary too, but the floor may stay at
    one end level: see test_satisfaction_fit_boundary.py.)"""
    truth = LoyaltyModel(intercept=1.5, log_slope=0.3, floor_logit=-40.0)
    s, y, _c = _simulate(truth, 20_000, seed=12, levels=[0.3, 0.7])
    fit = fit_loyalty(s, y)
    assert "floor_logit" not in fit.parameter_names
    assert fit.boundary == ("floor_logit",)
    assert "boundary" in fit.message
    assert fit.model.curve(0.5).floor < 1e-12
    assert abs(fit.model.intercept - 1.5) < 3 * fit.standard_error("intercept")
    assert abs(fit.model.log_slope - 0.3) < 3 * fit.standard_error("log_slope")


def test_the_fit_runs_on_the_shared_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: one maximum-likelihood engine for every model; the loyalty fit is its
    hooks (likelihood, starts, stop rule), and each start's end point comes from the engine."""
    import crmcore.fitting as fitting
    import crmcore.satisfaction._estimate as estimate

    calls: list[int] = []

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1 + len(kwargs.get("starts", ())))  # type: ignore[arg-type]
        return fitting.maximum_likelihood(*args, **kwargs)  # type: ignore[arg-type]

    s, y, c = _simulate(TRUE, 4_000, seed=13, levels=[0.0, 0.5, 1.0])
    normal = fit_loyalty(s, y, c)
    monkeypatch.setattr(estimate, "maximum_likelihood", counted)
    again = fit_loyalty(s, y, c)
    assert calls and max(calls) >= 2  # several starting points, in the engine
    assert again == normal
