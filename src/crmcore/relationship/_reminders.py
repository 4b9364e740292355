"""Reminders that become work: reminder rules → planned activities for the owning rep.

:func:`plan_reminders` reads the customers (and, for the rules that need them, the
purchases and the opportunities) through a unit of work, finds every occasion whose
reminder falls due in the window ``[as_of's day, + days)``, and adds one planned
:class:`~crmcore.model.Activity` per occasion:

* **idempotent**: the activity id is a hash of the rule set, the rule, the customer
  and the occasion (a birthday's date, a deal, the last purchase day of a quiet
  spell), so running twice, or over overlapping windows, adds nothing new; an
  activity the rep has done or cancelled since is not planned again;
* **consent**: a customer without contact consent (``consent.contact``) or erased
  gets no activity (the reminder is listed as skipped with the reason);
* **owner**: the customer's owner (a won deal's follow-up: the deal's owner; a
  service case's follow-up: the case's owner; a renewal: the customer's owner, else
  the deal's); without one, the rule's team
  ``queue``; without a queue, skipped ("no owner and no queue");
* **channel**: the customer's preferred channel (``preferred_channels``; when it is
  not given, learned per planned customer from the interactions they engage on, see
  :func:`plan_reminders`) when the rule allows it and the customer can be reached on it (an e-mail address for e-mail, a phone for
  phone, call centre and SMS, an address for a letter); else the first of the
  rule's channels the customer can be reached on; else skipped. An unknown
  channel in ``preferred_channels`` is an error naming the customer;
* **explained**: each activity's ``subject`` says why it was made (rule, occasion,
  figures, channel and why that channel), as does the plan's ``reason`` column.

Dates far away: birthdays recur every year whatever their year (29 February falls
on 28 February in other years); an anniversary counts from the acquisition, so
one in the future plans nothing yet; a renewal or follow-up date is planned only
when its reminder falls due in the window, and never past 9999-12-31.

>>> from datetime import date, datetime, timezone
>>> from crmcore.model import Customer, Consent, ContactPoint
>>> from crmcore.repositories import MemoryUnitOfWork
>>> from crmcore.relationship import Birthday, ReminderRules
>>> uow = MemoryUnitOfWork()
>>> rules = ReminderRules(name="bakery", rules=[Birthday(name="birthday", days_ahead=2)])
>>> with uow:
...     _ = uow.customers.add(Customer(id="c-1", name="Li Wei", birthday=date(1980, 3, 14),
...         owner_id="rep-1", consent=Consent(contact=True),
...         contact_points=[ContactPoint("email", "li@example.com")]))
...     plan = plan_reminders(uow, rules, as_of="2026-03-12")
...     again = plan_reminders(uow, rules, as_of="2026-03-12")
...     uow.commit()
>>> plan.planned, again.planned, again.existing
(1, 0, 1)
>>> a = plan.activities[0]
>>> a.rep_id, a.kind.value, a.due_at.isoformat()
('rep-1', 'email', '2026-03-12T09:00:00+00:00')
>>> print(a.subject)
Birthday of customer c-1 on 2026-03-14 (rule 'birthday' of 'bakery', 2 days ahead); by email: the first of the rule's channels the customer can be reached on (no preferred channel known)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, texts
from crmcore._results import COUNT, array
from crmcore.errors import NotFoundError, ValidationError
from crmcore.model import Activity, ActivityKind, Channel
from crmcore.model._fields import name_text
from crmcore.model._storable import MAX_ID_LENGTH
from crmcore.options import as_count, as_enum, expect_instance
from crmcore.relationship._reminder_occasions import (
    _EPOCH,
    _MAX_DAY,
    _Customers,
    _Found,
    _occasions,
    _purchases,
    _read_cases,
    _read_customers,
)
from crmcore.relationship._reminder_rules import (
    CaseFollowUp,
    DormantCustomer,
    LowPAlive,
    ReminderRule,
    ReminderRules,
    Renewal,
    WinFollowUp,
)
from crmcore.relationship._value_state import ChannelPreference
from crmcore.repositories.protocols import ColumnarRecordReader, expect_unit_of_work
from crmcore.timestamps import as_datetime

__all__ = ["REMINDER_STATUSES", "ReminderPlan", "plan_reminders", "reminder_activity_id"]

REMINDER_STATUSES = ("planned", "exists", "skipped")
"""A reminder's status in a plan: a new activity, one stored before, or none (with why)."""


