"""Issue 12, wave 2: pipeline, satisfaction and tables fuzz findings, through the public API.

Every wrong argument is refused by a crmcore error that names it; every NaN a
result holds is documented on its field (``crmcore._results``, ``nan=``).
"""

from __future__ import annotations

import math
from datetime import UTC

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmcore.pipeline.history as pipeline_history
from crmcore.errors import ArgumentTypeError, CRMError
from crmcore.model import SurveyResponse
from crmcore.pipeline import (
    FunnelHistory,
    lost_reasons,
    pipeline_coverage,
    win_probabilities,
)
from crmcore.pipeline.presets import B2B, TOP_IN_BEST
from crmcore.pipeline.synthetic import synthetic_history, synthetic_pipeline
from crmcore.satisfaction import (
    LoyaltyCurve,
    Zones,
    csat_columns,
    fit_loyalty_table,
    moderation_test_table,
    preset_curve,
)
from crmcore.tables import StageHistory

_PIPE = synthetic_pipeline(B2B, n_opportunities=40, seed=3)
_TWO_LOST = StageHistory.from_arrays(
    opportunity_ids=["a", "a", "b", "b"],
    sequence=[0, 1, 0, 1],
    from_stage=[None, "TOP", None, "TOP"],
    to_stage=["TOP", "LOST", "TOP", "LOST"],
    at=["2025-01-01", "2025-01-02", "2025-01-01", "2025-01-03"],
    amount=[100.0, 100.0, 300.0, 300.0],
)


# -- pipeline: wrong objects are refused by name --------------------------------------------


@pytest.mark.parametrize("bad", [None, "history", 1.5, {"funnel": "b2b"}, _TWO_LOST])
def test_lost_reasons_names_data(bad: object) -> None:
    with pytest.raises(CRMError, match="'data' must be a FunnelHistory"):
        lost_reasons(bad)  # type: ignore[arg-type]


def test_lost_reasons_still_counts() -> None:
    fh = FunnelHistory.build(_TWO_LOST, TOP_IN_BEST, reasons=[None, "price", None, "price"])
    lr = lost_reasons(fh)
    assert lr.count.tolist() == [2, 0]
    assert lr.value.tolist() == [400.0, 0.0]


@pytest.mark.parametrize("fn", [synthetic_pipeline, synthetic_history])
@pytest.mark.parametrize("bad", [None, "b2b", {"name": "b2b"}])
def test_synthetic_names_funnel(fn: object, bad: object) -> None:
    with pytest.raises(CRMError, match="'funnel' must be a Funnel") as info:
        fn(bad, n_opportunities=5, seed=1)  # type: ignore[operator]
    assert isinstance(info.value, TypeError)


def test_history_helpers_are_not_public() -> None:
    # implementation details of the pipeline reports, not public API any more
    assert "wsum" not in pipeline_history.__all__
    assert "days_between" not in pipeline_history.__all__
    assert not hasattr(pipeline_history, "wsum")
    assert not hasattr(pipeline_history, "days_between")


# -- win probabilities: NaN only where no closed deal reached the stage ---------------------


def test_win_probabilities_empirical_nan_is_documented_and_smoothed_is_finite() -> None:
    wp = win_probabilities(_TWO_LOST, TOP_IN_BEST, prior_weight=2)
    assert wp.closed.tolist()[0] == 2
    assert wp.closed[1] == 0
    assert math.isnan(wp.empirical[1])
    assert np.isfinite(wp.smoothed).all()
    assert wp.smoothed[1] == pytest.approx(wp.prior[1])
    assert wp.smoothed[0] == pytest.approx(0.05)
    assert np.array_equal(np.isnan(wp.empirical), wp.closed == 0)


def test_win_probabilities_zero_weight_falls_back_to_prior() -> None:
    wp = win_probabilities(_TWO_LOST, TOP_IN_BEST, prior_weight=0)
    assert wp.smoothed[0] == 0.0  # 0 won of 2 closed, no shrinkage
    assert np.isfinite(wp.smoothed).all()
    assert np.array_equal(wp.smoothed[wp.closed == 0], wp.prior[wp.closed == 0])


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=0.0, max_value=1e6))
def test_win_probabilities_smoothed_is_a_probability(weight: float) -> None:
    wp = win_probabilities(_PIPE.history, B2B, prior_weight=weight)
    assert np.isfinite(wp.smoothed).all()
    assert ((wp.smoothed >= 0) & (wp.smoothed <= 1)).all()
    assert np.array_equal(np.isnan(wp.empirical), wp.closed == 0)


