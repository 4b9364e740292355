"""Wave-2 valuation fuzz findings (issue 12), through the public API.

Covariate kernels made private; RFM summaries name their arguments; CAC reports
name the customer inputs of an empty cell; a CAC payback that never happens is
a documented infinity (``_results``: ``inf="..."``), never NaN.
"""

from __future__ import annotations

import importlib

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore._results import array, number
from crmcore.errors import ValidationError
from crmcore.tables import TransactionLog
from crmcore.valuation import (
    PaybackResult,
    SpendTable,
    acquisition_cost,
    cac_payback,
    summarize_arrays,
    summarize_transactions,
)
from crmcore.valuation.btyd import covariates

# -- covariate kernels: implementation detail, no longer public ------------------------------


def test_covariate_kernels_are_private() -> None:
    assert covariates.__all__ == ["CovariateEffects"]
    for name in ("customer_scales", "covariate_matrix", "linear_predictors", "bg_row_derivatives"):
        assert not hasattr(covariates, name)
        assert hasattr(importlib.import_module("crmcore.valuation.btyd._covariates"), name)


# -- summaries name their arguments ----------------------------------------------------------


@pytest.mark.parametrize("log", [None, "abc", 1.5, object()])
def test_summarize_transactions_names_a_wrong_log(log: object) -> None:
    with pytest.raises(TypeError, match=r"'log' must be a TransactionLog"):
        summarize_transactions(log)  # type: ignore[arg-type]


def test_summarize_transactions_names_a_wrong_time_unit() -> None:
    log = TransactionLog.from_arrays(customer_ids=["a"], timestamps=["2024-01-01"], amounts=[1.0])
    with pytest.raises(ValidationError, match=r"'time_unit'.*'x'"):
        summarize_transactions(log, time_unit="x")  # type: ignore[arg-type]


