"""What the engines know about each customer: owner, segment and tier.

Customers missing from the mapping are handled by the engine's
``unknown_customers`` policy: ``"queue"`` (the default) evaluates their
transactions with no segment and no tier (rules scoped to a segment or tier
do not apply to them) and routes their alerts to the team queue;
``"error"`` rejects them (:class:`UnknownCustomerError`).

>>> ctx = CustomerContext(owner_id="rep-7", segment="retail", tier="gold")
>>> ctx.route("team:branch-12")
'rep-7'
>>> CustomerContext().route("team:branch-12")
'team:branch-12'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, TypeAlias

import attrs

from crmcore.errors import NotFoundError, ValidationError
from crmcore.model import Customer
from crmcore.model._fields import opt_record_id, opt_str
from crmcore.model._storable import check_text
from crmcore.options import as_choice, expect_items

__all__ = [
    "DEFAULT_QUEUE",
    "CustomerContext",
    "UnknownCustomerError",
    "UnknownPolicy",
    "contexts_from_customers",
]

UnknownPolicy: TypeAlias = Literal["queue", "error"]
DEFAULT_QUEUE = "team:unassigned"
"""Where alerts go when a customer has no owner (or is unknown to the engine)."""


@attrs.frozen
class CustomerContext:
    """The customer attributes rules and routing use.

    >>> CustomerContext(owner_id=" rep")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'owner_id' must be a non-empty string id of at most 128 characters without surrounding blanks: ' rep'
    """

    owner_id: str | None = attrs.field(default=None, validator=opt_record_id)
    segment: str | None = attrs.field(default=None, validator=opt_str)
    tier: str | None = attrs.field(default=None, validator=opt_str)

    def route(self, queue: str) -> str:
        """The owner, or ``queue`` when there is none."""
        return self.owner_id if self.owner_id is not None else queue


class UnknownCustomerError(NotFoundError, ValidationError):
    """An event for a customer the engine has no context for (with ``unknown_customers="error"``).

    >>> issubclass(UnknownCustomerError, ValueError)
    True
    """


def contexts_from_customers(
    customers: Iterable[Customer], *, tiers: Mapping[str, str] | None = None
) -> dict[str, CustomerContext]:
    """``customer id → CustomerContext`` from stored customers (owner, segment) and optional tiers.

    >>> contexts_from_customers([Customer(id="c-1", name="Ada", owner_id="rep-1", segment="retail")],
    ...                         tiers={"c-1": "gold"})
    {'c-1': CustomerContext(owner_id='rep-1', segment='retail', tier='gold')}
    """
    if tiers is not None and not isinstance(tiers, Mapping):
        raise ValidationError(f"'tiers' must be a mapping of customer id to tier: {tiers!r}")
    t = tiers or {}
    return {
        c.id: CustomerContext(owner_id=c.owner_id, segment=c.segment, tier=t.get(c.id))
        for c in expect_items(customers, Customer, name="customers")
    }


def check_queue(queue: object) -> str:
    """Validate a ``team_queue`` (a non-empty storable string: alerts are routed to it).

    >>> check_queue("team\\x00")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'team_queue' must not contain a NUL character to be stored: 'team\\x00'
    """
    if not isinstance(queue, str) or not queue.strip():
        raise ValidationError(f"'team_queue' must be a non-empty string: {queue!r}")
    return check_text(queue, "team_queue")


def check_policy(policy: str) -> UnknownPolicy:
    """Validate an ``unknown_customers`` policy.

    >>> check_policy("drop")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'unknown_customers' must be one of 'queue', 'error': 'drop'
    """
    return as_choice(policy, name="unknown_customers", allowed=("queue", "error"))  # type: ignore[return-value]  # narrowed by the check
