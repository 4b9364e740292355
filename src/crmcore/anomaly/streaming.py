"""The streaming engine: one transaction at a time, incremental per-customer state.

Per customer the engine keeps, for every leaf rule, a ring buffer of the
last amounts (robust z), the EW mean and variance, the window deques with
exact cent sums (velocity, change) or the last time (dormant), plus the last
alert window per rule (deduplication). ``checkpoint(uow)`` stores all of it
as one ``"anomaly_state"`` document; ``restore(uow)`` reads it back exactly.

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
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

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
from crmcore.anomaly.rules import TAGS, BehaviourChange, RuleSet, Scope, Threshold, Velocity
from crmcore.errors import ConfigurationError, NotFoundError, ValidationError
from crmcore.model._storable import id_problem, text_problem
from crmcore.model.transaction import Transaction, TransactionKind
from crmcore.options import expect_instance
from crmcore.serialization import to_json
from crmcore.timestamps import utc_problem

__all__ = ["STATE_KIND", "Event", "OutOfOrderError", "StreamingEngine"]

STATE_KIND = "anomaly_state"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_T_MIN = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _US
_T_MAX = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) // _US
_KIND_CODES = {k.value: k.code for k in TransactionKind}
_KINDS = list(TransactionKind)
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
    __slots__ = ("buckets", "ctx", "last_t", "states")

    def __init__(
        self, ctx: CustomerContext | None, states: list[Any], n_rules: int, last_t: int
    ) -> None:
        self.ctx = ctx
        self.last_t = last_t
        self.states = states
        self.buckets: list[int | None] = [None] * n_rules


def _fingerprint(ruleset: RuleSet) -> str:
    return hashlib.sha256(to_json(list(ruleset.rules)).encode()).hexdigest()[:16]


class StreamingEngine:
    """Evaluate a rule set one event at a time (see the module docstring).

    ``customers`` maps customer ids to :class:`~crmcore.anomaly.CustomerContext`;
    ``state_key`` names the checkpoint document (default: the rule set's name).
    """

    def __init__(
        self,
        ruleset: RuleSet,
        customers: Mapping[str, CustomerContext] | None = None,
        *,
        unknown_customers: str = "queue",
        team_queue: str = DEFAULT_QUEUE,
        state_key: str | None = None,
    ) -> None:
        self.ruleset = expect_instance(ruleset, RuleSet, name="ruleset")
        self.customers: Mapping[str, CustomerContext] = customers if customers is not None else {}
        self.policy = check_policy(unknown_customers)
        self.team_queue = check_queue(team_queue)
        self.state_key = state_key or ruleset.name
        self._plan = compile_plan(ruleset)
        self._evals = [make_evaluator(r) for r in self._plan.leaves]
        self._scopes = [r.scope for r in self._plan.leaves]
        self._kinds = [frozenset(k.code for k in s.kinds) or None for s in self._scopes]
        self._labels = [window_label(r) for r in ruleset.rules]
        self._leafspecs = [
            (i, e.step, k, None if _kinds_only(sc) else sc)
            for i, (e, k, sc) in enumerate(zip(self._evals, self._kinds, self._scopes, strict=True))
        ]
        simple = all(top.leaf >= 0 for top in self._plan.tops) and all(
            _kinds_only(sc) for sc in self._scopes
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
            t = _event_time(eid, when)
        code = _kind_code(kind)
        x = amount if type(amount) is float else _event_amount(eid, amount)
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
            eid, cid = _plain_ids(eid, cid, kind, x)  # a str subclass (np.str_) is its text
            assert code is not None  # _plain_ids refused an unknown kind
        cust = self._get(cid)
        if cust is None or t < cust.last_t:
            cust = self._admit(eid, cid, t, cust)
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
            _plain_ids(eid, cid, "purchase", x)  # raises naming the amount
        cust = self._state.get(cid)
        if cust is None or t < cust.last_t:
            cust = self._admit(eid, cid, t, cust)
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
                scope is None or _in_scope(scope, kind, channel, product, ctx)
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
                top, hits.__getitem__, lambda s: _in_scope(s, kind, channel, product, ctx)
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
            top, hits.__getitem__, lambda s: _in_scope(s, kind, channel, product, ctx), kind, x
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
        """The whole state as a JSON-safe dict (what :meth:`checkpoint` stores)."""
        customers = {
            cid: [
                c.last_t,
                [e.dump(s) for e, s in zip(self._evals, c.states, strict=True)],
                c.buckets,
            ]
            for cid, c in sorted(self._state.items())
        }
        return {
            "format": 1,
            "ruleset": self.ruleset.name,
            "ruleset_version": self.ruleset.version,
            "fingerprint": _fingerprint(self.ruleset),
            "customers": customers,
        }

    def load_snapshot(self, data: Mapping[str, Any]) -> None:
        """Replace the state with a :meth:`snapshot` (ConfigurationError if the rules differ)."""
        if not isinstance(data, Mapping) or data.get("format") != 1:
            raise ValidationError("not an anomaly state document of format 1")
        if data.get("fingerprint") != _fingerprint(self.ruleset):
            raise ConfigurationError(
                f"the saved state was made by other rules (rule set {data.get('ruleset')!r} "
                f"version {data.get('ruleset_version')}); it cannot drive rule set "
                f"{self.ruleset.name!r} version {self.ruleset.version}"
            )
        state: dict[str, _Customer] = {}
        try:
            for cid, (last_t, states, buckets) in data["customers"].items():
                c = _Customer(self.customers.get(cid), [], len(self._plan.tops), int(last_t))
                c.states = [e.load(s) for e, s in zip(self._evals, states, strict=True)]
                c.buckets = [None if b is None else int(b) for b in buckets]
                state[cid] = c
        except (KeyError, TypeError, ValueError) as e:
            raise ValidationError(f"the anomaly state document is damaged: {e!r}") from e
        self._state = state
        self._get = state.get

    def checkpoint(self, uow: Any) -> int:
        """Store the state in ``uow.documents`` (kind ``"anomaly_state"``); returns its version.

        Call it inside ``with uow:`` and ``uow.commit()`` afterwards. A
        concurrent checkpoint by another engine raises ConcurrencyError.
        """
        expected = self._state_version
        if expected is None:
            try:
                _, expected = uow.documents.get(STATE_KIND, self.state_key)
            except NotFoundError:
                expected = None
        version: int = uow.documents.put(
            STATE_KIND, self.state_key, self.snapshot(), expected_version=expected
        )
        self._state_version = version
        return version

    def restore(self, uow: Any, *, version: int | None = None) -> int:
        """Replace the state with the stored one (the latest, or ``version``); returns the version."""
        data, v = uow.documents.get(STATE_KIND, self.state_key, version=version)
        self.load_snapshot(data)
        # after reading an older version, the next checkpoint must be based on the latest one
        self._state_version = v if version is None else None
        return int(v)

    def customer_count(self) -> int:
        """How many customers the engine holds state for."""
        return len(self._state)


def _event_time(eid: object, when: object) -> int:
    problem = utc_problem(when)  # the records' time rule (crmcore.timestamps)
    if problem is None:
        assert isinstance(when, datetime)  # utc_problem refuses anything else
        return (when - _EPOCH) // _US
    if type(when) is int:
        raise ValidationError(
            f"'time' of event {eid!r} must be microseconds since 1970 within the years "
            f"1-9999 ([{_T_MIN}, {_T_MAX}]): {when!r}"
        )
    raise ValidationError(
        f"'time' of event {eid!r} must be a timezone-aware UTC datetime "
        f"(or integer microseconds since 1970): {problem}: {when!r}"
    )


def _event_amount(eid: object, amount: object) -> float:
    try:
        return float(amount)  # type: ignore[arg-type]  # anything float() takes; the rest is an error
    except (TypeError, ValueError):
        raise ValidationError(f"'amount' of event {eid!r} must be a number: {amount!r}") from None


def _plain_ids(eid: object, cid: object, kind: object, x: float) -> tuple[str, str]:
    """The event's ids as plain ``str`` when the event is valid (a ``str`` subclass such as
    ``np.str_`` is the text it holds, as for the model and the backends); else the error
    naming the field. The customer id follows the one id rule (``model._storable.id_problem``)."""
    if isinstance(eid, str):
        eid = str.__str__(eid)
    if type(eid) is not str or not eid:
        raise ValidationError(f"'id' of an event must be a non-empty string: {eid!r}")
    problem = text_problem(eid)
    if problem is not None:
        raise ValidationError(f"'id' of an event {problem}: {eid!r}")
    problem = id_problem(cid)
    if problem is not None:
        raise ValidationError(f"'customer_id' of event {eid!r} {problem}: {cid!r}")
    assert isinstance(cid, str)  # id_problem refuses anything else
    cid = str.__str__(cid)
    if kind not in _KIND_CODES:
        raise ValidationError(
            f"'kind' of event {eid!r} must be one of {sorted(_KIND_CODES)}: {kind!r}"
        )
    if not (0.0 <= x <= MAX_AMOUNT):
        raise ValidationError(
            f"'amount' of event {eid!r} must be a finite number in [0, {MAX_AMOUNT:g}]: {x}"
        )
    return eid, cid


def _kinds_only(scope: Scope) -> bool:
    return not (scope.channels or scope.products or scope.segments or scope.tiers)


def _in_scope(
    scope: Scope, kind: int, channel: str | None, product: str | None, ctx: CustomerContext | None
) -> bool:
    if scope.kinds and _KINDS[kind] not in scope.kinds:
        return False
    if scope.channels and channel not in scope.channels:
        return False
    if scope.products and product not in scope.products:
        return False
    if scope.segments and (ctx is None or ctx.segment not in scope.segments):
        return False
    return not (scope.tiers and (ctx is None or ctx.tier not in scope.tiers))