KIND_OF_CHANNEL: dict[Channel, ActivityKind] = {
    Channel.PHONE: ActivityKind.CALL,
    Channel.CALL_CENTER: ActivityKind.CALL,
    Channel.EMAIL: ActivityKind.EMAIL,
    Channel.VISIT: ActivityKind.VISIT,
    Channel.BRANCH: ActivityKind.VISIT,
    Channel.MEETING: ActivityKind.MEETING,
}
"""The activity kind of a channel (the others, such as SMS or a letter, are tasks)."""


def reminder_activity_id(rule_set: str, rule: str, customer_id: str, occasion: str) -> str:
    """The deterministic id of the activity of one reminder: ``"rem-"`` and 32 hex digits of
    a SHA-256 of the rule set, the rule, the customer and the occasion.

    >>> reminder_activity_id("bakery", "birthday", "c-1", "2026-03-14")
    'rem-b44d1979406e843fdca7b0ee7058562a'
    """
    for name, v in (
        ("rule_set", rule_set),
        ("rule", rule),
        ("customer_id", customer_id),
        ("occasion", occasion),
    ):
        if not isinstance(v, str):
            raise ValidationError(f"{name!r} must be a string: {v!r}")
    return _activity_id(rule_set, rule, customer_id, occasion)


def _activity_id(rule_set: str, rule: str, customer_id: str, occasion: str) -> str:
    key = "\x1f".join((rule_set, rule, customer_id, occasion)).encode("utf-8", "surrogatepass")
    return "rem-" + hashlib.sha256(key).hexdigest()[:32]


def _activities(value: Any) -> tuple[Activity, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"'activities' must be a list of Activity records: {value!r}")
    items = tuple(value)
    for i, a in enumerate(items):
        if not isinstance(a, Activity):
            raise ValidationError(f"'activities[{i}]' must be an Activity: {a!r}")
    return items


@attrs.frozen(eq=False)
class ReminderPlan(Tabular):
    """The reminders of one run: one row per occasion found, with its status and reason.

    ``activities`` are the activities added by this run (status ``planned``);
    ``reason`` explains a planned or existing reminder, or says why one was skipped.

    >>> import numpy as np
    >>> p = ReminderPlan(ids=np.array([], dtype=object), rules=np.array([], dtype=object),
    ...     customer_ids=np.array([], dtype=object), occasions=np.array([], dtype=object),
    ...     due_at=np.array([], dtype="datetime64[us]"), rep_ids=np.array([], dtype=object),
    ...     channels=np.array([], dtype=object), kinds=np.array([], dtype=object),
    ...     statuses=np.array([], dtype=object), reasons=np.array([], dtype=object),
    ...     activities=(), rule_set="bakery", rule_set_version=0, planned=0, existing=0,
    ...     skipped=0)
    >>> len(p), p.to_pandas().columns.tolist()[:4]
    (0, ['id', 'rule', 'customer_id', 'occasion'])
    """

    ids: npt.NDArray[Any] = attrs.field(validator=array("O"))
    rules: npt.NDArray[Any] = attrs.field(validator=array("O", length="ids"))
    customer_ids: npt.NDArray[Any] = attrs.field(validator=array("O", length="ids"))
    occasions: npt.NDArray[Any] = attrs.field(validator=array("O", length="ids"))
    due_at: npt.NDArray[np.datetime64] = attrs.field(validator=array("M", length="ids"))
    rep_ids: npt.NDArray[Any] = attrs.field(validator=array("O", length="ids", scan=False))
    channels: npt.NDArray[Any] = attrs.field(validator=array("O", length="ids", scan=False))
    kinds: npt.NDArray[Any] = attrs.field(validator=array("O", length="ids", scan=False))
    statuses: npt.NDArray[Any] = attrs.field(validator=array("O", length="ids"))
    reasons: npt.NDArray[Any] = attrs.field(validator=array("O", length="ids"))
    activities: tuple[Activity, ...] = attrs.field(converter=_activities)
    rule_set: str = attrs.field(validator=name_text(max_length=MAX_ID_LENGTH))
    rule_set_version: int = attrs.field(validator=COUNT)
    planned: int = attrs.field(validator=COUNT)
    existing: int = attrs.field(validator=COUNT)
    skipped: int = attrs.field(validator=COUNT)

    def __len__(self) -> int:
        return len(self.ids)

    def _columns(self) -> Columns:
        return {
            "id": self.ids,
            "rule": self.rules,
            "customer_id": self.customer_ids,
            "occasion": self.occasions,
            "due_at": self.due_at,
            "rep_id": self.rep_ids,
            "channel": self.channels,
            "kind": self.kinds,
            "status": self.statuses,
            "reason": self.reasons,
        }

    def for_rep(self, rep_id: str) -> list[Activity]:
        """The activities this run planned for ``rep_id`` (a rep or a team queue), by due time.

        >>> ReminderPlan(ids=np.array([], dtype=object), rules=np.array([], dtype=object),
        ...     customer_ids=np.array([], dtype=object), occasions=np.array([], dtype=object),
        ...     due_at=np.array([], dtype="datetime64[us]"), rep_ids=np.array([], dtype=object),
        ...     channels=np.array([], dtype=object), kinds=np.array([], dtype=object),
        ...     statuses=np.array([], dtype=object), reasons=np.array([], dtype=object),
        ...     activities=(), rule_set="b", rule_set_version=0, planned=0, existing=0,
        ...     skipped=0).for_rep("rep-1")
        []
        """
        if not isinstance(rep_id, str):
            raise ValidationError(f"'rep_id' must be a string: {rep_id!r}")
        mine = [a for a in self.activities if a.rep_id == rep_id]
        return sorted(mine, key=lambda a: (a.due_at or _EPOCH, a.id))


