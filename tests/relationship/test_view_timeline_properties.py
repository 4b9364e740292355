"""Timeline invariants (hypothesis): pages concatenated are the full ordered timeline, without
duplicates, whatever the page size; filtered pages are the full list filtered."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcore.model import Activity, Customer, Interaction, Money, SurveyResponse, Transaction
from crmcore.relationship import customer_timeline
from crmcore.repositories import MemoryUnitOfWork

_spec = importlib.util.spec_from_file_location(
    "_repositories_conftest", Path(__file__).parents[1] / "repositories" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_backends = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_backends)
sqlite_factory = _backends.sqlite_factory

T0 = datetime(2023, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
CHANNELS = ["phone", "email", "web", "sms"]
ACTIVITY_CHANNEL = {"call": "phone", "email": "email", "task": None}


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, str, int, str]]:
    """(kind, id, hour, channel) of up to 40 records on few distinct times (many ties)."""
    n = draw(st.integers(0, 40))
    out = []
    for k in range(n):
        kind = draw(st.sampled_from(["interaction", "transaction", "survey", "activity"]))
        hour = draw(st.integers(0, 6) | st.just(2))  # often the same time
        channel = draw(st.sampled_from(CHANNELS))
        # ids may repeat across kinds (the key is (time, kind, id)) and sort in any order
        rid = draw(st.sampled_from([f"r-{k}", f"z{k}", f"a-{k:02d}"]))
        out.append((kind, rid, hour, channel))
    seen: set[tuple[str, str]] = set()
    return [r for r in out if (r[0], r[1]) not in seen and not seen.add((r[0], r[1]))]  # type: ignore[func-returns-value]


def store(
    uow: Any, rows: list[tuple[str, str, int, str]]
) -> list[tuple[int, str, str, str | None]]:
    """Store the rows for customer c-1 (and a copy for c-2); the reference timeline of c-1."""
    ref = []
    with uow:
        uow.customers.add(Customer(id="c-1", name="A"))
        uow.customers.add(Customer(id="c-2", name="B"))
        for cust in ("c-1", "c-2"):
            for kind, rid, hour, channel in rows:
                at = T0 + timedelta(hours=hour)
                rid2 = rid if cust == "c-1" else f"{rid}-other"
                if kind == "interaction":
                    uow.interactions.add(Interaction(id=rid2, customer_id=cust, channel=channel,
                                                     direction="inbound", occurred_at=at))  # fmt: skip
                    ch: str | None = channel
                elif kind == "transaction":
                    uow.transactions.add(Transaction(id=rid2, customer_id=cust, occurred_at=at,
                                                     amount=Money("1", "USD"), channel=channel))  # fmt: skip
                    ch = channel
                elif kind == "survey":
                    uow.surveys.add(SurveyResponse(id=rid2, customer_id=cust, responded_at=at, nps=5,
                                                   channel=channel))  # fmt: skip
                    ch = channel
                else:
                    akind = ["call", "email", "task"][hour % 3]
                    uow.activities.add(Activity(id=rid2, kind=akind, rep_id="r", customer_id=cust,
                                                status="done", done_at=at))  # fmt: skip
                    ch = ACTIVITY_CHANNEL[akind]
                if cust == "c-1":
                    ref.append(((at - datetime(1970, 1, 1, tzinfo=UTC)) // US, kind, rid, ch))
        uow.commit()
    return sorted(ref)


def all_pages(uow: Any, size: int, **kw: Any) -> list[tuple[int, str, str, str | None]]:
    out: list[tuple[int, str, str, str | None]] = []
    cursor = None
    for _ in range(1000):
        page = customer_timeline(uow, "c-1", cursor=cursor, limit=size, **kw)
        out += [(*e.key, e.channel) for e in page.events]
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor
    raise AssertionError("the pages never end")


filters = st.fixed_dictionaries(
    {},
    optional={
        "kinds": st.lists(
            st.sampled_from(["interaction", "transaction", "survey", "activity"]),
            min_size=1,
            unique=True,
        ),
        "channels": st.lists(st.sampled_from([*CHANNELS, "fax"]), min_size=1, unique=True),
        "start": st.integers(0, 7),
        "end": st.integers(1, 8),
    },
)


def _keep(kw: dict[str, Any], r: tuple[int, str, str, str | None]) -> bool:
    us = (T0 - datetime(1970, 1, 1, tzinfo=UTC)) // US
    hour = (r[0] - us) / 3.6e9
    return (
        ("kinds" not in kw or r[1] in kw["kinds"])
        and ("channels" not in kw or r[3] in kw["channels"])
        and ("start" not in kw or hour >= kw["start"])
        and ("end" not in kw or hour < kw["end"])
    )


def _bounds(kw: dict[str, Any]) -> dict[str, Any] | None:
    kw = dict(kw)
    if "start" in kw and "end" in kw and kw["start"] >= kw["end"]:
        return None
    for b in ("start", "end"):
        if b in kw:
            kw[b] = T0 + timedelta(hours=kw[b])
    return kw


_TIME = {"interactions": "occurred_at", "transactions": "occurred_at", "surveys": "responded_at"}


class _TiesReversed:
    """A repository whose ``list`` answers in time order with ties in reverse id order, the
    limit applied after (the protocol promises time order only, not how ties are ordered)."""

    def __init__(self, repo: Any, name: str) -> None:
        self._repo, self._name = repo, name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repo, name)

    def list(self, *, limit: int | None = None, **kw: Any) -> list[Any]:
        rows = self._repo.list(**kw)
        attr = _TIME.get(self._name)

        def when(r: Any) -> Any:
            return getattr(r, attr) if attr else (r.done_at or r.due_at or T0 - timedelta(days=9))

        rows = sorted(sorted(rows, key=lambda r: r.id, reverse=True), key=when)
        return rows if limit is None else rows[:limit]


class TiesReversedUoW:
    """A memory unit of work seen through :class:`_TiesReversed` repositories."""

    def __init__(self) -> None:
        self._uow = MemoryUnitOfWork()

    def __getattr__(self, name: str) -> Any:
        repo = getattr(self._uow, name)
        if name in ("interactions", "transactions", "surveys", "activities"):
            return _TiesReversed(repo, name)
        return repo

    def __enter__(self) -> TiesReversedUoW:
        self._uow.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._uow.__exit__(*exc)

    def commit(self) -> None:
        self._uow.commit()

    def rollback(self) -> None:
        self._uow.rollback()


@given(rows=histories(), size=st.integers(1, 9), kw=filters, ties=st.booleans())
@settings(max_examples=100)
def test_pages_are_the_filtered_ordered_timeline_memory(
    rows: list[tuple[str, str, int, str]], size: int, kw: dict[str, Any], ties: bool
) -> None:
    uow: Any = TiesReversedUoW() if ties else MemoryUnitOfWork()
    ref = store(uow, rows)
    bounded = _bounds(kw)
    if bounded is None:
        return
    with uow:
        got = all_pages(uow, size, **bounded)
        assert len(set(got)) == len(got)  # no duplicates
        assert got == [r for r in ref if _keep(kw, r)]
        assert all_pages(uow, size) == ref  # unfiltered: everything, in key order


@given(rows=histories(), size=st.integers(1, 9), kw=filters)
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_pages_are_the_filtered_ordered_timeline_sqlite(
    sqlite_factory: Any, rows: list[tuple[str, str, int, str]], size: int, kw: dict[str, Any]
) -> None:
    uow = sqlite_factory()
    ref = store(uow, rows)
    bounded = _bounds(kw)
    if bounded is None:
        return
    with uow:
        got = all_pages(uow, size, **bounded)
        assert got == [r for r in ref if _keep(kw, r)]
