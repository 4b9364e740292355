"""crmcore.progress: the events of a stage arrive in order, ``done`` never above ``total``."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.progress import ProgressEvent, stage


def _check_stream(events: list[ProgressEvent], total: int | None) -> None:
    assert events[0].done == 0
    dones = [e.done for e in events]
    assert dones == sorted(dones)
    assert all(e.total is None or e.done <= e.total for e in events)
    assert all(b.done > a.done or b.total != a.total for a, b in itertools.pairwise(events))
    last = events[-1]
    assert last.total == (total if total is not None else last.done)
    assert last.done == last.total


@settings(max_examples=30)
@given(
    total=st.none() | st.integers(0, 50),
    steps=st.lists(st.integers(0, 20), max_size=12),
)
def test_a_stage_reports_in_order_and_within_its_total(total: int | None, steps: list[int]) -> None:
    events: list[ProgressEvent] = []
    with stage(events.append, "work", total=total) as tick:
        for n in steps:
            tick.advance(n)
    _check_stream(events, total)
    assert {e.stage for e in events} == {"work"}


def test_an_error_inside_a_stage_reports_no_end() -> None:
    events: list[ProgressEvent] = []

    def work() -> None:
        with stage(events.append, "work", total=10) as tick:
            tick.advance(3)
            raise KeyError("x")

    with pytest.raises(KeyError):
        work()
    assert [e.done for e in events] == [0, 3]


def test_a_callback_that_raises_stops_the_work() -> None:
    def stop(event: ProgressEvent) -> None:
        if event.done >= 2:
            raise KeyboardInterrupt

    tick = stage(stop, "work", total=5)
    tick.advance()
    with pytest.raises(KeyboardInterrupt):
        tick.advance()


def test_no_listener_costs_nothing() -> None:
    def fn(x: int) -> int:
        return x

    assert stage(None, "work").counting(fn) is fn


@pytest.mark.parametrize(
    ("done", "total", "match"),
    [(-1, 3, "'done' must be >= 0"), (4, 3, "at most 'total'"), (1, -2, "'total' must be >= 0")],
)
def test_an_impossible_event_is_refused(done: int, total: int, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ProgressEvent("x", done, total)
