"""Argument types of public functions, checked once at the call from their annotations.

``@checked`` is the one rule for "an object of the wrong kind where a
documented type goes": instead of an ``AttributeError`` deep inside (a dict
where a ``Funnel`` goes, ``None`` where a log goes) or a bare ``TypeError``
that names no argument, the caller gets an
:class:`~crmcore.errors.ArgumentTypeError` (a ``TypeError`` and a
:class:`~crmcore.errors.CRMError`) naming the argument, what it got and what
was expected. Values are checked by kind only; ranges, lengths and NaN rules
stay with :mod:`crmcore.options` and :mod:`crmcore.arrays`.

The rules, by annotation:

* a class: ``isinstance`` (``float`` takes any real number, ``int`` any
  integer, ``bool`` only a boolean; a NaN is refused where a ``float`` goes;
  a Python integer too large for a float is refused where a ``float`` goes);
* ``str``: a string that can be encoded (no lone surrogates);
* an ``Enum``: a member or a value of one;
* ``Literal[...]``: one of the listed values (a ``ValidationError`` naming
  the argument and the allowed values);
* ``X | Y`` and ``Optional``: any of them;
* ``Sequence[X]``, ``list[X]``, ``tuple[X, ...]``, ``Collection[X]``,
  ``Iterable[X]``, ``Mapping[K, V]``: the container kind, never a bare
  string where items go, and each item when the container is a list,
  tuple, set or dict;
* array-likes (``numpy.typing.ArrayLike``, ``NDArray``): anything but
  ``None``, a string, a mapping or a set;
* a ``Protocol``: the object has every member the protocol names;
* ``Callable``: a callable; ``Any``, ``object`` and type variables: anything.

Annotations that cannot be resolved at run time are not checked.

>>> from crmcore.errors import ArgumentTypeError
>>> @checked
... def scale(values: list[float], *, factor: float = 2.0) -> list[float]:
...     return [v * factor for v in values]
>>> scale([1.0], factor=3)
[3.0]
>>> scale([1.0], factor="3")
Traceback (most recent call last):
crmcore.errors.ArgumentTypeError: 'factor' must be a number (float), got str: '3'
>>> scale("12")
Traceback (most recent call last):
crmcore.errors.ArgumentTypeError: 'values' must be a list, got str: '12'
"""

from __future__ import annotations

import collections.abc as cabc
import enum
import functools
import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import numpy as np

from crmcore._messages import show as _show
from crmcore.errors import ArgumentTypeError, ValidationError

__all__ = ["checked"]

P = ParamSpec("P")
R = TypeVar("R")

# A check returns None when the value fits, else the description of what was expected.
Check = Callable[[object], str | None]


_FLOAT_INT = 2**1023  # Python ints below this convert to float without overflow
_PLAIN_ARRAYS = frozenset({np.ndarray, list, tuple, float, int})


def _ok(_: object) -> str | None:
    return None


def _real(v: object) -> str | None:
    kind = type(v)
    if kind is float:
        return "a number, not NaN" if v != v else None
    if kind is int:
        return None if -_FLOAT_INT < v < _FLOAT_INT else _real_slow(v)  # type: ignore[operator]
    return _real_slow(v)


def _real_slow(v: object) -> str | None:
    if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
        return "a number (float)"
    if isinstance(v, int):
        try:
            float(v)
        except OverflowError:
            return "a number within the range of a float"
        return None
    if isinstance(v, float | np.floating) and math.isnan(v):
        return "a number, not NaN"
    return None


def _integral(v: object) -> str | None:
    if type(v) is int:
        return None
    if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Integral):
        return "a whole number (int)"
    return None


def _boolean(v: object) -> str | None:
    return None if isinstance(v, bool | np.bool_) else "True or False"


def _text(v: object) -> str | None:
    if not isinstance(v, str):
        return "a string"
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return "text that can be encoded as UTF-8 (no lone surrogates)"
    return None


