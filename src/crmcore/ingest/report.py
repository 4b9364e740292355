"""The result of an import: counts and one :class:`RowError` per bad cell.

>>> report = ImportReport(source="orders.csv", target="transactions", rows_read=3, stored=1,
...                       rejected=1, skipped=1, batches_committed=1,
...                       errors=(RowError(row=2, line=3, column="amount", value="'-5'",
...                                        reason="must be >= 0"),))
>>> print(report.summary())
orders.csv → transactions: 3 rows read, 1 stored, 1 rejected, 1 skipped (already present), 1 batch committed
  row 2 (line 3), column 'amount', value '-5': must be >= 0
>>> from crmcore.serialization import to_dict
>>> to_dict(report)["errors"][0]["column"]
'amount'
"""

from __future__ import annotations

import logging
from typing import Literal

import attrs
import numpy as np

from crmcore._frames import Columns, Tabular, texts
from crmcore._results import COUNT, choice, number
from crmcore.errors import ImportRejectedError, RepositoryError
from crmcore.model._fields import instance, tuple_of

__all__ = ["ImportInterruptedError", "ImportReport", "RejectedImportError", "RowError"]

_log = logging.getLogger("crmcore.ingest")


def log_rejected(report: ImportReport) -> ImportReport:
    """``report`` as it is, after a warning on the ``crmcore.ingest`` logger when rows were
    rejected (the count and the first reason; the report holds them all)."""
    if report.rejected:
        first = f"; first: {report.errors[0]}" if report.errors else ""
        kept = " (nothing stored: all or nothing)" if report.all_or_nothing else ""
        _log.warning(
            "%s → %s: %d of %d rows rejected%s%s",
            report.source,
            report.target,
            report.rejected,
            report.rows_read,
            kept,
            first,
        )
    return report


@attrs.frozen
class RowError:
    """Why one cell (or a whole row, ``column=None``) was rejected.

    ``row`` is the 1-based number of the data row (the header is not
    counted, blank lines are skipped); ``line`` is the physical line of the
    CSV file where the record starts (the header is line 1), or None for
    rows that came from an iterable. ``value`` is the ``repr`` of the cell,
    shortened to 80 characters.

    >>> RowError(row=1, line=2, column="kind", value="'gift'", reason="must be one of ...").row
    1
    """

    row: int = attrs.field(validator=COUNT)
    line: int | None = attrs.field(validator=number(0, integer=True, optional=True))
    column: str | None = attrs.field(validator=instance(str, "a column name", optional=True))
    value: str | None = attrs.field(validator=instance(str, "the repr of a cell", optional=True))
    reason: str = attrs.field(validator=instance(str, "a reason"))

    def __str__(self) -> str:
        where = f"row {self.row}" + (f" (line {self.line})" if self.line is not None else "")
        if self.column is not None:
            where += f", column {self.column!r}"
        if self.value is not None:
            where += f", value {self.value}"
        return f"{where}: {self.reason}"


