"""Service cases as a stored record type: one :class:`~crmcore.repositories._spec.TableSpec`
and the front over :class:`~crmcore.repositories._records.Records` (every check and message
shared with the other records).

:data:`SERVICE_CASES` declares what ``list()`` filters on (customer, owner, channels,
category, ``open_only``: cases whose ``resolved_at`` is None), its time range (on
``opened_at``) and its order (opening time, then id); the memory store applies it with
:func:`~crmcore.repositories._spec.predicate`, the SQL store with
:func:`crmcore.repositories.sql._query.where`.

>>> from datetime import datetime, timezone
>>> from crmcore.model import ServiceCase
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> t = datetime(2025, 3, 1, tzinfo=timezone.utc)
>>> with uow:
...     _ = uow.service_cases.add(ServiceCase(id="sc-1", customer_id="c-1", channel="phone",
...             opened_at=t, category="billing", owner_id="rep-1"))
...     uow.commit()
>>> with uow:
...     [c.id for c in uow.service_cases.list(open_only=True, start="2025-01-01")]
['sc-1']
>>> with uow:
...     uow.service_cases.list(open_only="yes")
Traceback (most recent call last):
crmcore.errors.ArgumentTypeError: 'open_only' must be True or False, not str: 'yes'
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from crmcore.model import Channel, ServiceCase
from crmcore.repositories._records import Records
from crmcore.repositories._spec import Filter, TableSpec, parse_channels_set

__all__ = ["SERVICE_CASES", "ServiceCases"]

SERVICE_CASES = TableSpec(
    "service_cases",
    ServiceCase,
    "service case",
    filters=(
        Filter("customer_id"),
        Filter("owner_id"),
        Filter("channels", "channel", parse=parse_channels_set),
        Filter("category"),
        Filter("open_only", "resolved_at", flag=True),
    ),
    time=("opened_at",),
    order=(("opened_at",), ("id",)),
)
"""The service cases' table: filters, time range on ``opened_at``, order ``(opened_at, id)``."""


class ServiceCases(Records[ServiceCase]):
    """The customers' service cases: the front of
    :class:`~crmcore.repositories.ServiceCaseRepository` over a
    :class:`~crmcore.repositories._records.RecordStore`."""

    spec = SERVICE_CASES

    def add(self, case: ServiceCase) -> ServiceCase:
        """Store a new case; a stored id raises DuplicateError."""
        return self._add(case)

    def add_many(self, cases: Iterable[ServiceCase]) -> int:
        """Store new cases; returns how many. Any duplicate → DuplicateError, none stored."""
        return self._add_many(cases, "cases")

    def get(self, case_id: str) -> ServiceCase:
        """The case, or NotFoundError."""
        return self._get(case_id, "case_id")

    def replace(self, case: ServiceCase) -> ServiceCase:
        """Overwrite the stored case with the same id (resolution, corrections, privacy
        erasure). A missing id raises NotFoundError."""
        return self._replace(case)

    def list(
        self,
        *,
        customer_id: str | None = None,
        owner_id: str | None = None,
        channels: Sequence[Channel | str] | None = None,
        category: str | None = None,
        open_only: bool = False,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[ServiceCase]:
        """Cases matching every filter (``open_only``: unresolved only; ``[start, end)`` on
        ``opened_at``), by opening time, then id."""
        return self._list(
            limit,
            start,
            end,
            customer_id=customer_id,
            owner_id=owner_id,
            channels=channels,
            category=category,
            open_only=open_only,
        )

    def iter(
        self,
        *,
        customer_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[ServiceCase]:
        """Matching cases in the order of :meth:`list`, fetched ``batch_size`` at a time."""
        return self._iter(batch_size, start, end, customer_id=customer_id)