def _array_like(v: object) -> str | None:
    if type(v) in _PLAIN_ARRAYS:
        return None
    if v is None or isinstance(v, str | bytes | cabc.Mapping | cabc.Set):
        return "an array-like of values"
    return None


def _instance(cls: type) -> Check:
    what = f"a {cls.__name__}"

    def check(v: object) -> str | None:
        return None if isinstance(v, cls) else what

    return check


def _enum(cls: type[enum.Enum]) -> Check:
    values = {m.value for m in cls}
    what = f"a {cls.__name__} (one of {', '.join(repr(m.value) for m in cls)})"

    def check(v: object) -> str | None:
        if isinstance(v, cls):
            return None
        try:
            return None if v in values else what
        except TypeError:  # unhashable
            return what

    return check


def _protocol(cls: type) -> Check:
    members = sorted(
        name
        for klass in cls.__mro__
        if klass not in (object, typing.Generic) and getattr(klass, "_is_protocol", False)
        for name in (*getattr(klass, "__annotations__", {}), *vars(klass))
        if not name.startswith("_")
    )
    what = f"an object with the {cls.__name__} interface"

    def check(v: object) -> str | None:
        return None if all(hasattr(v, m) for m in members) else what

    return check


def _literal(options: tuple[object, ...]) -> Check:
    what = "one of " + ", ".join(repr(o) for o in options)

    def check(v: object) -> str | None:
        try:
            return None if any(v == o and type(v) is type(o) for o in options) else what
        except Exception:
            return what

    return check


_CONTAINERS: dict[object, tuple[type, str]] = {
    list: (list, "a list"),
    tuple: (tuple, "a tuple"),
    set: (set, "a set"),
    frozenset: (frozenset, "a frozenset"),
    dict: (dict, "a dict"),
    cabc.Sequence: (cabc.Sequence, "a sequence"),
    cabc.MutableSequence: (cabc.MutableSequence, "a list"),
    cabc.Collection: (cabc.Collection, "a collection"),
    cabc.Iterable: (cabc.Iterable, "an iterable"),
    cabc.Iterator: (cabc.Iterator, "an iterator"),
    cabc.Mapping: (cabc.Mapping, "a mapping"),
    cabc.MutableMapping: (cabc.MutableMapping, "a mapping"),
    cabc.Set: (cabc.Set, "a set"),
    cabc.MutableSet: (cabc.MutableSet, "a set"),
}
_ITEMWISE = (list, tuple, set, frozenset)


def _container(origin: object, args: tuple[Any, ...]) -> Check:
    kind, what = _CONTAINERS[origin]
    mapping = issubclass(kind, cabc.Mapping) or kind is dict
    if mapping:
        key_check = _compile(args[0]) if args else _ok
        value_check = _compile(args[1]) if len(args) > 1 else _ok
    else:
        item_args = [a for a in args if a is not Ellipsis]
        item_check = _union([_compile(a) for a in item_args]) if item_args else _ok

    def check(v: object) -> str | None:
        if not isinstance(v, kind) or isinstance(v, str | bytes):
            return what
        if mapping:
            if isinstance(v, dict):
                for k, item in v.items():
                    bad = key_check(k) or value_check(item)
                    if bad is not None:
                        return f"{what} of {bad.removeprefix('a ').removeprefix('an ')} values"
            return None
        if isinstance(v, _ITEMWISE):
            for item in v:
                bad = item_check(item)
                if bad is not None:
                    return f"{what} whose items are each {bad}"
        return None

    return check


