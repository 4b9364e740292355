"""The customer view (360°): profile, related parties, timeline and value state in one result.

>>> from datetime import datetime, UTC
>>> from crmcore.model import Customer, Relationship
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.customers.add(Customer(id="org-1", name="ACME", kind="organization"))
...     _ = uow.customers.add(Customer(id="c-1", name="Ada",
...                                    relationships=[Relationship("employee_of", "org-1")]))
...     uow.commit()
>>> with uow:
...     v = customer_view(uow, "c-1", as_of="2025-01-01")
>>> v.profile.name, v.related.name.tolist(), len(v.timeline)
('Ada', ['ACME'], 0)
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import array
from crmcore.anomaly import AlertStore
from crmcore.errors import ValidationError
from crmcore.model import Customer
from crmcore.model._fields import instance
from crmcore.options import as_id
from crmcore.pipeline import DealScores
from crmcore.relationship._timeline import TimelinePage, customer_timeline
from crmcore.relationship._value_state import ValueState, value_state
from crmcore.relationship._view_fields import objects, optional_labels
from crmcore.repositories.protocols import UnitOfWork, expect_unit_of_work
from crmcore.segmentation import DEFAULT_SEGMENTS, RFMScores, SegmentMap, TierAssignment
from crmcore.timestamps import as_datetime
from crmcore.valuation import GammaGammaModel, PurchaseModel

__all__ = ["CustomerView", "RelatedParties", "customer_view"]


@attrs.frozen(eq=False)
class RelatedParties(Tabular):
    """The people and organisations a customer's profile links to, in profile order: the
    relationship kind, the other customer's id, and its name and kind (None when the
    linked customer is not stored, e.g. erased or not imported yet).

    >>> RelatedParties.from_customers(Customer(id="c", name="A"), {}).to_pandas().shape
    (0, 4)
    """

    relation: npt.NDArray[Any] = attrs.field(validator=array("O"))
    customer_id: npt.NDArray[Any] = attrs.field(validator=array("O", length="relation"))
    name: npt.NDArray[Any] = attrs.field(validator=optional_labels)
    customer_kind: npt.NDArray[Any] = attrs.field(validator=optional_labels)

    def __attrs_post_init__(self) -> None:
        for col in ("name", "customer_kind"):
            if len(getattr(self, col)) != len(self.relation):
                raise ValidationError(
                    f"RelatedParties: {col!r} must have the length of 'relation' "
                    f"({len(self.relation)}): {len(getattr(self, col))}"
                )

    def __len__(self) -> int:
        return len(self.relation)

    @classmethod
    def from_customers(
        cls, customer: Customer, stored: dict[str, Customer | None]
    ) -> RelatedParties:
        """The relationships of ``customer`` joined with the ``stored`` customers by id."""
        rels = customer.relationships
        found = [stored.get(r.customer_id) for r in rels]
        return cls(
            objects(r.kind for r in rels),
            objects(r.customer_id for r in rels),
            objects(None if c is None else c.name for c in found),
            objects(None if c is None else c.kind.value for c in found),
        )

    def _columns(self) -> Columns:
        return {
            "relation": self.relation,
            "customer_id": self.customer_id,
            "name": self.name,
            "customer_kind": self.customer_kind,
        }


@attrs.frozen(eq=False)
class CustomerView:
    """One customer seen whole: the stored profile (static data), the related parties, the
    first page of the timeline (dynamic data; continue with
    :func:`~crmcore.relationship.customer_timeline` and ``timeline.next_cursor``) and the
    value state at ``as_of``.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     customer_view(uow, "c-9", as_of="2025-01-01")
    Traceback (most recent call last):
    crmcore.errors.NotFoundError: customer 'c-9' not found
    """

    profile: Customer = attrs.field(validator=instance(Customer, "a Customer"))
    related: RelatedParties = attrs.field(validator=instance(RelatedParties, "a RelatedParties"))
    timeline: TimelinePage = attrs.field(validator=instance(TimelinePage, "a TimelinePage"))
    value: ValueState = attrs.field(validator=instance(ValueState, "a ValueState"))


def customer_view(
    uow: UnitOfWork,
    customer_id: str,
    *,
    as_of: Any,
    timeline_start: Any = None,
    page_size: int = 50,
    alerts: AlertStore | None = None,
    purchase_model: PurchaseModel | None = None,
    spend_model: GammaGammaModel | None = None,
    rfm: RFMScores | None = None,
    segment_map: SegmentMap = DEFAULT_SEGMENTS,
    tiers: TierAssignment | None = None,
    deal_scores: DealScores | None = None,
) -> CustomerView:
    """The 360° view of one customer at ``as_of``.

    The timeline page holds the first ``page_size`` events of ``[timeline_start, as_of)``
    (from the first record when ``timeline_start`` is None); the value state is
    :func:`~crmcore.relationship.value_state` with the given models and results. An
    unknown customer raises NotFoundError.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     customer_view(uow, "c-1", as_of="yesterday")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'as_of' must be an ISO 8601 timestamp: 'yesterday'
    """
    uow = expect_unit_of_work(uow)
    customer_id = as_id(customer_id, name="customer_id")
    at = as_datetime(as_of, name="as_of")
    if timeline_start is not None:
        timeline_start = as_datetime(timeline_start, name="timeline_start")
        if timeline_start >= at:
            raise ValidationError(
                f"'timeline_start' must be before 'as_of' ({at.isoformat()}): "
                f"{timeline_start.isoformat()}"
            )
    value = value_state(
        uow,
        customer_id,
        as_of=at,
        purchase_model=purchase_model,
        spend_model=spend_model,
        rfm=rfm,
        segment_map=segment_map,
        tiers=tiers,
        deal_scores=deal_scores,
        alerts=alerts,
    )
    profile = uow.customers.get(customer_id)
    stored = {r.customer_id: uow.customers.find(r.customer_id) for r in profile.relationships}
    timeline = customer_timeline(
        uow,
        customer_id,
        start=timeline_start,
        end=at,
        limit=page_size,
        alerts=alerts,
    )
    return CustomerView(
        profile=profile,
        related=RelatedParties.from_customers(profile, stored),
        timeline=timeline,
        value=value,
    )