# -- coverage once the target is met --------------------------------------------------------


def test_coverage_when_target_met_is_documented_nan() -> None:
    cov = pipeline_coverage(_TWO_LOST, TOP_IN_BEST, target=100.0, achieved=100.0)
    assert cov.target_met
    assert cov.remaining == 0.0
    assert math.isnan(cov.coverage) and math.isnan(cov.weighted_coverage)


@settings(max_examples=30, deadline=None)
@given(
    target=st.floats(min_value=1.0, max_value=1e9),
    achieved=st.floats(min_value=0.0, max_value=2e9),
)
def test_coverage_is_finite_until_target_met(target: float, achieved: float) -> None:
    cov = pipeline_coverage(_PIPE.history, B2B, target=target, achieved=achieved)
    assert cov.target_met == (achieved >= target)
    if cov.target_met:
        assert math.isnan(cov.coverage) and math.isnan(cov.weighted_coverage)
    else:
        assert cov.coverage == pytest.approx(cov.open_pipeline / (target - achieved))
        assert math.isfinite(cov.weighted_coverage) and cov.weighted_coverage >= 0


def test_coverage_overflow_names_target() -> None:
    with pytest.raises(CRMError, match="'target'"):
        pipeline_coverage(_PIPE.history, B2B, target=5e-324)


# -- satisfaction ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["floor", "intercept", "slope"])
@pytest.mark.parametrize("bad", [10**400, math.inf, math.nan, None, "1"])
def test_loyalty_curve_names_its_parameter(field: str, bad: object) -> None:
    kwargs: dict[str, object] = {"floor": 0.5, "intercept": 0.0, "slope": 1.0, field: bad}
    with pytest.raises(CRMError, match=f"'{field}'"):
        LoyaltyCurve(**kwargs)  # type: ignore[arg-type]


_ZONES = preset_curve("high").zones()


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("affection_from", math.inf),
        ("affection_from", math.nan),
        ("defect_below", -0.1),
        ("defection", np.array([math.nan, 2.0])),
        ("affection", np.array([math.inf])),
        ("affection", (math.inf,)),
        ("indifference", (0,)),
        ("defection", (6,)),
        ("affection", (5.0,)),
        ("defection", None),
    ],
)
def test_zones_fields_are_checked(field: str, bad: object) -> None:
    import attrs

    with pytest.raises(CRMError, match=f"'{field}'"):
        attrs.evolve(_ZONES, **{field: bad})


def test_zones_from_a_curve_still_build() -> None:
    z = preset_curve("low").zones()
    assert sorted(z.defection + z.indifference + z.affection) == [1, 2, 3, 4, 5]
    assert Zones((1,), (2, 3, 4), (5,), 0.5, 0.75).zone_of(3) == "indifference"


_S = [1, 2, 3, 4, 5]


@pytest.mark.parametrize("huge", [2.0**63, 1e308, 2.0**53 + 2**12])
def test_fit_tables_name_an_impossible_total(huge: float) -> None:
    total = [huge, 100.0, 100.0, 100.0, 100.0]
    with pytest.raises(CRMError, match="'total' must sum to at most 2\\*\\*53"):
        fit_loyalty_table(_S, [0.5] * 5, [10.0, 30.0, 50.0, 70.0, 90.0], total, moderated=False)
    with pytest.raises(CRMError, match="'total' must sum to at most 2\\*\\*53"):
        moderation_test_table(
            _S * 2, [0.2] * 5 + [0.8] * 5, [10.0, 30.0, 50.0, 70.0, 90.0] * 2, total * 2
        )


def test_fit_table_with_ordinary_totals_still_fits() -> None:
    fit = fit_loyalty_table(
        _S, [0.5] * 5, [10.0, 30.0, 50.0, 70.0, 90.0], [100.0] * 5, moderated=False
    )
    assert np.isfinite(fit.model.params).all()


@pytest.mark.parametrize("bad", [None, 10**400, object(), "responses", {"a": 1}])
def test_csat_columns_names_responses(bad: object) -> None:
    with pytest.raises(ArgumentTypeError, match="'responses'"):
        csat_columns(bad)  # type: ignore[arg-type]


def test_csat_columns_names_the_wrong_item() -> None:
    with pytest.raises(ArgumentTypeError, match=r"'responses\[0\]' must be a SurveyResponse"):
        csat_columns(["not a response"])  # type: ignore[list-item]


