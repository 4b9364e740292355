"""score_deals_dask on a local cluster of 2 workers equals score_deals on one machine.

The model and the funnel travel to the workers as their JSON; every score is compared
with the single-machine one (logistic and naive Bayes models) under one partition, many,
and deals split across partitions (events shuffled before partitioning); a missing id or
time is refused with the single-machine message.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")
dask = pytest.importorskip("dask")

import crmcore.dask._pipeline as dask_pipeline  # noqa: E402
from crmcore.dask import score_deals_dask  # noqa: E402
from crmcore.dask.partitions import deals_partition  # noqa: E402
from crmcore.errors import ValidationError  # noqa: E402
from crmcore.pipeline import (  # noqa: E402
    DealScoreModel,
    Funnel,
    fit_deal_scores,
    score_deals,
    synthetic_scoring_pipeline,
)
from crmcore.pipeline.presets import B2B  # noqa: E402
from crmcore.serialization import from_json  # noqa: E402
from crmcore.tables import FieldHistory, StageHistory  # noqa: E402

PIPELINE = synthetic_scoring_pipeline(B2B, n_opportunities=300, seed=5)
EVENTS = PIPELINE.history.to_pandas()
MODELS = {
    method: fit_deal_scores(PIPELINE.history, B2B, as_of=PIPELINE.as_of, method=method)
    for method in ("logistic", "naive_bayes")
}


def _frame(label: str) -> Any:
    if label == "one partition":
        return dd.from_pandas(EVENTS, npartitions=1)
    if label == "many partitions":
        return dd.from_pandas(EVENTS, npartitions=3, sort=False)
    shuffled = EVENTS.sample(frac=1.0, random_state=2).reset_index(drop=True)
    return dd.from_pandas(shuffled, npartitions=3, sort=False)  # a deal's events split


def _sorted(frame: Any) -> Any:
    return frame.sort_values("opportunity_id", ignore_index=True)


@pytest.mark.parametrize("label", ["one partition", "many partitions", "deals split"])
def test_scores_equal_single_machine(client: Any, label: str) -> None:
    frame = _frame(label)
    lazy = [score_deals_dask(frame, m, B2B, as_of=PIPELINE.as_of) for m in MODELS.values()]
    for got, model in zip(dask.compute(*lazy), MODELS.values(), strict=True):
        want = score_deals(model, PIPELINE.history, B2B, as_of=PIPELINE.as_of).to_pandas()
        assert len(want) >= 10
        # every column: id, probability and log-odds to the bit, each factor's level
        pd.testing.assert_frame_equal(_sorted(got), _sorted(want), check_dtype=False)


def test_the_model_and_funnel_travel_as_json(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, Any]] = []

    def spy(part: Any, **options: Any) -> Any:
        seen.append((options["model"], options["funnel"]))
        return deals_partition(part, **options)

    monkeypatch.setattr(dask_pipeline, "deals_partition", spy)
    model = MODELS["logistic"]
    got = score_deals_dask(_frame("deals split"), model, B2B, as_of=PIPELINE.as_of).compute()
    assert len(got) and len(seen) >= 4  # the meta, then one call per partition on the workers
    for m, f in seen:
        assert isinstance(m, str) and isinstance(f, str)
        assert from_json(DealScoreModel, m) == model and from_json(Funnel, f) == B2B


def test_what_is_not_a_model_or_funnel_is_refused(client: Any) -> None:
    frame = _frame("one partition")
    with pytest.raises(ValidationError, match="'model'"):
        score_deals_dask(frame, "model", B2B, as_of=PIPELINE.as_of)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'funnel'"):
        score_deals_dask(frame, MODELS["logistic"], "b2b", as_of=PIPELINE.as_of)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="no column"):
        score_deals_dask(frame.rename(columns={"opportunity_id": "deal"}), MODELS["logistic"],
                         B2B, as_of=PIPELINE.as_of)  # fmt: skip


@pytest.mark.parametrize(("column", "missing"), [("opportunity_id", None), ("at", pd.NaT)])
def test_missing_values_are_refused_as_in_memory(client: Any, column: str, missing: Any) -> None:
    events = EVENTS.copy()
    events.loc[5, column] = missing
    with pytest.raises(ValidationError) as single:
        StageHistory.from_frame(events)
    rule = str(single.value).split(":")[0]  # the value shown and the row numbers may differ
    frame = dd.from_pandas(events, npartitions=3, sort=False)
    with pytest.raises(ValidationError, match=re.escape(rule)):
        score_deals_dask(frame, MODELS["logistic"], B2B, as_of=PIPELINE.as_of).compute()


WITH_FIELDS = synthetic_scoring_pipeline(B2B, n_opportunities=300, seed=2)


def _owner_changes(scores: Any, events: Any, as_of: Any) -> FieldHistory:
    """An owner edit (before ``as_of``) of six open deals, after each deal's last event."""
    deals = scores["opportunity_id"].tolist()[:6]
    last = events.groupby("opportunity_id")["sequence"].max()
    at = [np.datetime64(as_of, "us") - np.timedelta64(1, "D")] * len(deals)
    owner = sorted(set(events["owner_id"].dropna()))[-1]
    return FieldHistory.from_arrays(
        opportunity_ids=deals, sequence=[int(last[d]) + 1 for d in deals],
        fields=["owner_id"] * len(deals), at=at, recorded_at=at, new=[owner] * len(deals),
        old=[None] * len(deals), by=["ann"] * len(deals),
    )  # fmt: skip


