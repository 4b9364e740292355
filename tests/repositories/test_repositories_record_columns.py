"""The columnar read ``read_columns`` (:class:`~crmcore.repositories.ColumnarRecordReader`) on
every backend: memory, SQLite, PostgreSQL and MariaDB return, for random records, filters
and column choices, the rows a reference computes from the records themselves (as
multisets: the rows come in no particular order), with labels sorted and distinct; bad
arguments raise the same error everywhere."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcore.errors import ArgumentTypeError, ValidationError
from crmcore.model import Activity, Interaction
from crmcore.repositories import (
    ColumnarRecordReader,
    MemoryUnitOfWork,
    RecordColumns,
    SqlUnitOfWork,
)
from crmcore.repositories._record_columns import READABLE, TIME

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CUSTOMERS = ["c-1", "c-2", "c-10", "C-3"]
REPS = [None, "ann", "bob", "Ann"]


def _when(h: int) -> datetime:
    return T0 + timedelta(hours=h)


@st.composite
def interactions(draw: Any) -> list[Interaction]:
    n = draw(st.integers(0, 12))
    return [
        Interaction(
            id=f"i-{k}",
            customer_id=draw(st.sampled_from(CUSTOMERS)),
            channel=draw(st.sampled_from(["phone", "email", "meeting"])),
            direction=draw(st.sampled_from(["inbound", "outbound"])),
            occurred_at=_when(draw(st.integers(0, 40))),
            rep_id=draw(st.sampled_from(REPS)),
            opportunity_id=draw(st.sampled_from([None, "o-1", "o-2"])),
            duration_seconds=draw(st.sampled_from([None, 0, 60])),
        )
        for k in range(n)
    ]


@st.composite
def activities(draw: Any) -> list[Activity]:
    out = []
    for k in range(draw(st.integers(0, 10))):
        done = draw(st.booleans())
        at = _when(draw(st.integers(0, 40)))
        due = draw(st.sampled_from([None, at]))
        out.append(
            Activity(
                id=f"a-{k}",
                kind=draw(st.sampled_from(["call", "task"])),
                rep_id=draw(st.sampled_from(REPS[1:])),
                customer_id=draw(st.sampled_from([None, *CUSTOMERS])),
                opportunity_id=draw(st.sampled_from([None, "o-1"])),
                status="done" if done else "planned",
                done_at=at if done else None,
                due_at=due if not done or due is not None else None,
            )
        )
    return out


def _decoded(cols: RecordColumns, names: list[str]) -> Counter[tuple[Any, ...]]:
    assert all(list(cols.labels[c]) == sorted(set(cols.labels[c])) for c in cols.labels)
    out = []
    for c in names:
        if c in cols.labels:
            out.append(cols.values(c).tolist())
        elif cols.data[c].dtype.kind == "M":
            out.append([None if str(v) == "NaT" else str(v) for v in cols.data[c]])
        else:
            out.append([None if v != v else float(v) for v in cols.data[c].tolist()])
    return Counter(zip(*out, strict=True)) if out else Counter()


def _reference(records: list[Any], names: list[str], table: str) -> Counter[tuple[Any, ...]]:
    def plain(r: Any, c: str) -> Any:
        v = getattr(r, c)
        if v is None:
            return None
        if READABLE[table][c] == TIME:
            return str(v.replace(tzinfo=None).isoformat(timespec="microseconds"))
        v = getattr(v, "value", v)
        return float(v) if isinstance(v, int) else v

    return Counter(tuple(plain(r, c) for c in names) for r in records)


def _in(r: Any, times: tuple[str, ...], lo: datetime | None, hi: datetime | None) -> bool:
    return any(
        getattr(r, a) is not None
        and (lo is None or getattr(r, a) >= lo)
        and (hi is None or getattr(r, a) < hi)
        for a in times
    )


filters = st.fixed_dictionaries(
    {},
    optional={
        "customer_ids": st.lists(st.sampled_from([*CUSTOMERS, "c-none"]), unique=True),
        "start": st.integers(0, 40).map(_when),
        "end": st.integers(0, 42).map(_when),
    },
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ints=interactions(),
    acts=activities(),
    f=filters,
    i_cols=st.lists(st.sampled_from(sorted(READABLE["interactions"])), min_size=1, unique=True),
    a_cols=st.lists(st.sampled_from(sorted(READABLE["activities"])), min_size=1, unique=True),
)
def test_every_backend_reads_the_records_columns(
    sql_module_uow: SqlUnitOfWork,
    ints: list[Interaction],
    acts: list[Activity],
    f: dict[str, Any],
    i_cols: list[str],
    a_cols: list[str],
) -> None:
    ids = f.get("customer_ids")
    lo, hi = f.get("start"), f.get("end")

    def chosen(records: list[Any], times: tuple[str, ...]) -> list[Any]:
        return [
            r
            for r in records
            if (ids is None or r.customer_id in ids)
            and ((lo is None and hi is None) or _in(r, times, lo, hi))
        ]

    want_i = _reference(chosen(ints, ("occurred_at",)), i_cols, "interactions")
    want_a = _reference(chosen(acts, ("due_at", "done_at")), a_cols, "activities")
    for uow in (MemoryUnitOfWork(), sql_module_uow):
        with uow:
            uow.interactions.add_many(ints)
            uow.activities.add_many(acts)
            assert isinstance(uow.interactions, ColumnarRecordReader)
            got_i = uow.interactions.read_columns(i_cols, **f)
            got_a = uow.activities.read_columns(a_cols, **f)
            assert _decoded(got_i, i_cols) == want_i, type(uow).__name__
            assert _decoded(got_a, a_cols) == want_a, type(uow).__name__
            uow.rollback()


BAD: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
    ("rep_id", {}, ArgumentTypeError, "'columns' must be a list of column names"),
    (["subject"], {}, ValidationError, "'columns' has 'subject'"),
    (["rep_id", "rep_id"], {}, ValidationError, "'columns' names 'rep_id' twice"),
    ([], {}, ValidationError, "'columns' must name at least one column"),
    (["rep_id"], {"customer_ids": "c-1"}, ValidationError, "customer_ids"),
    (["rep_id"], {"end": "not a time"}, ValidationError, "'end'"),
]


@pytest.mark.parametrize(("columns", "kwargs", "error", "text"), BAD, ids=[str(b[:2]) for b in BAD])
def test_bad_arguments_raise_the_same_error_everywhere(
    sql_module_uow: SqlUnitOfWork,
    columns: Any,
    kwargs: dict[str, Any],
    error: type[Exception],
    text: str,
) -> None:
    messages = []
    for uow in (MemoryUnitOfWork(), sql_module_uow):
        with uow, pytest.raises(error) as e:
            uow.interactions.read_columns(columns, **kwargs)
        assert text in str(e.value)
        messages.append(str(e.value))
    assert messages[0] == messages[1]
