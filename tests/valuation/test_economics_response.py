"""Channel response rates, reference ranges from the seeds, and costs per response / customer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.valuation import (
    RESPONSE_BENCHMARKS,
    channel_response,
    compare_response,
    wilson_interval,
)


def test_reference_ranges_from_the_seeds() -> None:
    """DOMAIN.md 7: mass 2-5%, information-on-demand 1-3%, differentiated 6-15%, one-to-one 18-30%."""
    assert RESPONSE_BENCHMARKS == {
        "mass": (0.02, 0.05),
        "information_on_demand": (0.01, 0.03),
        "differentiated": (0.06, 0.15),
        "one_to_one": (0.18, 0.30),
    }


def test_aggregation_rates_and_costs_by_hand() -> None:
    t = channel_response(
        ["mail", "mail", "call", "web"],
        contacts=[1000, 1000, 200, 500],
        responses=[30, 10, 50, 0],
        cost=[800, 800, 1000, 50],
        acquired=[8, 4, 20, 0],
    )
    assert t.channel.tolist() == ["call", "mail", "web"]
    assert t.rate.tolist() == [0.25, 0.02, 0.0]
    lo, hi = wilson_interval([50, 40, 0], [200, 2000, 500])
    assert np.allclose(t.low, lo) and np.allclose(t.high, hi)
    assert t.cost_per_response[:2].tolist() == [20.0, 40.0]
    assert t.cost_per_customer[:2].tolist() == pytest.approx([50.0, 1600 / 12])
    # no responses / customers on the web: no cost per response, flagged instead of inf
    assert not t.cost_per_response_defined[2] and np.isnan(t.cost_per_response[2])
    assert not t.cost_per_customer_defined[2]


def test_agresti_coull_option() -> None:
    t = channel_response(["a"], contacts=[100], responses=[3], method="agresti-coull")
    assert t.low[0] == pytest.approx(0.0065, abs=1e-4)


@pytest.mark.parametrize(
    ("responses", "contacts", "kind", "verdict"),
    [
        (12, 100, "differentiated", "within"),
        (40, 1000, "one_to_one", "below"),
        (90, 1000, "mass", "above"),
        (3, 100, "mass", "within"),
        (2, 20, "information_on_demand", "within"),  # wide interval: consistent with the range
    ],
)
def test_compare_with_reference(responses: int, contacts: int, kind: str, verdict: str) -> None:
    c = compare_response(responses, contacts, kind)
    assert c.verdict == verdict
    assert (c.range_low, c.range_high) == RESPONSE_BENCHMARKS[kind]


def test_bad_input() -> None:
    with pytest.raises(ValidationError, match="0 contacts"):
        channel_response(["web"], contacts=[0], responses=[0])
    with pytest.raises(ValidationError, match="more responses than contacts"):
        channel_response(["web"], contacts=[10], responses=[11])
    with pytest.raises(ValidationError, match="'cost' must be >= 0"):
        channel_response(["web"], contacts=[10], responses=[1], cost=[-1])
    with pytest.raises(ValidationError, match="whole numbers"):
        channel_response(["web"], contacts=[10.5], responses=[1])
    with pytest.raises(ValidationError, match="'kind' must be one of"):
        compare_response(1, 10, "telepathy")


@settings(max_examples=60)
@given(st.integers(1, 100_000), st.data())
def test_interval_contains_rate(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    t = channel_response(["x"], contacts=[n], responses=[k])
    assert 0 <= t.low[0] <= t.rate[0] <= t.high[0] <= 1
