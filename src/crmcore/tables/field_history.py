"""``FieldHistory``: opportunities' field changes (edits) as numpy columns.

The columnar twin of :class:`~crmcore.model.FieldChange`, as a repository's
``read_changes`` returns it: one row per change of one field, with who, when
(effective and recorded) and why; the old and new values stay Python objects
(Money, dates, ids, probabilities, custom values) in two object columns.

>>> from datetime import datetime, timezone
>>> from crmcore.model import FieldChange, Money
>>> t = datetime(2025, 1, 6, tzinfo=timezone.utc)
>>> c = FieldChange(opportunity_id="o-1", sequence=3, field="amount", old=None,
...                 new=Money("20", "EUR"), at=t, by="ann", recorded_at=t)
>>> h = FieldHistory.from_changes([c])
>>> h.fields[h.field].tolist(), h.new.tolist(), h.to_changes() == [c]
(['amount'], [Money(amount=Decimal('20'), currency='EUR')], True)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, decode
from crmcore._results import array
from crmcore.arrays import IntArray, as_int_array, check_same_length
from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels
from crmcore.model.opportunity import FieldChange
from crmcore.tables._frame_in import FrameColumns, renamed
from crmcore.timestamps import parse_timestamps

__all__ = ["FieldHistory"]

_ROWS = ("opportunity", "sequence", "field", "at", "recorded_at", "new", "old", "by", "reason")


def _objects(values: Iterable[Any]) -> npt.NDArray[Any]:
    items = list(values)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


@attrs.frozen(eq=False)
class FieldHistory(Tabular):
    """Field-change events as aligned columns; row ``i`` is one change of one field.

    * ``opportunity``: int64 index into ``opportunity_ids``; ``sequence``: the
      event's number (shared with the opportunity's stage changes);
    * ``field``: int64 index into ``fields`` (``"amount"``, ``"owner_id"``, ...,
      ``"custom.<name>"``);
    * ``at`` / ``recorded_at``: ``datetime64[us]`` UTC, effective and recording times;
    * ``new`` / ``old``: object arrays of the values after and before the change;
    * ``by``: int64 index into ``by_ids``; ``reason``: int64 index into
      ``reason_labels`` (-1 where none).
    """

    opportunity: IntArray = attrs.field(validator=array("i", scan=False))
    sequence: IntArray = attrs.field(validator=array("i", length="opportunity", scan=False))
    field: IntArray = attrs.field(validator=array("i", length="opportunity", scan=False))
    at: npt.NDArray[np.datetime64] = attrs.field(
        validator=array("M", length="opportunity", scan=False)
    )
    recorded_at: npt.NDArray[np.datetime64] = attrs.field(
        validator=array("M", length="opportunity", scan=False)
    )
    new: npt.NDArray[Any] = attrs.field(validator=array("O", length="opportunity", scan=False))
    old: npt.NDArray[Any] = attrs.field(validator=array("O", length="opportunity", scan=False))
    by: IntArray = attrs.field(validator=array("i", length="opportunity", scan=False))
    reason: IntArray = attrs.field(validator=array("i", length="opportunity", scan=False))
    opportunity_ids: npt.NDArray[Any] = attrs.field(validator=array("O"))
    fields: npt.NDArray[Any] = attrs.field(validator=array("O"))
    by_ids: npt.NDArray[Any] = attrs.field(validator=array("O"))
    reason_labels: npt.NDArray[Any] = attrs.field(validator=array("O"))

    def __attrs_post_init__(self) -> None:
        check_same_length(**{name: getattr(self, name) for name in _ROWS})

    def __len__(self) -> int:
        return len(self.opportunity)

    @classmethod
    def from_arrays(
        cls,
        *,
        opportunity_ids: npt.ArrayLike,
        sequence: npt.ArrayLike,
        fields: Any,
        at: Any,
        recorded_at: Any,
        new: Iterable[Any],
        old: Iterable[Any],
        by: npt.ArrayLike,
        reasons: Any = None,
    ) -> FieldHistory:
        """Build from per-row arrays (ids and names as labels; values as Python objects,
        taken as they are: the repository checked them when it stored them).

        >>> h = FieldHistory.from_arrays(opportunity_ids=["o"], sequence=[2], fields=["owner_id"],
        ...     at=["2025-01-01"], recorded_at=["2025-01-02"], new=["bob"], old=["ann"], by=["ann"])
        >>> h.by_ids[h.by].tolist(), h.reason.tolist()
        (['ann'], [-1])
        """
        opp_labels, opp = factorize_labels(opportunity_ids, name="opportunity_id")
        n = len(opp)
        field_labels, field = factorize_labels(fields, name="fields")
        by_labels, by_codes = factorize_labels(by, name="by")
        if reasons is None:
            reason_labels, reason = np.array([], dtype=str), np.full(n, -1, dtype=np.int64)
        else:
            reason_labels, reason = factorize_labels(reasons, name="reasons", missing="code")
        new_col, old_col = _objects(new), _objects(old)
        if len(new_col) != n or len(old_col) != n:
            raise ValidationError(
                f"'new' and 'old' must have one value per row ({n}): {len(new_col)} and "
                f"{len(old_col)}"
            )
        return cls(
            opp,
            as_int_array(sequence, name="sequence"),
            field,
            parse_timestamps(at, name="at"),
            parse_timestamps(recorded_at, name="recorded_at"),
            new_col,
            old_col,
            by_codes,
            reason,
            opp_labels,
            field_labels,
            by_labels,
            reason_labels,
        )

    @classmethod
    def from_changes(cls, changes: Iterable[FieldChange]) -> FieldHistory:
        """Build from :class:`~crmcore.model.FieldChange` records (a change never stored has
        no ``recorded_at``: its effective time stands in)."""
        items = list(changes)
        for i, c in enumerate(items):
            if not isinstance(c, FieldChange):
                raise ValidationError(f"'changes[{i}]' must be a FieldChange: {c!r}")
        return cls.from_arrays(
            opportunity_ids=np.array([c.opportunity_id for c in items], dtype=str),
            sequence=[c.sequence for c in items],
            fields=np.array([c.field for c in items], dtype=str),
            at=[c.at for c in items],
            recorded_at=[c.recorded_at or c.at for c in items],
            new=[c.new for c in items],
            old=[c.old for c in items],
            by=np.array([c.by for c in items], dtype=str),
            reasons=[c.reason for c in items],
        )

    def to_changes(self) -> list[FieldChange]:
        """The rows as :class:`~crmcore.model.FieldChange` records (validated again).

        >>> FieldHistory.from_changes([]).to_changes()
        []
        """
        from crmcore.timestamps import as_datetime

        out = []
        for i in range(len(self)):
            code = int(self.reason[i])
            out.append(
                FieldChange(
                    opportunity_id=str(self.opportunity_ids[self.opportunity[i]]),
                    sequence=int(self.sequence[i]),
                    field=str(self.fields[self.field[i]]),
                    old=self.old[i],
                    new=self.new[i],
                    at=as_datetime(self.at[i], name="at"),
                    by=str(self.by_ids[self.by[i]]),
                    reason=None if code < 0 else str(self.reason_labels[code]),
                    recorded_at=as_datetime(self.recorded_at[i], name="recorded_at"),
                )
            )
        return out

    @classmethod
    def from_frame(cls, frame: Any, *, columns: dict[str, str] | None = None) -> FieldHistory:
        """Build from a pandas or polars DataFrame (a LazyFrame is collected), a pyarrow Table
        or a mapping of column name to array, with the columns of :meth:`to_columns`
        (``reason`` optional); ``columns`` maps the frame's own names to these.

        ``old`` and ``new`` are taken as the frame holds them: :meth:`to_columns` keeps the
        Python values (Money, dates) and gives the history back exactly; a DataFrame shows
        them as text (``to_pandas``), and text is what comes back from one.

        >>> h = FieldHistory.from_arrays(opportunity_ids=["o"], sequence=[2], fields=["owner_id"],
        ...     at=["2025-01-01"], recorded_at=["2025-01-02"], new=["bob"], old=["ann"], by=["ann"])
        >>> FieldHistory.from_frame(h.to_pandas()).to_changes() == h.to_changes()
        True
        """
        names = ("opportunity_id", "sequence", "field", "old", "new", "at", "recorded_at", "by")
        cols = renamed(FrameColumns.of(frame), columns, allowed=(*names, "reason"))

        def objects(name: str) -> npt.NDArray[Any]:
            values = cols.values(name)
            return values if values.dtype == object else _objects(values.tolist())

        return cls.from_arrays(
            opportunity_ids=cols.raw("opportunity_id"),
            sequence=cols.values("sequence"),
            fields=cols.raw("field"),
            at=cols.values("at"),
            recorded_at=cols.values("recorded_at"),
            new=objects("new"),
            old=objects("old"),
            by=cols.raw("by"),
            reasons=cols.raw("reason") if cols.has("reason") else None,
        )

    def to_columns(self) -> Columns:
        """The columns as a dict of arrays (ids and names per row; ``old`` / ``new`` the
        Python values), named as :meth:`from_frame` reads them.

        >>> list(FieldHistory.from_changes([]).to_columns())
        ['opportunity_id', 'sequence', 'field', 'old', 'new', 'at', 'recorded_at', 'by', 'reason']
        """
        return self._columns()

    def sorted(self) -> FieldHistory:
        """Rows ordered by opportunity, then sequence.

        >>> len(FieldHistory.from_changes([]).sorted())
        0
        """
        order = np.lexsort((self.sequence, self.opportunity))
        return attrs.evolve(self, **{name: getattr(self, name)[order] for name in _ROWS})

    def _columns(self) -> Columns:
        return {
            "opportunity_id": self.opportunity_ids[self.opportunity],
            "sequence": self.sequence,
            "field": self.fields[self.field],
            "old": self.old,
            "new": self.new,
            "at": self.at,
            "recorded_at": self.recorded_at,
            "by": self.by_ids[self.by],
            "reason": decode(self.reason_labels, self.reason),
        }
