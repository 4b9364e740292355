"""Close-date slippage and pipeline hygiene, against plain-Python reference computations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.model import Activity, Opportunity
from crmcore.pipeline.hygiene import CloseDateChanges, close_date_slippage, pipeline_hygiene

T0 = datetime(2025, 1, 1, tzinfo=UTC)
D0 = date(2025, 1, 1)


def _reference(rows: list[tuple[str, int, int | None, int | None, str]]) -> dict[str, object]:
    """Per deal (pushes, pull-ins, days pushed, owner of the last change) and per rep, by hand."""
    deals: dict[str, list[tuple[int, int | None, int | None, str]]] = {}
    for deal, t, old, new, rep in rows:
        deals.setdefault(deal, []).append((t, old, new, rep))
    out: dict[str, tuple[int, int, int, str, float]] = {}
    for deal, ch in deals.items():
        ch.sort(key=lambda r: r[0])
        pushes = sum(1 for _, o, n, _ in ch if o is not None and n is not None and n > o)
        pulls = sum(1 for _, o, n, _ in ch if o is not None and n is not None and n < o)
        days = sum(n - o for _, o, n, _ in ch if o is not None and n is not None and n > o)
        first = ch[0][1] if ch[0][1] is not None else ch[0][2]
        last = ch[-1][2]
        slipped = float("nan") if first is None or last is None else float(last - first)
        out[deal] = (pushes, pulls, days, ch[-1][3], slipped)
    reps: dict[str, list[int]] = {}
    for pushes, _, days, rep, _ in out.values():
        r = reps.setdefault(rep, [0, 0, 0, 0])
        r[0] += 1
        r[1] += pushes > 0
        r[2] += pushes
        r[3] += days
    return {"deals": out, "reps": reps}


changes = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d"]),
        st.integers(0, 60),
        st.none() | st.integers(0, 120),
        st.none() | st.integers(0, 120),
        st.sampled_from(["ann", "bob"]),
    ),
    min_size=1,
    max_size=25,
    unique_by=lambda r: (r[0], r[1]),  # one change per deal and instant
)


@given(changes)
def test_slippage_matches_a_reference(
    rows: list[tuple[str, int, int | None, int | None, str]],
) -> None:
    ch = CloseDateChanges.from_arrays(
        opportunity_ids=[r[0] for r in rows],
        at=[T0 + timedelta(days=r[1]) for r in rows],
        old=[None if r[2] is None else D0 + timedelta(days=r[2]) for r in rows],
        new=[None if r[3] is None else D0 + timedelta(days=r[3]) for r in rows],
        owner_ids=[r[4] for r in rows],
    )
    s = close_date_slippage(ch)
    ref = _reference(rows)
    got = {
        d: (int(p), int(q), int(x), o, float(sl))
        for d, p, q, x, o, sl in zip(
            s.deals, s.pushes, s.pull_ins, s.days_pushed, s.owner, s.slipped_days, strict=True
        )
    }
    want = ref["deals"]
    assert set(got) == set(want)  # type: ignore[arg-type]
    for d, g in got.items():
        w = want[d]  # type: ignore[index]
        assert g[:4] == w[:4]
        assert (np.isnan(g[4]) and np.isnan(w[4])) or g[4] == w[4]
    reps = {
        r: [int(a), int(b), int(c), int(e)]
        for r, a, b, c, e in zip(
            s.reps, s.rep_deals, s.rep_deals_pushed, s.rep_pushes, s.rep_days_pushed, strict=True
        )
    }
    assert reps == ref["reps"]


def test_slippage_from_field_change_events_and_as_of() -> None:
    ev = [
        SimpleNamespace(
            opportunity_id="o1",
            field="expected_close",
            at=T0,
            by="ann",
            old=None,
            new=date(2025, 1, 31),
        ),
        SimpleNamespace(opportunity_id="o1", field="amount", at=T0, by="ann", old=None, new=None),
        SimpleNamespace(
            opportunity_id="o1",
            field="expected_close",
            at=T0 + timedelta(days=30),
            by="boss",
            old=date(2025, 1, 31),
            new=date(2025, 3, 31),
        ),
    ]
    s = close_date_slippage(CloseDateChanges.from_events(ev, owners={"o1": "ann"}))
    assert (s.owner, s.pushes.tolist(), s.days_pushed.tolist()) == (("ann",), [1], [59])
    assert s.first_close.astype(str).tolist() == ["2025-01-31"]
    early = close_date_slippage(CloseDateChanges.from_events(ev), as_of=T0 + timedelta(days=1))
    assert (early.owner, early.pushes.tolist(), early.changes.tolist()) == (("ann",), [0], [1])
    with pytest.raises(ValidationError, match=r"'events\[0\]' must be a field change"):
        CloseDateChanges.from_events([object()])
    with pytest.raises(ValidationError, match=r"'old\[0\]' must be a date, not a datetime"):
        CloseDateChanges.from_arrays(opportunity_ids=["a"], at=[T0], old=[T0], new=[None])


def _opp(i: str, owner: str, *, close: date | None = None, closed: bool = False) -> Opportunity:
    return Opportunity(
        id=i,
        customer_id="c",
        owner_id=owner,
        funnel="f",
        stage="s",
        created_at=T0,
        expected_close=close,
        closed_at=T0 + timedelta(days=1) if closed else None,
    )


def _act(i: str, rep: str, deal: str | None, due: int | None, status: str = "planned") -> Activity:
    return Activity(
        id=i,
        kind="call",
        rep_id=rep,
        opportunity_id=deal,
        status=status,
        due_at=None if due is None else T0 + timedelta(days=due),
        done_at=T0 if status == "done" else None,
    )


def test_hygiene_by_hand() -> None:
    as_of = T0 + timedelta(days=10)
    deals = [
        _opp("a", "ann", close=date(2025, 1, 31)),  # next activity in the future: clean
        _opp("b", "ann", close=date(2025, 1, 5)),  # close date passed; only a done call
        _opp("c", "bob"),  # no close date; an overdue and an undated planned activity
        _opp("d", "bob", close=date(2025, 1, 2), closed=True),  # closed: not in the report
        _opp("e", "bob", close=date(2025, 1, 11)),  # close date is today: not stale
    ]
    acts = [
        _act("1", "ann", "a", 12),
        _act("2", "ann", "b", None, status="done"),
        _act("3", "bob", "c", 3),
        _act("4", "bob", "c", None),
        _act("5", "ann", "e", 2),  # ann's overdue call on bob's deal
        _act("6", "cat", None, 1),  # cat's overdue task about no deal
        _act("7", "bob", "e", 20, status="cancelled"),
    ]
    h = pipeline_hygiene(deals, acts, as_of=as_of)
    assert h.deals == ("a", "b", "c", "e")
    assert h.planned.tolist() == [1, 0, 2, 1]
    assert h.overdue.tolist() == [0, 0, 1, 1]
    assert h.no_next_activity.tolist() == [False, True, False, False]
    assert h.next_activity.astype("M8[D]").astype(str).tolist() == [
        "2025-01-13",
        "NaT",
        "2025-01-04",
        "2025-01-03",
    ]
    assert h.stale_close.tolist() == [False, True, False, False]
    assert h.no_close_date.tolist() == [False, False, True, False]
    assert h.reps == ("ann", "bob", "cat")
    assert h.rep_open.tolist() == [2, 2, 0]
    assert h.rep_no_next_activity.tolist() == [1, 0, 0]
    assert h.rep_with_overdue.tolist() == [0, 2, 0]
    assert h.rep_stale_close.tolist() == [1, 0, 0]
    assert h.rep_no_close_date.tolist() == [0, 1, 0]
    assert h.rep_overdue_activities.tolist() == [1, 1, 1]
    assert len(h.lines()) == 4


def test_hygiene_refuses_bad_input() -> None:
    with pytest.raises(ValidationError, match=r"'deals\[0\]' must be an Opportunity"):
        pipeline_hygiene([1], [], as_of=T0)  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="twice"):
        pipeline_hygiene([_opp("a", "ann"), _opp("a", "bob")], [], as_of=T0 + timedelta(days=1))
    with pytest.raises(ValidationError, match="'as_of'"):
        pipeline_hygiene([], [], as_of="yesterday")


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_slippage_from_stored_edits(backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from crmcore.pipeline import B2B, create_opportunity, edit, load_history
    from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork

    uow = MemoryUnitOfWork() if backend == "memory" else SqlUnitOfWork.from_url(tmp_path / "c.db")
    pushes = {"a": ["2025-02-28", "2025-03-31", "2025-05-31"], "b": ["2025-03-31", "2025-03-15"]}
    with uow:
        for oid, owner in (("a", "ann"), ("b", "bob")):
            create_opportunity(
                uow,
                B2B,
                id=oid,
                customer_id="c",
                owner_id=owner,
                at=T0,
                expected_close=date(2025, 1, 31),
            )
            for v, new in enumerate(pushes[oid]):
                edit(
                    uow,
                    oid,
                    expected_version=v,
                    changes={"expected_close": date.fromisoformat(new)},
                    funnel=B2B,
                    by="boss",
                    at=T0 + timedelta(days=10 * (v + 1)),
                )
        edit(
            uow,
            "a",
            expected_version=3,
            changes={"owner_id": "cat"},
            funnel=B2B,
            by="boss",
            at=T0 + timedelta(days=40),
        )
        uow.commit()
    with uow:
        changes = uow.opportunities.read_changes(funnel="b2b", fields=["expected_close"])
        fh = load_history(uow, B2B, as_of=T0 + timedelta(days=60))
    s = close_date_slippage(CloseDateChanges.from_field_history(changes, owners=fh))
    assert s.deals == ("a", "b") and s.owner == ("cat", "bob")  # a's owner at as_of
    assert s.pushes.tolist() == [3, 1] and s.pull_ins.tolist() == [0, 1]
    assert s.days_pushed.tolist() == [28 + 31 + 61, 59]
    assert s.slipped_days.tolist() == [120.0, 43.0]
    by_editor = close_date_slippage(CloseDateChanges.from_field_history(changes))
    assert by_editor.reps == ("boss",)
