"""Pipeline hygiene: close dates that keep slipping, deals nobody is working on, overdue follow-ups.

Two reports a sales manager reads every week:

* :func:`close_date_slippage` -- how often and how far each deal's expected
  close date was pushed out, per deal and per rep, from the history of
  expected-close changes (``(deal, at, old, new)``: the field-change events
  of ``expected_close``, or any table of them, see :class:`CloseDateChanges`).
  With a unit of work: ``CloseDateChanges.from_field_history(
  uow.opportunities.read_changes(funnel=..., fields=["expected_close"]), owners=fh)``.
  A *push* is a change to a later date, a *pull-in* one to an earlier date;
  setting a date where there was none, or clearing it, is neither.
* :func:`pipeline_hygiene` -- for the deals open at ``as_of``: those with
  no next activity (no planned activity at all), those with overdue
  activities (planned, due before ``as_of``), and stale or missing close
  dates (an expected close date before the day of ``as_of``, or none);
  per deal and per rep (the deal's owner).

>>> from datetime import date
>>> ch = CloseDateChanges.from_arrays(
...     opportunity_ids=["a", "a", "a", "b"], owner_ids=["ann", "ann", "ann", "bob"],
...     at=["2025-01-05", "2025-02-03", "2025-03-01", "2025-02-10"],
...     old=[None, "2025-01-31", "2025-02-28", "2025-03-31"],
...     new=["2025-01-31", "2025-02-28", "2025-04-30", "2025-03-15"])
>>> s = close_date_slippage(ch)
>>> s.deals, s.pushes.tolist(), s.days_pushed.tolist(), s.pull_ins.tolist()
(('a', 'b'), [2, 0], [89, 0], [0, 1])
>>> s.reps, s.rep_deals_pushed.tolist(), s.rep_pushes.tolist()
(('ann', 'bob'), [1, 0], [2, 0])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, texts
from crmcore._messages import show
from crmcore._results import array
from crmcore.arrays import IntArray
from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels
from crmcore.model._fields import tuple_of
from crmcore.model.activity import Activity, ActivityStatus
from crmcore.model.opportunity import Opportunity
from crmcore.options import expect_items
from crmcore.pipeline.history import FunnelHistory
from crmcore.tables import FieldHistory
from crmcore.timestamps import as_instant, parse_timestamps

__all__ = [
    "CloseDateChanges",
    "Hygiene",
    "Slippage",
    "close_date_slippage",
    "pipeline_hygiene",
]

DAYS = npt.NDArray[np.datetime64]
_FIELD = "expected_close"


def _dates(values: Any, *, name: str, n: int) -> DAYS:
    """Calendar dates (``datetime64[D]``, NaT for none) from dates, ISO date strings or datetime64."""
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        out = arr.astype("M8[D]")
    else:
        items = list(arr.ravel()) if arr.ndim else [arr.item()]
        days: list[Any] = []
        for i, v in enumerate(items):
            if v is None or (isinstance(v, float) and v != v):
                days.append(np.datetime64("NaT", "D"))
            elif isinstance(v, datetime):  # a time where a calendar date goes
                raise ValidationError(f"'{name}[{i}]' must be a date, not a datetime: {v!r}")
            elif isinstance(v, date):
                days.append(np.datetime64(v, "D"))
            elif isinstance(v, str):
                try:
                    days.append(np.datetime64(date.fromisoformat(v), "D"))
                except ValueError:
                    raise ValidationError(
                        f"'{name}[{i}]' must be an ISO date (YYYY-MM-DD): {show(v)}"
                    ) from None
            else:
                raise ValidationError(f"'{name}[{i}]' must be a date or None: {show(v)}")
        out = np.array(days, dtype="M8[D]")
    if out.shape != (n,):
        raise ValidationError(f"{name!r} must have one date per change ({n}): shape {out.shape}")
    return out


@attrs.frozen(eq=False)
class CloseDateChanges(Tabular):
    """Changes of deals' expected close dates as columns, one row per change.

    ``opportunity`` codes into ``opportunity_ids``; ``at`` when the change
    took effect (UTC); ``old`` / ``new`` the expected close dates before and
    after (``datetime64[D]``, NaT for none); ``owner`` codes into
    ``owner_ids`` (the rep the change counts for: the deal's owner).
    """

    opportunity: IntArray = attrs.field(validator=array("i", scan=False))
    at: npt.NDArray[np.datetime64] = attrs.field(
        validator=array("M", length="opportunity", scan=False)
    )
    old: DAYS = attrs.field(validator=array("M", length="opportunity", scan=False))
    new: DAYS = attrs.field(validator=array("M", length="opportunity", scan=False))
    owner: IntArray = attrs.field(validator=array("i", length="opportunity", scan=False))
    opportunity_ids: npt.NDArray[Any] = attrs.field(validator=array("O"))
    owner_ids: npt.NDArray[Any] = attrs.field(validator=array("O"))

    def __len__(self) -> int:
        return len(self.opportunity)

    @classmethod
    def from_arrays(
        cls,
        *,
        opportunity_ids: npt.ArrayLike,
        at: Any,
        old: Any,
        new: Any,
        owner_ids: npt.ArrayLike | None = None,
    ) -> CloseDateChanges:
        """Build from per-row arrays: deal id, effective time, old and new date (None: no date).

        Without ``owner_ids`` every change counts for the rep ``""`` (no per-rep split).

        >>> CloseDateChanges.from_arrays(opportunity_ids=["a"], at=["2025-01-01"], old=[None],
        ...                              new=["2025-01-31T12:00"])
        Traceback (most recent call last):
        crmcore.errors.ValidationError: 'new[0]' must be an ISO date (YYYY-MM-DD): '2025-01-31T12:00'
        """
        ids, opp = factorize_labels(opportunity_ids, name="opportunity_id")
        n = len(opp)
        when = parse_timestamps(at, name="at")
        if when.shape != (n,):
            raise ValidationError(f"'at' must have one time per change ({n}): shape {when.shape}")
        if owner_ids is None:
            owners, own = np.array([""], dtype=object), np.zeros(n, dtype=np.int64)
        else:
            owners, own = factorize_labels(owner_ids, name="owner_id")
            if own.shape != (n,):
                raise ValidationError(
                    f"'owner_ids' must have one owner per change ({n}): shape {own.shape}"
                )
        return cls(
            opp,
            when,
            _dates(old, name="old", n=n),
            _dates(new, name="new", n=n),
            own,
            np.asarray(ids, dtype=object),
            np.asarray(owners, dtype=object),
        )

    @classmethod
    def from_events(
        cls, events: Iterable[Any], *, owners: Mapping[str, str] | None = None
    ) -> CloseDateChanges:
        """Build from field-change events (any records with ``opportunity_id``, ``field``, ``at``,
        ``old``, ``new`` and ``by``, such as ``crmcore.model.FieldChange``); events of other
        fields are skipped. A change counts for ``owners[deal]`` when given, else for its ``by``.

        >>> from types import SimpleNamespace as Ev
        >>> from datetime import datetime, timezone
        >>> t = datetime(2025, 2, 1, tzinfo=timezone.utc)
        >>> ch = CloseDateChanges.from_events([
        ...     Ev(opportunity_id="a", field="expected_close", at=t, by="ann",
        ...        old=date(2025, 2, 28), new=date(2025, 3, 31)),
        ...     Ev(opportunity_id="a", field="amount", at=t, by="ann", old=None, new=None)])
        >>> len(ch), ch.new.astype(str).tolist()
        (1, ['2025-03-31'])
        """
        if isinstance(events, str | bytes | Mapping) or not isinstance(events, Iterable):
            raise ValidationError(f"'events' must be a collection of field changes: {show(events)}")
        rows = []
        for i, e in enumerate(events):
            try:
                if e.field != _FIELD:
                    continue
                rows.append((e.opportunity_id, e.at, e.old, e.new, e.by))
            except AttributeError:
                raise ValidationError(
                    f"'events[{i}]' must be a field change (opportunity_id, field, at, old, new, "
                    f"by): {show(e)}"
                ) from None
        who = [
            owners.get(r[0], r[4]) if owners is not None else r[4] for r in rows
        ]  # one per change
        return cls.from_arrays(
            opportunity_ids=np.array([r[0] for r in rows], dtype=object),
            at=[r[1] for r in rows],
            old=np.array([r[2] for r in rows] or [], dtype=object),
            new=np.array([r[3] for r in rows] or [], dtype=object),
            owner_ids=np.array(who, dtype=object),
        )

    @classmethod
    def from_field_history(
        cls,
        changes: FieldHistory,
        *,
        owners: Mapping[str, str] | FunnelHistory | None = None,
        known_at: datetime | np.datetime64 | str | None = None,
    ) -> CloseDateChanges:
        """Build from a repository's field changes (``uow.opportunities.read_changes(...)``):
        the ``expected_close`` rows, recorded by ``known_at`` when given. A change counts for
        the deal's owner in ``owners`` (a mapping, or a FunnelHistory: the owner at its
        ``as_of``), else for who made it.

        >>> from datetime import datetime, timezone
        >>> from crmcore.model import FieldChange
        >>> from crmcore.tables import FieldHistory
        >>> t = datetime(2025, 2, 1, tzinfo=timezone.utc)
        >>> fc = FieldHistory.from_changes([FieldChange(opportunity_id="a", sequence=2,
        ...     field="expected_close", old=date(2025, 2, 28), new=date(2025, 4, 30), at=t,
        ...     by="ann", recorded_at=t)])
        >>> close_date_slippage(CloseDateChanges.from_field_history(fc)).days_pushed.tolist()
        [61]
        """
        if not isinstance(changes, FieldHistory):
            raise ValidationError(f"'changes' must be a FieldHistory: {show(changes)}")
        fields = [str(f) for f in changes.fields.tolist()]
        if _FIELD not in fields:
            rows = np.zeros(0, dtype=np.int64)
        else:
            mine = changes.field == fields.index(_FIELD)
            if known_at is not None:
                mine &= changes.recorded_at <= as_instant(known_at, name="known_at")
            rows = np.flatnonzero(mine)
        ids = changes.opportunity_ids[changes.opportunity[rows]]
        if isinstance(owners, FunnelHistory):
            owners = dict(
                zip(
                    (str(x) for x in owners.opportunity_ids[owners.opportunity_codes]),
                    (str(x) for x in owners.owner_ids[owners.owner]),
                    strict=True,
                )
            )
        by = changes.by_ids[changes.by[rows]]
        who = [
            owners.get(str(d), str(b)) if owners is not None else str(b)
            for d, b in zip(ids.tolist(), by.tolist(), strict=True)
        ]
        return cls.from_arrays(
            opportunity_ids=np.asarray(ids, dtype=object),
            at=changes.at[rows],
            old=changes.old[rows],
            new=changes.new[rows],
            owner_ids=np.array(who, dtype=object),
        )

    def _columns(self) -> Columns:
        return {
            "opportunity_id": self.opportunity_ids[self.opportunity],
            "at": self.at,
            "old": self.old,
            "new": self.new,
            "owner_id": self.owner_ids[self.owner],
        }


@attrs.frozen(eq=False)
class Slippage(Tabular):
    """Expected-close changes per deal and per rep (see :func:`close_date_slippage`).

    Per deal (``deals``, sorted): ``changes``, ``pushes`` (to a later date),
    ``pull_ins`` (to an earlier date), ``days_pushed`` (the days added by the
    pushes), ``first_close`` (the first date known: the ``old`` of its first
    change, else that change's ``new``) and ``current_close`` (the ``new`` of
    its last change; NaT when cleared), ``slipped_days`` (``current_close -
    first_close`` in days, NaN when either is unknown). Per rep (``reps``):
    ``rep_deals`` with a change, ``rep_deals_pushed`` with at least one push,
    ``rep_pushes`` and ``rep_days_pushed``.
    """

    deals: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a deal id"))
    owner: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a rep id"))
    changes: IntArray = attrs.field(validator=array("i", lo=0))
    pushes: IntArray = attrs.field(validator=array("i", lo=0, length="changes"))
    pull_ins: IntArray = attrs.field(validator=array("i", lo=0, length="changes"))
    days_pushed: IntArray = attrs.field(validator=array("i", lo=0, length="changes"))
    first_close: DAYS = attrs.field(validator=array("M", length="changes", scan=False))
    current_close: DAYS = attrs.field(validator=array("M", length="changes", scan=False))
    slipped_days: npt.NDArray[np.float64] = attrs.field(
        validator=array(length="changes", nan="a close date unknown at either end")
    )
    reps: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a rep id"))
    rep_deals: IntArray = attrs.field(validator=array("i", lo=0))
    rep_deals_pushed: IntArray = attrs.field(validator=array("i", lo=0, length="rep_deals"))
    rep_pushes: IntArray = attrs.field(validator=array("i", lo=0, length="rep_deals"))
    rep_days_pushed: IntArray = attrs.field(validator=array("i", lo=0, length="rep_deals"))

    def _columns(self) -> Columns:
        return {
            "opportunity_id": texts(self.deals),
            "owner_id": texts(self.owner),
            "changes": self.changes,
            "pushes": self.pushes,
            "pull_ins": self.pull_ins,
            "days_pushed": self.days_pushed,
            "first_close": self.first_close,
            "current_close": self.current_close,
            "slipped_days": self.slipped_days,
        }


def close_date_slippage(
    changes: CloseDateChanges, *, as_of: datetime | np.datetime64 | str | None = None
) -> Slippage:
    """Pushes of the expected close date per deal and per rep, from the changes before ``as_of``.

    A deal counts for the rep of its last change (its owner then).

    >>> ch = CloseDateChanges.from_arrays(opportunity_ids=["a", "a"], owner_ids=["ann", "bob"],
    ...     at=["2025-01-05", "2025-03-01"], old=["2025-01-31", "2025-02-28"],
    ...     new=["2025-02-28", "2025-05-31"])
    >>> s = close_date_slippage(ch, as_of="2025-02-01")
    >>> s.owner, s.pushes.tolist(), s.slipped_days.tolist()
    (('ann',), [1], [28.0])
    >>> close_date_slippage(ch).slipped_days.tolist()
    [120.0]
    """
    if not isinstance(changes, CloseDateChanges):
        raise ValidationError(f"'changes' must be a CloseDateChanges: {show(changes)}")
    keep = np.ones(len(changes), dtype=bool)
    if as_of is not None:
        keep = changes.at < as_instant(as_of, name="as_of")
    opp, at = changes.opportunity[keep], changes.at[keep]
    old, new, own = changes.old[keep], changes.new[keep], changes.owner[keep]
    order = np.lexsort((at, opp))
    opp, old, new, own = opp[order], old[order], new[order], own[order]
    deals, code = np.unique(opp, return_inverse=True)
    k = len(deals)
    both = ~np.isnat(old) & ~np.isnat(new)
    step = np.where(both, (new - old).astype(np.int64), 0)
    push = both & (step > 0)
    pull = both & (step < 0)
    n_changes = np.bincount(code, minlength=k)
    pushes = np.bincount(code[push], minlength=k)
    pulls = np.bincount(code[pull], minlength=k)
    days = np.bincount(code[push], weights=step[push], minlength=k).astype(np.int64)
    first_row = np.searchsorted(code, np.arange(k), side="left")
    last_row = np.searchsorted(code, np.arange(k), side="right") - 1
    first = np.where(np.isnat(old[first_row]), new[first_row], old[first_row])
    current = new[last_row]
    slipped = np.where(
        np.isnat(first) | np.isnat(current),
        np.nan,
        (current - first).astype("m8[D]").astype(np.int64).astype(np.float64),
    )
    deal_owner = own[last_row]
    reps, rep_code = np.unique(deal_owner, return_inverse=True)
    r = len(reps)
    labels = changes.owner_ids
    return Slippage(
        deals=tuple(str(x) for x in changes.opportunity_ids[deals]),
        owner=tuple(str(labels[o]) for o in deal_owner),
        changes=n_changes.astype(np.int64),
        pushes=pushes.astype(np.int64),
        pull_ins=pulls.astype(np.int64),
        days_pushed=days,
        first_close=first.astype("M8[D]"),
        current_close=current.astype("M8[D]"),
        slipped_days=slipped,
        reps=tuple(str(labels[o]) for o in reps),
        rep_deals=np.bincount(rep_code, minlength=r).astype(np.int64),
        rep_deals_pushed=np.bincount(rep_code[pushes > 0], minlength=r).astype(np.int64),
        rep_pushes=np.bincount(rep_code, weights=pushes, minlength=r).astype(np.int64),
        rep_days_pushed=np.bincount(rep_code, weights=days, minlength=r).astype(np.int64),
    )


@attrs.frozen(eq=False)
class Hygiene(Tabular):
    """The state of the open deals at ``as_of`` (see :func:`pipeline_hygiene`).

    Per open deal (``deals``, sorted, with their ``owner``):
    ``next_activity`` (the earliest due time of its planned activities; NaT
    when none has a due time or there is none), ``planned`` and ``overdue``
    (planned activities, and those due before ``as_of``), ``no_next_activity``
    (no planned activity at all), ``expected_close``, ``stale_close`` (an
    expected close date before the day of ``as_of``) and ``no_close_date``.
    Per rep (``reps``, the owners): ``rep_open`` deals, and how many of them
    have no next activity, overdue activities, a stale close date, no close
    date; ``rep_overdue_activities`` counts the rep's own overdue planned
    activities (whoever owns the deal, or no deal at all).
    """

    as_of: np.datetime64 = attrs.field(validator=array("M", ndim=None))
    deals: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a deal id"))
    owner: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a rep id"))
    next_activity: npt.NDArray[np.datetime64] = attrs.field(validator=array("M", scan=False))
    planned: IntArray = attrs.field(validator=array("i", lo=0, length="next_activity"))
    overdue: IntArray = attrs.field(validator=array("i", lo=0, length="next_activity"))
    no_next_activity: npt.NDArray[np.bool_] = attrs.field(
        validator=array("b", length="next_activity")
    )
    expected_close: DAYS = attrs.field(validator=array("M", length="next_activity", scan=False))
    stale_close: npt.NDArray[np.bool_] = attrs.field(validator=array("b", length="next_activity"))
    no_close_date: npt.NDArray[np.bool_] = attrs.field(validator=array("b", length="next_activity"))
    reps: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a rep id"))
    rep_open: IntArray = attrs.field(validator=array("i", lo=0))
    rep_no_next_activity: IntArray = attrs.field(validator=array("i", lo=0, length="rep_open"))
    rep_with_overdue: IntArray = attrs.field(validator=array("i", lo=0, length="rep_open"))
    rep_stale_close: IntArray = attrs.field(validator=array("i", lo=0, length="rep_open"))
    rep_no_close_date: IntArray = attrs.field(validator=array("i", lo=0, length="rep_open"))
    rep_overdue_activities: IntArray = attrs.field(validator=array("i", lo=0, length="rep_open"))

    def lines(self) -> list[str]:
        """A plain-text table, one line per rep.

        >>> from datetime import datetime, timezone
        >>> o = Opportunity(id="o", customer_id="c", owner_id="ann", funnel="f", stage="s",
        ...                 created_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
        >>> print(pipeline_hygiene([o], [], as_of="2025-02-01").lines()[1])
        ann             1           1             0            0              1              0
        """
        out = [
            f"{'rep':<10} {'open':>5} {'no next act':>11} {'overdue deals':>13} "
            f"{'stale close':>12} {'no close date':>14} {'overdue acts':>14}"
        ]
        for i, r in enumerate(self.reps):
            out.append(
                f"{r:<10} {self.rep_open[i]:>5d} {self.rep_no_next_activity[i]:>11d} "
                f"{self.rep_with_overdue[i]:>13d} {self.rep_stale_close[i]:>12d} "
                f"{self.rep_no_close_date[i]:>14d} {self.rep_overdue_activities[i]:>14d}"
            )
        return out

    def _columns(self) -> Columns:
        return {
            "opportunity_id": texts(self.deals),
            "owner_id": texts(self.owner),
            "next_activity": self.next_activity,
            "planned": self.planned,
            "overdue": self.overdue,
            "no_next_activity": self.no_next_activity,
            "expected_close": self.expected_close,
            "stale_close": self.stale_close,
            "no_close_date": self.no_close_date,
        }


def _micros(t: datetime | None) -> np.datetime64:
    if t is None:
        return np.datetime64("NaT", "us")
    return np.datetime64(t.replace(tzinfo=None), "us")


def pipeline_hygiene(
    deals: Sequence[Opportunity],
    activities: Sequence[Activity],
    *,
    as_of: datetime | np.datetime64 | str,
) -> Hygiene:
    """Deals open at ``as_of`` without a next activity, with overdue activities, with stale or
    missing close dates; per deal and per rep (see :class:`Hygiene`).

    ``deals`` are opportunities as they are (a deal counts when it was
    created before ``as_of`` and is not closed); ``activities`` are the
    reps' activities (planned ones count; done and cancelled ones do not).

    >>> from datetime import datetime, timezone
    >>> t = lambda d: datetime(2025, 3, d, 9, tzinfo=timezone.utc)
    >>> deals = [
    ...     Opportunity(id="a", customer_id="c", owner_id="ann", funnel="f", stage="s",
    ...                 created_at=t(1), expected_close=date(2025, 3, 31)),
    ...     Opportunity(id="b", customer_id="c", owner_id="ann", funnel="f", stage="s",
    ...                 created_at=t(1), expected_close=date(2025, 3, 5)),
    ...     Opportunity(id="c", customer_id="c", owner_id="bob", funnel="f", stage="s",
    ...                 created_at=t(1))]
    >>> acts = [Activity(id="x", kind="call", rep_id="ann", opportunity_id="a", due_at=t(20)),
    ...         Activity(id="y", kind="visit", rep_id="bob", opportunity_id="c", due_at=t(6))]
    >>> h = pipeline_hygiene(deals, acts, as_of=t(10))
    >>> h.deals, h.no_next_activity.tolist(), h.overdue.tolist(), h.stale_close.tolist()
    (('a', 'b', 'c'), [False, True, False], [0, 0, 1], [False, True, False])
    >>> h.reps, h.rep_no_next_activity.tolist(), h.rep_with_overdue.tolist(), h.rep_no_close_date.tolist()
    (('ann', 'bob'), [1, 0], [0, 1], [0, 1])
    """
    cut = as_instant(as_of, name="as_of")
    opps = expect_items(deals, Opportunity, name="deals")
    acts = expect_items(activities, Activity, name="activities")
    live = sorted(
        (o for o in opps if o.closed_at is None and _micros(o.created_at) < cut), key=lambda o: o.id
    )
    ids = [o.id for o in live]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValidationError(f"'deals' holds opportunity {dup!r} twice")
    pos = {d: i for i, d in enumerate(ids)}
    n = len(live)
    planned = [a for a in acts if a.status is ActivityStatus.PLANNED]
    due = np.array([_micros(a.due_at) for a in planned], dtype="M8[us]")
    late = ~np.isnat(due) & (due < cut)
    where = np.array([pos.get(a.opportunity_id or "", -1) for a in planned], dtype=np.int64)
    mine = where >= 0
    n_planned = np.bincount(where[mine], minlength=n)
    n_overdue = np.bincount(where[mine & late], minlength=n)
    nxt = np.full(n, np.datetime64("NaT", "us"))
    dated = mine & ~np.isnat(due)
    if dated.any():
        order = np.lexsort((due[dated], where[dated]))
        w, d = where[dated][order], due[dated][order]
        first = np.flatnonzero(np.append(True, w[1:] != w[:-1]))
        nxt[w[first]] = d[first]
    close = np.array(
        [
            np.datetime64(o.expected_close, "D") if o.expected_close else np.datetime64("NaT", "D")
            for o in live
        ],
        dtype="M8[D]",
    )
    today = cut.astype("M8[D]")
    stale = ~np.isnat(close) & (close < today)
    none = np.isnat(close)
    owners = [o.owner_id for o in live]
    rep_names = sorted(set(owners) | {a.rep_id for a in planned})
    rpos = {r: i for i, r in enumerate(rep_names)}
    rc = np.array([rpos[o] for o in owners], dtype=np.int64)
    r = len(rep_names)
    act_rep = np.array([rpos[a.rep_id] for a in planned], dtype=np.int64)

    def per_rep(mask: npt.NDArray[np.bool_]) -> IntArray:
        return np.bincount(rc[mask], minlength=r).astype(np.int64)

    return Hygiene(
        as_of=cut,
        deals=tuple(ids),
        owner=tuple(owners),
        next_activity=nxt,
        planned=n_planned.astype(np.int64),
        overdue=n_overdue.astype(np.int64),
        no_next_activity=n_planned == 0,
        expected_close=close,
        stale_close=stale,
        no_close_date=none,
        reps=tuple(rep_names),
        rep_open=per_rep(np.ones(n, dtype=bool)),
        rep_no_next_activity=per_rep(n_planned == 0),
        rep_with_overdue=per_rep(n_overdue > 0),
        rep_stale_close=per_rep(stale),
        rep_no_close_date=per_rep(none),
        rep_overdue_activities=np.bincount(act_rep[late], minlength=r).astype(np.int64),
    )
