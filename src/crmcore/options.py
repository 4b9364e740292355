"""Scalar options, checked once: numbers, probabilities, counts, horizons, seeds and choices.

Every public function of crmcore that takes a scalar option (a confidence
level, a probability threshold, a number of bins, a horizon in periods, a
random seed, a method name) checks it with one of these functions, so the
same value gets the same answer and the same message everywhere. A message
names the option, shows the value and says what was expected; every failure
is a :class:`~crmcore.errors.ValidationError` (a ``ValueError``), including a
value of the wrong type and a Python integer too large for a float
(``10**400``).

>>> as_probability(0.25, name="threshold")
0.25
>>> as_count(12, name="bins", low=1)
12
>>> as_choice("wilson", name="method", allowed=("wilson", "agresti-coull"))
'wilson'
>>> as_probability(1.2, name="threshold")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'threshold' must be in [0, 1]: 1.2

Horizons (numbers of future periods that a projection walks through one by
one) are capped at :data:`MAX_PERIODS`, because a projection over more
periods than that would allocate gigabytes and run for minutes before
answering:

>>> as_horizon(3e8, name="periods")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'periods' must be at most 1000000 periods: 300000000.0
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import TypeVar

import numpy as np

from crmcore._messages import show as _show
from crmcore.errors import ArgumentTypeError, ValidationError
from crmcore.model._storable import id_problem

__all__ = [
    "MAX_PERIODS",
    "as_choice",
    "as_confidence",
    "as_count",
    "as_enum",
    "as_horizon",
    "as_id",
    "as_number",
    "as_probability",
    "as_seed",
    "expect_callable",
    "expect_instance",
    "expect_items",
]

MAX_PERIODS = 1_000_000
"""The largest horizon, in periods, that a period-by-period projection accepts."""

E = TypeVar("E", bound=Enum)
T = TypeVar("T")


def _real(value: object, name: str) -> float:
    """``value`` as a Python float, refusing non-numbers, booleans and ints beyond float range."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValidationError(f"{name!r} must be a number: {_show(value)}")
    try:
        return float(value)
    except OverflowError:
        raise ValidationError(f"{name!r} is out of the range of a float: {_show(value)}") from None


def as_number(
    value: object,
    *,
    name: str,
    low: float | None = None,
    high: float | None = None,
    inclusive: tuple[bool, bool] = (True, True),
) -> float:
    """A finite real number, optionally within ``[low, high]`` (each bound open or closed).

    >>> as_number(2, name="discount_rate", low=0)
    2.0
    >>> as_number(float("nan"), name="discount_rate")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'discount_rate' must be a finite number: nan
    >>> as_number(0, name="scale", low=0, inclusive=(False, True))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'scale' must be > 0: 0
    """
    x = _real(value, name)
    if not math.isfinite(x):
        raise ValidationError(f"{name!r} must be a finite number: {_show(value)}")
    lo_ok = low is None or (x >= low if inclusive[0] else x > low)
    hi_ok = high is None or (x <= high if inclusive[1] else x < high)
    if lo_ok and hi_ok:
        return x
    if low is not None and high is not None:
        lb, rb = "[" if inclusive[0] else "(", "]" if inclusive[1] else ")"
        raise ValidationError(f"{name!r} must be in {lb}{low:g}, {high:g}{rb}: {_show(value)}")
    if low is not None:
        op = ">=" if inclusive[0] else ">"
        raise ValidationError(f"{name!r} must be {op} {low:g}: {_show(value)}")
    op = "<=" if inclusive[1] else "<"
    raise ValidationError(f"{name!r} must be {op} {high:g}: {_show(value)}")


def as_probability(value: object, *, name: str, open_interval: bool = False) -> float:
    """A probability in ``[0, 1]`` (or ``(0, 1)`` with ``open_interval``).

    >>> as_probability(0, name="p", open_interval=True)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'p' must be in (0, 1): 0
    """
    edge = not open_interval
    return as_number(value, name=name, low=0.0, high=1.0, inclusive=(edge, edge))


def as_confidence(value: object, *, name: str = "confidence") -> float:
    """A confidence level, strictly between 0 and 1.

    >>> as_confidence(0.95)
    0.95
    >>> as_confidence(95)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'confidence' must be in (0, 1): 95
    """
    return as_probability(value, name=name, open_interval=True)


