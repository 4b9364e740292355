"""Loyalty quadrants and the competition scenario (against a plain-Python implementation)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.satisfaction import (
    Quadrant,
    classify_quadrants,
    competition_scenario,
    preset_model,
)


def test_the_four_quadrants_and_the_extremes() -> None:
    s = [5, 4, 4, 2, 3, 1, 5, 1]
    y = [1, 1, 0, 1, 0, 0, 0, 1]
    r = classify_quadrants(s, y)
    assert r.labels().tolist() == [
        "loyalist", "loyalist", "mercenary", "hostage", "defector", "defector", "mercenary", "hostage",
    ]  # fmt: skip
    r = classify_quadrants(s, y, extremes=True)
    assert r.labels().tolist()[0] == "apostle" and r.labels().tolist()[5] == "terrorist"
    assert r.counts()["apostle"] == 1 and sum(r.counts().values()) == len(s)
    assert r.mask(Quadrant.HOSTAGE).tolist() == [
        False,
        False,
        False,
        True,
        False,
        False,
        False,
        True,
    ]


def test_thresholds_are_parameters() -> None:
    r = classify_quadrants([3, 3], [0.6, 0.4], satisfied_from=3, loyal_from=0.5)
    assert r.labels().tolist() == ["loyalist", "mercenary"]
    r = classify_quadrants([3, 3], [0.6, 0.4], loyal_from=0.7)
    assert r.labels().tolist() == ["defector", "defector"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"satisfaction": [3], "loyalty": [2]}, "'loyalty' must be in \\[0, 1\\]: 2"),
        ({"satisfaction": [3.5], "loyalty": [1]}, "whole numbers: 3.5"),
        ({"satisfaction": [3], "loyalty": [1], "satisfied_from": 6}, "'satisfied_from'"),
        ({"satisfaction": [3], "loyalty": [1], "loyal_from": 1.5}, "'loyal_from'"),
        ({"satisfaction": [3, 4], "loyalty": [1]}, "same length"),
    ],
)
def test_bad_quadrant_input(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        classify_quadrants(**kwargs)


def _scenario_by_loop(s, seg, value, c0, c1, satisfied_from=4):
    """Plain-Python reference: one customer at a time."""
    m = preset_model()
    k = len(c0)
    out = {"def": [0.0] * k, "host": [0.0] * k, "var": [0.0] * k}
    for si, gi, vi in zip(s, seg, value, strict=True):
        p0 = m.curve(c0[gi]).probabilities()[si - 1]
        p1 = m.curve(c1[gi]).probabilities()[si - 1]
        out["def"][gi] += p0 - p1
        out["var"][gi] += (p0 - p1) * vi
        if si < satisfied_from:
            out["host"][gi] += p0 - p1
    return out


def test_scenario_matches_a_customer_by_customer_loop() -> None:
    rng = np.random.default_rng(4)
    n = 300
    s = rng.integers(1, 6, n)
    seg = rng.integers(0, 3, n)
    value = rng.gamma(2.0, 50.0, n)
    c0, c1 = [0.1, 0.4, 0.9], [0.9, 0.4, 1.0]
    r = competition_scenario(
        preset_model(), s, value=value, segment=seg, competition_before=c0, competition_after=c1
    )
    want = _scenario_by_loop(s.tolist(), seg.tolist(), value.tolist(), c0, c1)
    assert r.defections.tolist() == pytest.approx(want["def"])
    assert r.hostage_defections.tolist() == pytest.approx(want["host"])
    assert r.value_at_risk.tolist() == pytest.approx(want["var"])
    assert r.defections[1] == pytest.approx(0.0)  # unchanged competition, nothing at risk
    assert r.customers.tolist() == np.bincount(seg).tolist()


def test_hostages_carry_most_of_the_risk_in_a_captive_market() -> None:
    """False loyalty: when competition arrives, the dissatisfied stayers go first."""
    s = np.array([1, 2, 3, 4, 5] * 20)
    r = competition_scenario(
        preset_model(), s, value=np.ones(100), competition_before=0.0, competition_after=1.0
    )
    assert r.hostage_defections[0] / r.defections[0] > 0.7


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"segment": [0, 2]}, "'segment' 1 has no customers"),
        ({"segment": [0, -1]}, "'segment' must be in"),
        ({"competition_after": 1.2}, "'competition_after' must be in \\[0, 1\\]: 1.2"),
        ({"competition_before": [0.1, 0.2]}, "one level per segment \\(1\\): got 2"),
        ({"value": [1.0]}, "same length"),
        ({"value": [1.0, np.inf]}, "'value' must be finite"),
    ],
)
def test_bad_scenario_input(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "value": [1.0, 1.0],
        "competition_before": 0.1,
        "competition_after": 0.9,
    }
    args.update(kwargs)
    with pytest.raises(ValidationError, match=match):
        competition_scenario(preset_model(), [2, 4], **args)


def test_empty_scenario_is_rejected() -> None:
    with pytest.raises(ValidationError, match="empty"):
        competition_scenario(
            preset_model(), [], value=[], competition_before=0.1, competition_after=0.9
        )


@settings(max_examples=30)
@given(
    rows=st.lists(st.tuples(st.integers(1, 5), st.floats(0.0, 1.0)), min_size=1, max_size=40),
    sat_from=st.integers(2, 5),
    loyal_from=st.floats(0.0, 1.0),
)
def test_quadrants_partition_the_customers(
    rows: list[tuple[int, float]], sat_from: int, loyal_from: float
) -> None:
    s = [r[0] for r in rows]
    y = [r[1] for r in rows]
    q = classify_quadrants(s, y, satisfied_from=sat_from, loyal_from=loyal_from)
    labels = q.labels().tolist()
    for si, yi, lab in zip(s, y, labels, strict=True):
        sat, loyal = si >= sat_from, yi >= loyal_from
        want = {(True, True): "loyalist", (True, False): "mercenary",
                (False, True): "hostage", (False, False): "defector"}[(sat, loyal)]  # fmt: skip
        assert lab == want
