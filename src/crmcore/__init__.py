"""crmcore: the domain logic of customer relationship management.

>>> import crmcore
>>> from crmcore import Money
>>> Money("10.50", "EUR") + Money("2", "EUR")
Money(amount=Decimal('12.50'), currency='EUR')
"""

from __future__ import annotations

__version__ = "0.1.0"

import logging as _logging

from crmcore.errors import (
    ConcurrencyError,
    CRMError,
    FitError,
    NotFoundError,
    TransitionError,
    ValidationError,
)
from crmcore.model import (
    Activity,
    CostEntry,
    Customer,
    Interaction,
    Money,
    Opportunity,
    StageChange,
    SurveyResponse,
    Transaction,
)

# crmcore logs to "crmcore.<package>" loggers; the application decides where they go
_logging.getLogger("crmcore").addHandler(_logging.NullHandler())

__all__ = [
    "Activity",
    "CRMError",
    "ConcurrencyError",
    "CostEntry",
    "Customer",
    "FitError",
    "Interaction",
    "Money",
    "NotFoundError",
    "Opportunity",
    "StageChange",
    "SurveyResponse",
    "Transaction",
    "TransitionError",
    "ValidationError",
    "__version__",
]
