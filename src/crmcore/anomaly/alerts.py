"""Alerts: what fired, for whom, with which numbers; routed, deduplicated, with a lifecycle.

An alert's id is a hash of the rule set, the rule, the customer and the
alert window, so re-running the same rules over the same history gives the
same ids (and a store keeps one alert per customer, rule and window).

>>> from datetime import datetime, timezone
>>> t = datetime(2025, 3, 4, 10, 0, tzinfo=timezone.utc)
>>> a = Alert(id=alert_id("bank", "large-withdrawal", "c-77", "tx:t-9"), ruleset="bank",
...           rule="large-withdrawal", rule_version=1, rule_type="robust_z", customer_id="c-77",
...           transaction_ids=("t-9",), occurred_at=t, observed=480_000.0, baseline=39_000.0,
...           deviation=24.1, history=20, explanation="...", routed_to="rep-3", window="tx:t-9",
...           steps=(AlertStep(status="open", at=t),))
>>> b = a.contacted(at=t, by="rep-3", note="daughter buys a flat").resolved(
...     "retained deposit", at=t, by="rep-3")
>>> b.status.value, b.outcome, [s.status.value for s in b.steps]
('resolved', 'retained deposit', ['open', 'contacted', 'resolved'])
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, texts
from crmcore._results import COUNT
from crmcore.errors import TransitionError, ValidationError
from crmcore.model._fields import (
    as_tuple,
    count64,
    instance,
    non_empty_str,
    opt_record_id,
    opt_str,
    opt_utc,
    record_id,
    text_items,
    tuple_of,
    utc,
)
from crmcore.model._storable import text_problem
from crmcore.options import as_enum, as_number, expect_items
from crmcore.timestamps import TimeLike, as_datetime, parse_timestamps

__all__ = [
    "OUTCOMES",
    "Alert",
    "AlertStatus",
    "AlertStep",
    "AlertSummary",
    "AlertTable",
    "alert_id",
    "summarize",
]

OUTCOMES: tuple[str, ...] = (
    "retained deposit",
    "new loan",
    "new product",
    "account transferred in",
    "customer left",
    "fraud confirmed",
    "no action",
)
"""Common outcomes of a contacted alert (any non-empty text is accepted)."""


class AlertStatus(StrEnum):
    """Where an alert is in its lifecycle: open → contacted → resolved."""

    OPEN = "open"
    CONTACTED = "contacted"
    RESOLVED = "resolved"


_NEXT = {
    AlertStatus.OPEN: (AlertStatus.CONTACTED, AlertStatus.RESOLVED),
    AlertStatus.CONTACTED: (AlertStatus.RESOLVED,),
    AlertStatus.RESOLVED: (),
}


def alert_id(ruleset: str, rule: str, customer_id: str, window: str) -> str:
    """The deterministic id of the alert of ``rule`` for ``customer_id`` in ``window``.

    >>> alert_id("bank", "big", "c-1", "tx:t-1") == alert_id("bank", "big", "c-1", "tx:t-1")
    True
    >>> len(alert_id("bank", "big", "c-1", "tx:t-1"))
    24
    """
    for name, value in (
        ("ruleset", ruleset),
        ("rule", rule),
        ("customer_id", customer_id),
        ("window", window),
    ):
        if not isinstance(value, str):
            raise ValidationError(f"{name!r} must be a string: {value!r}")
        problem = text_problem(value)
        if problem is not None:
            raise ValidationError(f"{name!r} {problem}: {value!r}")
    raw = "\x1f".join((ruleset, rule, customer_id, window)).encode()
    return hashlib.sha256(raw).hexdigest()[:24]


def _status(value: object) -> AlertStatus:
    return as_enum(value, AlertStatus, name="status")


@attrs.frozen
class AlertStep:
    """One step of an alert's lifecycle: the status reached, when, by whom, and a note."""

    status: AlertStatus = attrs.field(converter=_status)
    at: datetime = attrs.field(validator=utc)
    by: str | None = attrs.field(default=None, validator=opt_str)
    note: str | None = attrs.field(default=None, validator=opt_str)


