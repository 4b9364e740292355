"""Issue 12, finding by finding, as a new user would call it (helper ``verify``).

Every bullet of the issue's "Why" section has a regression test, here or in
another ``tests/edges`` file. Where another file already pins the same call
exactly, this file says which test in a one-line comment instead of copying
it. The tests here use the call shapes a user brings (pandas Series, float32
and uint64 arrays, a CSV file, 500 customers with ``top(100)``) and the
findings' own words in each docstring. Everything goes through the public API.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from crmcore.errors import ConfigurationError, ValidationError
from crmcore.model import Customer
from crmcore.pipeline import B2B, breakdown, synthetic_pipeline
from crmcore.satisfaction import LoyaltyCurve, preset_curve, uplift_value
from crmcore.segmentation import Tier, TierSet, cond, rfm_summary
from crmcore.tables import TransactionLog
from crmcore.valuation import (
    BGBBModel,
    BGBBParams,
    BGNBDModel,
    BGNBDParams,
    ParetoNBDModel,
    ParetoNBDParams,
    SpendTable,
    acquisition_cost,
    summarize_arrays,
)

BG = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426), time_unit="W")
BB = BGBBModel(BGBBParams(1.204, 0.750, 0.657, 2.783))
PN = ParetoNBDModel(ParetoNBDParams(0.5534, 10.5802, 0.6061, 11.6562), time_unit="W")
N = 1_500


def _log(**columns: Any) -> TransactionLog:
    n = len(columns.get("customer_ids", ["a"]))
    base: dict[str, Any] = {
        "customer_ids": ["a"] * n,
        "timestamps": ["2024-01-01"] * n,
        "amounts": [1.0] * n,
    }
    return TransactionLog.from_arrays(**{**base, **columns})


# -- timestamps ---------------------------------------------------------------------------------
# "a digits-only date ('20240501', '19970101') becomes the year -218891 or 95263 in
# TransactionLog.from_arrays, from_csv, summarize_arrays and rfm_summary(as_of=...)":
# pinned exactly by test_edges_timestamps.py::test_basic_form_dates_through_the_tables_and_the_summaries.


def test_basic_form_dates_from_pandas_columns_and_a_date_as_of() -> None:
    """'a digits-only date ("20240501", "19970101", the CDNOW master file's format) becomes
    the year -218891 or 95263 in TransactionLog.from_arrays ... and rfm_summary(as_of=...)'
    — here as a user's pandas columns and a ``datetime.date`` bound."""
    log = TransactionLog.from_arrays(
        customer_ids=pd.Series(["a", "b"]),
        timestamps=pd.Series(["20240501", "19970101"]),
        amounts=pd.Series([1.0, 2.0]),
    )
    assert log.time.tolist() == [datetime(2024, 5, 1), datetime(1997, 1, 1)]
    r = rfm_summary(log, date(2024, 5, 31))  # type: ignore[arg-type]  # a date is accepted
    assert sorted(r.recency.tolist()) == [30.0, float((date(2024, 5, 31) - date(1997, 1, 1)).days)]


def test_nat_is_refused_in_a_summary_with_its_row() -> None:
    """'NaT is accepted and crashes or fires alerts later' — in ``summarize_arrays`` and as
    an ``as_of`` given as pandas' NaT."""
    ts = np.array(["2024-01-01", "2024-01-02", "NaT"], dtype="datetime64[s]")
    with pytest.raises(
        ValidationError, match=r"^'timestamps' must be a time, not NaT: .* at index 2$"
    ):
        summarize_arrays(["a", "b", "c"], ts, [1.0, 2.0, 3.0])
    log = _log(customer_ids=["a"])
    with pytest.raises(ValidationError, match=r"^'as_of' must be a time, not NaT: NaT$"):
        rfm_summary(log, pd.NaT)


