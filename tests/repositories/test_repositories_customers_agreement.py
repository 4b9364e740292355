"""Customers and documents: the memory backend and the SQL backends give the same answers.

One validating front (``crmcore.repositories._customers`` / ``_documents``) over
two storage parts: random customers and random filters, limits and batch sizes
must select the same customers in the same order from memory as from SQLite
(and from the PostgreSQL and MariaDB servers when they are reachable); bad
arguments must raise the same crmcore error with the same message; random
sequences of document writes, reads, listings and deletions must agree step
by step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcore.errors import CRMError
from crmcore.model import Customer
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
from crmcore.repositories._customers import CUSTOMERS

_DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
_INSTANTS = [_DAY0 + timedelta(days=d, microseconds=u) for d in (0, 1, 40) for u in (0, 1)]
_IDS = ["a", "A", "b", "ab", "a b", "é", "中", "z9", "Z", "a-1", "a_1", "b2"]
_OWNERS = ["rep-1", "rep-2", "Rep-1"]
_SEGMENTS = ["gold", "silver", "Gold"]
_KEYS = ["k1", "k2", "K1", "é-k", "k3"]


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def sql_uow(request: pytest.FixtureRequest) -> SqlUnitOfWork:
    """One emptied SQL unit of work per test; every example runs in a block that rolls back."""
    factory: Callable[[], SqlUnitOfWork] = request.getfixturevalue(f"{request.param}_factory")
    return factory()


_customers = st.builds(
    Customer,
    id=st.sampled_from(_IDS),
    name=st.sampled_from(["Ada", "Li Wei", "Zoë"]),
    owner_id=st.none() | st.sampled_from(_OWNERS),
    segment=st.none() | st.sampled_from(_SEGMENTS),
    acquired_at=st.none() | st.sampled_from(_INSTANTS),
    external_key=st.none() | st.sampled_from(_KEYS),
    tags=st.lists(st.sampled_from(["vip", "b2b"]), max_size=2),
)
"""Customers from small pools, so that filters, ties and repeated external keys happen (the
round trip of every field is the contract suite's)."""


_population = st.lists(_customers, min_size=1, max_size=12, unique_by=lambda c: c.id)
_bound = (
    st.none()
    | st.sampled_from(_INSTANTS)
    | st.sampled_from(["2024-01-02", "2023-12-31T23:00:00+01:00"])
)
_filters = st.fixed_dictionaries(
    {"limit": st.none() | st.integers(0, 3) | st.integers(0, 14)},
    optional={
        "owner_id": st.none() | st.sampled_from([*_OWNERS, "rep-1 ", "rep"]),
        "segment": st.none() | st.sampled_from([*_SEGMENTS, "gold ", ""]),
        "acquired_from": _bound,
        "acquired_to": _bound,
    },
)


def _outcome(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """What a call gave: its value, or the crmcore error's type and message."""
    try:
        return "value", call(*args, **kwargs)
    except CRMError as e:
        return type(e).__name__, str(e)


@contextmanager
def _both(
    sql: SqlUnitOfWork, people: list[Customer]
) -> Iterator[tuple[MemoryUnitOfWork, SqlUnitOfWork]]:
    """A memory and an SQL block holding ``people``."""
    mem = MemoryUnitOfWork()
    with mem, sql:
        assert mem.customers.add_many(people) == sql.customers.add_many(people) == len(people)
        yield mem, sql
        # leaving without commit: the SQL block rolls back for the next example


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=_population, filters=st.lists(_filters, min_size=1, max_size=4))
def test_lists_agree_with_memory(
    sql_uow: SqlUnitOfWork, people: list[Customer], filters: list[dict[str, Any]]
) -> None:
    with _both(sql_uow, people) as (mem, sql):
        assert sql.customers.count() == mem.customers.count() == len(people)
        for f in filters:
            got = _outcome(sql.customers.list, **f)
            assert got == _outcome(mem.customers.list, **f), f
            if got[0] == "value":  # the reference: the spec's rule in plain Python
                assert [c.id for c in got[1]] == _reference(people, f)


def _reference(people: list[Customer], f: dict[str, Any]) -> list[str]:
    from crmcore.repositories._args import time_bounds

    lo, hi = time_bounds(f.get("acquired_from"), f.get("acquired_to"))
    out = []
    for c in sorted(people, key=lambda c: c.id):
        if f.get("owner_id") is not None and c.owner_id != f["owner_id"]:
            continue
        if f.get("segment") is not None and c.segment != f["segment"]:
            continue
        if lo is not None or hi is not None:
            if c.acquired_at is None:
                continue
            t = int((c.acquired_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))
            if (lo is not None and t < lo) or (hi is not None and t >= hi):
                continue
        out.append(c.id)
    limit = f.get("limit")
    return out if limit is None else out[:limit]


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    people=_population,
    batch=st.integers(1, 5),
    keys=st.lists(st.sampled_from([*_KEYS, "k1 ", "nope"]), max_size=6),
)
def test_iter_and_external_keys_agree_with_memory(
    sql_uow: SqlUnitOfWork, people: list[Customer], batch: int, keys: list[str]
) -> None:
    with _both(sql_uow, people) as (mem, sql):
        streamed = list(sql.customers.iter(batch_size=batch))
        assert streamed == list(mem.customers.iter(batch_size=batch)) == mem.customers.list()
        found = sql.customers.by_external_keys(keys)
        assert found == mem.customers.by_external_keys(keys)
        expected = {  # the smallest id of each stored key asked for
            k: min(c.id for c in people if c.external_key == k)
            for k in set(keys)
            if any(c.external_key == k for c in people)
        }
        assert found == expected


