"""Interactions on every channel: one history per customer (the 360° view).

>>> from datetime import datetime, timezone
>>> i = Interaction(id="i-1", customer_id="c-1", channel="phone", direction="inbound",
...                 occurred_at=datetime(2023, 5, 4, 9, 30, tzinfo=timezone.utc),
...                 rep_id="rep-7", subject="Asked about mortgage rates")
>>> i.channel, i.direction
(<Channel.PHONE: 'phone'>, <Direction.INBOUND: 'inbound'>)
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

from crmcore.model._fields import count64, opt_record_id, opt_str, record_id, to_enum, utc

__all__ = ["Channel", "Direction", "Interaction"]


class Channel(StrEnum):
    """Where an interaction happened."""

    PHONE = "phone"
    EMAIL = "email"
    FAX = "fax"
    LETTER = "letter"
    VISIT = "visit"
    MEETING = "meeting"
    WEB = "web"
    CHAT = "chat"
    SMS = "sms"
    SOCIAL = "social"
    BRANCH = "branch"
    CALL_CENTER = "call_center"
    OTHER = "other"


class Direction(StrEnum):
    """Who started the interaction."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


def _to_channel(value: object) -> Channel:
    return to_enum(Channel, value, field="channel")


def _to_direction(value: object) -> Direction:
    return to_enum(Direction, value, field="direction")


@attrs.frozen
class Interaction:
    """One contact with a customer on one channel.

    >>> from datetime import datetime
    >>> Interaction(id="i", customer_id="c", channel="pigeon", direction="inbound",
    ...             occurred_at=datetime(2023, 1, 1))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'channel' must be one of 'phone', 'email', 'fax', 'letter', 'visit', 'meeting', 'web', 'chat', 'sms', 'social', 'branch', 'call_center', 'other': 'pigeon'
    """

    id: str = attrs.field(validator=record_id)
    customer_id: str = attrs.field(validator=record_id)
    channel: Channel = attrs.field(converter=_to_channel)
    direction: Direction = attrs.field(converter=_to_direction)
    occurred_at: datetime = attrs.field(validator=utc)
    rep_id: str | None = attrs.field(default=None, validator=opt_record_id)
    subject: str | None = attrs.field(default=None, validator=opt_str)
    outcome: str | None = attrs.field(default=None, validator=opt_str)
    duration_seconds: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(count64)
    )
    opportunity_id: str | None = attrs.field(default=None, validator=opt_record_id)
