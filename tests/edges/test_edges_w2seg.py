"""Wave 2 of issue 12 in crmcore.segmentation (and labels.factorize_together): every argument
a fuzz finding reached is refused with a crmcore error that names it, or gives a valid result.

Each test goes through the public API and pins the value, the error type and the argument
named in the message.
"""

from __future__ import annotations

import importlib
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmcore.segmentation as seg
from crmcore.errors import ArgumentTypeError, ConfigurationError, CRMError, ValidationError
from crmcore.labels import factorize_together
from crmcore.model import CostEntry, Interaction, Money
from crmcore.segmentation import (
    ABCClasses,
    ServiceLevel,
    Tier,
    TierMigration,
    TierSet,
    abc_classes,
    cond,
    cost_entries_to_arrays,
    customer_index,
    interactions_to_arrays,
    tier_migration,
)
from crmcore.segmentation.demo import synthetic_costs
from crmcore.segmentation.rules import Condition

T0 = datetime(2025, 1, 1, tzinfo=UTC)


# -- labels.factorize_together -------------------------------------------------------------------
@pytest.mark.parametrize("parts", [None, 3, "ab", {"a": [1]}])
def test_factorize_together_names_parts_that_are_not_a_list(parts: Any) -> None:
    with pytest.raises(ArgumentTypeError, match=r"^'parts' must be a list of label arrays"):
        factorize_together(parts, names=["a"])


def test_factorize_together_names_an_empty_parts_and_names_of_another_length() -> None:
    with pytest.raises(ValidationError, match=r"^'parts' must hold at least one"):
        factorize_together([], names=[])
    with pytest.raises(ValidationError, match=r"^'names' must name each of the 2 'parts'"):
        factorize_together([["a"], ["b"]], names=["x"])
    labels, (a, b) = factorize_together([["b"], ["a", "b"]], names=["x", "y"])
    assert labels.tolist() == ["a", "b"] and a.tolist() == [1] and b.tolist() == [0, 1]


# -- concentration -------------------------------------------------------------------------------
def test_abc_classes_of_no_values_is_a_valid_empty_result_with_nan_thresholds() -> None:
    for r in (abc_classes([]), abc_classes([math.nan], nan_policy="omit")):
        assert r.codes.tolist() == []
        assert r.counts.tolist() == [0, 0, 0]
        assert r.shares.tolist() == [0.0, 0.0, 0.0]
        assert np.isnan(r.thresholds).all() and len(r.thresholds) == 2
    assert abc_classes([math.nan], nan_policy="propagate").codes.tolist() == [-1]


@pytest.mark.parametrize("bad", [math.inf, -math.inf])
def test_abc_classes_refuses_infinite_thresholds_by_name(bad: float) -> None:
    r = abc_classes([9.0, 1.0])
    with pytest.raises(ValidationError, match=r"^ABCClasses: 'thresholds' must be"):
        ABCClasses(r.codes, r.labels, np.array([bad, 1.0]), r.counts, r.shares)


def test_abc_classes_refuses_labels_that_are_not_a_tuple_of_text() -> None:
    r = abc_classes([9.0, 1.0, 0.5])
    labels = np.array([math.nan, "B", "C"], dtype=object)
    with pytest.raises(ValidationError, match=r"^'labels' must be a sequence"):
        ABCClasses(r.codes, labels, r.thresholds, r.counts, r.shares)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^'labels\[0\]' must be a class label"):
        ABCClasses(r.codes, (math.nan, "B", "C"), r.thresholds, r.counts, r.shares)  # type: ignore[arg-type]


def test_count_exceeding_is_private_now() -> None:
    """An implementation detail of abc_classes / the RFM scores that was public by accident."""
    concentration_module = importlib.import_module("crmcore.segmentation.concentration")
    assert "count_exceeding" not in concentration_module.__all__
    assert not hasattr(concentration_module, "count_exceeding")
    assert "count_exceeding" not in seg.__all__


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=30))
def test_abc_thresholds_are_finite_whenever_there_are_values(values: list[float]) -> None:
    if sum(values) == 0:  # a zero total: shares undefined, refused naming 'values'
        with pytest.raises(ValidationError, match="'values'"):
            abc_classes(values)
        return
    r = abc_classes(values)
    assert np.isfinite(r.thresholds).all()
    assert int(r.counts.sum()) == len(values)


