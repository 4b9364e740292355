"""The CRM's own health: adoption, the share of the business it represents, data quality.

"A CRM is only as good as its data": its success is measured by user adoption and
by the share of the business actually recorded in it. :func:`crm_health` reads a
unit of work (customers, interactions, activities, opportunities; every read
through the repository protocols) and measures over the period ``[start, end)``:

* **adoption** per rep, per team and for all (:class:`RepAdoption`): interactions
  and done activities logged per working day (Monday to Friday, less
  ``holidays``), the share of the owned customers touched (a recorded interaction
  or done activity about them), and the share of won revenue whose deal went
  through the pipeline (created in an open stage, not straight into a won one)
  with at least one recorded activity or interaction about the deal;
* **completeness and freshness** per field and per source (:class:`FieldQuality`):
  customers by acquisition channel, opportunities by funnel;
* **duplicates and consent** per source (:class:`SourceQuality`): customers in a
  pair of :func:`crmcore.ingest.find_duplicate_customers` with a score of at least
  ``min_duplicate_score``, and customers with contact consent;
* **trends** by calendar month (:class:`MonthlyHealth`), so a manager sees whether
  the figures improve after a change.

Erased customers are left out everywhere. Touches are counted from the rows as
stored: an interaction about a customer that is not stored counts for its rep's
logging, never for a share of customers.

>>> from datetime import datetime, timezone
>>> from crmcore.model import Customer, Consent, Interaction
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.customers.add(Customer(id="c-1", name="Ada", owner_id="ann",
...                                    consent=Consent(contact=True)))
...     _ = uow.customers.add(Customer(id="c-2", name="Bob", owner_id="ann"))
...     _ = uow.interactions.add(Interaction(id="i-1", customer_id="c-1", channel="phone",
...         direction="outbound", occurred_at=datetime(2026, 1, 5, tzinfo=timezone.utc),
...         rep_id="ann"))
...     h = crm_health(uow, start="2026-01-01", end="2026-02-01", teams={"ann": "north"})
>>> h.adoption.to_pandas()[["level", "name", "logged", "working_days", "share_touched"]]
   level   name  logged  working_days  share_touched
0    rep    ann       1            22            0.5
1   team  north       1            22            0.5
2    all  (all)       1            22            0.5
>>> h.consent_coverage
0.5
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from crmcore.errors import ValidationError
from crmcore.ingest import find_duplicate_customers
from crmcore.model import ActivityStatus, ContactKind, Customer, CustomerKind
from crmcore.model._fields import as_tuple
from crmcore.options import as_count, as_number
from crmcore.relationship._health_core import (
    CUSTOMER_FIELDS_CHECKED,
    NO_TIME,
    OPPORTUNITY_FIELDS_CHECKED,
    HealthColumns,
    compute_health,
)
from crmcore.relationship._health_tables import CRMHealth
from crmcore.relationship._won import as_won_stages, won_stages_of
from crmcore.repositories.protocols import ColumnarRecordReader, expect_unit_of_work
from crmcore.timestamps import as_date, as_datetime

__all__ = ["crm_health"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PHONES = frozenset({ContactKind.PHONE, ContactKind.MOBILE})


def _us(t: datetime) -> int:
    d = t - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


class _Phases:
    """CPU seconds per phase into ``out`` (None: nothing is measured)."""

    def __init__(self, out: dict[str, float] | None) -> None:
        self.out = out
        self.t = time.process_time()

    def lap(self, name: str) -> None:
        if self.out is not None:
            now = time.process_time()
            self.out[name] = now - self.t
            self.t = now


class _Codes(dict[str, int]):
    """Labels to codes in the order first seen."""

    def code(self, label: str | None) -> int:
        if label is None:
            return -1
        c = self.get(label)
        if c is None:
            c = self[label] = len(self)
        return c


def _teams(teams: Any) -> dict[str, str]:
    if teams is None:
        return {}
    if not isinstance(teams, Mapping):
        raise ValidationError(f"'teams' must map rep ids to team names: {type(teams).__name__}")
    for rep, team in teams.items():
        if not isinstance(rep, str) or not isinstance(team, str) or not team:
            raise ValidationError(f"'teams' must map rep ids to team names: {rep!r}: {team!r}")
    return dict(teams)


def _holidays(holidays: Any) -> tuple[date, ...]:
    items = as_tuple(holidays)
    if not isinstance(items, tuple):
        raise ValidationError(f"'holidays' must be a list of dates: {holidays!r}")
    return tuple(as_date(h, name=f"holidays[{i}]") for i, h in enumerate(items))


def crm_health(
    uow: Any,
    *,
    start: Any,
    end: Any,
    teams: Mapping[str, str] | None = None,
    won_stages: Sequence[str] | None = None,
    holidays: Sequence[Any] = (),
    stale_after: int = 365,
    min_duplicate_score: float = 0.8,
) -> CRMHealth:
    """The health of the CRM's data over ``[start, end)`` (see the module docstring).

    ``teams`` maps rep ids to team names (reps not in it are in the team ``"(none)"``);
    ``won_stages`` names the stages that mean a won deal (None: each deal's funnel's stages
    of kind won, see :func:`~crmcore.relationship.plan_reminders`' ``WinFollowUp``); ``holidays`` are left out of the
    working days; ``stale_after`` (days) is the age beyond which an update is stale.
    Won amounts must share one currency (a deal without an amount counts as 0).

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     crm_health(uow, start="2026-02-01", end="2026-01-01")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'end' must be after 'start' (2026-02-01T00:00:00+00:00): 2026-01-01T00:00:00+00:00
    """
    uow = expect_unit_of_work(uow)
    lo_t, hi_t = as_datetime(start, name="start"), as_datetime(end, name="end")
    if hi_t <= lo_t:
        raise ValidationError(
            f"'end' must be after 'start' ({lo_t.isoformat()}): {hi_t.isoformat()}"
        )
    team_map = _teams(teams)
    won = as_won_stages(won_stages)
    hol = _holidays(holidays)
    stale = as_count(stale_after, name="stale_after", high=1_000_000)
    min_score = as_number(min_duplicate_score, name="min_duplicate_score", low=0, high=1)
    cols, currency = read_health_columns(uow, end=hi_t, won_stages=won, min_score=min_score)
    return compute_health(
        cols,
        start=lo_t,
        end=hi_t,
        teams=team_map,
        holidays=hol,
        stale_after=stale,
        currency=currency,
    )


def read_health_columns(
    uow: Any,
    *,
    end: datetime,
    won_stages: frozenset[str] | None,
    min_score: float,
    phases: dict[str, float] | None = None,
) -> tuple[HealthColumns, str | None]:
    """One reading of the repositories into :class:`HealthColumns` (and the won currency);
    ``phases`` (when given) receives the CPU seconds of each phase (the benchmark's)."""
    clock = _Phases(phases)
    reps = _Codes()
    sources = _Codes()
    index: dict[str, int] = {}
    customers: list[Customer] = []
    owner: list[int] = []
    source: list[int] = []
    acquired: list[int] = []
    consent: list[bool] = []
    flags: list[tuple[bool, ...]] = []
    persons: list[bool] = []
    hi = _us(end)
    for c in uow.customers.iter(batch_size=10_000):
        if c.erased:
            continue
        index[c.id] = len(customers)
        customers.append(c)
        owner.append(reps.code(c.owner_id))
        source.append(sources.code(c.acquisition_channel or "(unknown)"))
        acquired.append(NO_TIME if c.acquired_at is None else _us(c.acquired_at))
        consent.append(c.consent.contact)
        kinds = {cp.kind for cp in c.contact_points}
        flags.append(
            (
                ContactKind.EMAIL in kinds,
                bool(kinds & _PHONES),
                c.birthday is not None,
                c.address is not None,
                c.acquisition_channel is not None,
                c.acquired_at is not None,
                c.owner_id is not None,
                c.segment is not None,
            )
        )
        persons.append(c.kind is CustomerKind.PERSON)
    n = len(customers)
    clock.lap("customers")
    in_pair: set[str] = set()
    for p in find_duplicate_customers(customers, min_score=min_score):
        in_pair.add(p.first_id)
        in_pair.add(p.second_id)
    duplicate = np.fromiter((c.id in in_pair for c in customers), dtype=bool, count=n)
    filled = np.array(flags, dtype=bool).reshape(n, len(CUSTOMER_FIELDS_CHECKED))
    applies = np.ones_like(filled)
    applies[:, CUSTOMER_FIELDS_CHECKED.index("birthday")] = np.array(persons, dtype=bool)
    clock.lap("duplicates")
    touches, linked = _touches(uow, end, index, reps)
    clock.lap("touches")
    won_cols, opp_cols, currency = _opportunities(uow, end, hi, won_stages, linked, reps)
    clock.lap("opportunities")
    # reps in order of their ids (the rows of the adoption table), whatever read saw them first
    names = sorted(reps)
    rank_of = {r: i for i, r in enumerate(names)}
    rank = np.array([rank_of[r] for r in reps] + [-1], dtype=np.int64)
    touches["touch_rep"] = rank[touches["touch_rep"]]
    won_cols["won_owner"] = rank[won_cols["won_owner"]]
    cols = HealthColumns(
        reps=tuple(names),
        sources=tuple(sources),
        owner=rank[np.array(owner, dtype=np.int64)],
        source=np.array(source, dtype=np.int64),
        acquired=np.array(acquired, dtype=np.int64),
        consent=np.array(consent, dtype=bool),
        duplicate=duplicate,
        filled=filled,
        applies=applies,
        **touches,
        **won_cols,
        **opp_cols,
    )
    return cols, currency


def _touches(
    uow: Any, end: datetime, index: Mapping[str, int], reps: _Codes
) -> tuple[dict[str, Any], set[str]]:
    """The touches before ``end`` (interactions and done activities) by customer row and by
    rep code, and the opportunities they are about: columnar reads where the repositories
    have them (:class:`~crmcore.repositories.ColumnarRecordReader`), else the records."""
    parts: list[tuple[Any, ...]] = []  # (customer rows, their times, rep codes, their times)
    linked: set[str] = set()
    hi = _us(end)
    for repo, at in ((uow.interactions, "occurred_at"), (uow.activities, "done_at")):
        if isinstance(repo, ColumnarRecordReader):
            parts.append(_touch_columns(repo, at, hi, index, reps, linked))
        else:
            parts.append(_touch_records(repo, at, end, index, reps, linked))
    cat = [np.concatenate([p[i] for p in parts]) for i in range(4)]
    cols = {"touch_customer": cat[0], "touch_time": cat[1], "touch_rep": cat[2]}
    return {**cols, "rep_touch_time": cat[3]}, linked


def _touch_columns(
    repo: ColumnarRecordReader,
    time: str,
    hi: int,
    index: Mapping[str, int],
    reps: _Codes,
    linked: set[str],
) -> tuple[Any, ...]:
    """One repository's touches by columnar reads: (customer, time), (rep, time) and the
    linked opportunities, each an index scan in SQL. Activities are read whole (their time
    range is on the due or the done time) and kept when done (a done time) before ``hi``."""
    ranged = time == "occurred_at"
    end = _from_us(hi) if ranged else None
    out: list[Any] = []
    for who, to_code in (
        ("customer_id", lambda lab: index.get(lab, -1)),
        ("rep_id", reps.code),
    ):
        cols = repo.read_columns([who, time], end=end)
        at = cols.times(time).view(np.int64)
        keep = (at != NO_TIME) & (at < hi)
        codes = cols.codes(who)[keep]
        labels = cols.labels[who]
        table = np.full(len(labels) + 1, -1, dtype=np.int64)
        for c in np.unique(codes[codes >= 0]).tolist():  # only the values of kept rows
            table[c] = to_code(labels[c])  # (a rep is registered by a touch of the period)
        out.extend((table[codes], at[keep]))
    if ranged:  # interactions: the deals of the range are the opportunity column's values
        linked.update(repo.read_columns(["opportunity_id"], end=end).labels["opportunity_id"])
    else:
        cols = repo.read_columns(["opportunity_id", time])
        at = cols.times(time).view(np.int64)
        keep = (at != NO_TIME) & (at < hi)
        codes = np.unique(cols.codes("opportunity_id")[keep])
        labels = cols.labels["opportunity_id"]
        linked.update(labels[c] for c in codes.tolist() if c >= 0)
    return tuple(out)


def _touch_records(
    repo: Any, time: str, end: datetime, index: Mapping[str, int], reps: _Codes, linked: set[str]
) -> tuple[Any, ...]:
    """One repository's touches from its records (a repository without ``read_columns``)."""
    cust: list[int] = []
    rep: list[int] = []
    at: list[int] = []
    records = repo.iter(end=end, batch_size=10_000) if time == "occurred_at" else repo.list(end=end)
    for r in records:
        if time == "done_at" and (r.status is not ActivityStatus.DONE or r.done_at is None):
            continue
        t = getattr(r, time)
        if t >= end:
            continue
        cust.append(-1 if r.customer_id is None else index.get(r.customer_id, -1))
        rep.append(reps.code(r.rep_id))
        at.append(_us(t))
        if r.opportunity_id is not None:
            linked.add(r.opportunity_id)
    c, tr, t_ = (np.array(v, dtype=np.int64) for v in (cust, rep, at))
    return c, t_, tr, t_


def _opportunities(
    uow: Any,
    end: datetime,
    hi: int,
    won_stages: frozenset[str] | None,
    linked: set[str],
    reps: _Codes,
) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    opps = [o for o in uow.opportunities.list() if o.created_at < end]
    w_owner, w_time, w_amount, w_rep = [], [], [], []
    currencies: set[str] = set()
    won_of = won_stages_of(uow, won_stages)
    for o in opps:
        won = won_of(o.funnel)
        if o.closed_at is None or o.stage not in won:
            continue
        amount = 0.0
        if o.amount is not None:
            currencies.add(o.amount.currency)
            amount = float(o.amount.amount)
        first = uow.opportunities.history(o.id)
        piped = bool(first) and first[0].to_stage not in won
        w_owner.append(reps.code(o.owner_id))
        w_time.append(_us(o.closed_at))
        w_amount.append(amount)
        w_rep.append(piped and o.id in linked)
    if len(currencies) > 1:
        raise ValidationError(
            f"won deals must share one currency to be added up: {sorted(currencies)}"
        )
    funnels = _Codes()
    f_code = [funnels.code(o.funnel) for o in opps]
    names = OPPORTUNITY_FIELDS_CHECKED
    filled = np.array(
        [[o.value_of(f) is not None for f in names] for o in opps], dtype=bool
    ).reshape(len(opps), len(names))
    updated = np.array([[_us(o.created_at)] * len(names) for o in opps], dtype=np.int64).reshape(
        len(opps), len(names)
    )
    if opps:
        changes = uow.opportunities.read_changes(fields=list(names), end=end)
        pos = {oid: i for i, oid in enumerate(o.id for o in opps)}
        rows = np.array([pos.get(x, -1) for x in changes.opportunity_ids], dtype=np.int64)
        col = np.array([names.index(f) for f in changes.fields], dtype=np.int64)
        r, f = rows[changes.opportunity], col[changes.field]
        at = changes.at.astype(np.int64)
        ok = (r >= 0) & (at < hi)
        np.maximum.at(updated, (r[ok], f[ok]), at[ok])
    won_cols = {
        "won_owner": np.array(w_owner, dtype=np.int64),
        "won_time": np.array(w_time, dtype=np.int64),
        "won_amount": np.array(w_amount, dtype=np.float64),
        "won_represented": np.array(w_rep, dtype=bool),
    }
    opp_cols = {
        "funnels": tuple(funnels),
        "opp_funnel": np.array(f_code, dtype=np.int64),
        "opp_filled": filled,
        "opp_updated": updated,
    }
    return won_cols, opp_cols, next(iter(currencies), None)
