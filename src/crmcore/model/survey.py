"""Survey responses: CSAT on 1–5 and NPS on 0–10 with free text.

>>> from datetime import datetime, timezone
>>> r = SurveyResponse(id="s-1", customer_id="c-1", responded_at=datetime(2025, 3, 1, tzinfo=timezone.utc),
...                    csat=5, nps=9, comment="Quick answer on the phone")
>>> r.nps_category
'promoter'
"""

from __future__ import annotations

from datetime import datetime

import attrs

from crmcore.errors import ValidationError
from crmcore.model._fields import int_range, opt_key, opt_str, record_id, utc

__all__ = ["SurveyResponse"]


@attrs.frozen
class SurveyResponse:
    """One customer's answers: at least one of ``csat`` (1–5) and ``nps`` (0–10).

    >>> from datetime import datetime, timezone
    >>> SurveyResponse(id="s", customer_id="c", responded_at=datetime(2025, 1, 1, tzinfo=timezone.utc), csat=6)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'csat' must be an integer in [1, 5]: 6
    """

    id: str = attrs.field(validator=record_id)
    customer_id: str = attrs.field(validator=record_id)
    responded_at: datetime = attrs.field(validator=utc)
    csat: int | None = attrs.field(default=None, validator=int_range(1, 5))
    nps: int | None = attrs.field(default=None, validator=int_range(0, 10))
    comment: str | None = attrs.field(default=None, validator=opt_str)
    survey: str | None = attrs.field(default=None, validator=opt_key)
    channel: str | None = attrs.field(default=None, validator=opt_str)

    def __attrs_post_init__(self) -> None:
        if self.csat is None and self.nps is None:
            raise ValidationError("a survey response needs 'csat' or 'nps': both are None")

    @property
    def nps_category(self) -> str | None:
        """'promoter' (9–10), 'passive' (7–8), 'detractor' (0–6), or None without an NPS answer."""
        if self.nps is None:
            return None
        return "promoter" if self.nps >= 9 else "passive" if self.nps >= 7 else "detractor"
