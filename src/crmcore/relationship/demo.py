"""The relationship section of ``python -m crmcore demo``: one customer's view, a day's
reminders for each rep and the health of the CRM's own data.

CDNOW holds purchases only, so the section builds a small *synthetic* CRM around them
(:func:`synthetic_crm`, seeded): a profile per CDNOW customer (a name, an owner among four
reps in two teams, a birthday for most, contact data and consent for most, the first
purchase as the acquisition), outbound and inbound interactions, service cases handled by
two service agents, gift-order deals of a small funnel, and a dozen people entered twice
(for the duplicate rate); the purchases are the real ones.

>>> from crmcore.datasets import load_cdnow_sample
>>> lines = []
>>> demo(lines.append, transactions=load_cdnow_sample())
>>> lines[0][:72]
'-- A synthetic CRM around the CDNOW purchases (seeded): 2,369 customers,'
>>> lines[3]
'owner rep-2, segment gold, born 1967-02-05, customer since 1997-01-22, contact consent'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from crmcore._demo import check_demo_args
from crmcore.errors import ValidationError
from crmcore.model import (
    Activity,
    ActivityStatus,
    Channel,
    Consent,
    ContactPoint,
    Customer,
    Interaction,
    Money,
    ServiceCase,
)
from crmcore.options import as_seed, expect_items
from crmcore.pipeline import Funnel, advance, create_opportunity, save_funnel
from crmcore.relationship._health import crm_health
from crmcore.relationship._reminder_rules import (
    Birthday,
    CaseFollowUp,
    DormantCustomer,
    ReminderRules,
    WinFollowUp,
)
from crmcore.relationship._reminders import plan_reminders
from crmcore.relationship._view import customer_view
from crmcore.repositories import MemoryUnitOfWork
from crmcore.tables import TransactionLog
from crmcore.valuation import BGNBDModel, BGNBDParams

__all__ = ["DAY", "DEMO_REMINDERS", "TEAMS", "demo", "featured_customer", "synthetic_crm"]

DAY = "1998-07-01"
"""The day whose reminders the demo plans: the first day after the CDNOW sample."""

TEAMS = {"rep-1": "north", "rep-2": "north", "rep-3": "south", "rep-4": "south"}
"""The synthetic sales reps and their teams (customers without an owner go to ``desk``)."""

DEMO_REMINDERS = ReminderRules(
    name="cdnow-care",
    rules=[
        Birthday(
            name="birthday-card",
            days_ahead=3,
            channels=(Channel.EMAIL, Channel.LETTER),
            queue="desk",
        ),
        WinFollowUp(name="thank-you-call", after_days=7, channels=(Channel.PHONE, Channel.EMAIL)),
        CaseFollowUp(
            name="after-service",
            after_days=3,
            below_satisfaction=4,
            channels=(Channel.PHONE, Channel.EMAIL),
        ),
        DormantCustomer(
            name="gold-gone-quiet", factor=3.0, min_gaps=3, segments=("gold",), queue="desk"
        ),
    ],
)
"""The rules the demo runs: birthday cards, thank-you calls after a won gift order, a call
after a service case that left the customer less than satisfied, and quiet gold customers."""

_FIRST = ("Ada", "Ben", "Carla", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jon",
          "Kemal", "Lena", "Mateo", "Nora", "Omar", "Paula", "Quinn", "Rosa", "Sami", "Tara",
          "Ugo", "Vera", "Wen", "Xavi", "Yara", "Zoe")  # fmt: skip
_LAST = ("Abbott", "Brandt", "Castro", "Dimitrov", "Eriksen", "Fischer", "Garcia", "Haddad",
         "Ivanova", "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov",
         "Quist", "Rossi", "Silva", "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Young",
         "Zielinski")  # fmt: skip
_CATEGORIES = ("delivery", "billing", "damaged disc", "returns", "account")
_REPS = tuple(TEAMS)
_AGENTS = ("agent-1", "agent-2")
_GIFTS = Funnel.linear("gift-orders", {"quote": 0.3, "offer": 0.6})


def _at(day: np.datetime64, hour: int = 0) -> datetime:
    d = day.astype("datetime64[D]").astype(object)
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def synthetic_crm(transactions: TransactionLog, *, seed: int = 16) -> MemoryUnitOfWork:
    """A *synthetic* CRM around the purchases of ``transactions`` (seeded; see the module
    docstring): a committed :class:`~crmcore.repositories.MemoryUnitOfWork`.

    >>> from crmcore.datasets import load_cdnow_sample
    >>> uow = synthetic_crm(load_cdnow_sample())
    >>> with uow:
    ...     len(uow.customers.list()), len(uow.service_cases.list())
    (2369, 201)
    """
    log = check_demo_args(print, transactions)
    rng = np.random.default_rng(as_seed(seed))
    ids = [str(c) for c in log.customer_ids]
    n = len(ids)
    first_day = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_day, log.customer, log.time.astype("datetime64[D]").astype(np.int64))
    revenue = np.bincount(log.customer, weights=log.amount, minlength=n)
    gold = revenue >= np.quantile(revenue, 0.9) if n else np.zeros(0, bool)
    owner = rng.integers(0, len(_REPS) + 1, n)  # len(_REPS): no owner
    born = rng.integers(date(1940, 1, 1).toordinal(), date(1980, 12, 31).toordinal(), n)
    has_birthday = rng.random(n) < 0.7
    consent = rng.random(n) < 0.8
    email, mobile = rng.random(n) < 0.85, rng.random(n) < 0.5
    first, last = rng.integers(0, len(_FIRST), n), rng.integers(0, len(_LAST), n)
    customers = []
    for i, cid in enumerate(ids):
        name = f"{_FIRST[first[i]]} {_LAST[last[i]]}"
        points = []
        if email[i]:
            points.append(
                ContactPoint("email", f"{name.lower().replace(' ', '.')}.{cid}@example.com")
            )
        if mobile[i]:
            points.append(ContactPoint("mobile", f"+1 555 {i // 10_000:03d} {i % 10_000:04d}"))
        customers.append(
            Customer(
                id=cid,
                name=name,
                contact_points=points,
                birthday=date.fromordinal(int(born[i])) if has_birthday[i] else None,
                acquisition_channel=("web", "catalog", "referral")[i % 3],
                acquired_at=None
                if first_day[i] == np.iinfo(np.int64).max
                else _at(np.datetime64(int(first_day[i]), "D")),
                owner_id=None if owner[i] == len(_REPS) else _REPS[owner[i]],
                segment="gold" if gold[i] else "standard",
                consent=Consent(contact=bool(consent[i]), data_use=bool(consent[i])),
            )
        )
    # a few people entered twice (a catalogue order form typed in again): same name and e-mail
    twice = [c for c in customers[::97] if c.contact_points][:12]
    customers.extend(
        Customer(id=f"{c.id}-dup", name=c.name, contact_points=c.contact_points[:1],
                 acquisition_channel="catalog", consent=c.consent)
        for c in twice
    )  # fmt: skip
    end = np.datetime64("1998-07-01", "D")
    start = np.datetime64("1997-01-01", "D")
    span = int((end - start).astype(np.int64))
    touches = []
    for k in range(int(n * 1.5)):
        i = int(rng.integers(0, n))
        rep = customers[i].owner_id or "desk"
        ch = ("email", "phone", "sms")[int(rng.integers(0, 3))]
        inbound = rng.random() < 0.25
        answered = rng.random() < (0.6 if ch == "email" else 0.4)
        touches.append(
            Interaction(
                id=f"int-{k}",
                customer_id=ids[i],
                channel=ch,
                direction="inbound" if inbound else "outbound",
                occurred_at=_at(start + int(rng.integers(0, span)), 10 + int(rng.integers(0, 8))),
                rep_id=rep,
                outcome=None if inbound else ("replied" if answered else "no answer"),
            )
        )
    cases = []
    for k in range(200):
        i = int(rng.integers(0, n))
        # the last cases are resolved just before the demo's day, so some follow-ups fall due
        recent = k >= 180
        opened = _at(
            end - 4 - int(rng.integers(0, 3))
            if recent
            else start + int(rng.integers(0, span - 20)),
            9,
        )
        case = ServiceCase(
            id=f"case-{k}",
            customer_id=ids[i],
            channel=("phone", "email", "web")[int(rng.integers(0, 3))],
            opened_at=opened,
            category=_CATEGORIES[int(rng.integers(0, len(_CATEGORIES)))],
            owner_id=_AGENTS[k % 2],
            priority=("low", "normal", "normal", "high")[int(rng.integers(0, 4))],
            sla_due_at=opened + timedelta(days=2),
        )
        if recent:  # resolved three days before the demo's day
            sat = int(rng.integers(1, 6)) if rng.random() < 0.8 else None
            case = case.resolve(_at(end - 3, 10 + k % 7), satisfaction=sat)
        elif rng.random() < 0.9:
            resolved = opened + timedelta(hours=int(rng.integers(2, 96)))
            sat = int(rng.integers(1, 6)) if rng.random() < 0.8 else None
            case = case.resolve(resolved, satisfaction=sat)
        cases.append(case)
    uow = MemoryUnitOfWork()
    with uow:
        uow.customers.add_many(customers)
        uow.transactions.add_log(
            TransactionLog.from_arrays(
                customer_ids=np.asarray(ids, dtype=object)[log.customer],
                timestamps=log.time,
                amounts=log.amount,
                kinds=log.kind,
                currency=log.currency or "USD",
                ids=[f"t-{j}" for j in range(len(log.customer))],
            )
        )
        uow.interactions.add_many(touches)
        uow.service_cases.add_many(cases)
        save_funnel(uow, _GIFTS)
        _gift_orders(uow, rng, customers, end)
        by_id = dict(zip(ids, revenue.tolist(), strict=True))
        _featured_history(uow, featured_customer(customers, by_id))
        uow.commit()
    return uow


def featured_customer(customers: list[Customer], revenue: Mapping[str, float]) -> str:
    """The customer the demo's view shows: the best-spending one (``revenue`` by customer id)
    with an owner and contact consent.

    >>> featured_customer([Customer(id="a", name="A", owner_id="r",
    ...                             consent=Consent(contact=True))], {"a": 10.0})
    'a'
    """
    customers = expect_items(customers, Customer, name="customers")
    if not isinstance(revenue, Mapping):
        raise ValidationError(f"'revenue' must map customer ids to numbers: {revenue!r}"[:200])
    fit = [c for c in customers if c.owner_id and c.consent.contact]
    if not fit:
        raise ValidationError("'customers' must hold one with an owner and contact consent: none")
    return max(fit, key=lambda c: (float(revenue.get(c.id, 0.0)), c.id)).id


def _featured_history(uow: Any, cid: str) -> None:
    """A richer recent history for the featured customer: contacts on three channels, a
    service case that left them lukewarm and an open gift order."""
    owner = uow.customers.get(cid).owner_id
    t = datetime(1998, 5, 4, 10, tzinfo=UTC)
    steps = [(0, "email", "outbound", "replied"), (9, "phone", "outbound", "no answer"),
             (10, "email", "inbound", None), (30, "sms", "outbound", "replied"),
             (44, "email", "outbound", "replied")]  # fmt: skip
    uow.interactions.add_many(
        Interaction(id=f"int-{cid}-{k}", customer_id=cid, channel=ch, direction=way,
                    occurred_at=t + timedelta(days=d), rep_id=owner, outcome=out)
        for k, (d, ch, way, out) in enumerate(steps)
    )  # fmt: skip
    opened = datetime(1998, 6, 8, 9, tzinfo=UTC)
    uow.service_cases.add(
        ServiceCase(id=f"case-{cid}", customer_id=cid, channel="phone", opened_at=opened,
                    category="delivery", owner_id="agent-1", priority="high",
                    sla_due_at=opened + timedelta(days=2), subject="box set arrived damaged")
        .resolve(opened + timedelta(days=3), satisfaction=3, resolution="replacement sent")
    )  # fmt: skip
    create_opportunity(uow, _GIFTS, id=f"gift-{cid}", customer_id=cid, owner_id=owner,
                       at=datetime(1998, 6, 22, 11, tzinfo=UTC), amount=Money("1200", "USD"))  # fmt: skip


def _gift_orders(uow: Any, rng: np.random.Generator, customers: list[Customer], end: Any) -> None:
    """Corporate gift orders: 24 deals, most of the owned customers' deals won, some recent."""
    owned = [(c, c.owner_id) for c in customers if c.owner_id is not None]
    for k in range(24):
        c, by = owned[int(rng.integers(0, len(owned)))]
        won_day = end - 7 if k < 3 else end - 20 - int(rng.integers(0, 400))
        created = _at(won_day - 30, 11)
        amount = Money(f"{int(rng.integers(2, 40)) * 25}", "USD")
        o = create_opportunity(uow, _GIFTS, id=f"gift-{k}", customer_id=c.id,
                               owner_id=by, at=created, amount=amount)  # fmt: skip
        if k % 4 == 3:
            continue  # still open
        if k % 5 == 0:
            advance(uow, o.id, "lost", expected_version=0, funnel=_GIFTS, by=by,
                    at=_at(won_day, 15), reason="budget")  # fmt: skip
            continue
        advance(uow, o.id, "offer", expected_version=0, funnel=_GIFTS, by=by,
                at=_at(won_day - 12, 15))  # fmt: skip
        advance(uow, o.id, "won", expected_version=1, funnel=_GIFTS, by=by, at=_at(won_day, 15))
        if k % 2 == 0:
            uow.activities.add(
                Activity(
                    id=f"gift-call-{k}",
                    kind="call",
                    rep_id=by,
                    customer_id=c.id,
                    opportunity_id=o.id,
                    status=ActivityStatus.DONE,
                    done_at=_at(won_day - 10, 14),
                    subject="gift order: call the buyer",
                )
            )


