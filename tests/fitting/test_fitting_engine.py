"""The one maximum-likelihood engine's options (issue 13): several starting points, a
model's stop rule with the diverging end point reported, and clear errors for bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from crmcore.errors import FitError, ValidationError
from crmcore.fitting import maximum_likelihood

Array = np.ndarray[Any, np.dtype[Any]]


def _mixture(th: Array) -> tuple[float, Array]:
    """A log-likelihood in one free parameter with two maxima: log of two bumps, the one
    at 4 higher than the one at -3 (n = 1)."""
    x = float(th[0])
    a, b = np.exp(-((x + 3) ** 2)), 2.0 * np.exp(-((x - 4) ** 2))
    value = np.log(a + b + 1e-300)
    grad = (-2 * (x + 3) * a - 2 * (x - 4) * b) / (a + b + 1e-300)
    return float(value), np.array([grad])


def test_several_starts_keep_the_highest_maximum() -> None:
    one = maximum_likelihood(_mixture, [-2.0], model="toy", names=["x"], n=1, free=1)
    assert one.estimates[0] == pytest.approx(-3.0, abs=1e-6)  # the start's own basin
    best = maximum_likelihood(
        _mixture, [-2.0], starts=[[3.0], [10.0]], model="toy", names=["x"], n=1, free=1
    )
    assert best.estimates[0] == pytest.approx(4.0, abs=1e-6) and best.converged


@settings(max_examples=10, deadline=None)
@given(st.lists(st.floats(-6, 8), min_size=1, max_size=4))
def test_the_best_start_wins_whatever_the_order(starts: list[float]) -> None:
    """Against scipy's bounded scalar search over the whole range: the engine's estimate
    is the maximum reached from the best of its starts, never a lower one."""
    fit = maximum_likelihood(
        _mixture, [starts[0]], starts=[[s] for s in starts[1:]], model="toy", names=["x"],
        n=1, free=1,
    )  # fmt: skip
    ends = [optimize.minimize(lambda t: -_mixture(t)[0], [s], method="BFGS").x[0] for s in starts]
    best = max(_mixture(np.array([e]))[0] for e in ends)
    assert fit.log_likelihood >= best - 1e-9


def test_a_stop_rule_reports_the_diverging_end_point() -> None:
    def ll(th: Array) -> tuple[float, Array]:  # rises for ever: no maximum
        return float(th[0]), np.array([1.0])

    far = maximum_likelihood(
        ll, [0.0], model="toy", names=["x"], n=1, free=1,
        stop=lambda th: bool(th[0] > 30), diverging="report",
    )  # fmt: skip
    assert not far.converged and far.estimates[0] > 30 and far.standard_errors is None
    assert far.message.startswith("diverged")
    with pytest.raises(FitError, match="diverged"):
        maximum_likelihood(
            ll, [0.0], model="toy", names=["x"], n=1, free=1, stop=lambda th: bool(th[0] > 30)
        )


def _poisson(th: Array) -> tuple[float, Array]:
    return float(30 * np.log(th[0]) - 10 * th[0]), np.array([30 / th[0] - 10])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start": [1e300]}, r"initial value of 'lam' must be in e\*\*-50 .. e\*\*50.*: 1e\+300"),
        ({"start": [1e-300]}, r"initial value of 'lam' must be in e\*\*-50 .. e\*\*50.*: 1e-300"),
        ({"start": [1e10], "penalizer": 1e300}, r"'penalizer' 1e\+300 makes the penalty infinite"),
        ({"start": [1.0], "diverging": "maybe"}, "'diverging' must be 'raise' or 'report'"),
        ({"start": [1.0], "starts": [[1.0, 2.0]]}, r"'starts\[0\]' must give 1 values"),
    ],
)
def test_bad_options_name_the_field_and_value(kwargs: dict[str, Any], match: str) -> None:
    start = kwargs.pop("start")
    with pytest.raises(ValidationError, match=match):
        maximum_likelihood(_poisson, start, model="toy", names=["lam"], n=10, **kwargs)


def test_a_penalizer_that_pulls_to_the_edge_is_named() -> None:
    with pytest.raises(FitError, match="L2 penalizer 1e\\+30 pulls 'lam' to 0"):
        maximum_likelihood(_poisson, [1.0], model="toy", names=["lam"], n=10, penalizer=1e30)


def test_a_huge_initial_coefficient_is_refused() -> None:
    def ll(th: Array) -> tuple[float, Array]:
        return float(-(th[0] ** 2)), np.array([-2 * th[0]])

    with pytest.raises(
        ValidationError, match=r"initial value of 'beta'.*within \+-1e\+06: 1e\+200"
    ):
        maximum_likelihood(ll, [1e200], model="toy", names=["beta"], n=1, free=1)