TS = ["2024-01-01", "2024-01-02", "2024-01-08"]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"customer_ids": None}, "customer_ids"),
        ({"customer_ids": "abc"}, "customer_ids"),
        ({"customer_ids": ["a", None, "b"]}, "customer_ids"),
        ({"customer_ids": ["a", "b"]}, "customer_ids"),
        ({"timestamps": None}, "timestamps"),
        ({"timestamps": ["x", "x", "x"]}, "timestamps"),
        ({"timestamps": TS[:2]}, "timestamps"),
        ({"amounts": [1.0, -1.0, 2.0]}, "amounts"),
        ({"amounts": [1.0, float("nan"), 2.0]}, "amounts"),
        ({"amounts": "abc"}, "amounts"),
        ({"amounts": 10**400}, "amounts"),
    ],
)
def test_summarize_arrays_names_the_wrong_argument(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {
        "customer_ids": ["a", "a", "b"],
        "timestamps": TS,
        "amounts": [1.0, 2.0, 3.0],
    }
    args.update(kwargs)
    with pytest.raises((ValidationError, TypeError), match=f"'?{name}'?"):
        summarize_arrays(args["customer_ids"], args["timestamps"], args["amounts"])  # type: ignore[arg-type]


def test_summarize_arrays_still_summarises() -> None:
    s = summarize_arrays(["a", "a", "b"], TS, None, observation_end="2024-01-10")
    assert s.customer_ids.tolist() == ["a", "b"]
    assert s.frequency.tolist() == [1.0, 0.0]
    assert s.T.tolist() == [9.0, 2.0]  # b bought on the 8th


# -- acquisition_cost: an empty cell names the customer inputs -------------------------------


def test_acquisition_cost_refuses_a_wrong_spend_by_name() -> None:
    with pytest.raises(TypeError, match=r"'spend' must be a SpendTable"):
        acquisition_cost(None, ["a"], [1])  # type: ignore[arg-type]


def test_acquisition_cost_empty_cell_names_the_customer_inputs() -> None:
    spend = SpendTable.from_arrays(channel=["tv"], period=[1], amount=[500.0])
    with pytest.raises(ValidationError, match=r"'customer_channels' and 'customer_periods'"):
        acquisition_cost(spend, ["x", "x"], [1, 1])
    shared = SpendTable.from_arrays(channel=["unattributed"], period=[2], amount=[50.0])
    with pytest.raises(ValidationError, match=r"'customer_periods'"):
        acquisition_cost(shared, ["x"], [1])


# -- CAC payback: infinity means "never", documented ------------------------------------------


def test_payback_months_documents_its_infinity() -> None:
    field = attrs.fields(PaybackResult).months
    assert field.validator.inf  # type: ignore[union-attr]
    assert field.validator.nan is None  # type: ignore[union-attr]


@settings(max_examples=40, deadline=None)
@given(
    cac=st.floats(0, 1e6),
    margin=st.floats(-1e6, 1e6),
    retention=st.floats(0, 1),
)
def test_payback_is_finite_exactly_when_recovered(
    cac: float, margin: float, retention: float
) -> None:
    p = cac_payback(cac, margin, retention=retention)
    assert not np.isnan(p.months).any()
    assert (p.months >= 0).all()
    assert p.recovered.tolist() == np.isfinite(p.months).tolist()
    if cac > 0 and margin <= 0:
        assert p.months.tolist() == [np.inf]
        assert p.whole_months.tolist() == [-1]


def test_payback_never_recovered_is_inf_not_nan() -> None:
    p = cac_payback(100.0, [-1e308, -1.0, 0.0, 50.0])
    assert p.months.tolist() == [np.inf, np.inf, np.inf, 2.0]
    assert p.recovered.tolist() == [False, False, False, True]
    with pytest.raises(ValidationError, match=r"'months'.*nan"):
        PaybackResult(months=np.array([np.nan]), recovered=np.array([False]))
    with pytest.raises(ValidationError, match=r"'months'.*-inf"):
        PaybackResult(months=np.array([-np.inf]), recovered=np.array([False]))


def test_number_validator_takes_a_documented_infinity() -> None:
    @attrs.frozen
    class R:
        months: float = attrs.field(validator=number(0, inf="never recovered"))
        plain: float = attrs.field(validator=number(0))
        many: np.ndarray = attrs.field(validator=array(lo=0, inf="never"))

    assert R(float("inf"), 1.0, np.array([np.inf])).months == float("inf")
    with pytest.raises(ValidationError, match=r"'months'.*\(or infinite\): nan"):
        R(float("nan"), 1.0, np.array([1.0]))
    with pytest.raises(ValidationError, match=r"'months'.*-inf"):
        R(float("-inf"), 1.0, np.array([1.0]))
    with pytest.raises(ValidationError, match=r"'plain'.*inf"):
        R(1.0, float("inf"), np.array([1.0]))


# -- BTYD fits: an extreme time scale is refused by name, up front ---------------------------


@pytest.mark.parametrize("fit", ["fit_bgnbd", "fit_mbgnbd", "fit_pareto_nbd"])
@pytest.mark.parametrize("big", [1e11, 9.223372036854775807e18, 1e308])
def test_fits_refuse_an_age_beyond_the_time_scale_by_name(fit: str, big: float) -> None:
    import crmcore.valuation as v

    x, tx, T = [0.0, 2.0, 5.0], [0.0, 10.0, 30.0], [38.0, 38.0, big]
    with pytest.raises(ValidationError, match=r"^'T' must be at most 1e\+10 .* at index 2"):
        getattr(v, fit)(x, tx, T)


def test_fits_take_a_long_but_fittable_time_scale() -> None:
    from crmcore.datasets import load_cdnow_summary
    from crmcore.valuation import fit_bgnbd

    d = load_cdnow_summary()
    c = 1e10 / float(d["T"].max())  # the oldest customer exactly at the cap
    base = fit_bgnbd(d["x"], d["t_x"], d["T"])
    scaled = fit_bgnbd(d["x"], d["t_x"] * c, d["T"] * c)
    assert scaled.params.r == pytest.approx(base.params.r, rel=1e-5)
    assert scaled.params.alpha == pytest.approx(base.params.alpha * c, rel=1e-5)


@pytest.mark.parametrize("step", [1e11, 2.0**63, 1e300])
def test_clv_refuses_a_span_beyond_the_time_scale_by_name(step: float) -> None:
    from crmcore.datasets import load_cdnow_summary
    from crmcore.valuation import customer_lifetime_value, fit_bgnbd

    d = load_cdnow_summary()
    m = fit_bgnbd(d["x"], d["t_x"], d["T"])
    args = ([0.0, 2.0], [0.0, 10.0], [38.0, 38.0], [10.0, 20.0])
    with pytest.raises(ValidationError, match=r"^'step' times 'horizon' must be at most 1e\+10"):
        customer_lifetime_value(m, None, *args, horizon=1, step=step)
    out = customer_lifetime_value(m, None, *args, horizon=12, step=1e8)  # 1.2e9: fine
    assert np.isfinite(out).all() and (out >= 0).all()


def test_nps_counts_names_the_counts_of_an_empty_survey() -> None:
    from crmcore.valuation import nps_counts

    with pytest.raises(ValidationError, match=r"'promoters' \+ 'passives' \+ 'detractors'"):
        nps_counts([0.0, 5.0], [0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValidationError, match=r"'effective_n'"):
        nps_counts([3.0], [1.0], [1.0], effective_n=[0.0])
    assert nps_counts([3.0], [1.0], [1.0]).score.tolist() == pytest.approx([0.4])


@pytest.mark.parametrize("fit", ["fit_bgnbd", "fit_pareto_nbd"])
def test_a_fit_at_the_edge_of_the_time_scale_names_recency_and_t(fit: str) -> None:
    import crmcore.valuation as v
    from crmcore.datasets import load_cdnow_summary
    from crmcore.errors import FitError

    d = load_cdnow_summary()
    c = 1e-13  # ages of about 4e-12 time units: alpha below e**-25
    with pytest.raises(FitError, match=r"'alpha' is the time scale of 'recency' and 'T'"):
        getattr(v, fit)(d["x"], d["t_x"] * c, d["T"] * c)