def demo(write: Callable[[str], None], *, transactions: TransactionLog) -> None:
    """Write the relationship section (about 40 lines) through ``write``.

    >>> from crmcore.datasets import load_cdnow_sample
    >>> out = []
    >>> demo(out.append, transactions=load_cdnow_sample())
    >>> out[2]
    "-- One customer's view: Ugo Ueda (509), as of 1998-07-01"
    >>> [line for line in out if line.startswith("-- Reminders")][0][:63]
    "-- Reminders for 1998-07-01 (rule set 'cdnow-care'): 51 planned"
    """
    log = check_demo_args(write, transactions)
    uow = synthetic_crm(log)
    with uow:
        customers = uow.customers.list()
        n_touch = len(uow.interactions.list())
        n_cases = len(uow.service_cases.list())
        n_deals = len(uow.opportunities.list())
    write(
        f"-- A synthetic CRM around the CDNOW purchases (seeded): {len(customers):,} customers, "
        f"{len(log.customer):,} purchases, {n_touch:,} interactions, {n_cases} service cases, "
        f"{n_deals} gift-order deals"
    )
    _view(write, uow, log)
    _reminders(write, uow)
    _health(write, uow)


def _view(write: Callable[[str], None], uow: MemoryUnitOfWork, log: TransactionLog) -> None:
    revenue = np.bincount(log.customer, weights=log.amount, minlength=len(log.customer_ids))
    by_id = {str(c): float(r) for c, r in zip(log.customer_ids, revenue, strict=True)}
    with uow:
        cid = featured_customer(uow.customers.list(), by_id)
        # the published CDNOW BG/NBD estimates (Fader, Hardie & Lee 2005, weeks)
        model = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426), time_unit="W")
        v = customer_view(uow, cid, as_of=DAY, timeline_start="1998-05-01", page_size=12,
                          purchase_model=model)  # fmt: skip
    p, s = v.profile, v.value
    consent = "contact consent" if p.consent.contact else "no contact consent"
    write("")
    write(f"-- One customer's view: {p.name} ({p.id}), as of {DAY}")
    write(
        f"owner {p.owner_id or '(team queue)'}, segment {p.segment}, born "
        f"{p.birthday.isoformat() if p.birthday else '(unknown)'}, customer since "
        f"{p.acquired_at.date().isoformat() if p.acquired_at else '(unknown)'}, {consent}"
    )
    clv = "n/a" if s.clv is None else f"{s.clv:,.2f} USD"
    alive = "n/a" if s.p_alive is None else f"{s.p_alive:.2f}"
    write(
        f"P(alive) {alive}, CLV over 12 months {clv}, {len(s.open_deals.opportunities)} open "
        f"deal(s), preferred channel {s.preferred_channel or '(none yet)'}"
    )
    ch = s.channels
    write(
        "channels: "
        + ", ".join(
            f"{c} {int(o)} out / {int(a)} answered / {int(n)} in"
            for c, o, a, n in zip(ch.channel, ch.outbound, ch.answered, ch.inbound, strict=True)
        )
    )
    write(f"timeline since 1998-05-01 (first {len(v.timeline.events)} events):")
    for e in v.timeline.events:
        write(f"  {e.at.date().isoformat()}  {e.kind:<13} {e.summary}"[:110])


