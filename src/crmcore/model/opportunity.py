"""Opportunities (the aggregate a funnel moves through its stages) and their events.

Two kinds of events record every change of an opportunity, numbered together
(``sequence`` 0, 1, 2, ... per opportunity): a :class:`StageChange` for the
creation and each move between stages, a :class:`FieldChange` for each edit
of a field (amount, owner, expected close date, probability, forecast
category, product, custom fields). The rules of movement live in
:mod:`crmcore.pipeline`; this module holds the records only.

:class:`Opportunity` and :class:`StageChange` keep their fields in an
instance dictionary (``slots=False``; still frozen): a move copies the
opportunity with one dictionary update and validates only what changes
(:mod:`crmcore.model._records`), where copying 18 slots costs a call per
field. Their instance dictionaries share their keys, so they take the memory
of slotted records within a few bytes.

>>> from datetime import datetime, timezone
>>> from crmcore.model.money import Money
>>> o = Opportunity(id="o-1", customer_id="c-1", owner_id="rep-1", funnel="b2b", stage="lead",
...                 created_at=datetime(2025, 1, 6, tzinfo=timezone.utc), amount=Money("12000", "EUR"))
>>> o.version, o.is_closed, dict(o.custom)
(0, False, {})
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from crmcore.errors import ValidationError
from crmcore.model._fields import (
    int_range,
    key_str,
    money_field,
    non_empty_str,
    opt_date,
    opt_key,
    opt_record_id,
    opt_str,
    opt_utc,
    probability,
    record_id,
    utc,
    version,
)
from crmcore.model._storable import COUNT_MAX, INT64_MAX, INT64_MIN, id_problem, text_problem
from crmcore.model.money import Money

__all__ = [
    "CUSTOM_PREFIX",
    "EDITABLE_FIELDS",
    "FORECAST_CATEGORIES",
    "FieldChange",
    "Opportunity",
    "StageChange",
]
# The helpers below (custom_fields, field_name_problem, field_value_problem,
# encode_field_value, decode_field_value, same_value) serve the repositories and
# crmcore.pipeline: one rule each, internal (not exported).

CUSTOM_PREFIX = "custom."
"""A :class:`FieldChange` of custom field ``x`` names the field ``"custom.x"``."""
CUSTOM_NAME_LENGTH = 64
"""Longest name of a custom field."""
EDITABLE_FIELDS: tuple[str, ...] = (
    "amount",
    "owner_id",
    "expected_close",
    "probability",
    "forecast_category",
    "product",
)
"""The opportunity fields a :class:`FieldChange` may change (besides ``custom.<name>``).

