"""Type-checked by ``mypy --strict`` in the gate (tasks.py): the public API as a user types it.

Not collected by pytest (the file name does not start with ``test_``); it is
imported by ``test_typing_file_runs`` so it also runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from crmcore import CRMError, Customer, Money, Transaction, ValidationError
from crmcore.arrays import FloatArray, apply_nan_policy, as_float_array
from crmcore.datasets import load_cdnow_sample
from crmcore.model import TransactionKind
from crmcore.serialization import from_json, to_json
from crmcore.tables import TransactionLog
from crmcore.timestamps import as_datetime, as_instant, parse_timestamps


def exercise() -> list[object]:
    m: Money = Money("1.50", "EUR") + Money(Decimal("2"), "EUR")
    amount: Decimal = m.amount
    c = Customer(id="c-1", name="Ada")
    back: Customer = from_json(Customer, to_json(c))
    t = Transaction(
        id="t-1",
        customer_id=c.id,
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        amount=m,
        kind=TransactionKind.PURCHASE,
    )
    log: TransactionLog = TransactionLog.from_transactions([t])
    x: FloatArray = as_float_array([1.0, 2.0], name="x")
    kept = apply_nan_policy({"x": x}, policy="omit")
    total: float = float(np.sum(kept.arrays["x"]))
    cdnow: TransactionLog = load_cdnow_sample()
    errors: tuple[type[Exception], ...] = (CRMError, ValidationError)
    as_of: np.datetime64 = as_instant("19970101", name="as_of")
    start: datetime = as_datetime(np.datetime64("1997-01-01"), name="start")
    times: npt.NDArray[np.datetime64] = parse_timestamps(["19970101"], name="time")
    return [amount, back, log, total, cdnow, errors, as_of, start, times]


def exercise_pipeline() -> list[object]:
    """The system of record as an application types it (issue 14)."""
    from crmcore.model import FieldChange, Opportunity
    from crmcore.pipeline import (
        B2B,
        Advanced,
        Edited,
        FunnelHistory,
        advance,
        create_opportunity,
        edit,
        load_history,
        load_opportunity,
        replay,
    )
    from crmcore.repositories import MemoryUnitOfWork
    from crmcore.tables import FieldHistory, StageHistory

    now = datetime(2025, 1, 6, 9, tzinfo=UTC)
    uow = MemoryUnitOfWork(clock=lambda: now)
    with uow:
        o: Opportunity = create_opportunity(
            uow, B2B, id="o-1", customer_id="c-1", owner_id="ann", at=now
        )
        e: Edited = edit(
            uow, o.id, expected_version=o.version, changes={"owner_id": "bob"}, funnel=B2B,
            by="boss", at=now, reason="territory", request_id="r-1",
        )  # fmt: skip
        changes: tuple[FieldChange, ...] = e.changes
        a: Advanced = advance(
            uow, o.id, "qualified", expected_version=e.opportunity.version, funnel=B2B,
            by="bob", at=now,
        )  # fmt: skip
        uow.commit()
    with uow:
        later = datetime(2025, 1, 6, 10, tzinfo=UTC)  # as_of is exclusive: events before it
        fh: FunnelHistory = load_history(uow, B2B, as_of=later, known_at=now)
        then: Opportunity = load_opportunity(uow, o.id, funnel=B2B, as_of=later)
        moves: StageHistory = uow.opportunities.read_history(owner_id="bob", known_at=now)
        edits: FieldHistory = uow.opportunities.read_changes(fields=["owner_id"])
        same: bool = replay(uow.opportunities.events(o.id), funnel=B2B) == a.opportunity
    return [changes, fh, then, moves, edits, same]


def exercise_report() -> list[object]:
    """The HTML report: built from a unit of work (here an empty one: every section says what
    is missing), its sections, tables and page."""
    from crmcore.progress import ProgressEvent
    from crmcore.report import Report, ReportSection, ReportTable, build_report
    from crmcore.repositories import MemoryUnitOfWork

    events: list[ProgressEvent] = []
    report: Report = build_report(
        MemoryUnitOfWork(), title="Empty", as_of="2025-06-30", progress=events.append
    )
    first: ReportSection = report.section("base")
    tables: tuple[ReportTable, ...] = first.tables
    page: str = report.html
    return [report, first, tables, page, len(events)]