# -- from occasions to activities ----------------------------------------------------------------

_REACH = {
    Channel.EMAIL: "has_email",
    Channel.PHONE: "has_phone",
    Channel.CALL_CENTER: "has_phone",
    Channel.SMS: "has_phone",
    Channel.LETTER: "has_address",
}
"""Which contact data a channel needs (the others need none)."""


def _reachable(cs: _Customers, row: int, ch: Channel) -> bool:
    need = _REACH.get(ch)
    return need is None or bool(getattr(cs, need)[row])


def _channel(
    rule: ReminderRule, cs: _Customers, row: int, preferred: Channel | None, learned: bool
) -> tuple[Channel | None, str]:
    allowed = rule.channels
    if preferred is not None and preferred in allowed and _reachable(cs, row, preferred):
        if learned:
            return preferred, (
                "the customer's preferred channel (learned: the one they engage on most in "
                "their interactions)"
            )
        return preferred, "the customer's preferred channel"
    if preferred is None:
        note = "no preferred channel known"
    elif preferred not in allowed:
        note = f"the preferred channel {preferred.value} is not one of the rule's"
    else:
        note = f"no contact data for the preferred channel {preferred.value}"
    for ch in allowed:
        if _reachable(cs, row, ch):
            return ch, f"the first of the rule's channels the customer can be reached on ({note})"
    return None, (
        f"no contact data for any of the rule's channels "
        f"({', '.join(c.value for c in allowed)}); {note}"
    )


_SCAN_FROM = 64
"""From this many customers to learn in a run, one streaming read of the interactions
before ``as_of`` may replace the per-customer reads (see :class:`_Learned`)."""
_ROWS_PER_READ = 20
"""Interactions streamed for the cost of one per-customer indexed read (a statement costs
about as much as twenty streamed rows): the budget of that one read."""


