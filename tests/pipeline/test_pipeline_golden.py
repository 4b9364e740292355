"""Golden tests: every metric on a small history computed by hand.

The history (TOP_IN_BEST: TOP p=0.1 pipeline, IN p=0.3 best case, BEST
p=0.7 commit), as of 2025-02-16:

=====  =====  =======  ======  ==========================================
opp    owner  product  amount  path
=====  =====  =======  ======  ==========================================
A      ann    erp      100     TOP 01-01, IN 01-03, BEST 01-07, WIN 01-11
B      ann    crm      200     TOP 01-02, IN 01-06, LOST 01-10 ("price")
C      bob    erp      300     TOP 01-05, LOST 01-06 ("competitor")
D      bob    -        400     TOP 02-01, IN 02-03, BEST 02-04, WIN 02-14
E      bob    crm      500     TOP 02-10, IN 02-14 (open)
F      cat    erp      50      TOP 02-15 (open)
=====  =====  =======  ======  ==========================================

The expected numbers in each test are worked out by hand in its comments.
"""

from __future__ import annotations

import numpy as np
import pytest

from crmcore.errors import ValidationError
from crmcore.pipeline import (
    TOP_IN_BEST,
    FunnelHistory,
    backtest,
    breakdown,
    cohort_conversion,
    forecast,
    lost_reasons,
    pipeline_coverage,
    sales_cycle,
    sales_velocity,
    stage_conversion,
    time_in_stage,
    time_to_close,
    weighted_pipeline,
    who_sells_what,
    win_probabilities,
    win_rate,
)
from crmcore.tables import StageHistory

PATHS = {
    "A": (
        "ann",
        "erp",
        100.0,
        [("TOP", "01-01"), ("IN", "01-03"), ("BEST", "01-07"), ("WIN", "01-11")],
    ),
    "B": ("ann", "crm", 200.0, [("TOP", "01-02"), ("IN", "01-06"), ("LOST", "01-10")]),
    "C": ("bob", "erp", 300.0, [("TOP", "01-05"), ("LOST", "01-06")]),
    "D": (
        "bob",
        None,
        400.0,
        [("TOP", "02-01"), ("IN", "02-03"), ("BEST", "02-04"), ("WIN", "02-14")],
    ),
    "E": ("bob", "crm", 500.0, [("TOP", "02-10"), ("IN", "02-14")]),
    "F": ("cat", "erp", 50.0, [("TOP", "02-15")]),
}
REASONS = {("B", "LOST"): "price", ("C", "LOST"): "competitor"}


def _history() -> tuple[StageHistory, list[str | None]]:
    cols: dict[str, list[object]] = {
        k: [] for k in ("opp", "seq", "frm", "to", "at", "amt", "own", "prod")
    }
    reasons: list[str | None] = []
    for oid, (owner, product, amount, path) in PATHS.items():
        prev = None
        for i, (stage, day) in enumerate(path):
            for k, v in zip(
                cols, (oid, i, prev, stage, f"2025-{day}", amount, owner, product), strict=True
            ):
                cols[k].append(v)
            reasons.append(REASONS.get((oid, stage)))
            prev = stage
    h = StageHistory.from_arrays(
        opportunity_ids=cols["opp"],
        sequence=cols["seq"],
        from_stage=cols["frm"],
        to_stage=cols["to"],
        at=cols["at"],
        amount=cols["amt"],
        owner_ids=cols["own"],
        products=cols["prod"],
    )
    return h, reasons


@pytest.fixture(scope="module")
def fh() -> FunnelHistory:
    h, reasons = _history()
    return FunnelHistory.build(h, TOP_IN_BEST, as_of="2025-02-16", reasons=reasons)


def test_stage_conversion(fh: FunnelHistory) -> None:
    # deepest rank: A 3, B 1, C 0, D 3, E 1 (open), F 0 (open)
    # reached TOP 6, IN 4 (A B D E), BEST 2; advanced 4, 2, 2
    # decided = advanced + lost at that depth: 4 + 1 (C), 2 + 1 (B), 2 + 0
    c = stage_conversion(fh)
    assert c.reached.tolist() == [6, 4, 2]
    assert c.advanced.tolist() == [4, 2, 2]
    assert c.decided.tolist() == [5, 3, 2]
    assert c.rate == pytest.approx([0.8, 2 / 3, 1.0])


def test_win_rate(fh: FunnelHistory) -> None:
    wr = win_rate(fh)  # won A D (100 + 400), lost B C (200 + 300)
    assert (wr.won, wr.lost, wr.closed) == (2, 2, 4)
    assert (wr.by_count, wr.won_value, wr.lost_value, wr.by_value) == (0.5, 500.0, 500.0, 0.5)


