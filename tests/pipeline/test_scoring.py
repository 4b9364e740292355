"""Deal scoring: recovery of known win probabilities, back-test against the baselines,
the Odoo frequency method against a hand computation, explanations that add up, the
missing-value rule, and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from crmcore.errors import ValidationError
from crmcore.pipeline import B2B, TOP_IN_BEST, FunnelHistory
from crmcore.pipeline.scoring import (
    DealFields,
    backtest_deal_scores,
    fit_deal_scores,
    score_deals,
    synthetic_scoring_pipeline,
)
from crmcore.tables import StageHistory

CUT = "2024-06-01"


@pytest.fixture(scope="module")
def synth():  # type: ignore[no-untyped-def]
    return synthetic_scoring_pipeline(B2B, n_opportunities=20_000, seed=3)


# -- recovery and calibration --------------------------------------------------------------------
def test_logistic_model_recovers_the_true_win_probabilities(synth) -> None:  # type: ignore[no-untyped-def]
    fh = FunnelHistory.build(synth.history, B2B, as_of=CUT)
    model = fit_deal_scores(fh, fields=synth.fields)
    assert model.fit is not None and model.fit.converged and model.n_deals > 10_000
    p = score_deals(model, fh, fields=synth.fields).probability
    truth = synth.true_probability(fh)
    assert np.mean(np.abs(p - truth)) < 0.045
    assert abs(p.mean() - truth.mean()) < 0.02  # calibration in the large
    # calibration against the truth in deciles of the prediction
    order = np.argsort(p)
    for chunk in np.array_split(order, 10):
        assert abs(p[chunk].mean() - truth[chunk].mean()) < 0.05
    # the learnt effects have the signs and order of the generator's
    owner = dict(zip(model.levels[model.factors.index("owner")],
                     model.coefficients[model.factors.index("owner")], strict=True))  # fmt: skip
    reps = [owner[f"rep-{i}"] for i in range(1, 7)]
    assert reps == sorted(reps)
    src = dict(zip(model.levels[model.factors.index("source")],
                   model.coefficients[model.factors.index("source")], strict=True))  # fmt: skip
    assert src["referral"] > src["partner"] > src["event"] > src["web"] > src["(missing)"]


def test_backtest_model_beats_the_stage_probabilities_and_the_odoo_method(synth) -> None:  # type: ignore[no-untyped-def]
    bt = backtest_deal_scores(
        synth.history, B2B, as_of=CUT, fields=synth.fields,
        methods=("logistic", "naive_bayes", "stage", "history"),
    )  # fmt: skip
    b = dict(zip(bt.methods, bt.brier, strict=True))
    ll = dict(zip(bt.methods, bt.log_loss, strict=True))
    assert b["logistic"] < b["naive_bayes"] < b["stage"]
    assert b["logistic"] < b["history"]
    assert ll["logistic"] == min(ll.values())
    assert bt.best() == "logistic" and bt.best("log_loss") == "logistic"
    # the reliability table: counts add up, the model is calibrated bin by bin
    assert (bt.bin_count.sum(axis=1) == bt.n_resolved).all()
    i = bt.methods.index("logistic")
    n = bt.bin_count[i]
    gap = np.abs(bt.bin_predicted[i] - bt.bin_observed[i])
    assert np.nansum(gap * n) / n.sum() < 0.04
    assert 0 < bt.n_won < bt.n_resolved <= bt.n_open
    assert len(bt.lines()) == 4 + len(bt.methods) + 10


def test_brier_and_log_loss_match_a_direct_computation(synth) -> None:  # type: ignore[no-untyped-def]
    """Recompute the back-test of the stage method deal by deal with Python loops."""
    bt = backtest_deal_scores(synth.history, B2B, as_of=CUT, methods=("stage",))
    past = FunnelHistory.build(synth.history, B2B, as_of=CUT)
    full = FunnelHistory.build(synth.history, B2B)
    final = {int(c): int(s) for c, s in zip(full.opportunity_codes, full.final_stage, strict=True)}
    kinds = [s.kind.value for s in B2B.stages]
    sq, ll, n = 0.0, 0.0, 0
    for c, s in zip(past.opportunity_codes, past.final_stage, strict=True):
        if kinds[int(s)] != "open" or kinds[final[int(c)]] == "open":
            continue
        y = 1.0 if kinds[final[int(c)]] == "won" else 0.0
        q = B2B.stages[int(s)].probability
        sq += (q - y) ** 2
        ll -= y * math.log(q) + (1 - y) * math.log(1 - q)
        n += 1
    assert n == bt.n_resolved
    assert bt.brier[0] == pytest.approx(sq / n, rel=1e-12)
    assert bt.log_loss[0] == pytest.approx(ll / n, rel=1e-12)


# -- the Odoo frequency method by hand ------------------------------------------------------------
def _small() -> StageHistory:
    rows = [  # (deal, owner, stages)
        ("a", "ann", ["TOP", "IN", "BEST", "WIN"]),
        ("b", "ann", ["TOP", "IN", "LOST"]),
        ("c", "bob", ["TOP", "LOST"]),
        ("d", "bob", ["TOP", "IN", "BEST", "WIN"]),
        ("e", "bob", ["TOP", "LOST"]),
        ("x", "ann", ["TOP", "IN"]),  # open
    ]
    ids, seq, frm, to, at, own = [], [], [], [], [], []
    for k, (d, o, stages) in enumerate(rows):
        for i, s in enumerate(stages):
            ids.append(d)
            seq.append(i)
            frm.append(None if i == 0 else stages[i - 1])
            to.append(s)
            at.append(np.datetime64("2025-01-01") + np.timedelta64(k * 10 + i, "D"))
            own.append(o)
    return StageHistory.from_arrays(
        opportunity_ids=ids, sequence=seq, from_stage=frm, to_stage=to, at=at, owner_ids=own
    )


def test_naive_bayes_matches_a_hand_computation() -> None:
    """Won 2 (a, d), lost 3 (b, c, e). Reached IN: won 2, lost 1; owner ann: won 1, lost 1.
    With 0.1 pseudo-deals: odds(x) = (2.1/3.1) * [(2.1/2.1)/(1.1/3.1)] * [(1.1/2.1)/(1.1/3.1)]
    = 3.1/1.1, so P(win) = 3.1/4.2."""
    h = _small()
    m = fit_deal_scores(h, TOP_IN_BEST, method="naive_bayes", smoothing=0.1)
    assert m.factors == ("stage", "owner")  # no product in this history: a single level, left out
    assert m.n_deals == 5 and m.n_won == 2
    assert m.intercept == pytest.approx(math.log(2.1 / 3.1))
    stage = dict(zip(m.levels[0], m.coefficients[0], strict=True))
    assert stage["TOP"] == pytest.approx(math.log(1.0) - math.log(3.1 / 3.1))
    assert stage["IN"] == pytest.approx(-math.log(1.1 / 3.1))
    assert stage["BEST"] == pytest.approx(-math.log(0.1 / 3.1))
    owner = dict(zip(m.levels[1], m.coefficients[1], strict=True))
    assert owner["ann"] == pytest.approx(math.log(1.1 / 2.1) - math.log(1.1 / 3.1))
    assert owner["bob"] == pytest.approx(math.log(1.1 / 2.1) - math.log(2.1 / 3.1))
    s = score_deals(m, h, TOP_IN_BEST)
    assert s.opportunity_ids.tolist() == ["x"]
    assert s.probability[0] == pytest.approx(3.1 / 4.2)
    # without smoothing it is the plain frequency computation: odds (2/3) * 3 * 1.5 = 3
    m0 = fit_deal_scores(h, TOP_IN_BEST, method="naive_bayes", smoothing=1e-12)
    assert score_deals(m0, h, TOP_IN_BEST).probability[0] == pytest.approx(0.75, abs=1e-9)


def test_naive_bayes_with_the_stage_alone_is_the_reached_stage_win_rate(synth) -> None:  # type: ignore[no-untyped-def]
    from crmcore.pipeline import win_probabilities

    fh = FunnelHistory.build(synth.history, B2B, as_of=CUT)
    m = fit_deal_scores(fh, method="naive_bayes", factors=["stage"], smoothing=1e-9)
    wp = win_probabilities(fh)
    s = score_deals(m, fh)
    stage = fh.final_stage[fh.is_open]
    expect = wp.empirical[fh.stage_rank[stage]]
    np.testing.assert_allclose(s.probability, expect, rtol=1e-6)


# -- explanations add up -------------------------------------------------------------------------
def _learnable(fh: FunnelHistory) -> bool:
    """Whether a closed deal spent time in an open stage (the training moments are not empty)."""
    from crmcore.pipeline._scoring_features import training_moments

    return len(training_moments(fh)[1]) > 0


@settings(max_examples=15)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(60, 400),
    method=st.sampled_from(["logistic", "naive_bayes"]),
    prior_sd=st.floats(0.05, 20.0),
    with_fields=st.booleans(),
)
def test_contributions_sum_to_the_log_odds(
    seed: int, n: int, method: str, prior_sd: float, with_fields: bool
) -> None:
    s = synthetic_scoring_pipeline(B2B, n_opportunities=n, seed=seed, days=300)
    fields = s.fields if with_fields else None
    fh = FunnelHistory.build(s.history, B2B, as_of="2023-09-01")
    if not _learnable(fh):
        with pytest.raises(ValidationError, match="nothing to learn from"):
            fit_deal_scores(fh, fields=fields, method=method)
        return
    m = fit_deal_scores(fh, fields=fields, method=method, prior_sd=prior_sd)
    sc = score_deals(m, fh, fields=fields)
    total = m.base_log_odds + sc.contributions.sum(axis=1)
    np.testing.assert_allclose(total, sc.log_odds, atol=1e-9)
    np.testing.assert_allclose(sc.probability, expit(sc.log_odds), rtol=1e-12)
    if len(sc):
        e = sc.explain(sc.opportunity_ids[seed % len(sc)])
        assert e.base_log_odds + math.fsum(e.contributions) == pytest.approx(e.log_odds, abs=1e-9)
        assert e.probability == pytest.approx(1 / (1 + math.exp(-e.log_odds)))
        assert len(e.lines()) == 1 + len(m.factors)


STAGES = ["TOP", "IN", "BEST", "WIN", "LOST"]


@st.composite
def _histories(draw: st.DrawFn) -> StageHistory:
    """Random walks through TOP_IN_BEST: skips, back-moves, losses and reopenings."""
    n = draw(st.integers(1, 25))
    ids, seq, frm, to, at, own, amt = [], [], [], [], [], [], []
    for d in range(n):
        k = draw(st.integers(1, 7))
        path = [draw(st.sampled_from(["TOP", "IN"]))]
        for _ in range(k - 1):
            if path[-1] == "WIN":
                break
            path.append(draw(st.sampled_from(STAGES)))
        t = draw(st.integers(0, 300))
        for i, s in enumerate(path):
            ids.append(f"d{d}")
            seq.append(i)
            frm.append(None if i == 0 else path[i - 1])
            to.append(s)
            t += draw(st.integers(0, 40))
            at.append(np.datetime64("2024-01-01") + np.timedelta64(t, "D"))
            own.append(draw(st.sampled_from(["ann", "bob", "cy"])))
            amt.append(draw(st.sampled_from([np.nan, 100.0, 5000.0, 20000.0])))
    return StageHistory.from_arrays(opportunity_ids=ids, sequence=seq, from_stage=frm,
                                    to_stage=to, at=at, owner_ids=own, amount=amt)  # fmt: skip


@settings(max_examples=40)
@given(h=_histories(), method=st.sampled_from(["logistic", "naive_bayes"]))
def test_any_path_scores_and_its_explanation_adds_up(h: StageHistory, method: str) -> None:
    fh = FunnelHistory.build(h, TOP_IN_BEST, as_of="2024-08-01")
    if not _learnable(fh):
        with pytest.raises(ValidationError, match="nothing to learn from"):
            fit_deal_scores(fh, method=method)
        return
    m = fit_deal_scores(fh, method=method, min_count=1)
    sc = score_deals(m, fh)
    assert len(sc) == int(fh.is_open.sum())
    assert ((sc.probability >= 0) & (sc.probability <= 1)).all()
    np.testing.assert_allclose(m.base_log_odds + sc.contributions.sum(axis=1), sc.log_odds,
                               atol=1e-9)  # fmt: skip


def test_the_path_so_far_names_skips_back_moves_and_reopenings() -> None:
    h = StageHistory.from_arrays(
        opportunity_ids=["s", "s", "b", "b", "b", "r", "r", "r"],
        sequence=[0, 1, 0, 1, 2, 0, 1, 2],
        from_stage=[None, "TOP", None, "TOP", "IN", None, "TOP", "LOST"],
        to_stage=["TOP", "BEST", "TOP", "IN", "TOP", "TOP", "LOST", "IN"],
        at=["2025-01-01", "2025-01-02", "2025-01-01", "2025-01-02", "2025-01-03",
            "2025-01-01", "2025-01-02", "2025-01-03"],
    )  # fmt: skip
    from crmcore.pipeline._scoring_features import PATHS, path_codes

    fh = FunnelHistory.build(h, TOP_IN_BEST)
    codes = path_codes(fh)
    last = {fh.opportunity_ids[fh.opportunity_codes[o]]: PATHS[int(codes[i])]
            for i, o in enumerate(fh.ev_opp)}  # fmt: skip
    assert last == {"s": "skipped", "b": "went back", "r": "reopened"}


# -- missing values ------------------------------------------------------------------------------
def test_missing_values_have_their_own_level_in_the_model_and_are_left_out_by_naive_bayes(
    synth,  # type: ignore[no-untyped-def]
) -> None:
    fh = FunnelHistory.build(synth.history, B2B, as_of=CUT)
    lg = fit_deal_scores(fh, fields=synth.fields)
    nb = fit_deal_scores(fh, fields=synth.fields, method="naive_bayes")
    for m in (lg, nb):
        i = m.factors.index("source")
        assert m.levels[i][-2:] == ("(other)", "(missing)")
    i = lg.factors.index("source")
    assert lg.coefficients[i][-1] < -0.3  # no source recorded: learnt (the truth is -0.6)
    assert nb.coefficients[nb.factors.index("source")][-1] == 0.0  # left out
    # a deal absent from the fields, and a value never seen in training
    ids = fh.opportunity_ids[fh.opportunity_codes[fh.is_open]]
    src = np.array(["web"] * len(ids), dtype=object)
    src[0] = "fax"
    f2 = DealFields.from_arrays(
        ids[1:], {"source": src[1:], "employees": np.full(len(ids) - 1, 5.0)}
    )
    sc = score_deals(lg, fh, fields=f2)
    e = sc.explain(ids[0])
    assert e.levels[lg.factors.index("source")] == "(missing)"
    assert e.levels[lg.factors.index("employees")] == "(missing)"
    f3 = DealFields.from_arrays(ids, {"source": src, "employees": np.full(len(ids), np.nan)})
    e3 = score_deals(lg, fh, fields=f3).explain(ids[0])
    assert e3.levels[lg.factors.index("source")] == "(other)"
    assert e3.contributions[lg.factors.index("source")] == 0.0  # never seen in training: typical
    assert e3.levels[lg.factors.index("employees")] == "(missing)"


def test_deals_without_an_amount_fall_in_the_missing_band() -> None:
    h = _small()
    amt = np.where(np.isin(h.opportunity, [0, 3]), 5000.0, np.nan)
    h2 = StageHistory.from_arrays(
        opportunity_ids=h.opportunity_ids[h.opportunity], sequence=h.sequence,
        from_stage=[None if c < 0 else h.stages[c] for c in h.from_stage],
        to_stage=h.stages[h.to_stage], at=h.at, owner_ids=h.owner_ids[h.owner], amount=amt,
    )  # fmt: skip
    m = fit_deal_scores(h2, TOP_IN_BEST, min_count=1)
    i = m.factors.index("amount")
    e = score_deals(m, h2, TOP_IN_BEST).explain("x")
    assert e.levels[i] == "(missing)"


# -- errors --------------------------------------------------------------------------------------
def test_inputs_are_checked_with_clear_errors(synth) -> None:  # type: ignore[no-untyped-def]
    h = synth.history
    with pytest.raises(ValidationError, match="'funnel' is needed"):
        fit_deal_scores(h)
    with pytest.raises(ValidationError, match="'method' must be one of"):
        fit_deal_scores(h, B2B, method="svm")
    with pytest.raises(ValidationError, match=r"'factors' must name factors among .*'colour'"):
        fit_deal_scores(h, B2B, factors=["stage", "colour"])
    with pytest.raises(ValidationError, match="'prior_sd' must be in"):
        fit_deal_scores(h, B2B, prior_sd=0)
    with pytest.raises(ValidationError, match="'fields' must be a DealFields"):
        fit_deal_scores(h, B2B, fields={"source": []})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="nothing to learn from"):
        fit_deal_scores(h, B2B, as_of="2022-01-01")
    with pytest.raises(ValidationError, match="has closed since"):
        backtest_deal_scores(h, B2B, as_of=synth.as_of)
    with pytest.raises(ValidationError, match="'methods' must be one of"):
        backtest_deal_scores(h, B2B, as_of=CUT, methods=("stage", "magic"))
    m = fit_deal_scores(h, B2B, as_of=CUT, factors=["stage", "owner"])
    with pytest.raises(ValidationError, match="open stage 'TOP' of funnel 'top-in-best'"):
        score_deals(m, _small(), TOP_IN_BEST)
    with pytest.raises(ValidationError, match="is not an open deal"):
        score_deals(m, h, B2B, as_of=CUT).explain("nope")
    with pytest.raises(ValidationError, match="'opportunity_ids' must not repeat an id: 'a'"):
        DealFields.from_arrays(["a", "b", "a"], {"x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValidationError, match="'region' must have one value per opportunity"):
        DealFields.from_arrays(["a", "b"], {"region": ["n"]})
    with pytest.raises(ValidationError, match="'region' must not contain|mixes label kinds"):
        DealFields.from_arrays(["a", "b"], {"region": ["n", 3]})


# -- the weighted pipeline and the forecast ------------------------------------------------------
def test_weighted_pipeline_and_forecast_take_the_scores(synth) -> None:  # type: ignore[no-untyped-def]
    import attrs

    from crmcore.pipeline import forecast, weighted_pipeline

    fh = FunnelHistory.build(synth.history, B2B, as_of=CUT)
    scores = score_deals(fit_deal_scores(fh, fields=synth.fields), fh, fields=synth.fields)
    plain, scored = weighted_pipeline(fh), weighted_pipeline(fh, scores=scores)
    amount = np.nan_to_num(fh.amount[fh.is_open])
    assert scored.weighted_total == pytest.approx(float(amount @ scores.probability))
    assert scored.open_total == plain.open_total and (scored.count == plain.count).all()
    stage = fh.final_stage[fh.is_open]
    by_stage = np.bincount(stage, weights=amount * scores.probability, minlength=len(B2B.stages))
    np.testing.assert_allclose(scored.weighted, by_stage)
    assert scored.category_weighted.sum() == pytest.approx(scored.weighted_total)
    # scores equal to the stage probabilities give the stage method's forecast
    same = attrs.evolve(scores, probability=fh.stage_probability[stage])
    by_scores, by_stage_p = forecast(fh, scores=same), forecast(fh, method="stage")
    np.testing.assert_allclose(by_scores.expected, by_stage_p.expected)
    assert by_scores.method == "scores"
    assert forecast(fh, scores=scores).total_expected > 0
    later = FunnelHistory.build(synth.history, B2B, as_of="2024-07-01")
    with pytest.raises(ValidationError, match="score the same history"):
        weighted_pipeline(later, scores=scores)
    with pytest.raises(ValidationError, match="have no score for open opportunity"):
        weighted_pipeline(fh, scores=attrs.evolve(
            scores, opportunity_ids=scores.opportunity_ids[1:], probability=scores.probability[1:],
            log_odds=scores.log_odds[1:], levels=scores.levels[1:]))  # fmt: skip


def test_rare_labels_share_the_other_level_and_unseen_ones_join_it(synth) -> None:  # type: ignore[no-untyped-def]
    fh = FunnelHistory.build(synth.history, B2B, as_of=CUT)
    ids = fh.opportunity_ids[fh.opportunity_codes]
    rng = np.random.default_rng(0)
    region = np.where(
        rng.random(len(ids)) < 0.002, "island", rng.choice(["north", "south"], len(ids))
    )
    fields = DealFields.from_arrays(ids, {"region": region.astype(object)})
    m = fit_deal_scores(fh, fields=fields, factors=["stage", "region"], min_count=100)
    i = m.factors.index("region")
    assert m.levels[i] == ("north", "south", "(other)", "(missing)")
    m1 = fit_deal_scores(fh, fields=fields, factors=["stage", "region"], min_count=1)
    assert "island" in m1.levels[m1.factors.index("region")]


def test_a_model_scores_a_later_date_and_fields_come_from_pandas(synth) -> None:  # type: ignore[no-untyped-def]
    pd = pytest.importorskip("pandas")
    m = fit_deal_scores(synth.history, B2B, as_of=CUT, fields=synth.fields)
    f = synth.fields
    frame = pd.DataFrame({
        "id": f.opportunity_ids,
        "source": pd.Series(f.labels[0][np.maximum(f.values[0], 0)]).where(f.values[0] >= 0, None),
        "employees": f.values[1],
    })  # fmt: skip
    fields = DealFields.from_arrays(
        frame["id"], {"source": frame["source"], "employees": frame["employees"]}
    )
    assert fields.kinds == ("label", "number")
    later = score_deals(m, synth.history, B2B, as_of="2024-09-01", fields=fields)
    same = score_deals(m, synth.history, B2B, as_of="2024-09-01", fields=synth.fields)
    assert str(later.as_of)[:10] == "2024-09-01" and m.as_of.isoformat()[:10] == "2024-06-01"
    np.testing.assert_array_equal(later.probability, same.probability)
