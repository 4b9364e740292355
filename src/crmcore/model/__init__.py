"""The domain model: immutable, validated records.

>>> from crmcore.model import Money, Customer
>>> Customer(id="c-1", name="Ada").kind
<CustomerKind.PERSON: 'person'>
"""

from __future__ import annotations

from crmcore.model._fields import new_id
from crmcore.model.activity import Activity, ActivityKind, ActivityStatus
from crmcore.model.cost import COST_CATEGORIES, CostEntry
from crmcore.model.customer import (
    Address,
    Consent,
    ContactKind,
    ContactPoint,
    Customer,
    CustomerKind,
    Relationship,
)
from crmcore.model.interaction import Channel, Direction, Interaction
from crmcore.model.money import CURRENCY_MINOR_UNITS, Money, money_sum
from crmcore.model.opportunity import EDITABLE_FIELDS, FieldChange, Opportunity, StageChange
from crmcore.model.service_case import CasePriority, ServiceCase
from crmcore.model.survey import SurveyResponse
from crmcore.model.transaction import Transaction, TransactionKind

__all__ = [
    "COST_CATEGORIES",
    "CURRENCY_MINOR_UNITS",
    "EDITABLE_FIELDS",
    "MODEL_TYPES",
    "Activity",
    "ActivityKind",
    "ActivityStatus",
    "Address",
    "CasePriority",
    "Channel",
    "Consent",
    "ContactKind",
    "ContactPoint",
    "CostEntry",
    "Customer",
    "CustomerKind",
    "Direction",
    "FieldChange",
    "Interaction",
    "Money",
    "Opportunity",
    "Relationship",
    "ServiceCase",
    "StageChange",
    "SurveyResponse",
    "Transaction",
    "TransactionKind",
    "money_sum",
    "new_id",
]

MODEL_TYPES: tuple[type, ...] = (
    Money,
    ContactPoint,
    Address,
    Consent,
    Relationship,
    Customer,
    Interaction,
    Transaction,
    Opportunity,
    StageChange,
    FieldChange,
    Activity,
    SurveyResponse,
    CostEntry,
    ServiceCase,
)
"""Every public record type of the model (the serializer round-trips each)."""
