"""Customer-state anomaly rules: rules as data, per-customer baselines, two engines, alerts.

A bank loads every customer's transactions and asks which ones are abnormal
*for that customer*; the alert goes to the staff who own the customer, who
call and record what happened. Rules are frozen records (JSON through
:mod:`crmcore.serialization`), the batch engine (:func:`detect`) runs them
over a whole :class:`~crmcore.tables.TransactionLog` in arrays, and the
:class:`StreamingEngine` runs them one event at a time with the same
results.

>>> from crmcore.anomaly import RuleSet, RobustZ, Scope
>>> rules = RuleSet(name="bank", rules=[
...     RobustZ(name="large-withdrawal", scope=Scope(kinds=("withdrawal",)), lookback=20, z=6.0)])
>>> rules.rules[0].min_history
5
"""

from __future__ import annotations

from crmcore.anomaly.alerts import (
    OUTCOMES,
    Alert,
    AlertStatus,
    AlertStep,
    AlertSummary,
    AlertTable,
    alert_id,
    summarize,
)
from crmcore.anomaly.batch import MAX_AMOUNT, Detection, detect
from crmcore.anomaly.context import (
    DEFAULT_QUEUE,
    CustomerContext,
    UnknownCustomerError,
    contexts_from_customers,
)
from crmcore.anomaly.rules import (
    AllOf,
    AnyOf,
    BehaviourChange,
    Direction,
    Dormant,
    EWBaseline,
    Measure,
    Not,
    RobustZ,
    Rule,
    RuleSet,
    Scope,
    Threshold,
    Velocity,
    parse_window,
)
from crmcore.anomaly.store import (
    ALERT_KIND,
    RULESET_KIND,
    AlertStore,
    load_ruleset,
    save_ruleset,
)
from crmcore.anomaly.streaming import STATE_KIND, Event, OutOfOrderError, StreamingEngine

__all__ = [
    "ALERT_KIND",
    "DEFAULT_QUEUE",
    "MAX_AMOUNT",
    "OUTCOMES",
    "RULESET_KIND",
    "STATE_KIND",
    "Alert",
    "AlertStatus",
    "AlertStep",
    "AlertStore",
    "AlertSummary",
    "AlertTable",
    "AllOf",
    "AnyOf",
    "BehaviourChange",
    "CustomerContext",
    "Detection",
    "Direction",
    "Dormant",
    "EWBaseline",
    "Event",
    "Measure",
    "Not",
    "OutOfOrderError",
    "RobustZ",
    "Rule",
    "RuleSet",
    "Scope",
    "StreamingEngine",
    "Threshold",
    "UnknownCustomerError",
    "Velocity",
    "alert_id",
    "contexts_from_customers",
    "detect",
    "load_ruleset",
    "parse_window",
    "save_ruleset",
    "summarize",
]
