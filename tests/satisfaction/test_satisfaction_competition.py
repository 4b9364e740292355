"""Effective competition: hand-computed cases, validation, and properties of the scale."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.satisfaction import DampeningWeights, MarketConditions, effective_competition
from crmcore.serialization import from_json, to_json

unit = st.floats(0.0, 1.0)


def test_hand_computed_market() -> None:
    """0.8 · (1 − 1.0·0.5) · (1 − 0.6·0.5) · (1 − 0.5·0) · (1 − 0.3·1) = 0.8·0.5·0.7·0.7 = 0.196."""
    got = effective_competition(
        0.8, regulated_monopoly=0.5, switching_cost=0.5, loyalty_rewards=1.0
    )
    assert got.tolist() == pytest.approx([0.196])


def test_full_monopoly_removes_all_competition() -> None:
    assert MarketConditions(raw_intensity=1.0, regulated_monopoly=1.0).effective() == 0.0


def test_user_weights_change_the_level() -> None:
    w = DampeningWeights(switching_cost=0.0)
    assert effective_competition(0.7, switching_cost=1.0, weights=w).tolist() == [0.7]


def test_vectorized_over_markets_and_broadcast() -> None:
    got = effective_competition([1.0, 0.5, 0.0], proprietary_technology=1.0)
    assert got.tolist() == pytest.approx([0.5, 0.25, 0.0])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"raw_intensity": [1.2]}, "raw_intensity"),
        ({"raw_intensity": [0.5], "switching_cost": [-0.1]}, "switching_cost"),
        ({"raw_intensity": [np.nan]}, "raw_intensity"),
    ],
)
def test_out_of_range_inputs_are_named(kwargs: dict[str, list[float]], field: str) -> None:
    raw = kwargs.pop("raw_intensity")
    with pytest.raises(ValidationError, match=field):
        effective_competition(raw, **kwargs)


def test_mismatched_shapes_are_rejected() -> None:
    # lengths are checked before anything is broadcast; the message names both
    with pytest.raises(ValidationError, match="raw_intensity has 2, .*switching_cost has 3"):
        effective_competition([0.5, 0.5], switching_cost=[0.1, 0.2, 0.3])


def test_records_validate_and_round_trip() -> None:
    with pytest.raises(ValidationError, match="'switching_cost' must be in \\[0, 1\\]: 2"):
        MarketConditions(raw_intensity=0.5, switching_cost=2)
    with pytest.raises(ValidationError, match="regulated_monopoly"):
        DampeningWeights(regulated_monopoly=True)
    m = MarketConditions(raw_intensity=0.5, loyalty_rewards=0.25)
    assert from_json(MarketConditions, to_json(m)) == m
    w = DampeningWeights(loyalty_rewards=0.1)
    assert from_json(DampeningWeights, to_json(w)) == w


@given(raw=unit, d=st.tuples(unit, unit, unit, unit), w=st.tuples(unit, unit, unit, unit))
def test_in_unit_interval_and_never_above_raw(
    raw: float, d: tuple[float, ...], w: tuple[float, ...]
) -> None:
    weights = DampeningWeights(*w)
    c = effective_competition(
        raw,
        regulated_monopoly=d[0],
        switching_cost=d[1],
        proprietary_technology=d[2],
        loyalty_rewards=d[3],
        weights=weights,
    )[0]
    assert 0.0 <= c <= raw + 1e-15


@given(raw=unit, lo=unit, hi=unit)
def test_a_stronger_factor_never_raises_competition(raw: float, lo: float, hi: float) -> None:
    lo, hi = min(lo, hi), max(lo, hi)
    for factor in (
        "regulated_monopoly",
        "switching_cost",
        "proprietary_technology",
        "loyalty_rewards",
    ):
        weak = effective_competition(raw, **{factor: lo})[0]
        strong = effective_competition(raw, **{factor: hi})[0]
        assert strong <= weak + 1e-15
