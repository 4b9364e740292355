"""Funnel versions: a split stage, history read and reported across versions, stored as documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import attrs
import numpy as np
import pytest

from crmcore.errors import ConfigurationError, ValidationError
from crmcore.pipeline import B2B, Funnel, FunnelHistory, stage_conversion
from crmcore.pipeline.service import save_funnel
from crmcore.pipeline.versions import FunnelVersions, funnel_versions
from crmcore.repositories import MemoryUnitOfWork
from crmcore.serialization import from_json, to_json
from crmcore.tables import StageHistory

SWITCH = datetime(2025, 3, 1, tzinfo=UTC)
V2 = Funnel.linear(
    "b2b",
    {"lead": 0.05, "qualified": 0.2, "draft": 0.3, "sent": 0.5, "negotiation": 0.7},
    version=2,
    valid_from=SWITCH,
    derived_from={"draft": "proposal", "sent": "proposal"},
)
VERSIONS = FunnelVersions((B2B, V2))

# (deal, [(from, to, day)]): two deals under version 1, two under version 2, and one
# opened under version 1 that keeps moving under version 1's names after the switch.
DEALS = {
    "v1-won": [
        (None, "lead", "01-05"),
        ("lead", "qualified", "01-10"),
        ("qualified", "proposal", "01-20"),
        ("proposal", "negotiation", "02-01"),
        ("negotiation", "won", "02-10"),
    ],
    "v1-lost": [
        (None, "lead", "01-06"),
        ("lead", "qualified", "01-12"),
        ("qualified", "proposal", "01-25"),
        ("proposal", "lost", "02-20"),
    ],
    "v2-won": [
        (None, "lead", "03-02"),
        ("lead", "qualified", "03-03"),
        ("qualified", "draft", "03-04"),
        ("draft", "sent", "03-06"),
        ("sent", "negotiation", "03-08"),
        ("negotiation", "won", "03-12"),
    ],
    "v2-open": [
        (None, "lead", "03-02"),
        ("lead", "qualified", "03-05"),
        ("qualified", "draft", "03-07"),
    ],
    "straddle": [
        (None, "lead", "02-15"),
        ("lead", "qualified", "02-20"),
        ("qualified", "proposal", "03-03"),
    ],
}


def _history() -> StageHistory:
    rows = [
        (d, i, a, b, f"2025-{day}")
        for d, path in DEALS.items()
        for i, (a, b, day) in enumerate(path)
    ]
    return StageHistory.from_arrays(
        opportunity_ids=[r[0] for r in rows],
        sequence=[r[1] for r in rows],
        from_stage=[r[2] for r in rows],
        to_stage=[r[3] for r in rows],
        at=[r[4] for r in rows],
    )


def test_old_history_is_unreadable_with_the_new_version_alone() -> None:
    with pytest.raises(ValidationError, match="'proposal'"):
        FunnelHistory.build(_history(), V2)
    with pytest.raises(ValidationError, match="'draft'"):
        FunnelHistory.build(_history(), B2B)


def test_history_reported_in_the_new_version() -> None:
    fh = FunnelHistory.build(VERSIONS.translate(_history()), V2)
    c = stage_conversion(fh)
    assert c.stages == ("lead", "qualified", "draft", "sent", "negotiation")
    # every deal entered "draft" (old "proposal" reads as its first half); only v2-won was sent
    assert c.reached.tolist() == [5, 5, 5, 1, 2]
    # v1-won advanced from draft by proposal -> negotiation (a skip of "sent" in new terms)
    assert c.advanced.tolist() == [5, 5, 2, 1, 2]
    assert c.decided.tolist() == [5, 5, 3, 1, 2]


def test_history_reported_in_the_old_version() -> None:
    old = VERSIONS.translate(_history(), to=1)
    fh = FunnelHistory.build(old, B2B)
    c = stage_conversion(fh)
    assert c.stages == ("lead", "qualified", "proposal", "negotiation")
    assert c.reached.tolist() == [5, 5, 5, 2]
    # v2-won's draft -> sent reads as proposal -> proposal: staying, not an advance
    assert c.advanced.tolist() == [5, 5, 2, 2]
    assert stage_conversion(FunnelHistory.build(old, B2B)).rate.tolist()[2] == pytest.approx(2 / 3)


def test_rows_can_carry_their_version_and_bad_stages_are_named() -> None:
    h = _history()
    per_row = VERSIONS.version_at(h.at)
    straddle = h.opportunity_ids[h.opportunity] == "straddle"
    per_row[straddle] = 1  # what records carrying their funnel version would say
    same = VERSIONS.translate(h, versions=per_row)
    assert (same.to_stage == VERSIONS.translate(h).to_stage).all()
    bad = StageHistory.from_arrays(
        opportunity_ids=["x", "x"],
        sequence=[0, 1],
        from_stage=[None, "lead"],
        to_stage=["lead", "pitch"],
        at=["2025-01-01", "2025-01-02"],
    )
    with pytest.raises(ValidationError, match=r"event 1 of opportunity 'x' .* 'lead' -> 'pitch'"):
        VERSIONS.translate(bad)
    with pytest.raises(ValidationError, match=r"'versions' must be in \[1, 2\]"):
        VERSIONS.translate(h, versions=np.full(len(h), 3))


def test_version_rules() -> None:
    assert VERSIONS.at("2025-02-28").version == 1 and VERSIONS.at(SWITCH).version == 2
    assert VERSIONS.stage_map(1, 2)["proposal"] == "draft"
    assert VERSIONS.stage_map(2, 1) == {
        "lead": "lead",
        "qualified": "qualified",
        "draft": "proposal",
        "sent": "proposal",
        "negotiation": "negotiation",
        "won": "won",
        "lost": "lost",
    }
    dropped = attrs.evolve(V2, derived_from={"sent": "proposal"}, stages=V2.stages)
    with pytest.raises(ConfigurationError, match="'proposal' of version 1 has no counterpart"):
        FunnelVersions(
            (
                B2B,
                Funnel.linear(
                    "b2b",
                    {"lead": 0.1, "qualified": 0.2, "sent": 0.5, "negotiation": 0.7},
                    version=2,
                    valid_from=SWITCH,
                ),
            )
        )
    assert FunnelVersions((B2B, dropped)).stage_map(1, 2)["proposal"] == "sent"
    two_wins = Funnel(
        name="b2b",
        stages=(*V2.stages, attrs.evolve(V2.stage("won"), name="won-big")),
        transitions=(*V2.transitions, ("negotiation", "won-big")),
        version=2,
        valid_from=SWITCH,
        derived_from={"draft": "qualified", "sent": "qualified", "won-big": "proposal"},
    )
    with pytest.raises(ConfigurationError, match="open stage 'proposal' .* becomes won stage"):
        FunnelVersions((B2B, two_wins))
    with pytest.raises(ConfigurationError, match="expected 2"):
        FunnelVersions((B2B, attrs.evolve(V2, version=3)))
    with pytest.raises(ConfigurationError, match="must be after version 2"):
        FunnelVersions((B2B, V2, attrs.evolve(V2, version=3, derived_from={}, valid_from=SWITCH)))
    with pytest.raises(ConfigurationError, match="version 2 needs 'valid_from'"):
        attrs.evolve(V2, valid_from=None)
    with pytest.raises(ConfigurationError, match="version 1 has no previous version"):
        Funnel.linear("b2b", {"a": 0.1}, derived_from={"a": "b"})


def test_versions_round_trip_through_json_with_the_map_as_an_object() -> None:
    text = to_json(V2)
    assert json.loads(text)["derived_from"] == {"draft": "proposal", "sent": "proposal"}
    assert json.loads(text)["version"] == 2
    assert from_json(Funnel, text) == V2


def test_stored_versions_chain() -> None:
    uow = MemoryUnitOfWork()
    with uow:
        save_funnel(uow, B2B)
        save_funnel(uow, attrs.evolve(B2B, description="edited"), expected_version=1)
        save_funnel(uow, V2, expected_version=2)
        fv = funnel_versions(uow, "b2b")
        assert [f.version for f in fv.versions] == [1, 2]
        assert fv.get(1).description == "edited"  # the newest revision of version 1
        assert fv.latest == V2


def test_stored_history_is_reportable_in_either_version() -> None:
    from crmcore.model import Money
    from crmcore.pipeline import advance, create_opportunity, load_history

    uow = MemoryUnitOfWork()
    at = lambda day: datetime.fromisoformat(f"2025-{day}T09:00:00+00:00")  # noqa: E731

    def story(oid: str, funnel: Funnel, path: list[tuple[str | None, str, str]]) -> None:
        create_opportunity(
            uow,
            funnel,
            id=oid,
            customer_id="c",
            owner_id="ann",
            at=at(path[0][2]),
            amount=Money("100", "EUR"),
            expected_close=at("06-30").date(),
        )
        for version, (_, to, day) in enumerate(path[1:]):
            advance(
                uow,
                oid,
                to,
                expected_version=version,
                funnel=funnel,
                by="ann",
                at=at(day),
                reason="price" if to == "lost" else None,
            )

    with uow:
        save_funnel(uow, B2B)
        story("v1-won", B2B, DEALS["v1-won"])
        story("v1-lost", B2B, DEALS["v1-lost"])
        save_funnel(uow, V2, expected_version=1)
        story("v2-won", V2, DEALS["v2-won"])
        story("v2-open", V2, DEALS["v2-open"])
        new = load_history(uow, V2, as_of=at("04-01"))
        old = load_history(uow, B2B, as_of=at("04-01"))
        with pytest.raises(ConfigurationError, match="'proposal' of version 1 has no counterpart"):
            save_funnel(uow, attrs.evolve(V2, derived_from={}), expected_version=2)
        with pytest.raises(ValidationError, match="version 4 cannot be stored before version 3"):
            save_funnel(uow, attrs.evolve(V2, version=4), expected_version=2)
    # the v1 win opened a follow-up deal in "lead" (B2B's follow-up setting): 5 leads
    assert stage_conversion(new).reached.tolist() == [5, 4, 4, 1, 2]
    assert stage_conversion(old).reached.tolist() == [5, 4, 4, 2]


def test_a_deal_in_a_stage_the_new_version_split_moves_with_the_old_one() -> None:
    """A new user's try after a redesign: moving (or editing, or reopening) a deal that is still
    in "proposal" with version 2 is a TransitionError that says why and what to do (it was a
    ConfigurationError about the funnel); with version 1 it moves, and both versions read it."""
    from datetime import timedelta

    from crmcore.errors import TransitionError
    from crmcore.model import Money
    from crmcore.pipeline import advance, create_opportunity, edit, load_history

    t = datetime(2025, 1, 6, tzinfo=UTC)
    uow = MemoryUnitOfWork()
    with uow:
        save_funnel(uow, B2B)
        create_opportunity(uow, B2B, id="d", customer_id="c", owner_id="ann", at=t,
                           amount=Money("10", "EUR"), expected_close=t.date())  # fmt: skip
        for i, stage in enumerate(("qualified", "proposal")):
            advance(uow, "d", stage, expected_version=i, funnel=B2B, by="ann", at=t + timedelta(i))
        save_funnel(uow, V2, expected_version=1)
        uow.commit()
    later = SWITCH + timedelta(days=3)
    with uow:
        for attempt in (
            lambda: advance(uow, "d", "sent", expected_version=2, funnel=V2, by="ann", at=later),
            lambda: edit(
                uow,
                "d",
                expected_version=2,
                funnel=V2,
                by="ann",
                at=later,
                changes={"probability": 0.5},
            ),
        ):
            with pytest.raises(TransitionError) as info:
                attempt()
            assert str(info.value).startswith(
                "opportunity 'd' is in stage 'proposal', which version 2 of funnel 'b2b' does "
                "not have; stages are ['lead', 'qualified', 'draft', 'sent', 'negotiation', "
                "'won', 'lost'] (a stage of another version of the funnel: the deal moves and is "
                "edited with a version that has its stage)"
            )
        advance(uow, "d", "negotiation", expected_version=2, funnel=B2B, by="ann", at=later)
        uow.commit()
    with uow:
        new = load_history(uow, V2, as_of=later + timedelta(days=1))
        old = load_history(uow, B2B, as_of=later + timedelta(days=1))
    assert stage_conversion(new).reached.tolist() == [1, 1, 1, 0, 1]
    assert stage_conversion(old).reached.tolist() == [1, 1, 1, 1]


def _early_pilot() -> StageHistory:
    """A deal moved under version 2's stages a week before version 2 took effect (a pilot):
    its time says version 1, which has no "draft"; only its recorded version reads it."""
    return StageHistory.from_arrays(
        opportunity_ids=["pilot", "pilot", "pilot", "old", "old"],
        sequence=[0, 1, 2, 0, 1],
        from_stage=[None, "lead", "qualified", None, "lead"],
        to_stage=["lead", "qualified", "draft", "lead", "qualified"],
        at=["2025-02-20", "2025-02-21", "2025-02-22", "2025-01-02", "2025-01-03"],
        funnel_versions=[2, 2, 2, 0, 0],  # "old" was stored before schema 4: unknown
    )


def test_the_recorded_funnel_version_reads_a_row_where_its_time_would_not() -> None:
    h = _early_pilot()
    out = VERSIONS.translate(h, to=1)
    assert out.stages[out.to_stage].tolist() == [
        "lead",
        "qualified",
        "proposal",
        "lead",
        "qualified",
    ]
    # the same rows without their recorded versions: the time says version 1, which lacks "draft"
    unknown = attrs.evolve(h, funnel_version=np.zeros(len(h), dtype=np.int64))
    with pytest.raises(ValidationError, match=r"event 2 of opportunity 'pilot' .* -> 'draft'"):
        VERSIONS.translate(unknown)
    # versions= given by the caller still wins over what was recorded
    same = VERSIONS.translate(h, to=1, versions=np.array([2, 2, 2, 1, 1]))
    assert (same.to_stage == out.to_stage).all()


def test_a_recorded_version_the_chain_does_not_have_is_named() -> None:
    h = attrs.evolve(_early_pilot(), funnel_version=np.array([3, 3, 3, 0, 0], dtype=np.int64))
    with pytest.raises(
        ValidationError, match=r"'funnel_version' must be in \[0, 2\].*: 3 at row 0"
    ):
        VERSIONS.translate(h)
    # a recorded version whose stages do not match the row is refused, not guessed
    wrong = attrs.evolve(_early_pilot(), funnel_version=np.array([1, 1, 1, 0, 0], dtype=np.int64))
    with pytest.raises(ValidationError, match=r"event 2 of opportunity 'pilot'"):
        VERSIONS.translate(wrong)
