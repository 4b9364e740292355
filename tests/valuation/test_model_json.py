"""Portable models (issue 13): every fitted model's JSON names its type and format version."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.datasets import load_cdnow_summary, load_donations
from crmcore.errors import ValidationError
from crmcore.satisfaction import LoyaltyFit, LoyaltyModel, fit_loyalty_table
from crmcore.serialization import (
    MODEL_FORMAT,
    from_dict,
    from_json,
    load_model,
    make_converter,
    to_dict,
    to_json,
)
from crmcore.valuation import (
    BGBBModel,
    BGNBDModel,
    GammaGammaModel,
    MBGNBDModel,
    ParetoNBDModel,
    SBGModel,
    fit_bgbb,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_mbgnbd,
    fit_pareto_nbd,
    fit_sbg,
)

X = np.array([0.0, 1.0, 2.0, 5.0, 0.0, 3.0, 1.0, 4.0])
TX = np.array([0.0, 5.0, 30.43, 35.0, 0.0, 20.0, 2.0, 38.0])
T = np.full(8, 38.86)


@pytest.fixture(scope="module")
def cdnow() -> Any:
    return load_cdnow_summary()


def _predict(m: object) -> list[float]:
    """A few predictions that depend on the model's type and every parameter."""
    if isinstance(m, BGNBDModel | MBGNBDModel | ParetoNBDModel):
        return [
            *m.probability_alive(X, TX, T).tolist(),
            *m.conditional_expected_purchases(39, X, TX, T).tolist(),
        ]
    if isinstance(m, BGBBModel):
        return m.expected_purchases(6).tolist()  # type: ignore[no-any-return]
    if isinstance(m, GammaGammaModel):
        return [m.mean_transaction_value]
    if isinstance(m, SBGModel):
        return m.churn_probability([1, 2, 3]).tolist()  # type: ignore[no-any-return]
    if isinstance(m, LoyaltyFit):
        return m.model.probability([5, 4, 1], [1.0, 1.0, 0.0]).tolist()  # type: ignore[no-any-return]
    assert isinstance(m, LoyaltyModel)
    return m.probability([5, 4, 1], [1.0, 1.0, 0.0]).tolist()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def models(cdnow: Any) -> dict[str, object]:
    x, tx, t = cdnow["x"], cdnow["t_x"], cdnow["T"]
    repeat = x > 0
    fit = fit_loyalty_table([1, 2, 3, 4, 5], [0.5] * 5, [30, 34, 45, 70, 90], [100] * 5)
    d = load_donations()
    return {
        "bgnbd": fit_bgnbd(x, tx, t),
        "mbgnbd": fit_mbgnbd(x, tx, t),
        "pareto_nbd": fit_pareto_nbd(x, tx, t),
        # the published donations data (an interior maximum; ten made-up customers had none)
        "bgbb": fit_bgbb(d["frequency"], d["recency"], d["periods"], weights=d["weights"]),
        "gamma_gamma": fit_gamma_gamma(x[repeat], cdnow["zbar"][repeat]),
        "sbg": fit_sbg([1000, 869, 743, 653, 593, 551, 517, 491]),
        "loyalty_fit": fit,
        "loyalty_model": fit.model,
    }


KINDS = [
    "bgnbd",
    "mbgnbd",
    "pareto_nbd",
    "bgbb",
    "gamma_gamma",
    "sbg",
    "loyalty_fit",
    "loyalty_model",
]


def test_mbgnbd_file_is_not_read_as_bgnbd(models: dict[str, object]) -> None:
    """The finding: an MBG/NBD file loaded silently as BG/NBD (P(alive) 0.6348 for 0.7061)."""
    mb = models["mbgnbd"]
    assert isinstance(mb, MBGNBDModel)
    text = to_json(mb)
    assert round(float(mb.probability_alive(2, 30.43, 38.86)[0]), 4) == 0.7061
    with pytest.raises(ValidationError, match=r"cannot read MBGNBDModel .* as BGNBDModel") as e:
        from_json(BGNBDModel, text)
    assert e.value.problems and e.value.problems[0].startswith("$.type:")
    back = load_model(text)
    assert type(back) is MBGNBDModel
    assert round(float(back.probability_alive(2, 30.43, 38.86)[0]), 4) == 0.7061


@pytest.mark.parametrize("kind", KINDS)
def test_every_model_round_trips_with_its_type(kind: str, models: dict[str, object]) -> None:
    m = models[kind]
    cls = type(m)
    text = to_json(m)
    data = json.loads(text)
    assert data["type"] == kind
    assert data["format"] == MODEL_FORMAT == 2
    for back in (
        from_json(cls, text),
        from_dict(cls, to_dict(m)),
        load_model(text),
        make_converter().structure(make_converter().unstructure(m), cls),
    ):
        assert type(back) is cls
        assert back == m
        assert _predict(back) == _predict(m)


@pytest.mark.parametrize("kind", KINDS)
def test_every_model_refuses_the_other_types(kind: str, models: dict[str, object]) -> None:
    text = to_json(models[kind])
    for other in KINDS:
        if other == kind:
            continue
        cls = type(models[other])
        with pytest.raises(ValidationError) as e:
            from_json(cls, text)
        msg = str(e.value)
        assert f"as {cls.__name__} (type {other!r})" in msg
        assert f"cannot read {type(models[kind]).__name__} (type {kind!r})" in msg