# -- labels and ids -----------------------------------------------------------------------------
@pytest.mark.parametrize("missing", [None, math.nan, pd.NA], ids=["None", "nan", "pd.NA"])
def test_a_missing_customer_id_after_row_1000_is_refused_by_summarize_arrays(missing: Any) -> None:
    """'a missing customer id after row 1,000 becomes a customer called 'nan', '<NA>' or
    'None' (the missing-value check looks at arr[:1000] only)' — through ``summarize_arrays``
    (the tables' entry points are pinned in test_edges_labels.py)."""
    ids: list[Any] = [f"c{i % 37}" for i in range(N)]
    ids[1_200] = missing
    with pytest.raises(
        ValidationError, match=r"^'customer_ids' must not contain missing labels: .* at index 1200 "
    ):
        summarize_arrays(pd.Series(ids, dtype=object), ["2024-01-01"] * N, [1.0] * N)


# -- integer columns ----------------------------------------------------------------------------
def test_fractional_quantities_from_a_csv_file_are_refused(tmp_path: Path) -> None:
    """'fractional quantities are truncated' — read from a CSV file, and as float32."""
    p = tmp_path / "t.csv"
    p.write_text("customer_id,occurred_at,amount,qty\na,2024-01-01,1.0,1.5\n")
    with pytest.raises(
        ValidationError, match=r"^'quantity' must hold whole numbers: 1.5 at index 0"
    ):
        TransactionLog.from_csv(p, quantity="qty")
    with pytest.raises(
        ValidationError, match=r"^'quantity' must hold whole numbers: 2.5 at index 0"
    ):
        _log(quantities=np.array([2.5], dtype=np.float32))
    q = _log(quantities=np.array([3.0], dtype=np.float32)).quantity
    assert q is not None and q.tolist() == [3]


def test_quantities_of_2_63_do_not_wrap_whatever_their_dtype(tmp_path: Path) -> None:
    """'quantities of 2**63 or more ... wrap to -2**63' — as uint64, as a float and from CSV."""
    for q in (np.array([2**63], dtype=np.uint64), [1e19]):
        with pytest.raises(
            ValidationError, match=r"^'quantity' must be within the 64-bit integer range: "
        ):
            _log(quantities=q)
    p = tmp_path / "t.csv"
    p.write_text(f"customer_id,occurred_at,amount,qty\na,2024-01-01,1.0,{2**63}\n")
    with pytest.raises(
        ValidationError, match=r"^'quantity' must be within the 64-bit integer range"
    ):
        TransactionLog.from_csv(p, quantity="qty")
    kept = _log(quantities=np.array([2**63 - 1], dtype=np.uint64)).quantity
    assert kept is not None and kept.tolist() == [2**63 - 1]


# "a NaN sequence number wrap[s] to -2**63": test_edges_storable.py::test_stage_history_sequence_refuses_nan
# and test_edges_integers.py::test_stage_history_sequence_refused.
# "a NaN from_stage becomes a stage called 'nan'":
# test_edges_labels.py::test_stage_history_nan_from_stage_is_a_creation_not_a_stage_nan.


# -- BTYD inputs --------------------------------------------------------------------------------
def test_infinite_frequency_in_pandas_and_float32_is_refused() -> None:
    """'+inf frequency in a float64 array gives NaN from BG/NBD predictions (the fast validity
    check lets it through; a list is refused)' — a pandas Series and a float32 array too."""
    for x in (pd.Series([np.inf, 1.0]), np.array([np.inf, 1.0], dtype=np.float32)):
        with pytest.raises(ValidationError, match=r"^'frequency' must be finite: inf at index 0"):
            BG.probability_alive(x, [1.0, 1.0], [2.0, 2.0])
    with pytest.raises(ValidationError, match=r"^'T' must be finite: inf at index 1"):
        BG.conditional_expected_purchases(5, [1.0, 1.0], [1.0, 1.0], pd.Series([2.0, np.inf]))


# "arrays of different lengths reach numpy's broadcast error in every BTYD prediction, fit_bgbb,
# fit_gamma_gamma, CLV and activity_costs": test_edges_valuation.py::test_lengths_are_checked_before_broadcasting
# and test_edges_analytics.py::test_lengths_are_named (activity_costs).
# "fit_bgnbd([], [], []) raises IndexError": test_edges_valuation.py::test_empty_fits_need_a_customer.


