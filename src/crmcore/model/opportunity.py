"""Opportunities (the aggregate a funnel moves through its stages) and their stage-change events.

The rules of movement live in :mod:`crmcore.pipeline`; this module holds
the records only.

>>> from datetime import datetime, timezone
>>> from crmcore.model.money import Money
>>> o = Opportunity(id="o-1", customer_id="c-1", owner_id="rep-1", funnel="b2b", stage="lead",
...                 created_at=datetime(2025, 1, 6, tzinfo=timezone.utc), amount=Money("12000", "EUR"))
>>> o.version, o.is_closed
(0, False)
"""

from __future__ import annotations

from datetime import date, datetime

import attrs

from crmcore.errors import ValidationError
from crmcore.model._fields import (
    key_str,
    money_field,
    non_empty_str,
    opt_date,
    opt_key,
    opt_record_id,
    opt_str,
    probability,
    record_id,
    utc,
    version,
)
from crmcore.model.money import Money

__all__ = ["Opportunity", "StageChange"]


_opt_money = money_field(optional=True)


@attrs.frozen
class Opportunity:
    """A potential sale to a customer, in one stage of one funnel.

    ``closed_at`` is set when the opportunity reaches a won or lost stage;
    ``parent_id`` links a follow-up opportunity (repurchase, cross-sell,
    up-sell) to the won deal that opened it.
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
    stage_entered_at: datetime | None = attrs.field(default=None)
    closed_at: datetime | None = attrs.field(default=None)
    parent_id: str | None = attrs.field(default=None, validator=opt_record_id)
    kind: str = attrs.field(default="new", validator=non_empty_str)
    version: int = attrs.field(default=0, validator=version)

    def __attrs_post_init__(self) -> None:
        for name in ("stage_entered_at", "closed_at"):
            value = getattr(self, name)
            if value is not None:
                utc(self, attrs.fields_dict(Opportunity)[name], value)
                if value < self.created_at:
                    raise ValidationError(
                        f"{name!r} must not be before 'created_at' ({self.created_at.isoformat()}): "
                        f"{value.isoformat()}"
                    )

    @property
    def is_closed(self) -> bool:
        """True once the opportunity is won or lost."""
        return self.closed_at is not None


@attrs.frozen
class StageChange:
    """The record of one move: who moved which opportunity, when, from where, to where, and why.

    ``from_stage`` is None for the creation event. ``sequence`` numbers the
    events of one opportunity from 0; replaying them reproduces its state.

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