@attrs.frozen
class ImportReport(Tabular):
    """Counts of an import, and the errors of every rejected row.

    * ``rows_read``: data rows seen (``stored + rejected + skipped``);
    * ``stored``: rows written and committed;
    * ``rejected``: rows with at least one error (none of them is stored);
    * ``skipped``: valid rows whose external key was already stored, or
      repeated earlier in the same source (the first occurrence wins);
    * ``batches_committed``: commits made (a crash leaves only these);
    * ``all_or_nothing``: the mode; such an import with ``rejected > 0``
      stored nothing.

    >>> ImportReport(source="x", target="customers").ok
    True
    """

    source: str = attrs.field(validator=instance(str, "a string naming the source"))
    target: Literal["transactions", "customers", "service_cases"] = attrs.field(
        validator=choice("transactions", "customers", "service_cases")
    )
    rows_read: int = attrs.field(
        default=0, validator=number(0, integer=True, at_least=("stored", "rejected", "skipped"))
    )
    stored: int = attrs.field(default=0, validator=COUNT)
    rejected: int = attrs.field(default=0, validator=COUNT)
    skipped: int = attrs.field(default=0, validator=COUNT)
    batches_committed: int = attrs.field(default=0, validator=COUNT)
    all_or_nothing: bool = attrs.field(default=False, validator=instance(bool, "a bool"))
    errors: tuple[RowError, ...] = attrs.field(
        default=(), validator=tuple_of(RowError, "a RowError")
    )

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return self.rejected == 0

    def summary(self, max_errors: int = 10) -> str:
        """A printable summary: the counts, then up to ``max_errors`` errors.

        >>> print(ImportReport(source="a.csv", target="customers", rows_read=2, stored=2,
        ...                    batches_committed=1).summary())
        a.csv → customers: 2 rows read, 2 stored, 0 rejected, 0 skipped (already present), 1 batch committed
        """
        batches = f"{self.batches_committed} batch{'es' if self.batches_committed != 1 else ''}"
        lines = [
            f"{self.source} → {self.target}: {self.rows_read} rows read, {self.stored} stored, "
            f"{self.rejected} rejected, {self.skipped} skipped (already present), "
            f"{batches} committed"
            + (" (all or nothing: nothing stored)" if self.all_or_nothing and self.rejected else "")
        ]
        lines.extend(f"  {e}" for e in self.errors[:max_errors])
        if len(self.errors) > max_errors:
            lines.append(f"  ... and {len(self.errors) - max_errors} more errors")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _columns(self) -> Columns:
        # the rejected cells, one row per error
        errors = self.errors
        return {
            "row": np.array([e.row for e in errors], dtype=np.int64),
            "line": np.ma.masked_array(
                np.array([e.line or 0 for e in errors], dtype=np.int64),
                mask=np.array([e.line is None for e in errors], dtype=bool),
            ),
            "column": texts([e.column for e in errors]),
            "value": texts([e.value for e in errors]),
            "reason": texts([e.reason for e in errors]),
        }


class RejectedImportError(ImportRejectedError):
    """An all-or-nothing import found bad rows and stored nothing; ``report`` says why.

    >>> e = RejectedImportError(ImportReport(source="a.csv", target="customers", rows_read=1,
    ...                                      rejected=1, all_or_nothing=True))
    >>> isinstance(e, ImportRejectedError), e.report.stored
    (True, 0)
    """

    def __init__(self, report: ImportReport) -> None:
        super().__init__(
            f"{report.source}: {report.rejected} of {report.rows_read} rows rejected; "
            "nothing was stored (all_or_nothing=True)",
            problems=[str(e) for e in report.errors],
        )
        self.report = report


class ImportInterruptedError(RepositoryError):
    """An import stopped on a storage error (a concurrent writer it could not wait out, a lost
    connection, a full disk): the message says what was stored and what to do, ``report``
    holds the counts and every rejected row so far, and ``__cause__`` the error itself.

    Whatever was committed stays: the import is idempotent, so running it again stores the
    rest and skips what is already there. A RepositoryError: what a storage failure of the
    import always raised.

    >>> e = ImportInterruptedError(ImportReport(source="a.csv", target="transactions",
    ...                                         rows_read=10, stored=5, batches_committed=1),
    ...                            "storing batch 2 failed: database is locked")
    >>> print(e)
    a.csv → transactions: storing batch 2 failed: database is locked; 5 rows in 1 committed batch are stored and stay (run the import again: it stores the rest and skips them)
    """

    def __init__(self, report: ImportReport, what: str) -> None:
        if report.batches_committed:
            batches = "batch" if report.batches_committed == 1 else "batches"
            kept = (
                f"{report.stored} rows in {report.batches_committed} committed {batches} are "
                "stored and stay (run the import again: it stores the rest and skips them)"
            )
        else:
            kept = "nothing was stored (run the import again)"
        super().__init__(f"{report.source} → {report.target}: {what}; {kept}")
        self.report = report