def as_count(value: object, *, name: str, low: int = 0, high: int | None = None) -> int:
    """A whole number in ``[low, high]``; ``2.0`` is accepted, ``2.5``, ``True`` and ``"2"`` are not.

    >>> as_count(3.0, name="bins")
    3
    >>> as_count(2.5, name="bins")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'bins' must be a whole number: 2.5
    >>> as_count(10**400, name="bins", high=100)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'bins' must be <= 100: 1000000000...
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValidationError(f"{name!r} must be a whole number: {_show(value)}")
    if isinstance(value, numbers.Integral):
        n = int(value)
    else:
        x = float(value)
        if not math.isfinite(x) or x != math.floor(x):
            raise ValidationError(f"{name!r} must be a whole number: {_show(value)}")
        n = int(x)
    if n < low:
        raise ValidationError(f"{name!r} must be >= {low}: {_show(value)}")
    if high is not None and n > high:
        raise ValidationError(f"{name!r} must be <= {high}: {_show(value)}")
    return n


def as_horizon(value: object, *, name: str, low: int = 0, cap: int = MAX_PERIODS) -> int:
    """A number of whole periods to project, from ``low`` up to ``cap`` (:data:`MAX_PERIODS`).

    >>> as_horizon(12, name="periods")
    12
    >>> as_horizon(10**400, name="periods")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'periods' must be at most 1000000 periods: 1000000000...
    """
    too_big = (
        isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) > cap
    ) or (isinstance(value, float | np.floating) and math.isfinite(value) and value > cap)
    if too_big:
        raise ValidationError(f"{name!r} must be at most {cap} periods: {_show(value)}")
    return as_count(value, name=name, low=low, high=cap)


def as_seed(value: object, *, name: str = "seed") -> int | None:
    """A random seed: ``None`` or a whole number in ``[0, 2**64)``.

    >>> as_seed(None) is None, as_seed(7)
    (True, 7)
    """
    if value is None:
        return None
    return as_count(value, name=name, low=0, high=2**64 - 1)


def as_choice(value: object, *, name: str, allowed: Iterable[str]) -> str:
    """One of the ``allowed`` strings (a ``str`` enum member counts as its value).

    >>> as_choice("median", name="method", allowed=("mean", "quantile"))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'method' must be one of 'mean', 'quantile': 'median'
    """
    options = tuple(allowed)
    raw = value.value if isinstance(value, Enum) else value
    if isinstance(raw, str) and raw in options:
        return raw
    shown = ", ".join(repr(o) for o in options)
    raise ValidationError(f"{name!r} must be one of {shown}: {_show(value)}")


def as_enum(value: object, enum: type[E], *, name: str | None) -> E:
    """A member of ``enum``, given as the member or its value.

    ``name`` is the field or argument named in the message; ``None`` names the
    enum instead (for a caller that adds the field's path itself, such as the
    converter).

    >>> from crmcore.model import Channel
    >>> as_enum("email", Channel, name="channel")
    <Channel.EMAIL: 'email'>
    >>> as_enum("pigeon", Channel, name=None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    crmcore.errors.ValidationError: Channel must be one of 'phone', 'email', ...: 'pigeon'
    """
    if isinstance(value, enum):
        return value
    try:
        return enum(value)
    except (ValueError, TypeError):
        shown = ", ".join(repr(m.value) for m in enum)
        what = enum.__name__ if name is None else repr(name)
        raise ValidationError(f"{what} must be one of {shown}: {_show(value)}") from None


def expect_instance(value: object, cls: type[T], *, name: str, what: str | None = None) -> T:
    """``value`` itself when it is a ``cls``; anything else (a dict, a string, None where an
    object goes) is refused with a message naming the argument, the type expected and the value.

    ``what`` replaces the class name in the message (``"a unit of work"``).

    >>> from crmcore.pipeline import B2B, Funnel
    >>> expect_instance(B2B, Funnel, name="funnel") is B2B
    True
    >>> expect_instance({"name": "b2b"}, Funnel, name="funnel")
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'funnel' must be a Funnel, not a dict: {'name': 'b2b'}
    """
    if isinstance(value, cls):
        return value
    expected = what if what is not None else _article(cls.__name__)
    got = "" if value is None else f", not {_article(type(value).__name__)}"
    raise ArgumentTypeError(f"{name!r} must be {expected}{got}: {_show(value)}")


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def expect_items(value: object, cls: type[T], *, name: str, what: str | None = None) -> list[T]:
    """The items of a collection (not a string, bytes or mapping) that must all be ``cls``,
    as a list; a wrong item is named by its position (``'events[2]'``).

    >>> from crmcore.pipeline import Stage
    >>> expect_items("lead", Stage, name="stages")
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'stages' must be a collection of Stage, not a str: 'lead'
    >>> expect_items([Stage("won", kind="won"), {"name": "lost"}], Stage, name="stages")
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'stages[1]' must be a Stage, not a dict: {'name': 'lost'}
    """
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        got = "" if value is None else f", not {_article(type(value).__name__)}"
        raise ArgumentTypeError(
            f"{name!r} must be a collection of {cls.__name__}{got}: {_show(value)}"
        )
    items = list(value)
    if not all(isinstance(v, cls) for v in items):
        for i, v in enumerate(items):
            expect_instance(v, cls, name=f"{name}[{i}]", what=what)
    return items


def as_id(value: object, *, name: str) -> str:
    """A record id argument: a non-empty storable string of at most 128 characters without
    surrounding blanks (the rule of :mod:`crmcore.model._storable`), the argument named.

    >>> as_id("o-2", name="follow_up_id")
    'o-2'
    >>> as_id(None, name="customer_id")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'customer_id' must be a non-empty string id of at most 128 characters without surrounding blanks: None
    """
    problem = id_problem(value)
    if problem is not None:
        raise ValidationError(f"{name!r} {problem}: {_show(value)}")
    assert isinstance(value, str)  # id_problem refuses anything else
    return value


def expect_callable(value: object, *, name: str) -> None:
    """``value`` must be callable (a function, a bound method, ``list.append``).

    >>> expect_callable(None, name="write")
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'write' must be a function: None
    """
    if not callable(value):
        raise ArgumentTypeError(f"{name!r} must be a function: {_show(value)}")
