"""``to_columns`` and ``from_frame`` speak the same column names: every bridge table comes back
from its own columns, and from its pandas, polars (eager and lazy) and Arrow frames."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.tables import FieldHistory, StageHistory, TransactionLog

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")

BUDGET = settings(max_examples=15, deadline=None)

ids = st.text(alphabet="abcxyz-é1", min_size=1, max_size=4)
instants = st.integers(0, 10**16).map(lambda us: np.datetime64(us, "us"))
amounts = st.floats(0, 1e9, allow_nan=False, allow_infinity=False)


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert list(a) == list(b)
    for name in a:
        left, right = np.asarray(a[name]).tolist(), np.asarray(b[name]).tolist()

        def norm(v: Any) -> Any:
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

        assert [norm(v) for v in left] == [norm(v) for v in right], name


def _frames(table: Any) -> list[Any]:
    """The table's columns, and its frames in every library (polars also as a LazyFrame)."""
    return [
        table.to_columns(),
        table.to_pandas(),
        table.to_polars(),
        table.to_polars().lazy(),
        table.to_arrow(),
    ]


@st.composite
def logs(draw: st.DrawFn) -> TransactionLog:
    n = draw(st.integers(0, 6))
    rows = st.lists
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["quantities"] = draw(rows(st.integers(0, 50), min_size=n, max_size=n))
    if draw(st.booleans()):
        extra["products"] = draw(rows(st.none() | ids, min_size=n, max_size=n))
    if draw(st.booleans()):
        extra["ids"] = [f"t{i}" for i in range(n)]
    return TransactionLog.from_arrays(
        customer_ids=draw(rows(ids, min_size=n, max_size=n)),
        timestamps=np.array(draw(rows(instants, min_size=n, max_size=n)), dtype="datetime64[us]"),
        amounts=draw(rows(amounts, min_size=n, max_size=n)),
        kinds=draw(rows(st.sampled_from(["purchase", "refund"]), min_size=n, max_size=n)),
        currency=draw(st.sampled_from(["EUR", "USD"])),
        **extra,
    )


@BUDGET
@given(logs())
def test_transaction_log_round_trips_through_every_frame(log: TransactionLog) -> None:
    for frame in _frames(log):
        back = TransactionLog.from_frame(frame, currency=log.currency)
        _same(back.to_columns(), log.to_columns())
        assert back.customer_ids.tolist() == log.customer_ids.tolist()


def test_the_currency_travels_with_pandas_and_arrow_frames() -> None:
    log = TransactionLog.from_arrays(
        customer_ids=["a"], timestamps=["2024-01-01"], amounts=[1.0], currency="JPY"
    )
    assert TransactionLog.from_frame(log.to_pandas()).currency == "JPY"
    assert TransactionLog.from_frame(log.to_arrow()).currency == "JPY"
    assert TransactionLog.from_frame(log.to_polars()).currency is None  # polars has no metadata


def test_customer_ids_from_the_pandas_index_are_kept() -> None:
    df = pd.DataFrame(
        {"amount": [3.0, 4.0], "occurred_at": pd.to_datetime(["2024-01-01", "2024-01-02"])},
        index=pd.Index([1042, 7], name="customer_id"),
    )
    log = TransactionLog.from_frame(df)
    assert log.row_customer_ids.tolist() == [1042, 7]  # integers stay integers
    assert log.to_pandas()["customer_id"].tolist() == [1042, 7]


def test_a_named_column_that_is_missing_is_refused() -> None:
    df = pd.DataFrame({"customer_id": ["a"], "occurred_at": ["2024-01-01"], "amount": [1.0]})
    with pytest.raises(ValidationError, match=r"no column 'qty'; it has \['customer_id'"):
        TransactionLog.from_frame(df, quantity="qty")
    with pytest.raises(ValidationError, match="'frame' must be a pandas or polars DataFrame"):
        TransactionLog.from_frame([("a", "2024-01-01", 1.0)])


stages = st.sampled_from(["lead", "qualified", "proposal", "won", "lost"])


