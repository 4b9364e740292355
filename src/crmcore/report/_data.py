"""What the report reads from its source, read once in one unit of work.

The source is a database URL (or the path of an SQLite file) or a unit of
work (any backend). A URL of an SQLite file that does not exist is refused
rather than created empty. Reading changes nothing: the unit of work is left
without a commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from crmcore.anomaly.alerts import Alert
from crmcore.anomaly.rules import RuleSet
from crmcore.anomaly.store import RULESET_KIND, AlertStore, load_ruleset
from crmcore.errors import ArgumentTypeError, ValidationError
from crmcore.model import CostEntry, SurveyResponse
from crmcore.pipeline.funnel import Funnel
from crmcore.pipeline.history import FunnelHistory
from crmcore.pipeline.service import FUNNEL_KIND, load_funnel, load_history
from crmcore.repositories.protocols import UnitOfWork
from crmcore.tables import TransactionLog
from crmcore.timestamps import as_instant

__all__ = ["ReportData", "open_source", "read_data"]


@attrs.frozen(eq=False)
class ReportData:
    """Everything the sections read: the transactions up to the end of ``as_of``'s day, the
    number of stored customers, survey responses, cost entries, the pipeline of the first
    funnel with a history, stored alerts and rule sets."""

    log: TransactionLog
    as_of: np.datetime64  # a calendar day
    stored_customers: int
    later_transactions: int  # dated after as_of's day (left out)
    surveys: list[SurveyResponse]
    costs: list[CostEntry]
    funnel: Funnel | None
    pipeline: FunnelHistory | None
    pipeline_problem: str | None
    alerts: list[Alert]
    rulesets: list[RuleSet]

    def costs_in(
        self, currency: str | None, keep: Callable[[CostEntry], bool]
    ) -> tuple[list[CostEntry], int]:
        """The cost entries ``keep`` selects in ``currency`` (any, when None), and how many of
        the selected are in another currency."""
        chosen = [c for c in self.costs if keep(c)]
        same = [c for c in chosen if currency is None or c.amount.currency == currency]
        return same, len(chosen) - len(same)

    @property
    def end(self) -> datetime:
        """The exclusive end of the report's day, as an aware datetime."""
        day = int(self.as_of.astype("datetime64[D]").astype(np.int64))
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day + 1)


def open_source(source: object) -> tuple[UnitOfWork, Callable[[], None]]:
    """The unit of work to read and the function that releases it (closes an engine opened here)."""
    from crmcore.repositories import SqlUnitOfWork

    if isinstance(source, Path) or (isinstance(source, str) and "://" not in source):
        path = Path(source)
        if not path.is_file():
            raise ValidationError(
                f"'source' must be a database URL or an existing SQLite file: {str(source)!r}"
            )
        source = f"sqlite:///{path}"
    if isinstance(source, str):
        if source.startswith("sqlite:///"):
            name = source.removeprefix("sqlite:///").split("?", 1)[0]
            if name and not name.startswith(("file:", ":memory:")) and not Path(name).is_file():
                raise ValidationError(
                    f"'source' names an SQLite file that does not exist: {source!r}"
                )
        uow = SqlUnitOfWork.from_url(source)
        return uow, uow.close
    if isinstance(source, UnitOfWork):
        return source, lambda: None
    raise ArgumentTypeError(
        f"'source' must be a database URL, an SQLite file path or a unit of work, "
        f"not {type(source).__name__}: {source!r}"
    )


def _pipeline(uow: Any, end: datetime) -> tuple[Funnel | None, FunnelHistory | None, str | None]:
    names = uow.documents.keys(FUNNEL_KIND)
    problem = None
    for name in names:
        funnel = load_funnel(uow, name)
        try:
            fh = load_history(uow, funnel, as_of=end)
        except ValidationError as e:  # a stored history the funnel refuses: say so
            problem = f"the history of funnel {name!r} could not be read: {e}"
            continue
        if fh.n_opportunities:
            return funnel, fh, None
    return None, None, problem


def read_data(uow: UnitOfWork, as_of: object = None) -> ReportData:
    """Read what the report needs (see :class:`ReportData`); ``as_of`` defaults to the day of
    the last stored transaction (today when there is none)."""
    with uow:
        if as_of is None:
            last = uow.transactions.read_log(kinds=None)
            day = (
                last.time.max().astype("datetime64[D]")
                if len(last)
                else np.datetime64(datetime.now(UTC).date(), "D")
            )
        else:
            day = as_instant(as_of, name="as_of").astype("datetime64[D]")
        end = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=int(day.astype(np.int64)) + 1)
        log = uow.transactions.read_log(end=end) if as_of is not None else last
        later = uow.transactions.count() - len(log)
        surveys = list(uow.surveys.list(end=end))
        costs = list(uow.costs.list(end=end))
        funnel, pipeline, problem = _pipeline(uow, end)
        alerts = AlertStore(uow).list(end=end)
        rulesets = [load_ruleset(uow, name) for name in uow.documents.keys(RULESET_KIND)]
        stored = uow.customers.count()
    return ReportData(
        log=log,
        as_of=day,
        stored_customers=stored,
        later_transactions=later,
        surveys=surveys,
        costs=costs,
        funnel=funnel,
        pipeline=pipeline,
        pipeline_problem=problem,
        alerts=alerts,
        rulesets=rulesets,
    )
