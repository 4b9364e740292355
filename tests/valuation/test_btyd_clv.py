"""Discounted CLV: checked against a plain per-customer, per-period reference loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.valuation import (
    BGNBDModel,
    BGNBDParams,
    GammaGammaModel,
    GammaGammaParams,
    ParetoNBDModel,
    ParetoNBDParams,
    customer_lifetime_value,
)

BG = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426))
PNBD = ParetoNBDModel(ParetoNBDParams(0.553, 10.578, 0.606, 11.668))
GG = GammaGammaModel(GammaGammaParams(6.25, 3.74, 15.44))


def _reference(model, x, tx, T, value, horizon, step, rate, margin):  # type: ignore[no-untyped-def]
    """The textbook loop: for each customer, for each period, discounted incremental purchases."""
    out = []
    for xi, txi, Ti, vi in zip(x, tx, T, value, strict=True):
        total = 0.0
        for k in range(1, horizon + 1):
            now = model.conditional_expected_purchases(k * step, xi, txi, Ti)[0]
            before = model.conditional_expected_purchases((k - 1) * step, xi, txi, Ti)[0]
            total += margin * vi * (now - before) / (1 + rate) ** k
        out.append(total)
    return np.array(out)


@settings(max_examples=15)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40), st.floats(1e-6, 1.0), st.floats(1.0, 80.0), st.floats(0.0, 500.0)
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(1, 24),
    st.floats(0.0, 0.2),
    st.floats(0.05, 1.0),
)
def test_clv_equals_reference_loop(
    rows: list[tuple[int, float, float, float]], horizon: int, rate: float, margin: float
) -> None:
    x = np.array([r[0] for r in rows], dtype=float)
    T = np.array([r[2] for r in rows])
    tx = np.where(x > 0, np.array([r[1] for r in rows]) * T, 0.0)
    m = np.array([r[3] for r in rows])
    for model in (BG, PNBD):
        got = customer_lifetime_value(
            model, GG, x, tx, T, m, horizon=horizon, step=4.345, discount_rate=rate, margin=margin
        )
        value = GG.conditional_expected_average_value(x, m)
        ref = _reference(model, x, tx, T, value, horizon, 4.345, rate, margin)
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_undiscounted_clv_telescopes_to_expected_purchases() -> None:
    x, tx, T = np.array([0.0, 3.0]), np.array([0.0, 20.0]), np.array([30.0, 35.0])
    clv = customer_lifetime_value(
        BG, None, x, tx, T, [10.0, 10.0], horizon=12, step=2.0, discount_rate=0.0
    )
    np.testing.assert_allclose(
        clv, 10.0 * BG.conditional_expected_purchases(24.0, x, tx, T), rtol=1e-12
    )


def test_clv_time_unit_default_step_and_errors() -> None:
    weekly = customer_lifetime_value(BG, GG, [2], [30.43], [38.86], [22.35], time_unit="W")
    month = 365.2425 / 12 / 7  # the one month (crmcore.durations), in weeks
    explicit = customer_lifetime_value(BG, GG, [2], [30.43], [38.86], [22.35], step=month)
    assert weekly[0] == pytest.approx(explicit[0], rel=1e-14)
    with pytest.raises(ValidationError, match="'time_unit'"):
        customer_lifetime_value(BG, GG, [2], [30.43], [38.86], [22.35], time_unit="Y")
    with pytest.raises(ValidationError, match="'discount_rate'"):
        customer_lifetime_value(BG, GG, [2], [30.43], [38.86], [22.35], discount_rate=-2.0)
    with pytest.raises(ValidationError, match="'monetary_value' must be >= 0"):
        customer_lifetime_value(BG, None, [2], [30.43], [38.86], [-1.0], time_unit="W")
