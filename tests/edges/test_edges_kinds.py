"""A wrong kind of argument is one error everywhere: ArgumentTypeError, a ValidationError and a TypeError."""

from __future__ import annotations

import pytest

from crmcore.errors import ArgumentTypeError, CRMError, ValidationError
from crmcore.model import Channel
from crmcore.model._fields import to_enum
from crmcore.options import as_enum, expect_callable, expect_instance, expect_items
from crmcore.pipeline import B2B, Funnel, Stage


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: expect_instance({"name": "b2b"}, Funnel, name="funnel"), "'funnel'"),
        (lambda: expect_instance(None, Funnel, name="funnel"), "'funnel'"),
        (lambda: expect_items("lead", Stage, name="stages"), "'stages'"),
        (lambda: expect_items([Stage("won", kind="won"), {}], Stage, name="stages"), "'stages[1]'"),
        (lambda: expect_callable(3, name="write"), "'write'"),
    ],
)
def test_wrong_kind_is_a_type_error_and_a_validation_error(call: object, named: str) -> None:
    with pytest.raises(ArgumentTypeError) as info:
        call()  # type: ignore[operator]
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, ValidationError) and isinstance(info.value, CRMError)
    assert str(info.value).startswith(named)


def test_right_kind_passes_through() -> None:
    assert expect_instance(B2B, Funnel, name="funnel") is B2B


def test_one_enum_coercion_for_fields_arguments_and_the_converter() -> None:
    """The model's to_enum is options.as_enum: the same member, the same message."""
    assert to_enum(Channel, "email") is as_enum("email", Channel, name="channel") is Channel.EMAIL
    with pytest.raises(ValidationError) as field:
        to_enum(Channel, "pigeon", field="channel")
    with pytest.raises(ValidationError) as argument:
        as_enum("pigeon", Channel, name="channel")
    assert str(field.value) == str(argument.value)
    assert str(argument.value).startswith("'channel' must be one of 'phone', 'email'")
    with pytest.raises(ValidationError, match=r"^Channel must be one of .*: 'pigeon'$"):
        to_enum(Channel, "pigeon")


def test_record_converters_do_not_match_integer_ids_to_string_ids() -> None:
    """Records' customer ids are strings: the caller's ``[1, 2]`` is not ``["1", "2"]`` (one label rule)."""
    from datetime import UTC, datetime

    from crmcore.model import CostEntry, Interaction, Money
    from crmcore.segmentation import cost_entries_to_arrays, interactions_to_arrays

    at = datetime(2025, 1, 1, tzinfo=UTC)
    entry = CostEntry(
        id="k", customer_id="1", incurred_at=at, amount=Money("2", "EUR"), category="x"
    )
    touch = Interaction(
        id="i", customer_id="1", channel="email", direction="inbound", occurred_at=at
    )
    assert cost_entries_to_arrays([entry], ["1", "2"])[0].tolist() == [0]
    assert interactions_to_arrays([touch], ["2", "1"])[0].tolist() == [1]
    with pytest.raises(ArgumentTypeError, match="'customer_ids' must be string ids"):
        cost_entries_to_arrays([entry], [1, 2])
    with pytest.raises(ArgumentTypeError, match="'customer_ids' must be string ids"):
        interactions_to_arrays([touch], [1, 2])
