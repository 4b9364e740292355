"""Occasions of reminder rules: the customers as columns and, per rule, the occasions whose
reminder falls due in a window of days (birthdays, anniversaries, renewals and won deals,
resolved service cases, quiet customers, low P(alive)), each with its explanation.

:func:`_occasions` is what :func:`~crmcore.relationship.plan_reminders` calls for each rule;
days are numbers of days since 1970-01-01, windows ``[lo, hi)``.

>>> _day_text(0), _days(1), _ordinal(22)
('1970-01-01', '1 day', '22nd')
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.errors import ValidationError
from crmcore.model import ContactKind
from crmcore.model.transaction import TransactionKind
from crmcore.relationship._reminder_rules import (
    Anniversary,
    Birthday,
    CaseFollowUp,
    DormantCustomer,
    LowPAlive,
    ReminderRule,
    ReminderRules,
    Renewal,
    WinFollowUp,
)
from crmcore.relationship._won import as_won_stages, won_deals
from crmcore.repositories._customers import CustomerColumns, customer_columns
from crmcore.repositories.protocols import CustomerColumnReader, ServiceCaseUnitOfWork
from crmcore.timestamps import as_date

__all__: list[str] = []

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_DAY = int(np.datetime64("0001-01-01", "D").astype(np.int64))
_MAX_DAY = int(np.datetime64("9999-12-31", "D").astype(np.int64))


# -- the customers as columns -------------------------------------------------------------------


class _Customers:
    """The customers' columns the rules read (from :class:`CustomerColumns`), one row per
    customer in id order; ``index`` (id -> row) is built when a rule first needs it."""

    def __init__(self, cols: CustomerColumns) -> None:
        self.ids = cols.ids
        self.owner = cols.owner_ids
        self.segment = cols.segments
        self.contact = cols.contact_consent
        self.erased = cols.erased
        self.has_email = cols.reachable(ContactKind.EMAIL)
        self.has_phone = cols.reachable(ContactKind.PHONE, ContactKind.MOBILE)
        self.has_address = cols.has_address
        b = cols.birthdays
        has_b = ~np.isnat(b)
        months = b.astype("datetime64[M]")
        self.b_month = np.where(has_b, months.astype(np.int64) % 12 + 1, 0)
        self.b_day = np.where(has_b, (b - months.astype("datetime64[D]")).astype(np.int64) + 1, 0)
        self.b_year = np.where(has_b, b.astype("datetime64[Y]").astype(np.int64) + 1970, 0)
        acq = cols.acquired_at
        self.acq_day = np.where(
            np.isnat(acq), _NONE, acq.astype("datetime64[D]").astype(np.int64)
        ).astype(np.int64)
        self._index: dict[str, int] | None = None

    @property
    def index(self) -> dict[str, int]:
        """Row of each customer id (for the rules that look up a few customers)."""
        if self._index is None:
            self._index = {cid: i for i, cid in enumerate(self.ids.tolist())}
        return self._index

    def row_of(self, ids: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        """Rows of many ids (-1 where the customer is not stored): a binary search in the
        ids as fixed-width text when they are in strictly increasing code-point order (as
        ``read_columns`` gives them), else the :attr:`index`."""
        if len(ids) == 0 or len(self.ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        have = self.ids.astype(str)
        want = np.asarray(ids, dtype=object).astype(str)
        if bool(np.all(have[1:] > have[:-1])):  # ids hold no NUL, which fixed width drops
            pos = np.minimum(np.searchsorted(have, want), len(have) - 1)
            return np.where(have[pos] == want, pos, -1).astype(np.int64)
        get = self.index.get
        return np.fromiter((get(i, -1) for i in ids), dtype=np.int64, count=len(ids))


_NONE = np.iinfo(np.int64).min


def _read_customers(uow: Any) -> _Customers:
    """Every customer as columns: ``customers.read_columns()`` when the repository is a
    :class:`CustomerColumnReader`, else one pass over ``customers.iter()``."""
    repo = uow.customers
    if isinstance(repo, CustomerColumnReader):
        cols = repo.read_columns()
    else:
        cols = customer_columns(repo.iter(batch_size=10_000))
    return _Customers(cols)


# -- occasions ----------------------------------------------------------------------------------


@attrs.frozen
class _Found:
    """Occasions of one rule: customer rows, due days, occasion texts and explanations."""

    rows: npt.NDArray[np.int64]
    due: npt.NDArray[np.int64]
    occasions: list[str]
    because: list[str]
    opportunity_ids: list[str | None]
    reps: list[str | None]  # the rep the occasion names (a deal's owner), None: the customer's


_EPOCH_ORD = _EPOCH.toordinal()


def _day_text(day: int) -> str:
    """``YYYY-MM-DD`` of a day number (days since 1970-01-01)."""
    return date.fromordinal(int(day) + _EPOCH_ORD).isoformat()


def _yearly(
    months: npt.NDArray[np.int64],
    days: npt.NDArray[np.int64],
    lo: int,
    hi: int,
    ahead: int,
) -> Iterator[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """For each year whose occasions can fall due in ``[lo, hi)``: (year, positions, occasion
    days) of the month/day pairs whose reminder (``ahead`` days before) is due then."""
    y0 = int(str(np.datetime64(lo, "D"))[:4]) if lo > _MIN_DAY else 1
    y1 = int(str(np.datetime64(min(hi - 1 + ahead, _MAX_DAY), "D"))[:4])
    for year in range(max(y0, 1), min(y1, 9999) + 1):
        start = np.datetime64(f"{year:04d}-01", "M") + (months - 1)
        first = start.astype("datetime64[D]").astype(np.int64)
        nxt = (start + 1).astype("datetime64[D]").astype(np.int64)
        occ = first + np.minimum(days, nxt - first) - 1
        due = occ - ahead
        pos = np.flatnonzero((due >= lo) & (due < hi))
        if len(pos):
            yield year, pos, occ[pos]


def _birthdays(rule: Birthday, cs: _Customers, lo: int, hi: int, set_name: str) -> _Found:
    has = np.flatnonzero(cs.b_month > 0)
    rows, dues, occs, why = [], [], [], []
    for year, pos, occ in _yearly(cs.b_month[has], cs.b_day[has], lo, hi, rule.days_ahead):
        born = cs.b_year[has[pos]] <= year  # no birthday before the birth
        r, occ = has[pos[born]], occ[born]
        rows.append(r)
        dues.append(occ - rule.days_ahead)
        for i, o in zip(r.tolist(), occ.tolist(), strict=True):
            text = _day_text(o)
            occs.append(text)
            why.append(
                f"Birthday of customer {cs.ids[i]} on {text} ({_of(rule, set_name)}, "
                f"{_days(rule.days_ahead)} ahead)"
            )
    return _found(rows, dues, occs, why)


def _anniversaries(rule: Anniversary, cs: _Customers, lo: int, hi: int, set_name: str) -> _Found:
    has = np.flatnonzero(cs.acq_day != _NONE)
    acq = cs.acq_day[has].astype("datetime64[D]")
    years = acq.astype("datetime64[Y]")
    months = (acq.astype("datetime64[M]") - years.astype("datetime64[M]")).astype(np.int64) + 1
    days = (acq - acq.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    acq_year = years.astype(np.int64) + 1970
    wanted = set(rule.years)
    rows, dues, occs, why = [], [], [], []
    for year, pos, occ in _yearly(months, days, lo, hi, rule.days_ahead):
        n = year - acq_year[pos]
        keep = n >= 1
        if wanted:
            keep &= np.isin(n, list(wanted))
        r, o_days, n = has[pos[keep]], occ[keep], n[keep]
        rows.append(r)
        dues.append(o_days - rule.days_ahead)
        for i, o, k in zip(r.tolist(), o_days.tolist(), n.tolist(), strict=True):
            text = _day_text(o)
            occs.append(text)
            why.append(
                f"{_ordinal(k)} anniversary of the relationship with customer {cs.ids[i]} "
                f"on {text} ({_of(rule, set_name)}, {_days(rule.days_ahead)} ahead)"
            )
    return _found(rows, dues, occs, why)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _days(n: int) -> str:
    return f"{n} day" + ("" if n == 1 else "s")


def _of(rule: ReminderRule, set_name: str) -> str:
    return f"rule {rule.name!r} of {set_name!r}"


def _found(
    rows: list[Any],
    dues: list[Any],
    occs: list[str],
    why: list[str],
    opps: list[str | None] | None = None,
    reps: list[str | None] | None = None,
) -> _Found:
    r = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    d = np.concatenate(dues).astype(np.int64) if dues else np.zeros(0, np.int64)
    return _Found(r, d, occs, why, opps or [None] * len(occs), reps or [None] * len(occs))


def _read_cases(uow: Any, rules: ReminderRules, hi: int) -> list[Any] | None:
    """The resolved service cases a :class:`CaseFollowUp` of ``rules`` can fall due for in a
    window ending at day ``hi`` (None: the unit of work has no service cases). A case opens no
    later than it is resolved, so only cases opened before ``hi - min(after_days)`` can: one
    range read on the opening time."""
    if not isinstance(uow, ServiceCaseUnitOfWork):
        return None
    end = hi - min(r.after_days for r in rules.rules if isinstance(r, CaseFollowUp))
    if end <= _MIN_DAY:
        return []
    bound = None if end > _MAX_DAY else _EPOCH + timedelta(days=end)
    return [c for c in uow.service_cases.iter(end=bound, batch_size=10_000) if c.resolved_at]


def _case_follow_ups(
    rule: CaseFollowUp,
    cs: _Customers,
    cases: list[Any],
    lo: int,
    hi: int,
    set_name: str,
    skipped: list[tuple[ReminderRule, str, str, str, int]],
) -> _Found:
    rows, dues, occs, why, reps = [], [], [], [], []
    below = rule.below_satisfaction
    for c in cases:
        resolved = c.resolved_at.toordinal() - _EPOCH_ORD
        due = resolved + rule.after_days
        if not lo <= due < hi or due > _MAX_DAY:
            continue
        sat = c.satisfaction
        if sat is None:
            if below is not None and not rule.unrated:
                continue
            score = "no satisfaction recorded"
        elif below is not None and sat >= below:
            continue
        else:
            score = f"satisfaction {sat}" + ("" if below is None else f" < {below}")
        row = cs.index.get(c.customer_id, -1)
        if row < 0:
            skipped.append((rule, c.customer_id, c.id, "the customer is not stored", due))
            continue
        rows.append(row)
        dues.append(due)
        occs.append(c.id)
        reps.append(c.owner_id)
        why.append(
            f"Follow-up {_days(rule.after_days)} after service case {c.id} ({c.category}, "
            f"{c.priority.value} priority) of customer {c.customer_id} was resolved on "
            f"{_day_text(resolved)}, {score} ({_of(rule, set_name)})"
        )
    return _Found(
        np.array(rows, dtype=np.int64),
        np.array(dues, dtype=np.int64),
        occs,
        why,
        [None] * len(occs),
        list(reps),
    )


def _deals(
    rule: Renewal | WinFollowUp,
    uow: Any,
    cs: _Customers,
    opportunities: list[Any],
    lo: int,
    hi: int,
    set_name: str,
    skipped: list[tuple[ReminderRule, str, str, str, int]],
) -> _Found:
    rows, dues, occs, why, opps, reps = [], [], [], [], [], []
    epoch_ord = _EPOCH.toordinal()
    is_won = (
        won_deals(uow, as_won_stages(rule.won_stages)) if isinstance(rule, WinFollowUp) else None
    )
    for o in opportunities:
        row = cs.index.get(o.customer_id, -1)
        if isinstance(rule, WinFollowUp):
            if is_won is None or not is_won(o) or o.closed_at is None:
                continue
            won = o.closed_at.toordinal() - epoch_ord
            due = won + rule.after_days
            occasion = o.id
            because = (
                f"Follow-up {_days(rule.after_days)} after deal {o.id} of customer "
                f"{o.customer_id} was won on {_day_text(won)} ({_of(rule, set_name)})"
            )
            rep: str | None = o.owner_id
        else:
            value = o.custom.get(rule.field)
            if value is None:
                continue
            try:
                renew = as_date(value, name=None).toordinal() - _EPOCH_ORD
            except ValidationError:
                reason = (
                    f"deal {o.id}: custom field {rule.field!r} is not an ISO date "
                    f"(YYYY-MM-DD): {value!r}"
                )
                skipped.append((rule, o.customer_id, f"{o.id}@{value}", reason, lo))
                continue
            due = renew - rule.days_ahead
            occasion = f"{o.id}@{_day_text(renew)}"
            because = (
                f"Renewal of deal {o.id} of customer {o.customer_id} on {_day_text(renew)} "
                f"({_of(rule, set_name)}, {_days(rule.days_ahead)} ahead)"
            )
            rep = None if row >= 0 and cs.owner[row] else o.owner_id
        if not lo <= due < hi or due > _MAX_DAY:
            continue
        if row < 0:
            skipped.append((rule, o.customer_id, occasion, "the customer is not stored", due))
            continue
        rows.append(row)
        dues.append(due)
        occs.append(occasion)
        why.append(because)
        opps.append(o.id)
        reps.append(rep)
    return _Found(
        np.array(rows, dtype=np.int64), np.array(dues, dtype=np.int64), occs, why, opps, reps
    )


@attrs.frozen(eq=False)
class _Purchases:
    rows: npt.NDArray[np.int64]  # customer row per log customer (-1: not stored)
    last: npt.NDArray[np.int64]  # last purchase day per log customer
    gaps: npt.NDArray[np.int64]  # gaps between purchase days, grouped by customer, sorted
    gap_start: npt.NDArray[np.int64]  # where each log customer's gaps start in ``gaps``
    gap_count: npt.NDArray[np.int64]
    revenue: npt.NDArray[np.float64]
    log: Any


def _purchases(uow: Any, cs: _Customers, as_of: datetime) -> _Purchases:
    """The purchases strictly before ``as_of`` (the half-open ``[start, end)`` of every
    period, as :func:`~crmcore.relationship.value_state` reads them): a purchase later on
    the as_of day is not known yet."""
    log = uow.transactions.read_log(kinds=[TransactionKind.PURCHASE], end=as_of)
    n = len(log.customer_ids)
    day = log.time.astype("datetime64[D]").astype(np.int64)
    cust = log.customer.astype(np.int64)
    # distinct purchase days per customer (the log is ordered by customer, then time)
    new = np.ones(len(day), dtype=bool)
    new[1:] = (cust[1:] != cust[:-1]) | (day[1:] != day[:-1])
    dc, dd = cust[new], day[new]
    last = np.full(n, _NONE, dtype=np.int64)
    last[dc] = dd  # the last write per customer is its latest day
    same = np.zeros(len(dd), dtype=bool)
    same[1:] = dc[1:] == dc[:-1]
    gaps = (dd[1:] - dd[:-1])[same[1:]]
    gc = dc[1:][same[1:]]
    order = np.lexsort((gaps, gc))
    gaps, gc = gaps[order], gc[order]
    count = np.bincount(gc, minlength=n).astype(np.int64)
    start = np.concatenate(([0], np.cumsum(count)[:-1])).astype(np.int64)
    revenue = np.asarray(np.bincount(cust, weights=log.amount, minlength=n), dtype=np.float64)
    rows = cs.row_of(log.customer_ids)
    return _Purchases(rows, last, gaps, start, count, revenue, log)


def _dormant(
    rule: DormantCustomer, cs: _Customers, p: _Purchases, lo: int, hi: int, set_name: str
) -> _Found:
    ok = (p.gap_count >= rule.min_gaps) & (p.rows >= 0)
    idx = np.flatnonzero(ok)
    k = np.floor(rule.quantile * (p.gap_count[idx] - 1)).astype(np.int64)
    usual = p.gaps[p.gap_start[idx] + k]
    limit = np.floor(rule.factor * usual).astype(np.int64)
    due = np.maximum(p.last[idx] + limit + 1, lo)  # quiet beyond factor x usual from this day
    sel = np.flatnonzero(due < hi)
    idx, usual, due = idx[sel], usual[sel], due[sel]
    occs, why = [], []
    pct = f"{rule.quantile:.0%}"
    for j, u, g in zip(idx.tolist(), usual.tolist(), p.gap_count[idx].tolist(), strict=True):
        last = _day_text(int(p.last[j]))
        occs.append(last)
        quiet = hi - 1 - int(p.last[j])
        why.append(
            f"No purchase since {last} ({_days(quiet)} by the end of the window); customer "
            f"{p.log.customer_ids[j]}'s usual gap is {_days(int(u))} (the {pct} quantile of "
            f"{g} gaps), quiet beyond {rule.factor:g}x it ({_of(rule, set_name)})"
        )
    return _found([p.rows[idx]], [due], occs, why)


def _low_p_alive(
    rule: LowPAlive,
    cs: _Customers,
    p: _Purchases,
    lo: int,
    hi: int,
    set_name: str,
    model: Any,
    values: Mapping[str, float] | None,
) -> _Found:
    from crmcore.valuation import PurchaseModel, summarize_transactions

    if model is None or not isinstance(model, PurchaseModel):
        raise ValidationError(
            f"rule {rule.name!r} ({type(rule).__name__}) needs 'model', a fitted purchase "
            f"model (BG/NBD, Pareto/NBD, ...): {model!r}"[:300]
        )
    if len(p.log) == 0:
        return _found([], [], [], [])
    summary = summarize_transactions(
        p.log, time_unit=cast(Any, model.time_unit or "D"), observation_end=np.datetime64(lo, "D")
    )
    alive = np.asarray(model.probability_alive(summary), dtype=np.float64)
    # summary rows are the log customers with a purchase, in log order
    pos = np.searchsorted(p.log.customer_ids, summary.customer_ids)
    if values is None:
        worth = p.revenue[pos]
        what = "purchase revenue"
    else:
        worth = np.array([values.get(i, math.nan) for i in summary.customer_ids], dtype=float)
        what = "value"
    hit = (alive < rule.below) & (worth >= rule.min_value) & (p.rows[pos] >= 0)
    sel = np.flatnonzero(hit)
    occs, why = [], []
    for j in sel.tolist():
        last = _day_text(int(p.last[pos[j]]))
        occs.append(last)
        why.append(
            f"P(alive) of customer {summary.customer_ids[j]} is {alive[j]:.3f} < {rule.below:g} "
            f"with a {what} of {worth[j]:,.2f} >= {rule.min_value:,.2f}; last purchase {last} "
            f"({_of(rule, set_name)})"
        )
    return _found([p.rows[pos[sel]]], [np.full(len(sel), lo)], occs, why)


def _occasions(
    rule: ReminderRule,
    uow: Any,
    cs: _Customers,
    purchases: _Purchases | None,
    deals: list[Any],
    cases: list[Any],
    lo: int,
    hi: int,
    set_name: str,
    model: Any,
    values: dict[str, float] | None,
    skipped: list[tuple[ReminderRule, str, str, str, int]],
) -> _Found:
    if isinstance(rule, Birthday):
        return _birthdays(rule, cs, lo, hi, set_name)
    if isinstance(rule, Anniversary):
        return _anniversaries(rule, cs, lo, hi, set_name)
    if isinstance(rule, Renewal | WinFollowUp):
        return _deals(rule, uow, cs, deals, lo, hi, set_name, skipped)
    if isinstance(rule, CaseFollowUp):
        return _case_follow_ups(rule, cs, cases, lo, hi, set_name, skipped)
    if purchases is None:
        return _found([], [], [], [])
    if isinstance(rule, DormantCustomer):
        return _dormant(rule, cs, purchases, lo, hi, set_name)
    return _low_p_alive(rule, cs, purchases, lo, hi, set_name, model, values)
