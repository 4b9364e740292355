"""Result types validate what they hold, part 2 (issue 12, "Results").

Findings (public-API fuzz): ``Hit(150.0, -inf, 1.5, 0)``, ``Detection(order=nan)``,
``Won(opportunity=nan)``, ``Advanced(follow_up=nan)``, ``NextPeriodForecast(reps=<array
with NaN>)``, ``Scorecards(period=nan)``, ``SyntheticPipeline(rep_skill=[inf, ...])``,
``TransactionColumns(amounts=[nan, ...])``, ``AlertSummary(start=nan)``,
``CovariateEffects(purchase=None)``, ``FunnelHistory(stage_probability=[inf, ...])`` and
``StageHistory.from_arrays(amount=[-5, inf])`` were accepted. They now check every field
through :mod:`crmcore._results` (numbers, arrays) or the model's field validators
(``instance`` / ``tuple_of``), and crmcore's own code paths still build them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.anomaly import RuleSet, Threshold
from crmcore.anomaly.alerts import AlertSummary, summarize
from crmcore.anomaly.batch import detect
from crmcore.anomaly.plan import Hit
from crmcore.errors import ValidationError
from crmcore.ingest import ImportReport
from crmcore.pipeline import FunnelHistory
from crmcore.pipeline.plans import Actuals, Period
from crmcore.pipeline.presets import TOP_IN_BEST
from crmcore.pipeline.synthetic import synthetic_pipeline
from crmcore.tables import StageHistory, TransactionLog
from crmcore.valuation.btyd.covariates import CovariateEffects

NAN, INF = float("nan"), float("inf")


def _fields(obj: Any, **changes: Any) -> dict[str, Any]:
    return {**{f.name: getattr(obj, f.name) for f in attrs.fields(type(obj))}, **changes}


# -- Hit: a NamedTuple checked at its public constructor, not on the engines' hot path ---------
def test_hit_refuses_non_finite_numbers_and_a_negative_history() -> None:
    assert Hit(150.0, 100.0, 1.5, 0) == (150.0, 100.0, 1.5, 0)
    with pytest.raises(ValidationError, match=r"Hit: 'baseline' must be a finite number: -inf"):
        Hit(150.0, -INF, 1.5, 0)
    with pytest.raises(ValidationError, match=r"Hit: 'observed' must be a finite number: nan"):
        Hit(NAN, 1.0, 1.0, 0)
    with pytest.raises(ValidationError, match=r"Hit: 'history' must be an integer >= 0: -1"):
        Hit(1.0, 1.0, 1.0, -1)
    with pytest.raises(ValidationError, match="'deviation'"):
        Hit(1.0, 1.0, "1.5", 0)  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(
    st.tuples(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-5, 5),
    )
)
def test_a_hit_either_holds_finite_numbers_or_is_refused(
    args: tuple[float, float, float, int],
) -> None:
    try:
        h = Hit(*args)
    except ValidationError:
        assert not all(np.isfinite(args[:3])) or args[3] < 0
    else:
        assert all(np.isfinite(h[:3])) and h.history >= 0


# -- services: what a call stored --------------------------------------------------------------
def test_won_and_advanced_refuse_what_is_not_an_opportunity_or_event() -> None:
    from crmcore.pipeline.moves import Won
    from crmcore.pipeline.service import Advanced

    with pytest.raises(ValidationError, match="'opportunity' must be an Opportunity: nan"):
        Won(NAN, NAN, None, None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'opportunity' must be an Opportunity"):
        Advanced(None, None)  # type: ignore[arg-type]


def _log() -> TransactionLog:
    return TransactionLog.from_arrays(
        customer_ids=["a", "a", "b"],
        timestamps=["2025-01-01", "2025-01-02", "2025-01-03"],
        amounts=[10.0, 5000.0, 7000.0],
    )


def test_detection_built_by_detect_and_refused_with_hostile_fields() -> None:
    d = detect(_log(), RuleSet(name="r", rules=[Threshold(name="big", at_least=1000)]))
    assert d.counts() == {"big": 2}
    good = _fields(d)
    with pytest.raises(ValidationError, match="Detection: 'order' must be a 1-D numpy array"):
        type(d)(**{**good, "order": NAN})
    with pytest.raises(ValidationError, match="Detection: 'c' must be a 1-D numpy array of int"):
        type(d)(**{**good, "c": np.array([NAN, 0.0, 1.0])})
    with pytest.raises(ValidationError, match=r"Detection: 'c' must be an integer >= 0: -1"):
        type(d)(**{**good, "c": np.array([-1, 0, 1])})
    with pytest.raises(ValidationError, match="'plan' must be a Plan"):
        type(d)(**{**good, "plan": NAN})


def test_alert_summary_refuses_a_start_that_is_not_a_utc_datetime() -> None:
    s = summarize([], start=datetime(2025, 1, 1, tzinfo=UTC))
    assert s.total == 0
    with pytest.raises(ValidationError, match="'start'"):
        AlertSummary(**_fields(s, start=NAN))
    with pytest.raises(ValidationError, match="'by_rule'"):
        AlertSummary(**_fields(s, by_rule=None))


# -- pipeline plans and scorecards --------------------------------------------------------------
def test_plan_results_refuse_a_period_or_rep_ids_that_are_not_what_they_say() -> None:
    a = Actuals(Period.day(date(2025, 1, 1)), ("r",), np.array([3]), np.array([1]),
                np.array([0]), np.array([0.0]))  # fmt: skip
    assert a.of("r").activities == 3
    with pytest.raises(ValidationError, match="'period' must be a Period: nan"):
        Actuals(**_fields(a, period=NAN))
    with pytest.raises(ValidationError, match="'reps' must be a sequence"):
        Actuals(**_fields(a, reps=np.array([NAN], dtype=object)))
    with pytest.raises(ValidationError, match=r"'reps\[0\]' must be a rep id: nan"):
        Actuals(**_fields(a, reps=(NAN,)))


# -- tables: the amount column, NaN = "no amount" -----------------------------------------------
def test_stage_history_amount_refuses_negative_and_infinite_values_naming_the_row() -> None:
    kw: dict[str, Any] = {
        "opportunity_ids": ["o", "o", "p"], "sequence": [0, 1, 0],
        "from_stage": [None, "lead", None], "to_stage": ["lead", "won", "lead"],
        "at": ["2025-01-01", "2025-01-02", "2025-01-03"],
    }  # fmt: skip
    h = StageHistory.from_arrays(**kw, amount=[10.0, NAN, 0.0])
    assert np.isnan(h.amount[1]) and h.amount[0] == 10.0  # NaN: the deal had no amount
    with pytest.raises(ValidationError, match=r"'amount' must be >= 0: -5.0 at index 2"):
        StageHistory.from_arrays(**kw, amount=[10.0, 1.0, -5.0])
    with pytest.raises(ValidationError, match=r"'amount' must be finite: inf at index 1"):
        StageHistory.from_arrays(**kw, amount=[10.0, INF, 1.0])
    with pytest.raises(ValidationError, match="'amount' must be numeric"):
        StageHistory.from_arrays(**kw, amount=[10.0, "x", 1.0])
    with pytest.raises(
        ValidationError, match=r"StageHistory: 'amount' must be a number >= 0 \(or NaN\): -inf"
    ):
        StageHistory(**_fields(h, amount=np.array([1.0, -INF, 1.0])))


def test_funnel_history_documents_nan_amounts_and_refuses_the_rest() -> None:
    p = synthetic_pipeline(TOP_IN_BEST, n_opportunities=40, seed=3)
    fh = FunnelHistory.build(p.history, TOP_IN_BEST)
    v = attrs.fields_dict(FunnelHistory)
    for name in ("ev_amount", "amount"):
        assert v[name].validator.nan  # type: ignore[union-attr]  # the documented reason
        FunnelHistory(**_fields(fh, **{name: np.full(len(getattr(fh, name)), NAN)}))
        bad = getattr(fh, name).copy()
        bad[0] = INF
        with pytest.raises(ValidationError, match=f"FunnelHistory: '{name}'"):
            FunnelHistory(**_fields(fh, **{name: bad}))
    sp = fh.stage_probability.copy()
    sp[0] = -INF
    with pytest.raises(ValidationError, match="'stage_probability' must be a number in"):
        FunnelHistory(**_fields(fh, stage_probability=sp))
    with pytest.raises(ValidationError, match="'funnel' must be a Funnel"):
        FunnelHistory(**_fields(fh, funnel=NAN))
    with pytest.raises(ValidationError, match="'final_stage' must be a 1-D numpy array"):
        FunnelHistory(**_fields(fh, final_stage=10**400))  # no TypeError from a length check


def test_synthetic_pipeline_and_transaction_columns_refuse_hostile_columns() -> None:
    p = synthetic_pipeline(TOP_IN_BEST, n_opportunities=30, seed=1)
    with pytest.raises(ValidationError, match=r"'rep_skill' must be a number >= 0: inf"):
        type(p)(**_fields(p, rep_skill=np.array([INF, 1.0])))
    with pytest.raises(ValidationError, match=r"'start' must be datetimes \(no NaT\)"):
        type(p)(**_fields(p, start=np.datetime64("NaT")))
    with pytest.raises(ValidationError, match=r"'reason_codes' must have the length of 'history'"):
        type(p)(**_fields(p, reason_codes=p.reason_codes[:2]))

    from crmcore.ingest.transactions import TransactionColumns, validate_transaction_columns

    cols = validate_transaction_columns(
        {"customer_id": ["c", "d"], "occurred_at": ["2025-01-01T00:00:00Z"] * 2,
         "amount": ["1.5", "-1"], "currency": ["USD", "USD"]}
    )  # fmt: skip
    assert cols.good.tolist() == [True, False]
    with pytest.raises(ValidationError, match=r"TransactionColumns: 'amounts'.*nan"):
        TransactionColumns(**_fields(cols, amounts=np.array([NAN, 2.0])))
    with pytest.raises(ValidationError, match="'currencies' must be a list"):
        TransactionColumns(**_fields(cols, currencies=np.array([NAN, "USD"], dtype=object)))
    with pytest.raises(ValidationError, match="inputs must have the same length"):
        TransactionColumns(**_fields(cols, currencies=["USD"]))


def test_covariate_effects_and_import_report_check_every_field() -> None:
    assert CovariateEffects((0.4, -0.1), (0.2,)).purchase == (0.4, -0.1)
    with pytest.raises(ValidationError, match="'purchase' must be a tuple"):
        CovariateEffects(None, (0.2,))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"'purchase_errors' must be a number >= 0: -0.1"):
        CovariateEffects((0.4,), (0.2,), (-0.1,), None)
    with pytest.raises(ValidationError, match="'source'"):
        ImportReport(source=None, target="customers")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"'errors\[0\]' must be a RowError: 'bad'"):
        ImportReport(source="x", target="customers", errors=("bad",))  # type: ignore[arg-type]


# -- the walk: these classes check every field ---------------------------------------------------
CHECKED = [
    "crmcore.anomaly.alerts.AlertSummary",
    "crmcore.ingest.report.RowError",
    "crmcore.valuation.btyd.summary.RFMSummary",
    "crmcore.valuation.economics.acquisition.CACReport",
    "crmcore.valuation.economics.ratios.CLVCACReport",
    "crmcore.valuation.economics.response.ResponseComparison",
    "crmcore.valuation.economics.response.ResponseTable",
    "crmcore.satisfaction.fit.LoyaltyFit",
    "crmcore.satisfaction.fit.ModerationTest",
    "crmcore.valuation.btyd.bgbb.BGBBModel",
    "crmcore.valuation.btyd.bgnbd.BGNBDModel",
    "crmcore.valuation.btyd.bgnbd.MBGNBDModel",
    "crmcore.valuation.btyd.gamma_gamma.GammaGammaModel",
    "crmcore.valuation.btyd.pareto_nbd.ParetoNBDModel",
    "crmcore.valuation.economics.sbg.SBGModel",
    "crmcore.satisfaction.quadrants.QuadrantResult",
    "crmcore.segmentation.concentration.ABCClasses",
    "crmcore.segmentation.crosssell.CoPurchase",
    "crmcore.segmentation.crosssell.Recommendations",
    "crmcore.segmentation.profitability.CostBreakdown",
    "crmcore.segmentation.rfm.RFMSummary",
    "crmcore.segmentation.rfm.Segments",
    "crmcore.segmentation.tiers.TierAssignment",
    "crmcore.pipeline.breakdowns.Breakdown",
    "crmcore.pipeline.breakdowns.CohortConversion",
    "crmcore.pipeline.breakdowns.LostReasons",
    "crmcore.pipeline.breakdowns.SalesMatrix",
    "crmcore.pipeline.forecast.Backtest",
    "crmcore.pipeline.forecast.Forecast",
    "crmcore.pipeline.forecast.TimeToClose",
    "crmcore.pipeline.forecast.WinProbabilities",
    "crmcore.pipeline.metrics.StageConversion",
    "crmcore.pipeline.metrics.TimeInStage",
    "crmcore.pipeline.metrics.WeightedPipeline",
    "crmcore.anomaly.batch.Detection",
    "crmcore.ingest.report.ImportReport",
    "crmcore.ingest.transactions.TransactionColumns",
    "crmcore.pipeline.history.FunnelHistory",
    "crmcore.pipeline.moves.Won",
    "crmcore.pipeline.plans.Actuals",
    "crmcore.pipeline.plans.NextPeriodForecast",
    "crmcore.pipeline.plans.PlanReport",
    "crmcore.pipeline.scorecard.Scorecards",
    "crmcore.pipeline.service.Advanced",
    "crmcore.pipeline.service.Edited",
    "crmcore.pipeline.synthetic.SyntheticPipeline",
    "crmcore.tables.field_history.FieldHistory",
    "crmcore.tables.stage_history.StageHistory",
    "crmcore.valuation.btyd.covariates.CovariateEffects",
]


@pytest.mark.parametrize("qualname", CHECKED)
def test_every_field_of_these_classes_has_a_validator_that_refuses_nan(qualname: str) -> None:
    import importlib

    mod, _, name = qualname.rpartition(".")
    cls = getattr(importlib.import_module(mod), name)
    for f in attrs.fields(cls):
        assert f.validator is not None, f"{name}.{f.name} is not checked"
        if getattr(f.validator, "nan", None):
            continue  # NaN documented there (an undefined ratio); the walk of part 1 covers it
        with pytest.raises(ValidationError) as e:
            f.validator(object.__new__(cls), f, NAN)  # NaN is never a table, a record, a list
        assert repr(f.name) in str(e.value) or f"'{f.name}[" in str(e.value), str(e.value)


def test_pipeline_results_refuse_stage_names_that_are_not_strings() -> None:
    from crmcore.pipeline.breakdowns import LostReasons
    from crmcore.pipeline.forecast import Backtest, TimeToClose

    for cls, field in ((LostReasons, "reasons"), (Backtest, "methods"), (TimeToClose, "stages")):
        f = attrs.fields_dict(cls)[field]
        assert f.validator is not None
        with pytest.raises(ValidationError, match=rf"'{field}' must be a sequence"):
            f.validator(object.__new__(cls), f, np.array([NAN, "b"], dtype=object))
        with pytest.raises(ValidationError, match=rf"'{field}\[0\]' must be a .*: nan"):
            f.validator(object.__new__(cls), f, (NAN, "b"))
    f = attrs.fields_dict(Backtest)["as_of"]
    with pytest.raises(ValidationError, match=r"'as_of' must be datetimes \(no NaT\)"):
        f.validator(object.__new__(Backtest), f, np.datetime64("NaT"))  # type: ignore[misc]


def test_label_arrays_of_results_refuse_missing_labels_naming_the_index() -> None:
    from crmcore.segmentation.crosssell import co_purchase

    cp = co_purchase(["a", "a", "b"], ["cd", "dvd", "cd"])
    assert cp.products.tolist() == ["cd", "dvd"]
    good = _fields(cp)
    with pytest.raises(
        ValidationError,
        match=r"CoPurchase: 'products' must be labels \(none missing: None, NaN, ''\): nan at index 0",
    ):
        type(cp)(**{**good, "products": np.array([NAN, "dvd"], dtype=object)})
    with pytest.raises(ValidationError, match=r"'customer_ids' must be a finite number: -inf"):
        type(cp)(**{**good, "customer_ids": np.array([-INF, 2.0])})  # numeric labels: finite
    with pytest.raises(ValidationError, match="'incidence' must be a scipy.sparse.csr_matrix"):
        type(cp)(**{**good, "incidence": None})


def test_fitted_models_refuse_a_converged_flag_or_parameters_of_the_wrong_type() -> None:
    from crmcore.fitting import FitSummary
    from crmcore.valuation.btyd.bgnbd import BGNBDModel

    f = attrs.fields_dict(BGNBDModel)
    for name, value in (("params", None), ("fit", "x"), ("time_unit", "weeks")):
        with pytest.raises(ValidationError, match=f"'{name}' must be"):
            f[name].validator(object.__new__(BGNBDModel), f[name], value)  # type: ignore[misc]
    g = attrs.fields_dict(FitSummary)
    for name, value in (("converged", NAN), ("message", 3)):
        with pytest.raises(ValidationError, match=f"'{name}' must be"):
            g[name].validator(object.__new__(FitSummary), g[name], value)  # type: ignore[misc]


def test_a_streaming_event_is_checked_where_it_is_used() -> None:
    """Event is the engine's light input (not validated on construction, by design):
    process_event refuses its non-finite fields by name, before any state changes."""
    from crmcore.anomaly import Event, StreamingEngine

    engine = StreamingEngine(RuleSet(name="r", rules=[Threshold(name="t", at_least=10)]))
    with pytest.raises(ValidationError, match=r"'amount' of event 'e1' must be a finite number"):
        engine.process_event(Event("e1", "c1", 1_700_000_000_000_000, NAN))
    with pytest.raises(ValidationError, match=r"'time' of event 'e2'"):
        engine.process_event(Event("e2", "c1", NAN, 5.0))  # type: ignore[arg-type]
    assert engine.process_event(Event("e3", "c1", 1_700_000_000_000_000, 50.0))


def test_transaction_log_refuses_a_non_finite_or_negative_amount_and_a_non_string_currency() -> (
    None
):
    log = _log()
    with pytest.raises(
        ValidationError, match=r"TransactionLog: 'amount' must be a number >= 0: inf at index 1"
    ):
        TransactionLog(**_fields(log, amount=np.array([1.0, INF, 2.0])))
    with pytest.raises(ValidationError, match=r"'amount' must be a number >= 0: nan at index 0"):
        TransactionLog(**_fields(log, amount=np.array([NAN, 1.0, 2.0])))
    with pytest.raises(ValidationError, match="'currency' must be a currency code or None: nan"):
        TransactionLog(**_fields(log, currency=NAN))
