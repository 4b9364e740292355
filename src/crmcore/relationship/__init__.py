"""The relationship itself: one view of each customer and the reports that reach back years.

* :func:`customer_timeline` / :func:`iter_timeline`: one customer's interactions,
  transactions, opportunity changes, activities, surveys and alerts in one time order,
  filtered by kind, channel and period, paged by a stable cursor (range reads only);
* :func:`value_state`: the customer's value at a date (CLV and P(alive) from a fitted
  model, RFM segment, tier, NPS and CSAT, open deals and their scores, open alerts,
  channel preference, consent);
* :func:`customer_view`: the profile, related people and organisations, the first page
  of the timeline and the value state together (the 360° view);
* :func:`long_term_report`: interactions by kind and channel per year going back years,
  tenure, last touch and the four long-term indices (CAC, CLV, NPS, repurchase
  propensity) with the CLV > CAC check, by customer or segment.

Every function reads through the repository protocols of a unit of work
(:mod:`crmcore.repositories`), so it works on every backend.

>>> from crmcore.relationship import TIMELINE_KINDS
>>> "interaction" in TIMELINE_KINDS
True
"""

from __future__ import annotations

from crmcore.relationship._health import crm_health
from crmcore.relationship._health_core import CUSTOMER_FIELDS_CHECKED, OPPORTUNITY_FIELDS_CHECKED
from crmcore.relationship._health_tables import (
    CRMHealth,
    FieldQuality,
    MonthlyHealth,
    RepAdoption,
    SourceQuality,
)
from crmcore.relationship._longterm import (
    LongTermIndices,
    LongTermReport,
    YearlyTouches,
    long_term_report,
)
from crmcore.relationship._reminder_rules import (
    REMINDER_RULES_KIND,
    Anniversary,
    Birthday,
    CaseFollowUp,
    DormantCustomer,
    LowPAlive,
    ReminderRule,
    ReminderRules,
    Renewal,
    WinFollowUp,
    load_reminder_rules,
    reminder_rules_from_dict,
    reminder_rules_to_dict,
    save_reminder_rules,
)
from crmcore.relationship._reminders import (
    REMINDER_STATUSES,
    ReminderPlan,
    plan_reminders,
    reminder_activity_id,
)
from crmcore.relationship._timeline import (
    TIMELINE_KINDS,
    TimelineEvent,
    TimelinePage,
    customer_timeline,
    iter_timeline,
)
from crmcore.relationship._value_state import (
    NO_RESPONSE_OUTCOMES,
    ChannelPreference,
    OpenDeals,
    ValueState,
    value_state,
)
from crmcore.relationship._view import CustomerView, RelatedParties, customer_view

__all__ = [
    "CUSTOMER_FIELDS_CHECKED",
    "NO_RESPONSE_OUTCOMES",
    "OPPORTUNITY_FIELDS_CHECKED",
    "REMINDER_RULES_KIND",
    "REMINDER_STATUSES",
    "TIMELINE_KINDS",
    "Anniversary",
    "Birthday",
    "CRMHealth",
    "CaseFollowUp",
    "ChannelPreference",
    "CustomerView",
    "DormantCustomer",
    "FieldQuality",
    "LongTermIndices",
    "LongTermReport",
    "LowPAlive",
    "MonthlyHealth",
    "OpenDeals",
    "RelatedParties",
    "ReminderPlan",
    "ReminderRule",
    "ReminderRules",
    "Renewal",
    "RepAdoption",
    "SourceQuality",
    "TimelineEvent",
    "TimelinePage",
    "ValueState",
    "WinFollowUp",
    "YearlyTouches",
    "crm_health",
    "customer_timeline",
    "customer_view",
    "iter_timeline",
    "load_reminder_rules",
    "long_term_report",
    "plan_reminders",
    "reminder_activity_id",
    "reminder_rules_from_dict",
    "reminder_rules_to_dict",
    "save_reminder_rules",
    "value_state",
]
