"""Validated, idempotent, batched import of service cases (through the model objects).

>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> rows = [{"id": "sc-1", "customer_id": "c-1", "channel": "phone", "opened_at": "2025-03-01T09:00Z",
...          "category": "billing", "owner_id": "rep-1", "resolved_at": "2025-03-01T12:00Z",
...          "satisfaction": "4"},
...         {"id": "sc-2", "customer_id": "c-1", "channel": "pigeon", "opened_at": "2025-03-02",
...          "category": "billing", "owner_id": "rep-1", "satisfaction": "4"}]
>>> report = import_service_cases(uow, rows)
>>> print(report.summary())
<rows> → service_cases: 2 rows read, 1 stored, 1 rejected, 0 skipped (already present), 1 batch committed
  row 2, column 'channel', value 'pigeon': 'channel' must be one of 'phone', 'email', 'fax', 'letter', 'visit', 'meeting', 'web', 'chat', 'sms', 'social', 'branch', 'call_center', 'other': 'pigeon'
>>> import_service_cases(uow, rows[:1]).skipped
1
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from crmcore.errors import ArgumentTypeError, NotFoundError, ValidationError
from crmcore.ingest._cells import is_missing
from crmcore.ingest._records_import import new_counts, row_error, run_import
from crmcore.ingest._sources import (
    Batch,
    Source,
    check_import_options,
    open_source,
    resolve_columns,
)
from crmcore.ingest._times import parse_times
from crmcore.ingest.report import ImportReport, RowError
from crmcore.ingest.transactions import _expected_rows
from crmcore.model import ServiceCase
from crmcore.progress import Progress, check_progress, stage
from crmcore.repositories.protocols import ServiceCaseUnitOfWork

__all__ = ["SERVICE_CASE_FIELDS", "import_service_cases"]

SERVICE_CASE_FIELDS: tuple[str, ...] = (
    "id",
    "customer_id",
    "channel",
    "opened_at",
    "category",
    "owner_id",
    "priority",
    "resolved_at",
    "satisfaction",
    "sla_due_at",
    "subject",
    "resolution",
)
"""The fields a service-case row can carry (default column names)."""

_REQUIRED = ("id", "customer_id", "channel", "opened_at", "category", "owner_id")
_TIMES = ("opened_at", "resolved_at", "sla_due_at")
_FIELD = re.compile(r"^'(\w+)'")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _satisfaction(value: object) -> object:
    """A CSAT cell as an int when it is a whole number written as text or a float (the model
    checks the range); anything else as it is (the model names it)."""
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
        try:  # "4.0": a whole number written by a frame or a spreadsheet
            number = float(text)
        except ValueError:
            return value
        return int(number) if number.is_integer() else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _build(
    cells: Mapping[str, object], times: Mapping[str, int]
) -> tuple[ServiceCase | None, list[tuple[str | None, str]]]:
    values: dict[str, Any] = {}
    for f in SERVICE_CASE_FIELDS:
        v = cells.get(f)
        if f in _TIMES:
            values[f] = None if f not in times else _EPOCH + timedelta(microseconds=times[f])
        elif not is_missing(v):
            values[f] = _satisfaction(v) if f == "satisfaction" else v
    try:
        return ServiceCase(**values), []  # the model validates every cell
    except ValidationError as e:
        m = _FIELD.match(str(e))
        field = m.group(1) if m and m.group(1) in SERVICE_CASE_FIELDS else None
        return None, [(field, str(e))]
    except TypeError:  # a required field is missing (the source has no such column value)
        missing = [f for f in _REQUIRED if f not in values]
        return None, [(f, "is required") for f in missing]


def import_service_cases(
    uow: ServiceCaseUnitOfWork,
    source: Source,
    *,
    columns: Mapping[str, str] | None = None,
    assume_utc: bool = True,
    time_format: str | None = None,
    batch_size: int = 50_000,
    all_or_nothing: bool = False,
    delimiter: str = ",",
    encoding: str = "utf-8",
    progress: Progress | None = None,
) -> ImportReport:
    """Validate and store service cases from a CSV file (a path, or a text or binary file
    object), a pandas or polars DataFrame, a pyarrow Table, or an iterable of mappings.

    Columns default to :data:`SERVICE_CASE_FIELDS`; ``id``, ``customer_id``,
    ``channel``, ``opened_at``, ``category`` and ``owner_id`` are required,
    ``priority`` defaults to ``normal``; the times (``opened_at``,
    ``resolved_at``, ``sla_due_at``) are read like a transaction's, and
    ``satisfaction`` (CSAT 1–5) needs a ``resolved_at``. Every row is checked by
    :class:`~crmcore.model.ServiceCase`; a bad row is reported (row, line,
    column, value, reason) and never stored.

    Idempotent on ``id``: a row equal to a stored case (or to an earlier row) is
    skipped; one whose id is stored, or used earlier, with other values is
    rejected (correct a stored case with ``uow.service_cases.replace``). Modes,
    batches, the report and ``progress`` (stage ``"import service cases"``) are those of
    :func:`~crmcore.ingest.import_customers`. The unit of work must store service
    cases (:class:`~crmcore.repositories.ServiceCaseUnitOfWork`; else ArgumentTypeError).

    >>> import_service_cases(object(), [])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'uow' must be a unit of work, not an object: <object object at ...>
    """
    checked = check_import_options(uow, batch_size=batch_size, time_format=time_format)
    if not isinstance(checked, ServiceCaseUnitOfWork):
        raise ArgumentTypeError(
            "'uow' must be a unit of work that stores service cases "
            f"(crmcore.repositories.ServiceCaseUnitOfWork), not a {type(uow).__name__}"
        )
    repo = checked.service_cases
    check_progress(progress)
    column_of = resolve_columns(columns, SERVICE_CASE_FIELDS)
    src = open_source(
        source,
        fields=SERVICE_CASE_FIELDS,
        required=_REQUIRED,
        column_of=column_of,
        delimiter=delimiter,
        encoding=encoding,
    )
    errors: list[RowError] = []
    counts = new_counts()
    seen: dict[str, ServiceCase] = {}
    tick = stage(progress, "import service cases", total=_expected_rows(src) or None)

    def error(batch: Batch, i: int, field: str | None, reason: str) -> RowError:
        return row_error(batch, i, field, reason, column_of)

    def prepare(batch: Batch) -> list[tuple[int, ServiceCase]]:
        n = len(batch)
        counts["read"] += n
        times: list[dict[str, int]] = [{} for _ in range(n)]
        bad: dict[int, list[tuple[str | None, str]]] = {}
        for f in _TIMES:
            cells = batch.columns.get(f, [None] * n)
            given = (
                list(range(n))
                if f == "opened_at"
                else [i for i in range(n) if not is_missing(cells[i])]
            )
            micros, time_errors = parse_times(
                [cells[i] for i in given], assume_utc=assume_utc, time_format=time_format
            )
            failed = {given[j] for j, _ in time_errors}
            for j, reason in time_errors:
                bad.setdefault(given[j], []).append((f, reason))
            for j, i in enumerate(given):
                if i not in failed:
                    times[i][f] = int(micros[j])
        found: list[tuple[int, ServiceCase]] = []
        for i in range(n):
            case, errs = _build({f: c[i] for f, c in batch.columns.items()}, times[i])
            errs = [*bad.get(i, []), *(errs if i not in bad else [])]
            if errs or case is None:
                counts["rejected"] += 1
                errors.extend(error(batch, i, f, r) for f, r in errs)
            else:
                found.append((i, case))
        return found

    def store(batch: Batch, found: list[tuple[int, ServiceCase]]) -> int:
        new: list[ServiceCase] = []
        for i, case in found:
            earlier = seen.get(case.id)
            if earlier is None:
                try:
                    earlier = repo.get(case.id)
                except NotFoundError:
                    earlier = None
            if earlier is None:
                seen[case.id] = case
                new.append(case)
            elif earlier == case:
                counts["skipped"] += 1
            else:
                counts["rejected"] += 1
                errors.append(
                    error(batch, i, "id", f"id {case.id!r} is already used by another service case")
                )
        return repo.add_many(new) if new else 0

    def forget(found: list[tuple[int, ServiceCase]]) -> None:
        for _, case in found:  # cases seen in a block that stored nothing are not stored
            if seen.get(case.id) is case:
                del seen[case.id]

    return run_import(
        checked,
        src,
        target="service_cases",
        batch_size=batch_size,
        all_or_nothing=all_or_nothing,
        tick=tick,
        counts=counts,
        errors=errors,
        prepare=prepare,
        store=store,
        forget=forget,
    )
