"""DealScoreModel's JSON: typed and versioned like every fitted model, read back equal.

Fitted models (logistic with its FitSummary, naive Bayes, with and without ``known_at``)
score every deal the same after the round trip; any valid model (hypothesis) reads back
equal through ``from_json``, ``load_model`` and a new converter; a damaged file is refused
naming the path.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.fitting import FitSummary
from crmcore.pipeline import (
    DealScoreModel,
    fit_deal_scores,
    score_deals,
    synthetic_scoring_pipeline,
)
from crmcore.pipeline.presets import B2B
from crmcore.serialization import (
    MODEL_FORMAT,
    from_dict,
    from_json,
    load_model,
    make_converter,
    to_dict,
    to_json,
)
from crmcore.valuation import BGNBDModel, BGNBDParams

PIPELINE = synthetic_scoring_pipeline(B2B, n_opportunities=300, seed=7)


@pytest.fixture(scope="module")
def fitted() -> dict[str, DealScoreModel]:
    h, as_of = PIPELINE.history, PIPELINE.as_of
    return {
        "logistic": fit_deal_scores(h, B2B, as_of=as_of, fields=PIPELINE.fields),
        "naive_bayes": fit_deal_scores(h, B2B, as_of=as_of, method="naive_bayes"),
        "known_at": fit_deal_scores(h, B2B, as_of="2024-09-01", known_at="2024-09-01"),
    }


@pytest.mark.parametrize("name", ["logistic", "naive_bayes", "known_at"])
def test_a_fitted_model_round_trips_and_scores_the_same(
    name: str, fitted: dict[str, DealScoreModel]
) -> None:
    m = fitted[name]
    text = to_json(m)
    data = json.loads(text)
    assert (data["type"], data["format"]) == ("deal_score", MODEL_FORMAT)
    assert (data["fit"] is None) == (m.method == "naive_bayes")
    for back in (
        from_json(DealScoreModel, text),
        load_model(text),
        from_dict(DealScoreModel, to_dict(m)),
        make_converter().structure(make_converter().unstructure(m), DealScoreModel),
    ):
        assert type(back) is DealScoreModel
        assert back == m
    back = load_model(text)
    fields = PIPELINE.fields if name == "logistic" else None
    a = score_deals(m, PIPELINE.history, B2B, as_of=PIPELINE.as_of, fields=fields)
    b = score_deals(back, PIPELINE.history, B2B, as_of=PIPELINE.as_of, fields=fields)
    assert len(a) > 0
    np.testing.assert_array_equal(a.probability, b.probability)
    np.testing.assert_array_equal(a.log_odds, b.log_odds)
    assert a.explain(a.opportunity_ids[0]) == b.explain(b.opportunity_ids[0])


def test_a_file_without_type_reads_as_the_class_asked(fitted: dict[str, DealScoreModel]) -> None:
    data = to_dict(fitted["naive_bayes"])
    del data["type"], data["format"]
    assert from_dict(DealScoreModel, data) == fitted["naive_bayes"]


def test_another_type_a_newer_format_and_a_bad_field_are_refused(
    fitted: dict[str, DealScoreModel],
) -> None:
    bg = to_json(BGNBDModel(BGNBDParams(0.5, 5.0, 0.8, 2.5)))
    with pytest.raises(ValidationError, match=r"cannot read BGNBDModel \(type 'bgnbd'\) as "
                       r"DealScoreModel \(type 'deal_score'\)"):  # fmt: skip
        from_json(DealScoreModel, bg)
    text = to_json(fitted["logistic"])
    with pytest.raises(ValidationError, match=r"cannot read DealScoreModel"):
        from_json(BGNBDModel, text)
    data = json.loads(text)
    with pytest.raises(ValidationError, match=r"'format' 3 is newer than this crmcore reads"):
        load_model(json.dumps({**data, "format": MODEL_FORMAT + 1}))
    bad = {**data, "levels": [data["levels"][0], 7, *data["levels"][2:]]}
    with pytest.raises(ValidationError, match=r"\$\.levels\[1\]") as e:
        from_dict(DealScoreModel, bad)
    assert e.value.problems
    with pytest.raises(ValidationError, match=r"\$\.as_of"):
        from_dict(DealScoreModel, {**data, "as_of": "2024-12-31T00:00:00"})  # naive
    with pytest.raises(ValidationError, match=r"\$\.fit\.estimates"):
        from_dict(DealScoreModel, {**data, "fit": {**data["fit"], "estimates": "x"}})
    with pytest.raises(ValidationError, match="one coefficient per level"):
        from_dict(DealScoreModel, {**data, "coefficients": [[0.0]] * len(data["factors"])})


FINITE = st.floats(allow_nan=False, allow_infinity=False)
LABEL = st.text(max_size=6)


@st.composite
def factors(draw: Any) -> tuple[str, tuple[str, ...], tuple[float, ...], tuple[float, ...]]:
    """One factor's kind, levels, edges and coefficients, as the model's checks want them."""
    kind = draw(st.sampled_from(("stage", "path", "days", "band", "label")))
    if kind in ("days", "band"):
        edges = tuple(sorted(draw(st.sets(FINITE.map(lambda x: x + 0.0), max_size=4))))
        n = len(edges) + (1 if kind == "days" else 2)
    else:
        edges = ()
        n = draw(st.integers(1, 5))
    levels = tuple(draw(st.lists(LABEL, min_size=n, max_size=n)))
    coefficients = tuple(draw(st.lists(FINITE, min_size=n, max_size=n)))
    return kind, levels, edges, coefficients


@st.composite
def deal_score_models(draw: Any) -> DealScoreModel:
    parts = draw(st.lists(factors(), max_size=4))
    names = draw(st.lists(st.text(min_size=1, max_size=8), min_size=len(parts),
                          max_size=len(parts), unique=True))  # fmt: skip
    method = draw(st.sampled_from(("logistic", "naive_bayes")))
    when = st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    )
    fit = None
    if method == "logistic" and draw(st.booleans()):
        k = draw(st.integers(1, 4))
        fit = FitSummary(
            model="deal_score",
            names=tuple(f"p{i}" for i in range(k)),
            estimates=tuple(draw(st.lists(FINITE, min_size=k, max_size=k))),
            standard_errors=None,
            covariance=None,
            log_likelihood=draw(FINITE),
            n=float(draw(st.integers(0, 10**6))),
            iterations=draw(st.integers(0, 100)),
            converged=draw(st.booleans()),
            message=draw(st.text(max_size=10)),
            penalizer=draw(st.floats(0, 10)),
        )
    n_won = draw(st.integers(0, 10**6))
    positive = st.floats(min_value=1e-6, max_value=1e6)
    return DealScoreModel(
        method=method,
        funnel=draw(st.text(max_size=8)),
        as_of=draw(when),
        known_at=draw(st.none() | when),
        factors=tuple(names),
        kinds=tuple(p[0] for p in parts),
        levels=tuple(p[1] for p in parts),
        edges=tuple(p[2] for p in parts),
        coefficients=tuple(p[3] for p in parts),
        intercept=draw(FINITE),
        centre=tuple(draw(st.lists(FINITE, min_size=len(parts), max_size=len(parts)))),
        n_deals=n_won + draw(st.integers(0, 10**6)),
        n_won=n_won,
        n_moments=draw(st.integers(0, 10**7)),
        log_likelihood=-draw(st.floats(0, 1e9)),
        fit=fit,
        prior_sd=draw(positive) if method == "logistic" else None,
        smoothing=draw(positive) if method == "naive_bayes" else None,
    )


@settings(max_examples=25, deadline=None)
@given(deal_score_models())
def test_every_valid_model_reads_back_equal(m: DealScoreModel) -> None:
    text = to_json(m)
    assert json.loads(text)["type"] == "deal_score"
    back = load_model(text)
    assert back == m
    assert to_json(back) == text  # floats, labels and times written back the same
    assert from_json(DealScoreModel, text) == m