def test_csat_columns_collects_answers() -> None:
    from datetime import datetime

    t = datetime(2025, 1, 1, tzinfo=UTC)
    rs = [
        SurveyResponse(id="r1", customer_id="c1", responded_at=t, csat=4),
        SurveyResponse(id="r2", customer_id="c2", responded_at=t, nps=9),
    ]
    cols = csat_columns(iter(rs))
    assert cols.customer_ids.tolist() == ["c1"]
    assert cols.satisfaction.tolist() == [4]
    assert cols.skipped == 1


# -- tables: label columns hold no missing value --------------------------------------------


def _log_fields() -> dict[str, object]:
    from crmcore.tables import TransactionLog

    log = TransactionLog.from_arrays(
        customer_ids=["c-1", "c-2"], timestamps=["2024-01-01", "2024-01-02"], amounts=[1.0, 2.0]
    )
    import attrs

    return attrs.asdict(log, recurse=False)


@pytest.mark.parametrize("bad", [math.nan, None, ""])
def test_transaction_log_customer_ids_refuse_missing(bad: object) -> None:
    from crmcore.tables import TransactionLog

    fields = _log_fields()
    fields["customer_ids"] = np.array([bad, "c-2"], dtype=object)
    with pytest.raises(CRMError, match="'customer_ids'"):
        TransactionLog(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [None, "amounts", 10**400])
def test_transaction_log_amount_is_named(bad: object) -> None:
    from crmcore.tables import TransactionLog

    fields = _log_fields()
    fields["amount"] = bad
    with pytest.raises(CRMError, match="'amount'"):
        TransactionLog(**fields)  # type: ignore[arg-type]


def test_stage_history_labels_refuse_missing_but_keep_no_owner() -> None:
    import attrs

    h = _PIPE.history
    with pytest.raises(CRMError, match="'opportunity_ids'"):
        attrs.evolve(h, opportunity_ids=np.array([math.nan, *h.opportunity_ids[1:]], dtype=object))
    for bad in (math.nan, None):
        owners = np.array([bad, *h.owner_ids[1:]], dtype=object)
        with pytest.raises(CRMError, match="'owner_ids'"):
            attrs.evolve(h, owner_ids=owners)
        fh = FunnelHistory.build(h, B2B)
        with pytest.raises(CRMError, match="'owner_ids'"):
            attrs.evolve(fh, owner_ids=owners)
    # "" is the one way to say "no owner"
    no_owner = np.array(["", *h.owner_ids[1:]], dtype=object)
    assert attrs.evolve(h, owner_ids=no_owner).owner_ids[0] == ""
    one = StageHistory.from_arrays(
        opportunity_ids=["a"], sequence=[0], from_stage=[None], to_stage=["TOP"], at=["2025-01-01"]
    )
    assert one.owner_ids.tolist() == [""]


@pytest.mark.parametrize("column", ["ids", "external_refs", "products", "categories", "channels"])
def test_transaction_log_text_columns_refuse_nan_on_construction(column: str) -> None:
    from crmcore.tables import TransactionLog

    fields = _log_fields()
    fields[column] = np.array([math.nan, "x"], dtype=object)
    with pytest.raises(CRMError, match=f"'{column}'"):
        TransactionLog(**fields)  # type: ignore[arg-type]
    fields[column] = np.array([None, "x"], dtype=object)  # None is the missing value
    assert getattr(TransactionLog(**fields), column)[0] is None  # type: ignore[arg-type]


def test_transaction_log_from_arrays_turns_nan_text_into_none() -> None:
    from crmcore.tables import TransactionLog

    given = np.array([math.nan, "t-2", None, np.datetime64("NaT")], dtype=object)
    log = TransactionLog.from_arrays(
        customer_ids=["a"] * 4, timestamps=["2024-01-01"] * 4, amounts=[1.0] * 4, ids=given
    )
    assert log.ids is not None
    assert log.ids.tolist() == [None, "t-2", None, None]
    assert math.isnan(given[0])  # the caller's array is left alone
    kept = log.take(np.array([1, 0]))
    assert kept.ids is not None and kept.ids.tolist() == ["t-2", None]


def test_loyalty_fit_names_parameter_names_when_sizes_differ() -> None:
    import attrs

    fit = fit_loyalty_table(
        _S, [0.5] * 5, [10.0, 30.0, 50.0, 70.0, 90.0], [100.0] * 5, moderated=False
    )
    longer = (*fit.parameter_names, "floor_logit_competition")
    # parameter_names reads from the fit's FitSummary (issue 13), whose check names 'names'
    with pytest.raises(CRMError, match="one value per parameter in 'names'"):
        attrs.evolve(fit, fit=attrs.evolve(fit.fit, names=longer))
