"""The one rule for argument kinds: ``@checked`` refuses a wrong kind naming the argument."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
import pytest

from crmcore._checked import checked
from crmcore.errors import ArgumentTypeError, CRMError, ValidationError


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Store(Protocol):
    def get(self, key: str) -> object: ...


class _DictStore:
    def get(self, key: str) -> object:
        return key


@checked
def _call(
    values: npt.ArrayLike,
    names: Sequence[str],
    *,
    rate: float = 0.1,
    count: int = 1,
    label: str = "x",
    method: Literal["mean", "median"] = "mean",
    colour: Colour = Colour.RED,
    store: Store | None = None,
    options: Mapping[str, float] | None = None,
    flag: bool = False,
) -> str:
    return "ok"


GOOD: dict[str, object] = {"values": [1.0], "names": ["a"]}


@pytest.mark.parametrize(
    ("argument", "value", "expected"),
    [
        ("values", None, "array-like"),
        ("values", "123", "array-like"),
        ("values", {"a": 1}, "array-like"),
        ("names", "abc", "sequence"),
        ("names", [1, 2], "string"),
        ("rate", "0.1", "number"),
        ("rate", float("nan"), "not NaN"),
        ("rate", 10**400, "range of a float"),
        ("rate", None, "number"),
        ("count", 2.5, "whole number"),
        ("count", True, "whole number"),
        ("label", "\ud800", "lone surrogates"),
        ("label", 3, "string"),
        ("colour", "green", "Colour"),
        ("store", object(), "Store interface"),
        ("options", {"a": "x"}, "mapping"),
        ("options", ["a"], "mapping"),
        ("flag", 1, "True or False"),
    ],
)
def test_wrong_kind_names_the_argument(argument: str, value: object, expected: str) -> None:
    kwargs = {**GOOD, argument: value}
    with pytest.raises(ArgumentTypeError) as info:
        _call(**kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(f"{argument!r} must be")
    assert expected in message
    assert isinstance(info.value, TypeError) and isinstance(info.value, CRMError)


def test_literal_names_the_allowed_values() -> None:
    with pytest.raises(ValidationError, match=r"'method' must be one of 'mean', 'median': 'mode'"):
        _call(**GOOD, method="mode")  # type: ignore[arg-type]


def test_positional_arguments_are_checked_by_name() -> None:
    with pytest.raises(ArgumentTypeError, match="'names'"):
        _call([1.0], None)  # type: ignore[arg-type]


def test_good_calls_pass_through() -> None:
    assert (
        _call(
            np.arange(3),
            ("a", "b"),
            rate=np.float64(0.5),
            count=np.int64(3),
            colour="blue",  # type: ignore[arg-type]
            store=_DictStore(),
            options={"a": 1},
            flag=np.bool_(True),
        )
        == "ok"
    )
