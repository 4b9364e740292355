"""``StageHistory``: opportunities' stage changes as numpy columns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, decode
from crmcore._results import array
from crmcore.arrays import (
    FloatArray,
    IntArray,
    as_float_array,
    as_int_array,
    check_nonnegative,
    check_same_length,
)
from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels, missing_mask
from crmcore.model.opportunity import StageChange
from crmcore.tables._frame_in import FrameColumns, renamed
from crmcore.timestamps import parse_timestamps

__all__ = ["StageHistory"]

_FRAME_ARGS = {
    "opportunity_id": "opportunity_ids",
    "sequence": "sequence",
    "from_stage": "from_stage",
    "to_stage": "to_stage",
    "at": "at",
    "amount": "amount",
    "owner_id": "owner_ids",
    "product": "products",
    "probability": "probability",
    "by": "by",
    "reason": "reasons",
    "forecast_category": "categories",
    "currency": "currencies",
    "recorded_at": "recorded_at",
    "funnel_version": "funnel_versions",
}
"""Column of :meth:`StageHistory.to_columns` -> argument of :meth:`StageHistory.from_arrays`."""
_FRAME_REQUIRED = ("opportunity_id", "sequence", "from_stage", "to_stage", "at")
_FRAME_NUMBERS = ("sequence", "amount", "probability", "funnel_version")
_FRAME_TIMES = ("at", "recorded_at")

_OPTIONAL_ROWS = (
    "probability",
    "by",
    "reason",
    "recorded_at",
    "category",
    "currency",
    "funnel_version",
)
"""The optional per-row columns (each None or as long as the history)."""

NO_AMOUNT = "no amount: the deal had none (yet); reports leave it out of sums and count it"
"""Why an amount column of the stage history may hold NaN (the one meaning of NaN there)."""

_OWNER_SHAPE = array("O", scan=False)


def owner_labels(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Validator of an ``owner_ids`` column: labels where ``""`` (and only ``""``) means no owner.

    A ``str`` array holds no other missing value; an object array is scanned
    once (it has one entry per owner, not per row) for None, NaN or NaT.
    """
    _OWNER_SHAPE(inst, attribute, value)
    if value.dtype.kind == "O" and len(value):
        miss = missing_mask(value) & (value != "")
        if miss.any():
            i = int(np.flatnonzero(miss)[0])
            raise ValidationError(
                f"{type(inst).__name__}: {attribute.name!r} must be labels "
                f'("" for no owner; no None, NaN or NaT): {value[i]!r} at index {i}'
            )


def _currencies(values: Any, n: int) -> tuple[npt.NDArray[Any], IntArray]:
    """ISO 4217 codes per row (or one for all rows) as labels and codes (-1: none)."""
    from crmcore.model.money import CURRENCY_MINOR_UNITS

    if isinstance(values, str):
        values = [values] * n
    labels, codes = factorize_labels(values, name="currencies", missing="code")
    if codes.shape != (n,):
        raise ValidationError(
            f"'currencies' must be one code or one per row ({n}): shape {codes.shape}"
        )
    for code in labels.tolist():
        if code not in CURRENCY_MINOR_UNITS:
            raise ValidationError(f"'currencies' must hold ISO 4217 codes: {code!r}")
    return np.asarray(labels, dtype=object), codes


