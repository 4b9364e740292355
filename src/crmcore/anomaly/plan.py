"""A rule set compiled for the engines: leaves numbered, combinations as a small tree.

Both engines evaluate every *leaf* rule (threshold, baselines, windows) with
their own machinery, then combine the leaves with the same functions here,
so "which rule fired" and "what the alert says" cannot differ between them.

>>> from crmcore.anomaly.rules import AllOf, Dormant, Not, RuleSet, Threshold
>>> plan = compile_plan(RuleSet(name="b", rules=[
...     AllOf(name="big-active", rules=[Threshold(at_least=100), Not(rule=Dormant(gap="30d"))])]))
>>> [type(r).__name__ for r in plan.leaves]
['Threshold', 'Dormant']
>>> fires(plan.tops[0], {0: Hit(150.0, 100.0, 1.5, 0)}.get, lambda scope: True)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import attrs

from crmcore._results import COUNT, FINITE, named_tuple_check
from crmcore.anomaly._checks import _count
from crmcore.anomaly._explain import explain_leaf, rule_label
from crmcore.anomaly.rules import (
    _RULE_CLASSES,
    AllOf,
    AnyOf,
    BehaviourChange,
    Not,
    Rule,
    RuleSet,
    Scope,
    Velocity,
    parse_window,
)
from crmcore.errors import ValidationError
from crmcore.model._fields import as_tuple, instance, tuple_of
from crmcore.options import as_count, expect_instance

__all__ = ["Hit", "Node", "Plan", "compile_plan", "describe", "fires"]


class _HitFields(NamedTuple):
    observed: float
    baseline: float
    deviation: float
    history: int


_check_hit = named_tuple_check(
    "Hit", observed=FINITE, baseline=FINITE, deviation=FINITE, history=COUNT
)


class Hit(_HitFields):
    """The numbers of one fired leaf on one transaction: finite numbers and a count >= 0.

    >>> Hit(150.0, 100.0, 1.5, 0).deviation
    1.5
    >>> Hit(150.0, float("-inf"), 1.5, 0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: Hit: 'baseline' must be a finite number: -inf
    """

    __slots__ = ()

    def __new__(cls, observed: float, baseline: float, deviation: float, history: int) -> Hit:
        self = tuple.__new__(cls, (observed, baseline, deviation, history))
        _check_hit(self)
        return self


def new_hit(observed: float, baseline: float, deviation: float, history: int) -> Hit:
    """A :class:`Hit` from the engines' own finite numbers, without the check (the hot path)."""
    return _tuple_new(Hit, (observed, baseline, deviation, history))


_tuple_new = tuple.__new__


def _nodes(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    tuple_of(Node, "a Node")(_inst, attribute, value)


def _windows(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    tuple_of(int, "a whole number of microseconds")(_inst, attribute, value)
    assert isinstance(value, tuple)
    for i, w in enumerate(value):
        as_count(w, name=f"{attribute.name}[{i}]")


@attrs.frozen
class Node:
    """A rule in the compiled tree: a leaf (``leaf`` is its index) or a combination."""

    rule: Rule = attrs.field(validator=instance(_RULE_CLASSES, "a rule"))
    leaf: int = attrs.field(default=-1, validator=_count(-1, 2**31 - 1))
    children: tuple[Node, ...] = attrs.field(default=(), converter=as_tuple, validator=_nodes)


@attrs.frozen
class Plan:
    """The compiled rule set: top-level nodes, the leaves in order, and alert windows (µs, 0 = per transaction)."""

    ruleset: RuleSet = attrs.field(validator=instance(RuleSet, "a RuleSet"))
    tops: tuple[Node, ...] = attrs.field(converter=as_tuple, validator=_nodes)
    leaves: tuple[Rule, ...] = attrs.field(
        converter=as_tuple, validator=tuple_of(_RULE_CLASSES, "a rule")
    )
    alert_windows: tuple[int, ...] = attrs.field(converter=as_tuple, validator=_windows)


def _alert_window(rule: Rule) -> int:
    if rule.alert_window is not None:
        return parse_window(rule.alert_window, name="alert_window")
    if isinstance(rule, Velocity | BehaviourChange):
        return parse_window(rule.window)
    return 0


def compile_plan(ruleset: RuleSet) -> Plan:
    """Number the leaves of every top-level rule (depth first) and build the tree."""
    expect_instance(ruleset, RuleSet, name="ruleset")
    leaves: list[Rule] = []

    def build(rule: Rule) -> Node:
        if isinstance(rule, AllOf | AnyOf):
            return Node(rule, -1, tuple(build(r) for r in rule.rules))
        if isinstance(rule, Not):
            return Node(rule, -1, (build(rule.rule),))
        leaves.append(rule)
        return Node(rule, len(leaves) - 1)

    tops = tuple(build(r) for r in ruleset.rules)
    return Plan(ruleset, tops, tuple(leaves), tuple(_alert_window(r) for r in ruleset.rules))


LeafLookup = Callable[[int], "Hit | None"]
ScopeCheck = Callable[[Scope], bool]


def fires(node: Node, hit_of: LeafLookup, in_scope: ScopeCheck) -> bool:
    """Whether ``node`` fires on a transaction, given its leaves' hits and a scope test."""
    try:
        if node.leaf >= 0:
            return hit_of(node.leaf) is not None
        if not in_scope(node.rule.scope):
            return False
    except (AttributeError, TypeError):  # free on the hot path: checked only when it fails
        expect_instance(node, Node, name="node")
        for name, f in (("hit_of", hit_of), ("in_scope", in_scope)):
            if not callable(f):
                raise ValidationError(f"{name!r} must be a function: {f!r}") from None
        raise
    if isinstance(node.rule, AllOf):
        return all(fires(c, hit_of, in_scope) for c in node.children)
    if isinstance(node.rule, AnyOf):
        return any(fires(c, hit_of, in_scope) for c in node.children)
    return not fires(node.children[0], hit_of, in_scope)


def describe(
    node: Node, hit_of: LeafLookup, in_scope: ScopeCheck, kind: int, amount: float
) -> tuple[Hit, str]:
    """The numbers and the sentence of a node that fired (see :func:`fires`).

    The numbers are those of the first fired leaf inside it; a combination
    made only of negations reports the amount with no baseline.
    """
    if node.leaf >= 0:
        hit = hit_of(node.leaf)
        assert hit is not None
        return hit, explain_leaf(node.rule, kind, *hit)
    if isinstance(node.rule, Not):
        return new_hit(amount, 0.0, 0.0, 0), f"not {rule_label(node.children[0].rule)}"
    parts: list[tuple[Hit, str, bool]] = []
    for c in node.children:
        if fires(c, hit_of, in_scope):
            hit, text = describe(c, hit_of, in_scope, kind, amount)
            parts.append((hit, text, isinstance(c.rule, Not)))
            if isinstance(node.rule, AnyOf):
                break
    primary = next((h for h, _, neg in parts if not neg), parts[0][0])
    return primary, "; ".join(t for _, t, _ in parts)
