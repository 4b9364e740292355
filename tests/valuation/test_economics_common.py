"""Group coding (the fast paths must equal numpy.unique), the NaN policy for survey answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels as group_codes
from crmcore.valuation import csat, csat_by_group, nps, nps_by_group


def _reference(values: np.ndarray) -> tuple[list[object], list[int]]:
    labels, codes = np.unique(values, return_inverse=True)
    return labels.tolist(), codes.reshape(-1).tolist()


@settings(max_examples=60)
# '' is missing; numpy's fixed-width strings drop trailing NULs ('\x00' would become ''), so
# the labels drawn here have none
@given(
    st.lists(
        st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=12),
        min_size=1,
        max_size=80,
    )
)
def test_string_codes_equal_numpy_unique(values: list[str]) -> None:
    arr = np.array(values)
    labels, codes = group_codes(arr, name="g")
    assert (labels.tolist(), codes.tolist()) == _reference(arr)
    obj = np.array(values, dtype=object)
    labels, codes = group_codes(obj, name="g")
    assert labels[codes].tolist() == values


@settings(max_examples=60)
@given(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=80))
def test_integer_codes_equal_numpy_unique(values: list[int]) -> None:
    arr = np.array(values, dtype=np.int64)
    labels, codes = group_codes(arr, name="g")
    assert (labels.tolist(), codes.tolist()) == _reference(arr)


def test_dense_integer_and_datetime_paths() -> None:
    rng = np.random.default_rng(0)
    ints = rng.integers(-5, 50, 1000)
    labels, codes = group_codes(ints, name="g")
    assert (labels.tolist(), codes.tolist()) == _reference(ints)
    months = np.datetime64("2024-01", "M") + rng.integers(0, 30, 500)
    labels, codes = group_codes(months, name="g")
    assert labels.dtype == months.dtype and np.array_equal(labels[codes], months)
    assert np.all(np.diff(labels.astype(np.int64)) > 0)


def test_bytes_labels() -> None:
    arr = np.array([b"b", b"a", b"b"])
    labels, codes = group_codes(arr, name="g")
    assert labels.tolist() == [b"a", b"b"] and codes.tolist() == [1, 0, 1]


def test_missing_labels_are_rejected() -> None:
    with pytest.raises(ValidationError, match="missing labels"):
        group_codes(np.array([1.0, np.nan]), name="segment")
    with pytest.raises(ValidationError, match="missing labels: NaT"):
        group_codes(np.array(["2025-01", "NaT"], dtype="datetime64[M]"), name="period")


def test_nan_policy_for_unanswered_questions() -> None:
    scores = [10, np.nan, 3, 9, np.nan]
    with pytest.raises(ValidationError, match="nan_policy='omit'"):
        nps(scores)
    assert nps(scores, nan_policy="omit") == nps([10, 3, 9])
    with pytest.raises(ValidationError, match="propagate"):
        nps(scores, nan_policy="propagate")
    t = nps_by_group(scores, ["a", "a", "b", "b", "c"], weights=[1, 2, 3, 4, 5], nan_policy="omit")
    assert t.labels.tolist() == ["a", "b"]
    assert t.n.tolist() == [1.0, 7.0]
    assert csat([5, np.nan, 1], nan_policy="omit") == csat([5, 1])
    g = csat_by_group([5, np.nan, 1], ["x", "y", "x"], nan_policy="omit")
    assert g.labels.tolist() == ["x"]
