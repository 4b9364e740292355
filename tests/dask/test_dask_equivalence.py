"""crmcore.dask equals the single-machine functions, on a local cluster of 2 workers.

Every figure is compared with the single-machine function on the same rows: the CDNOW
sample and random data with ties, under one partition, many, and customers split across
partitions (rows shuffled before partitioning). One cluster for the session
(tests/dask/conftest.py).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from crmcore.anomaly import CustomerContext, detect  # noqa: E402
from crmcore.anomaly.demo import DEMO_RULES  # noqa: E402
from crmcore.dask import (  # noqa: E402
    ThreadsPlugin,
    concentration_dask,
    detect_dask,
    fit_from_statistics,
    rfm_dask,
    score_dask,
    summarize_dask,
    tier_migration_dask,
    value_tiers_dask,
)
from crmcore.dask.partitions import in_threads  # noqa: E402
from crmcore.datasets import load_cdnow_sample  # noqa: E402
from crmcore.errors import FitError, ValidationError  # noqa: E402
from crmcore.parallel import get_threads, set_threads  # noqa: E402
from crmcore.segmentation import (  # noqa: E402
    abc_classes,
    concentration,
    rfm_from_log,
    tier_migration,
    value_tiers,
)
from crmcore.tables import TransactionLog  # noqa: E402
from crmcore.valuation import (  # noqa: E402
    customer_lifetime_value,
    fit_bgbb,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_ggompertz_nbd,
    fit_mbgnbd,
    fit_pareto_nbd,
    summarize_transactions,
)

CAL, OBS = "1997-09-30", "1998-06-30"


def _cdnow_frame() -> Any:
    """The CDNOW sample as rows ordered by customer, time and amount (the order the Dask
    path sums one period's purchases in), with transaction ids."""
    f = load_cdnow_sample().to_pandas().rename(columns={"time": "occurred_at"})
    f = f[["customer_id", "occurred_at", "amount", "kind"]]
    f = f.sort_values(["customer_id", "occurred_at", "amount"], kind="stable", ignore_index=True)
    f["id"] = [f"t{i}" for i in range(len(f))]
    return f


def _log(frame: Any) -> TransactionLog:
    return TransactionLog.from_arrays(
        customer_ids=frame["customer_id"].to_numpy(),
        timestamps=frame["occurred_at"],
        amounts=frame["amount"].to_numpy(),
        kinds=frame["kind"].to_numpy() if "kind" in frame.columns else None,
        ids=frame["id"].to_numpy(dtype=object) if "id" in frame.columns else None,
    )


def _partitionings(frame: Any) -> list[tuple[str, Any]]:
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    return [
        ("one partition", dd.from_pandas(frame, npartitions=1)),
        ("many partitions", dd.from_pandas(frame, npartitions=4, sort=False)),
        ("customers split", dd.from_pandas(shuffled, npartitions=3, sort=False)),
    ]


def _by_id(frame: Any, column: str = "customer_id") -> Any:
    return frame.sort_values(column, ignore_index=True)


CDNOW = _cdnow_frame()
CDNOW_LOG = _log(CDNOW)
CDNOW_SUMMARY = summarize_transactions(
    CDNOW_LOG, time_unit="W", calibration_end=CAL, observation_end=OBS
)


@pytest.mark.parametrize("label", ["one partition", "many partitions", "customers split"])
def test_summary_equals_single_machine_on_cdnow(client: Any, label: str) -> None:
    ddf = dict(_partitionings(CDNOW))[label]
    got = summarize_dask(
        ddf, kind="kind", time_unit="W", calibration_end=CAL, observation_end=OBS
    ).compute()
    want = CDNOW_SUMMARY
    assert got.customer_ids.tolist() == want.customer_ids.tolist()
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_array_equal(getattr(got, col), getattr(want, col), err_msg=col)
    np.testing.assert_array_equal(got.holdout_frequency, want.holdout_frequency)
    np.testing.assert_array_equal(got.holdout_monetary_value, want.holdout_monetary_value)
    assert got.holdout_duration == want.holdout_duration
    assert (got.calibration_end, got.observation_end) == (
        want.calibration_end,
        want.observation_end,
    )


def test_default_dates_and_other_units_equal_single_machine(client: Any) -> None:
    ddf = _partitionings(CDNOW)[2][1]
    for unit, period in (("D", "D"), ("M", "M")):
        s = summarize_dask(ddf, kind="kind", time_unit=unit, period=period).persist()
        got = s.compute()
        want = summarize_transactions(CDNOW_LOG, time_unit=unit, period=period)  # type: ignore[arg-type]
        assert got.observation_end == want.observation_end
        for col in ("frequency", "recency", "T", "monetary_value"):
            np.testing.assert_array_equal(getattr(got, col), getattr(want, col))
    # BG/BB, a model of discrete opportunities, on the months (261 distinct histories of
    # up to 18 opportunities; the weeks' 1,016 of up to 39 cost 1.5 s a fit)
    bgbb = fit_from_statistics(fit_bgbb, s.purchase_statistics())
    _same_fit(bgbb, fit_bgbb(want.frequency, want.recency, want.T))


def _same_fit(a: Any, b: Any) -> None:
    np.testing.assert_allclose(a.fit.estimates, b.fit.estimates, rtol=1e-12, atol=0)
    assert a.fit.log_likelihood == pytest.approx(b.fit.log_likelihood, rel=1e-12)
    assert a.fit.n == b.fit.n


WEEKS = summarize_transactions(
    CDNOW_LOG, time_unit="W", period="W", calibration_end=CAL, observation_end=OBS
)


@pytest.fixture(scope="module")
def weeks(client: Any) -> Any:
    """The weekly summary of the CDNOW sample, customers split across partitions, kept
    in the workers' memory for the fits and the scoring."""
    return summarize_dask(
        _partitionings(CDNOW)[2][1],
        kind="kind",
        time_unit="W",
        period="W",
        calibration_end=CAL,
        observation_end=OBS,
    ).persist()


def test_every_fit_from_statistics_equals_the_fit_on_every_customer(weeks: Any) -> None:
    want = WEEKS
    stats = weeks.purchase_statistics()
    assert int(stats["count"].sum()) == len(want) and len(stats) < len(want)
    for fit in (fit_bgnbd, fit_mbgnbd, fit_pareto_nbd):
        _same_fit(fit_from_statistics(fit, stats), fit(want))
    # Gamma-Gompertz/NBD has no maximum on CDNOW (b -> 0): the same refusal on both paths
    with pytest.raises(FitError) as single:
        fit_ggompertz_nbd(want)
    with pytest.raises(FitError) as scaled:
        fit_from_statistics(fit_ggompertz_nbd, stats)
    assert str(scaled.value) == str(single.value)
    spend = weeks.spend_statistics()
    _same_fit(fit_from_statistics(fit_gamma_gamma, spend), fit_gamma_gamma(want))
    # BG/BB: test_default_dates_and_other_units_equal_single_machine (on months)


def test_scoring_equals_the_models_own_methods(weeks: Any) -> None:
    want = WEEKS
    bg = fit_bgnbd(want)
    gg = fit_gamma_gamma(want)
    got = _by_id(score_dask(weeks, bg, gg, t=39.0, horizon=6).compute())
    assert got["customer_id"].tolist() == want.customer_ids.tolist()
    np.testing.assert_array_equal(got["p_alive"], bg.probability_alive(want))
    np.testing.assert_array_equal(
        got["expected_purchases"], bg.conditional_expected_purchases(39.0, want)
    )
    np.testing.assert_array_equal(got["clv"], customer_lifetime_value(bg, gg, want, horizon=6))
    in_days = summarize_dask(
        _partitionings(CDNOW)[0][1], kind="kind", time_unit="D", observation_end=OBS
    )
    with pytest.raises(ValidationError, match="time unit"):
        score_dask(in_days, bg)


def test_rfm_value_tiers_concentration_and_migration(client: Any) -> None:
    ddf = _partitionings(CDNOW)[2][1]
    r = rfm_dask(ddf, OBS, bins=5, kind="kind")
    got = _by_id(r.scores.compute())
    summary, scores = rfm_from_log(CDNOW_LOG, OBS, bins=5)
    assert got["customer_id"].tolist() == summary.customer_ids.tolist()
    np.testing.assert_array_equal(got["recency"], summary.recency)
    np.testing.assert_array_equal(got["monetary"], summary.monetary)
    np.testing.assert_array_equal(got["cell"], scores.cells())
    # value tiers of the monetary value, and the migration between two dates
    earlier = rfm_dask(ddf, CAL, kind="kind")
    before = value_tiers_dask(earlier.summary, "monetary").persist()
    after = value_tiers_dask(r.summary, "monetary").persist()
    b, a = (_by_id(t) for t in dask.compute(before, after))
    early, _ = rfm_from_log(CDNOW_LOG, CAL, bins=5)
    want_b, want_a = value_tiers(early.monetary), value_tiers(summary.monetary)
    assert b["customer_id"].tolist() == early.customer_ids.tolist()
    np.testing.assert_array_equal(b["tier"].to_numpy(str), want_b.labels())
    np.testing.assert_array_equal(a["tier"].to_numpy(str), want_a.labels())
    c, abc = concentration_dask(r.summary["monetary"])
    values = r.summary["monetary"].compute().to_numpy()  # in the Series' computed order
    assert c.gini() == concentration(values).gini()
    assert c.top_share(0.2) == concentration(values).top_share(0.2)
    np.testing.assert_array_equal(abc.codes, abc_classes(values).codes)
    names = ("platinum", "gold", "silver", "bronze")
    got_m = tier_migration_dask(before, after, tiers=names)
    want_m = tier_migration(
        early.customer_ids, want_b.labels().astype(object),
        summary.customer_ids, want_a.labels().astype(object), tiers=names,
    )  # fmt: skip
    np.testing.assert_array_equal(got_m.matrix, want_m.matrix)


@pytest.mark.parametrize("label", ["one partition", "customers split"])
def test_batch_alerts_equal_the_single_machine_engine(client: Any, label: str) -> None:
    ddf = dict(_partitionings(CDNOW))[label]
    owners = {str(c): CustomerContext(owner_id=f"rep-{c % 3}") for c in range(1, 200)}
    got = detect_dask(ddf, DEMO_RULES, owners, kind="kind").compute()
    want = detect(CDNOW_LOG, DEMO_RULES, owners).alerts()
    assert len(want) > 10
    assert sorted(got["id"]) == sorted(a.id for a in want)
    by_id = {a.id: a for a in want}
    for row in got.itertuples():
        a = by_id[row.id]
        assert (row.routed_to, row.transaction_ids, row.observed) == (
            a.routed_to, ", ".join(a.transaction_ids), a.observed,
        )  # fmt: skip


def _random_frame(data: Any) -> Any:
    n = data.draw(st.integers(8, 60), label="rows")
    ids = data.draw(
        st.lists(st.sampled_from(["u1", "u2", "x", "zz", "q9"]), min_size=n, max_size=n)
    )
    days = data.draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    hours = data.draw(st.lists(st.sampled_from([0, 0, 13]), min_size=n, max_size=n))
    amounts = data.draw(
        st.lists(st.sampled_from([1.0, 2.5, 2.5, 0.1, 7.0]), min_size=n, max_size=n)
    )
    t = pd.to_datetime("2024-01-01") + pd.to_timedelta(days, "D") + pd.to_timedelta(hours, "h")
    f = pd.DataFrame({"customer_id": ids, "occurred_at": t, "amount": amounts})
    return f.sort_values(["customer_id", "occurred_at", "amount"], kind="stable", ignore_index=True)


@settings(max_examples=3, deadline=None)  # 4 Dask computes an example
@given(data=st.data())
def test_random_bases_with_ties(client: Any, data: Any) -> None:
    frame = _random_frame(data)
    parts = data.draw(st.integers(2, 4), label="partitions")  # one: the CDNOW tests
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    ddf = dd.from_pandas(shuffled, npartitions=min(parts, len(frame)), sort=False)
    log = _log(frame)
    cal = data.draw(st.sampled_from(["2024-01-20", "2024-02-10"]), label="calibration_end")
    unit = data.draw(st.sampled_from(["D", "W"]), label="time_unit")
    # rows already partitioned by customer (one shuffle for every call: then both units,
    # each a pass over the kept partitions) or shuffled by each function
    partitioned = data.draw(st.booleans(), label="partitioned")
    if partitioned:
        ddf = ddf.shuffle(on="customer_id").persist()
    for u in ("D", "W") if partitioned else (unit,):
        got = summarize_dask(
            ddf,
            time_unit=u,
            calibration_end=cal,
            observation_end="2024-02-10",
            partitioned=partitioned,
        ).compute()
        want = summarize_transactions(
            log, time_unit=u, calibration_end=cal, observation_end="2024-02-10"
        )
        assert got.customer_ids.tolist() == want.customer_ids.tolist()
        for col in ("frequency", "recency", "T", "monetary_value", "holdout_frequency",
                    "holdout_monetary_value"):  # fmt: skip
            a, b = getattr(got, col), getattr(want, col)
            if a is None or b is None:
                assert a is b
            else:
                np.testing.assert_array_equal(a, b, err_msg=f"{col} in {u}")
    r = rfm_dask(ddf, "2024-02-10", bins=3, partitioned=partitioned)
    summary, scores = rfm_from_log(log, "2024-02-10", bins=3)
    rs = _by_id(r.scores.compute())
    assert rs["customer_id"].tolist() == summary.customer_ids.tolist()
    np.testing.assert_array_equal(rs["cell"], scores.cells())


def test_missing_values_are_refused_as_in_memory(client: Any) -> None:
    f = pd.DataFrame(
        {
            "customer_id": ["a", None, "b"],
            "occurred_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "amount": [1.0, 2.0, 3.0],
        }
    )
    with pytest.raises(ValidationError, match="'customer_id' must not contain missing labels"):
        summarize_dask(
            dd.from_pandas(f, npartitions=1), observation_end="2024-01-03"
        ).frame.compute()
    g = f.assign(customer_id=["a", "a", "b"], amount=[1.0, np.nan, 3.0])
    with pytest.raises(ValidationError, match="amount") as e:
        TransactionLog.from_frame(g)
    with pytest.raises(ValidationError, match=str(e.value).split(":")[0]):
        summarize_dask(
            dd.from_pandas(g, npartitions=2), observation_end="2024-01-03"
        ).frame.compute()
    with pytest.raises(ValidationError, match="'customer_id' must not contain missing labels"):
        rfm_dask(
            dd.from_pandas(f.assign(customer_id=["a", "", "b"]), npartitions=1), "2024-01-03"
        ).summary.compute()


def test_crmcore_threads_are_off_in_partitions_and_follow_the_plugin(client: Any) -> None:
    ddf = dd.from_pandas(pd.DataFrame({"x": range(8)}), npartitions=4)
    set_threads(3)  # the process setting (in-process workers share it)
    try:

        def seen(p: Any, n: int | None) -> Any:
            return pd.DataFrame({"threads": [in_threads(n, get_threads)]})

        meta = pd.DataFrame({"threads": pd.Series([], dtype=np.int64)})
        assert set(ddf.map_partitions(seen, 1, meta=meta).compute()["threads"]) == {1}
        assert set(ddf.map_partitions(seen, None, meta=meta).compute()["threads"]) == {3}
    finally:
        set_threads(None)
    client.register_plugin(ThreadsPlugin(2))
    try:
        assert set(client.run(get_threads).values()) == {2}
    finally:
        client.unregister_worker_plugin(ThreadsPlugin.name)
        set_threads(None)
    with pytest.raises(ValidationError, match="'n' must be >= 1"):
        ThreadsPlugin(0)


def test_import_without_dask_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['dask'] = None; sys.modules['dask.dataframe'] = None\n"
        "try:\n    import crmcore.dask\nexcept ImportError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("MissingDependencyError")
    assert "pip install 'crmcore[dask]'" in out.stdout


def test_pipeline_metrics_equal_single_machine(client: Any) -> None:
    from crmcore.dask import funnel_history_dask
    from crmcore.pipeline import (
        FunnelHistory,
        sales_cycle,
        stage_conversion,
        synthetic_scoring_pipeline,
        win_rate,
    )
    from crmcore.pipeline.presets import B2B

    s = synthetic_scoring_pipeline(B2B, n_opportunities=150, seed=5)
    events = s.history.to_pandas().sample(frac=1.0, random_state=2).reset_index(drop=True)
    frame = dd.from_pandas(events, npartitions=4, sort=False)  # deals split across partitions
    fh = funnel_history_dask(frame, B2B, as_of=s.as_of)
    want = FunnelHistory.build(s.history, B2B, as_of=s.as_of)
    assert win_rate(fh) == win_rate(want)
    assert sales_cycle(fh) == sales_cycle(want)
    np.testing.assert_array_equal(
        stage_conversion(fh).to_pandas().to_numpy(), stage_conversion(want).to_pandas().to_numpy()
    )
