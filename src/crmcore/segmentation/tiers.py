"""Tiers with service levels: rules as data, evaluated over all customers at once.

A rule is a small expression: a condition ``(field, op, value)`` or
``all`` / ``any`` / ``not`` of rules. It serializes to plain JSON::

    {"any": [{"field": "assets", "op": ">", "value": 100000},
             {"field": "trades_per_year", "op": ">=", "value": 12}]}

A :class:`TierSet` is an ordered list of tiers, best first; each customer
gets the *first* tier whose rule matches (a tier without a rule matches
everyone: the catch-all). Evaluation turns every condition into one numpy
comparison over the whole column, so 10 million customers take a fraction
of a second. Missing values: with ``nan_policy="raise"`` (default) a NaN in a
numeric column used by a rule is an error; with ``"propagate"`` a NaN
satisfies no condition (not even ``!=``), while ``not`` still inverts.

>>> platinum = Tier("platinum", any_of(cond("assets", ">", 100_000), cond("trades_per_year", ">=", 12)),
...                 ServiceLevel(dedicated_rep=True, skip_queue=True, response_time_hours=1))
>>> ts = TierSet("brokerage", (platinum, Tier("standard")))
>>> ts.evaluate({"assets": [250_000, 5_000, 900], "trades_per_year": [1, 20, 2]}).labels().tolist()
['platinum', 'platinum', 'standard']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.arrays import validate_nan_policy
from crmcore.errors import ConfigurationError, ValidationError

if TYPE_CHECKING:
    from crmcore.repositories.protocols import DocumentRepository

__all__ = [
    "OPERATORS",
    "AllOf",
    "AnyOf",
    "Condition",
    "Expr",
    "Not",
    "ServiceLevel",
    "Tier",
    "TierAssignment",
    "TierSet",
    "all_of",
    "any_of",
    "cond",
    "expr_from_dict",
    "expr_to_dict",
    "load_tier_set",
    "not_",
    "save_tier_set",
    "tier_set_from_dict",
    "tier_set_to_dict",
]

OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in")
"""The comparison operators of a :class:`Condition`."""

Scalar: TypeAlias = float | int | str | bool


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@attrs.frozen
class Condition:
    """``field op value``; ``in`` / ``not_in`` take a tuple of values.

    >>> Condition("assets", ">", "lots")
    Traceback (most recent call last):
    crmcore.errors.ConfigurationError: condition on 'assets': operator '>' needs a number: 'lots'
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
        if self.op in ("in", "not_in"):
            if not isinstance(v, tuple) or not v:
                raise ConfigurationError(
                    f"condition on {self.field!r}: operator {self.op!r} needs a non-empty list: {v!r}"
                )
        elif self.op in ("<", "<=", ">", ">="):
            if not _is_number(v) or not np.isfinite(float(v)):  # type: ignore[arg-type]  # checked number
                raise ConfigurationError(
                    f"condition on {self.field!r}: operator {self.op!r} needs a number: {v!r}"
                )
        elif not isinstance(v, int | float | str | bool):
            raise ConfigurationError(
                f"condition on {self.field!r}: operator {self.op!r} needs a number, text or "
                f"true/false: {v!r}"
            )


@attrs.frozen
class AllOf:
    """True where every item is true (an empty ``all`` is true)."""

    items: tuple[Expr, ...]


@attrs.frozen
class AnyOf:
    """True where at least one item is true (an empty ``any`` is false)."""

    items: tuple[Expr, ...]


@attrs.frozen
class Not:
    """True where the item is false."""

    item: Expr


Expr: TypeAlias = Condition | AllOf | AnyOf | Not
"""A rule: a condition, or all / any / not of rules."""


def cond(field: str, op: str, value: Scalar | Sequence[Scalar]) -> Condition:
    """Shorthand for :class:`Condition` (a list value becomes a tuple).

    >>> cond("segment", "in", ["gold", "silver"]).value
    ('gold', 'silver')
    """
    if isinstance(value, str | int | float):
        return Condition(field, op, value)
    return Condition(field, op, tuple(value))


def all_of(*items: Expr) -> AllOf:
    """``all`` of the items.

    >>> expr_to_dict(all_of(cond("a", ">", 1)))
    {'all': [{'field': 'a', 'op': '>', 'value': 1}]}
    """
    return AllOf(tuple(items))


def any_of(*items: Expr) -> AnyOf:
    """``any`` of the items."""
    return AnyOf(tuple(items))


def not_(item: Expr) -> Not:
    """``not`` the item."""
    return Not(item)


# -- serialization -------------------------------------------------------------------------------
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
    return {"not": expr_to_dict(expr.item)}


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


