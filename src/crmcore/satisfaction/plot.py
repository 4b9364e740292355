"""``plot_curves``: the loyalty-curve figure of crmcore 0.1, kept for its users.

The plot itself lives in :func:`crmcore.plot.plot_loyalty_curves` (one place), which also
draws a fit's confidence band and the observed rates and takes ``ax=``; this alias draws
it on a new ``Figure`` and saves it to ``path``. Needs the ``plot`` extra (matplotlib).

>>> import tempfile, pathlib
>>> from crmcore.satisfaction import preset_curve
>>> with tempfile.TemporaryDirectory() as d:
...     _ = plot_curves({"high": preset_curve("high")}, path=pathlib.Path(d) / "c.png")
...     (pathlib.Path(d) / "c.png").stat().st_size > 1000
True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crmcore.errors import ValidationError, require
from crmcore.satisfaction.curve import LoyaltyCurve

__all__ = ["plot_curves"]


def plot_curves(
    curves: Mapping[str, LoyaltyCurve],
    *,
    path: str | Path | None = None,
    title: str = "P(loyal) by satisfaction",
    zones: bool = True,
) -> Any:
    """Draw each labelled curve over satisfaction 1–5 and return the matplotlib ``Figure``
    (an alias of :func:`crmcore.plot.plot_loyalty_curves` on a new figure).

    With ``path`` the figure is also saved there (format from the suffix).
    With ``zones`` the zone of each point is marked (▼ defection, ○
    indifference, ▲ affection; see :class:`~crmcore.satisfaction.Zones`).
    Raises :class:`~crmcore.errors.MissingDependencyError` without matplotlib.

    >>> from crmcore.satisfaction import preset_curve
    >>> fig = plot_curves({"high": preset_curve("high"), "low": preset_curve("low")})
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['high', 'low']
    >>> plot_curves({})
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'curves' must map at least one label to a LoyaltyCurve: {}
    """
    if not curves or not all(isinstance(c, LoyaltyCurve) for c in curves.values()):
        raise ValidationError(
            f"'curves' must map at least one label to a LoyaltyCurve: {dict(curves)!r}"
        )
    require("matplotlib", "plot")
    from matplotlib.figure import Figure

    from crmcore.plot import plot_loyalty_curves  # plot sits on top: imported on use only

    fig = Figure(figsize=(6.0, 4.0), dpi=100, layout="constrained")
    ax = plot_loyalty_curves(dict(curves), zones=zones, ax=fig.subplots())
    ax.set_title(title)
    if path is not None:
        fig.savefig(Path(path))
    return fig
