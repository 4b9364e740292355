"""Deal scoring on a repository's records: custom fields from the events, as known at a date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np

from crmcore.model import FieldChange, Money, StageChange
from crmcore.pipeline import B2B
from crmcore.pipeline.scoring import DealFields, fit_deal_scores, score_deals
from crmcore.pipeline.service import advance, create_opportunity, edit, load_history
from crmcore.repositories import MemoryUnitOfWork

T0 = datetime(2025, 1, 1, tzinfo=UTC)
CUT = T0 + timedelta(days=200)


def _store() -> MemoryUnitOfWork:
    """90 deals, every fifth left open: referral deals are won (one in three lost), web deals
    lost; half the web losses are typed 40 days late; deal d-5 switches its source from web to
    referral on day 150."""
    now = [T0]
    uow = MemoryUnitOfWork(clock=lambda: now[0])
    rng = np.random.default_rng(1)
    with uow:
        for i in range(90):
            t = T0 + timedelta(days=2 * i)
            source = "referral" if i % 3 == 0 else "web"
            now[0] = t
            create_opportunity(uow, B2B, id=f"d-{i}", customer_id=f"c-{i}", owner_id="ann",
                               at=t, amount=Money("1000", "EUR"), expected_close=date(2026, 1, 1),
                               custom={"source": source, "seats": int(rng.integers(1, 50))})  # fmt: skip
            t = t + timedelta(days=3)
            now[0] = t
            advance(uow, f"d-{i}", "qualified", expected_version=0, funnel=B2B, by="ann", at=t)
            t = t + timedelta(days=5)
            if i % 5 == 4:
                continue  # still open
            late = source == "web" and i % 2 == 0
            now[0] = t + timedelta(days=40 if late else 0)
            if source == "web" or i % 9 == 3:
                advance(uow, f"d-{i}", "lost", expected_version=1, funnel=B2B, by="ann", at=t,
                        reason="price")  # fmt: skip
                continue
            for v, stage in enumerate(("proposal", "negotiation", "won"), start=1):
                advance(uow, f"d-{i}", stage, expected_version=v, funnel=B2B, by="ann", at=t,
                        open_follow_up=False)  # fmt: skip
        now[0] = T0 + timedelta(days=150)
        o = uow.opportunities.get("d-5")
        edit(uow, "d-5", expected_version=o.version, changes={"custom.source": "referral"},
             funnel=B2B, by="ann", at=now[0])  # fmt: skip
        now[0] = T0 + timedelta(days=400)
        uow.commit()
    return uow


def _records(uow: MemoryUnitOfWork) -> tuple[list[StageChange], list[FieldChange]]:
    events: list[StageChange] = []
    changes: list[FieldChange] = []
    with uow:
        for o in uow.opportunities.list(funnel="b2b"):
            for e in uow.opportunities.events(o.id):
                (events if isinstance(e, StageChange) else changes).append(e)  # type: ignore[arg-type]
    return events, changes


def test_custom_fields_as_of_and_as_known_feed_the_model() -> None:
    uow = _store()
    events, changes = _records(uow)
    f_then = DealFields.from_records(events, changes, as_of=T0 + timedelta(days=100))
    f_now = DealFields.from_records(events, changes)
    i = f_then.names.index("source")
    row = list(f_then.opportunity_ids).index("d-5")
    assert f_then.labels[i][f_then.values[i][row]] == "web"
    assert f_now.labels[i][f_now.values[i][row]] == "referral"
    assert f_then.kinds[f_then.names.index("seats")] == "number"
    with uow:  # the columnar field changes give the same table
        columnar = uow.opportunities.read_changes(funnel="b2b")
        read = uow.opportunities.read_history(funnel="b2b")
    f_cols = DealFields.from_records(events, columnar, as_of=T0 + timedelta(days=100))
    assert f_cols.names == f_then.names
    for a, b in zip(f_cols.values, f_then.values, strict=True):
        np.testing.assert_array_equal(a, b)
    # a StageHistory with its field changes, as of and as known at the cut-off
    m_cols = fit_deal_scores(read, B2B, as_of=CUT, known_at=CUT, changes=columnar,
                             fields=DealFields.from_records(events, columnar, as_of=CUT, known_at=CUT))  # fmt: skip
    assert m_cols.known_at is not None
    with uow:
        known = load_history(uow, B2B, as_of=CUT, known_at=CUT)
        hindsight = load_history(uow, B2B, as_of=CUT)
    fields = DealFields.from_records(events, changes, as_of=CUT, known_at=CUT)
    m_known = fit_deal_scores(known, fields=fields)
    m_all = fit_deal_scores(hindsight, fields=fields)
    assert m_known.n_deals < m_all.n_deals  # the late-typed losses were not known at the cut
    assert 0 < m_known.n_won < m_known.n_deals
    src = dict(zip(m_known.levels[m_known.factors.index("source")],
                   m_known.coefficients[m_known.factors.index("source")], strict=True))  # fmt: skip
    assert src["referral"] > src["web"]
    scores = score_deals(m_known, known, fields=fields)
    assert len(scores) == int(known.is_open.sum())
    web = [e for e in map(scores.explain, scores.opportunity_ids) if "web" in e.levels]
    ref = [e for e in map(scores.explain, scores.opportunity_ids) if "referral" in e.levels]
    assert web and ref and max(e.probability for e in web) < min(e.probability for e in ref)
