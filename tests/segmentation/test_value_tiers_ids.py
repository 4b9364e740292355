"""Value tiers keep the caller's customer ids on the result and its frames (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.segmentation import value_tiers


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=40))
def test_ids_come_back_row_for_row(values: list[float]) -> None:
    ids = [f"c-{i:03d}" for i in range(len(values))][::-1]
    plain = value_tiers(values)
    named = value_tiers(values, customer_ids=ids)
    frame = named.to_pandas()
    assert frame.columns.tolist() == ["customer_id", "tier"]
    assert frame["customer_id"].tolist() == ids
    assert frame["tier"].tolist() == plain.labels().tolist()  # the tiers do not depend on ids


def test_integer_ids_stay_integers_and_a_wrong_length_is_named() -> None:
    t = value_tiers(np.arange(10.0), customer_ids=np.arange(100, 110))
    assert t.to_pandas()["customer_id"].tolist() == list(range(100, 110))
    with pytest.raises(ValidationError, match="customer_ids has 2"):
        value_tiers([1.0, 2.0, 3.0], customer_ids=["a", "b"])
    with pytest.raises(ValidationError, match="'customer_ids' must be one id per value"):
        value_tiers([1.0, 2.0], customer_ids="ab")