_BAD_CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("owner_id int", lambda r: r.list(owner_id=7)),
    ("segment NUL", lambda r: r.list(segment="go\x00ld")),
    ("acquired_from text", lambda r: r.list(acquired_from="yesterday")),
    ("acquired_to naive", lambda r: r.list(acquired_to=datetime(2024, 1, 1))),
    ("limit negative", lambda r: r.list(limit=-1)),
    ("limit fraction", lambda r: r.list(limit=1.5)),
    ("limit huge", lambda r: r.list(limit=2**63)),
    ("batch 0", lambda r: r.iter(batch_size=0)),
    ("batch text", lambda r: r.iter(batch_size="2")),
    ("keys one string", lambda r: r.by_external_keys("k1")),
    ("keys ints", lambda r: r.by_external_keys([1])),
    ("keys surrogate", lambda r: r.by_external_keys(["\udc80"])),
    ("get dict", lambda r: r.get({})),
    ("find None", lambda r: r.find(None)),
    ("get missing", lambda r: r.get("nobody")),
    ("add text", lambda r: r.add("c-1")),
    ("add version", lambda r: r.add(Customer(id="n", name="N", version=2))),
    ("add stored", lambda r: r.add(Customer(id="a", name="Again"))),
    ("add_many None", lambda r: r.add_many(None)),
    ("add_many twice", lambda r: r.add_many([Customer(id="n", name="N")] * 2)),
    (
        "add_many stored",
        lambda r: r.add_many([Customer(id="n", name="N"), Customer(id="b", name="B")]),
    ),
    ("update missing", lambda r: r.update(Customer(id="nobody", name="N"))),
    ("update stale", lambda r: r.update(Customer(id="a", name="A", version=3))),
    ("update text", lambda r: r.update({"id": "a"})),
]


@pytest.mark.parametrize(("label", "call"), _BAD_CALLS, ids=[b[0] for b in _BAD_CALLS])
def test_bad_arguments_raise_the_same_error(
    sql_uow: SqlUnitOfWork, label: str, call: Callable[[Any], Any]
) -> None:
    people = [Customer(id="a", name="Ada"), Customer(id="b", name="Bo")]
    with _both(sql_uow, people) as (mem, sql):
        got = _outcome(lambda: call(sql.customers))
        assert got[0] != "value", (label, got)
        assert got == _outcome(lambda: call(mem.customers)), label
        assert [c.id for c in sql.customers.list()] == ["a", "b"]  # nothing was stored


def test_the_spec_names_the_public_arguments() -> None:
    assert (CUSTOMERS.bounds, [f.name for f in CUSTOMERS.filters]) == (
        ("acquired_from", "acquired_to"),
        ["owner_id", "segment"],
    )


# -- documents ------------------------------------------------------------------------------------

_DOC_KEYS = st.sampled_from(["a", "b", "B", "b ", "é"])
_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("put"),
            _DOC_KEYS,
            st.none() | st.integers(-1, 4) | st.just(1.5),
            st.one_of(st.integers(), st.text(max_size=5), st.lists(st.booleans(), max_size=2)),
        ),
        st.tuples(st.just("get"), _DOC_KEYS, st.none() | st.integers(-1, 5) | st.just("1")),
        st.tuples(st.just("keys"), st.sampled_from(["rule", "other", "", 3])),
        st.tuples(st.just("delete"), _DOC_KEYS),
        st.tuples(st.just("put_latest"), _DOC_KEYS, st.integers()),
    ),
    max_size=14,
)


def _run(docs: Any, op: tuple[Any, ...]) -> tuple[str, Any]:
    name = op[0]
    if name == "put":
        return _outcome(lambda: docs.put("rule", op[1], op[3], expected_version=op[2]))
    if name == "put_latest":  # a write based on the version just read (mostly succeeds)
        latest = _outcome(lambda: docs.get("rule", op[1])[1])
        v = latest[1] if latest[0] == "value" else None
        return _outcome(lambda: docs.put("rule", op[1], op[2], expected_version=v))
    if name == "get":
        return _outcome(lambda: docs.get("rule", op[1], version=op[2]))
    if name == "keys":
        return _outcome(lambda: docs.keys(op[1]))
    return _outcome(lambda: docs.delete("rule", op[1]))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops)
def test_document_sequences_agree_with_memory(
    sql_uow: SqlUnitOfWork, ops: list[tuple[Any, ...]]
) -> None:
    mem = MemoryUnitOfWork()
    with mem, sql_uow:
        for i, op in enumerate(ops):
            assert _run(sql_uow.documents, op) == _run(mem.documents, op), (i, op)
        assert sql_uow.documents.keys("rule") == mem.documents.keys("rule")