def _fields(expr: Expr, path: str) -> list[tuple[str, str]]:
    if isinstance(expr, Condition):
        return [(expr.field, f"{path}.field")]
    if isinstance(expr, Not):
        return _fields(expr.item, f"{path}.not")
    key = "all" if isinstance(expr, AllOf) else "any"
    out: list[tuple[str, str]] = []
    for i, e in enumerate(expr.items):
        out += _fields(e, f"{path}.{key}[{i}]")
    return out


# -- tiers ---------------------------------------------------------------------------------------
@attrs.frozen
class ServiceLevel:
    """How a tier is served: a dedicated rep, skipping the queue, a response-time promise.

    >>> ServiceLevel(response_time_hours=-1)
    Traceback (most recent call last):
    crmcore.errors.ConfigurationError: 'response_time_hours' must be > 0: -1
    """

    dedicated_rep: bool = False
    skip_queue: bool = False
    response_time_hours: float | None = None
    description: str = ""

    def __attrs_post_init__(self) -> None:
        h = self.response_time_hours
        if h is not None and (not _is_number(h) or not h > 0):
            raise ConfigurationError(f"'response_time_hours' must be > 0: {h!r}")


@attrs.frozen
class Tier:
    """A named tier, its rule (None = everyone) and its service level."""

    name: str
    rule: Expr | None = None
    service: ServiceLevel = ServiceLevel()


@attrs.frozen(eq=False)
class TierAssignment:
    """Tier code per customer (index into ``tiers``, best first; -1 = no tier matched)."""

    codes: npt.NDArray[np.int16]
    tiers: tuple[str, ...]

    def labels(self) -> npt.NDArray[np.str_]:
        """Tier name per customer ("" where none matched)."""
        return np.array([*self.tiers, ""])[self.codes]

    def counts(self) -> dict[str, int]:
        """Customers per tier, in tier order (unmatched under ``""`` when any).

        >>> TierSet("t", (Tier("big", cond("x", ">", 1)),)).evaluate({"x": [5, 0]}).counts()
        {'big': 1, '': 1}
        """
        c = np.bincount(self.codes.astype(np.int64) + 1, minlength=len(self.tiers) + 1)
        out = {nm: int(k) for nm, k in zip(self.tiers, c[1:], strict=True)}
        if c[0]:
            out[""] = int(c[0])
        return out


@attrs.frozen
class TierSet:
    """Ordered tiers (best first); the first matching tier wins.

    ``fields``, when given, is the vocabulary rules may use: an unknown field
    is a :class:`~crmcore.errors.ConfigurationError` naming its path.

    >>> TierSet("t", (Tier("vip", cond("asets", ">", 1)),), fields=("assets",))
    Traceback (most recent call last):
    crmcore.errors.ConfigurationError: tier set 't': $.tiers[0].rule.field: unknown field 'asets'; known: ['assets']
    """

    name: str
    tiers: tuple[Tier, ...]
    fields: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        if not self.name:
            raise ConfigurationError("'name' of a tier set must not be empty")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names) or not all(names):
            raise ConfigurationError(
                f"tier set {self.name!r}: tier names must be unique and non-empty: {names}"
            )
        if self.fields:
            for field, path in self.field_paths():
                if field not in self.fields:
                    raise ConfigurationError(
                        f"tier set {self.name!r}: {path}: unknown field {field!r}; "
                        f"known: {sorted(self.fields)}"
                    )

    def field_paths(self) -> list[tuple[str, str]]:
        """Every ``(field, path)`` the rules use, e.g. ``('assets', '$.tiers[0].rule.any[0].field')``."""
        out: list[tuple[str, str]] = []
        for i, t in enumerate(self.tiers):
            if t.rule is not None:
                out += _fields(t.rule, f"$.tiers[{i}].rule")
        return out

    def service(self, tier: str) -> ServiceLevel:
        """The service level of a tier by name."""
        for t in self.tiers:
            if t.name == tier:
                return t.service
        raise ValidationError(f"no tier {tier!r} in tier set {self.name!r}")

    def evaluate(
        self, columns: Mapping[str, npt.ArrayLike], *, nan_policy: str = "raise"
    ) -> TierAssignment:
        """Assign every customer its first matching tier (columns are aligned per customer).

        >>> TierSet("t", (Tier("vip", cond("assets", ">", 1)),)).evaluate({"asets": [1]})
        Traceback (most recent call last):
        crmcore.errors.ValidationError: tier set 't': $.tiers[0].rule.field: no column 'assets' in the data; columns: ['asets']
        """
        pol = validate_nan_policy(nan_policy)
        lengths = {len(np.asarray(c)) for c in columns.values()}
        if len(lengths) > 1:
            raise ValidationError(f"tier set {self.name!r}: columns must have the same length")
        n = lengths.pop() if lengths else 0
        for field, path in self.field_paths():
            if field not in columns:
                raise ValidationError(
                    f"tier set {self.name!r}: {path}: no column {field!r} in the data; "
                    f"columns: {sorted(columns)}"
                )
        ev = _Evaluator(columns, n, pol, self.name)
        codes = np.full(n, -1, dtype=np.int16)
        # worst tier first, so that a better tier overwrites: the first match in order wins
        for i in range(len(self.tiers) - 1, -1, -1):
            rule = self.tiers[i].rule
            if rule is None:
                codes.fill(i)
            else:
                np.copyto(codes, np.int16(i), where=ev.mask(rule))
        return TierAssignment(codes, tuple(t.name for t in self.tiers))


