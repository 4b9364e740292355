"""Issue 13: the loyalty fit carries the one fitted-result shape, crmcore.fitting.FitSummary,
and loyalty fits saved before it still load."""

from __future__ import annotations

import json
import math
from typing import Any

import attrs
import numpy as np
import pytest

from crmcore.errors import ValidationError
from crmcore.fitting import FitSummary
from crmcore.satisfaction import LoyaltyFit, fit_loyalty_table, moderation_test_table
from crmcore.serialization import from_json, load_model, to_dict, to_json

TABLE = ([1, 2, 3, 4, 5], [0.5] * 5, [30, 34, 45, 70, 90], [100] * 5)
EDGE = (  # a maximum with the floor at 0 at every level but the lowest
    [1, 2, 3, 4, 5] * 2,
    [0.1] * 5 + [0.9] * 5,
    [61, 54, 65, 75, 92, 0, 0, 2, 16, 87],
    [100] * 10,
)


def test_the_fit_is_a_fit_summary_and_the_old_fields_read_from_it() -> None:
    fit = fit_loyalty_table(*TABLE)
    s = fit.fit
    assert isinstance(s, FitSummary)
    assert s.names == fit.parameter_names == ("intercept", "log_slope", "floor_logit")
    assert s.estimates == tuple(getattr(fit.model, n) for n in s.names)
    assert s.standard_errors == fit.standard_errors and s.covariance == fit.covariance
    assert s.log_likelihood == fit.log_likelihood and s.n == fit.n_responses == 500
    assert (s.iterations, s.converged, s.message) == (fit.iterations, True, fit.message)
    assert fit.aic == pytest.approx(2 * 3 - 2 * fit.log_likelihood)
    assert fit.bic == pytest.approx(3 * math.log(500) - 2 * fit.log_likelihood)
    se = np.sqrt(np.diag(np.array(s.covariance)))
    assert np.array(s.standard_errors) == pytest.approx(se, rel=1e-12)
    row = s["log_slope"]  # a coefficient on the real line: estimate +- 1.96 SE
    assert row.standard_error is not None
    assert row.lower == pytest.approx(row.estimate - 1.959964 * row.standard_error, rel=1e-6)
    assert "log_slope" in str(s)


def test_a_boundary_fit_lists_its_fixed_coefficients_as_at_bound() -> None:
    fit = fit_loyalty_table(*EDGE)
    assert fit.boundary == fit.fit.at_bound == ("floor_logit_competition",)
    assert "floor_logit_competition" not in fit.fit.names and fit.fit.k == 5


def test_the_moderation_tests_fits_carry_summaries() -> None:
    t = moderation_test_table(
        [1, 2, 3, 4, 5] * 2,
        [0.0] * 5 + [1.0] * 5,
        [70, 72, 75, 85, 95, 2, 2, 5, 20, 80],
        [100] * 10,
    )
    assert t.full.fit.k - t.restricted.fit.k == t.df
    assert t.statistic == pytest.approx(
        2 * (t.full.fit.log_likelihood - t.restricted.fit.log_likelihood)
    )


def test_round_trip_and_the_summary_checks() -> None:
    fit = fit_loyalty_table(*EDGE)
    assert from_json(LoyaltyFit, to_json(fit)) == fit == load_model(to_json(fit))
    data = to_dict(fit)
    assert data["fit"]["at_bound"] == ["floor_logit_competition"]
    wrong = attrs.evolve(fit.fit, estimates=(9.0, *fit.fit.estimates[1:]))
    with pytest.raises(ValidationError, match="'fit' estimates 'intercept' at 9.0"):
        attrs.evolve(fit, fit=wrong)
    with pytest.raises(ValidationError, match="cannot estimate a coefficient it holds"):
        attrs.evolve(fit, fit=attrs.evolve(fit.fit, at_bound=("intercept",)))
    with pytest.raises(ValidationError, match="must name coefficients"):
        attrs.evolve(fit, fit=attrs.evolve(fit.fit, at_bound=("r",)))
    with pytest.raises(ValidationError, match="must carry standard errors"):
        attrs.evolve(fit, fit=attrs.evolve(fit.fit, standard_errors=None, covariance=None))


