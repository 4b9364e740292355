"""Serialization edges: every converter reads everything crmcore writes, whatever was imported first.

Finding (issue 12): packages registered their hooks on a module-level
registry at import time, so a converter made before ``import crmcore.pipeline``
could not read back a ``Funnel`` it wrote. Each ordering runs in a fresh
interpreter (imports cannot be undone in this one).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Builds one record of every document / result type crmcore writes, writes each with
# the converter made at the chosen moment and reads it back with the same converter.
_SCRIPT = textwrap.dedent(
    """
    import importlib, sys

    from crmcore.serialization import from_json, make_converter, to_json

    conv = None
    for step in sys.argv[1].split(","):
        if step == "converter":
            conv = make_converter()
        elif step == "shared":
            conv = None
        else:
            importlib.import_module(step)
    assert "converter" in sys.argv[1] or "shared" in sys.argv[1]

    from datetime import datetime, timezone

    from crmcore.anomaly import Alert
    from crmcore.anomaly.rules import (
        AllOf, AnyOf, BehaviourChange, Dormant, EWBaseline, Not, RobustZ, RuleSet, Scope,
        Threshold, Velocity,
    )
    from crmcore.ingest import ImportReport
    from crmcore.model import Customer, Money
    from crmcore.pipeline import B2B, Period, Plan, Targets, open_opportunity
    from crmcore.satisfaction import (
        DampeningWeights, MarketConditions, fit_loyalty_table, preset_curve, preset_model,
    )
    from crmcore.segmentation import TierSet, Tier, all_of, cond, not_
    from crmcore.valuation import (
        BGBBModel, BGBBParams, BGNBDModel, BGNBDParams, GammaGammaModel, GammaGammaParams,
        ParetoNBDModel, ParetoNBDParams, fit_sbg,
    )

    at = datetime(2025, 1, 6, tzinfo=timezone.utc)
    curve = preset_curve("high")
    opp, event = open_opportunity(B2B, id="o-1", customer_id="c-1", owner_id="ann", at=at)
    records = [
        Money("12.50", "EUR"),
        Customer(id="c-1", name="Ada"),
        B2B,
        opp,
        event,
        Plan("ann", Period.week(at.date()), Targets(activities=5, revenue=10.5)),
        RuleSet(name="bank", rules=(
            RobustZ(name="z", scope=Scope(kinds=("withdrawal",))),
            Threshold(name="t", at_least=10.0),
            EWBaseline(name="e"),
            Velocity(name="v", window="7d", at_least=3),
            BehaviourChange(name="b"),
            Dormant(name="d"),
            AnyOf(name="any", rules=(Threshold(name="t2", at_least=1.0),)),
            AllOf(name="all", rules=(Not(Threshold(name="t3", at_least=5.0)),
                                     Dormant(name="d2"))),
        )),
        Alert(id="a-1", ruleset="bank", rule="t", rule_version=1, rule_type="threshold",
              customer_id="c-1", transaction_ids=("t-1",), occurred_at=at, observed=12.0,
              baseline=10.0, deviation=2.0, history=3, explanation="12 >= 10",
              routed_to="ann", window="tx:t-1"),
        TierSet("vip", (Tier("gold", rule=all_of(cond("spend", ">", 100),
                                                  not_(cond("region", "in", ("north",))))),
                        Tier("rest"))),
        fit_sbg([1000, 869, 743, 653, 593, 551, 517, 491]),
        BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426)),
        ParetoNBDModel(ParetoNBDParams(0.553, 10.578, 0.606, 11.668)),
        GammaGammaModel(GammaGammaParams(6.25, 3.74, 15.44)),
        BGBBModel(BGBBParams(1.2, 0.75, 0.66, 2.78), period="year"),
        preset_model(),
        curve,
        curve.zones(),
        fit_loyalty_table([1, 2, 3, 4, 5], [0.5] * 5, [30, 34, 45, 70, 90], [100] * 5),
        MarketConditions(raw_intensity=0.5, loyalty_rewards=0.25),
        DampeningWeights(loyalty_rewards=0.1),
        ImportReport(source="t.csv", target="transactions", rows_read=3, stored=2,
                     rejected=1),
    ]
    for r in records:
        back = from_json(type(r), to_json(r, conv=conv), conv=conv)
        assert back == r, (type(r).__name__, back, r)
    print(len(records))
    """
)

_ALL = ["crmcore.pipeline", "crmcore.anomaly", "crmcore.segmentation"]
ORDERS = [
    ["converter", *_ALL],
    ["shared", *_ALL],
    ["crmcore.pipeline", "converter", "crmcore.anomaly", "crmcore.segmentation"],
    ["crmcore.anomaly", "converter", "crmcore.pipeline"],
    ["crmcore.segmentation", "converter", "crmcore.valuation"],
]


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("order", ORDERS, ids=[",".join(o) for o in ORDERS])
def test_a_converter_reads_back_every_record_whatever_was_imported_first(order: list[str]) -> None:
    done = _run(_SCRIPT, ",".join(order))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["21"]  # every record above was checked


def test_importing_serialization_registers_nothing_and_imports_no_domain_package() -> None:
    code = textwrap.dedent(
        """
        import sys
        import crmcore.serialization as s
        assert not hasattr(s, "register_hooks")
        assert [m for m in sys.modules if m.startswith(("crmcore.pipeline", "crmcore.anomaly",
                "crmcore.segmentation"))] == []
        from crmcore.pipeline import B2B, Funnel
        c1 = s.make_converter()
        c2 = s.make_converter()
        assert c1 is not c2 and s.converter is s.converter
        assert s.from_json(Funnel, s.to_json(B2B, conv=c1), conv=c2) == B2B
        """
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr


def test_a_converter_made_before_importing_pipeline_reads_a_funnel() -> None:
    """The finding itself, in its original words."""
    code = textwrap.dedent(
        """
        from crmcore.serialization import from_dict, make_converter, to_dict
        conv = make_converter()
        from crmcore.pipeline import B2B, Funnel
        d = to_dict(B2B, conv=conv)
        guards = [g for stage in d["stages"] for g in stage["guards"]]
        assert {"type": "require_fields", "fields": ["amount", "expected_close"]} in guards
        assert from_dict(Funnel, d, conv=conv) == B2B
        """
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr


def test_wrong_arguments_to_the_converter_functions_are_named() -> None:
    """to_dict/to_json write only JSON-safe data; from_dict/from_json name a wrong argument."""
    import pytest

    from crmcore.errors import ArgumentTypeError, ValidationError
    from crmcore.model import Money
    from crmcore.serialization import configure_converter, from_dict, from_json, to_dict, to_json

    with pytest.raises(
        ValidationError, match=r"'obj' \(float\) cannot be written as JSON: \$ is nan"
    ):
        to_dict(float("nan"))
    with pytest.raises(ValidationError, match=r"'obj' \(object\) .*holds a value of type object"):
        to_json(object())
    with pytest.raises(ArgumentTypeError, match="'text' must be a JSON string: None"):
        from_json(Money, None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'text' is not valid JSON for Money"):
        from_json(Money, "xxx")
    with pytest.raises(ArgumentTypeError, match=r"'data' must be a mapping \(a JSON object\)"):
        from_dict(Money, None)
    with pytest.raises(ArgumentTypeError, match="'cls' must be the class to read"):
        from_dict("Money", {})  # type: ignore[call-overload]
    with pytest.raises(ArgumentTypeError, match="'conv' must be a cattrs Converter"):
        configure_converter(None)  # type: ignore[arg-type]
    assert to_json(Money("1", "EUR")) == '{"amount": "1", "currency": "EUR"}'