@pytest.mark.parametrize("model", [BG, PN], ids=["bgnbd", "pareto"])
def test_a_two_dimensional_horizon_is_named_not_broadcast(model: Any) -> None:
    """'arrays of different lengths reach numpy's broadcast error in every BTYD prediction' —
    the horizon ``t`` given as a column (``[[1.0], [2.0]]``) reached numpy's "more dimensions
    than allowed" ValueError, or came back as a customers-by-t matrix."""
    calls: tuple[Callable[[], object], ...] = (
        lambda: model.conditional_expected_purchases(
            [[1.0], [2.0]], [1, 2], [1.0, 2.0], [5.0, 5.0]
        ),
        lambda: model.probability_of_repurchase([[1.0], [2.0]], [1, 2], [1.0, 2.0], [5.0, 5.0]),
        lambda: model.expected_purchases([[1.0], [2.0]]),
    )
    for call in calls:
        with pytest.raises(ValidationError, match=r"^'t' must be a number or 1-dimensional"):
            call()


@pytest.mark.parametrize("model", [BG, PN], ids=["bgnbd", "pareto"])
def test_a_horizon_per_customer_of_another_length_is_named(model: Any) -> None:
    """'arrays of different lengths reach numpy's broadcast error in every BTYD prediction' —
    the per-customer horizon ``t`` was not length-checked: three horizons for two customers
    reached numpy's "could not be broadcast" ValueError. A scalar still stands for everyone."""
    for predict in (model.conditional_expected_purchases, model.probability_of_repurchase):
        with pytest.raises(
            ValidationError, match=r"^inputs must have the same length: t has 3, frequency has 2"
        ):
            predict([1.0, 2.0, 3.0], [1, 2], [1.0, 2.0], [5.0, 5.0])
        each = predict([4.0, 4.0], [1, 2], [1.0, 2.0], [5.0, 5.0])
        assert each.tolist() == predict(4.0, [1, 2], [1.0, 2.0], [5.0, 5.0]).tolist()


# -- finite but extreme -------------------------------------------------------------------------
# "gini([1e308, 1.0])": test_edges_analytics.py::test_gini_and_curves_of_huge_values_are_finite_and_right.
# "NPS with a weight of 1e308": test_edges_valuation.py::test_nps_with_a_huge_weight_is_finite_and_right.
# "Pareto/NBD P(alive) at frequency 1e308": test_edges_valuation.py::test_pareto_probability_alive_at_huge_frequency.
# "sbg_log_likelihood(inf, ...)": test_edges_valuation.py::test_sbg_log_likelihood_refuses_infinity_and_is_right_near_1e300.
# "SBGModel.project(nan, 3)": test_edges_valuation.py::test_sbg_projection_refuses_nan_and_huge_horizons.


# -- escaped exceptions and run time ------------------------------------------------------------
# "OverflowError for 10**400": test_edges_valuation.py::test_huge_integers_are_a_named_validation_error
# (scalar options) and test_edges_objects.py::test_huge_zero_and_negative_counts_are_refused_by_name.
# "a bare ValueError for a wrong enum string that names no field":
# test_edges_valuation.py::test_wrong_enum_strings_name_the_field_and_the_allowed_values,
# test_edges_objects.py::test_a_wrong_enum_string_names_the_field_and_the_choices.
# "fit_pareto_nbd with recency 0 for repeat buyers: 40-70 s":
# test_edges_valuation.py::test_repeat_buyer_with_recency_zero_is_refused_up_front.
# "BG/BB or sBG horizons of 3e8 periods: MemoryError": test_edges_valuation.py::test_bgbb_horizons_are_capped
# and test_sbg_projection_refuses_nan_and_huge_horizons.


def test_a_dict_where_the_spend_table_goes_is_named() -> None:
    """'AttributeError for a dict where an object goes' — ``acquisition_cost`` given a dict
    for its SpendTable (other entry points: test_edges_objects.py, test_edges_fuzz.py)."""
    with pytest.raises(ValidationError, match=r"^'spend' must be a SpendTable"):
        acquisition_cost({"web": 100.0}, ["web"], [1])  # type: ignore[arg-type]
    spend = SpendTable.from_arrays(channel=["web"], period=[1], amount=[100.0])
    assert acquisition_cost(spend, ["web", "web"], [1, 1]).by_channel.cac.tolist() == [50.0]


