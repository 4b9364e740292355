"""Funnel definitions: validation when built, presets, JSON round trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from crmcore.errors import ConfigurationError, ValidationError
from crmcore.pipeline import (
    B2B,
    FOUR_PHASES,
    PRESETS,
    TOP_IN_BEST,
    FollowUp,
    ForecastCategory,
    Funnel,
    RequireFields,
    RequireReason,
    Stage,
    StageKind,
)
from crmcore.pipeline.strategies import funnels
from crmcore.serialization import from_dict, from_json, to_dict, to_json

OPEN = (Stage("a", probability=0.2), Stage("b", probability=0.5))
WON = Stage("won", kind="won")
LOST = Stage("lost", kind="lost")


def test_unknown_stage_in_transition_is_named() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown target stage 'c'"):
        Funnel(name="f", stages=(*OPEN, WON), transitions=(("a", "b"), ("b", "c")))


def test_unreachable_stage_is_named() -> None:
    with pytest.raises(ConfigurationError, match=r"stage 'b' is not reachable"):
        Funnel(name="f", stages=(*OPEN, WON), transitions=(("a", "won"), ("b", "won")))


def test_no_won_stage() -> None:
    with pytest.raises(ConfigurationError, match="at least one stage of kind 'won'"):
        Funnel(name="f", stages=(*OPEN, LOST), transitions=(("a", "b"), ("b", "lost")))


def test_duplicate_stage_names() -> None:
    with pytest.raises(ConfigurationError, match="duplicate stage name 'a'"):
        Funnel(name="f", stages=(*OPEN, Stage("a", probability=0.1), WON), transitions=())


def test_dead_end_open_stage() -> None:
    with pytest.raises(ConfigurationError, match="open stage 'b' has no way out"):
        Funnel(name="f", stages=(*OPEN, WON), transitions=(("a", "b"), ("a", "won")))


@pytest.mark.parametrize("source", ["won", "lost"])
def test_no_transition_out_of_closed_stages(source: str) -> None:
    with pytest.raises(ConfigurationError, match="leaves a"):
        Funnel(
            name="f",
            stages=(*OPEN, WON, LOST),
            transitions=(("a", "b"), ("b", "won"), ("a", "lost"), (source, "a")),
        )


def test_self_loop_and_entry_and_follow_up_checks() -> None:
    with pytest.raises(ConfigurationError, match="itself"):
        Funnel(name="f", stages=(*OPEN, WON), transitions=(("a", "a"), ("a", "b"), ("b", "won")))
    with pytest.raises(ConfigurationError, match="entry stage 'won' must be an open stage"):
        Funnel(name="f", stages=(*OPEN, WON), transitions=(("a", "b"), ("b", "won")), entry="won")
    with pytest.raises(ConfigurationError, match="follow-up stage 'b' must be an entry stage"):
        Funnel(
            name="f",
            stages=(*OPEN, WON),
            transitions=(("a", "b"), ("b", "won")),
            follow_up=FollowUp(stage="b"),
        )


def test_stage_rules() -> None:
    assert Stage("w", kind="won").probability == 1.0
    assert Stage("l", kind="lost").forecast_category is ForecastCategory.OMITTED
    with pytest.raises(ConfigurationError, match="probability 1.0"):
        Stage("w", kind="won", probability=0.5)
    with pytest.raises(ConfigurationError, match=r"'probability' must be in \[0, 1\]: 1.5"):
        Stage("x", probability=1.5)
    with pytest.raises(ConfigurationError, match="cannot be in forecast category 'closed'"):
        Stage("x", probability=0.5, forecast_category="closed")
    with pytest.raises(
        ValidationError, match="'kind' must be one of 'open', 'won', 'lost': 'pending'"
    ):
        Stage("x", kind="pending", probability=0.5)


def test_guards_are_data() -> None:
    assert RequireFields(["amount"], "product").fields == ("amount", "product")
    with pytest.raises(ConfigurationError, match="at least one field"):
        RequireFields()


def test_presets_shape() -> None:
    assert TOP_IN_BEST.stage_names == ("TOP", "IN", "BEST", "WIN", "LOST")
    for s in ("TOP", "IN", "BEST"):
        assert "LOST" in TOP_IN_BEST.targets(s)
    assert B2B.stage_names == ("lead", "qualified", "proposal", "negotiation", "won", "lost")
    assert B2B.stage("proposal").guards == (RequireFields("amount", "expected_close"),)
    assert B2B.stage("lost").guards == (RequireReason(),)
    assert FOUR_PHASES.names_of(StageKind.WON) == ("follow_up",)
    assert FOUR_PHASES.follow_up == FollowUp(stage="needs", kind="repurchase")
    assert [B2B.rank(s) for s in B2B.stage_names] == [0, 1, 2, 3, 4, -1]


@pytest.mark.parametrize("funnel", PRESETS, ids=lambda f: f.name)
def test_presets_round_trip_through_json(funnel: Funnel) -> None:
    text = to_json(funnel)
    back = from_json(Funnel, text)
    assert back == funnel
    assert back.targets(back.entry[0]) == funnel.targets(funnel.entry[0])
    assert json.loads(text)["stages"][0]["kind"] == "open"


def test_bad_documents_are_refused_with_the_path() -> None:
    doc = to_dict(B2B)
    doc["transitions"][0]["target"] = "nowhere"
    with pytest.raises(ValidationError, match="unknown target stage 'nowhere'"):
        from_dict(Funnel, doc)
    doc = to_dict(B2B)
    doc["stages"][2]["guards"] = [{"type": "require_magic"}]
    with pytest.raises(ValidationError, match="guard"):
        from_dict(Funnel, doc)


@given(funnels())
def test_random_funnels_round_trip(funnel: Funnel) -> None:
    back = from_json(Funnel, to_json(funnel))
    assert back == funnel
    for s in funnel.stage_names:
        assert back.targets(s) == funnel.targets(s)