def _union(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    if any(c is _ok for c in checks):
        return _ok

    def check(v: object) -> str | None:
        found = []
        for c in checks:
            bad = c(v)
            if bad is None:
                return None
            found.append(bad)
        return " or ".join(dict.fromkeys(found))

    return check


def _is_array_like(hint: object) -> bool:
    origin = typing.get_origin(hint)
    if origin is np.ndarray or hint is np.ndarray:
        return True
    text = repr(hint)
    return "_SupportsArray" in text or "_NestedSequence" in text or "Buffer" in text


def _compile(hint: Any) -> Check:
    """The check for one annotation (``_ok`` when it cannot or need not be checked)."""
    if hint is Any or hint is object or isinstance(hint, TypeVar | ParamSpec):
        return _ok
    if hint is None or hint is type(None):
        return lambda v: None if v is None else "None"
    if _is_array_like(hint):
        return _array_like
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _union([_compile(a) for a in args])
    if origin is typing.Literal:
        return _literal(args)
    if origin is typing.Annotated:
        return _compile(args[0])
    if origin in _CONTAINERS:
        return _container(origin, args)
    if origin is type:
        base = args[0] if args and isinstance(args[0], type) else object
        return lambda v: None if isinstance(v, type) and issubclass(v, base) else "a class"
    if origin is cabc.Callable or hint is cabc.Callable:
        return lambda v: None if callable(v) else "a callable"
    if origin is not None:
        hint = origin
    if not isinstance(hint, type):
        return _ok
    if hint is float:
        return _real
    if hint is int:
        return _integral
    if hint is bool:
        return _boolean
    if hint is str:
        return _text
    if hint in _CONTAINERS:
        return _container(hint, ())
    if issubclass(hint, enum.Enum):
        return _enum(hint)
    if getattr(hint, "_is_protocol", False):
        if getattr(hint, "_is_runtime_protocol", False):
            return _instance(hint)
        return _protocol(hint)
    return _instance(hint)


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """The resolvable annotations of ``fn``'s parameters (unresolvable ones are left out)."""
    raw = dict(getattr(fn, "__annotations__", {}))
    raw.pop("return", None)
    try:
        return {k: v for k, v in typing.get_type_hints(fn).items() if k in raw}
    except Exception:
        pass
    out: dict[str, Any] = {}
    module = inspect.getmodule(fn)
    namespace = dict(vars(module)) if module is not None else {}
    for name, text in raw.items():
        try:
            # the annotation text of one of crmcore's own functions, as get_type_hints evaluates it
            out[name] = eval(text, namespace) if isinstance(text, str) else text
        except Exception:
            continue
    return out


def checked(fn: Callable[P, R]) -> Callable[P, R]:
    """Check the arguments of ``fn`` against its annotations at every call (see the module doc).

    >>> @checked
    ... def greet(name: str, times: int = 1) -> str:
    ...     return name * times
    >>> greet("a", times=2)
    'aa'
    >>> greet("a", times=None)
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'times' must be a whole number (int), got NoneType: None
    """
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = next((p.name for p in params if p.kind is p.VAR_POSITIONAL), None)
    state: dict[str, dict[str, Check]] = {}

    def checks() -> dict[str, Check]:
        found = state.get("checks")
        if found is None:
            compiled = {k: _compile(h) for k, h in _hints(fn).items()}
            found = state["checks"] = {k: c for k, c in compiled.items() if c is not _ok}
        return found

    def fail(name: str, value: object, expected: str) -> None:
        message = f"{name!r} must be {expected}, got {type(value).__name__}: {_show(value)}"
        if expected.startswith("one of "):
            raise ValidationError(f"{name!r} must be {expected}: {_show(value)}")
        raise ArgumentTypeError(message)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        table = checks()
        if table:
            for i, value in enumerate(args):
                if i < len(positional):
                    name, shown = positional[i], positional[i]
                elif varargs is not None:
                    name, shown = varargs, f"{varargs}[{i - len(positional)}]"
                else:
                    break  # too many arguments: Python's own TypeError says so
                check = table.get(name)
                if check is not None:
                    bad = check(value)
                    if bad is not None:
                        fail(shown, value, bad)
            for name, value in kwargs.items():
                check = table.get(name)
                if check is not None:
                    bad = check(value)
                    if bad is not None:
                        fail(name, value, bad)
        return fn(*args, **kwargs)

    return wrapper
