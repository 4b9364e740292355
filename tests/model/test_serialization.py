"""The one converter: every model type round-trips through JSON; bad input lists every bad path."""

from __future__ import annotations

import json
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.model import MODEL_TYPES, Customer, Money, Opportunity, Transaction
from crmcore.serialization import from_dict, from_json, make_converter, to_dict, to_json

JSON_SCALARS = (str, int, float, bool, type(None))


def _json_safe(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    return type(value) in JSON_SCALARS  # exact types: an enum member is a str subclass, not JSON


@pytest.mark.parametrize("cls", MODEL_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=40)
@given(data=st.data())
def test_every_model_type_round_trips_through_json(cls: type, data: st.DataObject) -> None:
    obj = data.draw(st.from_type(cls))
    plain = to_dict(obj)
    assert _json_safe(plain)
    text = json.dumps(plain)
    assert from_dict(cls, json.loads(text)) == obj
    assert from_json(cls, to_json(obj)) == obj


def test_decimal_is_written_as_an_exact_string() -> None:
    assert to_dict(Money("0.10", "EUR")) == {"amount": "0.10", "currency": "EUR"}


def test_every_bad_path_is_listed() -> None:
    bad = {
        "id": "c-1",
        "name": "Ada",
        "contact_points": [
            {"kind": "email", "value": "ada@example.com"},
            {"kind": "email", "value": "nope"},
            {"kind": "pager", "value": "123"},
        ],
        "acquired_at": "2024-01-01T00:00:00",
        "version": "one",
    }
    with pytest.raises(ValidationError) as info:
        from_dict(Customer, bad)
    problems = info.value.problems
    assert any(p.startswith("$.contact_points[1].value:") for p in problems), problems
    assert "$.contact_points[2].kind: must be one of" in "|".join(problems), problems
    assert any(p.startswith("$.version:") for p in problems), problems
    # the naive datetime is refused by the timestamp rule while structuring, with its path
    assert any(p.startswith("$.acquired_at: expected a timezone-aware") for p in problems), problems
    assert len(problems) == 4


def test_naive_datetime_strings_are_rejected_on_read() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        from_dict(Customer, {"id": "c", "name": "A", "acquired_at": "2024-01-01T00:00:00"})


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match=r"unknown field\(s\) \['colour'\]"):
        from_dict(Money, {"amount": "1", "currency": "EUR", "colour": "red"})


def test_missing_required_field_is_named() -> None:
    with pytest.raises(ValidationError, match=r"\$\.currency: required field is missing"):
        from_dict(Money, {"amount": "1"})


def test_float_amounts_are_rejected_on_read() -> None:
    with pytest.raises(ValidationError, match="not float"):
        from_dict(Money, {"amount": 0.1, "currency": "EUR"})


def test_nested_money_errors_carry_the_path() -> None:
    data = {
        "id": "t",
        "customer_id": "c",
        "occurred_at": "2025-01-01T00:00:00+00:00",
        "amount": {"amount": "-1", "currency": "EUR"},
    }
    with pytest.raises(ValidationError, match=r"\$\.amount"):
        from_dict(Transaction, data)


@attrs.frozen
class _Estimate:
    value: float


def test_nan_is_refused_when_writing_json() -> None:
    with pytest.raises(
        ValidationError, match=r"'obj' \(_Estimate\) cannot be written as JSON: \$\.\w+ is nan"
    ):
        to_json(_Estimate(float("nan")))


def test_make_converter_is_independent_of_the_global_converter() -> None:
    conv = make_converter()
    assert conv is not cattrs.global_converter
    from decimal import Decimal

    assert cattrs.global_converter.unstructure(Decimal("1.5")) == Decimal("1.5")
    assert conv.unstructure(Decimal("1.5")) == "1.5"


def test_opportunity_round_trip_with_dates() -> None:
    data = {
        "id": "o",
        "customer_id": "c",
        "owner_id": "r",
        "funnel": "b2b",
        "stage": "proposal",
        "created_at": "2025-01-01T00:00:00+00:00",
        "expected_close": "2025-03-31",
        "amount": {"amount": "1200.00", "currency": "EUR"},
    }
    o = from_dict(Opportunity, data)
    assert to_dict(o)["expected_close"] == "2025-03-31"
    assert to_dict(o)["amount"] == {"amount": "1200.00", "currency": "EUR"}


def test_enums_are_written_as_their_plain_values() -> None:
    from crmcore.model import Activity

    value = to_dict(Activity(id="a", kind="call", rep_id="r"))["kind"]
    assert type(value) is str
    assert value == "call"


@attrs.frozen
class _Lists:
    names: tuple[str, ...]
    counts: list[int]
    tags: frozenset[str] = frozenset()


def test_a_list_field_refuses_a_string_or_an_object_instead_of_reading_its_characters() -> None:
    for field, wrong in (("names", "abc"), ("counts", {"a": 1}), ("tags", b"xy")):
        data: dict[str, Any] = {"names": ["a"], "counts": [1], "tags": ["t"], field: wrong}
        with pytest.raises(ValidationError, match=rf"\$\.{field}: expected a list"):
            from_dict(_Lists, data)
    assert from_dict(_Lists, {"names": ["a", "b"], "counts": [2]}) == _Lists(("a", "b"), [2])