class _Evaluator:
    """Turns a rule into a boolean mask; each column is converted once."""

    def __init__(
        self, columns: Mapping[str, npt.ArrayLike], n: int, policy: str, name: str
    ) -> None:
        self.columns = columns
        self.n = n
        self.policy = policy
        self.name = name
        self.cache: dict[str, npt.NDArray[Any]] = {}

    def column(self, field: str, numeric: bool) -> npt.NDArray[Any]:
        col = self.cache.get(field)
        if col is None:
            col = np.asarray(self.columns[field])
            if col.dtype.kind == "f" and self.policy == "raise":
                nan = np.isnan(col)
                if nan.any():
                    i = int(np.flatnonzero(nan)[0])
                    raise ValidationError(
                        f"tier set {self.name!r}: column {field!r} has NaN at index {i}; "
                        "use nan_policy='propagate' to let NaN match no condition"
                    )
            self.cache[field] = col
        if numeric and col.dtype.kind not in "fbiu":
            raise ValidationError(
                f"tier set {self.name!r}: column {field!r} must be numeric for an order comparison"
            )
        return col

    def mask(self, expr: Expr) -> npt.NDArray[np.bool_]:
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
        return self.condition(expr)

    def condition(self, c: Condition) -> npt.NDArray[np.bool_]:
        op, v = c.op, c.value
        col = self.column(c.field, numeric=op in ("<", "<=", ">", ">="))
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


# -- persistence ---------------------------------------------------------------------------------
def tier_set_to_dict(ts: TierSet) -> dict[str, Any]:
    """The JSON-safe form of a tier set (what is stored).

    >>> tier_set_to_dict(TierSet("t", (Tier("all"),)))["tiers"][0]["rule"] is None
    True
    """
    from crmcore.serialization import to_dict

    return dict(to_dict(ts))


def tier_set_from_dict(data: Any) -> TierSet:
    """Read a tier set, validating every part (errors name the path).

    >>> tier_set_from_dict({"name": "t", "tiers": [{"name": "x", "rule": {"field": "a", "op": "~", "value": 1}}]})
    Traceback (most recent call last):
    crmcore.errors.ValidationError: cannot read TierSet: $.tiers[0].rule: $: condition on 'a': 'op' must be one of ('==', '!=', '<', '<=', '>', '>=', 'in', 'not_in'): '~'
    """
    from crmcore.serialization import from_dict

    return from_dict(TierSet, data)


def save_tier_set(
    documents: DocumentRepository, ts: TierSet, *, expected_version: int | None
) -> int:
    """Store a new version of the tier set under ``("tier_set", ts.name)``; returns the version."""
    return documents.put(
        "tier_set", ts.name, tier_set_to_dict(ts), expected_version=expected_version
    )


def load_tier_set(
    documents: DocumentRepository, name: str, *, version: int | None = None
) -> tuple[TierSet, int]:
    """The stored tier set (latest or the given version) and its version."""
    data, v = documents.get("tier_set", name, version=version)
    return tier_set_from_dict(data), v


def _register(conv: Any) -> None:
    is_expr = lambda t: t == Expr or t == (Expr | None) or t in (Condition, AllOf, AnyOf, Not)  # noqa: E731
    conv.register_unstructure_hook_func(is_expr, lambda e: None if e is None else expr_to_dict(e))
    conv.register_structure_hook_func(
        is_expr, lambda d, _t: None if d is None else expr_from_dict(d)
    )


def _install() -> None:
    from crmcore.serialization import register_hooks

    attrs.resolve_types(AllOf, globals(), locals())
    attrs.resolve_types(AnyOf, globals(), locals())
    attrs.resolve_types(Not, globals(), locals())
    attrs.resolve_types(Tier, globals(), locals())
    attrs.resolve_types(TierSet, globals(), locals())
    register_hooks(_register)


_install()