class _Learned:
    """Each planned customer's preferred channel learned from their interactions before
    ``as_of`` (:attr:`ChannelPreference.preferred`), once per customer per run.

    A customer is read by one indexed range read of their interactions (``customer_id``,
    ``occurred_at < as_of``). When a run has many customers to learn (:data:`_SCAN_FROM`),
    one streaming read of every interaction before ``as_of`` is tried first: it learns them
    all unless it reaches ``_ROWS_PER_READ`` rows per customer to learn, when the rest is
    left to the per-customer reads; so learning costs at most about twice the cheaper of the
    two, and a customer without interactions needs no model object."""

    def __init__(self, uow: Any, at: datetime) -> None:
        self.uow, self.at, self.seen = uow, at, cast(dict[str, Channel | None], {})

    def learn(self, customer_ids: Iterable[str]) -> None:
        """Learn the channels of many customers at once when it is cheaper (see the class)."""
        todo = {c for c in customer_ids if c not in self.seen}
        if len(todo) < _SCAN_FROM:
            return
        budget = _ROWS_PER_READ * len(todo)
        groups: dict[str, list[Any]] = {}
        for k, i in enumerate(self.uow.interactions.iter(end=self.at, batch_size=10_000)):
            if k >= budget:
                return
            if i.customer_id in todo:
                groups.setdefault(i.customer_id, []).append(i)
        for c in todo:
            self.seen[c] = _preferred(groups.get(c, ()))

    def __call__(self, customer_id: str) -> Channel | None:
        if customer_id not in self.seen:
            self.seen[customer_id] = _preferred(
                self.uow.interactions.iter(customer_id=customer_id, end=self.at)
            )
        return self.seen[customer_id]


def _preferred(interactions: Iterable[Any]) -> Channel | None:
    rows = list(interactions)
    if not rows:  # what ChannelPreference says of no interactions
        return None
    pref = ChannelPreference.from_interactions(rows).preferred
    return None if pref is None else Channel(pref)


def _preferences(preferred: Mapping[str, Any] | None) -> dict[str, Channel]:
    if preferred is None:
        return {}
    if not isinstance(preferred, Mapping):
        raise ValidationError(
            f"'preferred_channels' must map customer ids to channels: {type(preferred).__name__}"
        )
    out: dict[str, Channel] = {}
    for cid, ch in preferred.items():
        if not isinstance(cid, str):
            raise ValidationError(f"'preferred_channels' keys must be customer ids: {cid!r}")
        out[cid] = as_enum(ch, Channel, name=f"preferred_channels[{cid!r}]")
    return out


def _values(values: Mapping[str, Any] | None) -> dict[str, float] | None:
    if values is None:
        return None
    if not isinstance(values, Mapping):
        raise ValidationError(f"'values' must map customer ids to numbers: {type(values).__name__}")
    out: dict[str, float] = {}
    for cid, v in values.items():
        if not isinstance(cid, str) or isinstance(v, bool) or not isinstance(v, int | float):
            raise ValidationError(f"'values' must map customer ids to numbers: {cid!r}: {v!r}")
        if not math.isfinite(float(v)):
            raise ValidationError(f"'values[{cid!r}]' must be a finite number: {v!r}")
        out[cid] = float(v)
    return out


