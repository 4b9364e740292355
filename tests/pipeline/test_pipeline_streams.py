"""A history that reaches the reports as columns obeys the rules the repositories enforce on write.

Issue 14's finding, tried as a new user of the array world: a stage history
with event 7 after event 0, from the wrong stage, dated five years before the
deal's creation was summarised, and ``sales_cycle`` reported a negative mean.
"""

from __future__ import annotations

import pytest

from crmcore.errors import ValidationError
from crmcore.pipeline import (
    B2B,
    FunnelHistory,
    sales_cycle,
    stage_conversion,
    synthetic_pipeline,
)
from crmcore.tables import StageHistory


def _history(rows: list[tuple[str, int, str | None, str, str]]) -> StageHistory:
    return StageHistory.from_arrays(
        opportunity_ids=[r[0] for r in rows],
        sequence=[r[1] for r in rows],
        from_stage=[r[2] for r in rows],
        to_stage=[r[3] for r in rows],
        at=[r[4] for r in rows],
    )


GOOD = [("a", 0, None, "lead", "2025-01-01"), ("a", 1, "lead", "qualified", "2025-01-05")]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (  # the issue's stream: event 7 after event 0, from the wrong stage, five years early
            [("a", 0, None, "lead", "2025-01-01"), ("a", 7, "proposal", "won", "2020-01-01")],
            "event 7 of opportunity 'a' moves from stage 'proposal' but the deal is in stage "
            "'lead' after event 0",
        ),
        (
            [*GOOD, ("a", 2, "qualified", "proposal", "2020-01-01")],
            "event 2 of opportunity 'a' is dated 2020-01-01T00:00:00.000000, before event 1 "
            "(2025-01-05T00:00:00.000000): a deal's events are in time order",
        ),
        (
            [("a", 3, "lead", "qualified", "2025-01-05")],
            "opportunity 'a' starts at event 3, a move from 'lead': a history holds each deal "
            "from its creation event (no from_stage); read the deals' histories whole",
        ),
        (
            [*GOOD, ("a", 2, None, "lead", "2025-01-09")],
            "event 2 of opportunity 'a' creates it again (no from_stage) after event 1: only its "
            "first event creates a deal",
        ),
        (
            [*GOOD, ("a", 1, "lead", "lost", "2025-01-09")],
            "event 1 of opportunity 'a' is numbered twice: each event has its own number",
        ),
    ],
)
def test_a_broken_stream_is_named(
    rows: list[tuple[str, int, str | None, str, str]], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        FunnelHistory.build(_history(rows), B2B, as_of="2025-06-01")
    assert str(info.value) == message


def test_the_issues_negative_sales_cycle_is_refused_not_reported() -> None:
    h = _history([("a", 0, None, "lead", "2025-01-01"), ("a", 1, "lead", "won", "2020-01-01")])
    with pytest.raises(ValidationError, match="before event 0"):
        sales_cycle(h, B2B)


def test_valid_streams_pass_gaps_of_field_changes_and_cuts_included() -> None:
    # numbers skip the field changes between stage changes (numbered together)
    h = _history(
        [*GOOD, ("a", 4, "qualified", "lost", "2025-02-01"), ("b", 0, None, "lead", "2025-03-01")]
    )
    fh = FunnelHistory.build(h, B2B, as_of="2025-06-01")
    assert fh.n_opportunities == 2
    # a cut at as_of keeps each deal's first events: still valid
    assert FunnelHistory.build(h, B2B, as_of="2025-01-03").n_opportunities == 1
    # rows in any order are read in (deal, number) order
    rev = _history(list(reversed([*GOOD, ("a", 4, "qualified", "lost", "2025-02-01")])))
    assert stage_conversion(FunnelHistory.build(rev, B2B)).reached.tolist() == [1, 1, 0, 0]


@pytest.mark.parametrize("seed", [1, 2])
def test_synthetic_histories_obey_the_rules(seed: int) -> None:
    p = synthetic_pipeline(B2B, n_opportunities=500, seed=seed)
    assert FunnelHistory.build(p.history, B2B, as_of=p.as_of).n_opportunities == 500