OLD: dict[str, Any] = {  # what crmcore wrote before the loyalty fit carried a FitSummary (format 2, flat)
    "type": "loyalty_fit",
    "format": 2,
    "model": {
        "type": "loyalty_model", "format": 2, "intercept": 1.8105845136557526,
        "log_slope": 0.41573068050252043, "floor_logit": -0.8838002134820496,
        "intercept_competition": 0.0, "log_slope_competition": 0.0, "floor_logit_competition": 0.0,
    },
    "parameter_names": ["intercept", "log_slope", "floor_logit"],
    "standard_errors": [0.29969634564403236, 0.20101326120422175, 0.2184644649352341],
    "covariance": [
        [0.0898178995923873, 0.03957779222711326, 0.004593653244048925],
        [0.03957779222711326, 0.04040633117995668, 0.027434630880399286],
        [0.004593653244048925, 0.027434630880399286, 0.04772672243943814],
    ],
    "log_likelihood": -287.6082027533258,
    "n_responses": 500, "n_cells": 5, "competition_levels": 1,
    "converged": True, "iterations": 10,
    "message": "converged: Fisher scoring then Newton on the observed Hessian",
}  # fmt: skip


@pytest.mark.parametrize("fmt", [2, 1, 0])
def test_an_older_loyalty_fit_file_loads(fmt: int) -> None:
    data = json.loads(json.dumps(OLD))
    if fmt:
        data["format"] = fmt
    else:  # crmcore 0.1: no type, no format, anywhere
        del data["type"], data["format"], data["model"]["type"], data["model"]["format"]
    back = from_json(LoyaltyFit, json.dumps(data))
    assert back.parameter_names == tuple(OLD["parameter_names"])
    assert back.standard_errors == tuple(OLD["standard_errors"])
    assert back.log_likelihood == OLD["log_likelihood"] and back.n_responses == 500
    assert back.boundary == () and back.message == OLD["message"]
    model = OLD["model"]
    assert back.fit.estimates == (model["intercept"], model["log_slope"], model["floor_logit"])
    again = to_dict(back)
    assert again["format"] == 2 and "parameter_names" not in again and "fit" in again
    fresh = fit_loyalty_table(*TABLE)  # the same table fitted today: the same fit
    assert back.model.params == pytest.approx(fresh.model.params, abs=1e-6)


def test_a_flat_file_with_a_boundary_loads_it_as_at_bound() -> None:
    data = {**json.loads(json.dumps(OLD)), "boundary": ["floor_logit"]}
    data["parameter_names"] = ["intercept", "log_slope"]
    data["standard_errors"] = data["standard_errors"][:2]
    data["covariance"] = [row[:2] for row in data["covariance"][:2]]
    data["model"]["floor_logit"] = -30.0
    back = from_json(LoyaltyFit, json.dumps(data))
    assert back.boundary == ("floor_logit",) and back.fit.k == 2


def test_summary_is_the_shared_result_shape() -> None:
    """Issue 13: ``LoyaltyFit.summary()`` is the FitSummary of every other model (frozen
    rows with estimate, SE, interval, z), not lines of text."""
    fit = fit_loyalty_table(*EDGE)
    s = fit.summary()
    assert isinstance(s, FitSummary) and s is fit.fit
    rows = s.table(0.9)
    assert [r.name for r in rows] == list(fit.parameter_names)
    for r, se in zip(rows, fit.standard_errors, strict=True):
        assert r.standard_error == se and r.z == pytest.approx(r.estimate / se)
        assert r.lower == pytest.approx(r.estimate - 1.644854 * se, rel=1e-6, abs=1e-6)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        s.log_likelihood = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("covariance", "errors", "match"),
    [
        (((0.3, 0.1), (0.2, 0.4)), None, "must be symmetric"),
        (((-0.3, 0.0), (0.0, 0.4)), None, "variance of 'a'.*must be >= 0: -0.3"),
        (((0.25, 0.0), (0.0, 0.4)), (0.9, 0.632456), "'standard_errors'.*'a' should be 0.5.*: 0.9"),
        (((0.3,),), None, "must be 2 x 2"),
    ],
)
def test_an_inconsistent_covariance_is_refused(covariance: Any, errors: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        FitSummary("toy", ("a", "b"), (1.0, 2.0), errors, covariance, -7.0, 10, 5, True, "")