def _reminders(write: Callable[[str], None], uow: MemoryUnitOfWork) -> None:
    with uow:
        plan = plan_reminders(uow, DEMO_REMINDERS, as_of=DAY)
        again = plan_reminders(uow, DEMO_REMINDERS, as_of=DAY)
        uow.commit()
    write("")
    write(
        f"-- Reminders for {DAY} (rule set {DEMO_REMINDERS.name!r}): {plan.planned} planned, "
        f"{plan.skipped} skipped; a second run plans {again.planned} ({again.existing} exist)"
    )
    for rep in sorted({a.rep_id for a in plan.activities}):
        mine = plan.for_rep(rep)
        rules = sorted({r for r, p in zip(plan.rules, plan.rep_ids, strict=True) if p == rep})
        write(f"{rep:<8} {len(mine):>3} to do ({', '.join(rules)})")
        shown: set[str] = set()
        for act in mine:
            rule = act.subject.split("(rule ")[-1].split("'")[1] if act.subject else ""
            if rule in shown or len(shown) == 2:
                continue
            shown.add(rule)
            write(f"         {act.kind.value}: {act.subject}"[:104])
    reasons: dict[str, int] = {}
    for status, why in zip(plan.statuses, plan.reasons, strict=True):
        if status == "skipped":
            key = why.split(" (")[0]
            reasons[key] = reasons.get(key, 0) + 1
    for why, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        write(f"skipped {count:>3}: {why}"[:110])


