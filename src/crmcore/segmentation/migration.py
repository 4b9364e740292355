"""Value-based tiers (CLV or profit deciles) and tier migration between two dates.

Deciles use the tie policy of the RFM scores: a value's group depends on the
value only, so tied customers are never split (group 1 = the top values).

A migration compares two snapshots ``(customer id, tier)``: the transition
matrix has one row per tier before and one column per tier after, best tier
first, plus a last row/column ``(none)`` for customers absent on that date
(new customers are in the ``(none)`` row, customers who left in the
``(none)`` column). The ids behind every cell are kept, grouped by cell.

>>> m = tier_migration(["a", "b", "c"], ["gold", "silver", "gold"],
...                    ["a", "b", "d"], ["silver", "gold", "silver"], tiers=["gold", "silver"])
>>> m.matrix.tolist()
[[0, 1, 1], [1, 0, 0], [0, 1, 0]]
>>> m.moved_up, m.moved_down, m.stayed, m.left, m.new
(1, 1, 0, 1, 1)
>>> m.customers("gold", "(none)").tolist()
['c']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, long_form
from crmcore._results import array
from crmcore.arrays import IntArray, check_same_length
from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels, factorize_together
from crmcore.model._fields import tuple_of
from crmcore.options import as_count, expect_items
from crmcore.segmentation.rfm import quantile_scores
from crmcore.segmentation.tiers import TierAssignment

__all__ = ["NONE", "TierMigration", "decile_groups", "tier_migration", "value_tiers"]

NONE = "(none)"
"""The row / column label of customers absent on one of the two dates."""


def decile_groups(
    values: npt.ArrayLike,
    groups: int = 10,
    *,
    nan_policy: str = "raise",
    population: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
) -> npt.NDArray[np.int8]:
    """Group ``1..groups`` by value, 1 = the highest: ``1 + floor(groups · #{values > v} / n)``.

    Ties share the group of their first occurrence from the top. NaN values
    follow the NaN policy of :func:`~crmcore.segmentation.quantile_scores`
    (``propagate``: group 0, ungrouped). ``population`` (distinct values, counts) ranks
    ``values`` among that population (as :func:`~crmcore.segmentation.quantile_scores`).

    >>> decile_groups([100, 90, 10, 10, 5], groups=5).tolist()
    [1, 2, 3, 3, 5]
    """
    groups = as_count(groups, name="groups", low=2, high=100)
    return quantile_scores(
        values, groups, reverse=True, name="values", nan_policy=nan_policy, population=population
    )


def value_tiers(
    values: npt.ArrayLike,
    *,
    tiers: Sequence[str] = ("platinum", "gold", "silver", "bronze"),
    deciles: Sequence[int] = (1, 2, 3, 4),
    nan_policy: str = "raise",
    population: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    customer_ids: npt.ArrayLike | None = None,
) -> TierAssignment:
    """Tiers from value deciles (CLV or profit): ``deciles[i]`` is the number of deciles of tier ``i``.

    The default gives the top 10% platinum, the next 20% gold, 30% silver and
    the bottom 40% bronze (ties never split, so the counts are approximate).
    A NaN value follows the one NaN policy: ``omit`` assigns the other
    customers only, ``propagate`` leaves the customer without a tier (-1).
    ``population`` (distinct values, counts) ranks ``values`` among that population
    (a part of the base tiered as in the whole base, :mod:`crmcore.dask`).

    ``customer_ids`` (one per value) come back on the result and its frames as given.

    >>> value_tiers(np.arange(10.0)).labels().tolist()
    ['bronze', 'bronze', 'bronze', 'bronze', 'silver', 'silver', 'silver', 'gold', 'gold', 'platinum']
    >>> value_tiers([5.0, 1.0], customer_ids=["c-9", "c-2"], deciles=(5, 5), tiers=("top", "rest")
    ...             ).to_pandas().values.tolist()
    [['c-9', 'top'], ['c-2', 'rest']]
    """
    counts = [as_count(v, name=f"deciles[{i}]", low=1, high=10) for i, v in enumerate(deciles)]
    if len(tiers) != len(counts) or sum(counts) != 10:
        raise ValidationError(
            f"'deciles' must give each of the {len(tiers)} tiers at least one decile, "
            f"10 in all: {list(deciles)}"
        )
    d = decile_groups(values, 10, nan_policy=nan_policy, population=population)
    table = np.repeat(np.arange(len(tiers), dtype=np.int16), counts)
    table = np.append(table, np.int16(-1))  # group 0 (a NaN row under propagate): no tier
    codes = table[d.astype(np.int64) - 1]
    ids = None
    if customer_ids is not None:
        ids = np.asarray(customer_ids, dtype=object)
        if ids.ndim != 1:
            raise ValidationError(f"'customer_ids' must be one id per value: shape {ids.shape}")
        check_same_length(values=codes, customer_ids=ids)
    return TierAssignment(codes, tuple(tiers), ids)


@attrs.frozen(eq=False)
class TierMigration(Tabular):
    """Transition matrix between two snapshots and the customers behind every cell.

    >>> m = tier_migration([1, 2], ["a", "b"], [1, 2], ["a", "a"], tiers=["a", "b"])
    >>> m.labels, m.moved_up, m.customers("b", "a").tolist()
    (('a', 'b', '(none)'), 1, [2])
    """

    labels: tuple[str, ...] = attrs.field(  # tiers best first, then NONE
        validator=tuple_of(str, "a tier name")
    )
    matrix: IntArray = attrs.field(validator=array("i", lo=0, ndim=2))
    # ids grouped by cell (row-major); cell c holds cell_ids[offsets[c]:offsets[c+1]]
    cell_ids: npt.NDArray[Any] = attrs.field(validator=array("O"))
    cell_offsets: IntArray = attrs.field(validator=array("i", lo=0))

    def __attrs_post_init__(self) -> None:
        m = len(self.labels)
        if self.matrix.shape != (m, m):
            raise ValidationError(
                f"TierMigration: 'matrix' must be {m} x {m}, a row and a column per 'labels' entry: "
                f"shape {self.matrix.shape}"
            )
        offsets = self.cell_offsets
        want = np.concatenate(([0], np.cumsum(self.matrix.ravel())))
        if offsets.shape != want.shape or not np.array_equal(offsets, want):
            raise ValidationError(
                "TierMigration: 'cell_offsets' must be 0 then the running total of 'matrix' "
                f"by cell ({len(want)} values): {offsets.tolist()[:12]}"
            )
        if len(self.cell_ids) != want[-1]:
            raise ValidationError(
                f"TierMigration: 'cell_ids' must hold the {int(want[-1])} customers of 'matrix': "
                f"{len(self.cell_ids)}"
            )

    def _index(self, label: str) -> int:
        if label not in self.labels:
            raise ValidationError(f"unknown tier {label!r}; known: {list(self.labels)}")
        return self.labels.index(label)

    def customers(self, before: str, after: str) -> npt.NDArray[Any]:
        """The ids that were in tier ``before`` and are in tier ``after`` (``NONE`` = absent)."""
        c = self._index(before) * len(self.labels) + self._index(after)
        return self.cell_ids[self.cell_offsets[c] : self.cell_offsets[c + 1]]

    @property
    def _k(self) -> int:
        return len(self.labels) - 1

    @property
    def stayed(self) -> int:
        """Customers in the same tier on both dates."""
        return int(np.trace(self.matrix[: self._k, : self._k]))

    @property
    def moved_up(self) -> int:
        """Customers now in a better tier (below the diagonal: a smaller index after)."""
        return int(np.tril(self.matrix[: self._k, : self._k], -1).sum())

    @property
    def moved_down(self) -> int:
        """Customers now in a worse tier."""
        return int(np.triu(self.matrix[: self._k, : self._k], 1).sum())

    @property
    def left(self) -> int:
        """Customers present before, absent after."""
        return int(self.matrix[: self._k, self._k].sum())

    @property
    def new(self) -> int:
        """Customers absent before, present after."""
        return int(self.matrix[self._k, : self._k].sum())

    def _columns(self) -> Columns:
        return long_form(("before", self.labels), ("after", self.labels), customers=self.matrix)


def _codes(
    ids: Any, tiers: Any, order: tuple[str, ...], which: str
) -> tuple[npt.NDArray[Any], IntArray]:
    """The snapshot's ids (validated, as given) and the position of each one's tier in ``order``."""
    id_labels, id_codes = factorize_labels(ids, name=f"{which}_ids")
    labels, inv = factorize_labels(tiers, name=f"{which}_tiers")
    check_same_length(**{f"{which}_ids": id_codes, f"{which}_tiers": inv})
    repeats = np.bincount(id_codes, minlength=len(id_labels)) > 1
    if repeats.any():
        shown = id_labels[repeats][:1].tolist()[0]
        raise ValidationError(f"'{which}_ids' must be unique: {shown!r} repeats")
    pos = {lab: j for j, lab in enumerate(order)}
    unknown = [str(lab) for lab in labels.tolist() if str(lab) not in pos]
    if unknown:
        raise ValidationError(
            f"'{which}_tiers' holds unknown tier {unknown[0]!r}; known: {list(order)}"
        )
    table = np.array([pos[str(lab)] for lab in labels.tolist()], dtype=np.int64)
    return id_labels[id_codes], table[inv] if len(inv) else np.zeros(0, dtype=np.int64)


def tier_migration(
    before_ids: npt.ArrayLike,
    before_tiers: npt.ArrayLike,
    after_ids: npt.ArrayLike,
    after_tiers: npt.ArrayLike,
    *,
    tiers: Sequence[str],
) -> TierMigration:
    """The migration between two snapshots; ``tiers`` is the order of tiers, best first.

    >>> tier_migration([1], ["a"], [2], ["b"], tiers=["a", "b"]).matrix.tolist()
    [[0, 0, 1], [0, 0, 0], [0, 1, 0]]
    """
    order = tuple(expect_items(tiers, str, name="tiers", what="a tier name"))
    if not order or len(set(order)) != len(order) or NONE in order or "" in order:
        raise ValidationError(
            f"'tiers' must be one or more unique non-empty names other than {NONE!r}: {list(order)}"
        )
    k = len(order)
    bi, bc = _codes(before_ids, before_tiers, order, "before")
    ai, ac = _codes(after_ids, after_tiers, order, "after")
    all_ids, (b_at, a_at) = factorize_together([bi, ai], names=["before_ids", "after_ids"])
    frm = np.full(len(all_ids), k, dtype=np.int64)
    to = np.full(len(all_ids), k, dtype=np.int64)
    frm[b_at] = bc
    to[a_at] = ac
    cell = frm * (k + 1) + to
    counts = np.bincount(cell, minlength=(k + 1) ** 2)
    grouped = all_ids[np.argsort(cell, kind="stable")]
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return TierMigration((*order, NONE), counts.reshape(k + 1, k + 1), grouped, offsets)
