"""Tier rules: vectorized evaluation equals a plain-Python evaluation per customer; JSON round trip."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ConfigurationError, ValidationError
from crmcore.segmentation import (
    AllOf,
    AnyOf,
    Condition,
    Not,
    ServiceLevel,
    Tier,
    TierSet,
    any_of,
    cond,
    expr_from_dict,
    expr_to_dict,
    load_tier_set,
    save_tier_set,
    tier_set_from_dict,
    tier_set_to_dict,
)
from crmcore.serialization import from_json, to_json

NUMERIC = ("assets", "trades")
TEXT = ("region",)
REGIONS = ("north", "south", "east")


def plain_match(rule: Any, row: dict[str, Any]) -> bool:
    """Independent evaluator over one customer record (dicts, not the classes' methods)."""
    if "all" in rule:
        return all(plain_match(r, row) for r in rule["all"])
    if "any" in rule:
        return any(plain_match(r, row) for r in rule["any"])
    if "not" in rule:
        return not plain_match(rule["not"], row)
    x, op, v = row[rule["field"]], rule["op"], rule["value"]
    if isinstance(x, float) and math.isnan(x):
        return False
    return {
        "==": lambda: x == v,
        "!=": lambda: x != v,
        "<": lambda: x < v,
        "<=": lambda: x <= v,
        ">": lambda: x > v,
        ">=": lambda: x >= v,
        "in": lambda: x in v,
        "not_in": lambda: x not in v,
    }[op]()


def plain_tier(tiers: list[dict[str, Any]], row: dict[str, Any]) -> str:
    for t in tiers:
        if t["rule"] is None or plain_match(t["rule"], row):
            return str(t["name"])
    return ""


num_value = st.sampled_from([0, 1, 5, 12, 100, 1000, 100_000])
numeric_cond = st.builds(
    Condition,
    st.sampled_from(NUMERIC),
    st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
    num_value,
)
numeric_in = st.builds(
    Condition,
    st.sampled_from(NUMERIC),
    st.sampled_from(["in", "not_in"]),
    st.lists(num_value, min_size=1, max_size=3).map(tuple),
)
text_cond = st.one_of(
    st.builds(
        Condition, st.just("region"), st.sampled_from(["==", "!="]), st.sampled_from(REGIONS)
    ),
    st.builds(
        Condition,
        st.just("region"),
        st.sampled_from(["in", "not_in"]),
        st.lists(st.sampled_from(REGIONS), min_size=1, max_size=2).map(tuple),
    ),
)
exprs = st.recursive(
    st.one_of(numeric_cond, numeric_in, text_cond),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: AllOf(tuple(xs))),
        st.lists(inner, max_size=3).map(lambda xs: AnyOf(tuple(xs))),
        inner.map(Not),
    ),
    max_leaves=6,
)
tier_sets = st.lists(st.one_of(exprs, st.none()), min_size=1, max_size=4).map(
    lambda rules: TierSet("t", tuple(Tier(f"tier{i}", r) for i, r in enumerate(rules)))
)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "assets": st.sampled_from([0.0, 1.0, 5.0, 12.0, 99_999.0, 100_000.0, 250_000.0]),
            "trades": st.integers(0, 30).map(float),
            "region": st.sampled_from(REGIONS),
        }
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40)
@given(tier_sets, rows, st.booleans())
def test_vectorized_equals_plain_python(ts, data, int_trades):
    cols = {k: np.array([r[k] for r in data]) for k in ("assets", "trades", "region")}
    if int_trades:  # integer columns are compared as they are
        cols["trades"] = cols["trades"].astype(np.int64)
    got = ts.evaluate(cols).labels().tolist()
    spec = tier_set_to_dict(ts)["tiers"]
    assert got == [plain_tier(spec, r) for r in data]


@settings(max_examples=40)
@given(tier_sets)
def test_json_round_trip(ts):
    assert from_json(TierSet, to_json(ts)) == ts
    for t in ts.tiers:
        if t.rule is not None:
            assert expr_from_dict(expr_to_dict(t.rule)) == t.rule


def brokerage() -> TierSet:
    return TierSet(
        "brokerage",
        (
            Tier(
                "platinum",
                any_of(cond("assets", ">", 100_000), cond("trades_per_year", ">=", 12)),
                ServiceLevel(dedicated_rep=True, skip_queue=True, response_time_hours=1),
            ),
            Tier("gold", cond("assets", ">", 10_000), ServiceLevel(response_time_hours=24)),
            Tier("standard"),
        ),
        fields=("assets", "trades_per_year"),
    )


