"""What every plot shares: the lazy matplotlib import, the axes to draw on, unit and money labels.

matplotlib is imported here, inside the functions, never at import time: ``import
crmcore.plot`` works without it, and a plot called without it raises
:class:`~crmcore.errors.MissingDependencyError` naming ``pip install 'crmcore[plot]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmcore.errors import ArgumentTypeError, require

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: the size of a new figure (inches): readable on a laptop screen and in a report
FIGSIZE = (7.5, 4.6)

#: colours of the "actual" (data) and "model" series, the same in every plot
ACTUAL = "#1f3b73"
MODEL = "#e07b18"

_UNITS = {"D": "days", "W": "weeks", "M": "months"}


def axes(ax: object, *, figsize: tuple[float, float] = FIGSIZE) -> Axes:
    """``ax`` itself when it is a matplotlib ``Axes``; a new figure's axes for None.

    A new figure comes from ``matplotlib.pyplot`` so that Jupyter shows it; pass an axes of
    a ``matplotlib.figure.Figure`` to keep pyplot's global state out (a server, a report).
    """
    require("matplotlib", "plot")
    from matplotlib.axes import Axes

    if ax is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize, layout="constrained")
        return fig.add_subplot()
    if not isinstance(ax, Axes):
        raise ArgumentTypeError(
            f"'ax' must be a matplotlib Axes or None, not {type(ax).__name__}: {ax!r:.80}"
        )
    return ax


def unit_name(time_unit: str | None) -> str:
    """``"weeks"`` for ``"W"``; ``"time units"`` when the unit was not recorded."""
    return _UNITS.get(str(time_unit), "time units") if time_unit is not None else "time units"


def money(currency: str | None) -> str:
    """`` (USD)`` to append to an axis label, or nothing without a currency."""
    return f" ({currency})" if currency else ""


def thousands(ax: Any, axis: str = "y") -> None:
    """Tick labels with thousands separators (12,500 rather than 12500)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fmt = FuncFormatter(lambda v, _pos: f"{v:,.0f}" if abs(v) >= 1 or v == 0 else f"{v:,.2g}")
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(fmt)
    if axis == "y":
        target.set_major_locator(MaxNLocator(nbins=6))


def percent(ax: Any, axis: str = "y") -> None:
    """Tick labels as percentages of 1 (0.25 -> 25%)."""
    from matplotlib.ticker import PercentFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0))


def tidy(ax: Any) -> None:
    """The house look: a light grid behind the data, no top and right spines."""
    ax.grid(alpha=0.3, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def label_text(value: object, *, name: str, optional: bool = False) -> str:
    """A short non-empty text for a label (at most 80 characters), else an error naming it."""
    if optional and value is None:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > 80:
        raise ArgumentTypeError(
            f"{name!r} must be a non-empty text of at most 80 characters: {value!r:.80}"
        )
    return value


def currency_code(value: object) -> str | None:
    """None or a currency code such as ``"USD"`` (any short text), else an error."""
    return None if value is None else label_text(value, name="currency")
