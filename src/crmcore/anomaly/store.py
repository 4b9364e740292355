"""Rule sets and alerts kept through the :class:`~crmcore.repositories.DocumentRepository` protocol.

Rule sets are documents of kind ``"anomaly_ruleset"`` (every version is
kept, so an alert's ``rule_version`` can be read back as it was); alerts are
documents of kind ``"anomaly_alert"`` keyed by their deterministic id, so
saving the same alert twice stores it once. The store needs nothing beyond
the protocol; listing reads every alert document (the protocol has no query
by field), which is fine for the alerts of a bank's branch, not for
millions.

>>> from datetime import datetime, timezone
>>> from crmcore.repositories import MemoryUnitOfWork
>>> from crmcore.anomaly import RuleSet, Threshold
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     v = save_ruleset(uow, RuleSet(name="bank", rules=[Threshold(name="big", at_least=9e4)]))
...     uow.commit()
>>> with uow:
...     rs = load_ruleset(uow, "bank")
>>> v, rs.version, rs.rules[0].at_least
(1, 1, 90000.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

from crmcore.anomaly.alerts import Alert, AlertStatus, AlertSummary, summarize
from crmcore.anomaly.rules import RuleSet
from crmcore.options import as_count, as_enum, expect_instance, expect_items
from crmcore.repositories._writes import check_document_key
from crmcore.repositories.protocols import expect_unit_of_work
from crmcore.serialization import from_dict, to_dict
from crmcore.timestamps import TimeLike, as_datetime

__all__ = ["ALERT_KIND", "RULESET_KIND", "AlertStore", "load_ruleset", "save_ruleset"]

RULESET_KIND = "anomaly_ruleset"
ALERT_KIND = "anomaly_alert"


def save_ruleset(uow: Any, ruleset: RuleSet, *, expected_version: int | None = None) -> int:
    """Store a new version of ``ruleset`` (by name); returns the version number.

    ``expected_version`` is the version the change was based on (None for a
    new rule set); a stale one raises ConcurrencyError and stores nothing.
    """
    uow = expect_unit_of_work(uow)
    expect_instance(ruleset, RuleSet, name="ruleset")
    if expected_version is not None:
        as_count(expected_version, name="expected_version")
    doc = to_dict(ruleset)
    doc.pop("version", None)
    version: int = uow.documents.put(
        RULESET_KIND, ruleset.name, doc, expected_version=expected_version
    )
    return version


def load_ruleset(uow: Any, name: str, *, version: int | None = None) -> RuleSet:
    """The stored rule set (latest or ``version``), validated, with its ``version`` set."""
    uow = expect_unit_of_work(uow)
    if version is not None:
        as_count(version, name="version", low=1)
    check_document_key(RULESET_KIND, name, names=("kind", "name"))
    doc, v = uow.documents.get(RULESET_KIND, name, version=version)
    return from_dict(RuleSet, {**doc, "version": v})


@attrs.define
class AlertStore:
    """Alerts in a unit of work's documents: add (deduplicated), read, move along the lifecycle.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     AlertStore(uow).list()
    []
    """

    uow: Any = attrs.field(converter=expect_unit_of_work)

    def add(self, alerts: Iterable[Alert]) -> list[Alert]:
        """Store the alerts not stored yet (by id); returns those that were new.

        Alert ids are stable (rule set, rule, customer and transaction id or window), so
        the alerts of a daily re-run over the whole history are stored and routed once.
        The ids already stored come from one ``documents.keys`` query, not one lookup per
        alert; only the new alerts are written.
        """
        items = list(expect_items(alerts, Alert, name="alerts"))
        if not items:
            return []
        docs = self.uow.documents
        stored = set(docs.keys(ALERT_KIND))
        new: list[Alert] = []
        for a in items:
            if a.id not in stored:
                docs.put(ALERT_KIND, a.id, to_dict(a), expected_version=None)
                stored.add(a.id)
                new.append(a)
        return new

    def get(self, alert_id: str) -> Alert:
        """The stored alert (NotFoundError when there is none)."""
        check_document_key(ALERT_KIND, alert_id, names=("kind", "alert_id"))
        doc, _ = self.uow.documents.get(ALERT_KIND, alert_id)
        return from_dict(Alert, doc)

    def _change(self, alert_id: str, change: Any) -> Alert:
        check_document_key(ALERT_KIND, alert_id, names=("kind", "alert_id"))
        doc, v = self.uow.documents.get(ALERT_KIND, alert_id)
        updated: Alert = change(from_dict(Alert, doc))
        self.uow.documents.put(ALERT_KIND, alert_id, to_dict(updated), expected_version=v)
        return updated

    def contact(
        self, alert_id: str, *, at: datetime, by: str | None = None, note: str | None = None
    ) -> Alert:
        """Record that the owner contacted the customer (TransitionError unless the alert is open)."""
        return self._change(alert_id, lambda a: a.contacted(at=at, by=by, note=note))

    def resolve(
        self,
        alert_id: str,
        outcome: str,
        *,
        at: datetime,
        by: str | None = None,
        note: str | None = None,
    ) -> Alert:
        """Close the alert with an outcome such as ``"retained deposit"``."""
        return self._change(alert_id, lambda a: a.resolved(outcome, at=at, by=by, note=note))

    def list(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        routed_to: str | None = None,
        status: AlertStatus | str | None = None,
        customer_id: str | None = None,
    ) -> list[Alert]:
        """Stored alerts matching every filter (``[start, end)`` on the transaction time, read by
        :func:`crmcore.timestamps.as_datetime`), by time."""
        lo = None if start is None else as_datetime(start, name="start")
        hi = None if end is None else as_datetime(end, name="end")
        st = None if status is None else as_enum(status, AlertStatus, name="status")
        out = []
        for key in self.uow.documents.keys(ALERT_KIND):
            a = self.get(key)
            if (
                (lo is None or a.occurred_at >= lo)
                and (hi is None or a.occurred_at < hi)
                and (routed_to is None or a.routed_to == routed_to)
                and (st is None or a.status is st)
                and (customer_id is None or a.customer_id == customer_id)
            ):
                out.append(a)
        return sorted(out, key=lambda a: (a.occurred_at, a.id))

    def summary(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> AlertSummary:
        """Counts by rule, owner, status and outcome of the alerts of ``[start, end)``."""
        return summarize(self.list(start=start, end=end), start=start, end=end)
