"""The batch engine: every rule over a whole :class:`~crmcore.tables.TransactionLog` in arrays.

The log is ordered once in the total order of transactions: customer, time,
transaction id (ids compared by code point; a log without ids keeps its row
order among ties). Two transactions of one customer at the same instant thus
feed the baselines in the same order whatever order the rows came in and
whichever backend stored them, and a streaming engine agrees when it sees
them in that order (as ``uow.transactions.iter()`` delivers them). Each leaf
rule runs as one array kernel over its in-scope rows; combinations are
boolean masks; alerts are deduplicated per customer, rule and alert window
and materialised only for the rows that fired, named by transaction id.

>>> from crmcore.tables import TransactionLog
>>> from crmcore.anomaly import RuleSet, Threshold, CustomerContext
>>> log = TransactionLog.from_arrays(customer_ids=["c-1", "c-1", "c-2"],
...     timestamps=["2025-01-02", "2025-01-05", "2025-01-03"], amounts=[50.0, 9_000.0, 20.0],
...     kinds=["deposit", "withdrawal", "deposit"], ids=["t-1", "t-2", "t-3"])
>>> found = detect(log, RuleSet(name="bank", rules=[Threshold(name="big", at_least=5_000)]),
...                {"c-1": CustomerContext(owner_id="rep-9")})
>>> [(a.customer_id, a.transaction_ids, a.routed_to, a.explanation) for a in found.alerts()]
[('c-1', ('t-2',), 'rep-9', 'Withdrawal of 9,000.00 is above the fixed limit of 5,000.00')]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import array
from crmcore.anomaly import _kernels as kern
from crmcore.anomaly.alerts import Alert, AlertStep, AlertTable, alert_id
from crmcore.anomaly.context import (
    DEFAULT_QUEUE,
    CustomerContext,
    UnknownCustomerError,
    check_policy,
    check_queue,
)
from crmcore.anomaly.plan import Hit, Node, Plan, compile_plan, describe, new_hit
from crmcore.anomaly.rules import (
    _RULE_CLASSES,
    AllOf,
    AnyOf,
    BehaviourChange,
    Dormant,
    EWBaseline,
    RobustZ,
    Rule,
    RuleSet,
    Scope,
    Threshold,
    Velocity,
)
from crmcore.anomaly.rules import TAGS as _TAGS
from crmcore.arrays import IntArray
from crmcore.errors import ConfigurationError, ValidationError
from crmcore.model._fields import instance, tuple_of
from crmcore.options import expect_instance
from crmcore.progress import Progress, stage
from crmcore.tables import TransactionLog
from crmcore.tables._order import total_order
from crmcore.timestamps import MAX_MICROS, MIN_MICROS

__all__ = ["MAX_AMOUNT", "Detection", "detect", "window_label"]

MAX_AMOUNT = 1e13
"""Largest amount the engines accept (keeps exact cent sums inside 64 bits)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Bool = npt.NDArray[np.bool_]


def window_label(rule: Rule) -> str:
    """The text of a rule's alert window ('' = one alert per transaction).

    >>> window_label(Velocity(window="7d")), window_label(Threshold(at_least=1))
    ('7d', '')
    """
    if not isinstance(rule, _RULE_CLASSES):
        raise ValidationError(f"'rule' must be a rule: {rule!r}"[:200])
    if rule.alert_window is not None:
        return rule.alert_window
    if isinstance(rule, Velocity | BehaviourChange):
        return rule.window
    return ""


def check_amounts(x: npt.NDArray[np.float64]) -> None:
    """Amounts must be finite, non-negative and at most :data:`MAX_AMOUNT`.

    >>> check_amounts(np.array([1.0, np.nan]))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'amount' must be a finite number in [0, 1e+13]: nan at row 1
    """
    bad = ~((x >= 0) & (x <= MAX_AMOUNT))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"'amount' must be a finite number in [0, {MAX_AMOUNT:g}]: {x[i]} at row {i}"
        )