def _versions(values: npt.ArrayLike) -> IntArray:
    """Funnel versions per row as int64 (>= 0; missing values -- None, NaN -- are 0: unknown)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "fO":
        arr = np.where(missing_mask(arr.astype(object)), 0, arr)
    out = as_int_array(arr, name="funnel_versions")
    check_nonnegative(out, name="funnel_versions")
    return out


@attrs.frozen(eq=False)
class StageHistory(Tabular):
    """Stage-change events as aligned columns; row ``i`` is one move.

    * ``opportunity``: int64 index into ``opportunity_ids``;
    * ``sequence``: the event's number within its opportunity (0 = creation);
    * ``from_stage`` / ``to_stage``: int64 index into ``stages`` (``from_stage`` is -1 for creation);
    * ``at``: ``datetime64[us]`` UTC;
    * ``amount``: float64 amount at that moment (NaN where the deal had no amount yet);
    * ``owner``: int64 index into ``owner_ids``;
    * ``product``: int64 index into ``products`` (-1 where none).

    Optional columns (None when the source did not give them; a repository's
    ``read_history`` gives them all):

    * ``probability``: float64 chance of winning right after the event (NaN where none);
    * ``by``: int64 index into ``by_ids``: who made the change;
    * ``reason``: int64 index into ``reason_labels`` (-1 where none): why;
    * ``recorded_at``: ``datetime64[us]`` UTC, when the event was stored;
    * ``category``: int64 index into ``category_labels`` (-1 where none): a rep's
      forecast category override right after the event;
    * ``currency``: int64 index into ``currency_labels`` (ISO 4217 codes; -1 where
      the row has no amount): the currency of ``amount`` (see
      :mod:`crmcore.pipeline.currency`: a report sums one currency);
    * ``funnel_version``: int64, the version of the funnel the event was made under
      (:class:`~crmcore.pipeline.Funnel`'s ``version``, from 1); **0 where unknown**
      (events stored before schema 4: :class:`~crmcore.pipeline.FunnelVersions`
      reads their version from their time).

    >>> from datetime import datetime, timezone
    >>> ev = [StageChange(opportunity_id="o", sequence=0, from_stage=None, to_stage="lead",
    ...                   at=datetime(2025, 1, 1, tzinfo=timezone.utc), by="r", owner_id="r")]
    >>> h = StageHistory.from_events(ev)
    >>> h.stages.tolist(), h.from_stage.tolist()
    (['lead'], [-1])
    """

    opportunity: IntArray = attrs.field(validator=array("i", scan=False))
    sequence: IntArray = attrs.field(validator=array("i", length="opportunity", scan=False))
    from_stage: IntArray = attrs.field(validator=array("i", length="opportunity", scan=False))
    to_stage: IntArray = attrs.field(validator=array("i", length="opportunity", scan=False))
    at: npt.NDArray[np.datetime64] = attrs.field(
        validator=array("M", length="opportunity", scan=False)
    )
    amount: FloatArray = attrs.field(validator=array(lo=0, nan=NO_AMOUNT, length="opportunity"))
    owner: IntArray = attrs.field(validator=array("i", length="opportunity", scan=False))
    product: IntArray = attrs.field(validator=array("i", length="opportunity", scan=False))
    opportunity_ids: npt.NDArray[Any] = attrs.field(validator=array("O"))  # unique: one pass
    stages: npt.NDArray[Any] = attrs.field(validator=array("O"))
    owner_ids: npt.NDArray[Any] = attrs.field(validator=owner_labels)  # "" = no owner
    products: npt.NDArray[Any] = attrs.field(validator=array("O"))
    probability: FloatArray | None = attrs.field(
        default=None, validator=array(lo=0, hi=1, nan="no probability", optional=True)
    )
    by: IntArray | None = attrs.field(default=None, validator=array("i", optional=True, scan=False))
    by_ids: npt.NDArray[Any] | None = attrs.field(default=None, validator=array("O", optional=True))
    reason: IntArray | None = attrs.field(
        default=None, validator=array("i", optional=True, scan=False)
    )
    reason_labels: npt.NDArray[Any] | None = attrs.field(
        default=None, validator=array("O", optional=True)
    )
    recorded_at: npt.NDArray[np.datetime64] | None = attrs.field(
        default=None, validator=array("M", optional=True, scan=False)
    )
    category: IntArray | None = attrs.field(
        default=None, validator=array("i", optional=True, scan=False)
    )
    category_labels: npt.NDArray[Any] | None = attrs.field(
        default=None, validator=array("O", optional=True)
    )
    currency: IntArray | None = attrs.field(
        default=None, validator=array("i", optional=True, scan=False)
    )
    currency_labels: npt.NDArray[Any] | None = attrs.field(
        default=None, validator=array("O", optional=True)
    )
    funnel_version: IntArray | None = attrs.field(
        default=None, validator=array("i", optional=True, scan=False)
    )

    def __attrs_post_init__(self) -> None:
        check_same_length(
            opportunity=self.opportunity,
            sequence=self.sequence,
            from_stage=self.from_stage,
            to_stage=self.to_stage,
            at=self.at,
            amount=self.amount,
            owner=self.owner,
            product=self.product,
            **{
                name: getattr(self, name)
                for name in _OPTIONAL_ROWS
                if getattr(self, name) is not None
            },
        )
        for codes, labels in (
            ("by", "by_ids"),
            ("reason", "reason_labels"),
            ("category", "category_labels"),
            ("currency", "currency_labels"),
        ):
            if (getattr(self, codes) is None) != (getattr(self, labels) is None):
                raise ValidationError(
                    f"StageHistory: {codes!r} and {labels!r} are given together or not at all"
                )

    def __len__(self) -> int:
        return len(self.opportunity)

    @classmethod
    def from_arrays(
        cls,
        *,
        opportunity_ids: npt.ArrayLike,
        sequence: npt.ArrayLike,
        from_stage: Any,
        to_stage: npt.ArrayLike,
        at: Any,
        amount: npt.ArrayLike | None = None,
        owner_ids: npt.ArrayLike | None = None,
        products: Any = None,
        probability: npt.ArrayLike | None = None,
        by: npt.ArrayLike | None = None,
        reasons: Any = None,
        recorded_at: Any = None,
        categories: Any = None,
        currencies: Any = None,
        funnel_versions: npt.ArrayLike | None = None,
    ) -> StageHistory:
        """Build from per-row arrays of names.

        ``amount`` is >= 0 and finite; NaN (or no ``amount``) means the deal had
        no amount at that moment. Ids and names follow :mod:`crmcore.labels`: a missing opportunity id,
        ``to_stage`` or owner id is refused with its row; a missing
        ``from_stage`` (None, NaN, "") marks a creation event and a missing
        product a deal without one (code -1). The optional columns: ``probability``
        (NaN: none), ``by`` (who; a missing id is refused), ``reasons`` and
        ``categories`` (missing: none), ``recorded_at`` (times), ``currencies``
        (the ISO 4217 code of each row's amount, or one code for every row; missing: none),
        ``funnel_versions`` (whole numbers >= 0, 0: unknown; NaN and None also read as 0).

        >>> h = StageHistory.from_arrays(opportunity_ids=["o", "o"], sequence=[0, 1],
        ...     from_stage=[None, "lead"], to_stage=["lead", "won"], at=["2025-01-01", "2025-01-02"])
        >>> h.stages.tolist(), h.from_stage.tolist(), h.to_stage.tolist()
        (['lead', 'won'], [-1, 0], [0, 1])
        """
        opp_labels, opp = factorize_labels(opportunity_ids, name="opportunity_id")
        n = len(opp)
        to_labels, to_c = factorize_labels(to_stage, name="to_stage")
        fr_labels, fr_c = factorize_labels(from_stage, name="from_stage", missing="code")
        stages, inv = factorize_labels(np.concatenate([to_labels, fr_labels]), name="stage")
        to_codes = inv[: len(to_labels)][to_c]
        from_codes = np.append(inv[len(to_labels) :], -1)[fr_c]  # code -1 stays -1
        if amount is None:
            amt = np.full(n, np.nan)
        else:  # NaN is "no amount"; infinity and negative amounts are refused with their row
            amt = as_float_array(amount, name="amount", allow_nan=True)
            check_nonnegative(amt, name="amount")
        if owner_ids is None:
            own, own_labels = np.zeros(n, dtype=np.int64), np.array([""])
        else:
            own_labels, own = factorize_labels(owner_ids, name="owner_id")
        if products is None:
            prod, prod_labels = np.full(n, -1, dtype=np.int64), np.array([], dtype=str)
        else:
            prod_labels, prod = factorize_labels(products, name="product", missing="code")
        extra: dict[str, Any] = {}
        if probability is not None:
            extra["probability"] = as_float_array(probability, name="probability", allow_nan=True)
        if by is not None:
            extra["by_ids"], extra["by"] = factorize_labels(by, name="by")
        if reasons is not None:
            extra["reason_labels"], extra["reason"] = factorize_labels(
                reasons, name="reasons", missing="code"
            )
        if recorded_at is not None:
            extra["recorded_at"] = parse_timestamps(recorded_at, name="recorded_at")
        if categories is not None:
            extra["category_labels"], extra["category"] = factorize_labels(
                categories, name="categories", missing="code"
            )
        if currencies is not None:
            extra["currency_labels"], extra["currency"] = _currencies(currencies, n)
        if funnel_versions is not None:
            extra["funnel_version"] = _versions(funnel_versions)
        return cls(
            opp,
            as_int_array(sequence, name="sequence"),
            from_codes,
            to_codes,
            parse_timestamps(at, name="at"),
            amt,
            own,
            prod,
            opp_labels,
            stages,
            own_labels,
            prod_labels,
            **extra,
        )

    @classmethod
    def from_events(cls, events: Iterable[StageChange]) -> StageHistory:
        """Build from :class:`~crmcore.model.StageChange` records."""
        ev = list(events)
        return cls.from_arrays(
            opportunity_ids=np.array([e.opportunity_id for e in ev], dtype=str),
            sequence=[e.sequence for e in ev],
            from_stage=[e.from_stage for e in ev],
            to_stage=[e.to_stage for e in ev],
            at=[e.at for e in ev],
            amount=[np.nan if e.amount is None else float(e.amount.amount) for e in ev],
            owner_ids=np.array([e.owner_id or e.by for e in ev], dtype=str),
            products=[e.product for e in ev],
            probability=[np.nan if e.probability is None else e.probability for e in ev],
            by=np.array([e.by for e in ev], dtype=str),
            reasons=[e.reason for e in ev],
            recorded_at=(
                [e.recorded_at for e in ev]
                if ev and all(e.recorded_at is not None for e in ev)
                else None
            ),
            categories=[e.forecast_category for e in ev],
            currencies=[None if e.amount is None else e.amount.currency for e in ev],
            funnel_versions=np.array([e.funnel_version or 0 for e in ev], dtype=np.int64),
        )

    @classmethod
    def from_frame(cls, frame: Any, *, columns: dict[str, str] | None = None) -> StageHistory:
        """Build from a pandas or polars DataFrame (a LazyFrame is collected), a pyarrow Table
        or a mapping of column name to array: the pipeline's stage history from a data
        warehouse or another CRM's export.

        Columns are named as :meth:`to_columns` names them (so
        ``from_frame(history.to_pandas())`` gives the history back): ``opportunity_id``,
        ``sequence``, ``from_stage`` (missing: a creation event), ``to_stage`` and ``at``
        are needed; ``amount``, ``owner_id``, ``product``, ``probability``, ``by``,
        ``reason``, ``forecast_category``, ``currency``, ``recorded_at`` and ``funnel_version`` are read where
        the frame has them, with the rules of :meth:`from_arrays`. ``columns`` maps the
        frame's own names to these (``{"deal": "opportunity_id"}``); a pandas index level
        counts as a column. An ``owner_id`` column that is empty everywhere means no owners.

        >>> import pandas as pd
        >>> df = pd.DataFrame({"deal": ["d1", "d1"], "sequence": [0, 1],
        ...     "from_stage": [None, "lead"], "to_stage": ["lead", "won"],
        ...     "at": pd.to_datetime(["2025-01-02", "2025-01-09"], utc=True), "amount": [100.0, 120.0]})
        >>> h = StageHistory.from_frame(df, columns={"deal": "opportunity_id"})
        >>> h.stages.tolist(), h.to_stage.tolist(), h.amount.tolist()
        (['lead', 'won'], [0, 1], [100.0, 120.0])
        >>> StageHistory.from_frame(h.to_pandas()).to_columns()["to_stage"].tolist()
        ['lead', 'won']
        """
        cols = renamed(FrameColumns.of(frame), columns, allowed=_FRAME_ARGS)
        missing = [c for c in _FRAME_REQUIRED if not cols.has(c)]
        if missing:
            cols.values(missing[0])  # raises, naming the column and what the frame has
        args: dict[str, Any] = {}
        for column, arg in _FRAME_ARGS.items():
            if not cols.has(column):
                continue
            if column in _FRAME_NUMBERS or column in _FRAME_TIMES:
                args[arg] = cols.values(column)
            else:
                args[arg] = cols.raw(column)
        owners = args.get("owner_ids")
        if owners is not None and bool(missing_mask(np.asarray(owners, dtype=object)).all()):
            del args["owner_ids"]  # "" everywhere: the history has no owners
        return cls.from_arrays(**args)

    def to_columns(self) -> Columns:
        """The columns as a dict of arrays (ids and names per row, not codes), named as
        :meth:`from_frame` reads them; the optional columns where the history has them.

        >>> h = StageHistory.from_arrays(opportunity_ids=["o"], sequence=[0], from_stage=[None],
        ...                              to_stage=["lead"], at=["2025-01-01"])
        >>> list(h.to_columns())
        ['opportunity_id', 'sequence', 'from_stage', 'to_stage', 'at', 'amount', 'owner_id', 'product']
        """
        return self._columns()

    def sorted(self) -> StageHistory:
        """Rows ordered by opportunity, then sequence."""
        order = np.lexsort((self.sequence, self.opportunity))
        return attrs.evolve(
            self,
            opportunity=self.opportunity[order],
            sequence=self.sequence[order],
            from_stage=self.from_stage[order],
            to_stage=self.to_stage[order],
            at=self.at[order],
            amount=self.amount[order],
            owner=self.owner[order],
            product=self.product[order],
            **{
                name: getattr(self, name)[order]
                for name in _OPTIONAL_ROWS
                if getattr(self, name) is not None
            },
        )

    def _columns(self) -> Columns:
        cols: Columns = {
            "opportunity_id": self.opportunity_ids[self.opportunity],
            "sequence": self.sequence,
            "from_stage": decode(self.stages, self.from_stage),
            "to_stage": decode(self.stages, self.to_stage),
            "at": self.at,
            "amount": self.amount,
            "owner_id": self.owner_ids[self.owner],
            "product": decode(self.products, self.product),
        }
        if self.probability is not None:
            cols["probability"] = self.probability
        optional = (
            ("by", self.by, self.by_ids),
            ("reason", self.reason, self.reason_labels),
            ("forecast_category", self.category, self.category_labels),
            ("currency", self.currency, self.currency_labels),
        )
        for name, codes, labels in optional:
            if codes is not None and labels is not None:
                cols[name] = decode(labels, codes)
        if self.recorded_at is not None:
            cols["recorded_at"] = self.recorded_at
        if self.funnel_version is not None:
            cols["funnel_version"] = self.funnel_version
        return cols
