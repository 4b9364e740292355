"""Persistence round trips through the unit of work: memory and SQLite backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import numpy as np
import pytest

from crmcore.errors import ConcurrencyError, DuplicateError, TransitionError, ValidationError
from crmcore.model import Money
from crmcore.pipeline import (
    B2B,
    FOUR_PHASES,
    PRESETS,
    FunnelHistory,
    advance,
    breakdown,
    create_opportunity,
    edit,
    load_funnel,
    load_history,
    lost_reasons,
    move,
    reopen_opportunity,
    replay,
    save_funnel,
    stage_conversion,
    weighted_pipeline,
    win_rate,
)
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork, UnitOfWork
from crmcore.tables import StageHistory

T0 = datetime(2023, 1, 2, 9, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(params=["memory", "sqlite"])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWork]:
    if request.param == "memory":
        yield MemoryUnitOfWork()
    else:
        yield SqlUnitOfWork.from_url(tmp_path / "crm.db")


def test_funnels_are_versioned_documents(uow: UnitOfWork) -> None:
    with uow:
        for f in PRESETS:
            assert save_funnel(uow, f) == 1
        changed = attrs.evolve(B2B, description="v2")
        assert save_funnel(uow, changed, expected_version=1) == 2
        with pytest.raises(ConcurrencyError):
            save_funnel(uow, changed, expected_version=1)
        uow.commit()
    with uow:
        assert load_funnel(uow, "b2b") == changed
        assert load_funnel(uow, "b2b", version=1) == B2B
        for f in PRESETS[:2]:
            assert load_funnel(uow, f.name) == f


def _story(uow: UnitOfWork) -> None:
    """Three years of a few deals: won with follow-up, lost, reopened, open."""
    with uow:
        save_funnel(uow, B2B)
        for i in range(6):
            create_opportunity(
                uow,
                B2B,
                id=f"o{i}",
                customer_id=f"c{i % 2}",
                owner_id=f"rep{i % 3}",
                at=T0 + timedelta(days=i),
                amount=Money(1000 * (i + 1), "EUR"),
                expected_close=(T0 + timedelta(days=90)).date(),
            )
        uow.commit()
    steps = [
        ("o0", "qualified", 10, None),
        ("o0", "proposal", 20, None),
        ("o0", "negotiation", 30, None),
        ("o0", "won", 40, None),
        ("o1", "lost", 15, "price"),
        ("o2", "qualified", 12, None),
        ("o2", "lost", 400, "competitor"),
        ("o2", "qualified", 800, "budget back"),  # a reopening
        ("o3", "qualified", 900, None),
    ]
    for oid, to, day, reason in steps:
        with uow:
            seen = uow.opportunities.get(oid)
            if seen.stage == "lost":
                reopen_opportunity(
                    uow,
                    oid,
                    expected_version=seen.version,
                    funnel=B2B,
                    by="mgr",
                    at=T0 + timedelta(days=day),
                    to=to,
                    reason=str(reason),
                )
            else:
                advance(
                    uow,
                    oid,
                    to,
                    expected_version=seen.version,
                    funnel=B2B,
                    by="mgr",
                    at=T0 + timedelta(days=day),
                    reason=reason,
                    follow_up_id=f"{oid}-next",
                )
            uow.commit()


def test_moves_and_history_round_trip(uow: UnitOfWork) -> None:
    _story(uow)
    with uow:
        won = uow.opportunities.get("o0")
        assert (won.stage, won.version, won.closed_at) == ("won", 4, T0 + timedelta(days=40))
        nxt = uow.opportunities.get("o0-next")
        assert (nxt.parent_id, nxt.kind, nxt.stage) == ("o0", "cross-sell", "lead")
        o2 = uow.opportunities.get("o2")
        events = uow.opportunities.history("o2")
        assert [(e.from_stage, e.to_stage) for e in events] == [
            (None, "lead"),
            ("lead", "qualified"),
            ("qualified", "lost"),
            ("lost", "qualified"),
        ]
        assert events[2].reason == "competitor" and events[3].reason == "budget back"
        assert replay(events, funnel=B2B, base=o2) == o2
        # a stale copy cannot be saved over a newer one
        stale = attrs.evolve(o2, version=o2.version - 1)
        moved, ev = move(
            stale, "proposal", funnel=B2B, by="x", at=T0 + timedelta(days=901), after=events[-1]
        )
        with pytest.raises(ConcurrencyError):
            uow.opportunities.save(moved, [ev])
        with pytest.raises(DuplicateError):
            uow.opportunities.save(attrs.evolve(moved, version=o2.version), [events[-1]])


def test_illegal_moves_store_nothing(uow: UnitOfWork) -> None:
    _story(uow)
    with uow, pytest.raises(TransitionError, match="allowed targets"):
        advance(
            uow, "o4", "won", expected_version=0, funnel=B2B, by="x", at=T0 + timedelta(days=999)
        )
    with uow:
        assert uow.opportunities.get("o4").stage == "lead"
        assert len(uow.opportunities.history("o4")) == 1


def test_stored_history_feeds_the_metrics(uow: UnitOfWork) -> None:
    _story(uow)
    with uow:
        fh = load_history(uow, B2B)
        events = [e for o in uow.opportunities.list() for e in uow.opportunities.history(o.id)]
    ref = FunnelHistory.build(
        StageHistory.from_events(events), B2B, reasons=[e.reason for e in events]
    )
    assert fh.n_opportunities == ref.n_opportunities == 7
    assert stage_conversion(fh).decided.tolist() == stage_conversion(ref).decided.tolist()
    assert win_rate(fh) == win_rate(ref)
    assert (win_rate(fh).won, win_rate(fh).lost) == (1, 1)
    lr = lost_reasons(fh)
    # o2 was lost for "competitor" on day 400 and reopened on day 800: no current loss
    assert dict(zip(lr.reasons, lr.count.tolist(), strict=True)) == {
        "price": 1,
        "competitor": 0,
        "(none)": 0,
    }
    with uow:  # as of day 500 its loss (and its reason) was true
        mid = lost_reasons(load_history(uow, B2B, as_of=T0 + timedelta(days=500)))
    assert dict(zip(mid.reasons, mid.count.tolist(), strict=True))["competitor"] == 1
    assert np.array_equal(fh.ev_at, ref.ev_at)
    # reports reach back years: the history as it stood in early 2023
    with uow:
        early = load_history(uow, B2B, as_of=T0 + timedelta(days=35))
    assert early.n_opportunities == 6 and int(early.is_won.sum()) == 0


def test_follow_up_can_be_skipped(uow: UnitOfWork) -> None:
    with uow:
        create_opportunity(uow, FOUR_PHASES, id="x", customer_id="c", owner_id="r", at=T0)
        for i, s in enumerate(("design", "closing", "follow_up")):
            r = advance(
                uow,
                "x",
                s,
                expected_version=i,
                funnel=FOUR_PHASES,
                by="r",
                at=T0 + timedelta(days=i),
                open_follow_up=False,
            )
        assert r.follow_up is None
        assert [o.id for o in uow.opportunities.list()] == ["x"]


def test_a_retried_create_returns_the_stored_opportunity(uow: UnitOfWork) -> None:
    """Issue 14: creating with a request id is idempotent like a move: a retry (another unit
    of work, after the deal moved on) returns the opportunity as it was created, stores nothing."""
    made = {"customer_id": "c-1", "owner_id": "ann", "at": T0, "amount": Money("10", "EUR")}
    with uow:
        save_funnel(uow, B2B)
        a = create_opportunity(uow, B2B, request_id="create-1", **made)
        uow.commit()
    with uow:
        advance(uow, a.id, "qualified", expected_version=0, funnel=B2B, by="ann", at=T0 + DAY)
        uow.commit()
    with uow:
        b = create_opportunity(uow, B2B, request_id="create-1", **made)
        assert b == a and b.version == 0 and b.stage == "lead"
        assert len(uow.opportunities.list()) == 1
        assert [e.request_id for e in uow.opportunities.events(a.id)] == ["create-1", None]
        with pytest.raises(ValidationError, match="request id 'create-1' created .* not this"):
            create_opportunity(uow, B2B, request_id="create-1", **{**made, "customer_id": "c-2"})
    with uow:  # a caller's own id
        c = create_opportunity(uow, B2B, id="o-9", request_id="create-2", **made)
        uow.commit()
    with uow:
        assert create_opportunity(uow, B2B, id="o-9", request_id="create-2", **made) == c
        with pytest.raises(DuplicateError):  # the id is taken by another request
            create_opportunity(uow, B2B, id="o-9", request_id="create-3", **made)
        with pytest.raises(DuplicateError):
            create_opportunity(uow, B2B, id="o-9", **made)
        assert len(uow.opportunities.list()) == 2


def test_a_reps_own_probability_and_category_weigh_the_pipeline(uow: UnitOfWork) -> None:
    """Issue 14: a rep's probability and forecast category (set by edit, kept by moves between
    open stages) are what the weighted pipeline and the breakdowns use, not the stage's."""
    with uow:
        save_funnel(uow, B2B)
        for oid in ("mine", "stage"):
            create_opportunity(uow, B2B, id=oid, customer_id="c", owner_id="ann", at=T0,
                               amount=Money("1000", "EUR"))  # fmt: skip
            advance(uow, oid, "qualified", expected_version=0, funnel=B2B, by="ann", at=T0 + DAY)
        edit(uow, "mine", expected_version=1, funnel=B2B, by="ann", at=T0 + 2 * DAY,
             changes={"probability": 0.55, "forecast_category": "commit"})  # fmt: skip
        uow.commit()
    with uow:
        fh = load_history(uow, B2B, as_of=T0 + 3 * DAY)
        before = load_history(uow, B2B, as_of=T0 + DAY + DAY / 2)
    w = weighted_pipeline(fh)
    q = B2B.stage_names.index("qualified")
    assert w.weighted[q] == pytest.approx(1000 * 0.55 + 1000 * 0.2)
    cat = dict(zip(w.categories, w.category_total.tolist(), strict=True))
    assert (cat["commit"], cat["pipeline"]) == (1000.0, 1000.0)
    assert breakdown(fh).weighted_value.tolist() == pytest.approx([750.0])
    # as of a date before the edit, both deals weigh their stage's probability
    assert weighted_pipeline(before).weighted[q] == pytest.approx(400.0)


def test_stored_events_are_compact_records() -> None:
    """The service stores the events its moves build rebuilt by the validated constructor: the
    instance dictionaries share their keys, as records read back do (memory as with slots)."""
    import sys

    from crmcore.model import StageChange

    uow = MemoryUnitOfWork()
    with uow:
        create_opportunity(uow, B2B, id="o", customer_id="c", owner_id="ann", at=T0)
        r = advance(uow, "o", "qualified", expected_version=0, funnel=B2B, by="ann", at=T0)
        uow.commit()
    fields = {k: getattr(r.event, k) for k in attrs.fields_dict(StageChange)}
    assert r.event == StageChange(**fields)
    assert sys.getsizeof(r.event.__dict__) == sys.getsizeof(StageChange(**fields).__dict__)
