"""Issue 12, the array side of segmentation, satisfaction, anomaly and pipeline.

Numbers (lengths named before broadcasting, finite-but-extreme inputs, scalar
options through crmcore.options) and the one NaN policy of crmcore.arrays:
``f(x, nan_policy="omit") == f(x[~nan])`` with every index mapped to the
caller's rows, and ``propagate`` giving NaN (or "unscored") exactly on the
missing rows, for every function of these packages that takes ``nan_policy``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import CRMError, ValidationError
from crmcore.pipeline import backtest, forecast, win_probabilities
from crmcore.pipeline.presets import B2B
from crmcore.pipeline.synthetic import synthetic_pipeline
from crmcore.satisfaction import (
    DampeningWeights,
    classify_quadrants,
    competition_scenario,
    csat_by_group,
    csat_score,
    effective_competition,
    marginal_gain,
    preset_curve,
    preset_model,
    uplift_value,
)
from crmcore.segmentation import (
    CostRates,
    abc_classes,
    activity_costs,
    concentration,
    customer_profitability,
    entry_costs,
    gini,
    lorenz_curve,
    profit_quantile_table,
    quantile_scores,
    rfm_scores,
    whale_curve,
)

HUGE = 10**400
FEW = settings(max_examples=25, deadline=None)

# -- strategies -----------------------------------------------------------------------------


def _with_nan(elements: st.SearchStrategy[float], min_size: int = 1) -> st.SearchStrategy[Any]:
    """(values, nan mask): a list of values with some NaN rows (at least one row kept)."""
    return st.lists(st.tuples(elements, st.booleans()), min_size=min_size, max_size=30).filter(
        lambda rows: not all(m for _, m in rows)
    )


def _split(rows: list[tuple[float, bool]]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([v for v, _ in rows], dtype=float)
    nan = np.array([m for _, m in rows], dtype=bool)
    x[nan] = np.nan
    return x, nan


positive = st.floats(0.0, 1e6, allow_nan=False)
level = st.integers(1, 5).map(float)


# -- findings: NaN policy ----------------------------------------------------------------------


def test_quantile_scores_propagate_is_not_omit() -> None:
    x = [4.0, math.nan, 1.0]
    assert quantile_scores(x, bins=2, nan_policy="propagate").tolist() == [2, 0, 1]
    assert quantile_scores(x, bins=2, nan_policy="omit").tolist() == [2, 1]


def test_rfm_omit_does_not_rank_the_omitted_customer() -> None:
    # customer 1 has a NaN monetary: with omit it must not count in recency/frequency either
    r, f, m = [1.0, 2.0, 3.0, 4.0], [4, 3, 2, 1], [10.0, math.nan, 30.0, 40.0]
    got = rfm_scores(r, f, m, bins=2, nan_policy="omit", customer_ids=["a", "b", "c", "d"])
    kept = rfm_scores([1.0, 3.0, 4.0], [4, 2, 1], [10.0, 30.0, 40.0], bins=2)
    assert got.recency.tolist() == kept.recency.tolist()
    assert got.frequency.tolist() == kept.frequency.tolist()
    assert got.monetary.tolist() == kept.monetary.tolist()
    assert got.customer_ids is not None and got.customer_ids.tolist() == ["a", "c", "d"]


def test_uplift_top_indexes_the_callers_rows() -> None:
    sat = np.array([3.0, math.nan, 4.0, 1.0])
    clv = np.array([100.0, 1e6, 100.0, 5.0])
    up = uplift_value(preset_curve("high"), sat, clv, nan_policy="omit")
    kept = uplift_value(preset_curve("high"), sat[[0, 2, 3]], clv[[0, 2, 3]])
    assert up.top(3).tolist() == np.array([0, 2, 3])[kept.order].tolist()
    # the docs' idiom picks the right customers: the 4 is worth most under high competition
    assert sat[up.top(1)].tolist() == [4.0]


# -- findings: extreme but finite numbers ---------------------------------------------------


def test_gini_and_curves_of_huge_values_are_finite_and_right() -> None:
    assert gini([1e308, 1.0]) == 0.5
    assert gini([1e308, 1e308]) == 0.0
    assert gini([1e308, 1e308, 0.0], corrected=True) == pytest.approx(0.5)
    _, lor = lorenz_curve([1e308, 1e308])
    assert lor.tolist() == [0.0, 0.5, 1.0]
    c = concentration([1e308, 1e308, 1e300])
    assert c.top_share(1 / 3) == pytest.approx(0.5, rel=1e-6)
    assert c.customers_for_share(0.9) == 2
    assert abc_classes([1e308, 1e308, 1.0]).codes.tolist() == [0, 0, 2]
    w = whale_curve([1e308, -1e307, 1.0])
    assert math.isfinite(w.peak_share) and w.peak_share == pytest.approx(1e308 / 9e307)


def test_overflowing_sums_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="'profit' overflows"):
        whale_curve([1e308, 1e308])
    rates = CostRates({"visit": 4.0})
    with pytest.raises(ValidationError, match="overflows the float range"):
        activity_costs([0], ["visit"], rates=rates, n_customers=1, quantity=[1e308])
    with pytest.raises(ValidationError, match="cost_of_goods.*overflows"):
        customer_profitability([0.0], [1e308], [1e308])
    with pytest.raises(ValidationError, match="'revenue'"):
        profit_quantile_table([1e308, 1e308], [0.0, 0.0], groups=1)
    with pytest.raises(ValidationError, match="'value'"):
        competition_scenario(
            preset_model(), [1, 1], value=[1e308, 1e308], competition_before=0.0,
            competition_after=1.0,
        )  # fmt: skip


# -- findings: lengths named before broadcasting -------------------------------------------


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (
            lambda: activity_costs(
                [0, 1], ["visit"], rates=CostRates({"visit": 1.0}), n_customers=2
            ),
            ["customer has 2", "activity has 1"],
        ),
        (
            lambda: activity_costs(
                [0, 1], ["visit"] * 2, rates=CostRates({"visit": 1.0}), n_customers=2, quantity=[1]
            ),
            ["quantity has 1"],
        ),
        (lambda: entry_costs([0], ["x", "y"], [1.0, 2.0], n_customers=1), ["customer has 1"]),
        (lambda: customer_profitability([1.0], [1.0, 2.0], [0.0]), ["cost_of_goods has 2"]),
        (lambda: profit_quantile_table([1.0, 2.0], [1.0], groups=1), ["cost has 1"]),
        (lambda: rfm_scores([1, 2], [1, 2], [1.0], bins=2), ["monetary has 1"]),
        (lambda: rfm_scores([1.0, 2.0], [1, 2, 3], [1.0, 2.0]), ["frequency has 3"]),
        (lambda: uplift_value(preset_model(), [1, 2], [1.0]), ["clv has 1"]),
        (lambda: marginal_gain(preset_model(), [1, 2], [0.5]), ["competition has 1"]),
        (lambda: classify_quadrants([1, 2], [0.5]), ["loyalty has 1"]),
        (lambda: csat_by_group([1, 2], [0]), ["group has 1"]),
        (
            lambda: competition_scenario(
                preset_model(), [1, 2], value=[1.0], competition_before=0.0, competition_after=1.0
            ),
            ["value has 1"],
        ),
        (lambda: effective_competition([0.5, 0.5], switching_cost=[0.1]), ["switching_cost has 1"]),
    ],
)
def test_lengths_are_named(call: Callable[[], object], names: list[str]) -> None:
    with pytest.raises(ValidationError, match="same length") as e:
        call()
    for n in names:
        assert n in str(e.value)


# -- findings: options -------------------------------------------------------------------------

_PIPE = synthetic_pipeline(B2B, n_opportunities=40, seed=1)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda v: quantile_scores([1.0, 2.0], bins=v), "bins"),
        (lambda v: rfm_scores([1], [1], [1.0], bins=v), "bins"),
        (lambda v: abc_classes([1.0, 2.0], cutoffs=(0.5, v)), "cutoffs[1]"),
        (lambda v: concentration([1.0, 2.0]).top_share(v), "x"),
        (lambda v: concentration([1.0, 2.0]).customers_for_share(v), "y"),
        (lambda v: concentration([1.0, 2.0]).top_value(v), "k"),
        (lambda v: profit_quantile_table([1.0], [0.0], groups=v), "groups"),
        (
            lambda v: activity_costs([0], ["a"], rates=CostRates({"a": 1.0}), n_customers=v),
            "n_customers",
        ),
        (lambda v: uplift_value(preset_curve("high"), [4], [1.0]).top(v), "n"),
        (lambda v: csat_score([4], satisfied_from=v), "satisfied_from"),
        (lambda v: classify_quadrants([4], [1.0], loyal_from=v), "loyal_from"),
        (lambda v: DampeningWeights(switching_cost=v), "switching_cost"),
        (lambda v: forecast(_PIPE.history, B2B, months=v), "months"),
        (lambda v: forecast(_PIPE.history, B2B, level=v), "level"),
        (lambda v: win_probabilities(_PIPE.history, B2B, prior_weight=v), "prior_weight"),
    ],
)
@pytest.mark.parametrize(
    "value",
    [HUGE, -HUGE, math.nan, math.inf, "3", True],
    ids=["huge", "-huge", "nan", "inf", "str", "bool"],
)
def test_scalar_options_are_checked_by_name(
    call: Callable[[object], object], field: str, value: object
) -> None:
    with pytest.raises(ValidationError, match=f"'{field}'".replace("[", r"\[").replace("]", r"\]")):
        call(value)


@pytest.mark.parametrize(
    ("call", "field", "allowed"),
    [
        (lambda: quantile_scores([1.0], nan_policy="drop"), "nan_policy", "omit"),  # type: ignore[arg-type]
        (lambda: gini([1.0], nan_policy="drop"), "nan_policy", "propagate"),
        (lambda: lorenz_curve([1.0], nan_policy="propagate"), "nan_policy", "'raise' or 'omit'"),
        (lambda: forecast(_PIPE.history, B2B, method="median"), "method", "'stage'"),  # type: ignore[arg-type]
        (
            lambda: backtest(_PIPE.history, B2B, as_of="2025-01-01", methods=("median",)),  # type: ignore[arg-type]
            "method",
            "'history'",
        ),
    ],
)
def test_enum_strings_name_the_field_and_the_choices(
    call: Callable[[], object], field: str, allowed: str
) -> None:
    with pytest.raises(ValidationError, match=f"'{field}'") as e:
        call()
    assert allowed in str(e.value)


def test_rfm_summary_monetary_choice() -> None:
    from crmcore.segmentation import rfm_summary
    from crmcore.tables import TransactionLog

    log = TransactionLog.from_arrays(customer_ids=["a"], timestamps=["2020-01-01"], amounts=[1.0])
    with pytest.raises(ValidationError, match="'monetary' must be one of 'total', 'mean'"):
        rfm_summary(log, "2020-02-01", monetary="median")


# -- findings: empty inputs and bad types give crmcore errors -------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: gini([]),
        lambda: lorenz_curve([]),
        lambda: whale_curve([]),
        lambda: concentration([]).top_share(0.5),
        lambda: profit_quantile_table([], [], groups=1),
        lambda: csat_score([]),
        lambda: csat_by_group([], []),
        lambda: competition_scenario(
            preset_model(), [], value=[], competition_before=0.0, competition_after=1.0
        ),
        lambda: csat_score([math.nan], nan_policy="omit"),
        lambda: uplift_value({"floor": 0.1}, [1], [1.0]),  # type: ignore[arg-type]
    ],
)
def test_empty_or_wrong_inputs_raise_crmcore_errors(call: Callable[[], object]) -> None:
    with pytest.raises(CRMError):
        call()


def test_empty_inputs_that_have_an_answer() -> None:
    assert quantile_scores([], bins=3).tolist() == []
    assert quantile_scores([math.nan], bins=3, nan_policy="omit").tolist() == []
    assert rfm_scores([], [], [], bins=2).recency.tolist() == []
    assert abc_classes([]).codes.tolist() == []
    assert abc_classes([math.nan], nan_policy="propagate").codes.tolist() == [-1]
    assert concentration([]).gini.__self__.n == 0
    assert activity_costs([], [], rates=CostRates({}), n_customers=2).total().tolist() == [0.0, 0.0]
    assert classify_quadrants([], []).counts()["loyalist"] == 0
    assert effective_competition([]).tolist() == []


# -- the property: omit == the function on the kept rows; propagate marks the missing rows -


@FEW
@given(_with_nan(positive), st.integers(2, 6), st.booleans())
def test_quantile_scores_policies(rows: list[tuple[float, bool]], q: int, rev: bool) -> None:
    x, nan = _split(rows)
    kept = quantile_scores(x[~nan], q, reverse=rev)
    assert quantile_scores(x, q, reverse=rev, nan_policy="omit").tolist() == kept.tolist()
    prop = quantile_scores(x, q, reverse=rev, nan_policy="propagate")
    assert (prop[nan] == 0).all() and prop[~nan].tolist() == kept.tolist()


@FEW
@given(_with_nan(positive), st.lists(positive, min_size=30, max_size=30), st.integers(2, 5))
def test_rfm_scores_policies(rows: list[tuple[float, bool]], other: list[float], q: int) -> None:
    m, nan = _split(rows)
    n = len(m)
    r = np.array(other[:n])
    f = np.arange(n)[::-1]
    kept = rfm_scores(r[~nan], f[~nan], m[~nan], bins=q)
    got = rfm_scores(r, f, m, bins=q, nan_policy="omit")
    for a, b in ((got.recency, kept.recency), (got.frequency, kept.frequency),
                 (got.monetary, kept.monetary)):  # fmt: skip
        assert a.tolist() == b.tolist()
    prop = rfm_scores(r, f, m, bins=q, nan_policy="propagate")
    assert (prop.cells()[nan] == 0).all()
    assert prop.cells()[~nan].tolist() == kept.cells().tolist()


@FEW
@given(_with_nan(st.floats(0.0, 1e300, allow_nan=False)))
def test_concentration_gini_lorenz_policies(rows: list[tuple[float, bool]]) -> None:
    x, nan = _split(rows)
    kept = x[~nan]
    if kept.sum() > 0:
        assert gini(x, nan_policy="omit") == gini(kept)
        assert lorenz_curve(x, nan_policy="omit")[1].tolist() == lorenz_curve(kept)[1].tolist()
        c = concentration(x, nan_policy="omit")
        assert c.total == concentration(kept).total and c.nan_omitted == int(nan.sum())
        assert 0.0 <= gini(x, nan_policy="omit") <= 1.0
    if nan.any() or kept.sum() > 0:
        assert math.isnan(gini(x, nan_policy="propagate")) == bool(nan.any())


@FEW
@given(_with_nan(st.floats(0.0, 1e6, allow_nan=False)))
def test_abc_policies(rows: list[tuple[float, bool]]) -> None:
    x, nan = _split(rows)
    if x[~nan].sum() <= 0:  # shares of a zero total are undefined (an error, tested elsewhere)
        return
    kept = abc_classes(x[~nan])
    assert abc_classes(x, nan_policy="omit").codes.tolist() == kept.codes.tolist()
    prop = abc_classes(x, nan_policy="propagate").codes
    assert (prop[nan] == -1).all() and prop[~nan].tolist() == kept.codes.tolist()


@FEW
@given(_with_nan(st.floats(-1e6, 1e6, allow_nan=False)))
def test_whale_curve_omit(rows: list[tuple[float, bool]]) -> None:
    x, nan = _split(rows)
    if x[~nan].sum() <= 0:
        return
    assert whale_curve(x, nan_policy="omit") == whale_curve(x[~nan])
    with pytest.raises(ValidationError, match="'raise' or 'omit'"):
        whale_curve(x, nan_policy="propagate")


@FEW
@given(_with_nan(st.floats(0.0, 100.0, allow_nan=False)))
def test_cost_breakdowns_policies(rows: list[tuple[float, bool]]) -> None:
    qty, nan = _split(rows)
    n = len(qty)
    cust = np.arange(n) % 3
    act = np.array(["call", "visit"] * n)[:n]
    rates = CostRates({"call": 4.0, "visit": 80.0})
    kept = activity_costs(cust[~nan], act[~nan], rates=rates, n_customers=3, quantity=qty[~nan])
    got = activity_costs(cust, act, rates=rates, n_customers=3, quantity=qty, nan_policy="omit")
    assert got.total().tolist() == kept.total().tolist()
    e_kept = entry_costs(cust[~nan], act[~nan], qty[~nan], n_customers=3)
    e_got = entry_costs(cust, act, qty, n_customers=3, nan_policy="omit")
    assert e_got.total().tolist() == e_kept.total().tolist()
    prop = entry_costs(cust, act, qty, n_customers=3, nan_policy="propagate").total()
    touched = np.zeros(3, bool)
    touched[cust[nan]] = True
    assert np.isnan(prop).tolist() == touched.tolist()


@FEW
@given(_with_nan(positive), st.lists(positive, min_size=30, max_size=30), st.integers(1, 3))
def test_profitability_policies(
    rows: list[tuple[float, bool]], other: list[float], groups: int
) -> None:
    rev, nan = _split(rows)
    cogs = np.array(other[: len(rev)])
    cts = cogs / 2
    kept = customer_profitability(rev[~nan], cogs[~nan], cts[~nan])
    got = customer_profitability(rev, cogs, cts, nan_policy="omit")
    assert got.profit.tolist() == kept.profit.tolist()
    prop = customer_profitability(rev, cogs, cts, nan_policy="propagate").profit
    assert np.isnan(prop).tolist() == nan.tolist() and prop[~nan].tolist() == kept.profit.tolist()
    if (~nan).sum() >= groups:
        assert profit_quantile_table(rev, cogs, groups=groups, nan_policy="omit") == (
            profit_quantile_table(rev[~nan], cogs[~nan], groups=groups)
        )


@FEW
@given(_with_nan(level), st.lists(positive, min_size=30, max_size=30),
       st.lists(st.floats(0.0, 1.0), min_size=30, max_size=30))  # fmt: skip
def test_satisfaction_scoring_policies(
    rows: list[tuple[float, bool]], clv_l: list[float], comp_l: list[float]
) -> None:
    sat, nan = _split(rows)
    n = len(sat)
    clv, comp = np.array(clv_l[:n]), np.array(comp_l[:n])
    model = preset_model()
    keep = ~nan
    # element-wise: omit == kept rows; propagate NaN exactly on the missing rows
    mg = marginal_gain(model, sat[keep], comp[keep])
    assert marginal_gain(model, sat, comp, nan_policy="omit").tolist() == mg.tolist()
    prop = marginal_gain(model, sat, comp, nan_policy="propagate")
    assert np.isnan(prop).tolist() == nan.tolist() and prop[keep].tolist() == mg.tolist()
    p = model.probability(sat[keep], comp[keep])
    assert model.probability(sat, comp, nan_policy="omit").tolist() == p.tolist()
    prop = model.probability(sat, comp, nan_policy="propagate")
    assert np.isnan(prop).tolist() == nan.tolist()
    # ranking: values on the kept rows, order and top() in the caller's rows
    up = uplift_value(model, sat, clv, comp, nan_policy="omit")
    ref = uplift_value(model, sat[keep], clv[keep], comp[keep])
    assert up.value.tolist() == ref.value.tolist()
    assert up.order.tolist() == np.flatnonzero(keep)[ref.order].tolist()
    assert up.top(3).tolist() == np.flatnonzero(keep)[ref.top(3)].tolist()
    prop_up = uplift_value(model, sat, clv, comp, nan_policy="propagate")
    assert np.isnan(prop_up.value).tolist() == nan.tolist()
    assert sorted(prop_up.order[: int(keep.sum())].tolist()) == np.flatnonzero(keep).tolist()
    # aggregates: CSAT over the answers given; NaN with propagate
    assert csat_score(sat, nan_policy="omit") == csat_score(sat[keep])
    assert math.isnan(csat_score(sat, nan_policy="propagate")) == bool(nan.any())
    g = np.zeros(n, dtype=int)
    assert (
        csat_by_group(sat, g, nan_policy="omit").tolist()
        == csat_by_group(sat[keep], g[keep]).tolist()
    )
    loy = comp
    assert classify_quadrants(sat, loy, nan_policy="omit").codes.tolist() == (
        classify_quadrants(sat[keep], loy[keep]).codes.tolist()
    )
    kw = {"competition_before": 0.0, "competition_after": 1.0}
    a = competition_scenario(model, sat, value=clv, nan_policy="omit", **kw)
    b = competition_scenario(model, sat[keep], value=clv[keep], **kw)
    assert a.value_at_risk.tolist() == b.value_at_risk.tolist()
    assert a.customer_risk.tolist() == b.customer_risk.tolist()


@FEW
@given(_with_nan(st.floats(0.0, 1.0)), st.lists(st.floats(0.0, 1.0), min_size=30, max_size=30))
def test_effective_competition_policies(rows: list[tuple[float, bool]], sw_l: list[float]) -> None:
    raw, nan = _split(rows)
    sw = np.array(sw_l[: len(raw)])
    kept = effective_competition(raw[~nan], switching_cost=sw[~nan])
    assert effective_competition(raw, switching_cost=sw, nan_policy="omit").tolist() == (
        kept.tolist()
    )
    prop = effective_competition(raw, switching_cost=sw, nan_policy="propagate")
    assert np.isnan(prop).tolist() == nan.tolist() and prop[~nan].tolist() == kept.tolist()


@FEW
@given(_with_nan(st.floats(0.0, 100.0, allow_nan=False)))
def test_tier_set_policies(rows: list[tuple[float, bool]]) -> None:
    from crmcore.segmentation import Tier, TierSet, cond, not_

    x, nan = _split(rows)
    region = np.array(["n", "s"] * len(x))[: len(x)]
    ts = TierSet(
        "t",
        (Tier("hi", cond("x", ">", 50)), Tier("mid", not_(cond("x", "<", 10))), Tier("rest")),
    )
    cols = {"x": x, "region": region}
    kept = ts.evaluate({"x": x[~nan], "region": region[~nan]})
    assert ts.evaluate(cols, nan_policy="omit").codes.tolist() == kept.codes.tolist()
    prop = ts.evaluate(cols, nan_policy="propagate").codes
    assert (prop[nan] == -1).all() and prop[~nan].tolist() == kept.codes.tolist()


def test_tier_set_lengths_are_named() -> None:
    from crmcore.segmentation import Tier, TierSet, cond

    ts = TierSet("t", (Tier("hi", cond("x", ">", 50)),))
    with pytest.raises(ValidationError, match="x has 2, y has 1"):
        ts.evaluate({"x": [1.0, 2.0], "y": [1.0]})


@FEW
@given(_with_nan(st.floats(-1e6, 1e6, allow_nan=False)))
def test_value_tiers_and_deciles_policies(rows: list[tuple[float, bool]]) -> None:
    from crmcore.segmentation import decile_groups, value_tiers

    x, nan = _split(rows)
    kept = decile_groups(x[~nan])
    assert decile_groups(x, nan_policy="omit").tolist() == kept.tolist()
    prop = decile_groups(x, nan_policy="propagate")
    assert (prop[nan] == 0).all() and prop[~nan].tolist() == kept.tolist()
    tiers = value_tiers(x[~nan]).codes
    assert value_tiers(x, nan_policy="omit").codes.tolist() == tiers.tolist()
    prop_t = value_tiers(x, nan_policy="propagate").codes
    assert (prop_t[nan] == -1).all() and prop_t[~nan].tolist() == tiers.tolist()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda cp: cp.recommend(k=HUGE), "k"),
        (lambda cp: cp.recommend(k=2.5), "k"),
        (lambda cp: cp.recommend(min_count=HUGE), "min_count"),
        (lambda cp: cp.recommend(score="support"), "score"),
        (lambda cp: cp.pairs(top=-1), "top"),
        (lambda cp: cp.pairs(min_count=HUGE), "min_count"),
    ],
)
def test_cross_sell_options(call: Callable[[Any], object], field: str) -> None:
    from crmcore.segmentation import co_purchase

    cp = co_purchase(["a", "a", "b"], ["x", "y", "x"])
    with pytest.raises(ValidationError, match=f"'{field}'"):
        call(cp)


def test_value_tiers_deciles_checked() -> None:
    from crmcore.segmentation import value_tiers

    with pytest.raises(ValidationError, match=r"'deciles\[0\]'"):
        value_tiers([1.0], deciles=(HUGE, 1, 1, 1))


def _survey(n: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    sat = rng.integers(1, 6, n).astype(float)
    comp = rng.choice([0.0, 0.5, 1.0], n)
    out = (rng.random(n) < preset_model().probability(sat, comp)).astype(float)
    return sat, out, comp


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 0.3), st.sampled_from(["sat", "out", "comp"]))
def test_loyalty_fits_omit_equal_the_fit_on_the_kept_rows(
    seed: int, share: float, col: str
) -> None:
    from crmcore.satisfaction import fit_loyalty, moderation_test

    data = dict(zip(("sat", "out", "comp"), _survey(), strict=True))
    nan = np.random.default_rng(seed).random(len(data["sat"])) < share
    data[col] = data[col].copy()
    data[col][nan] = np.nan
    sat, out, comp = data["sat"], data["out"], data["comp"]
    keep = ~nan
    got = fit_loyalty(sat, out, comp, nan_policy="omit")
    ref = fit_loyalty(sat[keep], out[keep], comp[keep])
    assert got.model == ref.model and got.log_likelihood == ref.log_likelihood
    t = moderation_test(sat, out, comp, nan_policy="omit")
    assert t.statistic == moderation_test(sat[keep], out[keep], comp[keep]).statistic
    with pytest.raises(ValidationError, match="'raise' or 'omit'"):
        fit_loyalty(sat, out, comp, nan_policy="propagate")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (({"amount": [1.0]},), "'log'"),
        ((None,), "'log'"),
    ],
)
def test_detect_refuses_a_dict_where_the_log_goes(args: tuple[Any, ...], field: str) -> None:
    from crmcore.anomaly import detect
    from crmcore.anomaly.demo import DEMO_RULES

    with pytest.raises(ValidationError, match=field):
        detect(*args, DEMO_RULES)


def test_detect_options_are_named() -> None:
    from crmcore.anomaly import detect
    from crmcore.anomaly.demo import DEMO_RULES
    from crmcore.datasets import load_cdnow_sample

    log = load_cdnow_sample()
    with pytest.raises(
        ValidationError, match="'unknown_customers' must be one of 'queue', 'error'"
    ):
        detect(log, DEMO_RULES, unknown_customers="drop")
    with pytest.raises(ValidationError, match="'customers'"):
        detect(log, DEMO_RULES, [1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_opportunities": HUGE}, "n_opportunities"),
        ({"seed": -1}, "seed"),
        ({"days": HUGE}, "days"),
        ({"n_reps": 0}, "n_reps"),
        ({"advance": 1.5}, "advance"),
        ({"mean_days_in_stage": math.inf}, "mean_days_in_stage"),
        ({"rep_skill": [math.nan]}, "rep_skill"),
        ({"products": ()}, "products"),
    ],
)
def test_synthetic_pipeline_options(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"n_opportunities": 5, "seed": 1, **kwargs}
    with pytest.raises(ValidationError, match=f"'{field}'"):
        synthetic_pipeline(B2B, **args)


def test_pipeline_coverage_and_funnel_arguments() -> None:
    from crmcore.pipeline import pipeline_coverage

    with pytest.raises(ValidationError, match="'target'"):
        pipeline_coverage(_PIPE.history, B2B, target=HUGE)
    with pytest.raises(ValidationError, match="'achieved'"):
        pipeline_coverage(_PIPE.history, B2B, target=1.0, achieved=-1.0)
    with pytest.raises(ValidationError, match="'funnel' must be a Funnel, not a dict"):
        win_probabilities(_PIPE.history, {"name": "b2b"})  # type: ignore[arg-type]


def test_forecast_of_a_history_with_nothing_open_yet() -> None:
    from crmcore.pipeline import FunnelHistory

    fh = FunnelHistory.build(_PIPE.history, B2B, as_of="2000-01-01")
    assert forecast(fh, months=2).expected.tolist() == [0.0, 0.0]


def test_wrong_objects_and_levels_are_named() -> None:
    from crmcore.satisfaction import gain_table

    with pytest.raises(ValidationError, match="'rates' must be a CostRates, not a dict"):
        activity_costs([0], ["a"], rates={"a": 1.0}, n_customers=1)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'competition'"):
        gain_table(preset_model(), HUGE)
    with pytest.raises(ValidationError, match="'competition'"):
        gain_table(preset_model(), "abc")  # type: ignore[arg-type]
    assert gain_table(preset_model(), 1.0).round(2).tolist() == [[0.0, 0.0, 0.12, 0.67]]


def test_loyalty_table_fits_take_the_nan_policy() -> None:
    from crmcore.satisfaction import fit_loyalty_table, moderation_test_table

    s = [1, 2, 3, 4, 5] * 2 + [3]
    c = [0.0] * 5 + [1.0] * 5 + [math.nan]
    k = [70, 72, 75, 85, 95, 2, 2, 5, 20, 80, 1]
    m = [100] * 11
    got = fit_loyalty_table(s, c, k, m, nan_policy="omit")
    assert got.model == fit_loyalty_table(s[:-1], c[:-1], k[:-1], m[:-1]).model
    t = moderation_test_table(s, c, k, m, nan_policy="omit")
    assert t.statistic == moderation_test_table(s[:-1], c[:-1], k[:-1], m[:-1]).statistic
    with pytest.raises(ValidationError, match="'competition' must not contain NaN"):
        fit_loyalty_table(s, c, k, m)
    with pytest.raises(ValidationError, match="'raise' or 'omit'"):
        fit_loyalty_table(s, c, k, m, nan_policy="propagate")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="total has 1"):
        fit_loyalty_table(s[:2], c[:2], k[:2], [10])
    with pytest.raises(ValidationError, match=r"'total' must sum to at most 2\*\*53 responses"):
        fit_loyalty_table([4, 5], [0.5, 0.5], [1, 1], [1e308, 1e308])


@FEW
@given(_with_nan(level), st.lists(st.integers(0, 2), min_size=30, max_size=30))
def test_curve_and_segment_probability_policies(
    rows: list[tuple[float, bool]], seg_l: list[int]
) -> None:
    sat, nan = _split(rows)
    seg = np.array(seg_l[: len(sat)], dtype=float)
    keep = ~nan
    curve = preset_curve("high")
    kept = curve.probability(sat[keep])
    assert curve.probability(sat, nan_policy="omit").tolist() == kept.tolist()
    prop = curve.probability(sat, nan_policy="propagate")
    assert np.isnan(prop).tolist() == nan.tolist() and prop[keep].tolist() == kept.tolist()
    model, levels = preset_model(), [0.0, 0.5, 1.0]
    ref = model.probability_by_segment(sat[keep], seg[keep], levels)
    assert (
        model.probability_by_segment(sat, seg, levels, nan_policy="omit").tolist() == ref.tolist()
    )
    prop = model.probability_by_segment(sat, seg, levels, nan_policy="propagate")
    assert np.isnan(prop).tolist() == nan.tolist() and prop[keep].tolist() == ref.tolist()
    if nan.any():
        with pytest.raises(ValidationError, match="'satisfaction' must not contain NaN"):
            model.probability_by_segment(sat, seg, levels)


def test_uplift_sums_beyond_the_float_range_are_refused() -> None:
    up = uplift_value(preset_model(), [4, 4, 4], [1e308] * 3, 1.0)
    assert np.isfinite(up.value).all()
    with pytest.raises(ValidationError, match="'clv'"):
        _ = up.total
    with pytest.raises(ValidationError, match="'clv'"):
        up.by_level()


def test_segment_table_lengths_are_named() -> None:
    from crmcore.segmentation import SegmentMap, SegmentRule, rfm_from_log, segment_table
    from crmcore.tables import TransactionLog

    log = TransactionLog.from_arrays(
        customer_ids=["a", "b"], timestamps=["1998-06-01", "1998-06-30"], amounts=[10.0, 5.0]
    )
    summary, _ = rfm_from_log(log, "1998-06-30", bins=2)
    other = rfm_scores([1, 2, 3], [1, 2, 3], [1.0, 2.0, 3.0], bins=2)
    with pytest.raises(ValidationError, match="segments has 3, summary has 2"):
        segment_table(summary, other.segments(SegmentMap((SegmentRule("x"),))))


def test_rule_evaluator_checks_its_inputs() -> None:
    from crmcore.segmentation import RuleEvaluator, cond

    with pytest.raises(ValidationError, match="'nan_policy'"):
        RuleEvaluator({"x": [1.0]}, 1, "bogus")
    with pytest.raises(ValidationError, match="'n'"):
        RuleEvaluator({"x": [1.0]}, HUGE)
    with pytest.raises(ValidationError, match="column 'x' must hold one value per customer"):
        RuleEvaluator({"x": [1.0, 2.0]}, 5).mask(cond("x", ">", 0))
