"""``DealFields``: per-deal fields (lead source, region, custom fields) for deal scoring.

A deal's stage, path, age, amount, owner and product come from its stage
history; anything else a CRM records on a deal (the lead source, an
industry, a number of employees) comes in a :class:`DealFields` table, one
row per opportunity id. A column of floats is a *number* (banded by
quantiles when a model is fitted; NaN is a missing value); any other column
is a *label* column under the one rule of :mod:`crmcore.labels` (None, NaN,
NaT and "" are missing values).

>>> f = DealFields.from_arrays(["o-2", "o-1"], {"source": ["web", None], "employees": [12.0, float("nan")]})
>>> f.names, f.kinds, len(f)
(('source', 'employees'), ('label', 'number'), 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._messages import show
from crmcore.arrays import FloatArray, IntArray, as_float_array
from crmcore.errors import ArgumentTypeError, ValidationError
from crmcore.labels import factorize_labels, factorize_together
from crmcore.model.opportunity import CUSTOM_PREFIX, FieldChange, StageChange
from crmcore.options import expect_items
from crmcore.tables import FieldHistory
from crmcore.timestamps import as_datetime

__all__ = ["BUILTIN_FACTORS", "DealFields"]

BUILTIN_FACTORS = ("stage", "path", "age", "time_in_stage", "amount", "owner", "product")
"""The factors every stage history gives (see :func:`~crmcore.pipeline.scoring.fit_deal_scores`)."""

_KINDS = ("label", "number")


@attrs.frozen
class _Columns:
    """Validator: the columns of a :class:`DealFields` agree with its names, kinds and ids."""

    nan: str = "a missing value of a number field"

    def __call__(self, inst: DealFields, _a: attrs.Attribute[Any], _v: object) -> None:
        _check_columns(inst)


def _check_columns(inst: DealFields) -> None:
    n = len(inst.opportunity_ids)
    sizes = {len(inst.names), len(inst.kinds), len(inst.values), len(inst.labels)}
    if len(sizes) != 1:
        raise ValidationError(
            "DealFields: 'names', 'kinds', 'values' and 'labels' must have one entry per field: "
            f"{len(inst.names)}, {len(inst.kinds)}, {len(inst.values)}, {len(inst.labels)}"
        )
    for name, kind, values, labels in zip(
        inst.names, inst.kinds, inst.values, inst.labels, strict=True
    ):
        if not isinstance(name, str) or not name or name in BUILTIN_FACTORS:
            raise ValidationError(
                f"DealFields: field names must be non-empty strings other than the built-in "
                f"factors {list(BUILTIN_FACTORS)}: {show(name)}"
            )
        if kind not in _KINDS:
            raise ValidationError(
                f"DealFields: kind of {name!r} must be one of {_KINDS}: {show(kind)}"
            )
        if not isinstance(values, np.ndarray) or values.shape != (n,):
            raise ValidationError(
                f"DealFields: {name!r} must be a 1-D numpy array with one value per "
                f"opportunity ({n}): {show(values)}"
            )
        if kind == "number":
            if values.dtype != np.float64 or np.isinf(values).any() or labels is not None:
                raise ValidationError(
                    f"DealFields: number field {name!r} must be float64 values (NaN for missing), "
                    "without labels"
                )
        elif (
            values.dtype != np.int64
            or not isinstance(labels, np.ndarray)
            or labels.ndim != 1
            or (n and (values.min() < -1 or values.max() >= len(labels)))
        ):
            raise ValidationError(
                f"DealFields: label field {name!r} must be int64 codes in [-1, len(labels)) "
                "with its labels"
            )


@attrs.frozen(eq=False)
class DealFields:
    """Per-opportunity fields for deal scoring: one row per opportunity id (see the module docstring).

    ``values[i]`` is field ``names[i]``: float64 values (NaN = missing) for a
    ``"number"`` field, int64 codes into ``labels[i]`` (-1 = missing) for a
    ``"label"`` field. Build it with :meth:`from_arrays`.
    """

    opportunity_ids: npt.NDArray[Any] = attrs.field()
    names: tuple[str, ...] = attrs.field()
    kinds: tuple[str, ...] = attrs.field()
    values: tuple[npt.NDArray[Any], ...] = attrs.field(validator=_Columns())
    labels: tuple[npt.NDArray[Any] | None, ...] = attrs.field()

    @opportunity_ids.validator
    def _ids(self, _a: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, np.ndarray) or value.ndim != 1:
            raise ValidationError(
                f"DealFields: 'opportunity_ids' must be a 1-D numpy array: {show(value)}"
            )

    @names.validator
    def _tuples(self, a: attrs.Attribute[Any], value: object) -> None:
        for f in ("names", "kinds", "values", "labels"):
            v = value if f == a.name else getattr(self, f, ())
            if not isinstance(v, tuple):
                raise ValidationError(f"DealFields: {f!r} must be a tuple: {show(v)}")

    def __len__(self) -> int:
        return len(self.opportunity_ids)

    @classmethod
    def from_arrays(cls, opportunity_ids: npt.ArrayLike, columns: Mapping[str, Any]) -> DealFields:
        """Fields from an id column and a mapping of field name to column (any order of ids).

        Ids follow :mod:`crmcore.labels` (no missing id, no repeated id).
        A float column is a number field; any other column a label field.

        >>> f = DealFields.from_arrays([1, 2], {"region": ["north", "south"]})
        >>> f.labels[0].tolist(), f.values[0].tolist()
        (['north', 'south'], [0, 1])
        >>> DealFields.from_arrays(["a", "a"], {"region": ["n", "s"]})
        Traceback (most recent call last):
        crmcore.errors.ValidationError: 'opportunity_ids' must not repeat an id: 'a' at index 1
        >>> DealFields.from_arrays(["a"], {"amount": [1.0]})
        Traceback (most recent call last):
        crmcore.errors.ValidationError: 'columns' must not use the name of a built-in factor ['stage', 'path', 'age', 'time_in_stage', 'amount', 'owner', 'product']: 'amount'
        """
        ids, codes = factorize_labels(opportunity_ids, name="opportunity_ids")
        n = len(codes)
        if len(ids) != n:  # the earliest row that repeats an id seen before it
            order = np.argsort(codes, kind="stable")
            sc = codes[order]
            i = int(order[np.flatnonzero(sc[1:] == sc[:-1]) + 1].min())
            raise ValidationError(
                f"'opportunity_ids' must not repeat an id: {show(ids[codes[i]])} at index {i}"
            )
        if not isinstance(columns, Mapping):
            raise ArgumentTypeError(
                f"'columns' must be a mapping of field name to column: {show(columns)}"
            )
        names: list[str] = []
        kinds: list[str] = []
        values: list[npt.NDArray[Any]] = []
        labels: list[npt.NDArray[Any] | None] = []
        for name, col in columns.items():
            if not isinstance(name, str) or not name.strip():
                raise ValidationError(f"'columns' names must be non-empty strings: {show(name)}")
            if name in BUILTIN_FACTORS:
                raise ValidationError(
                    f"'columns' must not use the name of a built-in factor "
                    f"{list(BUILTIN_FACTORS)}: {name!r}"
                )
            arr = col if isinstance(col, np.ndarray) else None
            kind_f = arr is not None and arr.dtype.kind == "f"
            if not kind_f and arr is None and hasattr(col, "dtype"):
                kind_f = getattr(col.dtype, "kind", "") == "f"
            if not kind_f and isinstance(col, list | tuple):
                kind_f = bool(col) and all(isinstance(x, float | np.floating) for x in col)
            if kind_f:
                v: npt.NDArray[Any] = as_float_array(col, name=name, allow_nan=True)
                lab = None
                kinds.append("number")
            else:
                lab, v = factorize_labels(col, name=name, missing="code")
                kinds.append("label")
            if v.shape != (n,):
                raise ValidationError(
                    f"{name!r} must have one value per opportunity id ({n}): {len(v)} given"
                )
            names.append(name)
            values.append(v)
            labels.append(lab)
        return cls(
            ids[codes],
            tuple(names),
            tuple(kinds),
            tuple(values),
            tuple(labels),
        )

    @classmethod
    def from_records(
        cls,
        events: Iterable[StageChange],
        changes: Iterable[FieldChange] | FieldHistory = (),
        *,
        as_of: datetime | np.datetime64 | str | None = None,
        known_at: datetime | np.datetime64 | str | None = None,
    ) -> DealFields:
        """The custom fields of each opportunity as they were at ``as_of``, as known at ``known_at``.

        A deal's custom fields are those of its creation event (``StageChange.custom``,
        sequence 0), changed by its ``custom.<name>`` :class:`~crmcore.model.FieldChange`
        records (or a :class:`~crmcore.tables.FieldHistory`, as ``read_changes`` gives
        them) dated before ``as_of`` (and recorded by ``known_at``), in sequence order; a field the deal did not have is a missing value. A
        field whose values are all numbers is a number field, any other a
        label field. One pass over the records (object world: for the
        columnar history, build the table with :meth:`from_arrays`).

        >>> from datetime import datetime, timezone
        >>> t = datetime(2025, 1, 1, tzinfo=timezone.utc)
        >>> ev = [StageChange(opportunity_id=o, sequence=0, from_stage=None, to_stage="lead", at=t,
        ...                   by="ann", custom=c) for o, c in (("a", {"source": "web", "seats": 3}),
        ...                                                   ("b", {"source": "fair"}))]
        >>> ch = [FieldChange(opportunity_id="a", sequence=1, field="custom.source", old="web",
        ...                   new="referral", at=datetime(2025, 2, 1, tzinfo=timezone.utc), by="ann")]
        >>> f = DealFields.from_records(ev, ch, as_of="2025-01-15")
        >>> f.names, f.kinds, f.values[0].tolist(), f.labels[1][f.values[1]].tolist()
        (('seats', 'source'), ('number', 'label'), [3.0, nan], ['web', 'fair'])
        >>> DealFields.from_records(ev, ch).labels[1].tolist()
        ['fair', 'referral']
        """
        evs = expect_items(events, StageChange, name="events")
        if isinstance(changes, FieldHistory):
            changes = changes.to_changes()
        chs = expect_items(changes, FieldChange, name="changes")
        cut = None if as_of is None else as_datetime(as_of, name="as_of")
        seen = None if known_at is None else as_datetime(known_at, name="known_at")

        def visible(at: datetime, recorded: datetime | None) -> bool:
            return (cut is None or at < cut) and (
                seen is None or recorded is None or recorded <= seen
            )

        values: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        for e in evs:
            if e.opportunity_id not in values:
                values[e.opportunity_id] = {}
                order.append(e.opportunity_id)
            if e.sequence == 0 and visible(e.at, e.recorded_at):
                values[e.opportunity_id].update(e.custom)
        for c in sorted(chs, key=lambda c: (c.opportunity_id, c.sequence)):
            if c.field.startswith(CUSTOM_PREFIX) and visible(c.at, c.recorded_at):
                mine = values.setdefault(c.opportunity_id, {})
                if c.opportunity_id not in order:
                    order.append(c.opportunity_id)
                name = c.field[len(CUSTOM_PREFIX) :]
                if c.new is None:
                    mine.pop(name, None)
                else:
                    mine[name] = c.new
        names = sorted({k for v in values.values() for k in v})
        columns: dict[str, Any] = {}
        for name in names:
            col = [values[o].get(name) for o in order]
            numbers = [x for x in col if x is not None]
            if numbers and all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in numbers
            ):
                columns[name] = np.array(
                    [np.nan if x is None else float(x) for x in col], dtype=np.float64
                )
            else:
                columns[name] = np.array(col, dtype=object)
        return cls.from_arrays(np.array(order, dtype=object), columns)

    def rows_for(self, ids: npt.NDArray[Any], codes: IntArray) -> IntArray:
        """The row of each opportunity ``ids[codes]`` in this table (-1 where it has none).

        >>> f = DealFields.from_arrays(["b", "a"], {"region": ["n", "s"]})
        >>> f.rows_for(np.array(["a", "b", "c"]), np.array([2, 0, 1])).tolist()
        [-1, 1, 0]
        """
        mine = self.opportunity_ids
        if len(mine) == len(ids) and (mine is ids or bool(np.array_equal(mine, ids))):
            return codes
        try:
            _, (a, b) = factorize_together(
                [mine, ids], names=["fields.opportunity_ids", "history ids"]
            )
        except ValidationError:
            if len(mine) == 0 or len(ids) == 0:
                return np.full(len(codes), -1, dtype=np.int64)
            raise
        where = np.full(max(int(a.max(initial=-1)), int(b.max(initial=-1))) + 1, -1, dtype=np.int64)
        where[a] = np.arange(len(a))
        out: IntArray = where[b][codes]
        return out

    def column(self, name: str) -> tuple[str, FloatArray | IntArray, npt.NDArray[Any] | None]:
        """``(kind, values, labels)`` of one field.

        >>> DealFields.from_arrays(["a"], {"n": [3.0]}).column("n")[0]
        'number'
        """
        if name not in self.names:
            raise ValidationError(f"'fields' has no field {name!r}; it has {list(self.names)}")
        i = self.names.index(name)
        return self.kinds[i], self.values[i], self.labels[i]
