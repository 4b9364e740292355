"""The values a report is made of: tables, charts, sections and the report itself.

>>> t = ReportTable(caption="Top", columns=("customer", "CLV"), rows=(("a<b>", "1.00"),))
>>> t.n_rows, t.rows[0][0]
(1, 'a<b>')
>>> s = ReportSection(id="value", title="Value", sentences=("One.", "Two."), tables=(t,))
>>> s.available, s.charts
(True, ())
>>> ReportChart(title="Revenue", png=b"PNG bytes.", alt="Bars of revenue per month")
ReportChart(title='Revenue', png=<10 bytes of PNG>, alt='Bars of revenue per month', caption='')
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import attrs

from crmcore.errors import ValidationError

__all__ = ["ReportChart", "ReportSection", "ReportTable"]


def _texts(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]


def _flags(value: Iterable[bool]) -> tuple[bool, ...]:
    return tuple(bool(v) for v in value)


def _tables(value: Iterable[ReportTable]) -> tuple[ReportTable, ...]:
    return tuple(value)


def _charts(value: Iterable[ReportChart]) -> tuple[ReportChart, ...]:
    return tuple(value)


def _pairs(value: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in value)


def _rows(value: object) -> tuple[tuple[str, ...], ...]:
    return tuple(_texts(row) for row in value)  # type: ignore[attr-defined]


@attrs.frozen
class ReportTable:
    """A table as the report shows it: a caption, column names and rows of formatted text.

    ``note`` says what the table leaves out (rows beyond the first ones) or
    where its numbers come from; every cell is escaped when rendered.
    """

    caption: str
    columns: tuple[str, ...] = attrs.field(converter=_texts)
    rows: tuple[tuple[str, ...], ...] = attrs.field(converter=_rows)
    note: str | None = None
    numeric: tuple[bool, ...] = attrs.field(default=(), converter=_flags)

    def __attrs_post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValidationError(
                    f"row {i} of table {self.caption!r} has {len(row)} cells, "
                    f"expected {len(self.columns)} (the columns)"
                )

    @property
    def n_rows(self) -> int:
        """The number of rows shown."""
        return len(self.rows)


@attrs.frozen
class ReportChart:
    """A chart as a PNG image (bytes) with its title, a text alternative and a caption that
    says how to read it."""

    title: str
    png: bytes = attrs.field(repr=lambda b: f"<{len(b):,} bytes of PNG>")
    alt: str
    caption: str = ""


@attrs.frozen
class ReportSection:
    """One section of the report: its anchor ``id``, title, two plain-language sentences
    computed from the data, its charts and tables, and notes (missing data, missing extra).

    ``available`` is False when the data source holds nothing this section can
    show; the section is still in the report and its sentences say what is missing.
    ``highlights`` are its key figures as (label, value) pairs, shown together at the top
    of the page.
    """

    id: str
    title: str
    sentences: tuple[str, ...] = attrs.field(converter=_texts)
    tables: tuple[ReportTable, ...] = attrs.field(default=(), converter=_tables)
    charts: tuple[ReportChart, ...] = attrs.field(default=(), converter=_charts)
    notes: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    available: bool = True
    highlights: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` (its folder must exist); returns the path."""
    target = Path(path)
    if not target.parent.is_dir():
        raise ValidationError(f"'path' must be in an existing folder: {str(path)!r}")
    target.write_text(text, encoding="utf-8")
    return target