@st.composite
def histories(draw: st.DrawFn) -> StageHistory:
    n = draw(st.integers(1, 6))
    rows = st.lists
    to = draw(rows(stages, min_size=n, max_size=n))
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["owner_ids"] = draw(rows(ids, min_size=n, max_size=n))
    if draw(st.booleans()):
        extra["probability"] = draw(
            rows(st.floats(0, 1) | st.just(float("nan")), min_size=n, max_size=n)
        )
    if draw(st.booleans()):
        extra["by"] = draw(rows(ids, min_size=n, max_size=n))
        extra["reasons"] = draw(rows(st.none() | ids, min_size=n, max_size=n))
        extra["recorded_at"] = np.array(
            draw(rows(instants, min_size=n, max_size=n)), dtype="datetime64[us]"
        )
    if draw(st.booleans()):
        extra["currencies"] = "EUR"
    return StageHistory.from_arrays(
        opportunity_ids=draw(rows(ids, min_size=n, max_size=n)),
        sequence=list(range(n)),
        from_stage=[None, *to[:-1]],
        to_stage=to,
        at=np.array(draw(rows(instants, min_size=n, max_size=n)), dtype="datetime64[us]"),
        amount=draw(rows(amounts | st.just(float("nan")), min_size=n, max_size=n)),
        products=draw(rows(st.none() | ids, min_size=n, max_size=n)),
        **extra,
    )


@BUDGET
@given(histories())
def test_stage_history_round_trips_through_every_frame(history: StageHistory) -> None:
    for frame in _frames(history):
        _same(StageHistory.from_frame(frame).to_columns(), history.to_columns())


def test_stage_history_from_a_frame_with_its_own_names() -> None:
    df = pl.DataFrame(
        {
            "deal": ["d1", "d1", "d2"],
            "step": [0, 1, 0],
            "from_stage": [None, "lead", None],
            "to_stage": ["lead", "won", "lead"],
            "at": ["2025-01-02", "2025-01-09", "2025-01-03"],
            "rep": ["ann", "ann", "bob"],
        }
    )
    h = StageHistory.from_frame(
        df.lazy(), columns={"deal": "opportunity_id", "step": "sequence", "rep": "owner_id"}
    )
    assert h.to_columns()["owner_id"].tolist() == ["ann", "ann", "bob"]
    assert h.opportunity_ids.tolist() == ["d1", "d2"]
    with pytest.raises(ValidationError, match="not a column of the table"):
        StageHistory.from_frame(df, columns={"deal": "deal_id"})
    with pytest.raises(ValidationError, match="no column 'sequence'"):
        StageHistory.from_frame(df, columns={"deal": "opportunity_id"})


@BUDGET
@given(st.lists(st.tuples(ids, st.sampled_from(["custom.note", "custom.tier"]), ids), max_size=5))
def test_field_history_round_trips(rows: list[tuple[str, str, str]]) -> None:
    n = len(rows)
    h = FieldHistory.from_arrays(
        opportunity_ids=[r[0] for r in rows],
        sequence=list(range(n)),
        fields=[r[1] for r in rows],
        at=["2025-01-01"] * n,
        recorded_at=["2025-01-02"] * n,
        new=[r[2] for r in rows],
        old=["before"] * n,
        by=["ann"] * n,
        reasons=[None] * n,
    )
    assert FieldHistory.from_frame(h.to_columns()).to_changes() == h.to_changes()
    # text values (as here) come back from every frame too
    for frame in _frames(h)[1:]:
        _same(FieldHistory.from_frame(frame).to_columns(), h.to_columns())


def test_from_csv_reads_a_file_object_like_its_path(tmp_path: Any) -> None:
    text = (
        "customer_id,occurred_at,amount,qty\na,2024-01-01T10:00:00+02:00,1.5,2\nb,2024-01-02,3,1\n"
    )
    path = tmp_path / "orders.csv"
    path.write_text(text, encoding="utf-8")
    expected = TransactionLog.from_csv(path, quantity="qty").to_columns()
    for source in (io.StringIO(text), io.BytesIO(text.encode())):
        _same(TransactionLog.from_csv(source, quantity="qty").to_columns(), expected)
    upload = io.BytesIO(b"customer_id,occurred_at,amount\na,2024-01-01,\xff\n")
    upload.name = "upload.csv"  # type: ignore[misc]
    with pytest.raises(ValidationError, match=r"^upload.csv: not utf-8 text"):
        TransactionLog.from_csv(upload)
    with pytest.raises(ValidationError, match=r"^'amount' must hold numbers: 'x' at row 1"):
        TransactionLog.from_csv(io.StringIO("customer_id,occurred_at,amount\na,2024-01-01,x\n"))
