"""Rep scorecards that tell apart the four ways a sales team under-performs (DOMAIN.md §1).

For each rep in a period: activities done, opportunities advanced, deals
won, revenue and profit (revenue minus the cost of the won deals), each
with the rep's percentile in the team. The diagnosis is the first failure
in the chain activity → advance → win → profit:

1. **present but not working** — (almost) no activities;
2. **working without effort** — activities, but (almost) no opportunity advanced;
3. **effort without orders** — advances, but no win;
4. **orders without profit** — wins whose costs exceed their revenue;

otherwise **performing**. "Almost none" is below ``low_share`` (default
25%) of the team's median, so a quiet week for the whole team is not
flagged on everyone. That comparison with the team is for reps without a
win in the period: a win is itself an advance and shows the links before
it worked, so a rep with one large, profitable win is performing however
few his advances and activities were (none at all is still "present but
not working").

>>> from datetime import date
>>> from crmcore.pipeline.presets import TOP_IN_BEST
>>> from crmcore.pipeline.plans import Period
>>> from crmcore.tables import StageHistory
>>> h = StageHistory.from_arrays(
...     opportunity_ids=["a"] * 4, sequence=[0, 1, 2, 3], from_stage=[None, "TOP", "IN", "BEST"],
...     to_stage=["TOP", "IN", "BEST", "WIN"], at=["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06"],
...     amount=[100.0] * 4, owner_ids=["ann"] * 4)
>>> sc = scorecards(Period.week(date(2025, 3, 3)), history=FunnelHistory.build(h, TOP_IN_BEST),
...                 costs={"a": 150.0})
>>> sc.diagnosis
('present but not working',)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

import attrs
import numpy as np

from crmcore._frames import Columns, Tabular, texts, wide
from crmcore._results import COUNT, array
from crmcore.arrays import FloatArray, IntArray
from crmcore.errors import ValidationError
from crmcore.model._fields import instance, tuple_of
from crmcore.model.activity import Activity
from crmcore.options import as_number, as_probability
from crmcore.pipeline.history import FunnelHistory, _wsum
from crmcore.pipeline.plans import Period, actuals

__all__ = ["Diagnosis", "Scorecards", "scorecards"]


class Diagnosis(StrEnum):
    """The four failure modes of DOMAIN.md §1, and success."""

    NOT_WORKING = "present but not working"
    NO_EFFORT = "working without effort"
    NO_ORDERS = "effort without orders"
    NO_PROFIT = "orders without profit"
    PERFORMING = "performing"


@attrs.frozen(eq=False)
class Scorecards(Tabular):
    """One scorecard per rep (aligned arrays) with percentiles (0-100) against the team.

    ``percentile[m][i]`` is rep ``i``'s mid-rank percentile on measure ``m``
    (``measures`` order); ``team_median`` is the team's median per measure.
    ``uncosted_wins`` counts won deals with no cost given (costed at 0). Revenue,
    cost and profit are in ``currency`` (the costs are taken to be in it too).
    """

    period: Period = attrs.field(validator=instance(Period, "a Period"))
    reps: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a rep id"))
    activities: IntArray = attrs.field(validator=array("i", lo=0))
    advances: IntArray = attrs.field(validator=array("i", lo=0, length="activities"))
    wins: IntArray = attrs.field(validator=array("i", lo=0, length="activities"))
    revenue: FloatArray = attrs.field(validator=array(lo=0, length="activities"))
    cost: FloatArray = attrs.field(validator=array(lo=0, length="activities"))
    profit: FloatArray = attrs.field(validator=array(length="activities"))
    measures: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a measure name"))
    percentile: FloatArray = attrs.field(validator=array(lo=0, hi=100, ndim=None))
    team_median: FloatArray = attrs.field(validator=array(ndim=None))
    diagnosis: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a diagnosis"))
    uncosted_wins: int = attrs.field(validator=COUNT)
    currency: str | None = attrs.field(
        default=None, validator=instance(str, "an ISO 4217 code", optional=True)
    )

    def lines(self) -> list[str]:
        """A plain-text table, one line per rep.

        >>> Scorecards(Period.day(__import__("datetime").date(2025, 1, 1)), (), *[np.zeros(0)] * 6,
        ...            (), np.zeros((0, 0)), np.zeros(0), (), 0).lines()[0].split()[:3]
        ['rep', 'activities', 'advances']
        """
        out = [
            f"{'rep':<10} {'activities':>10} {'advances':>9} {'wins':>5} {'revenue':>11} "
            f"{'profit':>11}  diagnosis"
        ]
        for i, r in enumerate(self.reps):
            out.append(
                f"{r:<10} {self.activities[i]:>10d} {self.advances[i]:>9d} {self.wins[i]:>5d} "
                f"{self.revenue[i]:>11,.0f} {self.profit[i]:>11,.0f}  {self.diagnosis[i]}"
            )
        return out

    def _columns(self) -> Columns:
        return {
            "rep": texts(self.reps),
            "activities": self.activities,
            "advances": self.advances,
            "wins": self.wins,
            "revenue": self.revenue,
            "cost": self.cost,
            "profit": self.profit,
            **wide("percentile_", self.measures, self.percentile.reshape(len(self.measures), -1).T),
            "diagnosis": texts(self.diagnosis),
        }


def _percentiles(values: FloatArray) -> FloatArray:
    """Mid-rank percentile of each value within ``values`` (ties share the average rank)."""
    s = np.sort(values)
    below = np.searchsorted(s, values, side="left")
    upto = np.searchsorted(s, values, side="right")
    out = 100.0 * (below + upto) / (2.0 * max(len(values), 1))
    return np.asarray(out, dtype=np.float64)


def scorecards(
    period: Period,
    *,
    history: FunnelHistory,
    activities: Sequence[Activity] = (),
    costs: Mapping[str, float] | None = None,
    reps: Sequence[str] | None = None,
    low_share: float = 0.25,
) -> Scorecards:
    """Score every rep in ``period`` and diagnose the first failing link (see the module docstring).

    ``costs`` maps a won opportunity's id to its cost (delivery, discount,
    cost to serve); profit is the won revenue minus those costs.

    >>> from datetime import date
    >>> from crmcore.pipeline.presets import B2B
    >>> from crmcore.tables import StageHistory
    >>> h = StageHistory.from_arrays(opportunity_ids=["a"], sequence=[0], from_stage=[None],
    ...                              to_stage=["lead"], at=["2025-03-03"])
    >>> scorecards(Period.day(date(2025, 3, 3)), history=FunnelHistory.build(h, B2B), low_share=2)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'low_share' must be in [0, 1]: 2
    """
    low_share = as_probability(low_share, name="low_share")
    if costs is not None and not isinstance(costs, Mapping):
        raise ValidationError(f"'costs' must be a mapping of opportunity id to cost: {costs!r}")
    act = actuals(period, history=history, activities=activities, reps=reps)
    fh = history
    k = len(act.reps)
    # the cost of each deal won in the period, credited to its owner then
    lo, hi = period.bounds()
    won_ev = (
        (fh.ev_at >= lo) & (fh.ev_at < hi) & (fh.stage_kind[fh.ev_stage] == 1) & (fh.ev_from >= 0)
    )
    opp_cost = np.full(len(fh.opportunity_ids), np.nan)
    if costs:
        ids = np.asarray(fh.opportunity_ids).astype(str)
        for key in costs:
            if not isinstance(key, str):
                raise ValidationError(f"'costs' keys must be opportunity ids (strings): {key!r}")
        keys = np.array(list(costs.keys()), dtype=str)
        vals = np.array(
            [as_number(v, name=f"costs[{k}]", low=0) for k, v in costs.items()],
            dtype=np.float64,
        )
        order = np.argsort(ids)
        at = np.searchsorted(ids, keys, sorter=order)
        at = np.minimum(at, len(ids) - 1)
        found = ids[order[at]] == keys if len(ids) else np.zeros(len(keys), dtype=bool)
        opp_cost[order[at[found]]] = vals[found]
    ev_cost = opp_cost[fh.opportunity_codes[fh.ev_opp]]
    pos = {r: i for i, r in enumerate(act.reps)}
    owner_map = np.array(
        [pos.get(str(o), -1) for o in fh.owner_ids.tolist()] + [-1], dtype=np.int64
    )
    who = owner_map[fh.ev_owner]
    sel = won_ev & (who >= 0)
    cost = _wsum(who[sel], weights=np.nan_to_num(ev_cost[sel], nan=0.0), minlength=k)
    uncosted = int(np.count_nonzero(np.isnan(ev_cost[sel])))
    profit = act.revenue - cost
    measures = ("activities", "advances", "wins", "revenue", "profit")
    table = np.stack(
        [
            act.activities.astype(np.float64),
            act.advances.astype(np.float64),
            act.wins.astype(np.float64),
            act.revenue,
            profit,
        ]
    )
    pct = np.stack([_percentiles(row) for row in table]) if k else np.zeros((5, 0))
    med = np.median(table, axis=1) if k else np.zeros(5)
    diagnosis = []
    for i in range(k):  # one verdict per rep
        few = act.wins[i] == 0  # "almost none" against the team counts only without a win
        if act.activities[i] == 0 or (few and act.activities[i] < low_share * med[0]):
            d = Diagnosis.NOT_WORKING
        elif act.advances[i] == 0 or (few and act.advances[i] < low_share * med[1]):
            d = Diagnosis.NO_EFFORT
        elif act.wins[i] == 0:
            d = Diagnosis.NO_ORDERS
        elif profit[i] < 0:
            d = Diagnosis.NO_PROFIT
        else:
            d = Diagnosis.PERFORMING
        diagnosis.append(d.value)
    return Scorecards(
        period=period,
        reps=act.reps,
        activities=act.activities,
        advances=act.advances,
        wins=act.wins,
        revenue=act.revenue,
        cost=cost,
        profit=profit,
        measures=measures,
        percentile=pct,
        team_median=med,
        diagnosis=tuple(diagnosis),
        uncosted_wins=uncosted,
        currency=fh.currency,
    )
