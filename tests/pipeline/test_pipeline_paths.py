"""Metrics on branching funnels (two entry stages, skips, back-moves, reopens) against a reference.

The reference evaluator below is plain Python over each deal's list of
events, written from the definitions on docs/pipeline.md, independently of
the vectorised implementation (crmcore.pipeline._paths and the metrics).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.pipeline import (
    Funnel,
    FunnelHistory,
    Period,
    Stage,
    actuals,
    cohort_conversion,
    stage_conversion,
    win_probabilities,
)
from crmcore.tables import StageHistory

Path = list[tuple[str | None, str]]  # (from, to) per event, creation first


def reference(funnel: Funnel, deals: list[Path]) -> dict[str, object]:
    """Plain-Python conversion counts and advances per deal, from the definitions."""
    kind = {s.name: s.kind.value for s in funnel.stages}
    opens = [s.name for s in funnel.stages if kind[s.name] == "open"]
    order = {n: i for i, n in enumerate(opens)}

    def forward(a: str, b: str) -> bool:
        return kind[a] == "open" and (
            kind[b] == "won" or (kind[b] == "open" and order[b] > order[a])
        )

    table = {
        n: {"reached": 0, "advanced": 0, "decided": 0, "converted": 0, "closed": 0} for n in opens
    }
    advances = []
    for path in deals:
        final = kind[path[-1][1]]
        entered = {to for _, to in path}
        for n in opens:
            if n not in entered:
                continue
            row = table[n]
            row["reached"] += 1
            went_on = any(a == n and forward(a, b) for a, b in path if a is not None)
            row["advanced"] += went_on
            row["decided"] += went_on or final == "lost"
            row["converted"] += final == "won"
            row["closed"] += final != "open"
        seen: set[str] = set()
        count = 0
        for a, b in path:
            if a is not None and forward(a, b) and b not in seen:
                count += 1
            seen.add(b)
        advances.append(count)
    return {"table": table, "opens": opens, "advances": advances}


@st.composite
def branching_funnels(draw: st.DrawFn) -> Funnel:
    n = draw(st.integers(2, 5))
    names = [f"s{i}" for i in range(n)]
    stages = [Stage(nm, probability=0.1 * (i + 1)) for i, nm in enumerate(names)]
    stages += [Stage("won", kind="won"), Stage("lost", kind="lost")]
    edges = {(names[i], names[i + 1]) for i in range(n - 1)} | {(names[-1], "won")}
    extra = draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)), max_size=6))
    edges |= {(a, b) for a, b in extra if a != b}  # skips and back-moves
    edges |= {(draw(st.sampled_from(names)), "won")}
    edges |= {(nm, "lost") for nm in names}
    entry = ["s0"] + ([draw(st.sampled_from(names[1:]))] if draw(st.booleans()) else [])
    return Funnel(name="b", stages=tuple(stages), transitions=tuple(sorted(edges)), entry=entry)


@st.composite
def histories(draw: st.DrawFn) -> tuple[Funnel, list[Path], list[str]]:
    funnel = draw(branching_funnels())
    opens = funnel.names_of("open")
    deals: list[Path] = []
    owners = []
    for _ in range(draw(st.integers(1, 12))):
        here = draw(st.sampled_from(funnel.entry))
        path: Path = [(None, here)]
        for _ in range(draw(st.integers(0, 8))):
            k = funnel.stage(here).kind.value
            if k == "won":
                break
            if k == "lost":
                if not draw(st.booleans()):
                    break
                nxt = draw(st.sampled_from(opens))  # an explicit reopen, into any open stage
            else:
                nxt = draw(st.sampled_from(sorted(funnel.targets(here))))
            path.append((here, nxt))
            here = nxt
        deals.append(path)
        owners.append(draw(st.sampled_from(["ann", "bob"])))
    return funnel, deals, owners


def _history(deals: list[Path], owners: list[str]) -> StageHistory:
    cols: dict[str, list[object]] = {k: [] for k in ("o", "s", "f", "t", "at", "w")}
    for i, (path, owner) in enumerate(zip(deals, owners, strict=True)):
        for seq, (a, b) in enumerate(path):
            t = np.datetime64("2025-01-01") + np.timedelta64(i, "D") + np.timedelta64(seq, "h")
            for k, v in zip(cols, (f"d{i:02d}", seq, a, b, t, owner), strict=True):
                cols[k].append(v)
    return StageHistory.from_arrays(
        opportunity_ids=cols["o"],
        sequence=cols["s"],
        from_stage=cols["f"],
        to_stage=cols["t"],
        at=np.array(cols["at"], dtype="M8[us]"),
        owner_ids=cols["w"],
    )


@settings(max_examples=150)
@given(histories())
def test_conversion_follows_each_deals_path(case: tuple[Funnel, list[Path], list[str]]) -> None:
    funnel, deals, owners = case
    fh = FunnelHistory.build(_history(deals, owners), funnel)
    ref = reference(funnel, deals)
    table = ref["table"]
    c = stage_conversion(fh)
    assert list(c.stages) == ref["opens"]
    for i, name in enumerate(c.stages):
        row = table[name]  # type: ignore[index]
        got = (c.reached[i], c.advanced[i], c.decided[i], c.converted[i])  # type: ignore[index]
        assert got == (row["reached"], row["advanced"], row["decided"], row["converted"]), name
    wp = win_probabilities(fh)
    assert wp.closed.tolist() == [table[n]["closed"] for n in c.stages]  # type: ignore[index]
    assert wp.won.tolist() == [table[n]["converted"] for n in c.stages]  # type: ignore[index]
    cc = cohort_conversion(fh)
    assert cc.reached.sum(axis=0).tolist() == [table[n]["reached"] for n in c.stages]  # type: ignore[index]
    a = actuals(Period.month(date(2025, 1, 1)), history=fh)
    want = dict.fromkeys(a.reps, 0)
    for owner, n in zip(owners, ref["advances"], strict=True):  # type: ignore[call-overload]
        want[owner] += n
    assert dict(zip(a.reps, a.advances.tolist(), strict=True)) == want


TWO_ENTRIES = Funnel(
    name="two-entries",
    stages=(
        Stage("inbound", probability=0.1),
        Stage("outbound", probability=0.05),
        Stage("qualified", probability=0.3),
        Stage("proposal", probability=0.6),
        Stage("won", kind="won"),
        Stage("lost", kind="lost"),
    ),
    transitions=(
        ("inbound", "qualified"),
        ("outbound", "qualified"),
        ("inbound", "proposal"),
        ("qualified", "proposal"),
        ("proposal", "qualified"),
        ("proposal", "won"),
        ("inbound", "lost"),
        ("outbound", "lost"),
        ("qualified", "lost"),
        ("proposal", "lost"),
    ),
    entry=("inbound", "outbound"),
)


def test_the_findings_of_issue_14_by_hand() -> None:
    """A skip is not a reach; bouncing is one advance; the outbound deal never reached inbound."""
    deals: list[Path] = [
        # skips qualified, then bounces proposal <-> qualified twice, then wins
        [
            (None, "inbound"),
            ("inbound", "proposal"),
            ("proposal", "qualified"),
            ("qualified", "proposal"),
            ("proposal", "qualified"),
            ("qualified", "proposal"),
            ("proposal", "won"),
        ],
        # outbound entry, lost at qualified
        [(None, "outbound"), ("outbound", "qualified"), ("qualified", "lost")],
        # still open in inbound
        [(None, "inbound")],
    ]
    fh = FunnelHistory.build(_history(deals, ["ann"] * 3), TWO_ENTRIES)
    c = stage_conversion(fh)
    assert c.stages == ("inbound", "outbound", "qualified", "proposal")
    assert c.reached.tolist() == [2, 1, 2, 1]  # definition order would say 3, 3, 2, 1
    assert c.advanced.tolist() == [1, 1, 1, 1]  # deal 0 advanced from qualified once
    assert c.decided.tolist() == [1, 1, 2, 1]  # deal 2 is pending in inbound
    assert c.converted.tolist() == [1, 0, 1, 1]  # type: ignore[union-attr]
    assert np.allclose(c.rate, [1.0, 1.0, 0.5, 1.0])
    a = actuals(Period.month(date(2025, 1, 1)), history=fh)
    # deal 0: inbound->proposal (1), back to qualified, proposal again (a re-entry), won (2);
    # deal 1: outbound->qualified (3), then lost. Counting forward moves would say 5.
    assert a.advances.tolist() == [3]
    assert reference(TWO_ENTRIES, deals)["advances"] == [2, 1, 0]


@pytest.mark.parametrize("as_of_day", [1, 2, 3])
def test_an_as_of_cut_reads_the_path_so_far(as_of_day: int) -> None:
    deals: list[Path] = [[(None, "inbound"), ("inbound", "qualified"), ("qualified", "won")]]
    h = StageHistory.from_arrays(
        opportunity_ids=["d"] * 3,
        sequence=[0, 1, 2],
        from_stage=[a for a, _ in deals[0]],
        to_stage=[b for _, b in deals[0]],
        at=[np.datetime64("2025-01-01") + np.timedelta64(d, "D") for d in range(3)],
    )
    fh = FunnelHistory.build(
        h, TWO_ENTRIES, as_of=np.datetime64("2025-01-01") + np.timedelta64(as_of_day, "D")
    )
    ref = reference(TWO_ENTRIES, [deals[0][:as_of_day]])
    c = stage_conversion(fh)
    assert c.reached.tolist() == [ref["table"][n]["reached"] for n in c.stages]  # type: ignore[index]
