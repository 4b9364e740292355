"""The batch loop of the imports that go through model objects (customers, service cases):
rows read, rejected and named; stored batch by batch or all or nothing; one report.

Each import says how a batch becomes records (``prepare``: the good rows, the bad ones
counted and named) and how records are stored (``store``: the stored count, re-runs
skipped, id conflicts named); :func:`run_import` drives both the same way for every kind.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> from crmcore.ingest import import_customers
>>> import_customers(MemoryUnitOfWork(), [{"id": "c-1", "name": "Ada"}]).stored
1
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from crmcore.ingest._cells import show
from crmcore.ingest._sources import Batch, CsvSource, MappingSource
from crmcore.ingest.report import ImportReport, RejectedImportError, RowError, log_rejected
from crmcore.progress import Stage

__all__ = ["new_counts", "row_error", "run_import"]

R = TypeVar("R")
Found = list[tuple[int, R]]


def new_counts() -> dict[str, int]:
    """The counters of one import (rows read, stored, rejected, skipped, batches committed)."""
    return {"read": 0, "stored": 0, "rejected": 0, "skipped": 0, "batches": 0}


def row_error(
    batch: Batch, i: int, field: str | None, reason: str, column_of: Mapping[str, str]
) -> RowError:
    """The report's line for row ``i`` of ``batch``: its row, line, column (as the source names
    it) and value (shown), with ``reason``."""
    cells = batch.columns.get(field) if field else None
    cell = None if cells is None else cells[i]
    return RowError(
        row=int(batch.rows[i]),
        line=None if batch.lines is None else int(batch.lines[i]),
        column=None if field is None else column_of.get(field, field),
        value=None if cell is None else show(cell),
        reason=reason,
    )


def run_import(
    uow: Any,
    src: CsvSource | MappingSource,
    *,
    target: Literal["customers", "service_cases"],
    batch_size: int,
    all_or_nothing: bool,
    tick: Stage,
    counts: dict[str, int],
    errors: list[RowError],
    prepare: Callable[[Batch], Found[R]],
    store: Callable[[Batch, Found[R]], int],
    forget: Callable[[Found[R]], None] | None = None,
) -> ImportReport:
    """Read every batch of ``src`` through ``prepare`` and ``store`` it in ``uow``: each batch
    committed on its own (``forget`` is told the records of a batch that stored nothing), or,
    ``all_or_nothing``, one commit when no row was rejected and a RejectedImportError with
    the report otherwise (nothing stored). Returns the report (logged when rows were rejected)."""
    if all_or_nothing:
        with uow:
            for batch in src.batches(batch_size):
                found = prepare(batch)
                tick.advance(len(batch))
                if not counts["rejected"]:
                    counts["stored"] += store(batch, found)
            if counts["rejected"]:
                uow.rollback()
                counts["stored"] = 0
            else:
                uow.commit()
                counts["batches"] = 1
        errors.sort(key=lambda e: e.row)
        if counts["rejected"]:
            raise RejectedImportError(
                log_rejected(
                    ImportReport(
                        source=src.name,
                        target=target,
                        rows_read=counts["read"],
                        rejected=counts["rejected"],
                        all_or_nothing=True,
                        errors=tuple(errors),
                    )
                )
            )
    else:
        for batch in src.batches(batch_size):
            found = prepare(batch)
            with uow:
                stored = store(batch, found)
                if stored:
                    uow.commit()
                    counts["batches"] += 1
                elif forget is not None:
                    forget(found)
            counts["stored"] += stored
            tick.advance(len(batch))
        errors.sort(key=lambda e: e.row)
    tick.finish()
    return log_rejected(
        ImportReport(
            source=src.name,
            target=target,
            rows_read=counts["read"],
            stored=counts["stored"],
            rejected=counts["rejected"],
            skipped=counts["skipped"],
            batches_committed=counts["batches"],
            all_or_nothing=all_or_nothing,
            errors=tuple(errors),
        )
    )