@attrs.frozen(eq=False)
class Detection(Tabular):
    """What a batch run found: per top-level rule, the sorted rows that raised an alert.

    ``counts()`` is cheap; ``alerts()`` builds the :class:`~crmcore.anomaly.Alert` records.
    """

    plan: Plan = attrs.field(validator=instance(Plan, "a Plan"))
    log: TransactionLog = attrs.field(validator=instance(TransactionLog, "a TransactionLog"))
    order: IntArray | None = attrs.field(validator=array("i", 0, optional=True))
    c: IntArray = attrs.field(validator=array("i", 0))
    t: IntArray = attrs.field(validator=array("i", MIN_MICROS, MAX_MICROS, length="c"))
    leaf_hits: tuple[kern.LeafHits, ...] = attrs.field(
        validator=tuple_of(kern.LeafHits, "the LeafHits of a leaf")
    )
    fired: tuple[IntArray, ...] = attrs.field(validator=tuple_of(np.ndarray, "an array of rows"))
    customers: Mapping[str, CustomerContext] = attrs.field(
        validator=instance(Mapping, "a mapping of customer id to CustomerContext")
    )
    team_queue: str = attrs.field(validator=instance(str, "a queue name"))

    def __len__(self) -> int:
        return sum(len(r) for r in self.fired)

    def counts(self) -> dict[str, int]:
        """Alerts per rule name, in rule-set order."""
        return {r.name: len(f) for r, f in zip(self.plan.ruleset.rules, self.fired, strict=True)}

    def _row(self, r: int) -> int:
        return int(r) if self.order is None else int(self.order[r])

    def alerts(self, *, transactions: Any = None) -> list[Alert]:
        """The alerts, ordered by rule, customer and time.

        Each alert names its transaction by id (``tx:<id>`` is also its window, so its
        id is the same whatever order the rows came in and whatever data were added
        later). A log read with ``read_log()`` carries the ids. For a log without ids,
        pass the repository it came from (``transactions=uow.transactions``): the ids
        of the alerting rows are then found in one ``read_log`` query over the alerting
        customers (matched on customer, time, amount and kind); rows it cannot match,
        and every row when no repository is given, are named ``row:<index>``, which
        is not stable.
        """
        log, rs = self.log, self.plan.ruleset
        names = self._transaction_ids(transactions)
        out: list[Alert] = []
        for j, (top, rows) in enumerate(zip(self.plan.tops, self.fired, strict=True)):
            label = window_label(top.rule)
            width = self.plan.alert_windows[j]
            for r in rows.tolist():
                orig = self._row(r)
                cid = str(log.customer_ids[self.c[r]])
                tx = names(r, orig)
                kind, amount = int(log.kind[orig]), float(log.amount[orig])
                hit, text = describe(
                    top, self._hit_lookup(r), self._scope_check(orig, cid), kind, amount
                )
                tus = int(self.t[r])
                when = _EPOCH + timedelta(microseconds=tus)
                window = f"tx:{tx}" if not width else f"{label}@{tus // width}"
                ctx = self.customers.get(cid)
                owner = ctx.owner_id if ctx is not None else None
                out.append(
                    Alert(
                        id=alert_id(rs.name, top.rule.name, cid, window),
                        ruleset=rs.name,
                        rule=top.rule.name,
                        rule_version=rs.version,
                        rule_type=_TAGS[type(top.rule)],
                        customer_id=cid,
                        transaction_ids=(tx,),
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
                )
        return out

    def _transaction_ids(self, repo: Any) -> Callable[[int, int], str]:
        """``name(sorted row, original row)``: the transaction id of an alerting row."""
        ids = self.log.ids
        if ids is not None:
            return lambda r, orig: str(ids[orig])
        found = {} if repo is None else self._look_up_ids(repo)
        return lambda r, orig: found.get(r, f"row:{orig}")

    def _look_up_ids(self, repo: Any) -> dict[int, str]:
        """The stored ids of the alerting rows of a log without ids, from one ``read_log``."""
        rows = np.unique(np.concatenate([np.zeros(0, np.int64), *self.fired]))
        if not len(rows):
            return {}
        log = self.log
        cids = sorted({str(log.customer_ids[c]) for c in self.c[rows].tolist()})
        lo, hi = int(self.t[rows].min()), int(self.t[rows].max())
        stored = repo.read_log(
            customer_ids=cids,
            start=_EPOCH + timedelta(microseconds=lo),
            end=None if hi >= MAX_MICROS else _EPOCH + timedelta(microseconds=hi + 1),
        )
        if stored.ids is None:
            return {}
        # stored ids per (customer, time, amount in millionths, kind), in the total order
        pool: dict[tuple[str, int, int, int], list[str]] = {}
        s_t = stored.time.astype("datetime64[us]").view(np.int64).tolist()
        s_e6 = np.rint(stored.amount * 1e6).astype(np.int64).tolist()
        s_c = stored.row_customer_ids.tolist()
        for c, t, a, k, tid in zip(
            s_c, s_t, s_e6, stored.kind.tolist(), stored.ids.tolist(), strict=True
        ):
            pool.setdefault((c, t, a, k), []).append(str(tid))
        # the k-th row of the log with a key is the k-th stored transaction with that key
        e6 = np.rint(log.amount * 1e6).astype(np.int64)
        out: dict[int, str] = {}
        for r in rows.tolist():
            orig = self._row(r)
            key = (
                str(log.customer_ids[self.c[r]]),
                int(self.t[r]),
                int(e6[orig]),
                int(log.kind[orig]),
            )
            k, q = 0, r - 1
            while q >= 0 and self.c[q] == self.c[r] and self.t[q] == self.t[r]:
                o = self._row(q)
                k += int(e6[o]) == key[2] and int(log.kind[o]) == key[3]
                q -= 1
            got = pool.get(key, [])
            if k < len(got):
                out[r] = got[k]
        return out

    def _hit_lookup(self, r: int) -> Any:
        def hit_of(i: int) -> Hit | None:
            h = self.leaf_hits[i]
            j = int(np.searchsorted(h.rows, r))
            if j < len(h.rows) and h.rows[j] == r:
                return new_hit(
                    float(h.observed[j]),
                    float(h.baseline[j]),
                    float(h.deviation[j]),
                    int(h.history[j]),
                )
            return None

        return hit_of

    def _scope_check(self, orig: int, cid: str) -> Any:
        log = self.log
        ctx = self.customers.get(cid)

        def in_scope(scope: Scope) -> bool:
            return _row_in_scope(scope, log, orig, ctx)

        return in_scope

    def _columns(self) -> Columns:
        # the alerts() records, one row per alert (transactions named as alerts() names them)
        return AlertTable(self.alerts())._columns()


def _row_in_scope(scope: Scope, log: TransactionLog, i: int, ctx: CustomerContext | None) -> bool:
    if scope.kinds and int(log.kind[i]) not in {k.code for k in scope.kinds}:
        return False
    if scope.channels and (log.channels is None or log.channels[i] not in scope.channels):
        return False
    if scope.products and (log.products is None or log.products[i] not in scope.products):
        return False
    if scope.segments and (ctx is None or ctx.segment not in scope.segments):
        return False
    return not (scope.tiers and (ctx is None or ctx.tier not in scope.tiers))


class _Table:
    """The log ordered by customer then time, with per-customer attributes on demand."""

    def __init__(
        self, log: TransactionLog, order: IntArray | None, customers: Mapping[str, CustomerContext]
    ) -> None:
        def take(a: Any) -> Any:
            return a if order is None or a is None else a[order]

        self.log = log
        self.c: IntArray = take(log.customer)
        self.t: IntArray = take(log.time.astype("datetime64[us]").view(np.int64))
        self.x = take(log.amount)
        self.kind = take(log.kind)
        self.channels = take(log.channels)
        self.products = take(log.products)
        self.customers = customers
        self._attr: dict[str, npt.NDArray[Any]] = {}

    def customer_attr(self, name: str) -> npt.NDArray[Any]:
        if name not in self._attr:
            vals = [
                getattr(self.customers.get(str(cid)), name, None) for cid in self.log.customer_ids
            ]
            self._attr[name] = np.array(vals, dtype=object)
        return self._attr[name]

    def scope_mask(self, scope: Scope, rule_name: str) -> Bool | None:
        if scope.is_everything:
            return None
        m = np.ones(len(self.c), dtype=bool)
        if scope.kinds:
            m &= np.isin(self.kind, [k.code for k in scope.kinds])
        for field, col in (("channels", self.channels), ("products", self.products)):
            wanted = getattr(scope, field)
            if wanted:
                if col is None:
                    raise ConfigurationError(
                        f"rule {rule_name!r} is scoped by {field!r} but the transaction log has "
                        f"no {field!r} column"
                    )
                m &= np.isin(col, list(wanted))
        for field, attr in (("segments", "segment"), ("tiers", "tier")):
            wanted = getattr(scope, field)
            if wanted:
                per_customer = np.isin(self.customer_attr(attr), list(wanted))
                m &= per_customer[self.c]
        return m

    def run_leaf(self, rule: Rule, name: str) -> kern.LeafHits:
        mask = self.scope_mask(rule.scope, name)
        idx = None if mask is None else np.flatnonzero(mask)
        c = self.c if idx is None else self.c[idx]
        t = self.t if idx is None else self.t[idx]
        x = self.x if idx is None else self.x[idx]
        n = len(c)
        is_start = np.ones(n, dtype=bool)
        if n:
            is_start[1:] = c[1:] != c[:-1]
        starts = np.flatnonzero(is_start)
        gstart = starts[np.cumsum(is_start) - 1] if n else np.zeros(0, np.int64)
        pos = np.arange(n) - gstart
        if isinstance(rule, Threshold):
            h = kern.threshold(x, rule)
        elif isinstance(rule, RobustZ):
            h = kern.robust_z(x, pos, rule)
        elif isinstance(rule, EWBaseline):
            lengths = np.diff(np.append(starts, n))
            h = kern.ew_baseline(x, starts, lengths, rule)
        elif isinstance(rule, Velocity):
            h = kern.velocity(c, t, x, gstart, rule)
        elif isinstance(rule, BehaviourChange):
            h = kern.behaviour_change(c, t, x, gstart, rule)
        else:
            assert isinstance(rule, Dormant)
            h = kern.dormant(c, t, pos, rule)
        return h if idx is None else h._replace(rows=idx[h.rows])


def _node_mask(node: Node, table: _Table, hits: tuple[kern.LeafHits, ...], name: str) -> Bool:
    n = len(table.c)
    if node.leaf >= 0:
        m = np.zeros(n, dtype=bool)
        m[hits[node.leaf].rows] = True
        return m
    scope = table.scope_mask(node.rule.scope, name)
    kids = [_node_mask(ch, table, hits, name) for ch in node.children]
    if isinstance(node.rule, AllOf):
        m = np.logical_and.reduce(kids)
    elif isinstance(node.rule, AnyOf):
        m = np.logical_or.reduce(kids)
    else:
        m = ~kids[0]
    return m if scope is None else m & scope


def detect(
    log: TransactionLog,
    ruleset: RuleSet,
    customers: Mapping[str, CustomerContext] | None = None,
    *,
    unknown_customers: str = "queue",
    team_queue: str = DEFAULT_QUEUE,
    progress: Progress | None = None,
) -> Detection:
    """Run every rule of ``ruleset`` over ``log``; see the module docstring.

    ``customers`` maps customer ids (as strings) to their owner, segment and
    tier. With ``unknown_customers="error"`` a customer missing from it is an
    :class:`~crmcore.anomaly.UnknownCustomerError`; with ``"queue"`` their
    alerts go to ``team_queue``. ``progress`` (:mod:`crmcore.progress`) hears of
    each leaf rule run (stage ``"anomaly rules"``, ``total`` the number of leaf rules).
    """
    log = expect_instance(log, TransactionLog, name="log")
    policy = check_policy(unknown_customers)
    team_queue = check_queue(team_queue)
    if customers is not None and not isinstance(customers, Mapping):
        raise ValidationError(
            f"'customers' must be a mapping of customer id to CustomerContext: {customers!r}"[:200]
        )
    ctx: Mapping[str, CustomerContext] = customers if customers is not None else {}
    if policy == "error":
        present = np.unique(log.customer)
        missing = [str(log.customer_ids[i]) for i in present if str(log.customer_ids[i]) not in ctx]
        if missing:
            raise UnknownCustomerError(
                f"{len(missing)} customer(s) of the log are unknown to the engine, "
                f"e.g. {missing[0]!r} (unknown_customers='error')"
            )
    check_amounts(log.amount)
    plan = compile_plan(ruleset)
    tick = stage(progress, "anomaly rules", total=len(plan.leaves))
    t_all = log.time.astype("datetime64[us]").view(np.int64)
    order = total_order(log.customer, t_all, log.ids)
    table = _Table(log, order, ctx)
    names = _leaf_names(plan)
    hits = tuple(
        tick.counting(table.run_leaf)(rule, names[i]) for i, rule in enumerate(plan.leaves)
    )
    fired: list[IntArray] = []
    for top, width in zip(plan.tops, plan.alert_windows, strict=True):
        if top.leaf >= 0:
            rows = hits[top.leaf].rows
        else:
            rows = np.flatnonzero(_node_mask(top, table, hits, top.rule.name))
        if width and len(rows):
            c, b = table.c[rows], table.t[rows] // width
            keep = np.ones(len(rows), dtype=bool)
            keep[1:] = (c[1:] != c[:-1]) | (b[1:] != b[:-1])
            rows = rows[keep]
        fired.append(rows.astype(np.int64))
    tick.finish()
    return Detection(plan, log, order, table.c, table.t, hits, tuple(fired), ctx, team_queue)


def _leaf_names(plan: Plan) -> list[str]:
    names: list[str] = [""] * len(plan.leaves)

    def walk(node: Node, top: str) -> None:
        if node.leaf >= 0:
            names[node.leaf] = top
        for ch in node.children:
            walk(ch, top)

    for top in plan.tops:
        walk(top, top.rule.name)
    return names