def _asymptote(n: float) -> float:
    """E[X(n)] of BG/BB for large n: a/(a+b) * d/(1-g) * (G(g+d)/G(d+1) * n**(1-g) - 1)."""
    p = BB.params
    log_ratio = math.lgamma(p.gamma + p.delta) - math.lgamma(p.delta + 1)
    scale = p.alpha / (p.alpha + p.beta) * p.delta / (1 - p.gamma)
    return scale * math.expm1(log_ratio + (1 - p.gamma) * math.log(n))


@pytest.mark.parametrize("n", [1e12, 1e308])
def test_bgbb_expectations_at_extreme_horizons_are_right_or_named(n: float) -> None:
    """'finite but extreme inputs come back NaN' — ``BGBBModel.expected_purchases(1e308)`` and
    ``conditional_expected_purchases(1e308, ...)`` came back NaN (inf - inf of two log-gammas).
    The issue's contract: the right finite answer (checked against the asymptote, relative
    error O(1/n)) or a ValidationError naming the horizon and its value."""
    got, refused = _outcome(lambda: BB.expected_purchases(n))
    if refused is None:
        assert got is not None and got[0] == pytest.approx(_asymptote(n), rel=1e-8)
    else:
        assert refused.startswith("'n' must be at most") and f"{n:g}" in refused, refused
    far, refused = _outcome(lambda: BB.conditional_expected_purchases(n, [1], [1], [6]))
    if refused is None:
        near = BB.conditional_expected_purchases(6, 1, 1, 6)
        assert far is not None and np.isfinite(far).all() and far[0] > near[0]
    else:
        assert refused.startswith("'m' must be at most") and f"{n:g}" in refused, refused


def _outcome(call: Callable[[], Any]) -> tuple[Any, str | None]:
    """The result, or the message of the ValidationError the call raised."""
    try:
        return call(), None
    except ValidationError as e:
        return None, str(e)


@pytest.mark.parametrize("bad", [10**400, "abc"], ids=["10**400", "str"])
def test_bgbb_horizons_beyond_a_float_or_not_numbers_are_named(bad: Any) -> None:
    """'about 2,100 calls escaped as non-crmcore exceptions (... OverflowError for 10**400 ...)'
    — a BG/BB horizon or count of 10**400 or a string raised OverflowError / ValueError."""
    calls: list[tuple[str, Callable[[], object]]] = [
        ("n", lambda: BB.expected_purchases(bad)),
        ("m", lambda: BB.conditional_expected_purchases(bad, [1], [1], [6])),
        ("m", lambda: BB.probability_of_repurchase(bad, [1], [1], [6])),
        ("x", lambda: BB.probability_of_purchases(bad, 6)),
        ("n", lambda: BB.probability_of_purchases(1, bad)),
    ]
    for name, call in calls:
        with pytest.raises(ValidationError, match=rf"^'{name}' must be numeric"):
            call()


@pytest.mark.parametrize("bad", [10**400, "abc", date(2024, 1, 1), pd.NA], ids=str)
def test_bgnbd_purchase_count_that_is_not_a_number_is_named(bad: Any) -> None:
    """'about 2,100 calls escaped as non-crmcore exceptions' — ``probability_of_purchases`` of
    BG/NBD turned its count with a bare ``np.asarray(x, float)``: ValueError, OverflowError or a
    TypeError naming nothing."""
    with pytest.raises(ValidationError, match=r"^'x' must be numeric"):
        BG.probability_of_purchases(bad, 3)
    assert BG.probability_of_purchases(2, 3)[0] == pytest.approx(0.01783404, abs=5e-9)


@pytest.mark.parametrize("by", ["region", pd.NA, None, 3], ids=["str", "pd.NA", "None", "int"])
def test_breakdown_by_names_the_field_and_the_choices(by: Any) -> None:
    """'a bare ValueError for a wrong enum string that names no field' — ``breakdown(by=pd.NA)``
    raised "TypeError: boolean value of NA is ambiguous"; every wrong ``by`` goes through the one
    enum coercion."""
    history = synthetic_pipeline(B2B, n_opportunities=20, seed=1).history
    with pytest.raises(ValidationError, match=r"^'by' must be one of 'owner', 'product': "):
        breakdown(history, B2B, by=by)
    assert set(breakdown(history, B2B, by="product").labels) <= {"crm", "erp", "support", "(none)"}


