"""Section "satisfaction" (being built: says so)."""

from __future__ import annotations

from crmcore.report._data import ReportData
from crmcore.report._model import ReportSection

__all__ = ["satisfaction_section"]


def satisfaction_section(data: ReportData) -> ReportSection:
    """Not built yet in this version of the report."""
    return ReportSection(
        id="satisfaction",
        title="satisfaction",
        sentences=("This section is not built yet.", "It will be in the next commit."),
        available=False,
    )
