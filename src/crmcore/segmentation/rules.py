"""Rules as data: a small expression form over customer fields, evaluated as numpy masks.

A rule is a condition ``(field, op, value)`` or ``all`` / ``any`` / ``not``
of rules. It serializes to plain JSON (:func:`expr_to_dict`,
:func:`expr_from_dict`, and the shared converter once
:mod:`crmcore.segmentation.tiers` is imported)::

    {"any": [{"field": "assets", "op": ">", "value": 100000},
             {"field": "trades_per_year", "op": ">=", "value": 12}]}

:class:`RuleEvaluator` turns a rule into a boolean mask over aligned
columns, one numpy comparison per condition. Missing values: with
``nan_policy="raise"`` a NaN in a numeric column used by a rule is an
error; with ``"propagate"`` a NaN satisfies no condition (not even ``!=`` or
``not_in``), while ``not`` still inverts.

>>> RuleEvaluator({"assets": [5.0, 500.0]}, 2).mask(cond("assets", ">", 100)).tolist()
[False, True]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._messages import show as _show
from crmcore.arrays import validate_nan_policy
from crmcore.errors import ConfigurationError, ValidationError
from crmcore.model._fields import as_tuple, instance, tuple_of
from crmcore.options import as_count

__all__ = [
    "OPERATORS",
    "AllOf",
    "AnyOf",
    "Condition",
    "Expr",
    "Not",
    "RuleEvaluator",
    "all_of",
    "any_of",
    "cond",
    "expr_fields",
    "expr_from_dict",
    "expr_to_dict",
    "not_",
]

OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in")
"""The comparison operators of a :class:`Condition`."""

Scalar: TypeAlias = float | int | str | bool


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_finite_number(v: object) -> bool:
    """A number within the range of a float (10**400 is not: float() would overflow)."""
    try:
        return _is_number(v) and bool(np.isfinite(float(v)))  # type: ignore[arg-type]  # checked
    except OverflowError:
        return False


def _is_scalar(v: object) -> bool:
    """A value a condition can compare with: text, true/false or a finite number."""
    return isinstance(v, str | bool) or _is_finite_number(v)


@attrs.frozen
class Condition:
    """``field op value``; ``in`` / ``not_in`` take a tuple of values.

    ``value`` is a finite number for ``<``, ``<=``, ``>``, ``>=``; a finite
    number, text or true/false for ``==`` / ``!=``; a non-empty tuple of those
    for ``in`` / ``not_in``.

    >>> Condition("assets", ">", "lots")
    Traceback (most recent call last):
    crmcore.errors.ConfigurationError: condition on 'assets': 'value' for operator '>' must be a finite number: 'lots'
    """

    field: str
    op: str
    value: Scalar | tuple[Scalar, ...]

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.field, str) or not self.field:
            raise ConfigurationError(f"'field' must be a non-empty string: {self.field!r}")
        if self.op not in OPERATORS:
            raise ConfigurationError(
                f"condition on {self.field!r}: 'op' must be one of {OPERATORS}: {self.op!r}"
            )
        v = self.value
        where = f"condition on {self.field!r}: 'value' for operator {self.op!r}"
        if self.op in ("in", "not_in"):
            if not isinstance(v, tuple) or not v:
                raise ConfigurationError(f"{where} must be a non-empty list: {_show(v)}")
            for i, item in enumerate(v):
                if not _is_scalar(item):
                    raise ConfigurationError(
                        f"condition on {self.field!r}: 'value[{i}]' for operator {self.op!r} "
                        f"must be a finite number, text or true/false: {_show(item)}"
                    )
        elif self.op in ("<", "<=", ">", ">="):
            if not _is_finite_number(v):
                raise ConfigurationError(f"{where} must be a finite number: {_show(v)}")
        elif not _is_scalar(v):
            raise ConfigurationError(
                f"{where} must be a finite number, text or true/false: {_show(v)}"
            )


def _expr_items(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    tuple_of(EXPR_TYPES, EXPR_WHAT, error=ConfigurationError)(inst, attribute, value)


def _one_expr(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    instance(EXPR_TYPES, EXPR_WHAT, error=ConfigurationError)(inst, attribute, value)


@attrs.frozen
class AllOf:
    """True where every item is true (an empty ``all`` is true).

    >>> RuleEvaluator({"x": [1, 2]}, 2).mask(AllOf(())).tolist()
    [True, True]
    """

    items: tuple[Expr, ...] = attrs.field(converter=as_tuple, validator=_expr_items)


@attrs.frozen
class AnyOf:
    """True where at least one item is true (an empty ``any`` is false).

    >>> RuleEvaluator({"x": [1, 2]}, 2).mask(AnyOf(())).tolist()
    [False, False]
    >>> AnyOf(["x"])
    Traceback (most recent call last):
    crmcore.errors.ConfigurationError: 'items[0]' must be a rule expression (cond, all_of, any_of, not_): 'x'
    """

    items: tuple[Expr, ...] = attrs.field(converter=as_tuple, validator=_expr_items)


@attrs.frozen
class Not:
    """True where the item is false.

    >>> RuleEvaluator({"x": [1, 2]}, 2).mask(Not(cond("x", "==", 1))).tolist()
    [False, True]
    """

    item: Expr = attrs.field(validator=_one_expr)


Expr: TypeAlias = Condition | AllOf | AnyOf | Not
"""A rule: a condition, or all / any / not of rules."""
EXPR_TYPES = (Condition, AllOf, AnyOf, Not)
EXPR_WHAT = "a rule expression (cond, all_of, any_of, not_)"


def cond(field: str, op: str, value: Scalar | np.generic | Sequence[Scalar]) -> Condition:
    """Shorthand for :class:`Condition` (a list value becomes a tuple).

    >>> cond("segment", "in", ["gold", "silver"]).value
    ('gold', 'silver')
    >>> cond("spend", ">", np.float32(1.5)).value  # a numpy number is the number it holds
    1.5
    """
    given: object = value.tolist() if isinstance(value, np.generic | np.ndarray) else value
    if isinstance(given, str | int | float) or not isinstance(given, Iterable):
        return Condition(field, op, given)  # type: ignore[arg-type]  # Condition names a wrong kind
    return Condition(field, op, tuple(given))


def all_of(*items: Expr) -> AllOf:
    """``all`` of the items.

    >>> expr_to_dict(all_of(cond("a", ">", 1)))
    {'all': [{'field': 'a', 'op': '>', 'value': 1}]}
    """
    return AllOf(tuple(items))


def any_of(*items: Expr) -> AnyOf:
    """``any`` of the items.

    >>> len(any_of(cond("a", ">", 1), cond("b", "<", 2)).items)
    2
    """
    return AnyOf(tuple(items))


def not_(item: Expr) -> Not:
    """``not`` the item.

    >>> not_(cond("a", ">", 1)).item.op
    '>'
    """
    return Not(item)


# -- serialization -------------------------------------------------------------------------------
def _rule(expr: Any, name: str) -> Any:
    """``expr`` when it is a rule node; anything else is refused naming the argument."""
    if isinstance(expr, Condition | AllOf | AnyOf | Not):
        return expr
    shown = repr(expr)[:80]
    raise ValidationError(
        f"{name!r} must be a rule (Condition, AllOf, AnyOf or Not), "
        f"not {type(expr).__name__}: {shown}"
    )


def expr_to_dict(expr: Expr) -> dict[str, Any]:
    """The JSON-safe form of a rule.

    >>> expr_to_dict(not_(cond("region", "in", ("north",))))
    {'not': {'field': 'region', 'op': 'in', 'value': ['north']}}
    """
    if isinstance(expr, Condition):
        v = list(expr.value) if isinstance(expr.value, tuple) else expr.value
        return {"field": expr.field, "op": expr.op, "value": v}
    if isinstance(expr, AllOf):
        return {"all": [expr_to_dict(e) for e in expr.items]}
    if isinstance(expr, AnyOf):
        return {"any": [expr_to_dict(e) for e in expr.items]}
    return {"not": expr_to_dict(_rule(expr, "expr").item)}


def expr_from_dict(data: Any, *, path: str = "$") -> Expr:
    """Read a rule from its JSON-safe form; errors name the path of the bad part.

    >>> expr_from_dict({"any": [{"field": "a", "op": ">", "value": 1}, {"feld": "b"}]})
    Traceback (most recent call last):
    crmcore.errors.ValidationError: $.any[1]: expected a condition {field, op, value} or one of all/any/not: {'feld': 'b'}
    """
    if isinstance(data, dict):
        keys = set(data)
        if keys == {"all"} or keys == {"any"}:
            (key,) = keys
            items = data[key]
            if not isinstance(items, list):
                raise ValidationError(f"{path}.{key}: expected a list of rules: {items!r}")
            parsed = tuple(
                expr_from_dict(e, path=f"{path}.{key}[{i}]") for i, e in enumerate(items)
            )
            return AllOf(parsed) if key == "all" else AnyOf(parsed)
        if keys == {"not"}:
            return Not(expr_from_dict(data["not"], path=f"{path}.not"))
        if keys == {"field", "op", "value"}:
            value = data["value"]
            if isinstance(value, list):
                value = tuple(value)
            try:
                return Condition(data["field"], data["op"], value)
            except ConfigurationError as e:
                raise ValidationError(f"{path}: {e}") from None
    raise ValidationError(
        f"{path}: expected a condition {{field, op, value}} or one of all/any/not: {data!r}"
    )


def expr_fields(expr: Expr, path: str = "$") -> list[tuple[str, str]]:
    """Every ``(field, path)`` a rule uses, for validation messages.

    >>> expr_fields(any_of(cond("a", ">", 1), not_(cond("b", "==", 2))))
    [('a', '$.any[0].field'), ('b', '$.any[1].not.field')]
    """
    if isinstance(expr, Condition):
        return [(expr.field, f"{path}.field")]
    _rule(expr, "expr")
    if isinstance(expr, Not):
        return expr_fields(expr.item, f"{path}.not")
    key = "all" if isinstance(expr, AllOf) else "any"
    out: list[tuple[str, str]] = []
    for i, e in enumerate(expr.items):
        out += expr_fields(e, f"{path}.{key}[{i}]")
    return out


class RuleEvaluator:
    """Turns rules into boolean masks over aligned columns; each column is converted once.

    ``name`` is used in error messages (the tier set's name).

    >>> RuleEvaluator({"x": [1.0, float("nan")]}, 2).mask(cond("x", ">", 0))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: rule: column 'x' has NaN at index 1; use nan_policy='propagate' to let NaN match no condition
    """

    def __init__(
        self,
        columns: Mapping[str, npt.ArrayLike],
        n: int,
        policy: str = "raise",
        name: str = "rule",
    ) -> None:
        self.columns = columns
        self.n = as_count(n, name="n", high=2**63 - 1)
        # a mask cannot hold NaN: "propagate" here lets a NaN satisfy no condition (the
        # one NaN policy of crmcore.arrays is applied to whole rows by TierSet.evaluate)
        self.policy = validate_nan_policy(
            policy, allowed=("raise", "propagate"), what="a rule mask"
        )
        self.name = name
        self.cache: dict[str, npt.NDArray[Any]] = {}

    def _column(self, field: str, numeric: bool) -> npt.NDArray[Any]:
        col = self.cache.get(field)
        if col is None:
            col = np.asarray(self.columns[field])
            if col.ndim != 1 or len(col) != self.n:
                raise ValidationError(
                    f"{self.name}: column {field!r} must hold one value per customer "
                    f"({self.n}): shape {col.shape}"
                )
            if col.dtype.kind == "f" and self.policy == "raise":
                nan = np.isnan(col)
                if nan.any():
                    i = int(np.flatnonzero(nan)[0])
                    raise ValidationError(
                        f"{self.name}: column {field!r} has NaN at index {i}; "
                        "use nan_policy='propagate' to let NaN match no condition"
                    )
            self.cache[field] = col
        if numeric and col.dtype.kind not in "fbiu":
            raise ValidationError(
                f"{self.name}: column {field!r} must be numeric for an order comparison"
            )
        return col

    def mask(self, expr: Expr) -> npt.NDArray[np.bool_]:
        """The customers (True) for whom ``expr`` holds.

        >>> ev = RuleEvaluator({"region": ["north", "south"], "x": [1, 2]}, 2)
        >>> ev.mask(all_of(cond("region", "in", ["south"]), not_(cond("x", "<", 2)))).tolist()
        [False, True]
        """
        if isinstance(expr, AllOf):
            out = np.ones(self.n, dtype=bool)
            for e in expr.items:
                out &= self.mask(e)
            return out
        if isinstance(expr, AnyOf):
            out = np.zeros(self.n, dtype=bool)
            for e in expr.items:
                out |= self.mask(e)
            return out
        if isinstance(expr, Not):
            return ~self.mask(expr.item)
        return self._condition(expr)

    def _condition(self, c: Condition) -> npt.NDArray[np.bool_]:
        op, v = c.op, c.value
        col = self._column(c.field, numeric=op in ("<", "<=", ">", ">="))
        if op in _ORDER_OPS:
            res: npt.NDArray[np.bool_] = _ORDER_OPS[op](col, v)
            return res
        if op in ("in", "not_in"):
            assert isinstance(v, tuple)
            hit = np.isin(col, np.asarray(v, dtype=col.dtype if col.dtype.kind == "f" else None))
            if op == "in":
                return hit
            out = ~hit
        else:
            hit = np.equal(col, v) if _comparable(col, v) else np.zeros(self.n, dtype=bool)
            if op == "==":
                return hit
            out = ~hit
        if col.dtype.kind == "f":
            out &= ~np.isnan(col)  # NaN satisfies no condition, not even != / not_in
        return out


_ORDER_OPS: dict[str, Any] = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
}


def _comparable(col: npt.NDArray[Any], v: object) -> bool:
    if col.dtype.kind in "fbiu":
        return _is_number(v) or isinstance(v, bool)
    return isinstance(v, str)


attrs.resolve_types(AllOf, globals())
attrs.resolve_types(AnyOf, globals())
attrs.resolve_types(Not, globals())
