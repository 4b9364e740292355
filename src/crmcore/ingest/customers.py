"""Validated, idempotent, batched import of customers (through the model objects).

>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> rows = [{"external_key": "crm-1", "name": "Ada Lovelace", "email": "ada@example.com"},
...         {"external_key": "crm-2", "name": "  ", "email": "bob(at)example.com"}]
>>> report = import_customers(uow, rows)
>>> print(report.summary())
<rows> → customers: 2 rows read, 1 stored, 1 rejected, 0 skipped (already present), 1 batch committed
  row 2, column 'email', value 'bob(at)example.com': 'value' must be an email address: 'bob(at)example.com'
  row 2, column 'name', value '  ': 'name' must be a non-empty string: '  '
>>> import_customers(uow, rows[:1]).skipped
1
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from crmcore.errors import ValidationError
from crmcore.ingest._cells import is_missing, show
from crmcore.ingest._keys import customer_id_for
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
from crmcore.model import Address, Consent, ContactPoint, Customer
from crmcore.options import as_count
from crmcore.progress import Progress, check_progress, stage
from crmcore.repositories.protocols import UnitOfWork
from crmcore.timestamps import as_date

__all__ = ["CUSTOMER_FIELDS", "import_customers"]

CUSTOMER_FIELDS: tuple[str, ...] = (
    "id",
    "external_key",
    "name",
    "kind",
    "email",
    "phone",
    "mobile",
    "birthday",
    "acquisition_channel",
    "acquired_at",
    "owner_id",
    "segment",
    "tags",
    "consent_contact",
    "consent_data_use",
    "country",
    "city",
    "postal_code",
)
"""The fields a customer row can carry (default column names)."""

_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
_FIELD = re.compile(r"^'(\w+)")
_MODEL_TO_FIELD = {"value": None, "contact_points": "email", "address": "country"}


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValidationError(f"must be true/false, yes/no or 1/0: {show(value)}")


def _tags(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(";") if t.strip())
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(value)
    raise ValidationError(f"must be ';'-separated text or a list of strings: {show(value)}")


def _contact(kind: str, value: Any) -> ContactPoint:
    return ContactPoint(kind=kind, value=value)


def _birthday(value: object) -> date:
    return as_date(value, name=None)  # the import names the column


class _Row:
    """Collects the pieces of one customer and the errors of its cells."""

    def __init__(self, cells: Mapping[str, object]) -> None:
        self.cells = cells
        self.errors: list[tuple[str | None, str]] = []

    def get(self, field: str) -> object:
        v = self.cells.get(field)
        return None if is_missing(v) else v

    def piece(self, field: str, make: Callable[[object], Any]) -> Any:
        v = self.get(field)
        if v is None:
            return None
        try:
            return make(v)
        except ValidationError as e:
            self.errors.append((field, str(e)))
            return None


def _field_of(message: str, default: str | None) -> str | None:
    m = _FIELD.match(message)
    if not m:
        return default
    name = m.group(1)
    if name in _MODEL_TO_FIELD:
        return _MODEL_TO_FIELD[name] or default
    return name if name in CUSTOMER_FIELDS else default


_MIN_MICROS = -62_135_596_800_000_000
"""0001-01-01T00:00:00Z in microseconds since the epoch (the earliest ``datetime``)."""
_MAX_MICROS = 253_402_300_799_999_999
"""9999-12-31T23:59:59.999999Z in microseconds since the epoch (the latest ``datetime``)."""


def build_customer(
    cells: Mapping[str, object], acquired_micros: int | None = None
) -> tuple[Customer | None, list[tuple[str | None, str]]]:
    """A Customer from one row's cells (field → cell), or None and ``(field, reason)`` errors.

    >>> c, errors = build_customer({"external_key": "k-1", "name": "Ada", "tags": "vip; web"})
    >>> c.id == customer_id_for("k-1"), c.tags, errors
    (True, ('vip', 'web'), [])
    >>> build_customer({"name": "Ada"})[1]
    [('id', 'needs an id or an external_key')]
    """
    if not isinstance(cells, Mapping):
        raise ValidationError(f"'cells' must be a mapping of field name to cell: {cells!r}")
    if acquired_micros is not None:
        as_count(acquired_micros, name="acquired_micros", low=_MIN_MICROS, high=_MAX_MICROS)
    row = _Row(cells)
    contacts = []
    for field in ("email", "phone", "mobile"):
        cp = row.piece(field, partial(_contact, field))
        if cp is not None:
            contacts.append(cp)
    birthday = row.piece("birthday", _birthday)
    tags = row.piece("tags", _tags)
    consent = Consent(
        contact=bool(row.piece("consent_contact", _flag)),
        data_use=bool(row.piece("consent_data_use", _flag)),
    )
    address = None
    if any(row.get(f) is not None for f in ("country", "city", "postal_code")):
        try:
            parts: dict[str, Any] = {f: row.get(f) for f in ("country", "city", "postal_code")}
            address = Address(**parts)  # Address validates every part
        except ValidationError as e:
            row.errors.append((_field_of(str(e), "country"), str(e)))
    key = row.get("external_key")
    cid = row.get("id")
    if cid is None:
        if isinstance(key, str) and key.strip():
            cid = customer_id_for(key)
        else:
            row.errors.append(("id", "needs an id or an external_key"))
            return None, row.errors
    acquired = (
        None
        if acquired_micros is None
        else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=acquired_micros)
    )
    try:
        fields: dict[str, Any] = {
            "id": cid,
            "name": row.get("name"),
            "kind": row.get("kind") or "person",
            "contact_points": contacts,
            "birthday": birthday,
            "address": address,
            "tags": tags or (),
            "acquisition_channel": row.get("acquisition_channel"),
            "acquired_at": acquired,
            "owner_id": row.get("owner_id"),
            "segment": row.get("segment"),
            "consent": consent,
            "external_key": key,
        }
        customer = Customer(**fields)  # the model validates every cell
    except ValidationError as e:
        row.errors.append((_field_of(str(e), None), str(e)))
        return None, row.errors
    if row.errors:
        return None, row.errors
    return customer, []


def _store(
    uow: UnitOfWork, found: list[tuple[int, Customer]], seen: set[str]
) -> tuple[int, int, list[tuple[int, str]]]:
    """Store new customers; returns ``(stored, skipped, conflicts)``."""
    keys = [c.external_key for _, c in found if c.external_key is not None]
    stored_keys = uow.customers.by_external_keys(sorted(set(keys))) if keys else {}
    new: list[Customer] = []
    skipped = 0
    conflicts: list[tuple[int, str]] = []
    for i, c in found:
        ident = f"key:{c.external_key}" if c.external_key is not None else f"id:{c.id}"
        if ident in seen or (c.external_key is not None and c.external_key in stored_keys):
            skipped += 1
            continue
        if f"id:{c.id}" in seen:
            conflicts.append(
                (i, f"id {c.id!r} is used by an earlier row with another external_key")
            )
            continue
        existing = uow.customers.find(c.id)
        if existing is not None:
            if c.external_key is None:
                skipped += 1
                seen.add(ident)
                continue
            conflicts.append(
                (
                    i,
                    f"id {c.id!r} is already stored for another customer (external_key "
                    f"{existing.external_key!r})",
                )
            )
            continue
        seen.add(ident)
        seen.add(f"id:{c.id}")
        new.append(c)
    stored = uow.customers.add_many(new) if new else 0
    return stored, skipped, conflicts


def import_customers(
    uow: UnitOfWork,
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
    """Validate and store customers from a CSV file (a path, or a text or binary file object such
    as a web upload), a pandas or polars DataFrame (a LazyFrame is collected), a pyarrow
    Table, or an iterable of mappings (see :mod:`crmcore.ingest._uploads` for frames).

    Columns default to :data:`CUSTOMER_FIELDS`; ``name`` is required and
    every row needs an ``id`` or an ``external_key`` (the id is then derived
    from the key, see :func:`~crmcore.ingest._keys.customer_id_for`).
    ``email``/``phone``/``mobile`` become contact points, ``tags`` is
    ``;``-separated, ``consent_*`` are true/false, yes/no or 1/0,
    ``country``/``city``/``postal_code`` form the address, ``birthday`` is an
    ISO date and ``acquired_at`` a timestamp read like a transaction's.

    Idempotent on ``external_key`` (rows without one: on ``id``); a row whose
    id is already stored under another key is rejected. Modes, batches and
    the report are those of :func:`~crmcore.ingest.import_transactions`, and so is
    ``progress`` (stage ``"import customers"``).
    """
    uow = check_import_options(uow, batch_size=batch_size, time_format=time_format)
    check_progress(progress)
    column_of = resolve_columns(columns, CUSTOMER_FIELDS)
    src = open_source(
        source,
        fields=CUSTOMER_FIELDS,
        required=["name"],
        column_of=column_of,
        delimiter=delimiter,
        encoding=encoding,
    )
    present = src.present()
    if "id" not in present and "external_key" not in present:
        raise ValidationError(
            f"{src.name}: needs an {column_of['id']!r} or an {column_of['external_key']!r} column"
        )
    errors: list[RowError] = []
    counts = new_counts()
    seen: set[str] = set()
    tick = stage(progress, "import customers", total=_expected_rows(src) or None)

    def error(batch: Batch, i: int, field: str | None, reason: str) -> RowError:
        return row_error(batch, i, field, reason, column_of)

    def prepare(batch: Batch) -> list[tuple[int, Customer]]:
        n = len(batch)
        counts["read"] += n
        acquired = batch.columns.get("acquired_at", [None] * n)
        given = [i for i in range(n) if not is_missing(acquired[i])]
        micros, time_errors = parse_times(
            [acquired[i] for i in given], assume_utc=assume_utc, time_format=time_format
        )
        bad_time = {given[j]: reason for j, reason in time_errors}
        at = {given[j]: int(micros[j]) for j in range(len(given)) if given[j] not in bad_time}
        found: list[tuple[int, Customer]] = []
        for i in range(n):
            cells = {f: c[i] for f, c in batch.columns.items()}
            customer, errs = build_customer(cells, at.get(i))
            if i in bad_time:
                errs = [*errs, ("acquired_at", bad_time[i])]
                customer = None
            if customer is None:
                counts["rejected"] += 1
                errors.extend(error(batch, i, f, r) for f, r in errs)
            else:
                found.append((i, customer))
        return found

    def store(batch: Batch, found: list[tuple[int, Customer]]) -> int:
        stored, skipped, conflicts = _store(uow, found, seen)
        counts["skipped"] += skipped
        counts["rejected"] += len(conflicts)
        errors.extend(error(batch, i, "id", r) for i, r in conflicts)
        return stored

    return run_import(
        uow,
        src,
        target="customers",
        batch_size=batch_size,
        all_or_nothing=all_or_nothing,
        tick=tick,
        counts=counts,
        errors=errors,
        prepare=prepare,
        store=store,
    )
