"""A plot of loyalty curves (needs the ``plot`` extra: matplotlib).

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

import numpy as np

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
    """Draw each labelled curve over satisfaction 1–5 and return the matplotlib ``Figure``.

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

    fig = Figure(figsize=(6.0, 4.0), dpi=100)
    ax = fig.subplots()
    levels = np.arange(1, 6)
    markers = {"defection": "v", "indifference": "o", "affection": "^"}
    for label, curve in curves.items():
        p = curve.probabilities()
        (line,) = ax.plot(levels, p, label=str(label), linewidth=2)
        if zones:
            z = curve.zones()
            for s, prob in zip(levels, p, strict=True):
                ax.plot(
                    [s], [prob], marker=markers[z.zone_of(int(s))], color=line.get_color(),
                    linestyle="none", label="_nolegend_",
                )  # fmt: skip
    ax.set_xticks(list(levels))
    ax.set_xticklabels(["1\nvery dissatisfied", "2", "3", "4", "5\ncompletely satisfied"])
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("P(loyal)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    if path is not None:
        fig.savefig(Path(path))
    return fig
