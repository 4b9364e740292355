"""The arithmetic of the CRM health (:func:`compute_health`): group-bys over columns.

Everything here is numpy over the columns of :class:`HealthColumns`; the reading of
the repositories is in :mod:`crmcore.relationship._health`.

>>> import numpy as np
>>> _div([1, 2], [2, 0]).tolist()
[0.5, nan]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import texts
from crmcore.relationship._health_tables import (
    CRMHealth,
    FieldQuality,
    MonthlyHealth,
    RepAdoption,
    SourceQuality,
)

__all__ = [
    "CUSTOMER_FIELDS_CHECKED",
    "NO_TIME",
    "OPPORTUNITY_FIELDS_CHECKED",
    "HealthColumns",
    "compute_health",
]

CUSTOMER_FIELDS_CHECKED = (
    "email",
    "phone",
    "birthday",
    "address",
    "acquisition_channel",
    "acquired_at",
    "owner_id",
    "segment",
)
"""The customer fields whose completeness is measured (a birthday: persons only; a phone:
a phone or mobile contact point)."""
OPPORTUNITY_FIELDS_CHECKED = ("amount", "expected_close", "probability", "product")
"""The opportunity fields whose completeness and freshness are measured."""

ALL = "(all)"
NONE = "(none)"
UNKNOWN = "(unknown)"
_DAY_US = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@attrs.frozen(eq=False)
class HealthColumns:
    """The inputs of the computation as columns (one reading of the repositories).

    Customers (n, not erased): ``owner`` and ``source`` codes (-1: none), ``acquired``
    (microseconds, ``NO_TIME`` unknown), ``consent``, ``duplicate``, ``filled`` and
    ``applies`` (n x fields). Touches, two views of the same interactions and done
    activities (no figure needs a touch's customer and rep together, and each view is one
    index scan of a database): by customer (customer row, -1: not stored; time) and by rep
    (rep code, -1: none; time). Won deals (k): owner code, closing time, amount, represented. Opportunity
    fields (o x fields): funnel code, filled, last update time.
    """

    reps: tuple[str, ...]
    sources: tuple[str, ...]
    owner: npt.NDArray[np.int64]
    source: npt.NDArray[np.int64]
    acquired: npt.NDArray[np.int64]
    consent: npt.NDArray[np.bool_]
    duplicate: npt.NDArray[np.bool_]
    filled: npt.NDArray[np.bool_]
    applies: npt.NDArray[np.bool_]
    touch_customer: npt.NDArray[np.int64]
    touch_time: npt.NDArray[np.int64]
    touch_rep: npt.NDArray[np.int64]
    rep_touch_time: npt.NDArray[np.int64]
    won_owner: npt.NDArray[np.int64]
    won_time: npt.NDArray[np.int64]
    won_amount: npt.NDArray[np.float64]
    won_represented: npt.NDArray[np.bool_]
    funnels: tuple[str, ...]
    opp_funnel: npt.NDArray[np.int64]
    opp_filled: npt.NDArray[np.bool_]
    opp_updated: npt.NDArray[np.int64]


NO_TIME = np.iinfo(np.int64).min


_US = timedelta(microseconds=1)


def _micros(t: datetime) -> int:
    return (t - _EPOCH) // _US


def _month(us: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return us.view("datetime64[us]").astype("datetime64[M]").astype(np.int64)


def _div(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def compute_health(
    cols: HealthColumns,
    *,
    start: datetime,
    end: datetime,
    teams: Mapping[str, str],
    holidays: Sequence[Any] = (),
    stale_after: int = 365,
    currency: str | None = None,
) -> CRMHealth:
    """The health tables from ``cols`` (array work only: the hot path of :func:`crm_health`)."""
    lo, hi = _micros(start), _micros(end)
    d0 = np.datetime64(lo // _DAY_US, "D")
    d1 = np.datetime64(-(-hi // _DAY_US), "D")
    hol = np.array([np.datetime64(h, "D") for h in holidays], dtype="datetime64[D]")
    wdays = int(np.busday_count(d0, d1, holidays=hol))
    n, r = len(cols.owner), len(cols.reps)
    tt, tc = cols.touch_time, cols.touch_customer
    before = tt < hi
    # last touch per customer before the end (freshness)
    last = np.full(n, NO_TIME, dtype=np.int64)
    k = np.flatnonzero(before & (tc >= 0))
    np.maximum.at(last, tc[k], tt[k])
    pidx = np.flatnonzero(before & (tt >= lo))  # the touches of the period, gathered once
    pc, pt = tc[pidx], tt[pidx]
    rt = cols.rep_touch_time
    ridx = np.flatnonzero((rt < hi) & (rt >= lo) & (cols.touch_rep >= 0))
    pr, prt = cols.touch_rep[ridx], rt[ridx]
    touched = np.zeros(n, dtype=bool)
    touched[pc[pc >= 0]] = True
    by_rep = pr >= 0
    logged = np.bincount(pr[by_rep], minlength=r)
    has_owner = cols.owner >= 0
    owned = np.bincount(cols.owner[has_owner], minlength=r)
    owned_touched = np.bincount(cols.owner[has_owner & touched], minlength=r)
    wp = (cols.won_time >= lo) & (cols.won_time < hi)
    wo = wp & (cols.won_owner >= 0)
    won = np.bincount(cols.won_owner[wo], weights=cols.won_amount[wo], minlength=r)
    rep_w = wo & cols.won_represented
    rep_rev = np.bincount(cols.won_owner[rep_w], weights=cols.won_amount[rep_w], minlength=r)
    adoption = _adoption(
        cols.reps,
        teams,
        wdays,
        logged,
        owned,
        owned_touched,
        won,
        rep_rev,
        total=(
            int(by_rep.sum()),
            n,
            int(touched.sum()),
            float(cols.won_amount[wp].sum()),
            float(cols.won_amount[wp & cols.won_represented].sum()),
        ),
    )
    fields = _fields(cols, last, hi, stale_after)
    sources = _sources(cols)
    trends = _trends(cols, lo, hi, hol, pc, pt, pr, prt)
    return CRMHealth(
        start=start,
        end=end,
        currency=currency,
        customers=n,
        duplicate_rate=float(_div(cols.duplicate.sum(), n)),
        consent_coverage=float(_div(cols.consent.sum(), n)),
        share_represented=float(
            _div(cols.won_amount[wp & cols.won_represented].sum(), cols.won_amount[wp].sum())
        ),
        adoption=adoption,
        fields=fields,
        sources=sources,
        trends=trends,
    )


def _adoption(
    reps: tuple[str, ...],
    teams: Mapping[str, str],
    wdays: int,
    logged: npt.NDArray[Any],
    owned: npt.NDArray[Any],
    touched: npt.NDArray[Any],
    won: npt.NDArray[Any],
    rep_rev: npt.NDArray[Any],
    total: tuple[int, int, int, float, float],
) -> RepAdoption:
    team_of = [teams.get(rp, NONE) for rp in reps]
    names = sorted(set(team_of))
    tcode = np.array([names.index(t) for t in team_of], dtype=np.int64)
    t = len(names)

    def by_team(v: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return np.bincount(tcode, weights=v, minlength=t) if len(v) else np.zeros(t)

    level = ["rep"] * len(reps) + ["team"] * t + ["all"]
    name = [*reps, *names, ALL]
    team = [*team_of, *names, ALL]
    nreps = np.concatenate([np.ones(len(reps)), by_team(np.ones(len(reps))), [len(reps)]])
    lg = np.concatenate([logged, by_team(logged), [total[0]]])
    cu = np.concatenate([owned, by_team(owned), [total[1]]])
    to = np.concatenate([touched, by_team(touched), [total[2]]])
    wr = np.concatenate([won, by_team(won), [total[3]]])
    rr = np.concatenate([rep_rev, by_team(rep_rev), [total[4]]])
    days = np.full(len(level), wdays, dtype=np.int64)
    return RepAdoption(
        level=texts(level),
        name=texts(name),
        team=texts(team),
        reps=nreps.astype(np.int64),
        logged=lg.astype(np.int64),
        working_days=days,
        logged_per_day=_div(lg, days * np.maximum(nreps, 1)),
        customers=cu.astype(np.int64),
        touched=to.astype(np.int64),
        share_touched=np.clip(_div(to, cu), 0, 1),
        won_revenue=wr,
        represented_revenue=rr,
        share_represented=np.clip(_div(rr, wr), 0, 1),
    )


def _age_days(updated: npt.NDArray[np.int64], hi: int) -> npt.NDArray[np.float64]:
    age = np.where(updated == NO_TIME, np.nan, (hi - updated) / _DAY_US)
    return np.maximum(age, 0.0)


def _medians(age: npt.NDArray[np.float64], bounds: npt.NDArray[np.int64]) -> list[float]:
    """The median of the known ages of each segment ``[bounds[k], bounds[k + 1])`` (NaN: none)."""
    out = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        vals = age[a:b]
        vals = vals[~np.isnan(vals)]
        out.append(float(np.median(vals)) if len(vals) else math.nan)
    return out


def _quality_rows(
    entity: str,
    names: Sequence[str],
    sources: tuple[str, ...],
    source: npt.NDArray[np.int64],
    filled: npt.NDArray[np.bool_],
    applies: npt.NDArray[np.bool_],
    age: npt.NDArray[np.float64],
    stale_after: int,
    out: list[tuple[Any, ...]],
) -> None:
    s = len(sources)
    stale = ~(age <= stale_after)  # NaN (unknown age) is stale
    order = np.argsort(source, kind="stable")  # records grouped by source, once
    src_sorted = source[order]
    st2 = (stale[:, None] if stale.ndim == 1 else stale) & applies
    bounds = np.searchsorted(src_sorted, np.arange(s + 1))
    rec, fil, stl = (_group_sums(m[order], bounds) for m in (applies, filled & applies, st2))
    cache: dict[tuple[int, bool], tuple[list[float], float]] = {}
    for f, field in enumerate(names):
        ap = applies[:, f]
        ag = age if age.ndim == 1 else age[:, f]
        every = bool(ap.all())
        key = (-1 if age.ndim == 1 else f, every)
        if key not in cache or not every:  # ages by source: shared by the fields that apply to all
            ap_sorted = ap[order]
            a_sorted = ag[order][ap_sorted]
            sub = np.searchsorted(src_sorted[ap_sorted], np.arange(s + 1))
            known = a_sorted[~np.isnan(a_sorted)]
            cache[key] = (
                _medians(a_sorted, sub),
                float(np.median(known)) if len(known) else math.nan,
            )
        meds, med_all = cache[key]
        for code in [*range(s), -1]:
            if code >= 0:
                nrec, nfil, nst = int(rec[code, f]), int(fil[code, f]), int(stl[code, f])
                med = meds[code]
            else:
                nrec, nfil, nst = int(rec[:, f].sum()), int(fil[:, f].sum()), int(stl[:, f].sum())
                med = med_all
            if code >= 0 and nrec == 0:
                continue
            label = sources[code] if code >= 0 else ALL
            out.append((entity, field, label, nrec, nfil, _div(nfil, nrec), med, _div(nst, nrec)))


def _group_sums(m: npt.NDArray[np.bool_], bounds: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Column sums of the boolean rows of ``m`` (grouped) per ``[bounds[k], bounds[k + 1])``."""
    return np.array(
        [m[a:b].sum(axis=0, dtype=np.int64) for a, b in itertools.pairwise(bounds.tolist())],
        dtype=np.int64,
    ).reshape(len(bounds) - 1, m.shape[1])


