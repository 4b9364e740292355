"""The result tables of the CRM's own health (see :mod:`crmcore.relationship._health`).

Every table is a frozen :class:`~crmcore._frames.Tabular` (``to_pandas()``,
``to_polars()``, ``to_arrow()``); shares are in [0, 1], or NaN where their
denominator is 0 (no customers, no won revenue, no records).

>>> import numpy as np
>>> t = SourceQuality(sources=np.array(["web"], dtype=object), customers=np.array([4]),
...     completeness=np.array([0.5]), duplicates=np.array([1]), duplicate_rate=np.array([0.25]),
...     consented=np.array([2]), consent_coverage=np.array([0.5]))
>>> t.to_pandas().values.tolist()[0]
['web', 4, 0.5, 1, 0.25, 2, 0.5]
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import COUNT, array, number
from crmcore.model._fields import opt_str, utc

__all__ = ["CRMHealth", "FieldQuality", "MonthlyHealth", "RepAdoption", "SourceQuality"]

_NO_BASE = "the share of nothing (no customers, records or won revenue) is undefined"


def _share(length: str) -> Any:
    return array(lo=0, hi=1, nan=_NO_BASE, length=length)


def _count(length: str) -> Any:
    return array("i", lo=0, length=length)


@attrs.frozen(eq=False)
class RepAdoption(Tabular):
    """Adoption per rep, per team and for all (``level``: ``"rep"``, ``"team"``, ``"all"``).

    ``logged``: interactions and done activities the rep(s) recorded in the period;
    ``logged_per_day``: ``logged / working_days / reps``; ``customers``: customers owned
    (not erased), ``touched``: those with a recorded interaction or done activity in the
    period; ``won_revenue``: deals won in the period by the rep(s); ``represented_revenue``:
    those that went through the pipeline (an open stage before the won one) with at least
    one recorded activity or interaction, ``share_represented`` its share ("the share of
    the business represented").

    >>> import numpy as np
    >>> o = lambda *v: np.array(v, dtype=object)
    >>> r = RepAdoption(level=o("rep"), name=o("ann"), team=o("north"), reps=np.array([1]),
    ...     logged=np.array([40]), working_days=np.array([20]), logged_per_day=np.array([2.0]),
    ...     customers=np.array([10]), touched=np.array([4]), share_touched=np.array([0.4]),
    ...     won_revenue=np.array([100.0]), represented_revenue=np.array([80.0]),
    ...     share_represented=np.array([0.8]))
    >>> r.to_pandas()[["name", "logged_per_day", "share_represented"]].values.tolist()
    [['ann', 2.0, 0.8]]
    """

    level: npt.NDArray[Any] = attrs.field(validator=array("O"))
    name: npt.NDArray[Any] = attrs.field(validator=array("O", length="level"))
    team: npt.NDArray[Any] = attrs.field(validator=array("O", length="level"))
    reps: npt.NDArray[np.int64] = attrs.field(validator=_count("level"))
    logged: npt.NDArray[np.int64] = attrs.field(validator=_count("level"))
    working_days: npt.NDArray[np.int64] = attrs.field(validator=_count("level"))
    logged_per_day: npt.NDArray[np.float64] = attrs.field(
        validator=array(lo=0, nan=_NO_BASE, length="level")
    )
    customers: npt.NDArray[np.int64] = attrs.field(validator=_count("level"))
    touched: npt.NDArray[np.int64] = attrs.field(validator=_count("level"))
    share_touched: npt.NDArray[np.float64] = attrs.field(validator=_share("level"))
    won_revenue: npt.NDArray[np.float64] = attrs.field(validator=array(lo=0, length="level"))
    represented_revenue: npt.NDArray[np.float64] = attrs.field(
        validator=array(lo=0, length="level")
    )
    share_represented: npt.NDArray[np.float64] = attrs.field(validator=_share("level"))

    def __len__(self) -> int:
        return len(self.level)

    def _columns(self) -> Columns:
        return {
            "level": self.level,
            "name": self.name,
            "team": self.team,
            "reps": self.reps,
            "logged": self.logged,
            "working_days": self.working_days,
            "logged_per_day": self.logged_per_day,
            "customers": self.customers,
            "touched": self.touched,
            "share_touched": self.share_touched,
            "won_revenue": self.won_revenue,
            "represented_revenue": self.represented_revenue,
            "share_represented": self.share_represented,
        }


@attrs.frozen(eq=False)
class FieldQuality(Tabular):
    """Completeness and freshness per field and per source (``"(all)"``: every source).

    ``entity`` is ``"customer"`` (source: the acquisition channel) or ``"opportunity"``
    (source: the funnel). ``records`` that the field applies to (a birthday: persons),
    ``filled`` of them, ``completeness = filled / records``; ``median_age_days`` is the
    median age at the period's end of the last update (an opportunity field: its last
    change, else the deal's creation; a customer, which keeps no time per field: its last
    recorded touch, else its acquisition), ``stale_share`` the share older than
    ``stale_after`` days or of unknown age.

    >>> import numpy as np
    >>> o = lambda *v: np.array(v, dtype=object)
    >>> FieldQuality(entity=o("customer"), field=o("email"), source=o("(all)"),
    ...     records=np.array([2]), filled=np.array([1]), completeness=np.array([0.5]),
    ...     median_age_days=np.array([3.0]), stale_share=np.array([0.0])).to_pandas().shape
    (1, 8)
    """

    entity: npt.NDArray[Any] = attrs.field(validator=array("O"))
    field: npt.NDArray[Any] = attrs.field(validator=array("O", length="entity"))
    source: npt.NDArray[Any] = attrs.field(validator=array("O", length="entity"))
    records: npt.NDArray[np.int64] = attrs.field(validator=_count("entity"))
    filled: npt.NDArray[np.int64] = attrs.field(validator=_count("entity"))
    completeness: npt.NDArray[np.float64] = attrs.field(validator=_share("entity"))
    median_age_days: npt.NDArray[np.float64] = attrs.field(
        validator=array(lo=0, nan="no record of a known age", length="entity")
    )
    stale_share: npt.NDArray[np.float64] = attrs.field(validator=_share("entity"))

    def __len__(self) -> int:
        return len(self.entity)

    def _columns(self) -> Columns:
        return {
            "entity": self.entity,
            "field": self.field,
            "source": self.source,
            "records": self.records,
            "filled": self.filled,
            "completeness": self.completeness,
            "median_age_days": self.median_age_days,
            "stale_share": self.stale_share,
        }


@attrs.frozen(eq=False)
class SourceQuality(Tabular):
    """Per source of customers (acquisition channel; ``"(all)"`` last): mean completeness of
    the customer fields, customers in a likely duplicate pair (the existing duplicate finder,
    :func:`crmcore.ingest.find_duplicate_customers`) and those with contact consent."""

    sources: npt.NDArray[Any] = attrs.field(validator=array("O"))
    customers: npt.NDArray[np.int64] = attrs.field(validator=_count("sources"))
    completeness: npt.NDArray[np.float64] = attrs.field(validator=_share("sources"))
    duplicates: npt.NDArray[np.int64] = attrs.field(validator=_count("sources"))
    duplicate_rate: npt.NDArray[np.float64] = attrs.field(validator=_share("sources"))
    consented: npt.NDArray[np.int64] = attrs.field(validator=_count("sources"))
    consent_coverage: npt.NDArray[np.float64] = attrs.field(validator=_share("sources"))

    def __len__(self) -> int:
        return len(self.sources)

    def _columns(self) -> Columns:
        return {
            "source": self.sources,
            "customers": self.customers,
            "completeness": self.completeness,
            "duplicates": self.duplicates,
            "duplicate_rate": self.duplicate_rate,
            "consented": self.consented,
            "consent_coverage": self.consent_coverage,
        }


@attrs.frozen(eq=False)
class MonthlyHealth(Tabular):
    """The figures by calendar month of the period, to see whether they improve after a change.

    ``customers``: stored, not erased, acquired by the month's end (or of unknown
    acquisition); ``touched`` of them in the month; ``new_*``: the customers acquired in
    the month, the mean completeness of their fields, their duplicate rate and consent
    coverage.

    >>> import numpy as np
    >>> m = MonthlyHealth(month=np.array(["2026-01"], dtype="datetime64[M]"), logged=np.array([3]),
    ...     active_reps=np.array([1]), working_days=np.array([22]), customers=np.array([5]),
    ...     touched=np.array([2]), share_touched=np.array([0.4]), won_revenue=np.array([0.0]),
    ...     share_represented=np.array([np.nan]), new_customers=np.array([1]),
    ...     new_completeness=np.array([0.5]), new_duplicate_rate=np.array([0.0]),
    ...     new_consent_coverage=np.array([1.0]))
    >>> m.to_pandas()["share_touched"].tolist()
    [0.4]
    """

    month: npt.NDArray[np.datetime64] = attrs.field(validator=array("M"))
    logged: npt.NDArray[np.int64] = attrs.field(validator=_count("month"))
    active_reps: npt.NDArray[np.int64] = attrs.field(validator=_count("month"))
    working_days: npt.NDArray[np.int64] = attrs.field(validator=_count("month"))
    customers: npt.NDArray[np.int64] = attrs.field(validator=_count("month"))
    touched: npt.NDArray[np.int64] = attrs.field(validator=_count("month"))
    share_touched: npt.NDArray[np.float64] = attrs.field(validator=_share("month"))
    won_revenue: npt.NDArray[np.float64] = attrs.field(validator=array(lo=0, length="month"))
    share_represented: npt.NDArray[np.float64] = attrs.field(validator=_share("month"))
    new_customers: npt.NDArray[np.int64] = attrs.field(validator=_count("month"))
    new_completeness: npt.NDArray[np.float64] = attrs.field(validator=_share("month"))
    new_duplicate_rate: npt.NDArray[np.float64] = attrs.field(validator=_share("month"))
    new_consent_coverage: npt.NDArray[np.float64] = attrs.field(validator=_share("month"))

    def __len__(self) -> int:
        return len(self.month)

    def _columns(self) -> Columns:
        return {
            "month": self.month,
            "logged": self.logged,
            "active_reps": self.active_reps,
            "working_days": self.working_days,
            "customers": self.customers,
            "touched": self.touched,
            "share_touched": self.share_touched,
            "won_revenue": self.won_revenue,
            "share_represented": self.share_represented,
            "new_customers": self.new_customers,
            "new_completeness": self.new_completeness,
            "new_duplicate_rate": self.new_duplicate_rate,
            "new_consent_coverage": self.new_consent_coverage,
        }


@attrs.frozen(eq=False)
class CRMHealth:
    """The health of the CRM's own data over ``[start, end)``: the four tables and the
    headline figures (over every stored customer that is not erased).

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> from crmcore.relationship import crm_health
    >>> with MemoryUnitOfWork() as uow:
    ...     h = crm_health(uow, start="2026-01-01", end="2026-02-01")
    >>> h.customers, len(h.trends), h.adoption.to_pandas()["level"].tolist()
    (0, 1, ['all'])
    """

    start: datetime = attrs.field(validator=utc)
    end: datetime = attrs.field(validator=utc)
    currency: str | None = attrs.field(validator=opt_str)
    customers: int = attrs.field(validator=COUNT)
    duplicate_rate: float = attrs.field(validator=number(0, 1, nan=_NO_BASE))
    consent_coverage: float = attrs.field(validator=number(0, 1, nan=_NO_BASE))
    share_represented: float = attrs.field(validator=number(0, 1, nan=_NO_BASE))
    adoption: RepAdoption = attrs.field(validator=attrs.validators.instance_of(RepAdoption))
    fields: FieldQuality = attrs.field(validator=attrs.validators.instance_of(FieldQuality))
    sources: SourceQuality = attrs.field(validator=attrs.validators.instance_of(SourceQuality))
    trends: MonthlyHealth = attrs.field(validator=attrs.validators.instance_of(MonthlyHealth))
