"""``build_report``: read the source once, build every section, render one HTML page."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from crmcore import __version__
from crmcore.progress import Progress, check_progress, stage
from crmcore.report._data import ReportData, open_source, read_data
from crmcore.report._html import render_page
from crmcore.report._model import ReportSection, write_text

__all__ = ["SECTION_IDS", "Report", "build_report"]

log = logging.getLogger("crmcore.report")

SectionBuilder = Callable[[ReportData], ReportSection]


def _builders() -> list[tuple[str, str, SectionBuilder]]:
    from crmcore.report._alerts import alerts_section
    from crmcore.report._base import base_section
    from crmcore.report._pipeline import pipeline_section
    from crmcore.report._satisfaction import satisfaction_section
    from crmcore.report._segments import segments_section
    from crmcore.report._value import value_section

    return [
        ("base", "The customer base and data quality", base_section),
        ("value", "Customer value: CLV, P(alive), top customers, CLV vs CAC", value_section),
        ("segments", "Segments and profitability", segments_section),
        ("satisfaction", "Satisfaction and loyalty", satisfaction_section),
        ("pipeline", "Pipeline and forecast", pipeline_section),
        ("alerts", "Alerts", alerts_section),
    ]


SECTION_IDS = ("base", "value", "segments", "satisfaction", "pipeline", "alerts")
"""The ids (HTML anchors) of the report's sections, in order."""


@attrs.frozen
class Report:
    """A built report: its title, the day it describes, its sections and the HTML page.

    ``html`` is one self-contained page (style inline, charts as PNG data URIs,
    no script, nothing fetched from the network); :meth:`write` saves it.
    """

    title: str
    as_of: str
    sections: tuple[ReportSection, ...]
    html: str = attrs.field(repr=lambda h: f"<{len(h):,} characters>")

    def write(self, path: str | Path) -> Path:
        """Write the page to ``path`` (UTF-8; the folder must exist); returns the path."""
        return write_text(path, self.html)

    def section(self, section_id: str) -> ReportSection:
        """The section with this id (KeyError naming the ids there are)."""
        for s in self.sections:
            if s.id == section_id:
                return s
        raise KeyError(f"no section {section_id!r}: {[s.id for s in self.sections]}")


def build_report(
    source: object,
    *,
    title: str | None = None,
    as_of: object = None,
    progress: Progress | None = None,
) -> Report:
    """Build the HTML report of the customer base stored in ``source``.

    ``source`` is a database URL (``sqlite:///crm.db``, ``postgresql+psycopg://…``),
    the path of an SQLite file, or a unit of work of any backend. ``as_of`` is
    the day the report describes (transactions up to the end of it; default:
    the day of the last transaction). ``progress`` (:data:`crmcore.progress.Progress`)
    receives events of stage ``"report"``: one unit for reading the data, one for
    each section.
    A section whose data the source does not hold says so instead of failing.
    """
    if title is not None and (not isinstance(title, str) or not title.strip()):
        from crmcore.errors import ValidationError

        raise ValidationError(f"'title' must be a non-empty text: {title!r}")
    checked = check_progress(progress)
    builders = _builders()
    t0 = time.perf_counter()
    uow, release = open_source(source)
    with stage(checked, "report", total=len(builders) + 1) as step:
        try:
            data = read_data(uow, as_of)
        finally:
            release()
        step.advance()
        sections = []
        for sid, _, build in builders:
            t1 = time.perf_counter()
            sections.append(build(data))
            log.info("report section %s: %.2f s", sid, time.perf_counter() - t1)
            step.advance()
    day = str(data.as_of)
    name = title or f"Customer base report as of {day}"
    subtitle = f"{data.log.n_customers:,} customers, {len(data.log):,} transactions up to {day}" + (
        f" ({data.log.currency})" if data.log.currency else ""
    )
    log.info("report built in %.2f s", time.perf_counter() - t0)
    footer = f"Built by crmcore {__version__} from the data as of {day}; no network resources used."
    return Report(
        title=name,
        as_of=day,
        sections=tuple(sections),
        html=render_page(name, subtitle, sections, footer),
    )