def _fields(cols: HealthColumns, last: npt.NDArray[np.int64], hi: int, stale: int) -> FieldQuality:
    rows: list[tuple[Any, ...]] = []
    cust_age = _age_days(np.maximum(last, cols.acquired), hi)
    _quality_rows(
        "customer",
        CUSTOMER_FIELDS_CHECKED,
        cols.sources,
        cols.source,
        cols.filled,
        cols.applies,
        cust_age,
        stale,
        rows,
    )
    opp_age = _age_days(cols.opp_updated, hi)
    _quality_rows(
        "opportunity",
        OPPORTUNITY_FIELDS_CHECKED,
        cols.funnels,
        cols.opp_funnel,
        cols.opp_filled,
        np.ones_like(cols.opp_filled),
        opp_age,
        stale,
        rows,
    )
    c = list(zip(*rows, strict=True)) if rows else [()] * 8
    return FieldQuality(
        entity=texts(c[0]),
        field=texts(c[1]),
        source=texts(c[2]),
        records=np.array(c[3], dtype=np.int64),
        filled=np.array(c[4], dtype=np.int64),
        completeness=np.array(c[5], dtype=np.float64),
        median_age_days=np.array(c[6], dtype=np.float64),
        stale_share=np.array(c[7], dtype=np.float64),
    )


