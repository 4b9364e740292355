"""``FunnelHistory``: a stage history checked against a funnel, summarised per opportunity.

Every metric and forecast starts from one :class:`FunnelHistory`: the
events of a :class:`~crmcore.tables.StageHistory` up to ``as_of`` (events at
or after it are ignored), ordered by opportunity and sequence, with their
stages mapped onto the funnel, plus per-opportunity columns (creation time,
final stage, closing time, last amount, owner, product, deepest stage
reached). Building it is a handful of vectorised passes (no Python loop per
event); build it once and pass it to several metrics.

>>> from crmcore.pipeline.presets import TOP_IN_BEST
>>> h = StageHistory.from_arrays(
...     opportunity_ids=["a", "a", "b"], sequence=[0, 1, 0],
...     from_stage=[None, "TOP", None], to_stage=["TOP", "IN", "TOP"],
...     at=["2025-01-01", "2025-01-05", "2025-01-02"], amount=[10.0, 10.0, 5.0])
>>> fh = FunnelHistory.build(h, TOP_IN_BEST)
>>> fh.n_opportunities, [TOP_IN_BEST.stage_names[s] for s in fh.final_stage]
(2, ['IN', 'TOP'])
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._results import array
from crmcore.arrays import FloatArray, IntArray
from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels
from crmcore.model._fields import instance
from crmcore.model.money import _to_currency
from crmcore.pipeline._streams import check_streams
from crmcore.pipeline.currency import RateTable, one_currency
from crmcore.pipeline.funnel import ForecastCategory, Funnel, StageKind
from crmcore.tables import FieldHistory, StageHistory
from crmcore.tables.stage_history import NO_AMOUNT, owner_labels
from crmcore.timestamps import as_instant

__all__ = ["AS_OF_FIELDS", "KIND_CODES", "FunnelHistory"]

AS_OF_FIELDS = ("amount", "owner_id", "probability", "forecast_category")
"""The edited fields a :class:`FunnelHistory` reads as of its date (from ``changes``)."""

KIND_CODES: dict[StageKind, int] = {StageKind.OPEN: 0, StageKind.WON: 1, StageKind.LOST: 2}
"""Integer codes of stage kinds in :attr:`FunnelHistory.stage_kind`."""

_CATEGORIES = tuple(ForecastCategory)
_DAY = np.timedelta64(86_400_000_000, "us")
DT64 = npt.NDArray[np.datetime64]


def _wsum(codes: npt.NDArray[Any], *, weights: npt.ArrayLike, minlength: int) -> FloatArray:
    """Weighted counts per code (``np.bincount`` with weights, typed as float64).

    >>> _wsum(np.array([0, 2, 2]), weights=[1.0, 2.0, 3.0], minlength=3).tolist()
    [1.0, 0.0, 5.0]
    """
    out: FloatArray = np.bincount(codes, weights=weights, minlength=minlength).astype(
        np.float64, copy=False
    )
    return out


def _days_between(start: DT64, end: DT64) -> FloatArray:
    """Elapsed days (float) from ``start`` to ``end``, element-wise.

    >>> _days_between(np.array(["2025-01-01"], dtype="M8[us]"), np.array(["2025-01-02T12"], dtype="M8[us]"))
    array([1.5])
    """
    out: FloatArray = (end - start) / _DAY
    return out


@attrs.frozen(eq=False)
class FunnelHistory:
    """A :class:`StageHistory` up to ``as_of``, mapped onto ``funnel`` (see the module docstring).

    Event columns (ordered by opportunity, then sequence): ``ev_opp``
    (0..n-1), ``ev_stage`` / ``ev_from`` (funnel stage index, -1 for
    creation), ``ev_at``, ``ev_amount``, ``ev_reason`` (index into
    ``reasons``, -1 for none), ``ev_exit`` (time of the opportunity's next
    event, NaT for its last). ``ev_amount`` and ``amount`` are NaN where the
    deal had no amount (the one meaning of NaN there: reports leave it out of
    sums and count it as ``missing_amounts``). Opportunity columns: ``opportunity_codes``
    (codes into the source history's ``opportunity_ids``), ``created``,
    ``entered`` (when the current stage was entered), ``final_stage``,
    ``closed_at`` (NaT while open), ``amount``, ``owner``, ``product``,
    ``max_rank`` (deepest open rank reached, ``n_open_stages`` once won),
    ``probability`` (the chance of winning at ``as_of``: a rep's own, else the
    stage's) and ``category`` (index into :class:`ForecastCategory` at
    ``as_of``: a rep's override while the deal is open, else the stage's);
    amount, owner, probability and category are those true at ``as_of``. Stage tables: ``stage_kind`` (see :data:`KIND_CODES`), ``stage_probability``,
    ``stage_category`` (index into :class:`ForecastCategory`), ``stage_rank``.
    Every amount is in ``currency`` (None: the history gave no currency; see
    :meth:`build` and :mod:`crmcore.pipeline.currency`).
    """

    funnel: Funnel = attrs.field(validator=instance(Funnel, "a Funnel"))
    as_of: np.datetime64 = attrs.field(validator=array("M", ndim=None))
    ev_opp: IntArray = attrs.field(validator=array("i", scan=False))
    ev_stage: IntArray = attrs.field(validator=array("i", length="ev_opp", scan=False))
    ev_from: IntArray = attrs.field(validator=array("i", length="ev_opp", scan=False))
    ev_at: DT64 = attrs.field(validator=array("M", length="ev_opp", scan=False))
    ev_amount: FloatArray = attrs.field(validator=array(lo=0, nan=NO_AMOUNT, length="ev_opp"))
    ev_owner: IntArray = attrs.field(validator=array("i", length="ev_opp", scan=False))
    ev_reason: IntArray = attrs.field(validator=array("i", length="ev_opp", scan=False))
    ev_exit: DT64 = attrs.field(validator=array("M", length="ev_opp", scan=False))
    opportunity_codes: IntArray = attrs.field(
        validator=array("i", length="final_stage", scan=False)
    )
    created: DT64 = attrs.field(validator=array("M", length="final_stage", scan=False))
    entered: DT64 = attrs.field(validator=array("M", length="final_stage", scan=False))
    final_stage: IntArray = attrs.field(validator=array("i", scan=False))
    closed_at: DT64 = attrs.field(validator=array("M", length="final_stage", scan=False))
    amount: FloatArray = attrs.field(validator=array(lo=0, nan=NO_AMOUNT, length="final_stage"))
    owner: IntArray = attrs.field(validator=array("i", length="final_stage", scan=False))
    product: IntArray = attrs.field(validator=array("i", length="final_stage", scan=False))
    max_rank: IntArray = attrs.field(validator=array("i", length="final_stage", scan=False))
    stage_kind: IntArray = attrs.field(validator=array("i", scan=False))
    stage_probability: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="stage_kind"))
    stage_category: IntArray = attrs.field(validator=array("i", length="stage_kind", scan=False))
    stage_rank: IntArray = attrs.field(validator=array("i", length="stage_kind", scan=False))
    opportunity_ids: npt.NDArray[Any] = attrs.field(validator=array("O"))  # unique: one pass
    owner_ids: npt.NDArray[Any] = attrs.field(validator=owner_labels)  # "" = no owner
    products: npt.NDArray[Any] = attrs.field(validator=array("O"))
    reasons: npt.NDArray[Any] = attrs.field(validator=array("O"))
    probability: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="final_stage"))
    category: IntArray = attrs.field(validator=array("i", length="final_stage", scan=False))
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )

    @property
    def n_opportunities(self) -> int:
        """How many opportunities have at least one event before ``as_of``."""
        return len(self.final_stage)

    @property
    def n_open_stages(self) -> int:
        """How many open stages the funnel has (the won rank)."""
        return int(np.count_nonzero(self.stage_kind == 0))

    @property
    def is_open(self) -> npt.NDArray[np.bool_]:
        """Per opportunity: still open at ``as_of``."""
        out: npt.NDArray[np.bool_] = self.stage_kind[self.final_stage] == 0
        return out

    @property
    def is_won(self) -> npt.NDArray[np.bool_]:
        """Per opportunity: won by ``as_of``."""
        out: npt.NDArray[np.bool_] = self.stage_kind[self.final_stage] == 1
        return out

    @property
    def is_lost(self) -> npt.NDArray[np.bool_]:
        """Per opportunity: lost by ``as_of`` (and not reopened)."""
        out: npt.NDArray[np.bool_] = self.stage_kind[self.final_stage] == 2
        return out

    @classmethod
    def build(
        cls,
        history: StageHistory,
        funnel: Funnel,
        *,
        as_of: datetime | np.datetime64 | str | None = None,
        reasons: Sequence[str | None] | npt.ArrayLike | None = None,
        known_at: datetime | np.datetime64 | str | None = None,
        changes: FieldHistory | None = None,
        currency: str | None = None,
        rates: RateTable | None = None,
    ) -> FunnelHistory:
        """Check ``history`` against ``funnel`` and summarise it (events before ``as_of`` only,
        and, with ``known_at``, recorded by then: the history's ``recorded_at`` column).

        ``reasons`` is an optional column aligned with the history's rows
        (the ``StageChange.reason`` of each event; a missing value of
        :mod:`crmcore.labels` -- None, NaN, "" -- for none), or
        the same as ``(codes, labels)`` with code -1 for none (the fast
        path); it feeds the lost-reason breakdown; without it, the reasons of the
        moves into lost stages in the history's own ``reason`` column are used, when
        it has one. Without ``as_of``, every event is
        used and ``as_of`` is one microsecond after the last one. ``changes`` are the
        deals' field changes (a :class:`~crmcore.tables.FieldHistory`, as a repository's
        ``read_changes`` gives them): an edit of the amount, owner, probability or
        forecast category after a deal's last move before ``as_of`` (and recorded by
        ``known_at``) sets the value at ``as_of``.

        Money in one currency (the history's ``currency`` column; an amount edit's
        own currency): amounts in several currencies are refused unless ``rates``
        (a :class:`~crmcore.pipeline.currency.RateTable`) is given; then they are
        converted into ``currency`` (default: the table's base), each event's amount
        at the rate of its day, each deal's amount at its close date (closed deals)
        or at ``as_of`` (open deals). ``currency`` alone requires every amount to be
        in it (the amounts of a history without currencies are taken to be).

        >>> from crmcore.pipeline.presets import B2B
        >>> h = StageHistory.from_arrays(opportunity_ids=["a"], sequence=[0], from_stage=[None],
        ...                              to_stage=["pitch"], at=["2025-01-01"])
        >>> FunnelHistory.build(h, B2B)
        Traceback (most recent call last):
        crmcore.errors.ValidationError: 'to_stage' holds stage 'pitch', which funnel 'b2b' does not have; stages are ['lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost']
        """
        names = funnel.stage_names
        index = {n: i for i, n in enumerate(names)}
        unknown = [s for s in history.stages.tolist() if s not in index]
        if unknown:
            raise ValidationError(
                f"'to_stage' holds stage {unknown[0]!r}, which funnel {funnel.name!r} does not "
                f"have; stages are {list(names)}"
            )
        lut = np.array([index[s] for s in history.stages.tolist()] + [-1], dtype=np.int64)
        n_all = len(history)
        reason_codes: IntArray
        if reasons is None and history.reason is not None:
            assert history.reason_labels is not None  # given together (StageHistory checks it)
            lost_stage = [funnel.stage(str(x)).kind is StageKind.LOST for x in history.stages]
            lost = np.array(lost_stage, dtype=bool)[history.to_stage]
            used = np.where(lost, history.reason, -1)
            labels_used, used = np.unique(used, return_inverse=True)
            if len(labels_used) and labels_used[0] == -1:
                used, labels_used = used - 1, labels_used[1:]
            reasons = (used.astype(np.int64), history.reason_labels[labels_used])
        if reasons is None:
            reason_codes = np.full(n_all, -1, dtype=np.int64)
            reason_labels: npt.NDArray[Any] = np.array([], dtype=str)
        elif isinstance(reasons, tuple) and len(reasons) == 2:
            reason_codes = np.asarray(reasons[0])
            reason_labels = np.asarray(reasons[1]).astype(str)
            if (
                reason_codes.dtype.kind not in "iu"
                or reason_codes.shape != (n_all,)
                or (n_all and (reason_codes.min() < -1 or reason_codes.max() >= len(reason_labels)))
            ):
                raise ValidationError(
                    f"'reasons' as (codes, labels) needs {n_all} integer codes in "
                    f"[-1, {len(reason_labels) - 1}]"
                )
            reason_codes = reason_codes.astype(np.int64, copy=False)
        else:
            reason_labels, reason_codes = factorize_labels(reasons, name="reasons", missing="code")
            if reason_codes.shape != (n_all,):
                raise ValidationError(
                    f"'reasons' must have one entry per history row ({n_all}): "
                    f"shape {reason_codes.shape}"
                )
        at_all = history.at
        if as_of is None:
            cut = (at_all.max() if n_all else np.datetime64("1970-01-01", "us")) + np.timedelta64(
                1, "us"
            )
        else:
            cut = as_instant(as_of, name="as_of")
        opp_all, seq_all = history.opportunity, history.sequence
        in_order = n_all < 2 or bool(
            np.all(
                (opp_all[1:] > opp_all[:-1])
                | ((opp_all[1:] == opp_all[:-1]) & (seq_all[1:] > seq_all[:-1]))
            )
        )
        keep = at_all < cut
        seen = None if known_at is None else as_instant(known_at, name="known_at")
        if seen is not None and history.recorded_at is not None:
            keep &= history.recorded_at <= seen
        if in_order:
            rows = np.flatnonzero(keep) if not keep.all() else None
        else:
            order = np.lexsort((seq_all, opp_all))
            rows = order[keep[order]]

        def take(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return a if rows is None else a[rows]

        opp_src = take(opp_all)
        n = len(opp_src)
        stage = lut[take(history.to_stage)]
        frm = lut[take(history.from_stage)]  # -1 maps to the appended -1
        at = take(at_all)
        new = np.empty(n, dtype=bool)
        if n:
            new[0] = True
            np.not_equal(opp_src[1:], opp_src[:-1], out=new[1:])
        # the rules of a deal's event stream, as the repositories enforce them on write
        check_streams(
            history.opportunity_ids, opp_src, take(seq_all), frm, stage, at, funnel.stage_names
        )
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:] - 1, n - 1) if n else starts
        ev_opp = np.cumsum(new, dtype=np.int64) - 1
        ev_exit = np.empty(n, dtype="M8[us]")
        if n:
            ev_exit[:-1] = at[1:]
            ev_exit[ends] = np.datetime64("NaT")
        kind = np.array([KIND_CODES[s.kind] for s in funnel.stages], dtype=np.int64)
        rank = np.array([funnel.rank(s) for s in names], dtype=np.int64)
        prob = np.array([s.probability for s in funnel.stages], dtype=np.float64)
        cat = np.array(
            [_CATEGORIES.index(s.forecast_category) for s in funnel.stages],
            dtype=np.int64,
        )
        final = stage[ends]
        last_at = at[ends]
        closed_at = np.where(kind[final] != 0, last_at, np.datetime64("NaT"))
        max_rank = np.maximum.reduceat(rank[stage], starts) if n else np.zeros(0, dtype=np.int64)
        amount = take(history.amount)
        latest = _Latest.of(
            funnel,
            stage,
            ends,
            final,
            None if history.probability is None else take(history.probability),
            None
            if history.category is None
            else _category_codes(take(history.category), history.category_labels),
        )
        owner_ids, ev_owner = history.owner_ids, take(history.owner)
        per_owner = ev_owner[ends]
        amount_last = amount[ends]
        edited_currency: dict[int, str] = {}
        if changes is not None and len(changes):
            owner_ids, ev_owner, per_owner = latest.apply(
                changes,
                cut=cut,
                seen=seen,
                history=history,
                opportunity_codes=opp_src[starts],
                last_sequence=take(history.sequence)[ends],
                amount=amount_last,
                owner=(owner_ids, ev_owner, per_owner),
                currency_of=edited_currency,
            )
        amount, amount_last, money = _in_one_currency(
            history,
            take,
            amount,
            amount_last,
            edited_currency,
            ends=ends,
            days=at,
            deal_days=np.where(kind[final] != 0, last_at, cut),
            currency=currency,
            rates=rates,
        )
        return cls(
            funnel=funnel,
            as_of=cut,
            ev_opp=ev_opp,
            ev_stage=stage,
            ev_from=frm,
            ev_at=at,
            ev_amount=amount,
            ev_owner=ev_owner,
            ev_reason=take(reason_codes),
            ev_exit=ev_exit,
            opportunity_codes=opp_src[starts],
            created=at[starts],
            entered=last_at,
            final_stage=final,
            closed_at=closed_at,
            amount=amount_last,
            owner=per_owner,
            product=take(history.product)[ends],
            max_rank=max_rank.astype(np.int64, copy=False),
            stage_kind=kind,
            stage_probability=prob,
            stage_category=cat,
            stage_rank=rank,
            opportunity_ids=history.opportunity_ids,
            owner_ids=owner_ids,
            products=history.products,
            reasons=reason_labels,
            probability=latest.probability,
            category=latest.category,
            currency=money,
        )

    def select(self, keep: npt.ArrayLike) -> FunnelHistory:
        """The history of the opportunities where ``keep`` (one bool per opportunity) is True.

        >>> from crmcore.pipeline.presets import TOP_IN_BEST
        >>> h = StageHistory.from_arrays(opportunity_ids=["a", "b"], sequence=[0, 0],
        ...     from_stage=[None, None], to_stage=["TOP", "IN"], at=["2025-01-01", "2025-01-02"])
        >>> fh = FunnelHistory.build(h, TOP_IN_BEST).select([False, True])
        >>> fh.n_opportunities, fh.opportunity_ids[fh.opportunity_codes].tolist()
        (1, ['b'])
        """
        mask = np.asarray(keep)
        if mask.dtype != bool or mask.shape != (self.n_opportunities,):
            raise ValidationError(
                f"'keep' must hold one bool per opportunity ({self.n_opportunities}): "
                f"{mask.dtype} of shape {mask.shape}"
            )
        rows = mask[self.ev_opp]
        renumber = np.cumsum(mask, dtype=np.int64) - 1
        ev = {name: getattr(self, name)[rows] for name in _EVENT_COLUMNS}
        per = {name: getattr(self, name)[mask] for name in _OPPORTUNITY_COLUMNS}
        return attrs.evolve(self, ev_opp=renumber[self.ev_opp[rows]], **ev, **per)


_EVENT_COLUMNS = (
    "ev_stage",
    "ev_from",
    "ev_at",
    "ev_amount",
    "ev_owner",
    "ev_reason",
    "ev_exit",
)
_OPPORTUNITY_COLUMNS = (
    "opportunity_codes",
    "created",
    "entered",
    "final_stage",
    "closed_at",
    "amount",
    "owner",
    "product",
    "max_rank",
    "probability",
    "category",
)


def _category_codes(codes: IntArray, labels: npt.NDArray[Any] | None) -> IntArray:
    """Codes into a history's category labels as indices into :class:`ForecastCategory` (-1:
    none; a label that is not a category is refused)."""
    assert labels is not None  # given together with the codes (StageHistory checks it)
    lut = np.array([_category_index(str(x)) for x in labels.tolist()] + [-1], dtype=np.int64)
    out: IntArray = lut[codes]
    return out


def _category_index(label: str) -> int:
    try:
        return _CATEGORIES.index(ForecastCategory(label))
    except ValueError:
        raise ValidationError(
            f"'categories' holds {label!r}, which is not a forecast category; categories are "
            f"{[c.value for c in _CATEGORIES]}"
        ) from None


@attrs.define
class _Latest:
    """Per opportunity: probability and forecast category at ``as_of`` (moves, then edits)."""

    probability: FloatArray
    category: IntArray
    override: IntArray  # a rep's category (-1: none), in force while the deal is open
    is_open: npt.NDArray[np.bool_]
    stage_category: IntArray

    @classmethod
    def of(
        cls,
        funnel: Funnel,
        stage: IntArray,
        ends: IntArray,
        final: IntArray,
        ev_probability: FloatArray | None,
        ev_category: IntArray | None,
    ) -> _Latest:
        prob = np.array([s.probability for s in funnel.stages], dtype=np.float64)
        cat = np.array([_CATEGORIES.index(s.forecast_category) for s in funnel.stages])
        is_open = np.array([s.kind is StageKind.OPEN for s in funnel.stages])[final]
        p = prob[final]
        if ev_probability is not None:
            last = ev_probability[ends]
            p = np.where(np.isnan(last), p, last)
        override = (
            np.full(len(final), -1, dtype=np.int64) if ev_category is None else ev_category[ends]
        )
        out = cls(p, cat[final].astype(np.int64), override, is_open, cat[final].astype(np.int64))
        out._settle()
        return out

    def _settle(self) -> None:
        use = self.is_open & (self.override >= 0)
        self.category = np.where(use, self.override, self.stage_category)

    def apply(
        self,
        changes: FieldHistory,
        *,
        cut: np.datetime64,
        seen: np.datetime64 | None,
        history: StageHistory,
        opportunity_codes: IntArray,
        last_sequence: IntArray,
        amount: FloatArray,
        owner: tuple[npt.NDArray[Any], IntArray, IntArray],
        currency_of: dict[int, str] | None = None,
    ) -> tuple[npt.NDArray[Any], IntArray, IntArray]:
        """Apply the edits made after each deal's last visible move; returns the owner labels
        and the (re-coded) event and per-deal owner codes. ``amount`` is changed in place
        (and ``currency_of`` gets the currency of each edited amount)."""
        if not isinstance(changes, FieldHistory):
            raise ValidationError(
                f"'changes' must be a FieldHistory (FieldHistory.from_changes(...) for "
                f"FieldChange records): {type(changes).__name__}"
            )
        ids = history.opportunity_ids
        if len(ids) == 0:
            return owner
        fields = [str(f) for f in changes.fields.tolist()]
        wanted = np.array([f in AS_OF_FIELDS for f in fields] + [False])[changes.field]
        rows = wanted & (changes.at < cut)
        if seen is not None:
            rows &= changes.recorded_at <= seen
        # each change's deal, among those of the history (-1: none)
        code = np.searchsorted(ids, changes.opportunity_ids)
        known = code < len(ids)
        known[known] = ids[code[known]] == changes.opportunity_ids[known]
        where = np.full(len(ids), -1, dtype=np.int64)
        where[opportunity_codes] = np.arange(len(opportunity_codes))
        deal = np.where(known, where[np.minimum(code, len(ids) - 1)], -1)[changes.opportunity]
        rows &= deal >= 0
        rows[rows] &= changes.sequence[rows] > last_sequence[deal[rows]]
        idx = np.flatnonzero(rows)
        # the last change of each (deal, field): rows are in sequence order within a deal
        key = deal[idx] * len(fields) + changes.field[idx]
        order = np.lexsort((changes.sequence[idx], key))
        last = np.append(key[order][1:] != key[order][:-1], True)[: len(idx)]
        owners: dict[int, str] = {}
        for i in idx[order][last].tolist():
            j, field, new = int(deal[i]), fields[changes.field[i]], changes.new[i]
            if field == "amount":
                amount[j] = np.nan if new is None else float(new.amount)
                if new is not None and currency_of is not None:
                    currency_of[j] = new.currency
            elif field == "owner_id":
                owners[j] = str(new)
            elif field == "probability":
                self.probability[j] = new
            else:
                self.override[j] = -1 if new is None else _category_index(str(new))
        self._settle()
        labels, ev_owner, per_owner = owner
        if owners:
            merged = np.union1d(labels.astype(str), np.array(sorted(set(owners.values()))))
            recode = np.searchsorted(merged, labels.astype(str))
            ev_owner, per_owner = recode[ev_owner], recode[per_owner]
            for j, name in owners.items():
                per_owner[j] = int(np.searchsorted(merged, name))
            labels = merged.astype(object)
        return labels, ev_owner, per_owner


def _in_one_currency(
    history: StageHistory,
    take: Any,
    amount: FloatArray,
    amount_last: FloatArray,
    edited: dict[int, str],
    *,
    ends: IntArray,
    days: DT64,
    deal_days: DT64,
    currency: str | None,
    rates: RateTable | None,
) -> tuple[FloatArray, FloatArray, str | None]:
    """The events' and the deals' amounts in one currency, and that currency (the one rule of
    :mod:`crmcore.pipeline.currency`, applied to both at once)."""
    if history.currency is None and not edited and rates is None:  # no currency anywhere
        return amount, amount_last, None if currency is None else _to_currency(currency)
    labels = [] if history.currency_labels is None else [str(c) for c in history.currency_labels]
    codes = (
        np.full(len(amount), -1, dtype=np.int64)
        if history.currency is None
        else take(history.currency)
    )
    deal_codes = codes[ends].copy()
    for j, code in edited.items():
        if code not in labels:
            labels.append(code)
        deal_codes[j] = labels.index(code)
    both, money = one_currency(
        np.concatenate([amount, amount_last]),
        np.concatenate([codes, deal_codes]),
        labels,
        None if rates is None else np.concatenate([days, deal_days]),  # days: to convert only
        currency=currency,
        rates=rates,
    )
    if rates is None:  # checked, nothing converted
        return amount, amount_last, money
    return both[: len(amount)], both[len(amount) :], money
