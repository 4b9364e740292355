"""Golden tests: each rule type on a small history computed by hand (both engines must agree).

Every expected number below is worked out in the comment beside it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from crmcore.anomaly import (
    AllOf,
    AnyOf,
    BehaviourChange,
    CustomerContext,
    Dormant,
    EWBaseline,
    Not,
    RobustZ,
    RuleSet,
    Scope,
    Threshold,
    Velocity,
)
from crmcore.tables import TransactionLog

H = np.timedelta64(3600, "s")
D = np.timedelta64(1, "D")
T0 = np.datetime64("2025-01-01T00:00:00", "us")


def make_log(amounts, times=None, *, kinds=None, customers=None, channels=None):
    n = len(amounts)
    times = [T0 + i * D for i in range(n)] if times is None else times
    return TransactionLog.from_arrays(
        customer_ids=customers or ["c"] * n,
        timestamps=np.array(times, dtype="datetime64[us]"),
        amounts=amounts,
        kinds=kinds,
        ids=[f"t{i}" for i in range(n)],
        channels=channels,
    )


def one(rule):
    return RuleSet(name="g", rules=[rule])


def test_threshold(both):
    alerts = both(make_log([100.0, 20_000.0]), one(Threshold(name="big", at_least=10_000)))
    assert [(a.transaction_ids, a.observed, a.deviation) for a in alerts] == [
        (("t1",), 20_000.0, 2.0)
    ]


def test_robust_z_with_a_positive_mad(both):
    # history 10,12,11,13,9: median 11, |dev| 1,1,0,2,2 -> MAD 1, scale 1.4826; z = 29 / 1.4826
    log = make_log([10.0, 12, 11, 13, 9, 40])
    [a] = both(log, one(RobustZ(name="rz", lookback=5, min_history=5, z=5)))
    assert a.transaction_ids == ("t5",) and a.baseline == 11.0 and a.history == 5
    assert a.deviation == pytest.approx(29 / 1.4826, rel=1e-12)
    assert a.explanation.startswith("Purchase of 40.00 is 3.6 times this customer's typical amount")


def test_robust_z_falls_back_to_the_mean_absolute_deviation_when_mad_is_zero(both):
    # history 10,10,10,10,16: median 10, |dev| 0,0,0,0,6 -> MAD 0; mean |dev| 1.2; scale 1.2533*1.2
    [a] = both(
        make_log([10.0, 10, 10, 10, 16, 30]),
        one(RobustZ(name="rz", lookback=5, min_history=5, z=5)),
    )
    assert a.deviation == pytest.approx(20 / (1.2533 * 1.2), rel=1e-12)


def test_robust_z_uses_the_scale_floor_on_a_constant_history(both):
    # history all 10: MAD 0 and mean |dev| 0 -> scale = min_scale 2; x=17 -> z = 3.5
    [a] = both(
        make_log([10.0] * 6 + [17.0]),
        one(RobustZ(name="rz", lookback=6, min_history=6, z=3, min_scale=2)),
    )
    assert a.deviation == 3.5


def test_robust_z_window_slides_over_the_last_n(both):
    # lookback 3: at t6 the window is 100,100,100 (the early 1s dropped) -> no alert for 100
    log = make_log([1.0, 1, 1, 100, 100, 100, 100])
    alerts = both(log, one(RobustZ(name="rz", lookback=3, min_history=3, z=3)))
    assert [a.transaction_ids for a in alerts] == [("t3",)]


def test_robust_z_does_not_fire_below_min_history(both):
    assert (
        both(
            make_log([10.0, 12, 11, 13, 1000]),
            one(RobustZ(name="rz", lookback=5, min_history=5, z=5)),
        )
        == []
    )


def test_robust_z_down_and_kind_scope(both):
    # withdrawals only: 50,52,48,50,51 then a withdrawal of 2 -> median 50, MAD 1 -> z = -48/1.4826
    kinds = ["withdrawal"] * 5 + ["deposit", "withdrawal"]
    log = make_log([50.0, 52, 48, 50, 51, 1.0, 2.0], kinds=kinds)
    rule = RobustZ(
        name="rz",
        lookback=5,
        min_history=5,
        z=10,
        direction="down",
        scope=Scope(kinds=("withdrawal",)),
    )
    [a] = both(log, one(rule))
    assert a.transaction_ids == ("t6",)
    assert a.deviation == pytest.approx(-48 / 1.4826)
    assert "far below" in a.explanation


def test_ew_baseline(both):
    # alpha 0.5: 10 -> (10, 0); 20 -> d=10, mean 15, var 0.5*(0+10*5)=25;
    # 10 -> d=-5, mean 12.5, var 0.5*(25+12.5)=18.75; 50: z = 37.5 / sqrt(18.75)
    [a] = both(
        make_log([10.0, 20, 10, 50]), one(EWBaseline(name="ew", alpha=0.5, min_history=3, z=2))
    )
    assert a.baseline == 12.5 and a.history == 3
    assert a.deviation == pytest.approx(37.5 / math.sqrt(18.75), rel=1e-12)


def test_velocity_count(both):
    # 0h, 1h, 2h, 30h with a 1-day window: the third transaction is the third within a day
    times = [T0, T0 + H, T0 + 2 * H, T0 + 30 * H]
    alerts = both(make_log([1.0] * 4, times), one(Velocity(name="v", window="1d", at_least=3)))
    assert [(a.transaction_ids, a.observed) for a in alerts] == [(("t2",), 3.0)]
    assert alerts[0].explanation == "3 transactions within 1 day (limit 3)"


def test_velocity_sum_is_exact_in_cents(both):
    # 100.10 + 200.20 + 0.70 is 300.99999999999994 in floats but 301.00 in cents
    times = [T0, T0 + H, T0 + 2 * H]
    alerts = both(
        make_log([100.10, 200.20, 0.70], times),
        one(Velocity(name="v", window="1d", measure="sum", at_least=301)),
    )
    assert [(a.transaction_ids, a.observed) for a in alerts] == [(("t2",), 301.0)]


def test_velocity_alerts_once_per_window(both):
    # five transactions an hour apart all exceed "2 within a day"; one alert per 1-day bucket
    times = [T0 + i * H for i in range(5)]
    alerts = both(make_log([1.0] * 5, times), one(Velocity(name="v", window="1d", at_least=2)))
    assert [a.transaction_ids for a in alerts] == [("t1",)]
    assert alerts[0].window.startswith("1d@")


def test_behaviour_change(both):
    # week 1: 100 + 100; week 2: 700 -> ratio 700 / 200 = 3.5 >= 3
    times = [T0, T0 + D, T0 + 8 * D]
    [a] = both(
        make_log([100.0, 100, 700], times), one(BehaviourChange(name="c", window="7d", ratio=3))
    )
    assert (a.observed, a.baseline, a.deviation, a.history) == (700.0, 200.0, 3.5, 2)
    assert (
        a.explanation
        == "Total amount of 700.00 in the last 7 days is 3.5 times the previous 7 days (200.00)"
    )


def test_behaviour_change_needs_a_previous_window(both):
    assert (
        both(make_log([100.0, 5000]), one(BehaviourChange(name="c", window="30d", ratio=3))) == []
    )


def test_behaviour_change_down_on_counts(both):
    # days 0..5 six transactions, then one on day 12: last 7 days (5, 12] hold 1, previous (-2, 5] hold 6
    times = [T0 + i * D for i in range(6)] + [T0 + 12 * D]
    [a] = both(
        make_log([1.0] * 7, times),
        one(BehaviourChange(name="c", window="7d", measure="count", ratio=4, direction="down")),
    )
    assert (a.observed, a.baseline) == (1.0, 6.0)
    assert a.deviation == pytest.approx(1 / 6)


def test_dormant(both):
    # 200 days between the two transactions, rule at 180 days
    [a] = both(make_log([5.0, 5.0], [T0, T0 + 200 * D]), one(Dormant(name="d", gap="180d")))
    assert (a.observed, a.baseline, a.history) == (200.0, 180.0, 1)
    assert a.explanation == "Purchase after 200 days without activity (dormant after 180 days)"


def test_all_with_not_and_tier_scope(both):
    # big amount AND NOT a reactivation, only for gold customers
    rule = AllOf(
        name="big-active",
        rules=[Threshold(at_least=1000), Not(rule=Dormant(gap="30d"))],
        scope=Scope(tiers=("gold",)),
    )
    times = [T0, T0 + D, T0 + 100 * D, T0, T0 + D]
    log = make_log([5.0, 2000, 3000, 5.0, 2000], times, customers=["g", "g", "g", "s", "s"])
    ctx = {"g": CustomerContext(owner_id="rep-1", tier="gold"), "s": CustomerContext(tier="silver")}
    alerts = both(log, one(rule), ctx)
    assert [(a.customer_id, a.transaction_ids, a.routed_to) for a in alerts] == [
        ("g", ("t1",), "rep-1")
    ]
    assert alerts[0].explanation == (
        "Purchase of 2,000.00 is above the fixed limit of 1,000.00; not reactivation after 30 days"
    )


def test_any_reports_the_first_rule_that_fired(both):
    rule = AnyOf(name="either", rules=[Threshold(at_least=1000), Dormant(gap="30d")])
    log = make_log([5.0, 5.0, 5000.0], [T0, T0 + 40 * D, T0 + 41 * D])
    alerts = both(log, one(rule))
    assert [(a.transaction_ids, a.explanation.split(" ")[1]) for a in alerts] == [
        (("t1",), "after"),
        (("t2",), "of"),
    ]


def test_channel_scope(both):
    log = make_log([1.0, 900.0, 900.0], channels=["web", "web", "branch"])
    alerts = both(log, one(Threshold(name="t", at_least=500, scope=Scope(channels=("web",)))))
    assert [a.transaction_ids for a in alerts] == [("t1",)]


def test_unknown_customers_go_to_the_team_queue(both):
    alerts = both(make_log([5000.0]), one(Threshold(name="t", at_least=1)), {})
    assert alerts[0].routed_to == "team:unassigned" and alerts[0].owner_id is None
