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

from crmcore.errors import ArgumentTypeError, ValidationError
from crmcore.model._fields import instance, non_empty_str
from crmcore.options import expect_items

__all__ = ["ReportChart", "ReportSection", "ReportTable"]


def _columns(value: object) -> tuple[str, ...]:
    return tuple(expect_items(value, str, name="columns"))


def _numeric(value: object) -> tuple[bool, ...]:
    return tuple(expect_items(value, bool, name="numeric"))


def _sentences(value: object) -> tuple[str, ...]:
    return tuple(expect_items(value, str, name="sentences"))


def _notes(value: object) -> tuple[str, ...]:
    return tuple(expect_items(value, str, name="notes"))


def _tables(value: object) -> tuple[ReportTable, ...]:
    return tuple(expect_items(value, ReportTable, name="tables"))


def _charts(value: object) -> tuple[ReportChart, ...]:
    return tuple(expect_items(value, ReportChart, name="charts"))


def _rows(value: object) -> tuple[tuple[str, ...], ...]:
    rows = expect_items(value, Iterable, name="rows", what="a row of texts")  # type: ignore[type-abstract]
    return tuple(tuple(expect_items(r, str, name=f"rows[{i}]")) for i, r in enumerate(rows))


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    pairs = expect_items(value, tuple, name="highlights", what="a (label, value) pair")
    for i, p in enumerate(pairs):
        if len(p) != 2 or not all(isinstance(x, str) for x in p):
            raise ArgumentTypeError(
                f"'highlights[{i}]' must be a (label, value) pair of texts: {p!r}"
            )
    return tuple(pairs)


_TEXT = instance(str, "a string")


@attrs.frozen
class ReportTable:
    """A table as the report shows it: a caption, column names and rows of formatted text.

    ``note`` says what the table leaves out (rows beyond the first ones) or
    where its numbers come from; every cell is escaped when rendered.
    """

    caption: str = attrs.field(validator=_TEXT)
    columns: tuple[str, ...] = attrs.field(converter=_columns)
    rows: tuple[tuple[str, ...], ...] = attrs.field(converter=_rows)
    note: str | None = attrs.field(default=None, validator=instance(str, "a string", optional=True))
    numeric: tuple[bool, ...] = attrs.field(default=(), converter=_numeric)

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

    title: str = attrs.field(validator=_TEXT)
    png: bytes = attrs.field(
        validator=instance(bytes, "the bytes of a PNG image"),
        repr=lambda b: f"<{len(b):,} bytes of PNG>",
    )
    alt: str = attrs.field(validator=_TEXT)
    caption: str = attrs.field(default="", validator=_TEXT)


@attrs.frozen
class ReportSection:
    """One section of the report: its anchor ``id``, title, two plain-language sentences
    computed from the data, its charts and tables, and notes (missing data, missing extra).

    ``available`` is False when the data source holds nothing this section can
    show; the section is still in the report and its sentences say what is missing.
    ``highlights`` are its key figures as (label, value) pairs, shown together at the top
    of the page.
    """

    id: str = attrs.field(validator=non_empty_str)
    title: str = attrs.field(validator=_TEXT)
    sentences: tuple[str, ...] = attrs.field(converter=_sentences)
    tables: tuple[ReportTable, ...] = attrs.field(default=(), converter=_tables)
    charts: tuple[ReportChart, ...] = attrs.field(default=(), converter=_charts)
    notes: tuple[str, ...] = attrs.field(default=(), converter=_notes)
    available: bool = attrs.field(default=True, validator=instance(bool, "True or False"))
    highlights: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` (its folder must exist); returns the path."""
    target = Path(path)
    if not target.parent.is_dir():
        raise ValidationError(f"'path' must be in an existing folder: {str(path)!r}")
    target.write_text(text, encoding="utf-8")
    return target
