"""Field validators of the rule records, and the window syntax (``"7d"``).

>>> parse_window("12h") == 12 * 3600 * 10**6
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from crmcore.errors import ValidationError
from crmcore.model._storable import MAX_ID_LENGTH, text_problem
from crmcore.options import as_count, as_number

__all__ = ["parse_window", "window_words"]

_WINDOW = re.compile(r"^([1-9][0-9]{0,8})([smhdw])$")
_UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
_UNIT_US["w"] = 7 * _UNIT_US["d"]
_UNIT_WORD = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}


def parse_window(text: str, *, name: str = "window") -> int:
    """A window such as ``"7d"`` in microseconds (the resolution of transaction times).

    >>> parse_window("7d") == 7 * 86_400 * 10**6
    True
    >>> parse_window("0d")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'window' must be a whole number and a unit s, m, h, d or w (e.g. '7d'): '0d'
    """
    m = _WINDOW.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValidationError(
            f"{name!r} must be a whole number and a unit s, m, h, d or w (e.g. '7d'): {text!r}"
        )
    return int(m.group(1)) * _UNIT_US[m.group(2)]


def window_words(text: str) -> str:
    """``"7d"`` → ``"7 days"`` (for explanations).

    >>> window_words("1d"), window_words("12h")
    ('1 day', '12 hours')
    """
    m = _WINDOW.match(text)
    assert m is not None
    n, unit = int(m.group(1)), _UNIT_WORD[m.group(2)]
    return f"{n} {unit}" + ("" if n == 1 else "s")


def _window(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    parse_window(value, name=attribute.name)  # type: ignore[arg-type]  # validated inside


def _opt_window(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _window(inst, attribute, value)


def _name(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or value != value.strip() or len(value) > MAX_ID_LENGTH:
        raise ValidationError(
            f"{attribute.name!r} must be a string without surrounding blanks, at most "
            f"{MAX_ID_LENGTH} characters: {value!r}"
        )
    problem = text_problem(value)  # rule names go into alerts and documents
    if problem is not None:
        raise ValidationError(f"{attribute.name!r} {problem}: {value!r}")


def _number(low: float | None = None, *, strict: bool = False, high: float | None = None) -> Any:
    """Validator factory: :func:`crmcore.options.as_number` (``strict``: the low bound is open)."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        as_number(value, name=attribute.name, low=low, high=high, inclusive=(not strict, True))

    return check


def _count(low: int, high: int = 100_000) -> Any:
    """Validator factory: an ``int`` (not ``2.0``: the field keeps what it is given) checked by
    :func:`crmcore.options.as_count`."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, float):
            raise ValidationError(f"{attribute.name!r} must be an int: {value!r}")
        as_count(value, name=attribute.name, low=low, high=high)

    return check


def _str_tuple(value: Any, name: str) -> tuple[str, ...]:
    """A list of non-empty strings (one string alone, a mapping or a non-iterable is refused)."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"{name!r} must be a list of strings: {value!r}")
    items: tuple[Any, ...] = tuple(value)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise ValidationError(f"'{name}[{i}]' must be a non-empty string: {item!r}")
    return items
