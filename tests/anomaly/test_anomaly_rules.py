"""Rules as data: JSON round trips, validation errors with their JSON path, storage."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.anomaly import (
    AllOf,
    AnyOf,
    BehaviourChange,
    Dormant,
    EWBaseline,
    Not,
    RobustZ,
    RuleSet,
    Scope,
    Threshold,
    Velocity,
    detect,
    load_ruleset,
    save_ruleset,
)
from crmcore.errors import ConcurrencyError, ConfigurationError, ValidationError
from crmcore.repositories import MemoryUnitOfWork
from crmcore.serialization import from_dict, from_json, to_dict, to_json
from crmcore.tables import TransactionLog

windows = st.builds(lambda n, u: f"{n}{u}", st.integers(1, 400), st.sampled_from("smhdw"))
scopes = st.builds(
    Scope,
    kinds=st.lists(st.sampled_from(["deposit", "withdrawal", "purchase"]), max_size=2, unique=True),
    channels=st.lists(st.sampled_from(["web", "branch"]), max_size=1),
    tiers=st.lists(st.sampled_from(["gold"]), max_size=1),
)
leaves = st.one_of(
    st.builds(Threshold, at_least=st.floats(0.01, 1e6), scope=scopes),
    st.builds(
        RobustZ,
        lookback=st.integers(5, 40),
        min_history=st.integers(3, 5),
        z=st.floats(0.5, 20),
        direction=st.sampled_from(["up", "down", "both"]),
        scope=scopes,
    ),
    st.builds(EWBaseline, alpha=st.floats(0.01, 1.0), z=st.floats(0.5, 10), scope=scopes),
    st.builds(
        Velocity,
        window=windows,
        measure=st.sampled_from(["count", "sum"]),
        at_least=st.floats(1, 1e4),
    ),
    st.builds(
        BehaviourChange, window=windows, ratio=st.floats(1.01, 10), alert_window=st.none() | windows
    ),
    st.builds(Dormant, gap=windows, scope=scopes),
)
rules = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(AllOf, rules=st.lists(inner, min_size=1, max_size=3)),
        st.builds(AnyOf, rules=st.lists(inner, min_size=1, max_size=3)),
        st.builds(Not, rule=inner),
    ),
    max_leaves=5,
)


@given(st.lists(rules, min_size=1, max_size=4))
def test_rulesets_round_trip_through_json(items):
    named = [
        AllOf(name=f"r{i}", rules=[r]) if isinstance(r, Not) else attr_evolve_name(r, f"r{i}")
        for i, r in enumerate(items)
    ]
    rs = RuleSet(name="bank", rules=named)
    text = to_json(rs)
    assert from_json(RuleSet, text) == rs
    assert json.loads(text)["rules"][0]["type"] in {
        "threshold",
        "robust_z",
        "ew_baseline",
        "velocity",
        "change",
        "dormant",
        "all",
        "any",
    }


def attr_evolve_name(rule, name):
    import attrs

    return attrs.evolve(rule, name=name)


BASE = {
    "name": "bank",
    "rules": [
        {"type": "threshold", "name": "big", "at_least": 1000},
        {"type": "velocity", "name": "burst", "window": "1d", "at_least": 5},
        {
            "type": "all",
            "name": "combo",
            "rules": [
                {"type": "robust_z", "lookback": 20, "min_history": 5, "z": 6},
                {"type": "not", "rule": {"type": "dormant", "gap": "90d"}},
            ],
        },
    ],
}


def _error(mutate) -> ValidationError:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ValidationError) as info:
        from_dict(RuleSet, data)
    return info.value


def test_the_base_document_is_valid():
    rs = from_dict(RuleSet, BASE)
    assert [r.name for r in rs.rules] == ["big", "burst", "combo"]
    assert isinstance(rs.rules[2].rules[1], Not)


def test_unknown_field_is_reported_with_its_path():
    e = _error(lambda d: d["rules"][1].update(amount_field="balance"))
    assert e.problems == ("$.rules[1]: unknown field(s) ['amount_field']",)


def test_bad_window_is_reported_with_its_path():
    e = _error(lambda d: d["rules"][1].update(window="-3d"))
    assert e.problems[0].startswith("$.rules[1].window: must be a whole number and a unit")


def test_nested_bad_window_has_the_nested_path():
    e = _error(lambda d: d["rules"][2]["rules"][1]["rule"].update(gap="soon"))
    assert e.problems[0].startswith("$.rules[2].rules[1].rule.gap:")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("z", -1, "$.rules[2].rules[0].z: must be > 0: -1"),
        ("min_history", 30, "$.rules[2].rules[0].min_history: must be <= 'lookback' (20): 30"),
        ("lookback", 2, "$.rules[2].rules[0].lookback: must be >= 3: 2"),
        (
            "direction",
            "sideways",
            "$.rules[2].rules[0].direction: must be one of 'up', 'down', 'both': 'sideways'",
        ),
    ],
)
def test_impossible_settings_are_rejected(field, value, expected):
    e = _error(lambda d: d["rules"][2]["rules"][0].update({field: value}))
    assert e.problems[0].startswith(expected)


def test_impossible_threshold_is_rejected():
    e = _error(lambda d: d["rules"][0].update(at_least=0))
    assert e.problems == ("$.rules[0].at_least: must be >= 1e-06: 0.0",)


def test_unknown_rule_type_is_rejected():
    e = _error(lambda d: d["rules"][0].update(type="regex"))
    assert e.problems[0].startswith("$.rules[0].type: must be one of")


def test_duplicate_and_missing_names_are_rejected():
    e = _error(lambda d: d["rules"][1].update(name="big"))
    assert e.problems == ("$.rules[1].name: rule names must be unique: 'big'",)
    e = _error(lambda d: d["rules"][0].pop("name"))
    assert e.problems == ("$.rules[0].name: a top-level rule needs a name",)


def test_a_lone_not_is_rejected():
    e = _error(
        lambda d: d["rules"].append({"type": "not", "name": "n", "rule": {"type": "dormant"}})
    )
    assert e.problems[0].startswith("$.rules[3].type: 'not' cannot stand alone")


def test_velocity_mean_is_rejected():
    e = _error(lambda d: d["rules"][1].update(measure="mean"))
    assert "'count' or 'sum'" in e.problems[0]


def test_scope_on_a_missing_column_is_a_configuration_error():
    log = TransactionLog.from_arrays(customer_ids=["a"], timestamps=["2020-01-01"], amounts=[1.0])
    rs = RuleSet(name="b", rules=[Threshold(name="t", at_least=1, scope=Scope(channels=("web",)))])
    with pytest.raises(
        ConfigurationError,
        match="scoped by 'channels' but the transaction log has no 'channels' column",
    ):
        detect(log, rs)


def test_rulesets_are_versioned_in_the_document_repository():
    uow = MemoryUnitOfWork()
    rs = from_dict(RuleSet, BASE)
    with uow:
        assert save_ruleset(uow, rs) == 1
        uow.commit()
    with uow:
        stored = load_ruleset(uow, "bank")
        assert stored.version == 1
        changed = RuleSet(name="bank", rules=[Threshold(name="big", at_least=5000)])
        assert save_ruleset(uow, changed, expected_version=stored.version) == 2
        with pytest.raises(ConcurrencyError):
            save_ruleset(uow, changed, expected_version=1)
        uow.commit()
    with uow:
        assert load_ruleset(uow, "bank").rules[0].at_least == 5000
        old = load_ruleset(uow, "bank", version=1)
        assert old.version == 1 and len(old.rules) == 3


def test_a_tampered_stored_ruleset_fails_validation_on_load():
    uow = MemoryUnitOfWork()
    with uow:
        doc = to_dict(from_dict(RuleSet, BASE))
        doc.pop("version")
        doc["rules"][1]["window"] = "0d"
        uow.documents.put("anomaly_ruleset", "bank", doc, expected_version=None)
        with pytest.raises(ValidationError, match=r"\$\.rules\[1\]\.window"):
            load_ruleset(uow, "bank")
