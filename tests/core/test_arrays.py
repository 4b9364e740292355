"""Array validation and the one NaN policy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from crmcore.arrays import (
    apply_nan_policy,
    as_float_array,
    as_int_array,
    check_in_range,
    validate_nan_policy,
)
from crmcore.errors import ValidationError

floats_with_nan = hnp.arrays(
    np.float64, st.integers(0, 30), elements=st.floats(allow_infinity=False, width=64)
)


@given(floats_with_nan)
def test_omit_keeps_exactly_the_rows_without_nan(x: np.ndarray) -> None:
    y = np.arange(len(x), dtype=float)
    split = apply_nan_policy({"x": x, "y": y}, policy="omit")
    expected = ~np.isnan(x)
    assert split.mask.tolist() == expected.tolist()
    assert split.arrays["y"].tolist() == y[expected].tolist()
    assert not np.isnan(split.arrays["x"]).any()
    assert split.dropped == int(np.isnan(x).sum())


@given(floats_with_nan)
def test_raise_rejects_any_nan_and_propagate_keeps_everything(x: np.ndarray) -> None:
    if np.isnan(x).any():
        with pytest.raises(ValidationError, match="'x' must not contain NaN"):
            apply_nan_policy({"x": x}, policy="raise")
    else:
        assert len(apply_nan_policy({"x": x}, policy="raise").arrays["x"]) == len(x)
    assert len(apply_nan_policy({"x": x}, policy="propagate").arrays["x"]) == len(x)


def test_infinity_is_always_rejected() -> None:
    for policy in ("raise", "omit", "propagate"):
        with pytest.raises(ValidationError, match="'x' must be finite: inf at index 1"):
            apply_nan_policy({"x": [1.0, np.inf]}, policy=policy)


def test_unknown_policy_is_named() -> None:
    with pytest.raises(ValidationError, match="'nan_policy' must be one of"):
        validate_nan_policy("ignore")


def test_mismatched_lengths_are_reported() -> None:
    with pytest.raises(ValidationError, match="x has 2, y has 1"):
        apply_nan_policy({"x": [1.0, 2.0], "y": [1.0]})


def test_non_numeric_input_is_named() -> None:
    with pytest.raises(ValidationError, match="'frequency' must be numeric"):
        as_float_array(["one", "two"], name="frequency")


def test_two_dimensional_input_is_rejected() -> None:
    with pytest.raises(ValidationError, match="must be 1-dimensional"):
        as_float_array([[1.0]], name="T")


def test_scalar_becomes_length_one() -> None:
    assert as_float_array(3, name="t").tolist() == [3.0]


def test_int_array_rejects_fractions_and_accepts_whole_floats() -> None:
    assert as_int_array(np.array([1.0, 2.0]), name="x").dtype == np.int64
    with pytest.raises(ValidationError, match="whole numbers: 2.5 at index 1"):
        as_int_array([1, 2.5], name="x")


def test_range_check_is_inclusive_by_default_and_exclusive_on_request() -> None:
    check_in_range(np.array([0.0, 1.0]), name="p", low=0, high=1)
    with pytest.raises(ValidationError, match=r"'p' must be in \(0, 1\): 0.0"):
        check_in_range(np.array([0.0]), name="p", low=0, high=1, inclusive=(False, False))
