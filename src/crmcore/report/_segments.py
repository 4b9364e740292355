"""Section "segments" (being built: says so)."""

from __future__ import annotations

from crmcore.report._data import ReportData
from crmcore.report._model import ReportSection

__all__ = ["segments_section"]


def segments_section(data: ReportData) -> ReportSection:
    """Not built yet in this version of the report."""
    return ReportSection(
        id="segments",
        title="segments",
        sentences=("This section is not built yet.", "It will be in the next commit."),
        available=False,
    )
