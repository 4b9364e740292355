"""Covariate names (issue 13): kept from a DataFrame's columns or a mapping, shown in the
fit summary, matched by name in predictions; new-customer expectations with covariates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crmcore.datasets import load_cdnow_summary
from crmcore.errors import ValidationError
from crmcore.serialization import load_model, to_json
from crmcore.valuation import BGNBDModel, BGNBDParams, fit_bgnbd, fit_pareto_nbd


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    s = load_cdnow_summary()
    rng = np.random.default_rng(7)
    n = len(s["x"])
    df = pd.DataFrame({"age": rng.normal(size=n), "vip": rng.integers(0, 2, n).astype(float)})
    return s, df


@pytest.mark.parametrize("fit", [fit_bgnbd, fit_pareto_nbd])
def test_names_from_a_dataframe_reach_the_summary_and_json(fit, data) -> None:  # type: ignore[no-untyped-def]
    s, df = data
    m = fit(s["x"], s["t_x"], s["T"], purchase_covariates=df, dropout_covariates={"vip": df["vip"]})
    assert m.fit.names[4:] == ("purchase[age]", "purchase[vip]", "dropout[vip]")
    assert m.covariates.purchase_names == ("age", "vip")
    back = load_model(to_json(m))
    assert back.covariates == m.covariates
    # the same fit as positional arrays: only the names differ
    plain = fit(
        s["x"],
        s["t_x"],
        s["T"],
        purchase_covariates=df.to_numpy(),
        dropout_covariates=df["vip"].to_numpy(),
    )
    assert plain.fit.names[4:] == ("purchase[0]", "purchase[1]", "dropout[0]")
    assert np.allclose(plain.fit.estimates, m.fit.estimates, rtol=1e-9)


def test_predictions_match_columns_by_name(data) -> None:  # type: ignore[no-untyped-def]
    s, df = data
    m = fit_bgnbd(s["x"], s["t_x"], s["T"], purchase_covariates=df, dropout_covariates=df[["vip"]])
    x, tx, T = s["x"][:20], s["t_x"][:20], s["T"][:20]
    a = m.probability_alive(
        x, tx, T, purchase_covariates=df.iloc[:20], dropout_covariates=df[["vip"]].iloc[:20]
    )
    b = m.probability_alive(
        x,
        tx,
        T,
        purchase_covariates=df[["vip", "age"]].iloc[:20],
        dropout_covariates={"vip": df["vip"].to_numpy()[:20]},
    )
    assert np.array_equal(a, b)
    with pytest.raises(ValidationError, match=r"lack the column\(s\) \['age'\]"):
        m.probability_alive(
            x,
            tx,
            T,
            purchase_covariates=df[["vip"]].iloc[:20],
            dropout_covariates=df[["vip"]].iloc[:20],
        )


def test_new_customer_expectations_with_covariates_are_the_plain_model_per_customer(data) -> None:  # type: ignore[no-untyped-def]
    s, df = data
    m = fit_bgnbd(s["x"], s["t_x"], s["T"], purchase_covariates=df, dropout_covariates=df[["vip"]])
    rows = df.iloc[:5]
    got = m.expected_purchases(39, purchase_covariates=rows, dropout_covariates=rows[["vip"]])
    p, eff = m.params, m.covariates
    for i in range(5):
        lin_p = float(rows.iloc[i] @ np.array(eff.purchase))
        mult = np.exp(rows["vip"].iloc[i] * eff.dropout[0])
        one = BGNBDModel(BGNBDParams(p.r, p.alpha * np.exp(-lin_p), p.a * mult, p.b * mult))
        assert got[i] == pytest.approx(float(one.expected_purchases(39)[0]), rel=1e-12)
    # without covariates: the baseline customer (every covariate 0)
    base = BGNBDModel(p).expected_purchases([13, 39])
    assert np.allclose(m.expected_purchases([13, 39]), base, rtol=1e-14)
    pmf = m.probability_of_purchases(
        np.arange(200),
        39,
        purchase_covariates=rows.iloc[:1],
        dropout_covariates=rows[["vip"]].iloc[:1],
    )
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert (np.arange(200) * pmf).sum() == pytest.approx(got[0], rel=1e-8)


def test_new_customers_counted_from_a_mapping_of_covariates(data) -> None:  # type: ignore[no-untyped-def]
    s, df = data
    m = fit_bgnbd(s["x"], s["t_x"], s["T"], purchase_covariates=df, dropout_covariates=df[["vip"]])
    rows = {"age": [0.0, 1.0], "vip": [0.0, 1.0]}
    got = m.expected_purchases(39, purchase_covariates=rows, dropout_covariates={"vip": [0.0, 1.0]})
    same = m.expected_purchases(
        39,
        purchase_covariates=pd.DataFrame(rows),
        dropout_covariates=pd.DataFrame({"vip": [0.0, 1.0]}),
    )
    assert len(got) == 2 and np.array_equal(got, same)
