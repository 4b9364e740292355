"""sBG, Gamma-Gamma and BG/BB carry the one fitted-result shape (issue 13): params + fit, the
read-only properties callers used, initial values, the period label, and model files of
format 1 (written before the fit summary) that still load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crmcore.datasets import SBG_COHORTS, load_cdnow_summary, load_donations
from crmcore.errors import ValidationError
from crmcore.fitting import FitSummary
from crmcore.serialization import from_dict, from_json, load_model, to_json
from crmcore.valuation import (
    BGBBModel,
    BGBBParams,
    GammaGammaModel,
    GammaGammaParams,
    SBGModel,
    SBGParams,
    fit_bgbb,
    fit_gamma_gamma,
    fit_sbg,
)

# what crmcore wrote before the fit summary (format 1), from the fits of the published data
FORMAT_1_SBG = {
    "type": "sbg",
    "format": 1,
    "alpha": 0.7040772697122378,
    "beta": 1.1820429489145325,
    "alpha_se": 0.06559896836759498,
    "beta_se": 0.1524756381816601,
    "log_likelihood": -1680.2651884632871,
    "n_periods": 7,
    "n_customers": 1000.0,
    "converged": True,
    "iterations": 7,
}
FORMAT_1_BGBB = {
    "type": "bgbb",
    "format": 1,
    "params": {"alpha": 1.2035223561104957, "beta": 0.7497163596480971,
               "gamma": 0.6567182023589739, "delta": 2.7834421958690223},
    "standard_errors": {"alpha": 0.06939136242423861, "beta": 0.02944771668803579,
                        "gamma": 0.05100985757670756, "delta": 0.3208189935860186},
    "log_likelihood": -33225.58127434701,
    "n": 11104,
    "converged": True,
    "message": "Optimization terminated successfully.",
}  # fmt: skip
FORMAT_1_GAMMA_GAMMA = {
    "type": "gamma_gamma",
    "format": 1,
    "params": {"p": 6.248785194312386, "q": 3.744591995541673, "gamma": 15.447810050663621},
    "standard_errors": {"p": 1.189681421881786, "q": 0.2901661337141604,
                        "gamma": 4.16000595536667},
    "log_likelihood": -4055.92324350297,
    "n": 946,
    "converged": True,
    "message": "Optimization terminated successfully.",
}  # fmt: skip


def test_a_format_1_sbg_file_loads_with_its_fit_summary() -> None:
    """Older versions load: alpha, beta, their SEs and the fit's fields side by side become
    params and one FitSummary (n = the customers), n_periods kept."""
    text = json.dumps(FORMAT_1_SBG)
    for back in (load_model(text), from_json(SBGModel, text), from_dict(SBGModel, FORMAT_1_SBG)):
        assert isinstance(back, SBGModel)
        assert back.params == SBGParams(0.7040772697122378, 1.1820429489145325)
        assert (back.alpha, back.beta) == (0.7040772697122378, 1.1820429489145325)
        assert back.alpha_se == 0.06559896836759498 and back.beta_se == 0.1524756381816601
        assert back.log_likelihood == -1680.2651884632871 and back.converged
        assert back.n_customers == 1000.0 and back.n_periods == 7 and back.iterations == 7
        assert back.period is None
        assert back.fit is not None and back.fit.names == ("alpha", "beta")
        again = json.loads(to_json(back))
        assert again["format"] == 2 and again["fit"]["n"] == 1000.0
        assert load_model(to_json(back)) == back
    # the same predictions as the model refitted today (to the digits format 1 kept)
    now = fit_sbg(SBG_COHORTS["regular"])
    old = load_model(text)
    np.testing.assert_allclose(old.survival([1, 5, 12]), now.survival([1, 5, 12]), rtol=1e-6)


def test_an_untyped_sbg_file_of_crmcore_01_loads() -> None:
    data = {k: v for k, v in FORMAT_1_SBG.items() if k not in ("type", "format")}
    back = from_json(SBGModel, json.dumps(data))
    assert back.alpha_se == FORMAT_1_SBG["alpha_se"] and back.n_periods == 7


@pytest.mark.parametrize(
    ("data", "cls", "names"),
    [
        (FORMAT_1_BGBB, BGBBModel, ("alpha", "beta", "gamma", "delta")),
        (FORMAT_1_GAMMA_GAMMA, GammaGammaModel, ("p", "q", "gamma")),
    ],
)
def test_format_1_bgbb_and_gamma_gamma_files_load(data: dict, cls: type, names: tuple) -> None:  # type: ignore[type-arg]
    for back in (load_model(json.dumps(data)), from_dict(cls, data)):
        assert type(back) is cls
        assert back.fit is not None and back.fit.names == names
        assert back.fit.standard_errors == tuple(data["standard_errors"].values())
        assert back.log_likelihood == data["log_likelihood"] and back.n == data["n"]
        assert back.standard_errors is not None
        assert json.loads(to_json(back))["format"] == 2


def test_sbg_model_shape_and_properties() -> None:
    m = fit_sbg(SBG_COHORTS["high_end"], period="year")
    assert isinstance(m.fit, FitSummary) and m.fit.model == "sBG"
    assert m.fit.names == ("alpha", "beta") and m.fit.n == 1000 and m.fit.converged
    assert m.params == SBGParams(m.alpha, m.beta)
    assert m.standard_errors == SBGParams(m.alpha_se, m.beta_se)  # type: ignore[arg-type]
    assert m.iterations == m.fit.iterations and m.iterations > 0
    assert m.n_customers == 1000.0 and m.n_periods == 7 and m.period == "year"
    assert m.aic == pytest.approx(4 - 2 * m.log_likelihood)
    lo, hi = m.fit["alpha"].lower, m.fit["alpha"].upper
    assert lo is not None and hi is not None and 0 < lo < m.alpha < hi
    assert "alpha" in str(m.fit) and "beta" in str(m.fit)


def test_a_hand_built_sbg_model_has_no_fit() -> None:
    m = SBGModel(SBGParams(0.7, 1.2))
    assert m.fit is None and m.alpha_se is None and m.beta_se is None
    assert m.n_customers is None and m.iterations is None and m.n_periods is None
    assert not m.converged and m.log_likelihood is None
    assert m.survival([1])[0] == pytest.approx(1.2 / 1.9)
    with pytest.raises(ValidationError, match="built from parameters, not fitted"):
        m.summary()
    with pytest.raises(ValidationError, match="'alpha' must be"):
        SBGParams(0.0, 1.0)
    with pytest.raises(ValidationError, match="'params' must be an SBGParams"):
        SBGModel((0.7, 1.2))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'n_periods' must be"):
        SBGModel(SBGParams(0.7, 1.2), n_periods=0)


def test_sbg_initial_values() -> None:
    counts = SBG_COHORTS["regular"]
    base = fit_sbg(counts)
    for initial in ({"alpha": 5.0}, (0.1, 10.0), [3.0, 3.0]):
        m = fit_sbg(counts, initial=initial)
        assert m.alpha == pytest.approx(base.alpha, rel=1e-9)
        assert m.beta == pytest.approx(base.beta, rel=1e-9)
    with pytest.raises(ValidationError, match="sBG: initial value of 'alpha' must be a number"):
        fit_sbg(counts, initial=(10**400, 1.0))
    with pytest.raises(ValidationError, match="'initial' names an unknown parameter 'a'"):
        fit_sbg(counts, initial={"a": 1.0})
    with pytest.raises(ValidationError, match="'initial' must give 2 values"):
        fit_sbg(counts, initial=(1.0, 1.0, 1.0))
    with pytest.raises(ValidationError, match="initial value of 'beta' must be > 0"):
        fit_sbg(counts, initial=(1.0, 0.0))
    with pytest.raises(ValidationError, match="'penalizer' must be"):
        fit_sbg(counts, penalizer=-0.1)
    with pytest.raises(ValidationError, match="'period' must be a non-empty string"):
        fit_sbg(counts, period="")


def test_sbg_penalizer_shrinks_and_the_standard_errors_stay_unpenalised() -> None:
    counts = SBG_COHORTS["high_end"]
    plain, pen = fit_sbg(counts), fit_sbg(counts, penalizer=1e-3)
    assert pen.alpha < plain.alpha and pen.beta < plain.beta
    assert pen.fit is not None and pen.fit.penalizer == 1e-3
    assert pen.log_likelihood is not None and plain.log_likelihood is not None
    assert pen.log_likelihood < plain.log_likelihood


def test_gamma_gamma_and_bgbb_models_carry_the_fit() -> None:
    s = load_cdnow_summary()
    rep = s["x"] > 0
    gg = fit_gamma_gamma(s["x"][rep], s["zbar"][rep])
    assert gg.fit is not None and gg.fit.model == "Gamma-Gamma" and gg.n == 946
    assert gg.standard_errors == GammaGammaParams(*gg.fit.standard_errors)  # type: ignore[misc]
    assert [round(v, 2) for v in gg.fit.standard_errors] == [1.19, 0.29, 4.16]  # type: ignore[union-attr]
    assert GammaGammaModel(GammaGammaParams(6.25, 3.74, 15.44)).standard_errors is None
    d = load_donations()
    bb = fit_bgbb(d["frequency"], d["recency"], d["periods"], weights=d["weights"])
    assert bb.standard_errors == BGBBParams(*bb.fit.standard_errors)  # type: ignore[misc, union-attr]
    for m in (gg, bb):
        assert load_model(to_json(m)) == m


def test_gamma_gamma_fits_a_summary_alone() -> None:
    """An RFMSummary alone: its repeat customers (frequency > 0), as the arrays would be."""
    from crmcore.datasets import load_cdnow_sample
    from crmcore.valuation import summarize_transactions

    s = summarize_transactions(load_cdnow_sample(), time_unit="W", calibration_end="1997-09-30")
    rep = s.frequency > 0
    from_summary = fit_gamma_gamma(s)
    from_arrays = fit_gamma_gamma(s.frequency[rep], s.monetary_value[rep])
    assert from_summary == from_arrays and from_summary.n == 946
    doubled = fit_gamma_gamma(s, weights=np.full(len(s.frequency), 2.0))
    assert doubled.n == 2 * 946
    assert doubled.params.p == pytest.approx(from_summary.params.p, rel=1e-10)
    with pytest.raises(ValidationError, match="'monetary_value' comes from the summary"):
        fit_gamma_gamma(s, s.monetary_value)
    with pytest.raises(ValidationError, match="'monetary_value' is required"):
        fit_gamma_gamma([1, 2])
    with pytest.raises(ValidationError, match="same length"):
        fit_gamma_gamma(s, weights=[1.0, 2.0])
