"""Charts as PNG bytes, drawn with :mod:`crmcore.plot` where the ``plot`` extra is installed.

Every chart is drawn by a function of one matplotlib Axes (most of them call
a :mod:`crmcore.plot` function with ``ax=``) on a figure that needs no
display (``matplotlib.figure.Figure``, no pyplot state). Without matplotlib
no chart is drawn and the section carries :data:`PLOT_NOTE` instead.

>>> PLOT_NOTE
'Charts are not shown: install crmcore[plot] for the charts.'
"""

from __future__ import annotations

import importlib
import io
import logging
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from crmcore.report._model import ReportChart

__all__ = ["PLOT_NOTE", "ChartSpec", "plot_function", "plotting_available", "render_charts"]

log = logging.getLogger("crmcore.report")

PLOT_NOTE = "Charts are not shown: install crmcore[plot] for the charts."
"""The note a section carries where matplotlib (the ``plot`` extra) is not installed."""


@attrs.frozen
class ChartSpec:
    """A chart to draw: title, text alternative, how to read it (the caption), the drawing
    function, the :mod:`crmcore.plot` function it uses and the size in inches.

    ``draw(ax, fn)`` draws on ``ax``; ``fn`` is the first :mod:`crmcore.plot` function of
    ``plot`` this version has (``plot_<name>`` or ``name``), None when ``plot`` is empty. A
    chart whose plot function this version lacks is left out.
    """

    title: str
    alt: str
    caption: str
    draw: Callable[[Any, Any], object]
    plot: tuple[str, ...] = ()
    size: tuple[float, float] = (7.2, 4.0)


def plotting_available() -> bool:
    """True when matplotlib can be imported (looked up on every call, not cached)."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return False
    return True


def plot_function(*names: str) -> Callable[..., Any] | None:
    """The first :mod:`crmcore.plot` function ``plot_<name>`` (or ``name``) of ``names``, or
    None where this version has none of them."""
    try:
        module = importlib.import_module("crmcore.plot")
    except ImportError:
        return None
    for candidate in (c for name in names for c in (f"plot_{name}", name)):
        fn = getattr(module, candidate, None)
        if callable(fn):
            return fn  # type: ignore[no-any-return]
    return None


def _png(spec: ChartSpec, fn: Callable[..., Any] | None) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=spec.size, dpi=90, layout="constrained")
    ax = fig.add_subplot()
    spec.draw(ax, fn)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def render_charts(
    specs: Sequence[ChartSpec | None],
) -> tuple[tuple[ReportChart, ...], tuple[str, ...]]:
    """The charts that could be drawn (None: a chart the data does not call for), and notes
    for those that could not.

    Without matplotlib: no chart and :data:`PLOT_NOTE`. A chart whose drawing
    fails (data the plot cannot show) is left out with a note naming it and the
    reason, so that the rest of the report is still written.
    """
    if not plotting_available():  # said in every section that has data, charts or not
        return (), (PLOT_NOTE,)
    charts: list[ReportChart] = []
    notes: list[str] = []
    for spec in specs:
        fn = plot_function(*spec.plot) if spec is not None and spec.plot else None
        if spec is None or (spec.plot and fn is None):
            continue
        try:
            charts.append(
                ReportChart(
                    title=spec.title, png=_png(spec, fn), alt=spec.alt, caption=spec.caption
                )
            )
        except Exception as e:  # a chart must not take the report down: say what failed
            log.warning("chart %r not drawn: %s", spec.title, e)
            notes.append(f"The chart '{spec.title}' could not be drawn: {e}")
    return tuple(charts), tuple(notes)