# -- demo.synthetic_costs ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("revenue", "orders", "named"),
    [
        (None, [1.0], "revenue"),
        ([1.0], None, "orders"),
        ([1.0], "abc", "orders"),
        ([1.0], [10**400], "orders"),
        ([1.0], [2.5], "orders"),
        ([1.0], [-1.0], "orders"),
        ([1.0], [math.nan], "orders"),
        ([math.inf], [1.0], "revenue"),
        ([-1.0], [1.0], "revenue"),
        ([1.0, 2.0], [1.0], "revenue has 2, orders has 1"),
        ([1.0], [[2.0], [2.0]], "orders"),
    ],
)
def test_synthetic_costs_names_a_bad_argument(revenue: Any, orders: Any, named: str) -> None:
    with pytest.raises(CRMError, match=named if " " in named else f"'{named}'"):
        synthetic_costs(revenue, orders)


def test_synthetic_costs_takes_lists_and_is_seeded() -> None:
    cogs, serve = synthetic_costs([100.0, 0.0], [2, 0])
    assert cogs.tolist() == [60.0, 0.0]
    assert np.isfinite(serve).all() and (serve >= 0).all()
    assert synthetic_costs([100.0], [2.0])[1].tolist() == synthetic_costs([100.0], [2])[1].tolist()
    with pytest.raises(ValidationError, match="'seed'"):
        synthetic_costs([1.0], [1.0], seed=-1)


# -- migration -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ids", [None, 3, "abc"])
def test_tier_migration_names_after_ids(ids: Any) -> None:
    with pytest.raises(CRMError, match="'after_ids'"):
        tier_migration(["a"], ["gold"], ids, ["gold"], tiers=["gold"])


@pytest.mark.parametrize("tiers", [None, 10**400, "gold", ["gold", 1], [], ["gold", "gold"]])
def test_tier_migration_names_tiers(tiers: Any) -> None:
    with pytest.raises(CRMError, match="'tiers"):
        tier_migration(["a"], ["gold"], ["a"], ["gold"], tiers=tiers)


def test_tier_migration_labels_must_be_a_tuple_of_tier_names() -> None:
    m = tier_migration(["a"], ["gold"], ["a"], ["silver"], tiers=["gold", "silver"])
    assert m.moved_down == 1
    labels = np.array([math.nan, "silver", "(none)"], dtype=object)
    with pytest.raises(ValidationError, match=r"^'labels' must be a sequence"):
        TierMigration(labels, m.matrix, m.cell_ids, m.cell_offsets)  # type: ignore[arg-type]


# -- profitability ------------------------------------------------------------------------------------
def _entry(customer_id: str) -> CostEntry:
    return CostEntry(
        id="k", customer_id=customer_id, incurred_at=T0, amount=Money("2", "EUR"), category="return"
    )


def _interaction(customer_id: str) -> Interaction:
    return Interaction(
        id="i", customer_id=customer_id, channel="email", direction="inbound", occurred_at=T0
    )


@pytest.mark.parametrize("customer_ids", [None, 3, "c-1"])
def test_record_converters_and_customer_index_name_customer_ids(customer_ids: Any) -> None:
    for call in (
        lambda: customer_index(["c-1"], customer_ids),
        lambda: cost_entries_to_arrays([_entry("c-1")], customer_ids),
        lambda: interactions_to_arrays([_interaction("c-1")], customer_ids),
    ):
        with pytest.raises(CRMError, match="'customer_ids'"):
            call()


def test_an_unknown_customer_names_the_rows_and_customer_ids() -> None:
    with pytest.raises(
        ValidationError, match=r"^'row_ids' 'z' at index 0 is not among the 'customer_ids'"
    ):
        customer_index(["z"], ["a"])
    with pytest.raises(
        ValidationError, match=r"^'entries\[0\]\.customer_id' 'c-2' is not among the 'customer_ids'"
    ):
        cost_entries_to_arrays([_entry("c-2")], ["c-1"])
    with pytest.raises(
        ValidationError, match=r"^'interactions\[1\]\.customer_id' 'c-2' is not among"
    ):
        interactions_to_arrays([_interaction("c-1"), _interaction("c-2")], ["c-1"])
    idx, cats, amounts = cost_entries_to_arrays([_entry("c-2")], ["c-1", "c-2"])
    assert idx.tolist() == [1] and cats.tolist() == ["return"] and amounts.tolist() == [2.0]


