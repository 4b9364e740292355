"""Stateful property test: random funnels, random (legal and illegal) move sequences.

Invariants after every step: no illegal state is reachable (every opportunity
sits in exactly one stage of its funnel, closed exactly when that stage is
won or lost, lost reason only when lost), illegal moves raise and change
nothing, replaying the events reproduces every opportunity, and the metrics
over the accumulated history keep their invariants (rates in [0, 1],
weighted pipeline <= open pipeline, counts conserved).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from crmcore.errors import TransitionError, ValidationError
from crmcore.model import Money, Opportunity, StageChange
from crmcore.pipeline import (
    Funnel,
    FunnelHistory,
    StageKind,
    breakdown,
    cohort_conversion,
    move,
    open_opportunity,
    reopen,
    replay,
    stage_conversion,
    weighted_pipeline,
    win,
    win_probabilities,
    win_rate,
)
from crmcore.pipeline.strategies import funnels
from crmcore.tables import StageHistory

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class FunnelMachine(RuleBasedStateMachine):
    funnel: Funnel

    @initialize(funnel=funnels())
    def setup(self, funnel: Funnel) -> None:
        self.funnel = funnel
        self.opps: dict[str, Opportunity] = {}
        self.events: dict[str, list[StageChange]] = {}
        self.now = T0

    def _store(self, opp: Opportunity, event: StageChange) -> None:
        self.opps[opp.id] = opp
        self.events.setdefault(opp.id, []).append(event)

    @rule(amount=st.none() | st.integers(0, 10**6), step=st.integers(0, 10**6))
    def open_one(self, amount: int | None, step: int) -> None:
        self.now += timedelta(seconds=step)
        opp, ev = open_opportunity(
            self.funnel,
            id=f"o{len(self.opps)}",
            customer_id="c",
            owner_id=f"rep{len(self.opps) % 3}",
            at=self.now,
            amount=None if amount is None else Money(amount, "EUR"),
        )
        self._store(opp, ev)

    @precondition(lambda self: bool(self.opps))
    @rule(data=st.data())
    def try_move(self, data: st.DataObject) -> None:
        oid = data.draw(st.sampled_from(sorted(self.opps)))
        opp = self.opps[oid]
        to = data.draw(st.sampled_from(self.funnel.stage_names))
        reason = data.draw(st.none() | st.sampled_from(["price", "fit"]))
        step = data.draw(st.integers(-(10**5), 10**6))
        at = self.now + timedelta(seconds=step)
        last = self.events[oid][-1]
        src = self.funnel.stage(opp.stage)
        target = self.funnel.stage(to)
        legal = (
            src.kind is StageKind.OPEN
            and to in self.funnel.targets(opp.stage)
            and at >= last.at
            and all(g.failure(opp, reason) is None for g in target.guards)
        )
        before = dict(self.opps)
        try:
            new, ev = move(opp, to, funnel=self.funnel, by="rep0", at=at, after=last, reason=reason)
        except (TransitionError, ValidationError):
            assert not legal, f"legal move {opp.stage} -> {to} refused"
            assert self.opps == before
            return
        assert legal, f"illegal move {opp.stage} -> {to} accepted"
        assert (ev.sequence, ev.from_stage, ev.to_stage) == (last.sequence + 1, opp.stage, to)
        assert (ev.amount, ev.probability) == (opp.amount, target.probability)
        self.now = max(self.now, at)
        self._store(new, ev)

    @precondition(
        lambda self: any(o.stage in self.funnel.names_of("lost") for o in self.opps.values())
    )
    @rule(data=st.data())
    def reopen_one(self, data: st.DataObject) -> None:
        lost = sorted(o.id for o in self.opps.values() if o.stage in self.funnel.names_of("lost"))
        oid = data.draw(st.sampled_from(lost))
        to = data.draw(st.sampled_from(self.funnel.names_of("open")))
        self.now += timedelta(hours=1)
        new, ev = reopen(
            self.opps[oid],
            funnel=self.funnel,
            by="boss",
            at=self.now,
            after=self.events[oid][-1],
            to=to,
        )
        assert new.closed_at is None and ev.from_stage in self.funnel.names_of("lost")
        self._store(new, ev)

    @precondition(lambda self: bool(self.opps))
    @rule(data=st.data())
    def try_win(self, data: st.DataObject) -> None:
        oid = data.draw(st.sampled_from(sorted(self.opps)))
        opp = self.opps[oid]
        won_name = self.funnel.names_of("won")[0]
        self.now += timedelta(minutes=5)
        try:
            w = win(
                opp,
                funnel=self.funnel,
                by="rep1",
                at=self.now,
                after=self.events[oid][-1],
                follow_up_id=f"o{len(self.opps)}",
            )
        except TransitionError:
            assert (
                won_name not in self.funnel.targets(opp.stage)
                or self.funnel.stage(opp.stage).kind is not StageKind.OPEN
            )
            return
        self._store(w.opportunity, w.event)
        if self.funnel.follow_up is None:
            assert w.follow_up is None
        else:
            assert w.follow_up is not None and w.follow_up_event is not None
            assert w.follow_up.parent_id == oid and w.follow_up.stage == self.funnel.follow_up.stage
            self._store(w.follow_up, w.follow_up_event)

    @invariant()
    def every_opportunity_in_exactly_one_legal_stage(self) -> None:
        counts = dict.fromkeys(self.funnel.stage_names, 0)
        for o in self.opps.values():
            counts[o.stage] += 1  # KeyError = a stage the funnel does not have
            kind = self.funnel.stage(o.stage).kind
            assert (o.closed_at is not None) == (kind is not StageKind.OPEN)
            assert o.lost_reason is None or kind is StageKind.LOST
            assert o.probability == self.funnel.stage(o.stage).probability
        assert sum(counts.values()) == len(self.opps)

    @invariant()
    def replay_reproduces_state(self) -> None:
        for oid, evs in self.events.items():
            assert [e.sequence for e in evs] == list(range(len(evs)))
            assert replay(evs, funnel=self.funnel, base=self.opps[oid]) == self.opps[oid]

    @invariant()
    def metrics_keep_their_invariants(self) -> None:
        if not self.events:
            return
        all_events = [e for evs in self.events.values() for e in evs]
        fh = FunnelHistory.build(StageHistory.from_events(all_events), self.funnel)
        assert fh.n_opportunities == len(self.opps)
        finals = sorted((o.id, o.stage) for o in self.opps.values())
        got = sorted(
            zip(
                fh.opportunity_ids[fh.opportunity_codes].tolist(),
                [self.funnel.stage_names[s] for s in fh.final_stage],
                strict=True,
            )
        )
        assert got == finals
        wr = win_rate(fh)
        assert wr.won == sum(
            self.funnel.stage(o.stage).kind is StageKind.WON for o in self.opps.values()
        )
        for x in (wr.by_count, wr.by_value):
            assert np.isnan(x) or 0 <= x <= 1
        conv = stage_conversion(fh)
        ok = ~np.isnan(conv.rate)
        assert np.all((conv.rate[ok] >= 0) & (conv.rate[ok] <= 1))
        assert np.all(conv.advanced <= conv.decided) and np.all(conv.decided <= conv.reached)
        wp = weighted_pipeline(fh)
        assert wp.weighted_total <= wp.open_total + 1e-6
        assert int(wp.count.sum()) == int(fh.is_open.sum())
        assert wp.cumulative[0] >= wp.cumulative[1] >= wp.cumulative[2] >= wp.cumulative[3]
        probs = win_probabilities(fh).smoothed
        assert np.all((probs >= 0) & (probs <= 1))
        b = breakdown(fh)
        assert int(b.opportunities.sum()) == len(self.opps)
        assert int(cohort_conversion(fh).created.sum()) == len(self.opps)


FunnelMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
TestFunnelMachine = FunnelMachine.TestCase