def plan_reminders(
    uow: Any,
    rules: ReminderRules,
    *,
    as_of: Any,
    days: int = 1,
    preferred_channels: Mapping[str, Any] | None = None,
    model: Any = None,
    values: Mapping[str, Any] | None = None,
    write: bool = True,
) -> ReminderPlan:
    """Plan the reminders of ``rules`` falling due in ``[as_of's day, + days)`` (see the module
    docstring); with ``write`` (the default) add the new activities to ``uow.activities``
    (the caller commits). ``model`` (a fitted purchase model) is needed by
    :class:`~crmcore.relationship.LowPAlive` rules, ``values`` (customer id → value, such as
    CLV) optional for them.

    ``preferred_channels`` maps customer ids to their preferred channel. When it is not given
    (None), each customer who gets as far as the channel choice (stored, consenting, with an
    owner or queue) has it learned from their interactions before ``as_of``: the channel
    they engage on most (:attr:`~crmcore.relationship.ChannelPreference.preferred`), once per
    customer and run: by one indexed range read of that customer's interactions, or, when
    many customers are to be learned, by one streaming read of the interactions before
    ``as_of`` while it costs less (see :class:`_Learned`); so the extra reads grow with the
    reminders planned, not with the customer base. Pass ``{}`` to use the rules' channel
    order alone.

    The customers are read as columns (``customers.read_columns()``, a
    :class:`~crmcore.repositories.CustomerColumnReader`; else ``customers.iter()``): model
    objects are built only for the reminders found.

    :class:`~crmcore.relationship.CaseFollowUp` rules read the service cases opened before
    the window's end less the smallest ``after_days`` (one range read on the opening time)
    through the unit of work's service cases; a unit of work that is not a
    :class:`~crmcore.repositories.ServiceCaseUnitOfWork` (a backend written before service
    cases) raises ValidationError naming the rule and plans nothing, as a
    :class:`~crmcore.relationship.LowPAlive` rule without a model does.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> from crmcore.relationship import Birthday, ReminderRules
    >>> with MemoryUnitOfWork() as uow:
    ...     plan_reminders(uow, ReminderRules(name="r", rules=[Birthday(name="b")]),
    ...                    as_of="2026-01-01", days=0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'days' must be >= 1: 0
    """
    uow = expect_unit_of_work(uow)
    expect_instance(rules, ReminderRules, name="rules")
    at = as_datetime(as_of, name="as_of")
    days = as_count(days, name="days", low=1, high=3660)
    if not isinstance(write, bool):
        raise ValidationError(f"'write' must be True or False: {write!r}")
    prefs = _preferences(preferred_channels)
    learned = _Learned(uow, at) if preferred_channels is None else None
    vals = _values(values)
    lo = at.toordinal() - _EPOCH.toordinal()
    hi = min(lo + days, _MAX_DAY + 1)
    cs = _read_customers(uow)
    kinds = {type(r) for r in rules.rules}
    purchases = (
        _purchases(uow, cs, at) if kinds & {DormantCustomer, LowPAlive} and len(cs.ids) else None
    )
    deals = uow.opportunities.list() if kinds & {Renewal, WinFollowUp} else []
    cases = _read_cases(uow, rules, hi) if CaseFollowUp in kinds else []
    if cases is None:
        first = next(r for r in rules.rules if isinstance(r, CaseFollowUp))
        raise ValidationError(
            f"rule {first.name!r} (CaseFollowUp) needs service cases: the unit of work is not "
            f"a ServiceCaseUnitOfWork (it has no 'service_cases'): {type(uow).__name__}"
        )
    skipped_early: list[tuple[ReminderRule, str, str, str, int]] = []
    rows_out: list[tuple[Any, ...]] = []
    new: list[Activity] = []
    checked = []
    for rule in rules.rules:
        found = _occasions(
            rule, uow, cs, purchases, deals, cases, lo, hi, rules.name, model, vals, skipped_early
        )
        checked.append((rule, found, *_check(rule, rules.name, cs, found)))
    if learned is not None:  # every rule's customers at once
        learned.learn(cid for *_, reach in checked for _, _, _, cid in reach)
    stored = _stored(uow, checked)
    for rule, found, heads, reach in checked:
        _choose(rule, cs, found, heads, reach, prefs, learned, stored, new)
        rows_out.extend(heads)
    for rule, cid, occasion, reason, day in skipped_early:
        aid = reminder_activity_id(rules.name, rule.name, cid, occasion)
        due = (day * 24 + rule.hour) * 3_600_000_000
        rows_out.append((aid, rule.name, cid, occasion, due, None, None, None, "skipped", reason))
    if write and new:
        uow.activities.add_many(new)
    return _plan(rows_out, new, rules)


def _check(
    rule: ReminderRule, set_name: str, cs: _Customers, found: _Found
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, str, str]]]:
    """The occasions of ``rule`` (in occasion order) through the checks that need no
    channel: skipped (erased, no consent, no owner and no queue) with their reason, or left
    for :func:`_choose` (``reach``: position in ``heads``, occasion, rep, customer id)."""
    heads: list[tuple[Any, ...]] = []
    reach: list[tuple[int, int, str, str]] = []
    if len(found.rows) == 0:
        return heads, reach
    rows = found.rows.tolist()
    order: list[int] = list(range(len(rows)))
    if rule.segments:
        seg = set(rule.segments)
        segment = cs.segment
        order = [j for j in order if segment[rows[j]] in seg]
    ids, erased, contact, owner = cs.ids, cs.erased, cs.contact, cs.owner
    hour_us = rule.hour * 3_600_000_000
    reps, due, occasions = found.reps, found.due, found.occasions
    for j in order:
        row = rows[j]
        cid = ids[row]
        occasion = occasions[j]
        base = (
            _activity_id(set_name, rule.name, cid, occasion),
            rule.name,
            cid,
            occasion,
            int(due[j]) * 86_400_000_000 + hour_us,
        )
        if erased[row]:
            heads.append((*base, None, None, None, "skipped", "the customer's data was erased"))
            continue
        if not contact[row]:
            heads.append((*base, None, None, None, "skipped", "no contact consent"))
            continue
        rep = reps[j] or owner[row] or rule.queue
        if rep is None:
            heads.append((*base, None, None, None, "skipped", "no owner and no queue"))
            continue
        heads.append(base)
        reach.append((len(heads) - 1, j, rep, cid))
    return heads, reach


