"""The memory and SQLite record repositories give the same answers (issue 15).

Both go through one validating front (:mod:`crmcore.repositories._records`) and one table
description (:class:`~crmcore.repositories._spec.TableSpec`), applied as a predicate in
memory and as SQL on SQLite. Random records (few customers, reps and instants, so that
filters match and times tie) and random filters, time ranges and limits: ``list`` and
``iter`` return the same records in the same order, ``read_log`` the same columns; a bad
filter value raises the same crmcore error with the same message on both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.errors import CRMError
from crmcore.model import (
    Activity,
    ActivityKind,
    ActivityStatus,
    Channel,
    CostEntry,
    Direction,
    Interaction,
    Money,
    SurveyResponse,
    Transaction,
    TransactionKind,
)
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork

BASE = datetime(2024, 1, 1, tzinfo=UTC)
TIMES = [BASE + timedelta(hours=h) for h in range(6)]
"""Few instants: records tie on time, ranges cut between them."""
IDS = ["r-1", "r-10", "r-2", "R-3", "a", "é", "Z9", "r 1", "r-1x", "b"]
"""Record ids whose code-point order is not a natural or case-insensitive one."""
CUSTOMERS = ["c-1", "c-2", "C-1"]
REPS = ["rep-1", "rep-2"]

times = st.sampled_from(TIMES)
bounds = st.none() | st.sampled_from([*TIMES, BASE - timedelta(days=1), BASE + timedelta(days=1)])
limits = st.none() | st.integers(0, 12)
customer_filter = st.none() | st.sampled_from([*CUSTOMERS, "c-9"])

BAD_TEXT = [7, {"a": 1}, "a\x00b", "\ud800", ["c-1"], 1.5]
BAD_TIME = [datetime(2024, 1, 1), "not a time", 3.5, [BASE]]  # naive on purpose
BAD_LIMIT = [-1, 1.5, "3", True]
BAD_BATCH = [0, -2, 2.5, "3"]


@pytest.fixture(scope="module")
def sqlite_uow() -> Iterator[SqlUnitOfWork]:
    """One in-memory SQLite database for the module; each example rolls its block back."""
    uow = SqlUnitOfWork.from_url("sqlite://")
    yield uow
    uow.close()


def _unique(records: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(records, max_size=10, unique_by=lambda r: r.id)


interactions = _unique(
    st.builds(
        Interaction,
        id=st.sampled_from(IDS),
        customer_id=st.sampled_from(CUSTOMERS),
        channel=st.sampled_from(list(Channel)),
        direction=st.sampled_from(list(Direction)),
        occurred_at=times,
        rep_id=st.none() | st.sampled_from(REPS),
    )
)
transactions = _unique(
    st.builds(
        Transaction,
        id=st.sampled_from(IDS),
        customer_id=st.sampled_from(CUSTOMERS),
        occurred_at=times,
        amount=st.builds(Money, st.decimals(0, 1000, places=2).map(Decimal), st.just("EUR")),
        kind=st.sampled_from(list(TransactionKind)),
        quantity=st.integers(0, 3),
    )
)


@st.composite
def _activity(draw: st.DrawFn) -> Activity:
    status = draw(st.sampled_from(list(ActivityStatus)))
    return Activity(
        id=draw(st.sampled_from(IDS)),
        kind=draw(st.sampled_from(list(ActivityKind))),
        rep_id=draw(st.sampled_from(REPS)),
        customer_id=draw(st.none() | st.sampled_from(CUSTOMERS)),
        opportunity_id=draw(st.none() | st.sampled_from(["o-1", "o-2"])),
        status=status,
        due_at=draw(st.none() | times),
        done_at=draw(times) if status is ActivityStatus.DONE else None,
    )


activities = _unique(_activity())
surveys = _unique(
    st.builds(
        SurveyResponse,
        id=st.sampled_from(IDS),
        customer_id=st.sampled_from(CUSTOMERS),
        responded_at=times,
        csat=st.integers(1, 5),
        survey=st.none() | st.sampled_from(["onboarding", "quarterly"]),
    )
)
costs = _unique(
    st.builds(
        CostEntry,
        id=st.sampled_from(IDS),
        customer_id=st.sampled_from(CUSTOMERS),
        incurred_at=times,
        amount=st.just(Money("1.50", "EUR")),
        category=st.sampled_from(["visit", "Visit", "call_center"]),
    )
)


def _both(
    sqlite_uow: SqlUnitOfWork, repo: str, records: list[Any], ask: Callable[[Any], Any]
) -> tuple[Any, Any]:
    """``ask(repository)`` on a memory and on the SQLite backend holding ``records``: each
    answer, or the (type, message) of the crmcore error it raised."""
    answers = []
    for uow in (MemoryUnitOfWork(), sqlite_uow):
        with uow:
            r = getattr(uow, repo)
            r.add_many(records)
            try:
                answers.append(ask(r))
            except CRMError as e:
                answers.append((type(e), str(e)))
    return answers[0], answers[1]


def _agree(sqlite_uow: SqlUnitOfWork, repo: str, records: list[Any], ask: Any) -> Any:
    memory, sql = _both(sqlite_uow, repo, records, ask)
    assert memory == sql
    return memory


def _ids(rows: Any) -> list[str]:
    return [r.id for r in rows]


@given(
    records=interactions,
    customer_id=customer_filter,
    rep_id=st.none() | st.sampled_from([*REPS, "rep-9"]),
    channels=st.none() | st.lists(st.sampled_from([c.value for c in Channel]), max_size=3),
    start=bounds,
    end=bounds,
    limit=limits,
    batch_size=st.integers(1, 4),
)
def test_interactions_agree(
    sqlite_uow: SqlUnitOfWork,
    records: list[Interaction],
    customer_id: str | None,
    rep_id: str | None,
    channels: list[str] | None,
    start: datetime | None,
    end: datetime | None,
    limit: int | None,
    batch_size: int,
) -> None:
    listed = _agree(
        sqlite_uow,
        "interactions",
        records,
        lambda r: r.list(
            customer_id=customer_id,
            rep_id=rep_id,
            channels=channels,
            start=start,
            end=end,
            limit=limit,
        ),
    )
    assert listed == sorted(listed, key=lambda i: (i.occurred_at, i.id))
    streamed = _agree(
        sqlite_uow,
        "interactions",
        records,
        lambda r: list(
            r.iter(customer_id=customer_id, start=start, end=end, batch_size=batch_size)
        ),
    )
    assert _ids(streamed) == _ids(
        _agree(
            sqlite_uow,
            "interactions",
            records,
            lambda r: r.list(customer_id=customer_id, start=start, end=end),
        )
    )


@given(
    records=transactions,
    customer_id=customer_filter,
    customer_ids=st.none() | st.lists(st.sampled_from([*CUSTOMERS, "c-9"]), max_size=3),
    kinds=st.none() | st.lists(st.sampled_from([k.value for k in TransactionKind]), max_size=3),
    start=bounds,
    end=bounds,
    limit=limits,
    batch_size=st.integers(1, 4),
)
def test_transactions_agree(
    sqlite_uow: SqlUnitOfWork,
    records: list[Transaction],
    customer_id: str | None,
    customer_ids: list[str] | None,
    kinds: list[str] | None,
    start: datetime | None,
    end: datetime | None,
    limit: int | None,
    batch_size: int,
) -> None:
    _agree(
        sqlite_uow,
        "transactions",
        records,
        lambda r: r.list(customer_id=customer_id, kinds=kinds, start=start, end=end, limit=limit),
    )
    _agree(
        sqlite_uow,
        "transactions",
        records,
        lambda r: list(
            r.iter(customer_id=customer_id, start=start, end=end, batch_size=batch_size)
        ),
    )

    def columns(r: Any) -> Any:
        log = r.read_log(customer_ids=customer_ids, kinds=kinds, start=start, end=end)
        assert log.ids is not None
        return (
            log.customer_ids.tolist(),
            log.customer.tolist(),
            log.time.astype(np.int64).tolist(),
            log.amount.tolist(),
            log.kind.tolist(),
            None if log.quantity is None else log.quantity.tolist(),
            log.ids.tolist(),
            log.currency,
        )

    _agree(sqlite_uow, "transactions", records, columns)
    _agree(sqlite_uow, "transactions", records, lambda r: (r.count(), r.existing_external_refs([])))


@given(
    records=activities,
    rep_id=st.none() | st.sampled_from([*REPS, "rep-9"]),
    customer_id=customer_filter,
    opportunity_id=st.none() | st.sampled_from(["o-1", "o-2", "o-9"]),
    start=bounds,
    end=bounds,
    limit=limits,
)
def test_activities_agree(
    sqlite_uow: SqlUnitOfWork,
    records: list[Activity],
    rep_id: str | None,
    customer_id: str | None,
    opportunity_id: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int | None,
) -> None:
    """Ordered by done (else due) time, one with neither first; the range on either time."""
    _agree(
        sqlite_uow,
        "activities",
        records,
        lambda r: r.list(
            rep_id=rep_id,
            customer_id=customer_id,
            opportunity_id=opportunity_id,
            start=start,
            end=end,
            limit=limit,
        ),
    )


@given(
    records=surveys,
    customer_id=customer_filter,
    survey=st.none() | st.sampled_from(["onboarding", "quarterly", "exit"]),
    start=bounds,
    end=bounds,
    limit=limits,
)
def test_surveys_agree(
    sqlite_uow: SqlUnitOfWork,
    records: list[SurveyResponse],
    customer_id: str | None,
    survey: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int | None,
) -> None:
    _agree(
        sqlite_uow,
        "surveys",
        records,
        lambda r: r.list(customer_id=customer_id, survey=survey, start=start, end=end, limit=limit),
    )


@given(
    records=costs,
    customer_id=customer_filter,
    category=st.none() | st.sampled_from(["visit", "Visit", "VISIT", "call_center"]),
    start=bounds,
    end=bounds,
    limit=limits,
)
def test_costs_agree(
    sqlite_uow: SqlUnitOfWork,
    records: list[CostEntry],
    customer_id: str | None,
    category: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int | None,
) -> None:
    _agree(
        sqlite_uow,
        "costs",
        records,
        lambda r: r.list(
            customer_id=customer_id, category=category, start=start, end=end, limit=limit
        ),
    )


LISTS: dict[str, tuple[str, ...]] = {
    "interactions": ("customer_id", "rep_id"),
    "transactions": ("customer_id",),
    "activities": ("rep_id", "customer_id", "opportunity_id"),
    "surveys": ("customer_id", "survey"),
    "costs": ("customer_id", "category"),
}


@st.composite
def _bad_call(draw: st.DrawFn) -> tuple[str, str, Callable[[Any], Any]]:
    """A call of a record repository with one bad argument: its repository, the argument's
    name and the call."""
    repo = draw(st.sampled_from(sorted(LISTS)))
    options: list[tuple[str, Callable[[Any], Any]]] = []
    for name in LISTS[repo]:
        value = draw(st.sampled_from(BAD_TEXT))
        options.append((name, lambda r, n=name, v=value: r.list(**{n: v})))
    for name in ("start", "end"):
        value = draw(st.sampled_from(BAD_TIME))
        options.append((name, lambda r, n=name, v=value: r.list(**{n: v})))
    bad_limit = draw(st.sampled_from(BAD_LIMIT))
    options.append(("limit", lambda r: r.list(limit=bad_limit)))
    bad_id = draw(st.sampled_from(BAD_TEXT))
    options.append(("id", lambda r: r.get(bad_id)))
    bad_records = draw(st.sampled_from(["i-1", None, 3, {"i-1": 1}]))
    options.append(("records", lambda r: r.add_many(bad_records)))
    if repo == "interactions":
        channels = draw(st.sampled_from(["phone", ["fax"], 3, [None]]))
        options.append(("channels", lambda r: r.list(channels=channels)))
    if repo in ("interactions", "transactions"):
        batch = draw(st.sampled_from(BAD_BATCH))
        options.append(("batch_size", lambda r: list(r.iter(batch_size=batch))))
    if repo == "transactions":
        kinds = draw(st.sampled_from(["refund", ["gift"], 3]))
        options.append(("kinds", lambda r: r.list(kinds=kinds)))
        ids = draw(st.sampled_from(["c-1", [7], ["\ud800"], None]))
        if ids is not None:
            options.append(("customer_ids", lambda r: r.read_log(customer_ids=ids)))
        refs = draw(st.sampled_from(["r-1", [None], 5]))
        options.append(("refs", lambda r: r.existing_external_refs(refs)))
    name, call = draw(st.sampled_from(options))
    return repo, name, call


@given(case=_bad_call())
def test_bad_arguments_raise_the_same_error(
    sqlite_uow: SqlUnitOfWork, case: tuple[str, str, Callable[[Any], Any]]
) -> None:
    repo, _name, call = case
    memory, sql = _both(sqlite_uow, repo, [], call)
    assert isinstance(memory, tuple) and issubclass(memory[0], CRMError), memory
    assert memory == sql


def test_a_stored_duplicate_is_named_alike(sqlite_uow: SqlUnitOfWork) -> None:
    """The id that clashes is named by both backends, whether it is stored or repeated."""
    t = Transaction(id="t-1", customer_id="c-1", occurred_at=BASE, amount=Money("1", "EUR"))
    other = Transaction(id="t-2", customer_id="c-1", occurred_at=BASE, amount=Money("1", "EUR"))
    for ask, message in (
        (lambda r: r.add(t), "transaction 't-1' is already stored"),
        (lambda r: r.add_many([other, t]), "transaction 't-1' is already stored; none was added"),
        (
            lambda r: r.add_many([other, other]),
            "transaction 't-2' is given twice in 'transactions'; none was added",
        ),
    ):
        memory, sql = _both(sqlite_uow, "transactions", [t], ask)
        assert memory == sql
        assert memory[1] == message


def test_a_clash_in_the_columnar_paths_is_named_alike(sqlite_uow: SqlUnitOfWork) -> None:
    """``add_log`` and ``add_validated``: a stored id or one repeated in trusted rows is named
    alike by both backends, and nothing of the rows is stored."""
    from crmcore.repositories._columnar import ValidatedRows
    from crmcore.tables import TransactionLog

    t = Transaction(id="t-1", customer_id="c-1", occurred_at=BASE, amount=Money("1", "EUR"))

    def rows(*ids: str) -> ValidatedRows:
        n = len(ids)
        return ValidatedRows(
            {
                "id": list(ids),
                "customer_id": ["c-2"] * n,
                "occurred_at": [0] * n,
                "amount_e6": [1_000_000] * n,
                "currency": ["EUR"] * n,
                "kind": [0] * n,
                "quantity": [1] * n,
            }
        )

    log = TransactionLog.from_arrays(
        customer_ids=["c-2", "c-2"],
        timestamps=["2024-01-01", "2024-01-02"],
        amounts=[1.0, 2.0],
        currency="EUR",
        ids=["t-0", "t-1"],
    )
    for ask, message in (
        (lambda r: r.add_log(log), "transaction 't-1' is already stored; none was added"),
        (
            lambda r: r.add_validated(rows("t-2", "t-1")),
            "transaction 't-1' is already stored; none was added",
        ),
        (
            lambda r: r.add_validated(rows("t-2", "t-3", "t-2")),
            "transaction 't-2' is given twice in 'rows'; none was added",
        ),
    ):
        memory, sql = _both(
            sqlite_uow, "transactions", [t], lambda r, ask=ask: (ask(r), r.count())[0]
        )
        assert memory == sql
        assert memory[1] == message
    counts = _both(
        sqlite_uow,
        "transactions",
        [t],
        lambda r: [_swallow(lambda: r.add_validated(rows("t-2", "t-1"))), r.count()],
    )
    assert counts == ([None, 1], [None, 1])


def _swallow(call: Callable[[], Any]) -> None:
    try:
        call()
    except CRMError:
        return
