"""The streaming engine: one transaction at a time, incremental per-customer state.

Per customer the engine keeps, for every leaf rule, a ring buffer of the
last amounts (robust z), the EW mean and variance, the window deques with
exact cent sums (velocity, change) or the last time (dormant), plus the last
alert window per rule (deduplication). ``checkpoint(uow)`` stores all of it
as one ``"anomaly_state"`` document, keeping the last ``keep_checkpoints``
(:mod:`crmcore.anomaly._checkpoints`); ``restore(uow)`` reads it back exactly.

With ``dedup_window`` (e.g. ``"1d"``) the engine also remembers, per customer,
the ids of the events within that window of the customer's latest event: an
event delivered again (at-least-once delivery, a replay after a restart) is
skipped, not counted twice, and the remembered ids travel in the checkpoint.
An event older than the window is checked for order as any other.

Bad events never change the state: every event is checked in full (ids,
time, amount, kind) before any state is touched. An event for a customer older than
that customer's last event is rejected with :class:`OutOfOrderError`
(equal times are accepted, in arrival order); NaN, negative or huge
amounts, naive or out-of-range times, unknown kinds and ids that no backend can store
(NUL characters, lone surrogates, too long) raise
:class:`~crmcore.errors.ValidationError`; unknown customers follow the
``unknown_customers`` policy (see :mod:`crmcore.anomaly.context`).

>>> from datetime import datetime, timezone
>>> from crmcore.anomaly import RuleSet, Velocity
>>> eng = StreamingEngine(RuleSet(name="s", rules=[Velocity(name="burst", window="1h", at_least=3)]))
>>> day = datetime(2025, 5, 1, 9, tzinfo=timezone.utc)
>>> [len(eng.process_event(Event(f"t{i}", "c-1", day.replace(minute=10 * i), 20.0))) for i in range(4)]
[0, 0, 1, 0]
>>> eng.process_event(Event("t9", "c-1", day, 20.0))
Traceback (most recent call last):
crmcore.anomaly.streaming.OutOfOrderError: event 't9' of customer 'c-1' at 2025-05-01T09:00:00+00:00 is older than the customer's last event at 2025-05-01T09:30:00+00:00; streaming needs each customer's events in time order
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from crmcore.anomaly._checkpoints import STATE_KIND, check_state_key, read_checkpoint
from crmcore.anomaly._checkpoints import write_checkpoint as _write_checkpoint
from crmcore.anomaly._checks import parse_window
from crmcore.anomaly._event_checks import (
    EPOCH,
    KIND_CODES,
    T_MAX,
    T_MIN,
    US,
    event_amount,
    event_time,
    in_scope,
    kinds_only,
    plain_ids,
)
from crmcore.anomaly.alerts import Alert, AlertStep, alert_id
from crmcore.anomaly.batch import MAX_AMOUNT, window_label
from crmcore.anomaly.context import (
    DEFAULT_QUEUE,
    CustomerContext,
    UnknownCustomerError,
    check_policy,
    check_queue,
)
from crmcore.anomaly.leaves import make_evaluator
from crmcore.anomaly.plan import Hit, compile_plan, describe, fires, new_hit
from crmcore.anomaly.rules import TAGS, BehaviourChange, RuleSet, Threshold, Velocity
from crmcore.errors import ConfigurationError, ValidationError
from crmcore.model._storable import id_problem, text_problem
from crmcore.model.transaction import Transaction
from crmcore.options import as_count, expect_instance
from crmcore.serialization import to_json

__all__ = ["STATE_KIND", "Event", "OutOfOrderError", "StreamingEngine"]

_EPOCH, _US, _T_MIN, _T_MAX, _KIND_CODES = EPOCH, US, T_MIN, T_MAX, KIND_CODES
_kind_code = _KIND_CODES.get


class OutOfOrderError(ValidationError):
    """An event older than the last event of its customer; the engine state is unchanged."""


class Event(NamedTuple):
    """A light transaction for :meth:`StreamingEngine.process_event` (no Money, no validation cost).

    ``time`` is a timezone-aware UTC datetime (or int microseconds since 1970);
    ``kind`` a kind value or member. An input, not a result: its fields are
    checked in one place, where it is used (:meth:`StreamingEngine.process_event`
    refuses a NaN or infinite amount or time naming the field and the event),
    so building one costs nothing on the hot path.
    """

    id: str
    customer_id: str
    time: datetime | int
    amount: float
    kind: str = "purchase"
    channel: str | None = None
    product: str | None = None


class _Customer:
    __slots__ = ("buckets", "ctx", "last_t", "seen", "seen_from", "states")

    def __init__(
        self, ctx: CustomerContext | None, states: list[Any], n_rules: int, last_t: int
    ) -> None:
        self.ctx = ctx
        self.last_t = last_t
        self.states = states
        self.buckets: list[int | None] = [None] * n_rules
        # event de-duplication (only with a dedup_window): id -> time of the customer's
        # recent events, and a time that every remembered event is at least as recent as
        self.seen: dict[str, int] | None = None
        self.seen_from = last_t

    def remember(self, eid: str, t: int, window: int) -> None:
        """Note event ``eid`` at ``t`` before ``last_t`` moves to ``t`` (the fast path of
        ``process_event`` inlines this).

        Every event of the last ``window`` stays remembered; older ones are forgotten when
        the customer's events are all older than the window (the usual case, O(1)) or, in
        one pass, once the oldest remembered is half a window beyond it (so a busy
        customer costs O(1) per event, amortised).
        """
        seen = self.seen
        if seen is None:
            self.seen, self.seen_from = {eid: t}, t
            return
        horizon = t - window
        if self.last_t < horizon:
            seen.clear()
            self.seen_from = t
        elif self.seen_from < horizon - (window >> 1):
            self.seen = seen = {k: v for k, v in seen.items() if v >= horizon}
            self.seen_from = horizon
        seen[eid] = t


def _fingerprint(ruleset: RuleSet) -> str:
    return hashlib.sha256(to_json(list(ruleset.rules)).encode()).hexdigest()[:16]


class StreamingEngine:
    """Evaluate a rule set one event at a time (see the module docstring).

    ``customers`` maps customer ids to :class:`~crmcore.anomaly.CustomerContext`;
    ``state_key`` names the checkpoint documents (default: the rule set's name);
    ``keep_checkpoints`` is how many of them :meth:`checkpoint` keeps (None: all);
    ``dedup_window`` (a window such as ``"1d"``, None: off) makes the engine skip an
    event whose id it saw among the customer's events of that window
    (:attr:`duplicates` counts them).

    >>> rules = RuleSet(name="d", rules=[Threshold(name="big", at_least=100)])
    >>> eng = StreamingEngine(rules, dedup_window="1d")
    >>> e = Event("t-1", "c-1", 1_000_000, 150.0)
    >>> len(eng.process_event(e)), len(eng.process_event(e)), eng.duplicates
    (1, 0, 1)
    """

    def __init__(
        self,
        ruleset: RuleSet,
        customers: Mapping[str, CustomerContext] | None = None,
        *,
        unknown_customers: str = "queue",
        team_queue: str = DEFAULT_QUEUE,
        state_key: str | None = None,
        keep_checkpoints: int | None = 3,
        dedup_window: str | None = None,
    ) -> None:
        self.ruleset = expect_instance(ruleset, RuleSet, name="ruleset")
        self.customers: Mapping[str, CustomerContext] = customers if customers is not None else {}
        self.policy = check_policy(unknown_customers)
        self.team_queue = check_queue(team_queue)
        self.state_key = check_state_key(ruleset.name if state_key is None else state_key)
        self.keep_checkpoints = (
            None
            if keep_checkpoints is None
            else as_count(keep_checkpoints, name="keep_checkpoints", low=1)
        )
        self.dedup_window = dedup_window
        self._dedup = (
            None if dedup_window is None else parse_window(dedup_window, name="dedup_window")
        )
        self.duplicates = 0
        """How many events were skipped as already seen (``dedup_window``)."""
        self._plan = compile_plan(ruleset)
        self._evals = [make_evaluator(r) for r in self._plan.leaves]
        self._scopes = [r.scope for r in self._plan.leaves]
        self._kinds = [frozenset(k.code for k in s.kinds) or None for s in self._scopes]
        self._labels = [window_label(r) for r in ruleset.rules]
        self._leafspecs = [
            (i, e.step, k, None if kinds_only(sc) else sc)
            for i, (e, k, sc) in enumerate(zip(self._evals, self._kinds, self._scopes, strict=True))
        ]
        simple = all(top.leaf >= 0 for top in self._plan.tops) and all(
            kinds_only(sc) for sc in self._scopes
        )
        self._simple = (
            [
                (
                    top.leaf,
                    None if isinstance(top.rule, Threshold) else self._evals[top.leaf].step,
                    self._kinds[top.leaf],
                    w,
                    float(top.rule.at_least) if isinstance(top.rule, Threshold) else 0.0,
                )
                for top, w in zip(self._plan.tops, self._plan.alert_windows, strict=True)
            ]
            if simple
            else None
        )
        self._need_cents = any(isinstance(r, Velocity | BehaviourChange) for r in self._plan.leaves)
        self._topspecs = [
            (j, top.leaf, top, w)
            for j, (top, w) in enumerate(
                zip(self._plan.tops, self._plan.alert_windows, strict=True)
            )
        ]
        self._state: dict[str, _Customer] = {}
        self._get = self._state.get
        self._state_version: int | None = None

    # -- events --------------------------------------------------------------------------------
    def process(self, tx: Transaction) -> tuple[Alert, ...]:
        """Feed one :class:`~crmcore.model.Transaction`; returns the alerts it raised (a tuple)."""
        if not isinstance(tx, Transaction):
            raise ValidationError(f"expected a Transaction: {tx!r}")
        return self._process(
            tx.id,
            tx.customer_id,
            (tx.occurred_at - _EPOCH) // _US,
            float(tx.amount.amount),
            tx.kind.code,
            tx.channel,
            tx.product,
        )

    def process_event(self, event: Event) -> tuple[Alert, ...]:
        """Feed one :class:`Event`; returns the alerts it raised (the fast path; usually ``()``)."""
        eid, cid, when, amount, kind, channel, product = event
        if type(when) is int and _T_MIN <= when <= _T_MAX:
            t = when
        elif type(when) is datetime and when.tzinfo is UTC:
            t = (when - _EPOCH) // _US
        else:
            t = event_time(eid, when)
        code = _kind_code(kind)
        x = amount if type(amount) is float else event_amount(eid, amount)
        if (
            code is None
            or type(eid) is not str
            or type(cid) is not str
            or not eid
            or not cid
            or not (0.0 <= x <= MAX_AMOUNT)
            or "\x00" in eid
            # O(1) for ASCII ids: only the others take the storable-text check
            or (not eid.isascii() and text_problem(eid) is not None)
        ):
            eid, cid = plain_ids(eid, cid, kind, x)  # a str subclass (np.str_) is its text
            assert code is not None  # plain_ids refused an unknown kind
        cust = self._get(cid)
        dedup = self._dedup
        if dedup is not None and cust is not None:
            seen = cust.seen
            if seen is not None and eid in seen:
                self.duplicates += 1
                return ()
        if cust is None or t < cust.last_t:
            cust = self._admit(eid, cid, t, cust)
        if dedup is not None:
            seen = cust.seen
            if seen is not None and cust.last_t < t - dedup:  # the usual case, inlined:
                seen.clear()  # everything remembered is older than the window
                cust.seen_from = t
                seen[eid] = t
            else:
                cust.remember(eid, t, dedup)
        cust.last_t = t
        spec = self._simple
        if spec is None:
            return self._evaluate(cust, eid, cid, t, x, code, channel, product)
        alerts: list[Alert] | None = None
        cents = round(x * 100) if self._need_cents else 0
        for i, step, kinds, width, lim in spec:
            if kinds is not None and code not in kinds:
                continue
            if step is None:  # a threshold, evaluated inline
                if x < lim:
                    continue
                hit: Hit | None = new_hit(x, lim, x / lim, 0)
            else:
                hit = step(cust.states[i], t, x, cents)
                if hit is None:
                    continue
            if width:
                b = t // width
                if cust.buckets[i] == b:
                    continue
                cust.buckets[i] = b
            one: list[Hit | None] = [None] * len(self._evals)
            one[i] = hit
            found = self._alert(i, eid, cid, t, x, code, channel, product, cust.ctx, one)
            alerts = [found] if alerts is None else [*alerts, found]
        return () if alerts is None else tuple(alerts)

    def process_many(self, events: Iterable[Transaction | Event]) -> list[Alert]:
        """Feed events in order; returns all alerts (stops at the first bad event, raising)."""
        out: list[Alert] = []
        for e in events:
            out += self.process(e) if isinstance(e, Transaction) else self.process_event(e)
        return out

    def _admit(self, eid: str, cid: str, t: int, cust: _Customer | None) -> _Customer:
        if cust is not None:
            raise OutOfOrderError(
                f"event {eid!r} of customer {cid!r} at {(_EPOCH + t * _US).isoformat()} is older "
                f"than the customer's last event at {(_EPOCH + cust.last_t * _US).isoformat()}; "
                "streaming needs each customer's events in time order"
            )
        problem = id_problem(cid)  # checked once per new customer, before any state
        if problem is not None:
            raise ValidationError(f"'customer_id' of event {eid!r} {problem}: {cid!r}")
        ctx = self.customers.get(cid)
        if ctx is None and self.policy == "error":
            raise UnknownCustomerError(
                f"event {eid!r}: customer {cid!r} is unknown to the engine (unknown_customers='error')"
            )
        cust = _Customer(ctx, [e.new_state() for e in self._evals], len(self._plan.tops), t)
        self._state[cid] = cust
        return cust

    def _process(
        self,
        eid: str,
        cid: str,
        t: int,
        x: float,
        kind: int,
        channel: str | None,
        product: str | None,
    ) -> tuple[Alert, ...]:
        if not (0.0 <= x <= MAX_AMOUNT):  # the ids passed the model's (storable) rule
            plain_ids(eid, cid, "purchase", x)  # raises naming the amount
        cust = self._state.get(cid)
        dedup = self._dedup
        if dedup is not None and cust is not None and eid in (cust.seen or ()):
            self.duplicates += 1
            return ()
        if cust is None or t < cust.last_t:
            cust = self._admit(eid, cid, t, cust)
        if dedup is not None:
            cust.remember(eid, t, dedup)
        cust.last_t = t
        return self._evaluate(cust, eid, cid, t, x, kind, channel, product)

    def _evaluate(
        self,
        cust: _Customer,
        eid: str,
        cid: str,
        t: int,
        x: float,
        kind: int,
        channel: str | None,
        product: str | None,
    ) -> tuple[Alert, ...]:
        cents = round(x * 100)
        ctx = cust.ctx
        states = cust.states
        hits: list[Hit | None] = []
        for i, step, kinds, scope in self._leafspecs:
            if (kinds is None or kind in kinds) and (
                scope is None or in_scope(scope, kind, channel, product, ctx)
            ):
                hits.append(step(states[i], t, x, cents))
            else:
                hits.append(None)
        alerts: list[Alert] = []
        for j, leaf, top, width in self._topspecs:
            if leaf >= 0:
                if hits[leaf] is None:
                    continue
            elif not fires(
                top, hits.__getitem__, lambda s: in_scope(s, kind, channel, product, ctx)
            ):
                continue
            if width:
                b = t // width
                if cust.buckets[j] == b:
                    continue
                cust.buckets[j] = b
            alerts.append(self._alert(j, eid, cid, t, x, kind, channel, product, ctx, hits))
        return tuple(alerts)

    def _alert(
        self,
        j: int,
        eid: str,
        cid: str,
        t: int,
        x: float,
        kind: int,
        channel: str | None,
        product: str | None,
        ctx: CustomerContext | None,
        hits: list[Hit | None],
    ) -> Alert:
        top = self._plan.tops[j]
        width = self._plan.alert_windows[j]
        hit, text = describe(
            top, hits.__getitem__, lambda s: in_scope(s, kind, channel, product, ctx), kind, x
        )
        when = _EPOCH + t * _US
        window = f"tx:{eid}" if not width else f"{self._labels[j]}@{t // width}"
        owner = ctx.owner_id if ctx is not None else None
        rs = self.ruleset
        return Alert(
            id=alert_id(rs.name, top.rule.name, cid, window),
            ruleset=rs.name,
            rule=top.rule.name,
            rule_version=rs.version,
            rule_type=TAGS[type(top.rule)],
            customer_id=cid,
            transaction_ids=(eid,),
            occurred_at=when,
            observed=float(hit.observed),
            baseline=float(hit.baseline),
            deviation=float(hit.deviation),
            history=int(hit.history),
            explanation=text,
            routed_to=owner if owner is not None else self.team_queue,
            window=window,
            owner_id=owner,
            steps=(AlertStep(status="open", at=when),),
        )

    # -- state -------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The whole state as a JSON-safe dict (what :meth:`checkpoint` stores).

        Format 2: per customer ``[last time, leaf states, alert buckets, recent events]``,
        the recent events being ``[since, {id: time}]``, the ids that ``dedup_window``
        remembers (``[]`` when it is off).
        """
        customers = {
            cid: [
                c.last_t,
                [e.dump(s) for e, s in zip(self._evals, c.states, strict=True)],
                c.buckets,
                [] if c.seen is None else [c.seen_from, c.seen],
            ]
            for cid, c in sorted(self._state.items())
        }
        return {
            "format": 2,
            "ruleset": self.ruleset.name,
            "ruleset_version": self.ruleset.version,
            "fingerprint": _fingerprint(self.ruleset),
            "customers": customers,
        }

    def load_snapshot(self, data: Mapping[str, Any]) -> None:
        """Replace the state with a :meth:`snapshot` (ConfigurationError if the rules differ).

        Snapshots of format 1 (before de-duplication) are read with no remembered events.
        """
        fmt = data.get("format") if isinstance(data, Mapping) else None
        if fmt not in (1, 2):
            raise ValidationError("not an anomaly state document of format 1 or 2")
        if data.get("fingerprint") != _fingerprint(self.ruleset):
            raise ConfigurationError(
                f"the saved state was made by other rules (rule set {data.get('ruleset')!r} "
                f"version {data.get('ruleset_version')}); it cannot drive rule set "
                f"{self.ruleset.name!r} version {self.ruleset.version}"
            )
        state: dict[str, _Customer] = {}
        try:
            for cid, parts in data["customers"].items():
                last_t, states, buckets, *rest = parts
                if len(rest) != (fmt == 2):
                    raise ValueError(f"customer {cid!r} has {len(parts)} parts")
                c = _Customer(self.customers.get(cid), [], len(self._plan.tops), int(last_t))
                c.states = [e.load(s) for e, s in zip(self._evals, states, strict=True)]
                c.buckets = [None if b is None else int(b) for b in buckets]
                if rest and rest[0] and self._dedup is not None:
                    seen_from, seen = rest[0]
                    c.seen = {str(k): int(v) for k, v in seen.items()}
                    c.seen_from = int(seen_from)
                state[cid] = c
        except (KeyError, TypeError, ValueError) as e:
            raise ValidationError(f"the anomaly state document is damaged: {e!r}") from e
        self._state = state
        self._get = state.get

    def checkpoint(self, uow: Any) -> int:
        """Store the state in ``uow.documents`` as the next checkpoint; returns its number.

        The checkpoints older than the last ``keep_checkpoints`` are deleted in the same
        block (see :mod:`crmcore.anomaly._checkpoints`). Call it inside ``with uow:`` and
        ``uow.commit()`` afterwards. A checkpoint written by another engine with the same
        ``state_key`` since this one's last checkpoint or restore raises ConcurrencyError.
        """
        number = _write_checkpoint(
            uow.documents,
            self.state_key,
            self.snapshot(),
            expected=self._state_version,
            keep=self.keep_checkpoints,
        )
        self._state_version = number
        return number

    def restore(self, uow: Any, *, version: int | None = None) -> int:
        """Replace the state with a stored checkpoint (the latest, or number ``version``, if
        it is still kept); returns its number."""
        if version is not None:
            version = as_count(version, name="version", low=1)
        data, number = read_checkpoint(uow.documents, self.state_key, version)
        self.load_snapshot(data)
        # after reading an older checkpoint, the next one continues from the latest
        self._state_version = number if version is None else None
        return number

    def customer_count(self) -> int:
        """How many customers the engine holds state for."""
        return len(self._state)
