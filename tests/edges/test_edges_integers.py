"""Integer columns refuse fractions and values outside 64 bits instead of truncating or wrapping.

Regression tests for issue 12's findings: fractional quantities were truncated,
quantities of 2**63 or more and a NaN sequence number wrapped to -2**63.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.arrays import apply_nan_policy, as_int_array
from crmcore.errors import ValidationError
from crmcore.tables import StageHistory, TransactionLog


def _log(quantities: object) -> TransactionLog:
    return TransactionLog.from_arrays(
        customer_ids=["a", "b"],
        timestamps=["2020-01-01", "2020-01-02"],
        amounts=[1.0, 2.0],
        quantities=quantities,
    )


@pytest.mark.parametrize(
    ("quantities", "shown"),
    [
        ([1, 2.5], "2.5"),
        ([1, 2**63], "9223372036854775808"),
        (np.array([1, 2**64 - 1], dtype=np.uint64), "18446744073709551615"),
        ([1.0, 1e19], "1e+19"),
        ([1, 10**400], "1000000000"),
    ],
)
def test_quantities_refused_not_truncated_or_wrapped(quantities: object, shown: str) -> None:
    with pytest.raises(ValidationError, match="'quantity'") as info:
        _log(quantities)
    assert shown in str(info.value)


def test_quantities_nan_refused() -> None:
    with pytest.raises(ValidationError, match="'quantity' must not contain NaN"):
        _log([1.0, float("nan")])


def test_whole_float_quantities_kept_exactly() -> None:
    log = _log([3.0, 2.0**53])
    assert log.quantity is not None
    assert log.quantity.tolist() == [3, 2**53]


@pytest.mark.parametrize("bad", [float("nan"), 1.5, 2**63])
def test_stage_history_sequence_refused(bad: object) -> None:
    with pytest.raises(ValidationError, match="'sequence'"):
        StageHistory.from_arrays(
            opportunity_ids=["o", "o"],
            sequence=[0, bad],
            from_stage=[None, "a"],
            to_stage=["a", "b"],
            at=["2020-01-01", "2020-01-02"],
        )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-(2**70), max_value=2**70), min_size=1, max_size=8))
def test_as_int_array_exact_or_refused(values: list[int]) -> None:
    """Within 64 bits every integer comes back exactly; outside, the call is refused."""
    inside = all(-(2**63) <= v < 2**63 for v in values)
    if inside:
        assert as_int_array(values, name="n").tolist() == values
    else:
        with pytest.raises(ValidationError, match="64-bit integer range"):
            as_int_array(values, name="n")


def test_nan_hint_only_where_a_nan_policy_exists() -> None:
    """The NaN message recommends nan_policy only from functions that take one."""
    with pytest.raises(ValidationError) as plain:
        as_int_array([1.0, float("nan")], name="n")
    assert "nan_policy" not in str(plain.value)
    with pytest.raises(ValidationError, match="nan_policy='omit'"):
        apply_nan_policy({"x": [1.0, float("nan")]}, policy="raise")


def test_lengths_checked_before_broadcasting() -> None:
    with pytest.raises(ValidationError, match="x has 1, t has 3"):
        apply_nan_policy({"x": [1.0], "t": [1.0, 2.0, 3.0]})
    split = apply_nan_policy({"x": [1.0, 2.0], "t": 5.0}, broadcast=("t",))
    assert split.arrays["t"].tolist() == [5.0, 5.0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), min_size=1, max_size=30))
def test_omit_maps_rows_back_to_the_caller(values: list[float]) -> None:
    x = np.array(values)
    split = apply_nan_policy({"x": x}, policy="omit")
    kept = np.flatnonzero(~np.isnan(x))
    assert split.rows.tolist() == kept.tolist()
    assert split.arrays["x"].tolist() == x[kept].tolist()
    order = np.argsort(split.arrays["x"], kind="stable")
    assert x[split.to_caller(order)].tolist() == np.sort(x[kept], kind="stable").tolist()
    prop = apply_nan_policy({"x": x}, policy="propagate")
    filled = prop.fill(prop.clean()["x"] * 2)
    assert np.array_equal(np.isnan(filled), np.isnan(x))
    assert filled[kept].tolist() == (x[kept] * 2).tolist()