@pytest.mark.parametrize("kind", KINDS)
def test_file_of_crmcore_01_without_type_still_loads(kind: str, models: dict[str, object]) -> None:
    m = models[kind]
    data = to_dict(m)
    del data["type"], data["format"]
    if kind == "loyalty_fit":  # the nested loyalty model was untyped too
        del data["model"]["type"], data["model"]["format"]
    back = from_json(type(m), json.dumps(data))
    assert back == m
    assert _predict(back) == _predict(m)
    data["format"] = 0  # an explicit format 0 reads the same
    assert from_dict(type(m), data) == m
    with pytest.raises(ValidationError, match=r"'text' names no model 'type'"):
        load_model(json.dumps(data))


@pytest.mark.parametrize("fmt", [3, 10**6])
def test_a_newer_format_is_refused(fmt: int, models: dict[str, object]) -> None:
    data = to_dict(models["bgnbd"])
    data["format"] = fmt
    with pytest.raises(
        ValidationError, match=rf"'format' {fmt} is newer than this crmcore reads \(2\)"
    ):
        from_dict(BGNBDModel, data)
    with pytest.raises(ValidationError, match=rf"'format' {fmt} is newer"):
        load_model(json.dumps(data))


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("format", -1, r"'format' of a BGNBDModel must be a whole number >= 0: -1"),
        ("format", "1", r"'format' of a BGNBDModel must be a whole number >= 0: '1'"),
        ("format", True, r"'format' of a BGNBDModel must be a whole number >= 0: True"),
        ("type", "gompertz", r"'type' must be one of \[.*'bgnbd'.*\]: 'gompertz'"),
        ("type", 3, r"'type' must be one of \[.*\]: 3"),
    ],
)
def test_a_bad_type_or_format_names_the_field(
    field: str, value: object, pattern: str, models: dict[str, object]
) -> None:
    data = to_dict(models["bgnbd"])
    data[field] = value
    with pytest.raises(ValidationError, match=pattern):
        from_dict(BGNBDModel, data)


def test_load_model_refuses_what_is_not_a_model() -> None:
    with pytest.raises(ValidationError, match="not valid JSON"):
        load_model("{nope")
    with pytest.raises(ValidationError, match="must hold a JSON object"):
        load_model("[1, 2]")
    with pytest.raises(ValidationError, match="must be a JSON string"):
        load_model(3)  # type: ignore[arg-type]


def test_a_model_nested_in_a_record_keeps_its_type(models: dict[str, object]) -> None:
    fit = models["loyalty_fit"]
    assert to_dict(fit)["model"]["type"] == "loyalty_model"
    data = to_dict(fit)
    data["model"] = to_dict(models["bgnbd"])
    with pytest.raises(ValidationError, match=r"\$\.model: cannot read BGNBDModel"):
        from_dict(LoyaltyFit, data)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    st.floats(0.01, 50.0),
    st.floats(0.01, 50.0),
    st.floats(0.01, 50.0),
    st.floats(0.01, 50.0),
    st.booleans(),
)
def test_round_trip_keeps_predictions_exactly(
    r: float, alpha: float, a: float, b: float, modified: bool
) -> None:
    from crmcore.valuation import BGNBDParams

    cls = MBGNBDModel if modified else BGNBDModel
    m = cls(BGNBDParams(r, alpha, a, b))
    back = load_model(to_json(m))
    assert type(back) is cls
    assert _predict(back) == _predict(m)


FORMAT_1_BGNBD = {  # what crmcore wrote before the fit summary and the time unit (format 1)
    "type": "bgnbd",
    "format": 1,
    "params": {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259},
    "standard_errors": {"r": 0.0126, "alpha": 0.3781, "a": 0.1857, "b": 0.7054},
    "log_likelihood": -9582.43,
    "n": 2357,
    "converged": True,
    "message": "Optimization terminated successfully.",
    "covariates": None,
}


def test_a_format_1_file_loads_with_its_fit_summary() -> None:
    """Older versions load: the fit's fields of format 1 become the model's FitSummary."""
    for back in (load_model(json.dumps(FORMAT_1_BGNBD)), from_dict(BGNBDModel, FORMAT_1_BGNBD)):
        assert isinstance(back, BGNBDModel)
        assert back.params.r == 0.2426 and back.time_unit is None
        assert back.fit is not None and back.fit.names == ("r", "alpha", "a", "b")
        assert back.fit.standard_errors == (0.0126, 0.3781, 0.1857, 0.7054)
        assert back.log_likelihood == -9582.43 and back.n == 2357 and back.converged
        assert back.standard_errors is not None and back.standard_errors.b == 0.7054
        again = json.loads(to_json(back))
        assert again["format"] == 2 and again["fit"]["log_likelihood"] == -9582.43


def test_the_json_of_a_model_names_type_unit_and_version(cdnow: Any) -> None:
    m = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"], time_unit="W")
    data = json.loads(to_json(m))
    assert (data["type"], data["format"], data["time_unit"]) == ("bgnbd", 2, "W")
    assert data["fit"]["names"] == ["r", "alpha", "a", "b"]
    assert load_model(to_json(m)).time_unit == "W"
