"""Sales activities (calls, meetings, visits, emails, tasks), planned and done.

>>> from datetime import datetime, timezone
>>> a = Activity(id="a-1", kind="call", rep_id="rep-1", customer_id="c-1",
...              due_at=datetime(2025, 2, 3, 9, tzinfo=timezone.utc))
>>> a.status
<ActivityStatus.PLANNED: 'planned'>
>>> a.mark_done(datetime(2025, 2, 3, 9, 20, tzinfo=timezone.utc)).status
<ActivityStatus.DONE: 'done'>
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

from crmcore.errors import ValidationError
from crmcore.model._fields import opt_record_id, opt_str, opt_utc, record_id, to_enum

__all__ = ["Activity", "ActivityKind", "ActivityStatus"]


class ActivityKind(StrEnum):
    """What a rep does."""

    CALL = "call"
    MEETING = "meeting"
    VISIT = "visit"
    EMAIL = "email"
    TASK = "task"
    DEMO = "demo"
    QUOTE = "quote"


class ActivityStatus(StrEnum):
    """Where an activity is in its life."""

    PLANNED = "planned"
    DONE = "done"
    CANCELLED = "cancelled"


def _to_activity_kind(value: object) -> ActivityKind:
    return to_enum(ActivityKind, value, field="kind")


def _to_activity_status(value: object) -> ActivityStatus:
    return to_enum(ActivityStatus, value, field="status")


@attrs.frozen
class Activity:
    """One activity of a rep, optionally about a customer and an opportunity.

    A done activity has ``done_at``; a planned one does not.

    >>> from datetime import datetime, timezone
    >>> Activity(id="a", kind="call", rep_id="r", status="done")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'done_at' is required when status is 'done': None
    """

    id: str = attrs.field(validator=record_id)
    kind: ActivityKind = attrs.field(converter=_to_activity_kind)
    rep_id: str = attrs.field(validator=record_id)
    customer_id: str | None = attrs.field(default=None, validator=opt_record_id)
    opportunity_id: str | None = attrs.field(default=None, validator=opt_record_id)
    subject: str | None = attrs.field(default=None, validator=opt_str)
    status: ActivityStatus = attrs.field(
        default=ActivityStatus.PLANNED, converter=_to_activity_status
    )
    due_at: datetime | None = attrs.field(default=None, validator=opt_utc)
    done_at: datetime | None = attrs.field(default=None, validator=opt_utc)
    outcome: str | None = attrs.field(default=None, validator=opt_str)

    def __attrs_post_init__(self) -> None:
        if self.status is ActivityStatus.DONE and self.done_at is None:
            raise ValidationError("'done_at' is required when status is 'done': None")
        if self.status is not ActivityStatus.DONE and self.done_at is not None:
            raise ValidationError(
                f"'done_at' is only for done activities (status {self.status.value!r}): "
                f"{self.done_at.isoformat()}"
            )

    def mark_done(self, at: datetime, outcome: str | None = None) -> Activity:
        """The same activity, done at ``at``."""
        return attrs.evolve(self, status=ActivityStatus.DONE, done_at=at, outcome=outcome)