def test_time_in_stage(fh: FunnelHistory) -> None:
    # TOP stays: A 2, B 4, C 1, D 2, E 4; IN: A 4, B 4, D 1 (E still there); BEST: A 4, D 10
    t = time_in_stage(fh)
    assert t.count.tolist() == [5, 3, 2, 0, 0]
    assert t.mean_days[:3] == pytest.approx([13 / 5, 3.0, 7.0])
    assert t.median_days[:3] == pytest.approx([2.0, 4.0, 7.0])
    assert np.isnan(t.mean_days[3])


def test_sales_cycle_and_velocity(fh: FunnelHistory) -> None:
    c = sales_cycle(fh)  # won: A 10 days, D 13 days; closed also B 8, C 1
    assert (c.won, c.mean_days, c.median_days) == (2, 11.5, 11.5)
    assert (c.p25_days, c.p75_days) == pytest.approx((10.75, 12.25))
    assert c.closed_mean_days == pytest.approx(32 / 4)
    v = sales_velocity(fh)  # 2 open x 250 average won x 0.5 / 11.5 days
    assert v.per_day == pytest.approx(2 * 250 * 0.5 / 11.5)


def test_weighted_pipeline_and_categories(fh: FunnelHistory) -> None:
    # open: F in TOP 50 (x0.1), E in IN 500 (x0.3); D (400) was won since 02-01
    w = weighted_pipeline(fh, closed_since="2025-02-01")
    assert w.count.tolist() == [1, 1, 0, 0, 0]
    assert w.total.tolist() == [50.0, 500.0, 0.0, 0.0, 0.0]
    assert w.weighted == pytest.approx([5.0, 150.0, 0, 0, 0])
    assert (w.open_total, w.weighted_total) == pytest.approx((550.0, 155.0))
    cat = dict(zip(w.categories, w.category_total.tolist(), strict=True))
    assert cat == {
        "pipeline": 50.0,
        "best_case": 500.0,
        "commit": 0.0,
        "closed": 400.0,
        "omitted": 0.0,
    }
    # cumulative roll-up: pipeline 950 >= best case 900 >= commit 400 >= closed 400
    assert w.cumulative.tolist() == [950.0, 900.0, 400.0, 400.0, 0.0]


def test_coverage(fh: FunnelHistory) -> None:
    assert pipeline_coverage(fh, target=275.0).coverage == pytest.approx(2.0)
    cov = pipeline_coverage(fh, target=275.0, achieved=75.0)  # 550 / 200; 155 / 200
    assert (cov.coverage, cov.weighted_coverage) == pytest.approx((2.75, 0.775))
    with pytest.raises(ValidationError, match="'achieved'"):
        pipeline_coverage(fh, target=1.0, achieved=float("nan"))


def test_cohorts(fh: FunnelHistory) -> None:
    c = cohort_conversion(fh)
    assert c.months.astype(str).tolist() == ["2025-01", "2025-02"]
    assert c.created.tolist() == [3, 3]
    assert c.reached.tolist() == [[3, 2, 1], [3, 2, 1]]
    assert (c.won.tolist(), c.lost.tolist(), c.open.tolist()) == ([1, 1], [2, 0], [0, 2])
    assert c.win_rate == pytest.approx([1 / 3, 1.0])


def test_breakdowns(fh: FunnelHistory) -> None:
    b = breakdown(fh, by="owner")
    assert b.labels == ("ann", "bob", "cat")
    assert b.opportunities.tolist() == [2, 3, 1]
    assert (b.won.tolist(), b.lost.tolist(), b.open.tolist()) == ([1, 1, 0], [1, 1, 0], [0, 1, 1])
    assert b.won_value.tolist() == [100.0, 400.0, 0.0]
    assert b.weighted_value == pytest.approx([0.0, 150.0, 5.0])
    assert np.isnan(b.win_rate[2])
    p = breakdown(fh, by="product")
    assert p.labels == ("crm", "erp", "(none)")
    assert (p.won.tolist(), p.lost.tolist(), p.open.tolist()) == ([0, 1, 1], [1, 1, 0], [1, 1, 0])
    m = who_sells_what(fh)
    assert m.won_value[m.owners.index("ann"), m.products.index("erp")] == 100.0
    assert m.won_value[m.owners.index("bob"), m.products.index("(none)")] == 400.0
    assert m.won_value.sum() == 500.0


