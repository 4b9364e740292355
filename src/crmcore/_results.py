"""What a result may hold: the validators of every field of crmcore's result types.

Result types (NPS, CSAT, CAC, fitted models, pipeline metrics, segment
tables, import reports...) are frozen attrs classes whose numeric fields use
one of these validators, so a result cannot be built half-valid, by crmcore
or from outside: NaN, infinity, a negative count, a probability outside
[0, 1] or arrays of different lengths raise
:class:`~crmcore.errors.ValidationError` naming the class, the field and the
value. NaN is accepted only where a field documents why (``nan="..."``: an
undefined ratio, a ``nan_policy="propagate"`` output); the reason is kept on
the validator (:attr:`Number.nan`) so tests and docs can list those fields.
Infinity likewise, only where a field documents what it means (``inf="..."``,
:attr:`Number.inf` / :attr:`Array.inf`: a payback that never happens).

Arrays are checked with one vectorised pass per bound (``min`` / ``max``;
NaN and infinity show up in them), never element by element.

>>> import attrs
>>> @attrs.frozen
... class Share:
...     part: int = attrs.field(validator=COUNT)
...     share: float = attrs.field(validator=PROBABILITY)
>>> Share(3, 0.25)
Share(part=3, share=0.25)
>>> Share(-1, 0.25)
Traceback (most recent call last):
crmcore.errors.ValidationError: Share: 'part' must be an integer >= 0: -1
>>> Share(3, float("nan"))
Traceback (most recent call last):
crmcore.errors.ValidationError: Share: 'share' must be a number in [0, 1]: nan
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Sized
from typing import Any

import attrs
import numpy as np

from crmcore.errors import ValidationError
from crmcore.labels import missing_mask

__all__ = [
    "COUNT",
    "FINITE",
    "NONNEGATIVE",
    "POSITIVE",
    "PROBABILITY",
    "Array",
    "Choice",
    "Each",
    "Number",
    "array",
    "choice",
    "each",
    "named_tuple_check",
    "number",
]


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _range(lo: float | None, hi: float | None, integer: bool, gt: float | None = None) -> str:
    what = "an integer" if integer else "a number"
    if gt is not None:
        return f"{what} > {gt:g}" + ("" if hi is None else f" and <= {hi:g}")
    if lo is not None and hi is not None:
        return f"{what} in [{lo:g}, {hi:g}]"
    if lo is not None:
        return f"{what} >= {lo:g}"
    if hi is not None:
        return f"{what} <= {hi:g}"
    return what if integer else "a finite number"


def _fail(
    inst: object, attr: attrs.Attribute[Any], expected: str, value: object
) -> ValidationError:
    shown = value if isinstance(value, _Shown) else repr(_plain(value))
    return ValidationError(f"{type(inst).__name__}: {attr.name!r} must be {expected}: {shown}")


class _Shown(str):
    """A value already formatted for a message (an array element and its index)."""

    __slots__ = ()


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


@attrs.frozen
class Number:
    """Validator of a scalar field: a finite number (an integer when ``integer``) in [lo, hi].

    ``nan`` is the documented reason a field may hold NaN (None: it may not),
    ``inf`` the documented meaning of an infinity (None: it may not hold one);
    ``optional`` lets the field be None; ``gt`` is a strict lower bound (a
    parameter that must be positive). ``at_least`` names fields whose sum
    this one may not be below (an interval's ``high`` and its ``low``, the
    rows read and the rows stored, rejected and skipped); a NaN or None on
    either side is not compared. Booleans are not numbers here, and an integer
    field holds a signed 64-bit value (beyond it is refused, as
    :func:`crmcore.arrays.as_int_array` refuses it).

    >>> field = attrs.fields(attrs.make_class("Report", ["n"])).n
    >>> COUNT(None, field, 2**64)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: NoneType: 'n' must be an integer >= 0 within the 64-bit integer range: 18446744073709551616
    """

    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    nan: str | None = None
    optional: bool = False
    gt: float | None = None
    at_least: tuple[str, ...] = ()
    inf: str | None = None

    def __call__(self, inst: object, attr: attrs.Attribute[Any], value: Any) -> None:
        if value is None and self.optional:
            return
        kind = numbers.Integral if self.integer else numbers.Real
        expected = _range(self.lo, self.hi, self.integer, self.gt)
        is_number = isinstance(value, kind) and not isinstance(value, bool | np.bool_)
        if not is_number:
            raise _fail(inst, attr, expected, value)
        if self.integer:  # within the signed 64-bit range: what an int64 column stores
            i = operator.index(value)
            ok = (
                _INT64_MIN <= i <= _INT64_MAX
                and (self.lo is None or i >= self.lo)
                and (self.hi is None or i <= self.hi)
            )
            if not ok and not _INT64_MIN <= i <= _INT64_MAX:
                expected += " within the 64-bit integer range"
        else:
            try:
                v = float(value)
            except OverflowError:  # an integer beyond float range (10**400)
                v = math.inf
            if math.isnan(v):
                ok = self.nan is not None
            elif math.isinf(v) and self.inf is not None:
                ok = (self.lo is None or v >= self.lo) and (self.hi is None or v <= self.hi)
            else:
                ok = (
                    math.isfinite(v)
                    and (self.lo is None or v >= self.lo)
                    and (self.hi is None or v <= self.hi)
                    and (self.gt is None or v > self.gt)
                )
        if not ok:
            expected += (" (or NaN)" if self.nan else "") + (" (or infinite)" if self.inf else "")
            raise _fail(inst, attr, expected, value)
        if self.at_least:
            self._check_order(inst, attr, value)

    def _check_order(self, inst: object, attr: attrs.Attribute[Any], value: Any) -> None:
        parts = [getattr(inst, name) for name in self.at_least]
        if not all(isinstance(p, numbers.Real) for p in parts):
            return  # None, or a wrong value that the part's own validator reports
        floor = sum(parts)
        if floor != floor or value != value:  # NaN: nothing to compare
            return
        if value < floor:
            names = " + ".join(self.at_least)
            raise _fail(inst, attr, f">= {names} ({_plain(floor)!r})", value)


@attrs.frozen
class Array:
    """Validator of an array field: a numpy array of ``ndim`` dimensions and dtype kind ``kind``.

    ``kind``: ``"f"`` numbers (integers accepted), ``"i"`` integers, ``"b"``
    booleans, ``"M"`` datetime64 without NaT, ``"O"`` labels of any type, none
    missing (:func:`crmcore.labels.missing_mask`: None, NaN, NaT, ""; numeric
    labels are finite numbers).
    Numbers must be finite and in [lo, hi]; NaN only where ``nan`` gives the
    documented reason, infinity only where ``inf`` does. ``length`` names the
    field whose length (first dimension) this one must have; ``ndim=None``
    accepts any number of dimensions (results broadcast from their inputs).
    ``scan=False`` checks the shape and dtype only, in O(1): for the columns of
    a table whose values its ``from_*`` constructors have checked already.
    """

    kind: str = "f"
    lo: float | None = None
    hi: float | None = None
    nan: str | None = None
    length: str | None = None
    ndim: int | None = 1
    optional: bool = False
    inf: str | None = None
    scan: bool = True

    def __call__(self, inst: object, attr: attrs.Attribute[Any], value: Any) -> None:
        if value is None and self.optional:
            return
        if isinstance(value, np.ndarray) and value.size == 0 and value.ndim == (self.ndim or 1):
            return  # an empty array holds no wrong value, whatever its dtype
        if self.ndim is None and isinstance(value, np.generic):
            value = np.asarray(value)  # a broadcast result of 0-D inputs
        kinds = {"f": "fiu", "i": "iu", "b": "b", "M": "M", "O": "OUSTiufbMmc"}[self.kind]
        if (
            not isinstance(value, np.ndarray)
            or (self.ndim is not None and value.ndim != self.ndim)
            or value.dtype.kind not in kinds
        ):
            what = {
                "f": "numbers",
                "i": "integers",
                "b": "booleans",
                "M": "datetimes",
                "O": "values",
            }
            dims = "" if self.ndim is None else f"{self.ndim}-D "
            raise _fail(inst, attr, f"a {dims}numpy array of {what[self.kind]}", _short(value))
        if self.length is not None:
            other = getattr(inst, self.length)
            n = len(other) if isinstance(other, Sized) and not isinstance(other, str) else None
            if n is not None and value.shape[0] != n:
                raise ValidationError(
                    f"{type(inst).__name__}: {attr.name!r} must have the length of "
                    f"{self.length!r} ({n}): {value.shape[0]}"
                )
        if value.size == 0 or not self.scan:
            return
        if self.kind == "O" and value.dtype.kind not in "fiu":  # labels: none missing
            miss = missing_mask(value) if value.ndim == 1 else np.zeros(value.shape, dtype=bool)
            if miss.any():
                raise _fail(inst, attr, "labels (none missing: None, NaN, '')", _first(value, miss))
            return
        if value.dtype.kind == "M":
            if np.isnat(value.min()):
                raise _fail(inst, attr, "datetimes (no NaT)", _first(value, np.isnat(value)))
            return
        if value.dtype.kind not in "fiu":
            return
        self._check_numbers(inst, attr, value)

    def _check_numbers(self, inst: object, attr: attrs.Attribute[Any], value: Any) -> None:
        floating = value.dtype.kind == "f"
        unbounded = self.lo is None and self.hi is None and self.nan is None and self.inf is None
        if unbounded:
            if not floating:
                return
            with np.errstate(over="ignore", invalid="ignore"):
                total = np.add.reduce(value, axis=None)
            if np.isfinite(total):
                return  # one pass: a finite sum has no NaN or infinity in it
        if floating and self.nan is not None:
            lo, hi = np.fmin.reduce(value, axis=None), np.fmax.reduce(value, axis=None)
            if np.isnan(lo):  # all NaN
                return
        else:
            lo, hi = value.min(), value.max()
        if self.inf is None:
            whole = not floating or (np.isfinite(lo) and np.isfinite(hi))
        else:  # infinities allowed: only NaN (which min / max propagate) is out
            whole = not (np.isnan(lo) or np.isnan(hi))
        ok = whole and (self.lo is None or lo >= self.lo) and (self.hi is None or hi <= self.hi)
        if ok:
            return
        expected = _range(self.lo, self.hi, self.kind == "i")
        if floating:
            bad = ~np.isfinite(value)
            if self.nan is not None:
                bad &= ~np.isnan(value)
                expected += " (or NaN)"
            if self.inf is not None:
                bad &= ~np.isinf(value)
                expected += " (or infinite)"
        else:
            bad = np.zeros(value.shape, dtype=bool)
        if self.lo is not None:
            bad |= value < self.lo
        if self.hi is not None:
            bad |= value > self.hi
        raise _fail(inst, attr, expected, _first(value, bad))


def _first(value: Any, bad: Any) -> _Shown:
    if value.ndim == 0:
        return _Shown(repr(value[()]))
    i = tuple(int(j) for j in np.argwhere(bad)[0])
    return _Shown(f"{_plain(value[i])!r} at index {i[0] if len(i) == 1 else i}")


def _short(value: Any) -> _Shown:
    r = repr(value)
    return _Shown(r if len(r) <= 80 else r[:77] + "...")


@attrs.frozen
class Choice:
    """Validator of a string field that names one of ``allowed`` (a method, a rule, a kind)."""

    allowed: tuple[str, ...]

    def __call__(self, inst: object, attr: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or value not in self.allowed:
            raise _fail(inst, attr, f"one of {self.allowed}", value)


@attrs.frozen
class Each:
    """Validator of a tuple field: every item passes ``item`` (a :class:`Number`, or an ``Each`` for rows).

    ``optional`` lets the field be None (standard errors that were not computed).
    """

    item: Number | Each
    optional: bool = False

    def __call__(self, inst: object, attr: attrs.Attribute[Any], value: Any) -> None:
        if value is None and self.optional:
            return
        if not isinstance(value, tuple):
            raise _fail(inst, attr, "a tuple", value)
        for i, v in enumerate(value):
            try:
                self.item(inst, attr, v)
            except ValidationError as e:
                raise ValidationError(f"{e} at index {i}") from None


def each(item: Number | Each, *, optional: bool = False) -> Each:
    """A tuple validator (see :class:`Each`).

    >>> each(NONNEGATIVE).item.lo
    0
    """
    return Each(item, optional)


def choice(*allowed: str) -> Choice:
    """A string validator (see :class:`Choice`).

    >>> choice("wald", "adjusted-wald").allowed
    ('wald', 'adjusted-wald')
    """
    return Choice(allowed)


def number(
    lo: float | None = None,
    hi: float | None = None,
    *,
    integer: bool = False,
    nan: str | None = None,
    optional: bool = False,
    gt: float | None = None,
    at_least: tuple[str, ...] = (),
    inf: str | None = None,
) -> Number:
    """A scalar validator (see :class:`Number`).

    >>> number(-1, 1, nan="undefined without answers").nan
    'undefined without answers'
    >>> number(0, inf="never recovered").inf
    'never recovered'
    """
    return Number(lo, hi, integer, nan, optional, gt, at_least, inf)


def array(
    kind: str = "f",
    lo: float | None = None,
    hi: float | None = None,
    *,
    nan: str | None = None,
    length: str | None = None,
    ndim: int | None = 1,
    optional: bool = False,
    inf: str | None = None,
    scan: bool = True,
) -> Array:
    """An array validator (see :class:`Array`).

    >>> array("i", 0, length="labels").length
    'labels'
    """
    return Array(kind, lo, hi, nan, length, ndim, optional, inf, scan)


def named_tuple_check(
    cls_name: str, **validators: Number | Array | Each | Choice
) -> Callable[[tuple[Any, ...]], None]:
    """The check of a ``NamedTuple``'s fields by these validators, in field order.

    A tuple cannot carry attrs validators; its validating ``__new__`` calls
    this, so the messages are those of the attrs result types.

    >>> check = named_tuple_check("Pair", n=COUNT, share=PROBABILITY)
    >>> check((2, 1.5))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: tuple: 'share' must be a number in [0, 1]: 1.5
    """
    fields = attrs.fields(
        attrs.make_class(cls_name, {n: attrs.field(validator=v) for n, v in validators.items()})
    )

    def check(inst: tuple[Any, ...]) -> None:
        for a, v in zip(fields, inst, strict=True):
            assert a.validator is not None
            a.validator(inst, a, v)

    return check


FINITE = number()
"""A finite number."""
NONNEGATIVE = number(0)
"""A finite number >= 0."""
PROBABILITY = number(0, 1)
"""A number in [0, 1]."""
COUNT = number(0, integer=True)
"""An integer >= 0."""
POSITIVE = number(gt=0)
"""A finite number > 0 (a model parameter)."""
