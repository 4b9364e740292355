"""Anomaly rules as data: frozen attrs records, validated, serialized with a ``"type"`` tag.

Every rule is evaluated at each transaction of a customer that is *in its
scope* (transaction kinds, channels, products; customer segments and tiers);
the customer's history for a baseline is the sequence of their earlier
in-scope transactions. Windows are written as a whole number and a unit:
``"90s"``, ``"30m"``, ``"12h"``, ``"7d"``, ``"2w"``.

>>> from crmcore.serialization import to_dict, from_dict
>>> rule = RobustZ(name="large-withdrawal", scope=Scope(kinds=("withdrawal",)), lookback=20,
...                min_history=5, z=6.0)
>>> d = to_dict(rule)
>>> d["type"], d["lookback"], d["scope"]["kinds"]
('robust_z', 20, ['withdrawal'])
>>> from_dict(RuleSet, {"name": "bank", "rules": [d]}).rules[0] == rule
True
>>> from_dict(RuleSet, {"name": "bank", "rules": [{"type": "velocity", "name": "v",
...     "window": "7 days", "at_least": 3}]})
Traceback (most recent call last):
crmcore.errors.ValidationError: cannot read RuleSet: $.rules[0].window: must be a whole number and a unit s, m, h, d or w (e.g. '7d'): '7 days'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Union

import attrs

from crmcore.anomaly._checks import (
    _count,
    _name,
    _number,
    _opt_window,
    _str_tuple,
    _window,
    parse_window,
)
from crmcore.errors import ValidationError
from crmcore.model._fields import as_tuple, name_items, name_text
from crmcore.model._storable import MAX_ID_LENGTH
from crmcore.model.transaction import TransactionKind
from crmcore.options import as_enum

__all__ = [
    "AllOf",
    "AnyOf",
    "BehaviourChange",
    "Direction",
    "Dormant",
    "EWBaseline",
    "Measure",
    "Not",
    "RobustZ",
    "Rule",
    "RuleSet",
    "Scope",
    "Threshold",
    "Velocity",
    "leaf_rules",
    "parse_window",
]

_SMALLEST = 1e-6
"""The smallest positive limit of a threshold or velocity rule: amounts are exact to 6 decimal
places, and a smaller limit would make the alert's deviation (observed / limit) overflow."""


def _kinds(value: object) -> tuple[TransactionKind, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"'kinds' must be a list of transaction kinds: {value!r}")
    items = _str_tuple([str(v) if isinstance(v, TransactionKind) else v for v in value], "kinds")
    return tuple(as_enum(k, TransactionKind, name="kinds") for k in items)


class Direction(StrEnum):
    """Which side of the baseline counts as abnormal."""

    UP = "up"
    DOWN = "down"
    BOTH = "both"


class Measure(StrEnum):
    """What a window measures: the number of transactions, their sum, or their mean amount."""

    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"


@attrs.frozen
class Scope:
    """Which transactions and customers a rule looks at; an empty tuple means "any".

    >>> Scope(kinds=("withdrawal", "transfer_out"), tiers=("gold",)).kinds
    (<TransactionKind.WITHDRAWAL: 'withdrawal'>, <TransactionKind.TRANSFER_OUT: 'transfer_out'>)
    >>> Scope(kinds=("loan",))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'kinds' must be one of 'purchase', 'refund', 'deposit', 'withdrawal', 'payment', 'fee', 'transfer_in', 'transfer_out': 'loan'
    """

    kinds: tuple[TransactionKind, ...] = attrs.field(default=(), converter=_kinds)
    channels: tuple[str, ...] = attrs.field(default=(), converter=as_tuple, validator=name_items)
    products: tuple[str, ...] = attrs.field(default=(), converter=as_tuple, validator=name_items)
    segments: tuple[str, ...] = attrs.field(default=(), converter=as_tuple, validator=name_items)
    tiers: tuple[str, ...] = attrs.field(default=(), converter=as_tuple, validator=name_items)

    @property
    def is_everything(self) -> bool:
        """True when the scope restricts nothing.

        >>> Scope().is_everything
        True
        """
        return not (self.kinds or self.channels or self.products or self.segments or self.tiers)


