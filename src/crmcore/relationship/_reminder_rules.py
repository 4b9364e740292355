"""Reminder rules as data: frozen attrs records with a ``"type"`` tag, read with paths in errors.

A rule says which occasions of which customers become a planned activity, how
many days ahead, through which channels and for whom when the customer has no
owner (a team ``queue``). Rules are grouped in a named, versioned
:class:`ReminderRules` set, stored as a document like the anomaly rule sets
(:func:`save_reminder_rules`, :func:`load_reminder_rules`).

The JSON form and its errors are the anomaly rules' (:mod:`crmcore.anomaly.codec`:
a ``"type"`` tag per rule, unknown fields refused, every problem named by its
path such as ``$.rules[0].channels``), installed on a converter of
:func:`crmcore.serialization.make_converter`.

>>> rules = reminder_rules_from_dict({"name": "bakery", "rules": [
...     {"type": "birthday", "name": "birthday", "days_ahead": 3, "channels": ["email"]}]})
>>> rules.rules[0].days_ahead, reminder_rules_to_dict(rules)["rules"][0]["type"]
(3, 'birthday')
>>> reminder_rules_from_dict({"name": "bakery", "rules": [
...     {"type": "birthday", "name": "b", "channels": ["pigeon"]}]})  # doctest: +ELLIPSIS
Traceback (most recent call last):
crmcore.errors.ValidationError: cannot read ReminderRules: $.rules[0].channels: must be one of 'phone', ...: 'pigeon'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Union

import attrs
import cattrs

from crmcore.anomaly.codec import register_rule_family
from crmcore.anomaly.rules import _check_top_level
from crmcore.errors import ValidationError
from crmcore.model._fields import as_tuple, name_items, name_text, opt_record_id
from crmcore.model._storable import MAX_ID_LENGTH
from crmcore.model.activity import ActivityKind
from crmcore.model.interaction import Channel
from crmcore.options import as_count, as_enum, as_number, expect_instance
from crmcore.repositories._writes import check_document_key
from crmcore.repositories.protocols import expect_unit_of_work
from crmcore.serialization import from_dict, make_converter, to_dict

__all__ = [
    "REMINDER_RULES_KIND",
    "Anniversary",
    "Birthday",
    "CaseFollowUp",
    "DormantCustomer",
    "LowPAlive",
    "ReminderRule",
    "ReminderRules",
    "Renewal",
    "WinFollowUp",
    "load_reminder_rules",
    "reminder_rules_from_dict",
    "reminder_rules_to_dict",
    "save_reminder_rules",
]

REMINDER_RULES_KIND = "relationship_reminder_rules"
"""The document kind of stored reminder rule sets."""


def _channels(value: object) -> tuple[Channel, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"'channels' must be a list of channels: {value!r}")
    out = tuple(as_enum(v, Channel, name="channels") for v in value)
    if not out:
        raise ValidationError("'channels' must name at least one channel: []")
    if len(set(out)) != len(out):
        raise ValidationError(f"'channels' must not repeat a channel: {[c.value for c in out]}")
    return out


def _opt_kind(value: object) -> ActivityKind | None:
    return None if value is None else as_enum(value, ActivityKind, name="kind")


def _count(low: int, high: int) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        as_count(value, name=attribute.name, low=low, high=high)

    return check


def _number(low: float, high: float, *, strict: bool = False) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        as_number(value, name=attribute.name, low=low, high=high, inclusive=(not strict, True))

    return check


def _years(value: object) -> tuple[int, ...]:
    items = as_tuple(value)
    if not isinstance(items, tuple):
        raise ValidationError(f"'years' must be a list of whole years >= 1: {value!r}")
    return tuple(as_count(y, name="years", low=1, high=9998) for y in items)


_NAME: Any = attrs.field(validator=name_text(max_length=MAX_ID_LENGTH))
_CHANNELS: Any = attrs.field(default=(Channel.PHONE, Channel.EMAIL), converter=_channels)
_KIND: Any = attrs.field(default=None, converter=_opt_kind)
_QUEUE: Any = attrs.field(default=None, validator=opt_record_id)
_SEGMENTS: Any = attrs.field(default=(), converter=as_tuple, validator=name_items)
_HOUR: Any = attrs.field(default=9, validator=_count(0, 23))


@attrs.frozen
class Birthday:
    """The customer's birthday (:attr:`~crmcore.model.Customer.birthday`), every year,
    ``days_ahead`` days before it (a 29 February birthday falls on 28 February in other years).

    Common fields of every rule: ``channels`` (allowed channels, preferred first), ``kind``
    (the activity kind; None: from the channel), ``queue`` (the rep id of the team queue
    for customers without an owner; None: such customers are skipped), ``segments``
    (only customers of these segments; empty: all), ``hour`` (UTC hour of the due time).

    >>> Birthday(name="bday", days_ahead=400)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'days_ahead' must be <= 366: 400
    """

    name: str = _NAME
    days_ahead: int = attrs.field(default=7, validator=_count(0, 366))
    channels: tuple[Channel, ...] = _CHANNELS
    kind: ActivityKind | None = _KIND
    queue: str | None = _QUEUE
    segments: tuple[str, ...] = _SEGMENTS
    hour: int = _HOUR


@attrs.frozen
class Anniversary:
    """The anniversary of the relationship (:attr:`~crmcore.model.Customer.acquired_at`):
    year 1, 2, ... (``years``: only these; empty: every year), ``days_ahead`` days before.

    >>> Anniversary(name="a", years=[1, 5, 10]).years
    (1, 5, 10)
    """

    name: str = _NAME
    days_ahead: int = attrs.field(default=7, validator=_count(0, 366))
    years: tuple[int, ...] = attrs.field(default=(), converter=_years)
    channels: tuple[Channel, ...] = _CHANNELS
    kind: ActivityKind | None = _KIND
    queue: str | None = _QUEUE
    segments: tuple[str, ...] = _SEGMENTS
    hour: int = _HOUR


@attrs.frozen
class Renewal:
    """A contract or subscription renewal, ``days_ahead`` days before it.

    crmcore's model has no renewal date of its own: the rule reads the custom field
    ``field`` of each opportunity (``Opportunity.custom``, an ISO date ``"2026-03-31"``),
    the contract sold. The occasion is the deal and that date; the activity goes to the
    customer's owner, else the deal's owner. A value that is not an ISO date is skipped
    with its reason.

    >>> Renewal(name="renewal", days_ahead=60).field
    'renewal_date'
    >>> Renewal(name="r", field="renews on")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'field' must be a custom field name (letters, digits, '_'): 'renews on'
    """

    name: str = _NAME
    days_ahead: int = attrs.field(default=30, validator=_count(0, 3660))
    field: str = attrs.field(default="renewal_date")
    channels: tuple[Channel, ...] = _CHANNELS
    kind: ActivityKind | None = _KIND
    queue: str | None = _QUEUE
    segments: tuple[str, ...] = _SEGMENTS
    hour: int = _HOUR

    @field.validator
    def _check_field(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str) or not value.isidentifier() or len(value) > 64:
            raise ValidationError(
                f"'field' must be a custom field name (letters, digits, '_'): {value!r}"
            )


def _opt_stages(value: object) -> tuple[str, ...] | None:
    return None if value is None else as_tuple(value)


def _opt_name_items(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        name_items(inst, attribute, value)


@attrs.frozen
class WinFollowUp:
    """A follow-up ``after_days`` days after a deal was won: closed (its ``closed_at``) in a
    won stage. The activity is about the deal and goes to the deal's owner.

    ``won_stages`` None (the default, JSON null) takes each deal's own won stages: the
    stages of kind ``WON`` of the funnel stored under the deal's funnel name (any stored
    version), else of crmcore's preset of that name (``"WIN"`` on ``top-in-best``), else
    ``"won"`` (:func:`crmcore.relationship._won.won_deals`, the rule CRM health uses too);
    a non-empty list of stage names is used as given for every funnel.

    >>> WinFollowUp(name="thank-you", after_days=3).won_stages is None
    True
    >>> WinFollowUp(name="thank-you", won_stages=["WIN", "won"]).won_stages
    ('WIN', 'won')
    >>> WinFollowUp(name="f", won_stages=[]).won_stages
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'won_stages' must be None (each deal's funnel's won stages) or name at least one stage: ()
    """

    name: str = _NAME
    after_days: int = attrs.field(default=7, validator=_count(0, 3660))
    won_stages: tuple[str, ...] | None = attrs.field(
        default=None, converter=_opt_stages, validator=_opt_name_items
    )
    channels: tuple[Channel, ...] = _CHANNELS
    kind: ActivityKind | None = _KIND
    queue: str | None = _QUEUE
    segments: tuple[str, ...] = _SEGMENTS
    hour: int = _HOUR

    def __attrs_post_init__(self) -> None:
        if self.won_stages is not None and not self.won_stages:
            raise ValidationError(
                "'won_stages' must be None (each deal's funnel's won stages) or name at least "
                f"one stage: {self.won_stages}"
            )


def _opt_satisfaction(value: object) -> int | None:
    return None if value is None else as_count(value, name="below_satisfaction", low=2, high=5)


@attrs.frozen
class CaseFollowUp:
    """A follow-up ``after_days`` days after a service case was resolved
    (:class:`~crmcore.model.ServiceCase` ``resolved_at``), read through ``uow.service_cases``.

    ``below_satisfaction`` (an integer in [2, 5]; None: every resolved case) keeps only the
    cases whose CSAT after resolution is below it; ``unrated`` says whether a case without a
    recorded satisfaction is followed up then (default: yes, nobody said they were happy).
    The occasion is the case; the activity goes to the case's owner (else the customer's
    owner, else the ``queue``).

    >>> CaseFollowUp(name="after-case", after_days=2, below_satisfaction=4).unrated
    True
    >>> CaseFollowUp(name="c", below_satisfaction=6)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'below_satisfaction' must be <= 5: 6
    """

    name: str = _NAME
    after_days: int = attrs.field(default=3, validator=_count(0, 3660))
    below_satisfaction: int | None = attrs.field(default=None, converter=_opt_satisfaction)
    unrated: bool = attrs.field(default=True)
    channels: tuple[Channel, ...] = _CHANNELS
    kind: ActivityKind | None = _KIND
    queue: str | None = _QUEUE
    segments: tuple[str, ...] = _SEGMENTS
    hour: int = _HOUR

    @unrated.validator
    def _check_unrated(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, bool):
            raise ValidationError(f"'unrated' must be True or False: {value!r}")


@attrs.frozen
class DormantCustomer:
    """A customer quiet beyond their own usual gap: days since the last purchase (day)
    greater than ``factor`` times the ``quantile`` of the customer's own gaps between
    purchase days, once they have at least ``min_gaps`` gaps. The occasion is the last
    purchase day: one reminder per quiet spell.

    >>> DormantCustomer(name="quiet", factor=2.0).quantile
    0.9
    >>> DormantCustomer(name="d", quantile=1.5)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'quantile' must be in [0, 1]: 1.5
    """

    name: str = _NAME
    factor: float = attrs.field(default=1.5, validator=_number(1.0, 1000.0))
    quantile: float = attrs.field(default=0.9, validator=_number(0.0, 1.0))
    min_gaps: int = attrs.field(default=2, validator=_count(1, 10_000))
    channels: tuple[Channel, ...] = _CHANNELS
    kind: ActivityKind | None = _KIND
    queue: str | None = _QUEUE
    segments: tuple[str, ...] = _SEGMENTS
    hour: int = _HOUR


@attrs.frozen
class LowPAlive:
    """A valuable customer whose P(alive) (from the fitted purchase model given to
    :func:`~crmcore.relationship.plan_reminders`) is below ``below``. Valuable: a value of at
    least ``min_value`` (the ``values`` given to the planner, such as CLV; without them, the
    customer's purchase revenue). The occasion is the last purchase day.

    >>> LowPAlive(name="p", below=0).below
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'below' must be in (0, 1]: 0
    """

    name: str = _NAME
    below: float = attrs.field(default=0.3, validator=_number(0.0, 1.0, strict=True))
    min_value: float = attrs.field(default=0.0, validator=_number(0.0, 1e18))
    channels: tuple[Channel, ...] = _CHANNELS
    kind: ActivityKind | None = _KIND
    queue: str | None = _QUEUE
    segments: tuple[str, ...] = _SEGMENTS
    hour: int = _HOUR


ReminderRule = Union[  # noqa: UP007  # a runtime alias that cattrs dispatches on
    Birthday, Anniversary, Renewal, WinFollowUp, CaseFollowUp, DormantCustomer, LowPAlive
]
"""Any reminder rule (a tagged union; the JSON ``"type"`` field names the member)."""

TAGS: dict[type, str] = {
    Birthday: "birthday",
    Anniversary: "anniversary",
    Renewal: "renewal",
    WinFollowUp: "win_follow_up",
    CaseFollowUp: "case_follow_up",
    DormantCustomer: "dormant_customer",
    LowPAlive: "low_p_alive",
}
_RULE_CLASSES = tuple(TAGS)


def _rules_tuple(value: Any) -> tuple[Any, ...]:
    items = as_tuple(value)
    if not isinstance(items, tuple):
        raise ValidationError(f"'rules' must be a list of reminder rules: {value!r}")
    for i, r in enumerate(items):
        if not isinstance(r, _RULE_CLASSES):
            raise ValidationError(f"'rules' must hold reminder rules: {r!r} at index {i}")
    return items


@attrs.frozen
class ReminderRules:
    """A named, versioned list of reminder rules with unique non-empty names.

    ``version`` is the stored version (0 for a set never stored), set by
    :func:`load_reminder_rules`.

    >>> ReminderRules(name="r", rules=[Birthday(name="b"), Anniversary(name="b")])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: $.rules[1].name: rule names must be unique: 'b'
    """

    name: str = attrs.field(validator=name_text(max_length=MAX_ID_LENGTH))
    rules: tuple[ReminderRule, ...] = attrs.field(converter=_rules_tuple)
    version: int = attrs.field(default=0, validator=_count(0, 2**62))

    def __attrs_post_init__(self) -> None:
        _check_top_level([(r.name, False) for r in self.rules])


for _cls in (*_RULE_CLASSES, ReminderRules):
    attrs.resolve_types(_cls, globals(), locals())


def _configure(conv: cattrs.Converter) -> cattrs.Converter:
    """The tagged forms of the reminder rules on ``conv`` (the anomaly rules' family form)."""
    register_rule_family(
        conv,
        tags=TAGS,
        member=ReminderRule,
        container=ReminderRules,
        what="a reminder rule object",
    )
    return conv


@cache
def _converter() -> cattrs.Converter:
    return _configure(make_converter())


def reminder_rules_from_dict(data: Any) -> ReminderRules:
    """Read a rule set from its JSON-safe form; every problem is named by its path.

    >>> reminder_rules_from_dict({"name": "x", "rules": [{"type": "dormant_customer",
    ...     "name": "quiet", "factor": 0.5}]})
    Traceback (most recent call last):
    crmcore.errors.ValidationError: cannot read ReminderRules: $.rules[0].factor: must be in [1, 1000]: 0.5
    """
    return from_dict(ReminderRules, data, conv=_converter())


def reminder_rules_to_dict(rules: ReminderRules) -> dict[str, Any]:
    """The JSON-safe form of ``rules`` (each rule tagged with its ``"type"``).

    >>> reminder_rules_to_dict(ReminderRules(name="x", rules=[LowPAlive(name="p")]))["rules"][0]["below"]
    0.3
    """
    expect_instance(rules, ReminderRules, name="rules")
    out: dict[str, Any] = to_dict(rules, conv=_converter())
    return out


def save_reminder_rules(
    uow: Any, rules: ReminderRules, *, expected_version: int | None = None
) -> int:
    """Store a new version of ``rules`` (by name) in the unit of work's documents; returns it.

    ``expected_version`` is the version the change was based on (None for a new set); a
    stale one raises ConcurrencyError and stores nothing.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     save_reminder_rules(uow, ReminderRules(name="bakery", rules=[Birthday(name="b")]))
    1
    """
    uow = expect_unit_of_work(uow)
    expect_instance(rules, ReminderRules, name="rules")
    if expected_version is not None:
        as_count(expected_version, name="expected_version")
    doc = reminder_rules_to_dict(rules)
    doc.pop("version", None)
    version: int = uow.documents.put(
        REMINDER_RULES_KIND, rules.name, doc, expected_version=expected_version
    )
    return version


def load_reminder_rules(uow: Any, name: str, *, version: int | None = None) -> ReminderRules:
    """The stored rule set called ``name`` (latest, or ``version``), with its ``version`` set.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     _ = save_reminder_rules(uow, ReminderRules(name="bakery", rules=[Birthday(name="b")]))
    ...     load_reminder_rules(uow, "bakery").version
    1
    """
    uow = expect_unit_of_work(uow)
    if version is not None:
        as_count(version, name="version", low=1)
    check_document_key(REMINDER_RULES_KIND, name, names=("kind", "name"))
    doc, v = uow.documents.get(REMINDER_RULES_KIND, name, version=version)
    return reminder_rules_from_dict({**doc, "version": v})
