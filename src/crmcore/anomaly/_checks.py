"""Field validators of the rule records, and the window syntax (``"7d"``).

>>> parse_window("12h") == 12 * 3600 * 10**6
True
"""

from __future__ import annotations

import math
import re
from typing import Any

import attrs

from crmcore.errors import ValidationError

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
    if not isinstance(value, str) or value != value.strip() or len(value) > 128:
        raise ValidationError(
            f"{attribute.name!r} must be a string without surrounding blanks, at most 128 characters: {value!r}"
        )


def _number(low: float | None = None, *, strict: bool = False, high: float | None = None) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            v = float(value)  # type: ignore[arg-type]  # checked to be a number just above
            ok = math.isfinite(v)
            if ok and low is not None:
                ok = v > low if strict else v >= low
            if ok and high is not None:
                ok = v <= high
        if not ok:
            bound = []
            if low is not None:
                bound.append(f"{'>' if strict else '>='} {low:g}")
            if high is not None:
                bound.append(f"<= {high:g}")
            raise ValidationError(
                f"{attribute.name!r} must be a finite number {' and '.join(bound)}: {value!r}".replace(
                    "number  :", "number:"
                )
            )

    return check


def _count(low: int, high: int = 100_000) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValidationError(
                f"{attribute.name!r} must be a whole number in [{low}, {high}]: {value!r}"
            )

    return check


def _str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or value is None:
        raise ValidationError(f"expected a list of strings: {value!r}")
    items: tuple[Any, ...] = tuple(value)
    for item in items:
        if not isinstance(item, str) or not item:
            raise ValidationError(f"expected a list of non-empty strings: {item!r}")
    return items