def _completeness(cols: HealthColumns) -> npt.NDArray[np.float64]:
    """Per customer: the share of the applicable checked fields that are filled."""
    return _div((cols.filled & cols.applies).sum(axis=1), cols.applies.sum(axis=1))


def _sources(cols: HealthColumns) -> SourceQuality:
    s = len(cols.sources)
    src = cols.source
    comp = _completeness(cols)
    cu = np.bincount(src, minlength=s)
    cs = np.bincount(src, weights=comp, minlength=s)
    du = np.bincount(src[cols.duplicate], minlength=s)
    co = np.bincount(src[cols.consent], minlength=s)
    cu_all, du_all, co_all = (
        np.append(cu, cu.sum()),
        np.append(du, du.sum()),
        np.append(co, co.sum()),
    )
    return SourceQuality(
        sources=texts([*cols.sources, ALL]),
        customers=cu_all.astype(np.int64),
        completeness=np.clip(_div(np.append(cs, cs.sum()), cu_all), 0, 1),
        duplicates=du_all.astype(np.int64),
        duplicate_rate=_div(du_all, cu_all),
        consented=co_all.astype(np.int64),
        consent_coverage=_div(co_all, cu_all),
    )


def _distinct(key: npt.NDArray[np.int64], size: int) -> npt.NDArray[np.int64]:
    """The distinct values of ``key`` (all in ``[0, size)``): a bitmap when it is small, else a sort."""
    if size <= 64_000_000:
        seen = np.zeros(size, dtype=bool)
        seen[key] = True
        return np.flatnonzero(seen)
    k = np.sort(key)
    return k[np.r_[True, k[1:] != k[:-1]]] if len(k) else k