def _direction(value: Any) -> Direction:
    return as_enum(value, Direction, name="direction")


def _measure(value: Any) -> Measure:
    return as_enum(value, Measure, name="measure")


_SCOPE = attrs.field(factory=Scope, validator=attrs.validators.instance_of(Scope))


@attrs.frozen
class Threshold:
    """Fires when one in-scope transaction's amount is at least ``at_least``.

    >>> Threshold(name="big", at_least=10_000).at_least
    10000
    >>> Threshold(name="big", at_least=0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'at_least' must be >= 1e-06: 0
    """

    name: str = attrs.field(default="", validator=_name)
    at_least: float = attrs.field(default=0.0, validator=_number(_SMALLEST))
    scope: Scope = _SCOPE
    alert_window: str | None = attrs.field(default=None, validator=_opt_window)


@attrs.frozen
class RobustZ:
    """Robust z-score of the amount against the customer's previous ``lookback`` amounts.

    ``z = (x - median) / scale`` with ``scale = 1.4826 * MAD``; when the MAD is
    0, ``scale = 1.2533 * mean |x_j - median|``; and never below
    ``min_scale``. Fires when ``z >= z`` (``direction="up"``), ``z <= -z``
    (``"down"``) or ``|z| >= z`` (``"both"``), and only once the customer has
    at least ``min_history`` earlier in-scope transactions.

    >>> RobustZ(name="r", lookback=10, min_history=12)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'min_history' must be <= 'lookback' (10): 12
    """

    name: str = attrs.field(default="", validator=_name)
    lookback: int = attrs.field(default=20, validator=_count(3, 1000))
    min_history: int = attrs.field(default=5, validator=_count(3, 1000))
    z: float = attrs.field(default=5.0, validator=_number(0, strict=True))
    direction: Direction = attrs.field(default=Direction.UP, converter=_direction)
    min_scale: float = attrs.field(default=1.0, validator=_number(0, strict=True))
    scope: Scope = _SCOPE
    alert_window: str | None = attrs.field(default=None, validator=_opt_window)

    def __attrs_post_init__(self) -> None:
        if self.min_history > self.lookback:
            raise ValidationError(
                f"'min_history' must be <= 'lookback' ({self.lookback}): {self.min_history}"
            )


@attrs.frozen
class EWBaseline:
    """Deviation from an exponentially weighted mean and variance of the customer's amounts.

    Before each transaction ``x`` the state is ``(mean, var)``; ``z = (x - mean) /
    max(sqrt(var), min_scale)``. Then ``d = x - mean; mean += alpha * d;
    var = (1 - alpha) * (var + alpha * d * d)`` (the first amount sets
    ``mean = x, var = 0``).

    >>> EWBaseline(name="e", alpha=1.5)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'alpha' must be in (0, 1]: 1.5
    """

    name: str = attrs.field(default="", validator=_name)
    alpha: float = attrs.field(default=0.1, validator=_number(0, strict=True, high=1))
    min_history: int = attrs.field(default=5, validator=_count(2, 100_000))
    z: float = attrs.field(default=5.0, validator=_number(0, strict=True))
    direction: Direction = attrs.field(default=Direction.UP, converter=_direction)
    min_scale: float = attrs.field(default=1.0, validator=_number(0, strict=True))
    scope: Scope = _SCOPE
    alert_window: str | None = attrs.field(default=None, validator=_opt_window)


