"""Memory and SQLite answer alike for opportunities: one front (``repositories/_opportunities.py``),
two stores.

Hypothesis draws opportunities and a sequence of writes (moves, some closing or reopening a
deal, edits of the owner, the amount or the probability, with reused request ids, stale
versions and moves from the wrong stage among them), applies them to a memory and an SQLite
unit of work with the same step clock, and asks both the same random questions: ``list()``
with every filter (``open_only`` included) and a limit, ``history``, ``events`` (of one
request too), ``read_history`` and ``read_changes`` with random funnels, owners, fields and
time bounds. Every answer, and every refused write's error type and message, must be the
same. Bad arguments of every method give the same crmcore error on both.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import attrs
import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from crmcore.errors import CRMError
from crmcore.model import FieldChange, Money, Opportunity, StageChange
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
from crmcore.repositories.protocols import UnitOfWork
from crmcore.tables import FieldHistory, StageHistory

T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)
CLOCK0 = T0 + timedelta(days=60)  # the step clock starts after every effective time
STAGES = ("lead", "qualified", "proposal", "won", "lost")
CLOSING = ("won", "lost")
OWNERS = ("ann", "bob", "cy")
CUSTOMERS = ("c-1", "c-2")
FUNNELS = ("f1", "f2")
REQUESTS = (None, None, "r-1", "r-2")


def _step_clock() -> Callable[[], datetime]:
    """A clock one second later at every reading: both backends read it as often."""
    ticks = itertools.count()
    return lambda: CLOCK0 + timedelta(seconds=next(ticks))


@pytest.fixture(scope="module")
def pair(sqlite_factory: Callable[[], SqlUnitOfWork]) -> Callable[[], tuple[Any, Any]]:
    """Makes a fresh (memory, SQLite file) pair of units of work, each with its step clock
    (the file is emptied each time: one per generated example)."""

    def make() -> tuple[MemoryUnitOfWork, SqlUnitOfWork]:
        engine: sa.Engine = sqlite_factory().engine
        return MemoryUnitOfWork(clock=_step_clock()), SqlUnitOfWork(engine, clock=_step_clock())

    return make


# -- what is drawn ----------------------------------------------------------------------------
_deals = st.lists(
    st.tuples(
        st.sampled_from(OWNERS),
        st.sampled_from(CUSTOMERS),
        st.sampled_from(FUNNELS),
        st.sampled_from(STAGES[:3]),
        st.none() | st.decimals(0, 10_000, places=2).map(lambda d: Money(d, "EUR")),
        st.none() | st.sampled_from([0.1, 0.25, 1 / 3]),
    ),
    min_size=1,
    max_size=6,
)
_ops = st.lists(
    st.tuples(
        st.integers(0, 5),  # which deal (modulo their number)
        st.sampled_from(["move", "move", "edit", "stale", "wrong-stage"]),
        st.sampled_from(STAGES),
        st.sampled_from(["owner_id", "amount", "probability"]),
        st.integers(0, 2),  # which new value
        st.sampled_from(REQUESTS),
        st.none() | st.sampled_from(["price", "timing"]),
    ),
    max_size=14,
)
_opt = {
    "owner_id": st.none() | st.sampled_from(OWNERS),
    "customer_id": st.none() | st.sampled_from(CUSTOMERS),
    "funnel": st.none() | st.sampled_from(FUNNELS),
    "stage": st.none() | st.sampled_from(STAGES),
}
_list_filters = st.fixed_dictionaries(
    {},
    optional={**_opt, "open_only": st.booleans(), "limit": st.none() | st.integers(0, 4)},
)
_times = st.none() | st.integers(-2, 40).map(lambda h: T0 + timedelta(hours=h))
_known = st.none() | st.integers(-1, 30).map(lambda s: CLOCK0 + timedelta(seconds=s))
_history_filters = st.fixed_dictionaries(
    {},
    optional={
        "funnel": _opt["funnel"],
        "owner_id": _opt["owner_id"],
        "start": _times,
        "end": _times,
        "known_at": _known,
    },
)
_changes_filters = st.fixed_dictionaries(
    {},
    optional={
        "funnel": _opt["funnel"],
        "fields": st.none()
        | st.lists(st.sampled_from(["owner_id", "amount", "probability", "product"]), max_size=3),
        "end": _times,
        "known_at": _known,
    },
)


# -- what is done ----------------------------------------------------------------------------
def _outcome(call: Callable[[], Any]) -> Any:
    """The answer, or the error's type and message."""
    try:
        return ("ok", call())
    except CRMError as e:
        return (type(e).__name__, str(e))


def _new_value(o: Opportunity, field: str, pick: int) -> Any:
    if field == "owner_id":
        return OWNERS[pick]
    if field == "amount":
        return (None, Money("12.5", "EUR"), Money(Decimal(pick * 1000), "EUR"))[pick]
    return (None, 0.5, 0.75)[pick]