def _trends(
    cols: HealthColumns,
    lo: int,
    hi: int,
    hol: npt.NDArray[Any],
    tc: npt.NDArray[np.int64],
    tt: npt.NDArray[np.int64],
    tr: npt.NDArray[np.int64],
    trt: npt.NDArray[np.int64],
) -> MonthlyHealth:
    """Monthly figures; ``tc``, ``tt``: customer and time of the period's touches; ``tr``,
    ``trt``: rep and time of the period's touches by a rep."""
    m0 = int(_month(np.array([lo]))[0])
    m1 = int(_month(np.array([hi - 1]))[0])
    nm = m1 - m0 + 1
    n, r = len(cols.owner), len(cols.reps)
    months = np.arange(m0, m1 + 1).astype("datetime64[M]")
    first = np.maximum(months.astype("datetime64[D]"), np.datetime64(lo // _DAY_US, "D"))
    after = np.minimum((months + 1).astype("datetime64[D]"), np.datetime64(-(-hi // _DAY_US), "D"))
    wdays = np.busday_count(first, after, holidays=hol).astype(np.int64)
    # month of each touch by a table of the period's days (no calendar arithmetic per row)
    d_lo = lo // _DAY_US
    days = np.arange(d_lo, (hi - 1) // _DAY_US + 1).astype("datetime64[D]")
    table = (days.astype("datetime64[M]").astype(np.int64) - m0).astype(np.int16)
    tm = table[tt // _DAY_US - d_lo].astype(np.int64)
    tm_r = table[trt // _DAY_US - d_lo].astype(np.int64)
    logged = np.bincount(tm_r, minlength=nm)
    rr = max(r, 1)
    seen = np.zeros(nm * rr, dtype=bool)
    seen[tm_r * rr + tr] = True
    active = seen.reshape(nm, rr).sum(axis=1)
    month_end = ((months + 1).astype("datetime64[us]")).astype(np.int64)
    known = cols.acquired != NO_TIME
    # customers existing at each month's end: acquired before it, or of unknown acquisition
    acq_sorted = np.sort(cols.acquired[known])
    existing = np.searchsorted(acq_sorted, month_end, side="left") + int((~known).sum())
    # a touched customer counts in month m when it exists by then: acquired in m or before
    acq_m = np.where(known, _month(np.where(known, cols.acquired, 0)) - m0, -1)
    acq_m = np.clip(acq_m, -1, nm).astype(np.int16)
    tmask = np.flatnonzero(tc >= 0)
    c_in, m_in = tc[tmask], tm[tmask]
    ok = acq_m[c_in] <= m_in
    key = m_in[ok] * max(n, 1) + c_in[ok]
    touched = np.bincount(_distinct(key, nm * max(n, 1)) // max(n, 1), minlength=nm)
    wp = (cols.won_time >= lo) & (cols.won_time < hi)
    wm = _month(cols.won_time[wp]) - m0
    won = np.asarray(np.bincount(wm, weights=cols.won_amount[wp], minlength=nm), dtype=np.float64)
    rep = np.bincount(wm, weights=cols.won_amount[wp] * cols.won_represented[wp], minlength=nm)
    am = np.where(known, _month(np.where(known, cols.acquired, 0)) - m0, -1)
    new = known & (am >= 0) & (am < nm) & (cols.acquired >= lo) & (cols.acquired < hi)
    nmon = am[new]
    new_n = np.bincount(nmon, minlength=nm)
    comp = _completeness(cols)
    new_c = np.bincount(nmon, weights=comp[new], minlength=nm)
    new_d = np.bincount(nmon, weights=cols.duplicate[new], minlength=nm)
    new_k = np.bincount(nmon, weights=cols.consent[new], minlength=nm)
    return MonthlyHealth(
        month=months,
        logged=logged.astype(np.int64),
        active_reps=active.astype(np.int64),
        working_days=wdays,
        customers=existing.astype(np.int64),
        touched=np.asarray(touched).astype(np.int64),
        share_touched=np.clip(_div(touched, existing), 0, 1),
        won_revenue=won,
        share_represented=np.clip(_div(rep, won), 0, 1),
        new_customers=new_n.astype(np.int64),
        new_completeness=np.clip(_div(new_c, new_n), 0, 1),
        new_duplicate_rate=np.clip(_div(new_d, new_n), 0, 1),
        new_consent_coverage=np.clip(_div(new_k, new_n), 0, 1),
    )