def _finite(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    as_number(value, name=attribute.name)


@attrs.frozen
class Alert:
    """One customer-state alert (see the module docstring for an example).

    ``observed`` is the number the rule looked at (an amount, a count, a
    sum, a gap in days), ``baseline`` what it was compared with (median, EW
    mean, limit, previous window), ``deviation`` how far apart they are
    (robust z, EW z, ratio), ``history`` how many earlier transactions the
    baseline used. ``window`` is the deduplication key (``tx:<id>`` or
    ``<alert window>@<bucket>``).
    """

    id: str = attrs.field(validator=record_id)
    ruleset: str = attrs.field(validator=non_empty_str)
    rule: str = attrs.field(validator=non_empty_str)
    rule_version: int = attrs.field(validator=count64)
    rule_type: str = attrs.field(validator=non_empty_str)
    customer_id: str = attrs.field(validator=record_id)
    transaction_ids: tuple[str, ...] = attrs.field(converter=as_tuple, validator=text_items)
    occurred_at: datetime = attrs.field(validator=utc)
    observed: float = attrs.field(validator=_finite)
    baseline: float = attrs.field(validator=_finite)
    deviation: float = attrs.field(validator=_finite)
    history: int = attrs.field(validator=count64)
    explanation: str = attrs.field(validator=instance(str, "a string"))
    routed_to: str = attrs.field(validator=non_empty_str)
    window: str = attrs.field(validator=non_empty_str)
    owner_id: str | None = attrs.field(default=None, validator=opt_record_id)
    status: AlertStatus = attrs.field(default=AlertStatus.OPEN, converter=_status)
    outcome: str | None = attrs.field(default=None, validator=opt_str)
    steps: tuple[AlertStep, ...] = attrs.field(
        default=(), converter=as_tuple, validator=tuple_of(AlertStep, "an AlertStep")
    )

    def _move(self, status: AlertStatus, at: datetime, by: str | None, note: str | None) -> Alert:
        if status not in _NEXT[self.status]:
            raise TransitionError(
                f"alert {self.id!r} cannot go from {self.status.value!r} to {status.value!r}"
            )
        opt_utc(None, attrs.fields(AlertStep).at, at)
        step = AlertStep(status=status, at=at, by=by, note=note)
        return attrs.evolve(self, status=status, steps=(*self.steps, step))

    def contacted(self, *, at: datetime, by: str | None = None, note: str | None = None) -> Alert:
        """The alert after its owner contacted the customer (from ``open`` only)."""
        return self._move(AlertStatus.CONTACTED, at, by, note)

    def resolved(
        self, outcome: str, *, at: datetime, by: str | None = None, note: str | None = None
    ) -> Alert:
        """The alert closed with an ``outcome`` (see :data:`OUTCOMES`); from open or contacted."""
        if not isinstance(outcome, str) or not outcome.strip():
            raise ValidationError(f"'outcome' must be a non-empty text: {outcome!r}")
        return attrs.evolve(self._move(AlertStatus.RESOLVED, at, by, note), outcome=outcome)

    @property
    def opened_at(self) -> datetime:
        """When the alert was raised (its first step, else the transaction time)."""
        return self.steps[0].at if self.steps else self.occurred_at


@attrs.frozen(eq=False)
class AlertTable(Tabular):
    """Alerts as a table, one row per alert (``to_pandas()``, ``to_polars()``, ``to_arrow()``).

    Columns: the alert's fields (``transaction_ids`` joined by ``", "``; ``status``
    as its value; ``steps`` left out) and ``opened_at``; times are UTC instants.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2025, 3, 4, 10, 0, tzinfo=timezone.utc)
    >>> a = Alert(id="a-1", ruleset="bank", rule="big", rule_version=1, rule_type="threshold",
    ...           customer_id="c-7", transaction_ids=("t-9",), occurred_at=t, observed=9e4,
    ...           baseline=5e4, deviation=1.8, history=0, explanation="...", routed_to="queue",
    ...           window="tx:t-9")
    >>> table = AlertTable((a,))
    >>> len(table), table.to_pandas()[["customer_id", "status", "observed"]].values.tolist()
    (1, [['c-7', 'open', 90000.0]])
    """

    alerts: tuple[Alert, ...] = attrs.field(
        converter=as_tuple, validator=tuple_of(Alert, "an Alert")
    )

    def __len__(self) -> int:
        return len(self.alerts)

    def _columns(self) -> Columns:
        rows = self.alerts

        def text(values: Iterable[str | None]) -> npt.NDArray[Any]:
            return texts(list(values))

        return {
            "id": text(a.id for a in rows),
            "ruleset": text(a.ruleset for a in rows),
            "rule": text(a.rule for a in rows),
            "rule_version": np.array([a.rule_version for a in rows], dtype=np.int64),
            "rule_type": text(a.rule_type for a in rows),
            "customer_id": text(a.customer_id for a in rows),
            "transaction_ids": text(", ".join(a.transaction_ids) for a in rows),
            "occurred_at": parse_timestamps([a.occurred_at for a in rows], name="occurred_at"),
            "opened_at": parse_timestamps([a.opened_at for a in rows], name="opened_at"),
            "observed": np.array([a.observed for a in rows], dtype=np.float64),
            "baseline": np.array([a.baseline for a in rows], dtype=np.float64),
            "deviation": np.array([a.deviation for a in rows], dtype=np.float64),
            "history": np.array([a.history for a in rows], dtype=np.int64),
            "status": text(a.status.value for a in rows),
            "outcome": text(a.outcome for a in rows),
            "owner_id": text(a.owner_id for a in rows),
            "routed_to": text(a.routed_to for a in rows),
            "window": text(a.window for a in rows),
            "explanation": text(a.explanation for a in rows),
        }


@attrs.frozen
class AlertSummary(Tabular):
    """Counts of the alerts of a period ``[start, end)`` (on the transaction time).

    ``by_owner`` counts by ``routed_to`` (an owner or a team queue);
    ``by_outcome`` counts resolved alerts only.
    """

    start: datetime | None = attrs.field(validator=opt_utc)
    end: datetime | None = attrs.field(validator=opt_utc)
    total: int = attrs.field(validator=COUNT)
    by_rule: dict[str, int] = attrs.field(validator=instance(dict, "a dict of counts"))
    by_owner: dict[str, int] = attrs.field(validator=instance(dict, "a dict of counts"))
    by_status: dict[str, int] = attrs.field(validator=instance(dict, "a dict of counts"))
    by_outcome: dict[str, int] = attrs.field(validator=instance(dict, "a dict of counts"))
    customers: int = attrs.field(validator=COUNT)

    def lines(self) -> list[str]:
        """A short text report.

        >>> print("\\n".join(summarize([]).lines()))
        0 alerts for 0 customers
        """
        out = [f"{self.total:,} alerts for {self.customers:,} customers"]
        for title, counts in (
            ("by rule", self.by_rule),
            ("by owner", self.by_owner),
            ("by status", self.by_status),
            ("by outcome", self.by_outcome),
        ):
            if counts:
                out.append(f"  {title:<11}" + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        return out

    def _columns(self) -> Columns:
        parts = (
            ("rule", self.by_rule),
            ("owner", self.by_owner),
            ("status", self.by_status),
            ("outcome", self.by_outcome),
        )
        return {
            "by": texts([by for by, counts in parts for _ in counts]),
            "key": texts([k for _, counts in parts for k in counts]),
            "alerts": np.array([v for _, counts in parts for v in counts.values()], dtype=np.int64),
        }


def _sorted_counts(c: Counter[str]) -> dict[str, int]:
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def summarize(
    alerts: Iterable[Alert], *, start: TimeLike | None = None, end: TimeLike | None = None
) -> AlertSummary:
    """Counts by rule, owner (or queue), status and outcome of the alerts in ``[start, end)``.

    Counts are ordered from the largest. ``start`` and ``end`` are read by
    :func:`crmcore.timestamps.as_datetime` (an ISO string, an aware datetime, ...).

    >>> summarize([]).total
    0
    """
    lo = None if start is None else as_datetime(start, name="start")
    hi = None if end is None else as_datetime(end, name="end")
    by_rule: Counter[str] = Counter()
    by_owner: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    by_outcome: Counter[str] = Counter()
    customers: set[str] = set()
    total = 0
    for a in expect_items(alerts, Alert, name="alerts"):
        if (lo is not None and a.occurred_at < lo) or (hi is not None and a.occurred_at >= hi):
            continue
        total += 1
        by_rule[a.rule] += 1
        by_owner[a.routed_to] += 1
        by_status[a.status.value] += 1
        if a.outcome is not None:
            by_outcome[a.outcome] += 1
        customers.add(a.customer_id)
    return AlertSummary(
        start=lo,
        end=hi,
        total=total,
        by_rule=_sorted_counts(by_rule),
        by_owner=_sorted_counts(by_owner),
        by_status=_sorted_counts(by_status),
        by_outcome=_sorted_counts(by_outcome),
        customers=len(customers),
    )
