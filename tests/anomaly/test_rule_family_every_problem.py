"""A rule set read from JSON names every problem at once (anomaly and reminder rules alike)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.anomaly import RuleSet
from crmcore.errors import ValidationError
from crmcore.relationship import reminder_rules_from_dict
from crmcore.serialization import from_dict

# each entry: a bad value of a birthday rule's field, and the path part its message must carry
BAD_FIELDS = {
    "days_ahead": (-1, "days_ahead: must be >= 0"),
    "hour": (99, "hour: must be <= 23"),
    "channels": (["pigeon"], "channels: must be one of"),
    "queue": ("", "queue"),
}


def _problems(doc: object) -> tuple[str, ...]:
    with pytest.raises(ValidationError) as info:
        reminder_rules_from_dict(doc)
    return info.value.problems


@given(st.sets(st.sampled_from(sorted(BAD_FIELDS)), min_size=1), st.booleans(), st.booleans())
def test_every_bad_field_of_every_rule_is_named(bad, duplicate_name, blank_set_name):
    rule = {"type": "birthday", "name": "b", **{k: BAD_FIELDS[k][0] for k in bad}}
    second = {"type": "birthday", "name": "b" if duplicate_name else "c", "days_ahead": -2}
    doc = {"name": " " if blank_set_name else "s", "rules": [rule, second]}
    problems = _problems(doc)
    for k in bad:
        assert any(p.startswith(f"$.rules[0].{k}") for p in problems), (k, problems)
        assert any(BAD_FIELDS[k][1] in p for p in problems), (k, problems)
    assert any(p.startswith("$.rules[1].days_ahead") for p in problems), problems
    assert any("names must be unique" in p for p in problems) == duplicate_name, problems
    assert any(p.startswith("$.name") for p in problems) == blank_set_name, problems
    # one line per problem: no field reported twice
    assert len(problems) == len(set(problems))


def test_a_valid_rule_set_still_reads():
    rules = reminder_rules_from_dict(
        {"name": "s", "rules": [{"type": "birthday", "name": "b", "days_ahead": 2}]}
    )
    assert rules.rules[0].days_ahead == 2


def test_a_rule_with_one_problem_is_reported_as_before():
    assert _problems(
        {"name": "s", "rules": [{"type": "birthday", "name": "b", "days_ahead": -1}]}
    ) == ("$.rules[0].days_ahead: must be >= 0: -1",)


def test_the_anomaly_rules_share_the_form():
    doc = {
        "name": "bank",
        "rules": [
            {"type": "threshold", "name": "big", "at_least": 1000},
            {"type": "velocity", "name": "big", "window": "1d", "at_least": -5},
        ],
    }
    with pytest.raises(ValidationError) as info:
        from_dict(RuleSet, doc)
    problems = info.value.problems
    assert any(p.startswith("$.rules[1].at_least") for p in problems), problems
    assert any("names must be unique" in p for p in problems), problems
