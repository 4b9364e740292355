"""Funnels written as JSON by hand: [source, target] pairs, one-string entry, errors with JSON paths."""

from __future__ import annotations

import json

import pytest

from crmcore.errors import ValidationError
from crmcore.pipeline import B2B, Funnel
from crmcore.serialization import from_dict, from_json, to_dict, to_json

HAND_WRITTEN = """
{
  "name": "inbound-outbound",
  "stages": [
    {"name": "inbound", "probability": 0.1},
    {"name": "outbound", "probability": 0.05},
    {"name": "qualified", "probability": 0.3, "forecast_category": "best_case"},
    {"name": "proposal", "probability": 0.6, "forecast_category": "commit",
     "guards": [{"type": "require_fields", "fields": ["amount"]}]},
    {"name": "won", "kind": "won"},
    {"name": "lost", "kind": "lost", "guards": [{"type": "require_reason"}]}
  ],
  "transitions": [
    ["inbound", "qualified"], ["outbound", "qualified"], ["inbound", "proposal"],
    ["qualified", "proposal"], ["proposal", "qualified"], ["proposal", "won"],
    ["inbound", "lost"], ["outbound", "lost"], ["qualified", "lost"], ["proposal", "lost"]
  ],
  "entry": ["inbound", "outbound"]
}
"""


def test_pairs_load_and_round_trip() -> None:
    f = from_json(Funnel, HAND_WRITTEN)
    assert f.entry == ("inbound", "outbound")
    assert f.targets("proposal") == {"qualified", "won", "lost"}
    assert from_json(Funnel, to_json(f)) == f
    # what is written: transitions as objects, no version keys for a first version
    doc = json.loads(to_json(f))
    assert doc["transitions"][0] == {"source": "inbound", "target": "qualified"}
    assert "version" not in doc and "valid_from" not in doc


def test_objects_and_pairs_mix_and_entry_as_one_string() -> None:
    doc = json.loads(HAND_WRITTEN)
    doc["transitions"][0] = {"source": "inbound", "target": "qualified"}
    doc["entry"] = "inbound"
    doc["transitions"].remove(["outbound", "qualified"])
    doc["transitions"].remove(["outbound", "lost"])
    doc["stages"].pop(1)
    f = from_dict(Funnel, doc)
    assert f.entry == ("inbound",)


def _problems(doc: object) -> tuple[str, ...]:
    with pytest.raises(ValidationError) as info:
        from_dict(Funnel, doc)  # type: ignore[arg-type]
    assert str(info.value).startswith("cannot read Funnel: ")
    return info.value.problems


def test_every_independent_problem_is_reported_with_its_path() -> None:
    doc = json.loads(HAND_WRITTEN)
    doc["stages"][2]["probability"] = 1.5
    doc["stages"][3]["kind"] = "pending"
    doc["stages"].append(3)
    doc["transitions"][1] = ["outbound"]
    doc["transitions"][2] = "inbound->proposal"
    doc["transitions"][3] = {"from": "qualified", "to": "proposal"}
    doc["colour"] = "red"
    doc["valid_from"] = "2025-01-01"
    got = _problems(doc)
    assert got[0].startswith("$: unknown field(s) ['colour']")
    assert (
        got[1] == "$.stages[2].probability: stage 'qualified': 'probability' must be in [0, 1]: 1.5"
    )
    assert got[2].startswith("$.stages[3].kind: must be one of 'open', 'won', 'lost': 'pending'")
    assert got[3].startswith("$.stages[6]: a stage is an object")
    assert got[4].startswith("$.transitions[1]: must be a [source, target] pair")
    assert got[5].startswith("$.transitions[2]: must be a [source, target] pair")
    assert got[6].startswith(
        "$.transitions[3]: a transition object has exactly 'source' and 'target'"
    )
    assert got[7].startswith("$.valid_from: expected a timezone-aware ISO 8601 datetime")
    assert len(got) == 8


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (
            lambda d: d["transitions"].append(["proposal", "nowhere"]),
            "$.transitions[10]",
            "unknown target stage 'nowhere'",
        ),
        (
            lambda d: d["transitions"].append(["won", "inbound"]),
            "$.transitions[10]",
            "leaves a won stage",
        ),
        (lambda d: d["transitions"].append(["inbound", "inbound"]), "$.transitions[10]", "itself"),
        (
            lambda d: d.update(entry=["inbound", "won"]),
            "$.entry[1]",
            "entry stage 'won' must be an open stage",
        ),
        (
            lambda d: d["stages"].append({"name": "inbound", "probability": 0.1}),
            "$.stages[6].name",
            "duplicate stage name",
        ),
        (
            lambda d: d["stages"].insert(4, {"name": "limbo", "probability": 0.1}),
            "$.stages[4]",
            "'limbo' is not reachable",
        ),
        (
            lambda d: d.update(follow_up={"stage": "qualified"}),
            "$.follow_up.stage",
            "must be an entry stage",
        ),
        (lambda d: d.update(version=2), "$.valid_from", "version 2 needs 'valid_from'"),
        (
            lambda d: d.update(
                derived_from={"nope": "x"}, version=2, valid_from="2025-01-01T00:00:00+00:00"
            ),
            "$.derived_from.nope",
            "does not have",
        ),
        (lambda d: d.pop("transitions"), "$.transitions", "required field is missing"),
        (lambda d: d.update(stages="lead"), "$.stages", "must be a list of stage objects"),
    ],
)
def test_funnel_rules_name_their_json_path(change, path: str, words: str) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(HAND_WRITTEN)
    change(doc)
    got = _problems(doc)
    assert got[0].startswith(path + ": "), got
    assert words in got[0]


def test_not_an_object() -> None:
    with pytest.raises(ValidationError, match=r"must be a mapping \(a JSON object\) for Funnel"):
        from_json(Funnel, "[1, 2]")


def test_stored_documents_of_before_versions_still_read() -> None:
    doc = to_dict(B2B)
    assert set(doc) == {"name", "stages", "transitions", "entry", "follow_up", "description"}
    assert from_dict(Funnel, doc) == B2B


def test_an_unknown_entry_stage_is_named_as_unknown() -> None:
    """A new user's typo in 'entry' was reported as 'must be an open stage'."""
    doc = {
        "name": "simple",
        "stages": [{"name": "new", "probability": 0.1}, {"name": "won", "kind": "won"}],
        "transitions": [["new", "won"]],
        "entry": "nwe",
    }
    with pytest.raises(ValidationError) as info:
        from_json(Funnel, json.dumps(doc))
    assert str(info.value) == (
        "cannot read Funnel: $.entry[0]: funnel 'simple': entry stage 'nwe' is not a stage of "
        "the funnel; stages are ['new', 'won']"
    )
