"""Scorecards: a rep with one large, profitable win is performing (issue 14), by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

from crmcore.model import Activity
from crmcore.pipeline import TOP_IN_BEST, Diagnosis, FunnelHistory, Period, scorecards
from crmcore.tables import StageHistory

WEEK = Period.week(date(2025, 3, 3))


Row = tuple[str, int, str | None, str, str, float, str]


def _history(extra: tuple[Row, ...] = ()) -> FunnelHistory:
    """Four busy reps advance five deals one stage each in the week; zoe only wins her big deal,
    which she had brought to BEST the week before."""
    rows: list[Row] = list(extra)
    for rep in ("ann", "bob", "cat", "dan"):
        for j in range(5):
            oid = f"{rep}{j}"
            rows += [
                (oid, 0, None, "TOP", "2025-02-24T09:00", 100.0, rep),
                (oid, 1, "TOP", "IN", "2025-03-04T09:00", 100.0, rep),
            ]
    rows += [
        ("z", 0, None, "TOP", "2025-02-20T09:00", 90_000.0, "zoe"),
        ("z", 1, "TOP", "IN", "2025-02-24T09:00", 90_000.0, "zoe"),
        ("z", 2, "IN", "BEST", "2025-02-26T09:00", 90_000.0, "zoe"),
        ("z", 3, "BEST", "WIN", "2025-03-05T09:00", 90_000.0, "zoe"),
    ]
    h = StageHistory.from_arrays(
        opportunity_ids=[r[0] for r in rows],
        sequence=[r[1] for r in rows],
        from_stage=[r[2] for r in rows],
        to_stage=[r[3] for r in rows],
        at=[r[4] for r in rows],
        amount=[r[5] for r in rows],
        owner_ids=[r[6] for r in rows],
    )
    return FunnelHistory.build(h, TOP_IN_BEST, as_of="2025-03-10")


def _activities(per_rep: dict[str, int]) -> list[Activity]:
    return [
        Activity(
            id=f"{rep}-{i}",
            kind="call",
            rep_id=rep,
            status="done",
            done_at=datetime(2025, 3, 3 + i % 5, 9, tzinfo=UTC),
        )
        for rep, n in per_rep.items()
        for i in range(n)
    ]


def test_one_large_profitable_win_is_performing() -> None:
    acts = _activities({"ann": 10, "bob": 10, "cat": 10, "dan": 10, "zoe": 10})
    sc = scorecards(WEEK, history=_history(), activities=acts, costs={"z": 30_000.0})
    got = dict(zip(sc.reps, sc.diagnosis, strict=True))
    i = sc.reps.index("zoe")
    # her one advance (the win) is below 25% of the team's median of 5 advances ...
    assert sc.advances[i] == 1 and sc.team_median[1] == 5.0
    assert sc.wins[i] == 1 and sc.profit[i] == 60_000.0
    # ... but a win shows the links before it worked: she is performing, not "without effort"
    assert got["zoe"] == Diagnosis.PERFORMING.value
    assert {got[r] for r in ("ann", "bob", "cat", "dan")} == {Diagnosis.NO_ORDERS.value}


def test_a_win_does_not_excuse_no_activity_or_a_loss() -> None:
    acts = _activities({"ann": 10, "bob": 10, "cat": 10, "dan": 10})
    sc = scorecards(WEEK, history=_history(), activities=acts, costs={"z": 30_000.0})
    assert dict(zip(sc.reps, sc.diagnosis, strict=True))["zoe"] == Diagnosis.NOT_WORKING.value
    acts = _activities({"ann": 10, "bob": 10, "cat": 10, "dan": 10, "zoe": 1})
    sc = scorecards(WEEK, history=_history(), activities=acts, costs={"z": 95_000.0})
    # 1 activity is below 25% of the median 10, but she won: the next link decides (a loss)
    assert dict(zip(sc.reps, sc.diagnosis, strict=True))["zoe"] == Diagnosis.NO_PROFIT.value


def test_without_a_win_few_advances_are_still_working_without_effort() -> None:
    eve = (
        ("e", 0, None, "TOP", "2025-02-24T09:00", 500.0, "eve"),
        ("e", 1, "TOP", "IN", "2025-03-04T09:00", 500.0, "eve"),
    )
    acts = _activities(dict.fromkeys(("ann", "bob", "cat", "dan", "eve", "zoe"), 10))
    sc = scorecards(WEEK, history=_history(eve), activities=acts, costs={"z": 30_000.0})
    got = dict(zip(sc.reps, sc.diagnosis, strict=True))
    assert sc.advances[sc.reps.index("eve")] == 1 and sc.team_median[1] == 5.0
    assert got["eve"] == Diagnosis.NO_EFFORT.value  # 1 < 25% of 5, and no win
    assert got["zoe"] == Diagnosis.PERFORMING.value
