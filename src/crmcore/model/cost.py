"""Cost-to-serve entries: what serving a customer cost, by category.

>>> from datetime import datetime, timezone
>>> from crmcore.model.money import Money
>>> CostEntry(id="k-1", customer_id="c-1", incurred_at=datetime(2025, 1, 9, tzinfo=timezone.utc),
...           amount=Money("4.20", "EUR"), category="call_center").category
'call_center'
"""

from __future__ import annotations

from datetime import datetime

import attrs

from crmcore.model._fields import key_str, money_field, opt_str, record_id, utc
from crmcore.model.money import Money

__all__ = ["COST_CATEGORIES", "CostEntry"]

COST_CATEGORIES = (
    "cost_of_goods",
    "service",
    "call_center",
    "visit",
    "service_case",
    "discount",
    "return",
    "bad_debt",
    "litigation",
    "marketing",
    "acquisition",
    "other",
)
"""Common categories; any non-empty category is accepted."""


@attrs.frozen
class CostEntry:
    """A cost incurred to serve one customer (activity-based costing input)."""

    id: str = attrs.field(validator=record_id)
    customer_id: str = attrs.field(validator=record_id)
    incurred_at: datetime = attrs.field(validator=utc)
    amount: Money = attrs.field(validator=money_field(what="a cost"))
    category: str = attrs.field(validator=key_str)
    channel: str | None = attrs.field(default=None, validator=opt_str)
    note: str | None = attrs.field(default=None, validator=opt_str)