def _write(uow: UnitOfWork, deal: str, op: tuple[Any, ...], at: datetime) -> Any:
    _, kind, to, field, pick, request, reason = op
    o = uow.opportunities.get(deal)
    if kind == "edit":
        new = _new_value(o, field, pick)
        ev: StageChange | FieldChange = FieldChange(
            opportunity_id=deal, sequence=o.version + 1, field=field,
            old=getattr(o, field), new=new, at=at, by="mgr", request_id=request,
        )  # fmt: skip
        return uow.opportunities.save(attrs.evolve(o, **{field: new}), [ev])
    frm = o.stage if kind != "wrong-stage" else STAGES[(STAGES.index(o.stage) + 1) % 5]
    ev = StageChange(
        opportunity_id=deal, sequence=o.version + 1, from_stage=frm, to_stage=to, at=at,
        by=o.owner_id, reason=reason, request_id=request,
    )  # fmt: skip
    closed = to in CLOSING
    moved = attrs.evolve(
        o,
        stage=to,
        stage_entered_at=at,
        closed_at=at if closed else None,
        lost_reason=reason if to == "lost" else None,
        version=o.version + (1 if kind == "stale" else 0),
    )
    return uow.opportunities.save(moved, [ev])


def _fill(uow: UnitOfWork, deals: list[tuple[Any, ...]], ops: list[tuple[Any, ...]]) -> list[Any]:
    """Store the deals and apply the writes in one committed block: the outcome of each."""
    out: list[Any] = []
    with uow:
        for i, (owner, customer, funnel, stage, amount, probability) in enumerate(deals):
            o = Opportunity(
                id=f"o-{i}", customer_id=customer, owner_id=owner, funnel=funnel, stage=stage,
                created_at=T0 + timedelta(minutes=i), amount=amount, probability=probability,
            )  # fmt: skip
            out.append(_outcome(partial(uow.opportunities.add, o)))
        for step, op in enumerate(ops):
            deal = f"o-{op[0] % len(deals)}"
            at = T0 + timedelta(hours=step + 1)
            out.append(_outcome(partial(_write, uow, deal, op, at)))
        uow.commit()
    return out


def _labels(codes: Any, labels: Any) -> list[Any]:
    return [None if c < 0 else str(labels[c]) for c in np.asarray(codes).tolist()]


def _nan_none(values: Any) -> list[Any]:
    return [None if np.isnan(v) else v for v in np.asarray(values).tolist()]


def _stage_columns(h: StageHistory) -> dict[str, Any]:
    return {
        "id": _labels(h.opportunity, h.opportunity_ids),
        "sequence": h.sequence.tolist(),
        "from": _labels(h.from_stage, h.stages),
        "to": _labels(h.to_stage, h.stages),
        "at": h.at.tolist(),
        "amount": _nan_none(h.amount),
        "owner": _labels(h.owner, h.owner_ids),
        "product": _labels(h.product, h.products),
        "probability": _nan_none(h.probability),
        "by": _labels(h.by, h.by_ids),
        "reason": _labels(h.reason, h.reason_labels),
        "recorded_at": None if h.recorded_at is None else h.recorded_at.tolist(),
        "category": _labels(h.category, h.category_labels),
        "currency": _labels(h.currency, h.currency_labels),
        "funnel_version": None if h.funnel_version is None else h.funnel_version.tolist(),
    }


def _answer(value: Any) -> Any:
    """A comparable form of a read's answer."""
    if isinstance(value, tuple) and value and value[0] == "ok":
        return ("ok", _answer(value[1]))
    if isinstance(value, StageHistory):
        return _stage_columns(value)
    if isinstance(value, FieldHistory):
        return value.to_changes()
    return value


def _ask(uow: UnitOfWork, n: int, questions: dict[str, list[dict[str, Any]]]) -> list[Any]:
    repo = uow.opportunities
    out: list[Any] = []
    with uow:
        out.extend(
            ("list", f, _answer(_outcome(partial(repo.list, **f)))) for f in questions["list"]
        )
        for i in range(n + 1):  # o-<n> is not stored
            deal = f"o-{i}"
            out.append(("history", deal, _answer(_outcome(partial(repo.history, deal)))))
            for r in REQUESTS[1:]:
                got = _outcome(partial(repo.events, deal, request_id=r))
                out.append(("events", deal, r, got))
        out.extend(
            ("read_history", f, _answer(_outcome(partial(repo.read_history, **f))))
            for f in questions["history"]
        )
        out.extend(
            ("read_changes", f, _answer(_outcome(partial(repo.read_changes, **f))))
            for f in questions["changes"]
        )
    return out


@given(
    deals=_deals,
    ops=_ops,
    lists=st.lists(_list_filters, min_size=1, max_size=5),
    histories=st.lists(_history_filters, min_size=1, max_size=4),
    changes=st.lists(_changes_filters, min_size=1, max_size=3),
)
def test_memory_and_sqlite_store_and_answer_alike(
    pair: Callable[[], tuple[UnitOfWork, UnitOfWork]],
    deals: list[tuple[Any, ...]],
    ops: list[tuple[Any, ...]],
    lists: list[dict[str, Any]],
    histories: list[dict[str, Any]],
    changes: list[dict[str, Any]],
) -> None:
    memory, sqlite = pair()
    written = _fill(memory, deals, ops)
    assert _fill(sqlite, deals, ops) == written
    questions = {"list": lists, "history": histories, "changes": changes}
    mine, theirs = _ask(memory, len(deals), questions), _ask(sqlite, len(deals), questions)
    for a, b in zip(mine, theirs, strict=True):
        assert a == b


