"""The L2 penalizer has lifetimes' penalizer_coef semantics and does not depend on the time
unit (issue 13 review: it penalised the natural parameters, so the same coefficient gave
another model than lifetimes, and a model in days another one than in weeks)."""

from __future__ import annotations

import numpy as np
import pytest

from crmcore.datasets import load_cdnow_summary
from crmcore.valuation import fit_bgnbd, fit_mbgnbd, fit_pareto_nbd

lifetimes = pytest.importorskip("lifetimes")


@pytest.mark.parametrize("c", [0.001, 0.01])
@pytest.mark.parametrize(
    ("ours", "theirs", "per_customer"),
    [
        (fit_bgnbd, "BetaGeoFitter", False),
        (fit_mbgnbd, "ModifiedBetaGeoFitter", False),
        # lifetimes' Pareto/NBD penalises the summed, not the mean, log-likelihood
        (fit_pareto_nbd, "ParetoNBDFitter", True),
    ],
)
def test_same_coefficient_same_model_as_lifetimes(c, ours, theirs, per_customer) -> None:  # type: ignore[no-untyped-def]
    s = load_cdnow_summary()
    x, tx, T = s["x"], s["t_x"], s["T"]
    lf = getattr(lifetimes, theirs)(penalizer_coef=c).fit(x, tx, T, tol=1e-8)
    m = ours(x, tx, T, penalizer=c / len(x) if per_customer else c)
    assert np.allclose(m.fit.estimates, lf.params_.to_numpy(), rtol=2e-6)
    assert m.fit.penalizer == pytest.approx(c / len(x) if per_customer else c)


@pytest.mark.parametrize(
    ("fit", "scaled"), [(fit_bgnbd, [1, 7, 1, 1]), (fit_pareto_nbd, [1, 7, 1, 7])]
)
def test_a_penalised_fit_does_not_depend_on_the_time_unit(fit, scaled) -> None:  # type: ignore[no-untyped-def]
    s = load_cdnow_summary()
    x, tx, T = s["x"], s["t_x"], s["T"]
    weeks = np.array(fit(x, tx, T, penalizer=0.01).fit.estimates)
    days = np.array(fit(x, tx * 7, T * 7, penalizer=0.01).fit.estimates)
    assert np.allclose(days / weeks, scaled, rtol=1e-7)  # only the time scales move
