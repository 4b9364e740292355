"""Privacy requests: export everything held about a customer, or erase their personal data.

Both run inside the caller's unit of work (``with uow: ...``) and work on
every backend through the repository protocols; :func:`erase_customer`
changes nothing durable until the caller commits.

Erasure anonymises rather than deletes: identifiers, amounts, timestamps,
kinds, channels and categories stay so that analytics (CLV, RFM, funnel
metrics) keep working on the anonymised rows; the name, contact points,
birthday, address, tags, relationships, consent and free text (interaction
subject/outcome, activity subject/outcome, survey comments, cost notes) are
removed, and the profile is marked ``erased=True``.

>>> from datetime import datetime, timezone
>>> from crmcore.model import Customer, ContactPoint, Interaction
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.customers.add(Customer(id="c-1", name="Li Wei",
...                                    contact_points=[ContactPoint("email", "li@example.com")]))
...     _ = uow.interactions.add(Interaction(id="i-1", customer_id="c-1", channel="phone",
...         direction="inbound", occurred_at=datetime(2023, 5, 4, tzinfo=timezone.utc),
...         subject="Wants a mortgage for her daughter"))
...     uow.commit()
>>> with uow:
...     export_customer(uow, "c-1")["customer"]["name"]
'Li Wei'
>>> with uow:
...     erase_customer(uow, "c-1")
...     uow.commit()
{'customers': 1, 'interactions': 1, 'activities': 0, 'surveys': 0, 'costs': 0}
>>> with uow:
...     c = uow.customers.get("c-1")
...     c.name, c.contact_points, c.erased, uow.interactions.get("i-1").subject
('erased', (), True, None)
"""

from __future__ import annotations

from typing import Any

import attrs

from crmcore.model import Consent, FieldChange, StageChange
from crmcore.repositories._args import check_id
from crmcore.repositories.protocols import UnitOfWork, expect_unit_of_work
from crmcore.serialization import to_dict

__all__ = ["ERASED_NAME", "EXPORT_FORMAT", "erase_customer", "export_customer"]

ERASED_NAME = "erased"
"""The name an erased customer keeps (the model requires a non-empty name)."""

EXPORT_FORMAT = "crmcore.customer-export/1"
"""The ``format`` field of an export, versioned so a reader can tell layouts apart."""


def export_customer(uow: UnitOfWork, customer_id: str) -> dict[str, Any]:
    """Everything held about one customer as a JSON-safe dict (``json.dumps`` works on it).

    Keys: ``format``, ``customer`` (the profile), ``interactions``,
    ``transactions``, ``opportunities`` (each with its stage ``history`` and the
    ``edits`` of its fields: who changed what, when, why),
    ``activities``, ``surveys``, ``costs``. A missing customer raises
    NotFoundError. Call it inside ``with uow:``.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     export_customer(uow, "nobody")
    Traceback (most recent call last):
    crmcore.errors.NotFoundError: customer 'nobody' not found
    """
    uow = expect_unit_of_work(uow)
    customer = uow.customers.get(check_id(customer_id, "customer_id"))
    opportunities = []
    for o in uow.opportunities.list(customer_id=customer_id):
        events = uow.opportunities.events(o.id)
        opportunities.append(
            {
                "opportunity": to_dict(o),
                "history": [to_dict(e) for e in events if isinstance(e, StageChange)],
                "edits": [to_dict(e) for e in events if isinstance(e, FieldChange)],
            }
        )
    return {
        "format": EXPORT_FORMAT,
        "customer": to_dict(customer),
        "interactions": [to_dict(i) for i in uow.interactions.list(customer_id=customer_id)],
        "transactions": [to_dict(t) for t in uow.transactions.list(customer_id=customer_id)],
        "opportunities": opportunities,
        "activities": [to_dict(a) for a in uow.activities.list(customer_id=customer_id)],
        "surveys": [to_dict(s) for s in uow.surveys.list(customer_id=customer_id)],
        "costs": [to_dict(k) for k in uow.costs.list(customer_id=customer_id)],
    }


def erase_customer(uow: UnitOfWork, customer_id: str) -> dict[str, int]:
    """Remove or anonymise the customer's personal data in every repository; returns counts.

    The counts say how many records of each repository were rewritten.
    Nothing is durable until the caller commits; erasing twice is harmless.
    A missing customer raises NotFoundError.
    """
    uow = expect_unit_of_work(uow)
    customer = uow.customers.get(check_id(customer_id, "customer_id"))
    anonymous = attrs.evolve(
        customer,
        name=ERASED_NAME,
        contact_points=(),
        birthday=None,
        address=None,
        tags=(),
        relationships=(),
        consent=Consent(contact=False, data_use=False),
        erased=True,
    )
    uow.customers.update(anonymous)
    counts = {"customers": 1, "interactions": 0, "activities": 0, "surveys": 0, "costs": 0}
    for i in uow.interactions.list(customer_id=customer_id):
        if i.subject is not None or i.outcome is not None:
            uow.interactions.replace(attrs.evolve(i, subject=None, outcome=None))
            counts["interactions"] += 1
    for a in uow.activities.list(customer_id=customer_id):
        if a.subject is not None or a.outcome is not None:
            uow.activities.update(attrs.evolve(a, subject=None, outcome=None))
            counts["activities"] += 1
    for s in uow.surveys.list(customer_id=customer_id):
        if s.comment is not None:
            uow.surveys.replace(attrs.evolve(s, comment=None))
            counts["surveys"] += 1
    for k in uow.costs.list(customer_id=customer_id):
        if k.note is not None:
            uow.costs.replace(attrs.evolve(k, note=None))
            counts["costs"] += 1
    return counts