def test_lost_reasons(fh: FunnelHistory) -> None:
    lr = lost_reasons(fh)
    assert lr.reasons == ("competitor", "price", "(none)")
    assert lr.count.tolist() == [1, 1, 0]
    assert lr.value.tolist() == [300.0, 200.0, 0.0]
    assert lr.share.tolist() == [0.5, 0.5, 0.0]
    assert lr.from_stages == ("TOP", "IN", "BEST")
    assert lr.by_stage.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_win_probabilities_smoothing(fh: FunnelHistory) -> None:
    # closed deals reaching TOP: A B C D (2 won); IN: A B D (2 won); BEST: A D (2 won)
    wp = win_probabilities(fh, prior_weight=2)
    assert wp.closed.tolist() == [4, 3, 2]
    assert wp.won.tolist() == [2, 2, 2]
    assert wp.smoothed == pytest.approx([(2 + 0.2) / 6, (2 + 0.6) / 5, (2 + 1.4) / 4])
    raw = win_probabilities(fh, prior_weight=0)
    assert raw.smoothed == pytest.approx([0.5, 2 / 3, 1.0])


def test_time_to_close(fh: FunnelHistory) -> None:
    # entry -> win: TOP A 10 D 13; IN A 8 D 11; BEST A 4 D 10; history spans 46 days
    t = time_to_close(fh)
    assert t.of("TOP").tolist() == [10.0, 13.0]
    assert t.of("BEST").tolist() == [4.0, 10.0]
    _, stays, w = t.stage_sample(0)
    assert stays.tolist() == [2.0, 2.0]
    assert w == pytest.approx([46 / 36, 46 / 33])


def test_forecast_by_hand(fh: FunnelHistory) -> None:
    # E: IN for 2 days; the only won deal that stayed >= 3 days in IN is A, which
    # won 8 days after entering IN: inside month 0 ([02-16, 03-01)). p_IN = 0.52.
    # F: TOP for 1 day; A and D stayed 2 days in TOP and won 10 and 13 days
    # after entering it: month 0 too. p_TOP = 2.2 / 6.
    fc = forecast(fh, months=2)
    p_in, p_top = 2.6 / 5, 2.2 / 6
    assert fc.months.astype(str).tolist() == ["2025-02", "2025-03"]
    assert fc.expected == pytest.approx([500 * p_in + 50 * p_top, 0.0])
    var = 500**2 * p_in * (1 - p_in) + 50**2 * p_top * (1 - p_top)
    assert fc.sd == pytest.approx([np.sqrt(var), 0.0])
    assert fc.total_expected == pytest.approx(500 * p_in + 50 * p_top)
    assert (fc.n_open, fc.stale) == (2, 0)
    z = 1.2815515655446004  # the 90th percentile of N(0, 1): an 80% band
    assert fc.high[0] == pytest.approx(fc.expected[0] + z * np.sqrt(var))
    stage = forecast(fh, months=2, method="stage")
    assert stage.expected == pytest.approx([500 * 0.3 + 50 * 0.1, 0.0])


def test_backtest_by_hand() -> None:
    # as of 01-05 only A (IN) and B (TOP) are open and nothing has closed yet, so
    # neither method has any timing: both expect 0, while A won 100 on 01-11.
    h, _ = _history()
    bt = backtest(h, TOP_IN_BEST, as_of="2025-01-05", months=1)
    assert bt.actual.tolist() == [100.0]
    assert bt.expected.tolist() == [[0.0], [0.0]]
    assert bt.mape == (1.0, 1.0) and bt.bias == (-1.0, -1.0)
    with pytest.raises(ValidationError, match="ends after the history"):
        backtest(h, TOP_IN_BEST, as_of="2025-02-01", months=2)


def test_as_of_cuts_the_history() -> None:
    h, _ = _history()
    early = FunnelHistory.build(h, TOP_IN_BEST, as_of="2025-01-08")
    assert early.n_opportunities == 3  # A B C
    assert win_rate(early).lost == 1  # C only; B is still in IN
    assert [TOP_IN_BEST.stage_names[s] for s in early.final_stage] == ["BEST", "IN", "LOST"]


def test_unsorted_input_is_sorted() -> None:
    h, reasons = _history()
    order = np.random.default_rng(0).permutation(len(h))
    shuffled = StageHistory(
        h.opportunity[order],
        h.sequence[order],
        h.from_stage[order],
        h.to_stage[order],
        h.at[order],
        h.amount[order],
        h.owner[order],
        h.product[order],
        h.opportunity_ids,
        h.stages,
        h.owner_ids,
        h.products,
    )
    a = FunnelHistory.build(
        shuffled, TOP_IN_BEST, as_of="2025-02-16", reasons=np.array(reasons, dtype=object)[order]
    )
    assert stage_conversion(a).decided.tolist() == [5, 3, 2]
    assert lost_reasons(a).count.tolist() == [1, 1, 0]