@pytest.mark.parametrize("method", ["logistic", "naive_bayes"])
def test_a_model_with_deal_fields_and_changes_scores_as_single_machine(
    client: Any, method: str
) -> None:
    s = WITH_FIELDS
    model = fit_deal_scores(s.history, B2B, as_of=s.as_of, fields=s.fields, method=method)
    assert {"source", "employees"} <= set(model.factors)
    events = s.history.to_pandas()
    plain = score_deals(model, s.history, B2B, as_of=s.as_of, fields=s.fields).to_pandas()
    changes = _owner_changes(plain, events, s.as_of)
    shuffled = events.sample(frac=1.0, random_state=3).reset_index(drop=True)
    frame = dd.from_pandas(shuffled, npartitions=3, sort=False)  # a deal's events split
    for edits in (None, changes):
        want = score_deals(
            model, s.history, B2B, as_of=s.as_of, fields=s.fields, changes=edits
        ).to_pandas()
        got = score_deals_dask(
            frame, model, B2B, as_of=s.as_of, fields=s.fields, changes=edits
        ).compute()
        pd.testing.assert_frame_equal(_sorted(got), _sorted(want), check_dtype=False)
    edited = score_deals(model, s.history, B2B, as_of=s.as_of, fields=s.fields, changes=changes)
    assert not np.array_equal(edited.probability, plain["probability"])  # the edits count


def test_a_model_with_fields_needs_them_as_on_one_machine(client: Any) -> None:
    s = WITH_FIELDS
    model = fit_deal_scores(s.history, B2B, as_of=s.as_of, fields=s.fields)
    frame = dd.from_pandas(s.history.to_pandas(), npartitions=2)
    with pytest.raises(ValidationError) as single:
        score_deals(model, s.history, B2B, as_of=s.as_of)
    with pytest.raises(ValidationError, match=re.escape(str(single.value))):
        score_deals_dask(frame, model, B2B, as_of=s.as_of)  # before any partition is read
    with pytest.raises(ValidationError, match="'fields'"):
        score_deals_dask(frame, model, B2B, as_of=s.as_of, fields={"source": []})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'changes'"):
        score_deals_dask(frame, model, B2B, as_of=s.as_of, fields=s.fields, changes=[])  # type: ignore[arg-type]