@pytest.mark.parametrize("rows", [None, "abc", 10**400, [None], np.array(["x"], dtype=object)])
def test_record_converters_name_a_wrong_collection(rows: Any) -> None:
    with pytest.raises(ArgumentTypeError, match=r"^'entries"):
        cost_entries_to_arrays(rows, ["c-1"])
    with pytest.raises(ArgumentTypeError, match=r"^'interactions"):
        interactions_to_arrays(rows, ["c-1"])


def test_cost_breakdowns_name_n_customers() -> None:
    with pytest.raises(ValidationError, match=r"'n_customers' \(0\)"):
        seg.entry_costs([0], ["return"], [1.0], n_customers=0)
    rates = seg.CostRates({"email": 1.0})
    with pytest.raises(ValidationError, match=r"'n_customers' \(1\)"):
        seg.activity_costs([1], ["email"], rates=rates, n_customers=1)


# -- rules and tiers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("op", "value"),
    [
        (">", None),
        (">", "1"),
        (">", math.nan),
        (">=", math.inf),
        ("<", -(10**400)),
        ("==", None),
        ("==", math.nan),
        ("!=", object()),
        ("in", None),
        ("in", []),
    ],
)
def test_a_condition_names_its_value(op: str, value: Any) -> None:
    with pytest.raises(
        ConfigurationError, match=rf"^condition on 'x': 'value' for operator '{op}'"
    ):
        cond("x", op, value)
    with pytest.raises(ConfigurationError, match=r"'value' for operator"):
        Condition("x", op, value)


@pytest.mark.parametrize("item", [None, math.nan, math.inf, 10**400, (1,)])
def test_an_in_condition_names_the_bad_item(item: Any) -> None:
    with pytest.raises(
        ConfigurationError, match=r"^condition on 'x': 'value\[1\]' for operator 'in'"
    ):
        cond("x", "in", ["a", item])
    assert cond("x", "in", ["a", 1, True, 2.5]).value == ("a", 1, True, 2.5)


def test_a_tier_set_names_the_repeated_tier() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"'tiers' must have unique names: 'tiers\[2\]' repeats 'a' of 'tiers\[0\]'",
    ):
        TierSet("t", (Tier("a"), Tier("b"), Tier("a")))


@pytest.mark.parametrize("hours", [math.inf, math.nan, 10**400, -1, 0, "1", True])
def test_a_service_level_refuses_a_non_finite_or_non_positive_promise(hours: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"^'response_time_hours'"):
        ServiceLevel(response_time_hours=hours)
    assert ServiceLevel(response_time_hours=0.5).response_time_hours == 0.5


def test_a_tier_migration_must_be_consistent_with_its_labels() -> None:
    m = tier_migration(["a", "b"], ["gold", "silver"], ["a"], ["gold"], tiers=["gold", "silver"])
    assert m.customers("silver", "(none)").tolist() == ["b"]
    with pytest.raises(
        ValidationError, match=r"'matrix' must be 2 x 2, a row and a column per 'labels'"
    ):
        TierMigration(("gold", "(none)"), m.matrix, m.cell_ids, m.cell_offsets)
    with pytest.raises(ValidationError, match=r"'cell_offsets' must be 0 then the running total"):
        TierMigration(m.labels, m.matrix, m.cell_ids, m.cell_offsets[:-1])
    with pytest.raises(ValidationError, match=r"'cell_ids' must hold the 2 customers"):
        TierMigration(m.labels, m.matrix, m.cell_ids[:1], m.cell_offsets)


@pytest.mark.parametrize("orders", [None, "3", {"a": 1}])
def test_whole_number_arguments_name_none_text_and_mappings(orders: Any) -> None:
    """as_int_array (the shared check) took None for a NaN ("must not contain NaN") and the
    text '3' for the number 3; it now refuses them as as_float_array does."""
    with pytest.raises(ArgumentTypeError, match=r"^'orders' must be numeric: could not convert"):
        synthetic_costs([1.0], orders)
