"""The bridge: columnar tables built from arrays, objects, CSV and frames agree with each other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.model import Money, StageChange, Transaction
from crmcore.tables import StageHistory, TransactionLog
from crmcore.testing.strategies import transactions


@settings(max_examples=40)
@given(
    st.lists(
        transactions(customer_id=st.sampled_from(["a", "b", "c"]), currency="EUR"), max_size=20
    )
)
def test_log_from_objects_keeps_every_value(txs: list[Transaction]) -> None:
    log = TransactionLog.from_transactions(txs)
    assert len(log) == len(txs)
    assert log.row_customer_ids.tolist() == [t.customer_id for t in txs]
    assert log.amount.tolist() == [float(t.amount.amount) for t in txs]
    assert log.kind.tolist() == [t.kind.code for t in txs]
    expected_us = [
        int((t.occurred_at - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
        for t in txs
    ]
    assert log.time.astype(np.int64).tolist() == expected_us
    assert log.ids is not None and log.ids.tolist() == [t.id for t in txs]


def test_select_is_half_open_and_by_customer() -> None:
    log = TransactionLog.from_arrays(
        customer_ids=["a", "a", "b"],
        timestamps=["2020-01-01", "2020-02-01", "2020-03-01"],
        amounts=[1.0, 2.0, 3.0],
    )
    assert log.select(start="2020-02-01", end="2020-03-01").amount.tolist() == [2.0]
    assert log.select(customer_ids=["b"]).amount.tolist() == [3.0]
    assert log.select(kinds=["refund"]).amount.tolist() == []


def test_sorted_orders_by_customer_then_time() -> None:
    log = TransactionLog.from_arrays(
        customer_ids=["b", "a", "a"],
        timestamps=["2020-01-01", "2020-03-01", "2020-02-01"],
        amounts=[1.0, 2.0, 3.0],
    ).sorted()
    assert log.row_customer_ids.tolist() == ["a", "a", "b"]
    assert log.amount.tolist() == [3.0, 2.0, 1.0]


def test_offsets_are_converted_to_utc_and_naive_datetimes_refused() -> None:
    log = TransactionLog.from_arrays(
        customer_ids=["a"], timestamps=[datetime(2020, 1, 1, 8, tzinfo=UTC)], amounts=[1.0]
    )
    assert str(log.time[0]) == "2020-01-01T08:00:00.000000"
    with pytest.raises(ValidationError, match="naive datetimes are ambiguous"):
        TransactionLog.from_arrays(
            customer_ids=["a"], timestamps=[datetime(2020, 1, 1)], amounts=[1.0]
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amounts": [float("nan")]}, "'amount' must not contain NaN"),
        ({"amounts": [-1.0]}, "'amount' must be >= 0"),
        ({"kinds": ["gift"]}, "'kind' must be one of"),
        (
            {"timestamps": ["yesterday"]},
            "'time' must be an ISO 8601 timestamp: 'yesterday' at index 0",
        ),
        ({"currency": "ABC"}, "'currency' must be an ISO 4217 code"),
    ],
)
def test_bad_columns_are_named(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {
        "customer_ids": ["a"],
        "timestamps": ["2020-01-01"],
        "amounts": [1.0],
    }
    base.update(kwargs)
    with pytest.raises(ValidationError, match=message):
        TransactionLog.from_arrays(**base)  # type: ignore[arg-type]


def test_csv_and_pandas_and_polars_give_the_same_log(tmp_path: Path) -> None:
    p = tmp_path / "tx.csv"
    p.write_text(
        "customer_id,occurred_at,amount,kind\na,2020-01-01T00:00:00+00:00,5.5,purchase\nb,2020-01-02,1,refund\n"
    )
    from_csv = TransactionLog.from_csv(p, kind="kind", currency="EUR")
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(p)
    df["occurred_at"] = pd.to_datetime(df["occurred_at"], utc=True, format="ISO8601")
    from_pd = TransactionLog.from_frame(df, kind="kind", currency="EUR")
    pl = pytest.importorskip("polars")
    from_pl = TransactionLog.from_frame(pl.from_pandas(df), kind="kind", currency="EUR")
    for other in (from_pd, from_pl):
        assert other.row_customer_ids.tolist() == from_csv.row_customer_ids.tolist()
        assert other.amount.tolist() == from_csv.amount.tolist()
        assert other.kind.tolist() == from_csv.kind.tolist()
        assert other.time.tolist() == from_csv.time.tolist()
    assert from_csv.signed_amount().tolist() == [5.5, -1.0]


def test_malformed_csv_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValidationError, match="empty.csv: the file is empty"):
        TransactionLog.from_csv(empty)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("who,when,how_much\na,2020-01-01,1\n")
    with pytest.raises(
        ValidationError, match=r"missing column\(s\) \['customer_id', 'occurred_at', 'amount'\]"
    ):
        TransactionLog.from_csv(wrong)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("customer_id,occurred_at,amount\na,2020-01-01,1\nb,2020-01-01\n")
    with pytest.raises(ValidationError, match="line 3 has a different number of fields"):
        TransactionLog.from_csv(ragged)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("customer_id,occurred_at,amount\nJosé,2020-01-01,1\n".encode("latin-1"))
    with pytest.raises(ValidationError, match="latin.csv: not utf-8 text"):
        TransactionLog.from_csv(latin)


def test_stage_history_from_events_codes_stages_and_owners() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    ev = [
        StageChange(
            opportunity_id="o2", sequence=0, from_stage=None, to_stage="lead", at=t0, by="r1"
        ),
        StageChange(
            opportunity_id="o1", sequence=0, from_stage=None, to_stage="lead", at=t0, by="r2"
        ),
        StageChange(
            opportunity_id="o1",
            sequence=1,
            from_stage="lead",
            to_stage="won",
            at=t0 + timedelta(days=3),
            by="r2",
            amount=Money("100", "EUR"),
        ),
    ]
    h = StageHistory.from_events(ev).sorted()
    assert h.opportunity_ids[h.opportunity].tolist() == ["o1", "o1", "o2"]
    assert h.stages[h.to_stage].tolist() == ["lead", "won", "lead"]
    assert h.from_stage.tolist()[0] == -1
    assert h.owner_ids[h.owner].tolist() == ["r2", "r2", "r1"]
    assert np.isnan(h.amount[0]) and h.amount[1] == 100.0
