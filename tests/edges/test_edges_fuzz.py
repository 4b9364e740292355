"""Regression tests for the public-API fuzz findings fixed by the fuzz helper (issue 12).

Each test calls the public API with the hostile value the fuzz test found and
asserts a crmcore error naming the argument (or a correct finite result).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.valuation import (
    BGBBParams,
    BGNBDParams,
    GammaGammaParams,
    ParetoNBDParams,
    simulate_bgbb,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)

_SIMS = [
    (simulate_bgnbd, BGNBDParams(0.5, 5.0, 0.8, 2.5), [38.0] * 3),
    (simulate_mbgnbd, BGNBDParams(0.5, 5.0, 0.8, 2.5), [38.0] * 3),
    (simulate_pareto_nbd, ParetoNBDParams(0.55, 10.58, 0.61, 11.67), [39.0] * 3),
    (simulate_bgbb, BGBBParams(1.2, 0.75, 0.66, 2.78), [6] * 3),
    (simulate_gamma_gamma, GammaGammaParams(6.25, 3.74, 15.44), [1, 3, 2]),
]


@pytest.mark.parametrize(("simulate", "params", "sizes"), _SIMS)
@pytest.mark.parametrize("bad", [None, 1.5, {"r": 1}])
def test_simulate_refuses_what_is_not_its_params(simulate, params, sizes, bad) -> None:
    with pytest.raises(ValidationError, match="'params' must be"):
        simulate(bad, sizes, seed=1)


@pytest.mark.parametrize(("simulate", "params", "sizes"), _SIMS)
@pytest.mark.parametrize("seed", [math.nan, -1, "x", 2**64, 1.5])
def test_simulate_seed_goes_through_the_seed_check(simulate, params, sizes, seed) -> None:
    with pytest.raises(ValidationError, match="'seed'"):
        simulate(params, sizes, seed=seed)


@pytest.mark.parametrize(("simulate", "params", "sizes"), _SIMS)
def test_simulate_sizes_beyond_the_cap_are_refused_by_name(simulate, params, sizes) -> None:
    huge = np.array(sizes, dtype=float)
    huge[0] = 1e308
    with pytest.raises(ValidationError, match=r"'(T|n_periods|frequency)' must be"):
        simulate(params, huge, seed=1)


@settings(max_examples=20)
@given(st.integers(0, 2**32), st.floats(1.0, 1e6))
def test_simulate_bgnbd_is_finite_up_to_the_cap(seed: int, age: float) -> None:
    x, t_x, T = simulate_bgnbd(BGNBDParams(0.5, 5.0, 0.8, 2.5), [age, 1.0], seed=seed)
    assert np.isfinite(x).all() and np.isfinite(t_x).all()
    assert (t_x <= T).all()


def test_money_sum_refuses_what_is_not_a_collection_of_money() -> None:
    from crmcore.model import Money, money_sum

    with pytest.raises(ValidationError, match="'values' must be a collection of Money: None"):
        money_sum(None, "EUR")
    with pytest.raises(ValidationError, match=r"'values\[1\]' must be a Money"):
        money_sum([Money("1", "EUR"), 3], "EUR")
    assert money_sum(iter([Money("1", "EUR")]), "EUR") == Money("1", "EUR")


def test_require_names_its_arguments() -> None:
    from crmcore.errors import require

    with pytest.raises(TypeError, match="'module' and 'extra' must be strings"):
        require(None, "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("which", ["customers", "transactions"])
def test_import_of_a_missing_file_names_the_source(which: str, tmp_path) -> None:
    from crmcore.ingest import import_customers, import_transactions
    from crmcore.repositories import MemoryUnitOfWork

    run = import_customers if which == "customers" else import_transactions
    missing = tmp_path / "nope.csv"
    with pytest.raises(ValidationError, match="'source' .*nope.csv.*: cannot read the file"):
        run(MemoryUnitOfWork(), missing)


def _rfm_inputs():
    from crmcore.segmentation import SegmentMap, SegmentRule, rfm_from_log
    from crmcore.tables import TransactionLog

    log = TransactionLog.from_arrays(
        customer_ids=["a", "b"], timestamps=["1998-06-01", "1998-06-30"], amounts=[10.0, 5.0]
    )
    summary, scores = rfm_from_log(log, "1998-06-30", bins=2)
    return log, summary, scores.segments(SegmentMap((SegmentRule("recent", recency=(2, 2)),)))


@pytest.mark.parametrize("bad", [None, "log", {"customer_ids": ["a"]}])
def test_rfm_entry_points_refuse_what_is_not_a_log(bad) -> None:
    from crmcore.segmentation import rfm_from_log, rfm_summary

    with pytest.raises(ValidationError, match="'log' must be a TransactionLog"):
        rfm_summary(bad, "2024-03-01")
    with pytest.raises(ValidationError, match="'log' must be a TransactionLog"):
        rfm_from_log(bad, "2024-03-01")


def test_segment_table_names_a_wrong_argument() -> None:
    from crmcore.segmentation import segment_table

    _, summary, segments = _rfm_inputs()
    assert len(segment_table(summary, segments)) >= 1
    with pytest.raises(ValidationError, match="'summary' must be a RFMSummary"):
        segment_table(None, segments)
    with pytest.raises(ValidationError, match="'segments' must be a Segments"):
        segment_table(summary, "vip")


@pytest.mark.parametrize("bad", [None, 3, {"field": "x"}])
def test_rule_serialisation_refuses_what_is_not_a_rule(bad) -> None:
    from crmcore.segmentation.rules import cond, expr_fields, expr_to_dict

    assert expr_to_dict(cond("x", ">", 1)) == {"field": "x", "op": ">", "value": 1}
    with pytest.raises(ValidationError, match="'expr' must be a rule"):
        expr_to_dict(bad)
    with pytest.raises(ValidationError, match="'expr' must be a rule"):
        expr_fields(bad)


def test_save_tier_set_names_a_wrong_tier_set() -> None:
    from crmcore.repositories import MemoryUnitOfWork
    from crmcore.segmentation import save_tier_set

    with MemoryUnitOfWork() as uow, pytest.raises(ValidationError, match="'ts' must be a TierSet"):
        save_tier_set(uow.documents, {"name": "vip"}, expected_version=None)


def test_comparisons_name_a_wrong_result() -> None:
    from crmcore.valuation import compare_csat, compare_nps, csat, nps

    a, b = nps([10, 9, 3, 8] * 10), nps([10, 10, 3, 8] * 10)
    assert compare_nps(a, b).difference.shape == (1,)
    with pytest.raises(ValidationError, match="'first' must be a NPSResult"):
        compare_nps(None, b)
    with pytest.raises(ValidationError, match="'second' must be a NPSResult"):
        compare_nps(a, 0.5)
    c = csat([3, 4, 5, 2] * 5)
    with pytest.raises(ValidationError, match="'first' must be a CSATResult"):
        compare_csat(None, c)
    with pytest.raises(ValidationError, match="'second' must be a CSATResult"):
        compare_csat(c, a)


def test_clv_to_cac_names_a_wrong_report() -> None:
    from crmcore.valuation import clv_to_cac

    with pytest.raises(ValidationError, match="'report' must be a CACReport"):
        clv_to_cac(None, [1.0])


@pytest.mark.parametrize(
    ("field", "bad"),
    [("first_id", None), ("second_id", "\x00"), ("keys", (float("nan"),)), ("keys", ("",))],
)
def test_duplicate_pair_validates_its_ids_and_keys(field: str, bad: object) -> None:
    from crmcore.ingest import DuplicatePair

    good = {"first_id": "a", "second_id": "b", "keys": ("email",), "score": 0.9}
    assert DuplicatePair(**good).keys == ("email",)
    with pytest.raises(ValidationError, match=field):
        DuplicatePair(**{**good, field: bad})


@pytest.mark.parametrize("bad", [None, "history", {"stages": []}])
def test_pipeline_metrics_name_a_wrong_data_argument(bad) -> None:
    from crmcore.pipeline import forecast, win_rate
    from crmcore.pipeline.metrics import view

    for call in (view, win_rate, forecast):
        with pytest.raises(ValidationError, match="'data' must be a FunnelHistory"):
            call(bad)


@pytest.mark.parametrize("bad", [object(), "1", None])
def test_a_sum_bound_leaves_a_wrong_part_to_its_own_validator(bad) -> None:
    from crmcore.ingest import ImportReport

    with pytest.raises(ValidationError, match="ImportReport: 'stored' must be an integer >= 0"):
        ImportReport(target="customers", source="x.csv", rows_read=3, stored=bad)


@pytest.mark.parametrize("bad", [1.5, math.nan, 0, -1, "1", object()])
@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_document_writes_check_the_expected_version(bad, backend: str) -> None:
    from crmcore.repositories import MemoryUnitOfWork
    from crmcore.repositories.sql import SqlUnitOfWork

    uow = MemoryUnitOfWork() if backend == "memory" else SqlUnitOfWork.from_url("sqlite://")
    with uow:
        assert uow.documents.put("funnel", "b2b", {"a": 1}, expected_version=None) == 1
        with pytest.raises(ValidationError, match="'expected_version' must be"):
            uow.documents.put("funnel", "b2b", {"a": 2}, expected_version=bad)
        assert uow.documents.put("funnel", "b2b", {"a": 2}, expected_version=1) == 2


@pytest.mark.parametrize("bad", [None, "bank", {"name": "bank", "rules": []}])
def test_streaming_engine_names_a_wrong_ruleset(bad) -> None:
    from crmcore.anomaly import StreamingEngine

    with pytest.raises(ValidationError, match="'ruleset' must be a RuleSet"):
        StreamingEngine(bad)


@pytest.mark.parametrize("bad", [None, "docs", {}])
def test_tier_set_store_names_a_wrong_document_repository(bad) -> None:
    from crmcore.segmentation import Tier, TierSet, load_tier_set, save_tier_set

    with pytest.raises(ValidationError, match="'documents' must be a document repository"):
        save_tier_set(bad, TierSet("vip", (Tier("all"),)), expected_version=None)
    with pytest.raises(ValidationError, match="'documents' must be a document repository"):
        load_tier_set(bad, "vip")


def test_tier_set_names_and_versions_are_checked_by_name() -> None:
    from crmcore.repositories import MemoryUnitOfWork
    from crmcore.segmentation import Tier, TierSet, load_tier_set, save_tier_set, tier_set_to_dict

    with MemoryUnitOfWork() as uow:
        with pytest.raises(ValidationError, match="'name' must be a non-empty string"):
            load_tier_set(uow.documents, None)
        with pytest.raises(ValidationError, match="'expected_version' must be"):
            save_tier_set(uow.documents, TierSet("vip", (Tier("all"),)), expected_version=10**400)
    with pytest.raises(ValidationError, match="'ts' must be a TierSet"):
        tier_set_to_dict(None)


@pytest.mark.parametrize("bad", [None, "7d", {"window": "7d"}])
def test_window_label_names_a_wrong_rule(bad) -> None:
    from crmcore.anomaly import Velocity
    from crmcore.anomaly.batch import window_label

    assert window_label(Velocity(window="7d")) == "7d"
    with pytest.raises(ValidationError, match="'rule' must be a rule"):
        window_label(bad)
