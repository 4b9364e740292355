"""Service cases: the service history of a customer (complaints, questions, repairs).

A case is opened on a channel, has a category, a priority, an owner and an
SLA target (when it should be resolved by); once resolved it may carry the
customer's satisfaction with the resolution (CSAT, 1–5, as a survey's).

>>> from datetime import datetime, timezone
>>> t = datetime(2025, 3, 1, 9, tzinfo=timezone.utc)
>>> case = ServiceCase(id="sc-1", customer_id="c-1", channel="phone", opened_at=t,
...                    category="billing", owner_id="rep-2", priority="high",
...                    sla_due_at=datetime(2025, 3, 2, 9, tzinfo=timezone.utc))
>>> case.is_open, case.priority
(True, <CasePriority.HIGH: 'high'>)
>>> done = case.resolve(datetime(2025, 3, 1, 15, tzinfo=timezone.utc), satisfaction=5)
>>> done.is_open, done.resolution_time, done.sla_met
(False, datetime.timedelta(seconds=21600), True)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import attrs

from crmcore.errors import ValidationError
from crmcore.model._fields import int_range, key_str, opt_str, opt_utc, record_id, to_enum, utc
from crmcore.model.interaction import Channel

__all__ = ["CasePriority", "ServiceCase"]


class CasePriority(StrEnum):
    """How urgent a service case is.

    >>> CasePriority("urgent") is CasePriority.URGENT, [p.value for p in CasePriority]
    (True, ['low', 'normal', 'high', 'urgent'])
    """

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


def _to_channel(value: object) -> Channel:
    return to_enum(Channel, value, field="channel")


def _to_priority(value: object) -> CasePriority:
    return to_enum(CasePriority, value, field="priority")


def _not_before_opened(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None`` or a UTC datetime not before the case's ``opened_at``."""
    opt_utc(inst, attribute, value)
    if isinstance(value, datetime) and value < inst.opened_at:  # an aware UTC time (opt_utc)
        raise ValidationError(
            f"{attribute.name!r} must not be before 'opened_at' "
            f"({inst.opened_at.isoformat()}): {value.isoformat()}"
        )


_csat = int_range(1, 5)


def _satisfaction(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None``, or a CSAT in [1, 5] of a resolved case."""
    _csat(inst, attribute, value)
    if value is not None and inst.resolved_at is None:
        raise ValidationError(
            f"{attribute.name!r} is given after resolution only ('resolved_at' is None): {value!r}"
        )


@attrs.frozen
class ServiceCase:
    """One service case of a customer, open (``resolved_at`` None) or resolved.

    ``satisfaction`` is the customer's CSAT (an integer in [1, 5], as
    :class:`~crmcore.model.SurveyResponse` ``csat``) after resolution;
    ``sla_due_at`` is the SLA target: when the case should be resolved by.
    ``subject`` and ``resolution`` are free texts (personal data: erased with
    the customer).

    >>> from datetime import datetime, timezone
    >>> t = datetime(2025, 1, 1, tzinfo=timezone.utc)
    >>> ServiceCase(id="s", customer_id="c", channel="email", opened_at=t, category="x",
    ...             owner_id="r", satisfaction=4)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'satisfaction' is given after resolution only ('resolved_at' is None): 4
    >>> ServiceCase(id="s", customer_id="c", channel="email", opened_at=t, category="x",
    ...             owner_id="r", resolved_at=t, satisfaction=6)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'satisfaction' must be an integer in [1, 5]: 6
    """

    id: str = attrs.field(validator=record_id)
    customer_id: str = attrs.field(validator=record_id)
    channel: Channel = attrs.field(converter=_to_channel)
    opened_at: datetime = attrs.field(validator=utc)
    category: str = attrs.field(validator=key_str)
    owner_id: str = attrs.field(validator=record_id)
    priority: CasePriority = attrs.field(default=CasePriority.NORMAL, converter=_to_priority)
    resolved_at: datetime | None = attrs.field(default=None, validator=_not_before_opened)
    satisfaction: int | None = attrs.field(default=None, validator=_satisfaction)
    sla_due_at: datetime | None = attrs.field(default=None, validator=_not_before_opened)
    subject: str | None = attrs.field(default=None, validator=opt_str)
    resolution: str | None = attrs.field(default=None, validator=opt_str)

    @property
    def is_open(self) -> bool:
        """True until the case is resolved."""
        return self.resolved_at is None

    @property
    def resolution_time(self) -> timedelta | None:
        """How long the case took to resolve (None while open)."""
        return None if self.resolved_at is None else self.resolved_at - self.opened_at

    @property
    def sla_met(self) -> bool | None:
        """Whether the case was resolved by its SLA target (None: open, or no target)."""
        if self.resolved_at is None or self.sla_due_at is None:
            return None
        return self.resolved_at <= self.sla_due_at

    def resolve(
        self, at: datetime, *, satisfaction: int | None = None, resolution: str | None = None
    ) -> ServiceCase:
        """The same case, resolved at ``at`` (with the customer's satisfaction, if known)."""
        return attrs.evolve(
            self,
            resolved_at=at,
            satisfaction=satisfaction,
            resolution=self.resolution if resolution is None else resolution,
        )
