"""The SQL store of service cases: :data:`~crmcore.repositories._service_cases.SERVICE_CASES`
applied by :class:`~crmcore.repositories.sql._records.SqlRecordStore`, with the row mapping.

>>> from crmcore.repositories import SqlUnitOfWork
>>> from crmcore.repositories._service_cases import ServiceCases
>>> uow = SqlUnitOfWork.from_url("sqlite://")
>>> with uow:
...     ServiceCases(SqlServiceCaseStore(uow.session)).list(open_only=True)
[]
"""

from __future__ import annotations

from typing import Any

from crmcore.model import ServiceCase
from crmcore.repositories._codec import from_micros, opt_micros, to_micros
from crmcore.repositories._service_cases import SERVICE_CASES
from crmcore.repositories.sql._records import SqlRecordStore

__all__ = ["SqlServiceCaseStore"]


def _opt_time(v: int | None) -> Any:
    return None if v is None else from_micros(v)


class SqlServiceCaseStore(SqlRecordStore[ServiceCase]):
    """Service cases in SQL (table ``service_cases`` of the session's namespace)."""

    spec = SERVICE_CASES

    def _row(self, r: ServiceCase) -> dict[str, Any]:
        return {
            "id": r.id,
            "customer_id": r.customer_id,
            "channel": r.channel.value,
            "opened_at": to_micros(r.opened_at, "opened_at"),
            "category": r.category,
            "owner_id": r.owner_id,
            "priority": r.priority.value,
            "resolved_at": opt_micros(r.resolved_at, "resolved_at"),
            "satisfaction": r.satisfaction,
            "sla_due_at": opt_micros(r.sla_due_at, "sla_due_at"),
            "subject": r.subject,
            "resolution": r.resolution,
        }

    def _obj(self, row: Any) -> ServiceCase:
        return ServiceCase(
            id=row.id,
            customer_id=row.customer_id,
            channel=row.channel,
            opened_at=from_micros(row.opened_at),
            category=row.category,
            owner_id=row.owner_id,
            priority=row.priority,
            resolved_at=_opt_time(row.resolved_at),
            satisfaction=None if row.satisfaction is None else int(row.satisfaction),
            sla_due_at=_opt_time(row.sla_due_at),
            subject=row.subject,
            resolution=row.resolution,
        )