@attrs.frozen
class Velocity:
    """Count or sum of the customer's in-scope transactions in the window ``(t - window, t]``.

    Sums are exact: amounts are counted in hundredths (cents). One alert per
    customer per ``alert_window`` bucket (default: the window).

    >>> Velocity(name="v", window="1d", measure="mean", at_least=3)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'measure' must be 'count' or 'sum' for a velocity rule: 'mean'
    """

    name: str = attrs.field(default="", validator=_name)
    window: str = attrs.field(default="1d", validator=_window)
    measure: Measure = attrs.field(default=Measure.COUNT, converter=_measure)
    at_least: float = attrs.field(default=1.0, validator=_number(_SMALLEST))
    scope: Scope = _SCOPE
    alert_window: str | None = attrs.field(default=None, validator=_opt_window)

    def __attrs_post_init__(self) -> None:
        if self.measure is Measure.MEAN:
            raise ValidationError(
                f"'measure' must be 'count' or 'sum' for a velocity rule: {self.measure.value!r}"
            )


@attrs.frozen
class BehaviourChange:
    """The measure in the last window ``(t - w, t]`` against the previous one ``(t - 2w, t - w]``.

    ``ratio = last / previous``; fires when ``ratio >= ratio`` (``"up"``),
    ``ratio <= 1 / ratio`` (``"down"``) or either (``"both"``), once the
    previous window holds at least ``min_history`` in-scope transactions.

    >>> BehaviourChange(name="c", ratio=1.0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'ratio' must be > 1: 1.0
    """

    name: str = attrs.field(default="", validator=_name)
    window: str = attrs.field(default="30d", validator=_window)
    measure: Measure = attrs.field(default=Measure.SUM, converter=_measure)
    ratio: float = attrs.field(default=3.0, validator=_number(1, strict=True))
    direction: Direction = attrs.field(default=Direction.UP, converter=_direction)
    min_history: int = attrs.field(default=1, validator=_count(1, 100_000))
    scope: Scope = _SCOPE
    alert_window: str | None = attrs.field(default=None, validator=_opt_window)


@attrs.frozen
class Dormant:
    """Fires when the gap since the customer's previous in-scope transaction is at least ``gap``.

    >>> Dormant(name="d", gap="180d").gap
    '180d'
    """

    name: str = attrs.field(default="", validator=_name)
    gap: str = attrs.field(default="180d", validator=_window)
    scope: Scope = _SCOPE
    alert_window: str | None = attrs.field(default=None, validator=_opt_window)


def _rules_tuple(value: Any) -> tuple[Any, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"'rules' must be a list of rules: {value!r}")
    items = as_tuple(value)
    if not isinstance(items, tuple):
        raise ValidationError(f"'rules' must be a list of rules: {value!r}")
    for i, r in enumerate(items):
        if not isinstance(r, _RULE_CLASSES):
            raise ValidationError(f"'rules' must hold rules: {r!r} at index {i}")
    return items


@attrs.frozen
class AllOf:
    """Fires on a transaction when every inner rule fires on it.

    >>> AllOf(name="a", rules=[])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'rules' must hold at least one rule: ()
    """

    name: str = attrs.field(default="", validator=_name)
    rules: tuple[Rule, ...] = attrs.field(default=(), converter=_rules_tuple)
    scope: Scope = _SCOPE
    alert_window: str | None = attrs.field(default=None, validator=_opt_window)

    def __attrs_post_init__(self) -> None:
        if not self.rules:
            raise ValidationError(f"'rules' must hold at least one rule: {self.rules!r}")


@attrs.frozen
class AnyOf:
    """Fires on a transaction when at least one inner rule fires on it.

    >>> len(AnyOf(name="a", rules=[Threshold(at_least=1), Dormant()]).rules)
    2
    """

    name: str = attrs.field(default="", validator=_name)
    rules: tuple[Rule, ...] = attrs.field(default=(), converter=_rules_tuple)
    scope: Scope = _SCOPE
    alert_window: str | None = attrs.field(default=None, validator=_opt_window)

    def __attrs_post_init__(self) -> None:
        if not self.rules:
            raise ValidationError(f"'rules' must hold at least one rule: {self.rules!r}")


def _one_rule(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, _RULE_CLASSES):
        raise ValidationError(f"'rule' must be a rule: {value!r}")


@attrs.frozen
class Not:
    """Fires on an in-scope transaction when the inner rule does not (only inside ``all``/``any``).

    >>> Not(rule=Dormant()).rule.gap
    '180d'
    """

    rule: Rule = attrs.field(validator=_one_rule)
    name: str = attrs.field(default="", validator=_name)
    scope: Scope = _SCOPE
    alert_window: str | None = attrs.field(default=None, validator=_opt_window)