# -- bad arguments ---------------------------------------------------------------------------
_bad_texts = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.sampled_from(["a\x00b", "x\ud800", b"o-1"]),
)
_bad_times = st.one_of(
    st.sampled_from([datetime(2025, 1, 1), "not a time", "2025-13-01", [T0]]),
    st.integers(min_value=2**70),
)
_DEAL = Opportunity(
    id="o-1", customer_id="c-1", owner_id="ann", funnel="f1", stage="lead", created_at=T0
)


def _bad_calls() -> st.SearchStrategy[tuple[str, Callable[[UnitOfWork], Any]]]:
    def on(name: str, make: Callable[[Any], Callable[[UnitOfWork], Any]], values: Any) -> Any:
        return values.map(lambda v: (f"{name}: {v!r}", make(v)))

    r = "opportunities"
    filters = ("owner_id", "customer_id", "funnel", "stage")
    return st.one_of(
        on("get", lambda v: lambda u: u.opportunities.get(v), _bad_texts | st.none()),
        on("find", lambda v: lambda u: u.opportunities.find(v), _bad_texts | st.none()),
        on("history", lambda v: lambda u: u.opportunities.history(v), _bad_texts | st.none()),
        on("events", lambda v: lambda u: u.opportunities.events(v), _bad_texts | st.none()),
        on(
            "events request_id",
            lambda v: lambda u: u.opportunities.events("o-1", request_id=v),
            _bad_texts,
        ),
        st.sampled_from(filters).flatmap(
            lambda name: on(
                f"list {name}", lambda v: lambda u: getattr(u, r).list(**{name: v}), _bad_texts
            )
        ),
        on(
            "list open_only",
            lambda v: lambda u: u.opportunities.list(open_only=v),
            st.sampled_from([1, 0, "yes", None, 1.0]),
        ),
        on(
            "list limit",
            lambda v: lambda u: u.opportunities.list(limit=v),
            st.sampled_from([-1, 1.5, "3", True, 2**64]),
        ),
        st.sampled_from(["funnel", "owner_id"]).flatmap(
            lambda name: on(
                f"read_history {name}",
                lambda v: lambda u: u.opportunities.read_history(**{name: v}),
                _bad_texts,
            )
        ),
        st.sampled_from(["start", "end", "known_at"]).flatmap(
            lambda name: on(
                f"read_history {name}",
                lambda v: lambda u: u.opportunities.read_history(**{name: v}),
                _bad_times,
            )
        ),
        st.sampled_from(["end", "known_at"]).flatmap(
            lambda name: on(
                f"read_changes {name}",
                lambda v: lambda u: u.opportunities.read_changes(**{name: v}),
                _bad_times,
            )
        ),
        on(
            "read_changes fields",
            lambda v: lambda u: u.opportunities.read_changes(fields=v),
            st.sampled_from(["amount", [1], ["a\x00"], 3, {"amount": 1}]),
        ),
        on(
            "read_changes funnel",
            lambda v: lambda u: u.opportunities.read_changes(funnel=v),
            _bad_texts,
        ),
        on(
            "add",
            lambda v: lambda u: u.opportunities.add(v),
            st.sampled_from(
                ["o-1", None, attrs.evolve(_DEAL, version=2), attrs.evolve(_DEAL, id="o-1")]
            ),
        ),
        on(
            "add event",
            lambda v: lambda u: u.opportunities.add(attrs.evolve(_DEAL, id="o-9"), v),
            st.sampled_from(["e", 0]),
        ),
        on(
            "save",
            lambda v: lambda u: u.opportunities.save(*v),
            st.sampled_from(
                [
                    ("o-1", ()),
                    (_DEAL, "abc"),
                    (_DEAL, None),
                    (_DEAL, ()),
                    (_DEAL, ["event"]),
                    (attrs.evolve(_DEAL, id="o-404"), ()),
                    (attrs.evolve(_DEAL, version=3), ()),
                    (attrs.evolve(_DEAL, customer_id="c-2"), ()),
                ]
            ),
        ),
    )


@given(call=_bad_calls())
def test_bad_arguments_give_the_same_crmcore_error_on_both(
    pair: Callable[[], tuple[UnitOfWork, UnitOfWork]],
    call: tuple[str, Callable[[UnitOfWork], Any]],
) -> None:
    what, run = call
    answers = []
    for uow in pair():
        with uow:
            uow.opportunities.add(_DEAL)
            try:
                run(uow)
            except CRMError as e:
                answers.append((type(e).__name__, str(e)))
            else:
                pytest.fail(f"{what} was accepted by {type(uow).__name__}")
    assert answers[0] == answers[1], what