@pytest.mark.parametrize("field", ["floor", "intercept", "slope"])
def test_a_loyalty_curve_parameter_beyond_a_float_is_named(field: str) -> None:
    """'OverflowError for 10**400' — ``LoyaltyCurve(floor=10**400)`` (and intercept, slope)
    raised OverflowError from ``math.isfinite``."""
    good = {"floor": 0.1, "intercept": -2.0, "slope": 0.8}
    with pytest.raises(ValidationError, match=rf"^'{field}' is out of the range of a float: 1000"):
        LoyaltyCurve(**{**good, field: 10**400})
    assert LoyaltyCurve(**good).floor == 0.1


@pytest.mark.parametrize("gamma", [1.0, 1.0 + 1e-9, 1.0 - 1e-7, 1.0005])
def test_bgbb_expectations_are_right_when_gamma_is_near_one(gamma: float) -> None:
    """A silent wrong answer found while verifying 'finite but extreme inputs': near gamma = 1
    the BG/BB survival sum cancelled (0.4 % off at gamma = 1, delta = 100). One opportunity
    ahead has the closed form (a+x)/(a+b+n) * D/(gamma+D), D = delta + n, times P(alive)."""
    for delta in (2.78, 100.0):
        model = BGBBModel(BGBBParams(1.2, 0.75, gamma, delta))
        got = model.conditional_expected_purchases(1, [10], [90], [97])[0]
        d = delta + 97
        alive = model.probability_alive([10], [90], [97])[0]
        assert got == pytest.approx(alive * 11.2 / 98.95 * d / (gamma + d), rel=1e-9)
        # a new customer over 50 opportunities: the sum of B(gamma, delta + k) / B(gamma, delta)
        k = np.arange(1, 51)
        terms = np.exp([math.lgamma(delta + i) - math.lgamma(gamma + delta + i) for i in k])
        want = (
            1.2
            / 1.95
            * float(np.sum(terms))
            * math.exp(math.lgamma(gamma + delta) - math.lgamma(delta))
        )
        assert model.expected_purchases(50)[0] == pytest.approx(want, rel=1e-8)


# -- NaN policy ---------------------------------------------------------------------------------
# "quantile_scores treats 'propagate' as 'omit'": test_edges_analytics.py::test_quantile_scores_propagate_is_not_omit.
# "RFM omit still ranks the omitted customer": test_edges_analytics.py::test_rfm_omit_does_not_rank_the_omitted_customer.


def test_uplift_top_100_with_omit_picks_the_callers_customers() -> None:
    """'uplift_value(nan_policy="omit") returns top()/order indices into the compressed array,
    so sat[up.top(100)], as the docs show, picks the wrong customers' — at the docs' scale."""
    rng = np.random.default_rng(12)
    sat = rng.integers(1, 6, 500).astype(float)
    clv = rng.uniform(0.0, 1_000.0, 500)
    sat[::7] = np.nan
    up = uplift_value(preset_curve("high"), sat, clv, nan_policy="omit")
    kept = np.flatnonzero(~np.isnan(sat))
    ref = uplift_value(preset_curve("high"), sat[kept], clv[kept])
    assert up.top(100).tolist() == kept[ref.top(100)].tolist()
    assert up.order.tolist() == kept[ref.order].tolist()
    assert not np.isnan(sat[up.top(100)]).any()


# "BTYD, CAC and CLV take no nan_policy": test_edges_valuation.py::test_fit_omit_is_the_fit_of_the_rows_kept,
# test_elementwise_omit_and_propagate, test_acquisition_cost_omit_is_the_report_of_the_customers_kept.
# "their errors recommend one that does not exist": test_edges_valuation.py::test_nan_errors_recommend_a_policy_the_function_takes
# and test_edges_integers.py::test_nan_hint_only_where_a_nan_policy_exists.
# "missing labels ... a product 'nan' in co_purchase, a channel 'nan' in acquisition_cost given a plain
# list, and a departed customer in tier_migration" (and nps_by_group): test_edges_labels.py::test_co_purchase,
# test_acquisition_cost, test_spend_table_and_a_plain_list_with_nan, test_tier_migration, test_nps_and_csat_by_group.


