"""Regression tests for the gaps the issue-12 verification left open (notes/issue12-gaps.md).

Each test goes through the public API and can fail: it checks the value, or the
error type and that the message names the caller's argument.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.anomaly import Event, RuleSet, StreamingEngine, Threshold
from crmcore.arrays import as_float_array, as_int_array
from crmcore.errors import ValidationError
from crmcore.ingest import ImportReport
from crmcore.satisfaction import classify_quadrants
from crmcore.tables import TransactionLog
from crmcore.valuation.economics import (
    SBGModel,
    SBGParams,
    retention_clv,
    retention_what_if,
    sbg_log_likelihood,
)

TINY = 5e-324  # the smallest positive float (subnormal)


def _sbg(alpha: float, beta: float) -> SBGModel:
    return SBGModel(SBGParams(alpha, beta))


# 1. sBG: a subnormal discount or alpha ------------------------------------------------------


def test_derl_refuses_a_discount_below_the_documented_floor_by_name() -> None:
    m = _sbg(1.0, 1.0)
    for d in (TINY, 1e-300, 1e-9):
        with pytest.raises(ValidationError, match=r"'discount' must be >= 1e-06"):
            m.discounted_residual_lifetime([1, 2], d)


def test_derl_at_the_floor_is_finite_and_matches_the_series() -> None:
    # alpha = beta = 1, no renewals: DERL = 2F1(1, 2; 3; z) / 2 = -(z + ln(1 - z)) / z**2
    # with z = 1/(1 + d) and 1 - z = d/(1 + d) taken exactly
    d = 1e-6
    z = 1.0 / (1.0 + d)
    exact = -(z + (math.log(d) - math.log1p(d))) / z**2
    got = float(_sbg(1.0, 1.0).discounted_residual_lifetime([0], d)[0])
    assert math.isfinite(got)
    assert got == pytest.approx(exact, rel=1e-9)


def test_derl_that_scipy_cannot_compute_is_a_named_error_not_nan() -> None:
    with pytest.raises(ValidationError, match="'renewals'") as e:
        _sbg(1.0, 1e4).discounted_residual_lifetime([1], 0.1)
    assert "not computable" in str(e.value)


def test_sbg_log_likelihood_with_a_subnormal_alpha_is_finite_and_right() -> None:
    counts = [1000, 631, 468]
    got = sbg_log_likelihood(TINY, 1.0, counts)
    # theta_0 = a/(a+b) = a, theta_1 = a/(a+b+1) = a/2 (up to 1 + 5e-324): ln P(T=1) = ln a,
    # ln P(T=2) = ln(1 - a) + ln(a/2), ln S(2) = ln(1 - a) + ln(1 - a/2) = 0
    la = math.log(TINY)
    want = 369 * la + 163 * (la - math.log(2.0))
    assert math.isfinite(got)
    assert got == pytest.approx(want, rel=1e-12)


def test_sbg_log_likelihood_with_alpha_dwarfing_beta_is_finite() -> None:
    a, b = 1e308, 1e-308
    got = sbg_log_likelihood(a, b, [1000, 631, 468])
    # theta_0 ~ 1, theta_1 ~ 1: ln(1 - theta_k) = ln((b + k) / (a + b + k)) ~ ln(b + k) - ln(a)
    stay0, stay1 = math.log(b) - math.log(a), math.log(b + 1) - math.log(a)
    want = 163 * stay0 + 468 * (stay0 + stay1)  # ln theta_k ~ 0 for the ones who left
    assert math.isfinite(got)
    assert got == pytest.approx(want, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.floats(1e-300, 1e300),
    st.floats(1e-300, 1e300),
)
def test_sbg_log_likelihood_is_finite_for_every_positive_parameter(a: float, b: float) -> None:
    assert math.isfinite(sbg_log_likelihood(a, b, [1000, 631, 468, 400]))


def test_sbg_log_likelihood_is_unchanged_on_ordinary_parameters() -> None:
    counts = [1000, 869, 743, 653, 593, 551, 517, 491]
    assert sbg_log_likelihood(1.0, 1.0, counts) == pytest.approx(-2115.545506645605, rel=1e-12)


# 2. sBG: 'renewals' named -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["discounted_residual_lifetime", "expected_residual_lifetime"])
@pytest.mark.parametrize("renewals", [[[1]], [-1], [1.5], ["x"], [float("nan")]])
def test_residual_lifetime_errors_name_renewals(method: str, renewals: object) -> None:
    m = _sbg(3.0, 4.0)
    args = (renewals, 0.1) if method == "discounted_residual_lifetime" else (renewals,)
    with pytest.raises(ValidationError, match="'renewals'") as e:
        getattr(m, method)(*args)
    assert "'t'" not in str(e.value)


def test_period_methods_still_name_t() -> None:
    with pytest.raises(ValidationError, match="'t' must be >= 1"):
        _sbg(1.0, 1.0).retention([0])


# 3. retention_what_if near zero retention ---------------------------------------------------


def test_what_if_with_a_subnormal_retention_names_retention() -> None:
    with pytest.raises(ValidationError, match="'retention'") as e:
        retention_what_if([100.0, 50.0], [TINY, 0.9], 0.1, [100, 200], points=0.05)
    assert "RetentionWhatIf" not in str(e.value)
    assert "index 0" in str(e.value)


def test_what_if_with_a_subnormal_margin_keeps_the_relative_change() -> None:
    w = retention_what_if([TINY, 50.0], [0.5, 0.9], 0.1, [100, 200], points=5)
    unit = retention_what_if([1.0, 1.0], [0.5, 0.9], 0.1, [1, 1], points=5)
    # the relative change does not depend on the margin
    assert w.relative_change.tolist() == pytest.approx(unit.relative_change.tolist(), rel=1e-12)
    assert w.relative_change[0] > 0


def test_what_if_zero_margin_has_zero_relative_change() -> None:
    w = retention_what_if([0.0], [0.5], 0.1, [100], points=5)
    assert w.relative_change.tolist() == [0.0]


def test_what_if_values_are_unchanged() -> None:
    w = retention_what_if([100.0, 100.0], [0.6, 0.8], 0.1, [1000, 500], points=5)
    assert w.clv_before.tolist() == pytest.approx([120.0, 266.6666666666667])
    assert w.relative_change.tolist() == pytest.approx(
        [144.4444444 / 120 - 1, 340 / 266.6666667 - 1]
    )


def test_overflowing_clv_names_the_margin() -> None:
    with pytest.raises(ValidationError, match="'margin' 1e\\+308 at index 0"):
        retention_clv(1e308, 0.95, 0.0)
    with pytest.raises(ValidationError, match="'margin'"):
        retention_what_if([1e308, 50.0], [0.95, 0.9], 0.0, [100, 200], points=1)


def test_overflowing_profit_effect_names_the_cohort_sizes() -> None:
    with pytest.raises(ValidationError, match="'cohort_sizes'"):
        retention_what_if([1e300], [0.5], 0.0, [1e300], points=5)


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0, 1e6),
    st.floats(0, 0.9),
    st.floats(0, 10),
    st.floats(0, 1e6),
    st.floats(0.01, 10),
)
def test_what_if_is_finite_or_names_an_argument(
    m: float, r: float, d: float, n: float, points: float
) -> None:
    try:
        w = retention_what_if([m], [r], d, [n], points=points)
    except ValidationError as e:
        message = str(e)
    else:
        message = ""
    if message:
        assert any(f"'{a}'" in message for a in ("retention", "margin", "cohort_sizes"))
        assert "RetentionWhatIf" not in message
    else:
        for v in (w.clv_before, w.clv_after, w.profit_effect, w.relative_change):
            assert np.isfinite(v).all()


# 4. counts within 64 bits -------------------------------------------------------------------


@pytest.mark.parametrize("big", [2**63, 10**400])
def test_import_report_refuses_counts_beyond_64_bits(big: int) -> None:
    with pytest.raises(ValidationError, match="64-bit integer range"):
        ImportReport(source="a", target="transactions", stored=big, rows_read=big)


def test_import_report_takes_the_largest_64_bit_count() -> None:
    r = ImportReport(source="a", target="transactions", stored=2**63 - 1, rows_read=2**63 - 1)
    assert r.stored == 2**63 - 1


# 5. booleans: one numeric rule --------------------------------------------------------------


def test_amounts_refuse_booleans_like_quantities() -> None:
    ts = [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)]
    with pytest.raises(ValidationError, match="not booleans"):
        TransactionLog.from_arrays(customer_ids=["a", "b"], timestamps=ts, amounts=[True, False])
    with pytest.raises(ValidationError, match="not booleans"):
        TransactionLog.from_arrays(
            customer_ids=["a", "b"], timestamps=ts, amounts=[1.0, 2.0], quantities=[True, False]
        )


@pytest.mark.parametrize(
    "flags", [[True, False], np.array([True, False]), pd.Series([True, False])]
)
def test_float_and_int_rules_agree_on_booleans(flags: object) -> None:
    with pytest.raises(ValidationError, match="'x' must hold numbers, not booleans"):
        as_float_array(flags, name="x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'x' must hold whole numbers, not booleans"):
        as_int_array(flags, name="x")  # type: ignore[arg-type]


def test_complex_input_is_refused_not_truncated() -> None:
    with pytest.raises(ValidationError, match="'x' must be numeric"):
        as_float_array(np.array([1 + 2j]), name="x")


def test_a_loyalty_flag_is_still_a_0_1_behaviour() -> None:
    q = classify_quadrants([5, 5], [True, False])
    assert q.labels().tolist() == ["loyalist", "mercenary"]
    assert q.codes.tolist() == classify_quadrants([5, 5], [1.0, 0.0]).codes.tolist()


# 6. streaming: a str subclass id ------------------------------------------------------------


def _engine() -> StreamingEngine:
    return StreamingEngine(RuleSet("r", [Threshold("big", at_least=10.0)]))


def test_streaming_takes_an_np_str_customer_id_as_plain_text() -> None:
    eng = _engine()
    t = datetime(2024, 1, 1, tzinfo=UTC)
    alerts = eng.process_event(Event("t1", np.str_("c1"), t, 20.0))
    assert len(alerts) == 1
    assert alerts[0].customer_id == "c1" and type(alerts[0].customer_id) is str
    # the same customer under a plain str continues the same state (no second customer)
    eng.process_event(Event(np.str_("t2"), "c1", t, 20.0))
    plain = _engine()
    plain.process_event(Event("t1", "c1", t, 20.0))
    assert [a.transaction_ids for a in eng.process_event(Event("t3", "c1", t, 30.0))] == [
        a.transaction_ids for a in plain.process_event(Event("t3", "c1", t, 30.0))
    ]


@pytest.mark.parametrize("cid", [np.str_(" c1"), np.str_(""), 5, None, "x" * 200])
def test_streaming_customer_ids_follow_the_one_id_rule(cid: object) -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationError, match="'customer_id' of event 't1' must be a non-empty"):
        _engine().process_event(Event("t1", cid, t, 20.0))  # type: ignore[arg-type]
