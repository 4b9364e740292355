"""crmcore.model._records: records built from valid ones validate what changes, not what they copy.

The two helpers must give the record ``attrs.evolve`` / the constructor gives
(same values, same type, same equality and hash), refuse a bad changed value
with the constructor's own error, and not run the validators of the copied
fields: those values were validated when the record they come from was built.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.model import Money, Opportunity, StageChange
from crmcore.model._records import derive, evolve_valid
from crmcore.testing.strategies import opportunities, stage_changes

T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)

# one bad value per validated Opportunity field: the same error from attrs.evolve and evolve_valid
BAD = {
    "id": " o-1",
    "customer_id": "",
    "owner_id": 7,
    "funnel": " ",
    "stage": None,
    "created_at": datetime(2025, 1, 1),
    "amount": Money("-1", "EUR"),
    "expected_close": T0,
    "probability": 1.5,
    "product": 3,
    "lost_reason": "a\x00b",
    "stage_entered_at": "2025-01-01",
    "closed_at": datetime(2025, 1, 1),
    "parent_id": "x" * 200,
    "kind": "",
    "version": -1,
    "forecast_category": "maybe",
    "custom": {"seats": [1]},
}


def _error(fn: Any) -> tuple[type[BaseException], str]:
    with pytest.raises(ValidationError) as info:
        fn()
    return type(info.value), str(info.value)


def test_every_validated_field_has_a_bad_value_here() -> None:
    assert set(BAD) == {a.name for a in attrs.fields(Opportunity)}


@given(opportunities(), st.sampled_from(sorted(BAD)))
def test_a_bad_changed_value_raises_the_error_attrs_evolve_raises(
    opp: Opportunity, name: str
) -> None:
    change = {name: BAD[name]}
    expected = _error(lambda: attrs.evolve(opp, **change))
    assert expected[0] is ValidationError
    assert _error(lambda: evolve_valid(opp, change)) == expected


@given(opportunities(), opportunities(), st.sets(st.sampled_from(sorted(BAD)), max_size=6))
def test_evolve_valid_builds_what_attrs_evolve_builds(
    opp: Opportunity, other: Opportunity, names: set[str]
) -> None:
    changes = {n: getattr(other, n) for n in sorted(names)}
    try:
        expected = attrs.evolve(opp, **changes)
    except ValidationError:  # a stage entered before the other deal's creation: the same error
        assert _error(lambda: evolve_valid(opp, changes)) == _error(
            lambda: attrs.evolve(opp, **changes)
        )
        return
    got = evolve_valid(opp, changes)
    assert type(got) is Opportunity
    assert got == expected and hash(got) == hash(expected) and repr(got) == repr(expected)
    assert attrs.asdict(got, recurse=False) == attrs.asdict(expected, recurse=False)
    assert sys.getsizeof(got.__dict__) == sys.getsizeof(expected.__dict__)  # keys still shared


@given(stage_changes())
def test_derive_builds_what_the_constructor_builds(ev: StageChange) -> None:
    values = attrs.asdict(ev, recurse=False)
    checks = tuple(values)  # everything checked: exactly the constructor's work
    got = derive(StageChange, values, check=checks)
    assert got == StageChange(**values) and type(got) is StageChange
    assert derive(StageChange, values, check=()) == got


@attrs.frozen(slots=False)
class _Counted:
    """A record whose validators count their calls."""

    calls: list[str] = attrs.field(eq=False)
    a: int = attrs.field()
    b: int = attrs.field()
    c: str = attrs.field(default="x", converter=str)

    @a.validator
    @b.validator
    @c.validator
    def _count(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        self.calls.append(attribute.name)
        if attribute.name in "ab" and value < 0:
            raise ValidationError(f"{attribute.name!r} must be >= 0: {value!r}")


@attrs.frozen
class _CountedSlots:
    calls: list[str] = attrs.field(eq=False)
    a: int = attrs.field()
    b: int = attrs.field()

    @a.validator
    @b.validator
    def _count(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        self.calls.append(attribute.name)
        if value < 0:
            raise ValidationError(f"{attribute.name!r} must be >= 0: {value!r}")


@pytest.mark.parametrize("cls", [_Counted, _CountedSlots])
def test_only_the_changed_fields_are_validated(cls: Any) -> None:
    calls: list[str] = []
    rec = cls(calls, a=1, b=2)
    assert calls == [n for n in ("a", "b", "c") if n in attrs.fields_dict(cls)]
    calls.clear()
    attrs.evolve(rec, b=3)  # attrs.evolve re-validates every field
    assert sorted(calls) == sorted(n for n in ("a", "b", "c") if n in attrs.fields_dict(cls))
    calls.clear()
    new = evolve_valid(rec, {"b": 3})
    assert calls == ["b"]  # a (unchanged, valid since rec was built) is not validated again
    assert new == attrs.evolve(rec, b=3) and new.a == 1
    calls.clear()
    with pytest.raises(ValidationError, match="'b' must be >= 0: -1"):
        evolve_valid(rec, {"b": -1})  # a changed value is validated: the constructor's error
    with pytest.raises(ValidationError, match="'a' must be >= 0: -5"):
        evolve_valid(rec, {"b": -1, "a": -5})  # validators in field order, as __init__ runs them
    calls.clear()
    assert evolve_valid(rec, {"b": -1}, check=()).b == -1  # only a value the caller vouches for
    assert calls == []


def test_unchanged_values_are_trusted_because_construction_validated_them() -> None:
    """The one assumption: the record given was built by its validated constructor. A record
    corrupted behind its back (object.__setattr__ on a frozen record) is not repaired."""
    calls: list[str] = []
    rec = _Counted(calls, a=1, b=2)
    object.__setattr__(rec, "a", -9)  # bypasses the validators: not a valid record any more
    calls.clear()
    assert evolve_valid(rec, {"b": 5}).a == -9 and calls == ["b"]
    with pytest.raises(ValidationError, match="'a' must be >= 0"):
        attrs.evolve(rec, b=5)  # attrs.evolve re-validates and finds it


def test_converters_of_changed_fields_run() -> None:
    rec = _Counted([], a=1, b=2, c="y")
    assert evolve_valid(rec, {"c": 12}).c == "12"
    assert derive(_Counted, {"calls": [], "a": 1, "b": 2, "c": 7}, check=("c",)).c == "7"
    assert derive(Money, {"amount": Decimal(3), "currency": "jpy"}, check=("currency",)) == Money(
        "3", "JPY"
    )


def test_the_cross_field_rule_runs_on_every_copy() -> None:
    o = Opportunity(id="o", customer_id="c", owner_id="r", funnel="f", stage="s", created_at=T0)
    with pytest.raises(ValidationError, match="'stage_entered_at' must not be before 'created_at'"):
        evolve_valid(o, {"stage_entered_at": T0 - timedelta(days=1)}, check=())


def test_disabled_validators_are_respected() -> None:
    o = Opportunity(id="o", customer_id="c", owner_id="r", funnel="f", stage="s", created_at=T0)
    with attrs.validators.disabled():
        assert evolve_valid(o, {"probability": 2.0}).probability == 2.0
    with pytest.raises(ValidationError):
        evolve_valid(o, {"probability": 2.0})


def test_misuse_is_a_type_error() -> None:
    o = Opportunity(id="o", customer_id="c", owner_id="r", funnel="f", stage="s", created_at=T0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        evolve_valid(o, {"colour": "red"})
    values = attrs.asdict(StageChange("o", 0, None, "s", T0, "r"), recurse=False)
    del values["custom"]
    with pytest.raises(TypeError, match=r"needs every field; missing \['custom'\]"):
        derive(StageChange, values, check=())
    values["colour"] = "red"
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        derive(StageChange, values, check=())
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        derive(StageChange, {**values, "custom": {}}, check=("colour",))

    @attrs.frozen(cache_hash=True)
    class Cached:
        x: int

    with pytest.raises(TypeError, match="caches its hash"):
        evolve_valid(Cached(1), {"x": 2})

    @attrs.frozen
    class Hidden:
        x: int
        y: int = attrs.field(init=False, default=0)

    with pytest.raises(TypeError, match="Hidden.y is not set by an argument"):
        evolve_valid(Hidden(1), {"x": 2})
    with pytest.raises(TypeError, match="not an attrs class"):
        evolve_valid(object(), {})


def test_a_class_with_its_own_init_is_refused_a_wrapped_generated_one_is_not() -> None:
    @attrs.frozen(init=False)
    class Own:
        x: int

        def __init__(self, x: int) -> None:
            self.__attrs_init__(x * 2)

    with pytest.raises(TypeError, match="Own has its own __init__"):
        evolve_valid(Own(1), {"x": 2})

    @attrs.frozen(slots=False)
    class Wrapped:
        x: int = attrs.field(validator=attrs.validators.instance_of(int))

    generated = Wrapped.__init__
    type.__setattr__(Wrapped, "__init__", lambda self, *a, **k: generated(self, *a, **k))
    # a recorder around the generated __init__ (the fuzz test's harvest does this)
    assert evolve_valid(Wrapped(1), {"x": 2}).x == 2