# -- objects ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "address",
    [{"city": "Berlin"}, object(), 5, ["Main St 1"]],
    ids=["dict", "object", "int", "list"],
)
def test_customer_address_refuses_anything_but_an_address(address: Any) -> None:
    """'nested and config fields accept any object (Customer(address=<anything>) ...) and fail
    later in to_json' — a dict, an object, a number, a list (the string is pinned in
    test_edges_storable.py::test_nested_fields_raise_at_construction_naming_the_field)."""
    with pytest.raises(ValidationError, match=r"^'address' must be an Address or None: "):
        Customer(id="c", name="n", address=address)


@pytest.mark.parametrize(
    "value",
    [10**400, Decimal("1"), date(2024, 1, 1), None, math.nan],
    ids=["10**400", "Decimal", "date", "None", "nan"],
)
def test_a_rule_condition_names_a_value_that_is_not_a_number(value: Any) -> None:
    """'OverflowError for 10**400' and non-crmcore exceptions — ``cond("x", ">", 10**400)``
    raised OverflowError; a Decimal, a date or None raised "object is not iterable"."""
    with pytest.raises(ConfigurationError, match=r"^condition on 'x': 'value' for operator"):
        cond("x", ">", value)


def test_a_rule_condition_takes_numpy_numbers() -> None:
    """A threshold computed with numpy (``np.float32``, ``np.int64``) raised TypeError; it is the
    number it holds, and the tier set evaluates with it."""
    assert cond("x", ">", np.float32(1.5)).value == 1.5
    assert cond("x", "<=", np.int64(3)) == cond("x", "<=", 3)
    tiers = TierSet(
        "t", tiers=[Tier("gold", rule=cond("x", ">", np.quantile([1.0, 2.0, 3.0], 0.5)))]
    )
    assert tiers.evaluate({"x": [1.0, 3.0]}).counts() == {"gold": 1, "": 1}


# "Tier(rule='abc')", "Transition(None, 3)":
# test_edges_storable.py::test_nested_fields_raise_at_construction_naming_the_field.
# "NPSResult(score=nan)": test_edges_results.py::test_nps_result_with_a_nan_score_is_refused_naming_the_class_field_and_value.
# "ImportReport(stored=-17253)": test_edges_results.py::test_import_report_with_a_negative_count_is_refused.

# -- storability --------------------------------------------------------------------------------
# "the memory backend stores values that SQLite refuses with a raw error (lone surrogates, integers
# of 2**63 or more)": test_edges_storable.py::test_memory_accepts_text_iff_sql_accepts,
# test_memory_accepts_an_integer_iff_sql_accepts.
# "NUL bytes break a PostgreSQL import mid-way": test_edges_storable.py::test_import_rejects_unstorable_cells_with_their_field,
# test_csv_import_rejects_a_nul_byte_with_its_field.
# "the streaming engine updates a customer's state and then raises UnicodeEncodeError for a
# lone-surrogate id": test_edges_storable.py::test_streaming_changes_no_state_for_a_refused_event.

# -- serialization ------------------------------------------------------------------------------
# "a converter made before import crmcore.pipeline cannot read back a Funnel it wrote":
# test_edges_serialization.py::test_a_converter_made_before_importing_pipeline_reads_a_funnel.


def test_time_zone_aware_datetimes_are_one_instant() -> None:
    """The timestamp rule's other half, as a user writes it: an aware datetime and its
    basic-form string with an offset are the same instant in a table."""
    log = TransactionLog.from_arrays(
        customer_ids=["a", "b"],
        timestamps=[datetime(2024, 5, 1, 8, tzinfo=UTC), "20240501T100000+0200"],
        amounts=[1.0, 2.0],
    )
    assert log.time[0] == log.time[1]
