"""Plans, plan versus actual, next-period forecast and the four-failure-mode scorecards (hand-computed)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from crmcore.errors import ValidationError
from crmcore.model import Activity
from crmcore.pipeline import (
    TOP_IN_BEST,
    Diagnosis,
    FunnelHistory,
    Period,
    Plan,
    Targets,
    actuals,
    next_period_forecast,
    plan_vs_actual,
    scorecards,
)
from crmcore.pipeline.scorecard import _percentiles
from crmcore.serialization import from_json, to_json
from crmcore.tables import StageHistory

# Week of 2025-03-03. ann: a TOP->IN->BEST->WIN (100). bob: b TOP->IN, c TOP->LOST.
# cat: d TOP->IN->BEST->WIN (300, at a loss). dan: e TOP only. eve: f TOP->IN->BEST->WIN (50).
ROWS = [
    ("a", "ann", 100.0, ["TOP", "IN", "BEST", "WIN"]),
    ("b", "bob", 80.0, ["TOP", "IN"]),
    ("c", "bob", 70.0, ["TOP", "LOST"]),
    ("d", "cat", 300.0, ["TOP", "IN", "BEST", "WIN"]),
    ("e", "dan", 60.0, ["TOP"]),
    ("f", "eve", 50.0, ["TOP", "IN", "BEST", "WIN"]),
]
ACTIVITY = {"ann": 0, "bob": 12, "cat": 9, "dan": 10, "eve": 11}


def _fh() -> FunnelHistory:
    cols: dict[str, list[object]] = {k: [] for k in ("o", "s", "f", "t", "at", "a", "w")}
    for oid, owner, amount, path in ROWS:
        prev = None
        for i, st in enumerate(path):
            for k, v in zip(
                cols, (oid, i, prev, st, f"2025-03-0{3 + i}T10:00", amount, owner), strict=True
            ):
                cols[k].append(v)
            prev = st
    h = StageHistory.from_arrays(
        opportunity_ids=cols["o"],
        sequence=cols["s"],
        from_stage=cols["f"],
        to_stage=cols["t"],
        at=cols["at"],
        amount=cols["a"],
        owner_ids=cols["w"],
    )
    return FunnelHistory.build(h, TOP_IN_BEST, as_of="2025-03-10")


def _activities() -> list[Activity]:
    out = []
    for rep, n in ACTIVITY.items():
        for i in range(n):
            done = datetime(2025, 3, 3 + i % 5, 9, tzinfo=UTC)
            out.append(
                Activity(id=f"{rep}{i}", kind="call", rep_id=rep, status="done", done_at=done)
            )
    out.append(
        Activity(
            id="late",
            kind="call",
            rep_id="ann",
            status="done",
            done_at=datetime(2025, 3, 10, tzinfo=UTC),
        )
    )
    out.append(Activity(id="plan", kind="visit", rep_id="ann"))
    return out


WEEK = Period.week(date(2025, 3, 5))


def test_periods() -> None:
    assert (WEEK.start, WEEK.end) == (date(2025, 3, 3), date(2025, 3, 10))
    m = Period.month(date(2024, 2, 10))
    assert (m.end, m.shift(-2).start, m.shift(11).start) == (
        date(2024, 3, 1),
        date(2023, 12, 1),
        date(2025, 1, 1),
    )
    assert Period.day(date(2024, 12, 31)).next().start == date(2025, 1, 1)
    assert from_json(Plan, to_json(Plan("ann", WEEK, Targets(activities=5, revenue=10.5)))) == Plan(
        "ann", WEEK, Targets(activities=5, revenue=10.5)
    )
    with pytest.raises(ValidationError, match="month period starts on day 1"):
        Period("month", date(2025, 1, 2))


def test_actuals_by_hand() -> None:
    a = actuals(WEEK, history=_fh(), activities=_activities())
    assert a.reps == ("ann", "bob", "cat", "dan", "eve")
    assert a.activities.tolist() == [0, 12, 9, 10, 11]  # ann's 03-10 call is next week
    # advances: ann 3 (IN, BEST, WIN), bob 1 (b to IN; c's loss is no advance), cat 3, dan 0, eve 3
    assert a.advances.tolist() == [3, 1, 3, 0, 3]
    assert a.wins.tolist() == [1, 0, 1, 0, 1]
    assert a.revenue.tolist() == [100.0, 0.0, 300.0, 0.0, 50.0]


def test_plan_vs_actual() -> None:
    plans = [
        Plan("bob", WEEK, Targets(activities=10, advances=4, wins=1, revenue=200.0)),
        Plan("cat", Period.month(date(2025, 3, 1)), Targets(revenue=600.0)),
        Plan("zed", WEEK, Targets(activities=5)),
    ]
    r = plan_vs_actual(plans, history=_fh(), activities=_activities())
    assert r.actual.tolist() == [[12, 1, 0, 0], [9, 3, 1, 300], [0, 0, 0, 0]]
    assert r.attainment[0].tolist() == [1.2, 0.25, 0.0, 0.0]
    assert r.attainment[1, 3] == 0.5 and np.isnan(r.attainment[1, 0])


def test_scorecards_tell_the_four_failure_modes_apart() -> None:
    costs = {"a": 40.0, "d": 450.0, "f": 20.0}
    sc = scorecards(WEEK, history=_fh(), activities=_activities(), costs=costs)
    verdict = dict(zip(sc.reps, sc.diagnosis, strict=True))
    assert (
        verdict
        == {
            "ann": Diagnosis.NOT_WORKING.value,  # no activity (even though a deal closed)
            "bob": Diagnosis.NO_ORDERS.value,  # 12 activities, 1 advance (>= 25% of the median 3), no win
            "cat": Diagnosis.NO_PROFIT.value,  # won 300 at a cost of 450
            "dan": Diagnosis.NO_EFFORT.value,  # activities, no advance
            "eve": Diagnosis.PERFORMING.value,
        }
    )
    assert sc.profit.tolist() == [60.0, 0.0, -150.0, 0.0, 30.0]
    assert sc.team_median.tolist() == [10.0, 3.0, 1.0, 50.0, 0.0]
    # activities 0, 12, 9, 10, 11 -> mid-rank percentiles 10, 90, 30, 50, 70
    assert sc.percentile[0].tolist() == [10.0, 90.0, 30.0, 50.0, 70.0]
    assert sc.uncosted_wins == 0
    sc2 = scorecards(
        WEEK, history=_fh(), activities=_activities(), costs={"a": 40.0}, low_share=0.0
    )
    assert sc2.uncosted_wins == 2
    assert dict(zip(sc2.reps, sc2.diagnosis, strict=True))["bob"] == Diagnosis.NO_ORDERS.value
    with pytest.raises(ValidationError, match=r"'costs\[a\]' must be >= 0"):
        scorecards(WEEK, history=_fh(), costs={"a": -1.0})
    assert len(sc.lines()) == 6


def test_percentiles_are_mid_ranks() -> None:
    assert _percentiles(np.array([1.0, 1.0, 3.0, 5.0])).tolist() == [25.0, 25.0, 62.5, 87.5]


def test_next_period_forecast_run_rate_by_hand() -> None:
    # deals created and won inside the same week: ann's a (100), cat's d (300), eve's f (50).
    # Forecast the week after next with a lookback of 2 weeks: only the week of 03-03 counts,
    # the run-rate is the mean over 2 weeks (one of them empty).
    fh = _fh()
    nxt = next_period_forecast(fh, period=Period.week(date(2025, 3, 17)), lookback=2)
    assert nxt.reps == ("ann", "bob", "cat", "dan", "eve")
    # lookback periods: weeks of 03-10 (nothing) and 03-03 (a, d, f)
    assert nxt.run_rate.tolist() == [50.0, 0.0, 150.0, 0.0, 25.0]
    assert nxt.pipeline.shape == (5,)
    assert np.all(nxt.expected >= nxt.run_rate)
    with pytest.raises(ValidationError, match="'period' must end after"):
        next_period_forecast(fh, period=Period.week(date(2025, 3, 3)))