def _stored(uow: Any, checked: list[Any]) -> Callable[[str], bool]:
    """Whether the activity of a reminder is stored: the ids of the activities of every
    customer a reminder may be planned for, read as one column
    (``activities.read_columns(["id"], customer_ids=...)``, a
    :class:`~crmcore.repositories.ColumnarRecordReader`: IN lists of the customers, not a
    statement per reminder), else ``activities.get`` per reminder. A reminder's activity is
    about its customer (its id hashes the customer id), so it is among them."""
    repo = uow.activities
    customers = {cid for *_, reach in checked for _, _, _, cid in reach}
    if not isinstance(repo, ColumnarRecordReader) or not customers:
        get = repo.get

        def found(activity_id: str) -> bool:
            try:
                get(activity_id)
            except NotFoundError:
                return False
            return True

        return found
    cols = repo.read_columns(["id"], customer_ids=sorted(customers))
    labels = cols.labels["id"]
    ids = {labels[c] for c in np.unique(cols.codes("id")).tolist() if c >= 0}
    return ids.__contains__


def _choose(
    rule: ReminderRule,
    cs: _Customers,
    found: _Found,
    heads: list[tuple[Any, ...]],
    reach: list[tuple[int, int, str, str]],
    prefs: dict[str, Channel],
    learned: _Learned | None,
    stored: Callable[[str], bool],
    new: list[Activity],
) -> None:
    """The channel of each occasion :func:`_check` left (skipped without one), then whether
    its activity exists (``stored``); completes ``heads`` and adds the new activities to
    ``new``."""
    rows, reps, owner = found.rows, found.reps, cs.owner
    for h, j, rep, cid in reach:
        base = heads[h]
        row = int(rows[j])
        pref = prefs.get(cid) if learned is None else learned(cid)
        ch, how = _channel(rule, cs, row, pref, learned is not None)
        if ch is None:
            heads[h] = (*base, rep, None, None, "skipped", how)
            continue
        kind = rule.kind or KIND_OF_CHANNEL.get(ch, ActivityKind.TASK)
        owner_note = "" if rep == (reps[j] or owner[row]) else f"; team queue {rep}"
        reason = f"{found.because[j]}; by {ch.value}: {how}{owner_note}"
        aid = base[0]
        if stored(aid):
            heads[h] = (*base, rep, ch.value, kind.value, "exists", reason)
            continue
        new.append(
            Activity(
                id=aid,
                kind=kind,
                rep_id=rep,
                customer_id=cid,
                opportunity_id=found.opportunity_ids[j],
                subject=reason,
                due_at=_EPOCH + timedelta(microseconds=base[4]),
            )
        )
        heads[h] = (*base, rep, ch.value, kind.value, "planned", reason)


def _plan(rows: list[tuple[Any, ...]], new: list[Activity], rules: ReminderRules) -> ReminderPlan:
    cols = [[r[k] for r in rows] for k in range(10)]  # faster than zip(*rows)
    due = np.array(cols[4], dtype=np.int64).view("datetime64[us]")
    statuses = texts(cols[8])
    return ReminderPlan(
        ids=texts(cols[0]),
        rules=texts(cols[1]),
        customer_ids=texts(cols[2]),
        occasions=texts(cols[3]),
        due_at=due,
        rep_ids=texts(cols[5]),
        channels=texts(cols[6]),
        kinds=texts(cols[7]),
        statuses=statuses,
        reasons=texts(cols[9]),
        activities=tuple(new),
        rule_set=rules.name,
        rule_set_version=rules.version,
        planned=int(np.count_nonzero(statuses == "planned")),
        existing=int(np.count_nonzero(statuses == "exists")),
        skipped=int(np.count_nonzero(statuses == "skipped")),
    )
