"""Segments: the RFM segment map (recency x frequency scores) and the tier migration matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from crmcore.arrays import IntArray
from crmcore.errors import ValidationError
from crmcore.options import expect_instance
from crmcore.plot._base import axes, label_text
from crmcore.segmentation import DEFAULT_SEGMENTS, RFMScores, SegmentMap, TierMigration

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_MAX_BINS = 10
_MAX_TIERS = 30


def rfm_cells(
    scores: RFMScores, segment_map: SegmentMap
) -> tuple[IntArray, IntArray, tuple[str, ...]]:
    """Customers per (frequency score, recency score) cell (``bins x bins``, row = F - 1,
    column = R - 1: frequency up, recency across), the segment code that holds most of each cell's customers (ties and
    empty cells: the segment of the cell's middle monetary score), and the segment names."""
    q = scores.bins
    scored = (scores.recency > 0) & (scores.frequency > 0) & (scores.monetary > 0)
    codes = scores.segments(segment_map).codes
    r = scores.recency[scored].astype(np.int64) - 1
    f = scores.frequency[scored].astype(np.int64) - 1
    cell = f * q + r
    count = np.bincount(cell, minlength=q * q).reshape(q, q)
    table, names = segment_map.lookup(q)
    k = len(names)
    by_segment = np.bincount(cell * k + codes[scored], minlength=q * q * k).reshape(q, q, k)
    middle = table[1:, 1:, (q + 1) // 2].T.astype(np.int64)  # table is [R, F, M]
    best = np.where(count > 0, by_segment.argmax(axis=2), middle)
    return count, best, names


def plot_rfm_segments(
    scores: RFMScores,
    segment_map: SegmentMap = DEFAULT_SEGMENTS,
    *,
    ax: Axes | None = None,
) -> Axes:
    """The RFM segment map: customers by recency score (across) and frequency score (up),
    each segment a coloured block with its name, customers and share.

    Each cell shows its number of customers; the best customers are in the top right
    (bought recently and often), the lost ones bottom left. ``scores`` are
    :class:`~crmcore.segmentation.RFMScores` (``rfm_from_log`` or ``rfm_scores``),
    ``segment_map`` names the segments (the shipped map by default); a map that also
    reads the monetary score colours each cell by the segment of most of its customers.
    Unscored customers (a NaN row) are left out.

    >>> from crmcore.datasets import load_cdnow_sample
    >>> from crmcore.segmentation import rfm_from_log
    >>> _summary, scores = rfm_from_log(load_cdnow_sample(), "1998-06-30")
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_rfm_segments(scores, ax=ax) is ax
    True
    >>> ax.get_title()
    'RFM segments: 2,357 customers by recency and frequency score'
    >>> [t.get_text() for t in ax.texts if t.get_text().startswith("champions")]
    ['champions\\n414 (18%)']
    """
    s = expect_instance(scores, RFMScores, name="scores", what="RFMScores")
    m = expect_instance(segment_map, SegmentMap, name="segment_map", what="a SegmentMap")
    if s.bins > _MAX_BINS:
        raise ValidationError(f"'scores' has {s.bins} bins: the map draws at most {_MAX_BINS}")
    count, best, names = rfm_cells(s, m)
    total = int(count.sum())
    if total == 0:
        raise ValidationError("'scores' holds no scored customer")
    import matplotlib as mpl
    from matplotlib.colors import ListedColormap

    ax = axes(ax, figsize=(8.0, 6.4))
    q = s.bins
    used = sorted(set(best.ravel().tolist()))
    palette = [c for name in ("Pastel1", "Pastel2") for c in _colours(mpl.colormaps[name])]
    colour = {code: palette[i % len(palette)] for i, code in enumerate(used)}
    rank = {code: i for i, code in enumerate(used)}
    grid = np.vectorize(rank.__getitem__)(best)
    cmap = ListedColormap([colour[c] for c in used])
    ax.imshow(
        grid, origin="lower", cmap=cmap, vmin=-0.5, vmax=len(used) - 0.5,
        extent=(0.5, q + 0.5, 0.5, q + 0.5), interpolation="nearest",
    )  # fmt: skip
    # borders between segments, counts in a corner of each cell
    for i in range(q):
        for j in range(q):
            ax.text(
                j + 1.45, i + 0.58, f"{count[i, j]:,}", ha="right", va="bottom",
                fontsize="x-small", color="0.25",
            )  # fmt: skip
            if j + 1 < q and best[i, j] != best[i, j + 1]:
                ax.plot([j + 1.5, j + 1.5], [i + 0.5, i + 1.5], color="white", lw=3)
            if i + 1 < q and best[i, j] != best[i + 1, j]:
                ax.plot([j + 0.5, j + 1.5], [i + 1.5, i + 1.5], color="white", lw=3)
    # one label per segment, in its cell nearest to the middle of its cells
    for code in used:
        rows, cols = np.nonzero(best == code)
        n = int(count[rows, cols].sum())
        cy, cx = rows.mean(), cols.mean()
        k = int(np.argmin((rows - cy) ** 2 + (cols - cx) ** 2))
        ax.text(
            cols[k] + 1, rows[k] + 1.05, f"{names[code]}\n{n:,} ({n / total:.0%})",
            ha="center", va="center", fontsize="small", fontweight="bold", color="0.1",
        )  # fmt: skip
    ticks = list(range(1, q + 1))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel(f"Recency score ({q} = bought most recently)")
    ax.set_ylabel(f"Frequency score ({q} = buys most often)")
    ax.set_title(f"RFM segments: {total:,} customers by recency and frequency score")
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    return ax


def _colours(cmap: Any) -> list[Any]:
    """The colours of a listed colormap (Pastel1: 9)."""
    return list(cmap.colors)


def plot_tier_migration(
    migration: TierMigration,
    *,
    before: str = "before",
    after: str = "after",
    ax: Axes | None = None,
) -> Axes:
    """The tier migration matrix: customers by tier before (rows) and after (columns).

    Each cell gives the customers who moved from the row's tier to the column's tier, and
    their share of the row; the colour is that share. The diagonal is customers who stayed,
    cells left of it moved up (tiers are best first), right of it moved down; ``(none)``
    is customers absent on one date (new ones in the last row, lost ones in the last
    column). ``before`` and ``after`` name the two dates in the labels (``"2024"``).

    >>> from crmcore.segmentation import tier_migration
    >>> m = tier_migration(["a", "b", "c", "d"], ["gold", "silver", "gold", "silver"],
    ...                    ["a", "b", "d", "e"], ["silver", "gold", "silver", "silver"],
    ...                    tiers=["gold", "silver"])
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_tier_migration(m, before="2024", after="2025", ax=ax) is ax
    True
    >>> ax.get_title()
    'Tier migration from 2024 to 2025: 1 up, 1 down, 1 stayed, 1 left, 1 new'
    >>> ax.images[0].get_array().tolist()[0]   # gold: a to silver, c left
    [0.0, 0.5, 0.5]
    """
    mig = expect_instance(migration, TierMigration, name="migration", what="a TierMigration")
    b = label_text(before, name="before")
    a = label_text(after, name="after")
    k = len(mig.labels)
    if k > _MAX_TIERS + 1:
        raise ValidationError(
            f"'migration' has {k - 1} tiers: the matrix draws at most {_MAX_TIERS}"
        )
    counts = mig.matrix.astype(np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(rows > 0, counts / np.where(rows > 0, rows, 1.0), 0.0)
    side = min(3.0 + 1.0 * k, 11.0)
    ax = axes(ax, figsize=(side + 1.8, side))
    img = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    for i in range(k):
        for j in range(k):
            if counts[i, j] == 0:
                continue
            dark = share[i, j] > 0.55
            ax.text(
                j, i, f"{int(counts[i, j]):,}\n{share[i, j]:.0%}", ha="center", va="center",
                fontsize="small", color="white" if dark else "0.1",
            )  # fmt: skip
    bar = ax.figure.colorbar(img, ax=ax, format="{x:.0%}", shrink=0.8)
    bar.set_label("Share of the tier's customers (row)")
    ax.set_xticks(
        range(k), mig.labels, rotation=35 if k > 5 else 0, ha="right" if k > 5 else "center"
    )
    ax.set_yticks(range(k), mig.labels)
    ax.set_xlabel(f"Tier {a}")
    ax.set_ylabel(f"Tier {b}")
    ax.set_title(
        f"Tier migration from {b} to {a}: {mig.moved_up:,} up, {mig.moved_down:,} down, "
        f"{mig.stayed:,} stayed, {mig.left:,} left, {mig.new:,} new"
    )
    return ax
