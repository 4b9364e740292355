"""Section "alerts" (being built: says so)."""

from __future__ import annotations

from crmcore.report._data import ReportData
from crmcore.report._model import ReportSection

__all__ = ["alerts_section"]


def alerts_section(data: ReportData) -> ReportSection:
    """Not built yet in this version of the report."""
    return ReportSection(
        id="alerts",
        title="alerts",
        sentences=("This section is not built yet.", "It will be in the next commit."),
        available=False,
    )