def _health(write: Callable[[str], None], uow: MemoryUnitOfWork) -> None:
    with uow:
        h = crm_health(uow, start="1998-01-01", end=DAY, teams=TEAMS)
    write("")
    write(
        f"-- CRM health, first half of 1998: consent coverage {h.consent_coverage:.1%}, "
        f"duplicate rate {h.duplicate_rate:.1%}, share of won revenue represented "
        f"{h.share_represented:.1%}"
    )
    a = h.adoption
    write(
        f"{'level':<5} {'name':<7} {'logged':>6} {'per day':>7} {'touched':>8} {'represented':>11}"
    )
    for j in range(len(a.name)):
        share = a.share_represented[j]
        write(
            f"{a.level[j]:<5} {a.name[j]:<7} {int(a.logged[j]):>6} {a.logged_per_day[j]:>7.2f} "
            f"{_pct(a.share_touched[j], '.1%'):>8} {_pct(share, '.0%'):>11}"
        )
    q = h.sources
    write(f"{'source':<13} {'customers':>9} {'complete':>8} {'duplicates':>10} {'consent':>7}")
    for j in range(len(q.sources)):
        write(
            f"{q.sources[j]:<13} {int(q.customers[j]):>9,} {_pct(q.completeness[j], '.1%'):>8} "
            f"{int(q.duplicates[j]):>10} {_pct(q.consent_coverage[j], '.1%'):>7}"
        )


def _pct(x: float, spec: str) -> str:
    return "n/a" if np.isnan(x) else format(x, spec)