Rule = Union[  # noqa: UP007  # a runtime alias that cattrs dispatches on
    Threshold, RobustZ, EWBaseline, Velocity, BehaviourChange, Dormant, AllOf, AnyOf, Not
]
"""Any rule (a tagged union; the JSON ``"type"`` field names the member)."""

_RULE_CLASSES: tuple[type, ...] = (
    Threshold,
    RobustZ,
    EWBaseline,
    Velocity,
    BehaviourChange,
    Dormant,
    AllOf,
    AnyOf,
    Not,
)
TAGS: dict[type, str] = {
    Threshold: "threshold",
    RobustZ: "robust_z",
    EWBaseline: "ew_baseline",
    Velocity: "velocity",
    BehaviourChange: "change",
    Dormant: "dormant",
    AllOf: "all",
    AnyOf: "any",
    Not: "not",
}
"""Rule class → its ``"type"`` tag in JSON."""

for _cls in (Scope, *_RULE_CLASSES):
    attrs.resolve_types(_cls, globals(), locals())


def leaf_rules(rule: Rule) -> list[Rule]:
    """The non-combining rules inside ``rule`` (itself when it is one), depth first.

    >>> [type(r).__name__ for r in leaf_rules(AllOf(rules=[Threshold(at_least=1), Not(rule=Dormant())]))]
    ['Threshold', 'Dormant']
    """
    if isinstance(rule, AllOf | AnyOf):
        return [leaf for r in rule.rules for leaf in leaf_rules(r)]
    if isinstance(rule, Not):
        return leaf_rules(rule.rule)
    if not isinstance(rule, _RULE_CLASSES):
        raise ValidationError(
            f"'rule' must be a rule (one of {', '.join(TAGS.values())}): {rule!r}"
        )
    return [rule]


def _ruleset_name(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    name_text(max_length=MAX_ID_LENGTH)(_inst, attribute, value)


@attrs.frozen
class RuleSet:
    """A named, versioned list of top-level rules with unique non-empty names.

    ``version`` is the stored version (0 for a rule set never stored); it is
    set by :func:`crmcore.anomaly.load_ruleset` and carried into every alert.

    >>> RuleSet(name="bank", rules=[Threshold(name="big", at_least=5), Threshold(name="big", at_least=9)])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: $.rules[1].name: rule names must be unique: 'big'
    """

    name: str = attrs.field(validator=_ruleset_name)
    rules: tuple[Rule, ...] = attrs.field(converter=_rules_tuple)
    version: int = attrs.field(default=0, validator=_count(0, 2**62))

    def __attrs_post_init__(self) -> None:
        _check_top_level([(r.name, isinstance(r, Not)) for r in self.rules])

    def rule(self, name: str) -> Rule:
        """The top-level rule called ``name`` (ConfigurationError naming the choices otherwise).

        >>> RuleSet(name="b", rules=[Dormant(name="d")]).rule("d").gap
        '180d'
        """
        for r in self.rules:
            if r.name == name:
                return r
        from crmcore.errors import ConfigurationError

        raise ConfigurationError(
            f"rule set {self.name!r} has no rule {name!r}; rules: {[r.name for r in self.rules]}"
        )


def _check_top_level(rules: list[tuple[object, bool]]) -> None:
    problems = []
    seen: set[object] = set()
    for i, (name, is_not) in enumerate(rules):
        if not name:
            problems.append(f"$.rules[{i}].name: a top-level rule needs a name")
        elif name in seen:
            problems.append(f"$.rules[{i}].name: rule names must be unique: {name!r}")
        seen.add(name)
        if is_not:
            problems.append(
                f"$.rules[{i}].type: 'not' cannot stand alone (it would fire on almost every "
                "transaction); put it inside 'all'"
            )
    if problems:
        raise ValidationError("; ".join(problems), problems=problems)