Every other field is either fixed at creation (id, customer, funnel, creation
time, parent, kind) or follows the stage (stage, stage entry and closing
times, lost reason), which only a :class:`StageChange` changes.
"""
FORECAST_CATEGORIES: tuple[str, ...] = ("pipeline", "best_case", "commit", "closed", "omitted")
"""The values of a forecast category (``crmcore.pipeline.ForecastCategory``, as stored)."""

_opt_money = money_field(optional=True)


def _custom_value_problem(value: object) -> str | None:
    if type(value) is bool:
        return None
    if type(value) is int:
        return None if INT64_MIN <= value <= INT64_MAX else "must fit 64 bits to be stored"
    if type(value) is float:
        return None if math.isfinite(value) else "must be a finite number"
    if type(value) is str:
        return text_problem(value)
    return "must be a string, an integer, a finite float or a boolean"


def _custom_name_problem(name: object) -> str | None:
    if (
        not isinstance(name, str)
        or not name
        or name != name.strip()
        or len(name) > CUSTOM_NAME_LENGTH
    ):
        return (
            f"must be a non-empty name of at most {CUSTOM_NAME_LENGTH} characters without "
            "surrounding blanks"
        )
    return text_problem(name)


NO_CUSTOM: Mapping[str, Any] = MappingProxyType({})
"""The ``custom`` of a record without custom fields (one read-only empty mapping, shared)."""


def custom_fields(value: object) -> Mapping[str, Any]:
    """Converter of ``custom``: a mapping of names to strings, integers, finite floats or
    booleans, returned read-only (sorted by name); anything else names the field.

    >>> dict(custom_fields({"tier": "gold", "seats": 40}))
    {'seats': 40, 'tier': 'gold'}
    >>> custom_fields({"seats": [40]})
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'custom.seats' must be a string, an integer, a finite float or a boolean: [40]
    """
    if value is None or (type(value) is dict and not value):
        return NO_CUSTOM
    if not isinstance(value, Mapping):
        raise ValidationError(f"'custom' must be a mapping of field names to values: {value!r}")
    for name, item in value.items():
        problem = _custom_name_problem(name)
        if problem is not None:
            raise ValidationError(f"'custom' field names {problem}: {name!r}")
        problem = _custom_value_problem(item)
        if problem is not None:
            raise ValidationError(f"'{CUSTOM_PREFIX}{name}' {problem}: {item!r}")
    return MappingProxyType(dict(sorted(value.items())))


def _forecast_category(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and value not in FORECAST_CATEGORIES:
        raise ValidationError(
            f"{attribute.name!r} must be None or one of {list(FORECAST_CATEGORIES)}: {value!r}"
        )


@attrs.frozen(slots=False)  # see the module docstring: records a move copies
class Opportunity:
    """A potential sale to a customer, in one stage of one funnel.

    ``closed_at`` is set when the opportunity reaches a won or lost stage;
    ``parent_id`` links a follow-up opportunity (repurchase, cross-sell,
    up-sell) to the won deal that opened it. ``probability`` is the current
    chance of winning: the stage's, or the one a rep set; ``forecast_category``
    is a rep's override of the stage's category (None: the stage's).
    ``custom`` holds the application's own fields (read-only). ``version`` is
    the sequence number of the opportunity's last stored event.
    """

    id: str = attrs.field(validator=record_id)
    customer_id: str = attrs.field(validator=record_id)
    owner_id: str = attrs.field(validator=record_id)
    funnel: str = attrs.field(validator=key_str)
    stage: str = attrs.field(validator=key_str)
    created_at: datetime = attrs.field(validator=utc)
    amount: Money | None = attrs.field(default=None, validator=_opt_money)
    expected_close: date | None = attrs.field(default=None, validator=opt_date)
    probability: float | None = attrs.field(default=None, validator=probability)
    product: str | None = attrs.field(default=None, validator=opt_str)
    lost_reason: str | None = attrs.field(default=None, validator=opt_str)
    stage_entered_at: datetime | None = attrs.field(default=None, validator=opt_utc)
    closed_at: datetime | None = attrs.field(default=None, validator=opt_utc)
    parent_id: str | None = attrs.field(default=None, validator=opt_record_id)
    kind: str = attrs.field(default="new", validator=non_empty_str)
    version: int = attrs.field(default=0, validator=version)
    forecast_category: str | None = attrs.field(default=None, validator=_forecast_category)
    custom: Mapping[str, Any] = attrs.field(factory=dict, converter=custom_fields, hash=False)

    def __attrs_post_init__(self) -> None:
        """The rule across fields: a stage is entered, and a deal closed, not before it was
        created (each time is a UTC datetime: checked by its field's validator)."""
        created = self.created_at
        entered, closed = self.stage_entered_at, self.closed_at
        if (entered is not None and entered < created) or (closed is not None and closed < created):
            name, value = (
                ("stage_entered_at", entered)
                if entered is not None and entered < created
                else ("closed_at", closed)
            )
            assert value is not None
            raise ValidationError(
                f"{name!r} must not be before 'created_at' ({created.isoformat()}): "
                f"{value.isoformat()}"
            )

    @property
    def is_closed(self) -> bool:
        """True once the opportunity is won or lost."""
        return self.closed_at is not None

    def value_of(self, field: str) -> Any:
        """The value of an editable field (see :data:`EDITABLE_FIELDS`) or of ``custom.<name>``
        (None when the custom field is not set).

        >>> from datetime import datetime, timezone
        >>> o = Opportunity(id="o", customer_id="c", owner_id="r", funnel="f", stage="s",
        ...                 created_at=datetime(2025, 1, 1, tzinfo=timezone.utc), custom={"seats": 3})
        >>> o.value_of("custom.seats"), o.value_of("owner_id")
        (3, 'r')
        """
        if field.startswith(CUSTOM_PREFIX):
            return self.custom.get(field[len(CUSTOM_PREFIX) :])
        if field not in EDITABLE_FIELDS:
            raise ValidationError(
                f"'field' must be one of {list(EDITABLE_FIELDS)} or 'custom.<name>': {field!r}"
            )
        return getattr(self, field)


@attrs.frozen(slots=False)  # see the module docstring: records a move builds
class StageChange:
    """The record of one move: who moved which opportunity, when, from where, to where, and why.

    ``from_stage`` is None for the creation event. ``sequence`` numbers the
    events of one opportunity from 0 (stage and field changes together);
    replaying them reproduces its state. ``at`` is when the move happened
    (its effective time), ``recorded_at`` when it was stored (set by the
    repository's clock). ``amount``, ``probability``, ``customer_id``,
    ``owner_id``, ``funnel``, ``product`` and ``forecast_category`` are the
    deal's values right after the move; the creation event also carries
    ``expected_close``, ``parent_id``, ``deal_kind`` and ``custom`` (what
    rebuilding the deal from its events needs). ``request_id`` is the
    client's id of the request that made the move (a retry with the same id
    returns the stored result). ``funnel_version`` is the version of the
    funnel the move was made under (:class:`~crmcore.pipeline.Funnel`'s
    ``version``; None for events stored before schema 4, read from their time
    by :class:`~crmcore.pipeline.FunnelVersions`).

    >>> from datetime import datetime, timezone
    >>> StageChange(opportunity_id="o-1", sequence=0, from_stage=None, to_stage="lead",
    ...             at=datetime(2025, 1, 6, tzinfo=timezone.utc), by="rep-1").to_stage
    'lead'
    """

    opportunity_id: str = attrs.field(validator=record_id)
    sequence: int = attrs.field(validator=version)
    from_stage: str | None = attrs.field(validator=opt_key)
    to_stage: str = attrs.field(validator=key_str)
    at: datetime = attrs.field(validator=utc)
    by: str = attrs.field(validator=record_id)
    reason: str | None = attrs.field(default=None, validator=opt_str)
    amount: Money | None = attrs.field(default=None, validator=_opt_money)
    probability: float | None = attrs.field(default=None, validator=probability)
    customer_id: str | None = attrs.field(default=None, validator=opt_record_id)
    owner_id: str | None = attrs.field(default=None, validator=opt_record_id)
    funnel: str | None = attrs.field(default=None, validator=opt_key)
    product: str | None = attrs.field(default=None, validator=opt_str)
    recorded_at: datetime | None = attrs.field(default=None, validator=opt_utc)
    request_id: str | None = attrs.field(default=None, validator=opt_record_id)
    forecast_category: str | None = attrs.field(default=None, validator=_forecast_category)
    expected_close: date | None = attrs.field(default=None, validator=opt_date)
    parent_id: str | None = attrs.field(default=None, validator=opt_record_id)
    deal_kind: str | None = attrs.field(default=None, validator=opt_str)
    custom: Mapping[str, Any] = attrs.field(factory=dict, converter=custom_fields, hash=False)
    funnel_version: int | None = attrs.field(default=None, validator=int_range(1, COUNT_MAX))


def field_name_problem(field: object) -> str | None:
    """Why ``field`` is not the name of an editable field (a phrase following ``'field'``), or None.

    >>> field_name_problem("amount"), field_name_problem("stage")
    (None, "must be one of ['amount', 'owner_id', 'expected_close', 'probability', 'forecast_category', 'product'] or 'custom.<name>'")
    """
    if isinstance(field, str):
        if field in EDITABLE_FIELDS:
            return None
        if field.startswith(CUSTOM_PREFIX):
            problem = _custom_name_problem(field[len(CUSTOM_PREFIX) :])
            return None if problem is None else f"names a custom field that {problem}"
    return f"must be one of {list(EDITABLE_FIELDS)} or 'custom.<name>'"


def field_value_problem(field: str, value: object) -> str | None:
    """Why ``value`` cannot be the value of the editable opportunity field ``field`` (a phrase
    that follows the field's name), or None (``field`` passed :func:`field_name_problem`).

    >>> field_value_problem("owner_id", None)
    'must be a non-empty string id of at most 128 characters without surrounding blanks'
    >>> field_value_problem("custom.seats", 12) is None
    True
    """
    if field.startswith(CUSTOM_PREFIX):
        return None if value is None else _custom_value_problem(value)
    if field == "owner_id":
        return id_problem(value)
    attribute = attrs.fields_dict(Opportunity)[field]
    assert attribute.validator is not None
    try:
        attribute.validator(None, attribute, value)
    except ValidationError as e:
        text = str(e)  # "'field' <problem>: <value>" -> "<problem>"
        prefix, suffix = f"{field!r} ", f": {value!r}"
        text = text[len(prefix) :] if text.startswith(prefix) else text
        return text[: -len(suffix)] if text.endswith(suffix) else text
    return None


def _check_field(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    problem = field_name_problem(value)
    if problem is not None:
        raise ValidationError(f"'field' {problem}: {value!r}")


@attrs.frozen
class FieldChange:
    """The record of one edit of one field: who changed it, when, why, from what, to what.

    ``field`` is one of :data:`EDITABLE_FIELDS` or ``custom.<name>`` (None
    as ``old``/``new`` of a custom field: not set). Field changes share the
    opportunity's ``sequence`` numbering with its stage changes; ``at`` is
    the effective time of the change, ``recorded_at`` when it was stored,
    ``request_id`` the client's id of the edit request.

    >>> from datetime import datetime, timezone
    >>> from crmcore.model.money import Money
    >>> c = FieldChange(opportunity_id="o-1", sequence=3, field="amount", old=Money("10", "EUR"),
    ...                 new=Money("20", "EUR"), at=datetime(2025, 1, 6, tzinfo=timezone.utc), by="ann")
    >>> c.new
    Money(amount=Decimal('20'), currency='EUR')
    >>> FieldChange(opportunity_id="o-1", sequence=3, field="owner_id", old="ann", new=None,
    ...             at=datetime(2025, 1, 6, tzinfo=timezone.utc), by="ann")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'new' of 'owner_id' must be a non-empty string id of at most 128 characters without surrounding blanks: None
    """

    opportunity_id: str = attrs.field(validator=record_id)
    sequence: int = attrs.field(validator=version)
    field: str = attrs.field(validator=_check_field)
    old: Any = attrs.field()
    new: Any = attrs.field()
    at: datetime = attrs.field(validator=utc)
    by: str = attrs.field(validator=record_id)
    reason: str | None = attrs.field(default=None, validator=opt_str)
    recorded_at: datetime | None = attrs.field(default=None, validator=opt_utc)
    request_id: str | None = attrs.field(default=None, validator=opt_record_id)

    @old.validator
    @new.validator
    def _check_value(self, attribute: attrs.Attribute[Any], value: object) -> None:
        problem = field_value_problem(self.field, value)  # 'field' is checked first
        if problem is not None:
            raise ValidationError(f"{attribute.name!r} of {self.field!r} {problem}: {value!r}")


def same_value(a: object, b: object) -> bool:
    """Equal field values, a boolean never equal to a number (``True == 1`` in Python).

    >>> same_value(1, True), same_value(0.5, 0.5)
    (False, True)
    """
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def encode_field_value(field: str, value: Any) -> Any:
    """The JSON-safe form of a field's value (Money as ``{"amount": "…", "currency": "…"}``,
    a date as ISO text; other values as they are).

    >>> encode_field_value("amount", Money("1.50", "EUR"))
    {'amount': '1.50', 'currency': 'EUR'}
    """
    if isinstance(value, Money):
        return {"amount": str(value.amount), "currency": value.currency}
    if isinstance(value, date):
        return value.isoformat()
    return value


def decode_field_value(field: str, plain: Any, *, check: bool = True) -> Any:
    """The value of ``field`` from its JSON-safe form (:func:`encode_field_value`), validated
    (``check=False``: not validated again, for values a repository stored after checking them).

    >>> decode_field_value("expected_close", "2025-03-31")
    datetime.date(2025, 3, 31)
    >>> decode_field_value("probability", "high")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'probability' must be in [0, 1]: 'high'
    """
    value = plain
    if plain is not None:
        if field == "amount" and isinstance(plain, Mapping):
            try:
                value = Money(Decimal(str(plain["amount"])), str(plain["currency"]))
            except (KeyError, ArithmeticError, TypeError) as e:
                raise ValidationError(f"'amount' must be Money or None: {plain!r}") from e
        elif field == "expected_close" and isinstance(plain, str):
            try:
                value = date.fromisoformat(plain)
            except ValueError as e:
                raise ValidationError(f"'expected_close' must be a date or None: {plain!r}") from e
        elif field == "probability" and type(plain) is int:
            value = float(plain)
    if not check:
        return value
    problem = field_name_problem(field)
    if problem is None:
        problem = field_value_problem(field, value)
    if problem is not None:
        raise ValidationError(f"{field!r} {problem}: {plain!r}")
    return value
