"""One-line explanations of fired rules, in words a marketing person reads.

Both engines call these functions with the same numbers, so their texts agree.

>>> from crmcore.anomaly.rules import RobustZ
>>> print(explain_leaf(RobustZ(lookback=20), 3, 480_000.0, 39_000.0, 14.2, 20))
Withdrawal of 480,000.00 is 12.3 times this customer's typical amount (median 39,000.00 over the last 20 transactions; robust z 14.2)
"""

from __future__ import annotations

from crmcore.anomaly._checks import window_words
from crmcore.anomaly.rules import (
    AllOf,
    AnyOf,
    BehaviourChange,
    Direction,
    Dormant,
    EWBaseline,
    Measure,
    Not,
    RobustZ,
    Rule,
    Threshold,
    Velocity,
)
from crmcore.model.transaction import TransactionKind

__all__ = ["KIND_LABELS", "explain_leaf", "rule_label"]

KIND_LABELS: tuple[str, ...] = tuple(
    k.value.replace("_", " ").capitalize() for k in TransactionKind
)
"""Kind code → a capitalised word ("Withdrawal", "Transfer out")."""


def _m(v: float) -> str:
    return f"{v:,.2f}"


def _plural(n: float, word: str) -> str:
    return f"{n:,.0f} {word}" + ("" if n == 1 else "s")


def rule_label(rule: Rule) -> str:
    """The rule's name, or a short description when it has none.

    >>> rule_label(Dormant(gap="90d"))
    'reactivation after 90 days'
    """
    if rule.name:
        return rule.name
    if isinstance(rule, Threshold):
        return f"amount >= {_m(rule.at_least)}"
    if isinstance(rule, RobustZ | EWBaseline):
        return f"deviation from the customer's baseline (z >= {rule.z:g})"
    if isinstance(rule, Velocity):
        return f"{rule.measure.value} in {window_words(rule.window)} >= {rule.at_least:g}"
    if isinstance(rule, BehaviourChange):
        return f"change of {rule.measure.value} between two windows of {window_words(rule.window)}"
    if isinstance(rule, Dormant):
        return f"reactivation after {window_words(rule.gap)}"
    if isinstance(rule, Not):
        return f"not {rule_label(rule.rule)}"
    assert isinstance(rule, AllOf | AnyOf)
    joiner = " and " if isinstance(rule, AllOf) else " or "
    return "(" + joiner.join(rule_label(r) for r in rule.rules) + ")"


def explain_leaf(
    rule: Rule, kind: int, observed: float, baseline: float, deviation: float, history: int
) -> str:
    """The sentence for one fired leaf rule on a transaction of kind code ``kind``.

    >>> from crmcore.anomaly.rules import Velocity
    >>> explain_leaf(Velocity(window="1d", measure="count", at_least=3), 0, 4.0, 3.0, 4 / 3, 4)
    '4 transactions within 1 day (limit 3)'
    """
    what = KIND_LABELS[kind]
    if isinstance(rule, Threshold):
        return f"{what} of {_m(observed)} is above the fixed limit of {_m(baseline)}"
    if isinstance(rule, RobustZ):
        tail = (
            f"(median {_m(baseline)} over the last {_plural(history, 'transaction')}; "
            f"robust z {deviation:.1f})"
        )
        if deviation > 0 and baseline > 0:
            return (
                f"{what} of {_m(observed)} is {observed / baseline:.1f} times this customer's "
                f"typical amount {tail}"
            )
        side = "above" if deviation > 0 else "below"
        return f"{what} of {_m(observed)} is far {side} this customer's typical amount {tail}"
    if isinstance(rule, EWBaseline):
        side = "above" if deviation > 0 else "below"
        return (
            f"{what} of {_m(observed)} is {abs(deviation):.1f} standard deviations {side} this "
            f"customer's usual level (weighted average {_m(baseline)} over "
            f"{_plural(history, 'transaction')})"
        )
    if isinstance(rule, Velocity):
        if rule.measure is Measure.COUNT:
            return (
                f"{_plural(observed, 'transaction')} within {window_words(rule.window)} "
                f"(limit {baseline:g})"
            )
        return (
            f"Transactions totalling {_m(observed)} within {window_words(rule.window)} "
            f"(limit {_m(baseline)})"
        )
    if isinstance(rule, BehaviourChange):
        w = window_words(rule.window)
        if rule.measure is Measure.COUNT:
            head = f"{_plural(observed, 'transaction')} in the last {w}"
            prev = _plural(baseline, "transaction")
        else:
            word = "Total amount" if rule.measure is Measure.SUM else "Average amount"
            head = f"{word} of {_m(observed)} in the last {w}"
            prev = _m(baseline)
        fmt = ".1f" if deviation >= 1 else ".2f"
        return f"{head} is {deviation:{fmt}} times the previous {w} ({prev})"
    if isinstance(rule, Dormant):
        return (
            f"{what} after {observed:,.0f} days without activity "
            f"(dormant after {window_words(rule.gap)})"
        )
    raise AssertionError(f"not a leaf rule: {rule!r}")  # pragma: no cover


def direction_fires(direction: Direction, value: float, limit: float) -> bool:
    """Whether a deviation ``value`` passes ``limit`` in the rule's direction.

    >>> direction_fires(Direction.BOTH, -6.0, 5.0)
    True
    """
    if direction is Direction.UP:
        return value >= limit
    if direction is Direction.DOWN:
        return value <= -limit
    return value >= limit or value <= -limit