def test_brokerage_golden():
    """DOMAIN.md §3: more than $100k in assets or at least 12 trades a year → the top tier."""
    ts = brokerage()
    a = ts.evaluate(
        {
            "assets": [100_000, 100_001, 50_000, 50_000, 10_000],
            "trades_per_year": [11, 0, 12, 3, 0],
        }
    )
    assert a.labels().tolist() == ["gold", "platinum", "platinum", "gold", "standard"]
    assert a.counts() == {"platinum": 2, "gold": 2, "standard": 1}
    assert ts.service("platinum").dedicated_rep
    with pytest.raises(ValidationError, match="no tier"):
        ts.service("diamond")


def test_unknown_field_and_bad_rules_name_the_path():
    with pytest.raises(
        ConfigurationError, match=r"\$\.tiers\[1\]\.rule\.any\[1\]\.field: unknown field 'trades'"
    ):
        TierSet(
            "t",
            (Tier("a"), Tier("b", any_of(cond("assets", ">", 1), cond("trades", ">", 1)))),
            fields=("assets",),
        )
    data = tier_set_to_dict(brokerage())
    data["tiers"][0]["rule"]["any"][1]["field"] = "trade_per_year"
    with pytest.raises(ValidationError, match=r"\$\.tiers\[0\]\.rule\.any\[1\]\.field"):
        tier_set_from_dict(data)
    with pytest.raises(ValidationError, match=r"any\[0\]"):
        expr_from_dict({"any": [{"field": "x"}]})
    with pytest.raises(ConfigurationError, match="'value' for operator '>=' must be a finite"):
        cond("assets", ">=", "many")
    with pytest.raises(ConfigurationError, match="non-empty list"):
        cond("region", "in", [])
    with pytest.raises(ConfigurationError, match="unique"):
        TierSet("t", (Tier("a"), Tier("a")))
    with pytest.raises(ValidationError, match="no column 'assets'"):
        brokerage().evaluate({"asset": [1], "trades_per_year": [1]})
    with pytest.raises(ValidationError, match="numeric"):
        TierSet("t", (Tier("a", cond("region", ">", 1)),)).evaluate({"region": ["north"]})


def test_nan_policy():
    ts = TierSet("t", (Tier("hi", cond("x", "!=", 1)), Tier("rest")))
    with pytest.raises(ValidationError, match="'x' must not contain NaN: found at index 1"):
        ts.evaluate({"x": [2.0, math.nan]})
    # the one NaN policy: propagate leaves the missing customer without a tier (even the
    # catch-all), omit assigns the others only
    got = ts.evaluate({"x": [2.0, math.nan, 1.0]}, nan_policy="propagate")
    assert got.labels().tolist() == ["hi", "", "rest"]
    got = ts.evaluate({"x": [2.0, math.nan, 1.0]}, nan_policy="omit")
    assert got.labels().tolist() == ["hi", "rest"]


def test_empty_customer_base_and_no_catch_all():
    assert brokerage().evaluate({"assets": [], "trades_per_year": []}).codes.tolist() == []
    a = TierSet("t", (Tier("vip", cond("x", ">", 5)),)).evaluate({"x": [1, 9]})
    assert a.codes.tolist() == [-1, 0]
    assert a.labels().tolist() == ["", "vip"]


def _unit_of_work(backend: str, tmp_path: Any) -> Any:
    repositories = pytest.importorskip("crmcore.repositories")
    name = "MemoryUnitOfWork" if backend == "memory" else "SqlUnitOfWork"
    if not hasattr(repositories, name):
        pytest.skip(f"crmcore.repositories.{name} is not available yet")
    if backend == "memory":
        return repositories.MemoryUnitOfWork()
    return repositories.SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'tiers.db'}")


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_stored_and_versioned(backend, tmp_path):
    from crmcore.errors import ConcurrencyError

    uow = _unit_of_work(backend, tmp_path)
    ts = brokerage()
    with uow:
        v1 = save_tier_set(uow.documents, ts, expected_version=None)
        uow.commit()
    changed = TierSet("brokerage", (ts.tiers[0], ts.tiers[2]), fields=ts.fields)
    with uow:
        v2 = save_tier_set(uow.documents, changed, expected_version=v1)
        uow.commit()
    with uow:
        assert load_tier_set(uow.documents, "brokerage") == (changed, v2)
        assert load_tier_set(uow.documents, "brokerage", version=v1) == (ts, v1)
        with pytest.raises(ConcurrencyError):
            save_tier_set(uow.documents, ts, expected_version=v1)
    if hasattr(uow, "close"):
        uow.close()
