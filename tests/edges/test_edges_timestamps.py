"""One timestamp rule (:mod:`crmcore.timestamps`) behind every entry point.

The same string or value gives the same instant through the tables, the
summaries, RFM, the import, the stage history, the funnel history, the
repositories' time ranges and the converter; the digits-only basic form
(``"20240501"``, the CDNOW master file's ``"19970101"``) is a date everywhere
(it was the year -218891 or 95263 through the tables and the summaries); NaT,
naive datetimes, numbers and instants outside the years 1-9999 are refused
with a crmcore ValidationError naming the field (and the row of a column).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.ingest import import_transactions
from crmcore.model import Money, Transaction
from crmcore.pipeline import TOP_IN_BEST, FunnelHistory
from crmcore.repositories import MemoryUnitOfWork
from crmcore.segmentation import rfm_summary
from crmcore.serialization import from_dict, from_json, to_json
from crmcore.tables import StageHistory, TransactionLog
from crmcore.timestamps import as_instant, parse_timestamps
from crmcore.valuation import summarize_arrays

US = np.dtype("datetime64[us]")


def _instant(d: datetime) -> np.datetime64:
    return np.datetime64(d.astimezone(UTC).replace(tzinfo=None), "us")


def _offset(minutes: int, *, basic: bool) -> str:
    if minutes == 0 and not basic:
        return "+00:00"
    sign = "-" if minutes < 0 else "+"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}{m:02d}" if basic else f"{sign}{h:02d}:{m:02d}"


def render(d: datetime, form: str, offset_minutes: int) -> str:
    """``d`` (aware UTC) written in one ISO 8601 form; the forms with an offset show it."""
    local = d.astimezone(timezone(timedelta(minutes=offset_minutes)))
    y, mo, da = local.year, local.month, local.day
    hh, mi, ss, us = local.hour, local.minute, local.second, local.microsecond
    ext_date, basic_date = f"{y:04d}-{mo:02d}-{da:02d}", f"{y:04d}{mo:02d}{da:02d}"
    u = d  # forms without an offset are UTC
    u_ext = f"{u.year:04d}-{u.month:02d}-{u.day:02d}"
    u_basic = f"{u.year:04d}{u.month:02d}{u.day:02d}"
    u_time = f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
    return {
        "extended-z": f"{u_ext}T{u_time}Z",
        "extended-utc": f"{u_ext}T{u_time}",
        "extended-space": f"{u_ext} {u_time}",
        "extended-offset": f"{ext_date}T{hh:02d}:{mi:02d}:{ss:02d}"
        + _offset(offset_minutes, basic=False),
        "extended-fraction": f"{ext_date}T{hh:02d}:{mi:02d}:{ss:02d}.{us:06d}"
        + _offset(offset_minutes, basic=False),
        "basic-z": f"{u_basic}T{u.hour:02d}{u.minute:02d}{u.second:02d}Z",
        "basic-utc": f"{u_basic}T{u.hour:02d}{u.minute:02d}{u.second:02d}",
        "basic-offset": f"{basic_date}T{hh:02d}{mi:02d}{ss:02d}"
        + _offset(offset_minutes, basic=True),
        "date": u_ext,
        "basic-date": u_basic,
    }[form]


FORMS = [
    "extended-z",
    "extended-utc",
    "extended-space",
    "extended-offset",
    "extended-fraction",
    "basic-z",
    "basic-utc",
    "basic-offset",
    "date",
    "basic-date",
]
DATE_FORMS = {"date", "basic-date"}


@st.composite
def stamped(draw: st.DrawFn) -> tuple[str, np.datetime64, str]:
    """(string, the instant it means, form)."""
    form = draw(st.sampled_from(FORMS))
    d = draw(
        st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 30)).map(
            lambda x: x.replace(tzinfo=UTC)
        )
    )
    if form in DATE_FORMS:
        d = d.replace(hour=0, minute=0, second=0, microsecond=0)
    elif form != "extended-fraction":
        d = d.replace(microsecond=0)
    offset = draw(st.integers(-14 * 4, 14 * 4)) * 15
    return render(d, form, offset), _instant(d), form


def _via_csv(s: str) -> np.datetime64:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp, "tx.csv")
        p.write_text(f"customer_id,occurred_at,amount\nc,{s},1.0\n", encoding="utf-8")
        return TransactionLog.from_csv(p).time[0]


def _via_import(s: str) -> np.datetime64:
    uow = MemoryUnitOfWork()
    report = import_transactions(
        uow, [{"customer_id": "c", "occurred_at": s, "amount": "1", "currency": "EUR"}]
    )
    assert report.stored == 1, report.errors
    with uow:
        (t,) = uow.transactions.list()
    return _instant(t.occurred_at)


@settings(max_examples=40, deadline=None)
@given(stamped())
def test_the_same_string_is_the_same_instant_everywhere(
    case: tuple[str, np.datetime64, str],
) -> None:
    s, want, form = case
    log = TransactionLog.from_arrays(customer_ids=["c"], timestamps=[s], amounts=[1.0])
    assert log.time[0] == want
    assert (
        TransactionLog.from_arrays(
            customer_ids=["c"], timestamps=np.array([s]), amounts=[1.0]
        ).time[0]
        == want
    )  # a numpy string column takes the vectorised path
    assert _via_csv(s) == want
    assert _via_import(s) == want
    assert as_instant(s, name="as_of") == want
    # as_of / calibration_end / start / end: the same coercion
    exact = TransactionLog.from_arrays(
        customer_ids=["c"], timestamps=np.array([want]), amounts=[1.0]
    )
    assert rfm_summary(exact, s).as_of == want
    assert rfm_summary(exact, s).recency.tolist() == [0.0]
    summary = summarize_arrays(["c"], [s], [1.0], calibration_end=s, observation_end=s)
    assert summary.calibration_end == want.astype("datetime64[D]")
    assert len(exact.select(start=s)) == 1 and len(exact.select(end=s)) == 0
    history = StageHistory.from_arrays(
        opportunity_ids=["o"], sequence=[0], from_stage=[None], to_stage=["TOP"], at=[s]
    )
    assert history.at[0] == want
    assert FunnelHistory.build(history, TOP_IN_BEST, as_of=s).as_of == want
    uow = MemoryUnitOfWork()
    with uow:
        uow.transactions.add(
            Transaction(
                id="t",
                customer_id="c",
                occurred_at=want.astype(datetime).replace(tzinfo=UTC),
                amount=Money("1", "EUR"),
            )
        )
        assert len(uow.transactions.list(start=s)) == 1
        assert len(uow.transactions.list(end=s)) == 0
    # the converter reads the same rule; a string without an offset is ambiguous there
    record = {
        "id": "t",
        "customer_id": "c",
        "occurred_at": s,
        "amount": {"amount": "1", "currency": "EUR"},
    }
    if form in {"extended-z", "extended-offset", "extended-fraction", "basic-z", "basic-offset"}:
        back = from_dict(Transaction, record)
        assert _instant(back.occurred_at) == want
        assert from_json(Transaction, to_json(back)) == back
    else:
        with pytest.raises(ValidationError, match=r"\$\.occurred_at: expected a timezone-aware"):
            from_dict(Transaction, record)


# -- the vectorised path and the reference rule agree -----------------------------------------
digit = st.sampled_from("0123456789")
cells = st.one_of(
    st.builds(
        lambda y, mo, d, sep, t, z: f"{y}{sep}{mo}{sep}{d}{t}{z}",
        st.sampled_from(["2024", "1997", "0001", "9999", "0000", "2000", "1900"]),
        st.sampled_from(["01", "02", "12", "13", "00"]),
        st.sampled_from(["01", "28", "29", "30", "31", "00"]),
        st.sampled_from(["-", ""]),
        st.sampled_from(
            ["", "T10:00:00", "T235959", "T24:00:00", " 10:00:00", "T100000", "t100000"]
        ),
        st.sampled_from(["", "Z", "+02:00", "-0130", "+1400", "+24:00", "-00:00", "z", "+0260"]),
    ),
    st.text(alphabet="0123456789-:TZ+ ", min_size=8, max_size=25),
    st.text(min_size=0, max_size=26),
)


def _reference(cell: str) -> int | None:
    from crmcore.timestamps import time_ref

    try:
        return time_ref(cell)
    except ValidationError:
        return None


@settings(max_examples=300, deadline=None)
@given(st.lists(cells, min_size=1, max_size=30))
def test_vectorised_shapes_agree_with_the_reference_rule(values: list[str]) -> None:
    from crmcore.timestamps import iso_strings

    for strs in (values, np.array(values)):
        micros, done = iso_strings(strs)
        for i, cell in enumerate(values):
            ref = _reference(cell)
            if done[i]:
                assert ref == int(micros[i]), cell
    # the import's byte path: UTF-8 bytes, whatever follows a cell past its length
    from crmcore.timestamps import iso_matrix, time_ref

    data = [c.encode("utf-8") for c in values]
    m = np.full((len(data), 25), ord("9"), dtype=np.uint8)
    for i, b in enumerate(data):
        m[i, : min(len(b), 25)] = np.frombuffer(b[:25], dtype=np.uint8)
    lengths = np.array([len(b) for b in data], dtype=np.int64)
    for assume_utc in (True, False):
        micros, canonical, valid = iso_matrix(m, lengths, assume_utc=assume_utc)
        for i, cell in enumerate(values):
            if canonical[i]:
                try:
                    ref: int | None = time_ref(cell, assume_utc=assume_utc)
                except ValidationError:
                    ref = None
                assert (ref is not None) == bool(valid[i]), cell
                if ref is not None:
                    assert ref == int(micros[i]), cell
    # and the column parser as a whole: the first refused cell raises, else every value is the rule's
    refs = [_reference(c) for c in values]
    if all(r is not None for r in refs):
        got = parse_timestamps(values, name="t").view(np.int64).tolist()
        assert got == refs
    else:
        first = next(i for i, r in enumerate(refs) if r is None)
        with pytest.raises(ValidationError, match=rf"^'t' .* at index {first}$"):
            parse_timestamps(values, name="t")


# -- regressions: the basic form ---------------------------------------------------------------
def test_basic_form_dates_through_the_tables_and_the_summaries(tmp_path: Path) -> None:
    want = np.array(["2024-05-01", "1997-01-01"], dtype="datetime64[D]").astype(US)
    log = TransactionLog.from_arrays(
        customer_ids=["a", "b"], timestamps=["20240501", "19970101"], amounts=[1.0, 2.0]
    )
    assert log.time.tolist() == want.tolist()
    p = tmp_path / "cdnow.csv"
    p.write_text("customer_id,occurred_at,amount\na,20240501,1.0\nb,19970101,2.0\n")
    assert TransactionLog.from_csv(p).time.tolist() == want.tolist()
    s = summarize_arrays(
        ["a", "a"],
        ["19970101", "19970108"],
        [1.0, 2.0],
        calibration_end="19970110",
        observation_end="19970110",
    )
    assert s.calibration_end == np.datetime64("1997-01-10")
    assert s.recency.tolist() == [7.0] and s.T.tolist() == [9.0]
    r = rfm_summary(log, "20240501")
    assert r.as_of == np.datetime64("2024-05-01T00:00:00", "us")
    assert r.recency.tolist() == [0.0, float((date(2024, 5, 1) - date(1997, 1, 1)).days)]


def test_basic_and_extended_columns_mix() -> None:
    got = parse_timestamps(
        ["20240501T100000+0200", "2024-05-01T08:00:00Z", "20240501T080000Z", "2024-05-01 08:00:00"],
        name="at",
    )
    assert set(got.tolist()) == {datetime(2024, 5, 1, 8)}


# -- regressions: refused values name the field and the row ------------------------------------
@pytest.mark.parametrize(
    ("timestamps", "message"),
    [
        (
            np.array(["2024-01-01", "NaT"], dtype="datetime64[D]"),
            r"'time' must be a time, not NaT: .* at index 1",
        ),
        (["2024-01-01", None], r"'time' must be a time, not missing: None at index 1"),
        (
            np.array(["2024-01-01", "NaT"], dtype=object),
            r"'time' must be an ISO 8601 timestamp: 'NaT' at index 1",
        ),
        (
            [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2)],
            r"'time' must be timezone-aware \(naive datetimes are ambiguous\): datetime.datetime\(2024, 1, 2, 0, 0\) at index 1",
        ),
        (
            np.array(["2024-01-01", "10000-01-01"], dtype="datetime64[D]"),
            r"'time' is out of the range of years 1-9999 in UTC: .* at index 1",
        ),
        (
            ["2024-01-01", "0001-01-01T00:00:00+01:00"],
            r"'time' is out of the range of years 1-9999 in UTC: '0001-01-01T00:00:00\+01:00' at index 1",
        ),
        ([1_700_000_000], r"'time' must be a timestamp, not a number: 1700000000 .* at index 0"),
        ([float("nan")], r"'time' must be a time, not NaN: nan at index 0"),
        (["2024"], r"'time' must be an ISO 8601 timestamp: '2024' at index 0"),
        (["today"], r"'time' must be an ISO 8601 timestamp: 'today' at index 0"),
    ],
)
def test_bad_timestamps_are_refused_with_field_and_row(timestamps: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TransactionLog.from_arrays(
            customer_ids=["a"] * len(timestamps),
            timestamps=timestamps,
            amounts=[1.0] * len(timestamps),
        )


def test_pandas_nat_is_refused_with_its_row() -> None:
    pd = pytest.importorskip("pandas")
    col = pd.Series(pd.to_datetime(["2024-01-01", None]).tz_localize("Europe/Paris"))
    with pytest.raises(ValidationError, match=r"'at' must be a time, not NaT: .* at index 1"):
        parse_timestamps(col, name="at")


BAD_SCALARS = [
    (np.datetime64("NaT"), r"must be a time, not NaT"),
    (datetime(2024, 1, 1), r"must be timezone-aware \(naive datetimes are ambiguous\)"),
    ("9999-12-31T23:00:00-05:00", r"is out of the range of years 1-9999 in UTC"),
    (np.datetime64("20000-01-01"), r"is out of the range of years 1-9999 in UTC"),
    (1_700_000_000, r"must be a timestamp, not a number"),
    ("19970230", r"must be an ISO 8601 timestamp: '19970230'"),
    (None, r"must be a time, not missing"),
]


@pytest.mark.parametrize(("value", "message"), BAD_SCALARS)
def test_every_as_of_and_bound_refuses_the_same_values(value: Any, message: str) -> None:
    log = TransactionLog.from_arrays(customer_ids=["a"], timestamps=["2024-01-01"], amounts=[1.0])
    history = StageHistory.from_arrays(
        opportunity_ids=["o"], sequence=[0], from_stage=[None], to_stage=["TOP"], at=["2024-01-01"]
    )
    calls = [
        ("as_of", lambda: rfm_summary(log, value)),
        (
            "calibration_end",
            lambda: summarize_arrays(["a"], ["2024-01-01"], [1.0], calibration_end=value),
        ),
        (
            "observation_end",
            lambda: summarize_arrays(["a"], ["2024-01-01"], [1.0], observation_end=value),
        ),
        ("start", lambda: log.select(start=value)),
        ("end", lambda: log.select(end=value)),
        ("as_of", lambda: FunnelHistory.build(history, TOP_IN_BEST, as_of=value)),
    ]
    if value is not None:  # None means "no bound" for the optional bounds
        for field, call in calls:
            with pytest.raises(ValidationError, match=rf"^'{field}' {message}"):
                call()
    else:
        with pytest.raises(ValidationError, match=rf"^'as_of' {message}"):
            rfm_summary(log, value)


def test_repository_ranges_use_the_same_coercion() -> None:
    uow = MemoryUnitOfWork()
    with uow, pytest.raises(ValidationError, match=r"^'start' must be timezone-aware"):
        uow.transactions.list(start=datetime(2024, 1, 1))
    with uow:
        assert uow.transactions.list(start="20240101", end=date(2024, 2, 1)) == []


def test_dates_and_pandas_columns() -> None:
    pd = pytest.importorskip("pandas")
    want = np.datetime64("2024-05-01T00:00:00", "us")
    assert as_instant(date(2024, 5, 1), name="as_of") == want
    assert as_instant(pd.Timestamp("2024-05-01T02:00:00+02:00"), name="as_of") == want
    aware = pd.Series(pd.to_datetime(["2024-05-01T02:00:00"]).tz_localize("Europe/Paris"))
    assert parse_timestamps(aware, name="at").tolist() == [datetime(2024, 5, 1, 0)]
    naive_col = pd.Series(pd.to_datetime(["2024-05-01"]))  # a tz-naive datetime64 column: UTC
    assert parse_timestamps(naive_col, name="at")[0] == want
    assert parse_timestamps(pd.DatetimeIndex(["2024-05-01"], tz="UTC"), name="at")[0] == want
    frame = pd.DataFrame({"customer_id": ["a"], "occurred_at": aware, "amount": [1.0]})
    assert TransactionLog.from_frame(frame).time.tolist() == [datetime(2024, 5, 1, 0)]
    with pytest.raises(ValidationError, match=r"^'as_of' must be timezone-aware"):
        as_instant(pd.Timestamp("2024-05-01"), name="as_of")


def test_other_bounds_and_record_times_follow_the_rule() -> None:
    from crmcore.anomaly import summarize
    from crmcore.pipeline import B2B, synthetic_history

    assert summarize([], start="20240101", end="2024-02-01T00:00:00Z").start == datetime(
        2024, 1, 1, tzinfo=UTC
    )
    with pytest.raises(ValidationError, match=r"^'end' must be timezone-aware"):
        summarize([], end=datetime(2024, 2, 1))
    a = synthetic_history(B2B, n_opportunities=5, start="20240101", seed=1)
    b = synthetic_history(B2B, n_opportunities=5, start="2024-01-01", seed=1)
    assert a.at.tolist() == b.at.tolist()
    with pytest.raises(ValidationError, match=r"^'start' must be a time, not NaT"):
        synthetic_history(B2B, n_opportunities=5, start=np.datetime64("NaT"), seed=1)
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValidationError, match=r"^'occurred_at' must be a time, not NaT"):
        Transaction(
            id="t",
            customer_id="c",
            occurred_at=pd.NaT,
            amount=Money("1", "EUR"),
        )


@given(st.dates())
def test_as_date_reads_a_day_or_its_iso_text_and_refuses_anything_else(day: date) -> None:
    """One rule for every date field (birthdays, rate tables, holidays, renewals, JSON)."""
    from crmcore.pipeline.currency import Rate
    from crmcore.serialization import from_dict
    from crmcore.timestamps import as_date

    text = day.isoformat()
    assert as_date(day) == as_date(text) == day
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    for bad in (moment, text + "T00:00", text.replace("-", ""), None, 20240101):
        with pytest.raises(ValidationError, match=r"'birthday' must be a date \(YYYY-MM-DD\)"):
            as_date(bad, name="birthday")
    # the rate table and the JSON converter read days by the same rule
    with pytest.raises(ValidationError, match=r"'valid_from' must be a date \(YYYY-MM-DD\)"):
        Rate("EUR", text + "x", "1.1")
    with pytest.raises(ValidationError, match=r"\$\.valid_from: .*must be a date \(YYYY-MM-DD\)"):
        from_dict(Rate, {"currency": "EUR", "valid_from": 7, "rate": "1.1"})
