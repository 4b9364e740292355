"""One customer's timeline: every kind of record in one time order, paged by a stable cursor.

The timeline merges the customer's interactions, transactions, opportunity stage and
field changes, activities, survey responses, service cases (of a unit of work that stores
them) and (given an :class:`~crmcore.anomaly.AlertStore`) alerts. Events are ordered by the key
``(time, kind, id)``; a page ends with a cursor, the key of its last event as a text
token (``v1:<microseconds>:<kind>:<id>``), and the next page starts strictly after it,
so pages never repeat or skip an event even when many share a time, and a cursor stays
valid while records are added after it.

Every source is declared once in :data:`_SOURCES` (its kind, how to read one customer's
records in a time range with a limit, and how a record becomes an event); a new stored
record type is one more entry (service cases were). Interactions, transactions, activities,
surveys and service cases are read by the repositories' ``list(customer_id=, start=, end=, limit=)``,
an index range scan in the SQL backend: a page of ``n`` events reads about ``n + 1``
records of each source, never the customer's whole history. Opportunities (a few per
customer) are read with their events whole, and so are the activities logged against one
of the customer's deals without the customer (``Activity.customer_id`` None); alerts are
read through the store's ``list``.

>>> from datetime import datetime, UTC
>>> from crmcore.model import Customer, Interaction
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.customers.add(Customer(id="c-1", name="Ada"))
...     _ = uow.interactions.add_many(
...         Interaction(id=f"i-{d}", customer_id="c-1", channel="phone", direction="inbound",
...                     occurred_at=datetime(2024, 1, d, tzinfo=UTC)) for d in (1, 2, 3))
...     uow.commit()
>>> with uow:
...     page = customer_timeline(uow, "c-1", limit=2)
...     [e.id for e in page.events], page.next_cursor
...     [e.id for e in customer_timeline(uow, "c-1", cursor=page.next_cursor).events]
(['i-1', 'i-2'], 'v1:1704153600000000:interaction:i-2')
['i-3']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import numpy as np

from crmcore._frames import Columns, Tabular
from crmcore.anomaly import Alert, AlertStore
from crmcore.errors import ValidationError
from crmcore.model import (
    Activity,
    ActivityKind,
    Channel,
    FieldChange,
    Interaction,
    ServiceCase,
    StageChange,
    SurveyResponse,
    Transaction,
)
from crmcore.model._fields import instance, non_empty_str, opt_str, record_id, tuple_of, utc
from crmcore.options import as_count, as_id, expect_instance
from crmcore.relationship._view_fields import objects
from crmcore.repositories.protocols import (
    ServiceCaseUnitOfWork,
    UnitOfWork,
    expect_unit_of_work,
)
from crmcore.timestamps import MAX_MICROS, MIN_MICROS, as_datetime

__all__ = [
    "TIMELINE_KINDS",
    "TimelineEvent",
    "TimelinePage",
    "customer_timeline",
    "iter_timeline",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_NEVER = -(2**62)

MAX_PAGE = 10_000
"""The largest page ``customer_timeline`` returns (``limit``)."""


def _micros(t: datetime) -> int:
    return (t - _EPOCH) // _US


@attrs.frozen
class TimelineEvent:
    """One event of a customer's timeline: when, what kind, the record's id, its channel
    (None where the kind has none), a one-line summary and the record itself.

    ``id`` is the record's id; a stage or field change of an opportunity is
    ``"<opportunity id>#<sequence>"``. ``cursor`` is the event's position as a cursor token.

    >>> from datetime import datetime, UTC
    >>> e = TimelineEvent(datetime(2024, 1, 2, tzinfo=UTC), "survey", "s-1", None, "NPS 9", None)
    >>> e.cursor
    'v1:1704153600000000:survey:s-1'
    """

    at: datetime = attrs.field(validator=utc)
    kind: str = attrs.field()
    id: str = attrs.field(validator=non_empty_str)
    channel: str | None = attrs.field(validator=opt_str)
    summary: str = attrs.field(validator=instance(str, "a string"))
    record: Any = attrs.field(eq=False, repr=False)

    @kind.validator
    def _check_kind(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in TIMELINE_KINDS:
            raise ValidationError(
                f"TimelineEvent: 'kind' must be one of {', '.join(map(repr, TIMELINE_KINDS))}: "
                f"{value!r}"[:300]
            )

    @property
    def key(self) -> tuple[int, str, str]:
        """The order key ``(microseconds since the epoch, kind, id)``."""
        return (_micros(self.at), self.kind, self.id)

    @property
    def cursor(self) -> str:
        """The event's position as a cursor token (pass it as ``cursor=`` to continue after it)."""
        us, kind, rid = self.key
        return f"v1:{us}:{kind}:{rid}"


@attrs.frozen(eq=False)
class TimelinePage(Tabular):
    """One page of a customer's timeline, oldest first, and the cursor of the next page
    (None on the last page). Frames have one row per event (``at``, ``kind``, ``id``,
    ``channel``, ``summary``).

    >>> TimelinePage("c-1", (), None).to_pandas().columns.tolist()
    ['at', 'kind', 'id', 'channel', 'summary']
    """

    customer_id: str = attrs.field(validator=record_id)
    events: tuple[TimelineEvent, ...] = attrs.field(
        validator=tuple_of(TimelineEvent, "a TimelineEvent")
    )
    next_cursor: str | None = attrs.field()

    @next_cursor.validator
    def _check_cursor(self, attribute: attrs.Attribute[Any], value: object) -> None:
        parse_cursor(value, attribute.name)

    def __len__(self) -> int:
        return len(self.events)

    def _columns(self) -> Columns:
        ev = self.events
        return {
            "at": np.array([_micros(e.at) for e in ev], dtype=np.int64).astype("datetime64[us]"),
            "kind": objects(e.kind for e in ev),
            "id": objects(e.id for e in ev),
            "channel": objects(e.channel for e in ev),
            "summary": objects(e.summary for e in ev),
        }


# -- the sources: one entry per kind of record ------------------------------------------------


@attrs.frozen
class _Context:
    uow: UnitOfWork
    customer_id: str
    alerts: AlertStore | None
    channels: frozenset[str] | None


Reader = Callable[[_Context, datetime | None, datetime | None, int], Sequence[Any]]


@attrs.frozen
class _Source:
    """How one kind of record joins the timeline.

    ``read(ctx, start, end, limit)`` returns the customer's records of ``[start, end)`` in
    the order of their event time (ties in any order), at most ``limit`` when ``ranged``
    (a range read with a limit); otherwise every record of the customer in the range.
    ``events`` turns a record into its events (none: not on the timeline).
    """

    kind: str
    read: Reader
    events: Callable[[Any], Sequence[TimelineEvent]]
    ranged: bool = True


def _read_interactions(
    ctx: _Context, start: datetime | None, end: datetime | None, limit: int
) -> Sequence[Any]:
    channels = None
    if ctx.channels is not None:  # the filter goes to the index; other labels match nothing
        channels = sorted(c for c in ctx.channels if c in _CHANNEL_VALUES)
        if not channels:
            return []
    return ctx.uow.interactions.list(
        customer_id=ctx.customer_id, channels=channels, start=start, end=end, limit=limit
    )


_CHANNEL_VALUES = frozenset(c.value for c in Channel)


def _interaction(r: Interaction) -> Sequence[TimelineEvent]:
    text = f"{r.direction.value} {r.channel.value}"
    text += f": {r.subject}" if r.subject else ""
    text += f" ({r.outcome})" if r.outcome else ""
    return (TimelineEvent(r.occurred_at, "interaction", r.id, r.channel.value, text, r),)


def _transaction(r: Transaction) -> Sequence[TimelineEvent]:
    text = f"{r.kind.value} {r.amount.amount} {r.amount.currency}"
    text += f": {r.product}" if r.product else ""
    return (TimelineEvent(r.occurred_at, "transaction", r.id, r.channel, text, r),)


_ACTIVITY_CHANNEL = {
    ActivityKind.CALL: Channel.PHONE.value,
    ActivityKind.EMAIL: Channel.EMAIL.value,
    ActivityKind.MEETING: Channel.MEETING.value,
    ActivityKind.DEMO: Channel.MEETING.value,
    ActivityKind.VISIT: Channel.VISIT.value,
}
"""The channel of an activity's kind (tasks and quotes have none)."""


def _activity(r: Activity) -> Sequence[TimelineEvent]:
    at = r.done_at or r.due_at
    if at is None:  # an undated planned task has no place in time
        return ()
    text = f"{r.status.value} {r.kind.value}"
    text += f": {r.subject}" if r.subject else ""
    return (TimelineEvent(at, "activity", r.id, _ACTIVITY_CHANNEL.get(r.kind), text, r),)


def _survey(r: SurveyResponse) -> Sequence[TimelineEvent]:
    parts = [f"NPS {r.nps}" if r.nps is not None else "", f"CSAT {r.csat}" if r.csat else ""]
    text = ", ".join(p for p in parts if p)
    return (TimelineEvent(r.responded_at, "survey", r.id, r.channel, text, r),)


def _read_service_cases(
    ctx: _Context, start: datetime | None, end: datetime | None, limit: int
) -> Sequence[Any]:
    if not isinstance(ctx.uow, ServiceCaseUnitOfWork):  # an optional capability
        return []
    channels = None
    if ctx.channels is not None:
        channels = sorted(c for c in ctx.channels if c in _CHANNEL_VALUES)
        if not channels:
            return []
    return ctx.uow.service_cases.list(
        customer_id=ctx.customer_id, channels=channels, start=start, end=end, limit=limit
    )


def _service_case(r: ServiceCase) -> Sequence[TimelineEvent]:
    state = "open" if r.resolved_at is None else f"resolved {r.resolved_at.isoformat()}"
    text = f"{r.priority.value} {r.category} case ({state})"
    text += f": {r.subject}" if r.subject else ""
    return (TimelineEvent(r.opened_at, "service_case", r.id, r.channel.value, text, r),)


def _read_opportunity_events(
    ctx: _Context, start: datetime | None, end: datetime | None, limit: int
) -> Sequence[Any]:
    out: list[StageChange | FieldChange] = []
    for opp in ctx.uow.opportunities.list(customer_id=ctx.customer_id):
        out.extend(
            e
            for e in ctx.uow.opportunities.events(opp.id)
            if (start is None or e.at >= start) and (end is None or e.at < end)
        )
    return out


def _opportunity_event(r: StageChange | FieldChange) -> Sequence[TimelineEvent]:
    rid = f"{r.opportunity_id}#{r.sequence}"
    if isinstance(r, StageChange):
        text = f"{r.opportunity_id}: {r.from_stage or 'new'} -> {r.to_stage}"
        return (TimelineEvent(r.at, "stage_change", rid, None, text, r),)
    text = f"{r.opportunity_id}: {r.field} {r.old!r} -> {r.new!r}"
    return (TimelineEvent(r.at, "field_change", rid, None, text, r),)


def _read_deal_activities(
    ctx: _Context, start: datetime | None, end: datetime | None, limit: int
) -> Sequence[Any]:
    """Activities logged against one of the customer's deals but not against the customer
    (those with the customer are read by the customer's own range read)."""
    out: list[Activity] = []
    for opp in ctx.uow.opportunities.list(customer_id=ctx.customer_id):
        out.extend(
            a
            for a in ctx.uow.activities.list(opportunity_id=opp.id, start=start, end=end)
            if a.customer_id is None
        )
    return out


def _read_alerts(
    ctx: _Context, start: datetime | None, end: datetime | None, limit: int
) -> Sequence[Any]:
    if ctx.alerts is None:
        return []
    return ctx.alerts.list(customer_id=ctx.customer_id, start=start, end=end)


def _alert(r: Alert) -> Sequence[TimelineEvent]:
    text = f"{r.status.value} alert {r.rule}: {r.explanation}"
    return (TimelineEvent(r.occurred_at, "alert", r.id, None, text, r),)


_SOURCES: tuple[_Source, ...] = (
    _Source("interaction", _read_interactions, _interaction),
    _Source(
        "transaction",
        lambda c, s, e, n: c.uow.transactions.list(
            customer_id=c.customer_id, start=s, end=e, limit=n
        ),
        _transaction,
    ),
    _Source(
        "activity",
        lambda c, s, e, n: c.uow.activities.list(
            customer_id=c.customer_id, start=s, end=e, limit=n
        ),
        _activity,
    ),
    _Source(
        "survey",
        lambda c, s, e, n: c.uow.surveys.list(customer_id=c.customer_id, start=s, end=e, limit=n),
        _survey,
    ),
    _Source("opportunity", _read_opportunity_events, _opportunity_event, ranged=False),
    _Source("deal_activity", _read_deal_activities, _activity, ranged=False),
    _Source("alert", _read_alerts, _alert, ranged=False),
    _Source("service_case", _read_service_cases, _service_case),
)

_KINDS_OF_SOURCE = {"opportunity": ("stage_change", "field_change"), "deal_activity": ("activity",)}

TIMELINE_KINDS: tuple[str, ...] = tuple(
    dict.fromkeys(k for s in _SOURCES for k in _KINDS_OF_SOURCE.get(s.kind, (s.kind,)))
)
"""Every kind of timeline event (the values ``kinds=`` takes).

>>> TIMELINE_KINDS
('interaction', 'transaction', 'activity', 'survey', 'stage_change', 'field_change', 'alert', 'service_case')
"""


# -- arguments --------------------------------------------------------------------------------


def parse_cursor(value: object, name: str = "cursor") -> tuple[int, str, str] | None:
    """The key ``(microseconds, kind, id)`` of a cursor token (None: from the start)."""
    if value is None:
        return None
    expected = "a cursor token 'v1:<microseconds>:<kind>:<id>' from a timeline page"
    if not isinstance(value, str):
        raise ValidationError(
            f"{name!r} must be {expected}, not {type(value).__name__}: {value!r}"[:300]
        )
    parts = value.split(":", 3)
    ok = len(parts) == 4 and parts[0] == "v1" and parts[2] in TIMELINE_KINDS and parts[3] != ""
    if ok:
        try:
            us = int(parts[1])
        except ValueError:
            ok = False
        else:
            ok = MIN_MICROS <= us <= MAX_MICROS
    if not ok:
        raise ValidationError(f"{name!r} must be {expected}: {value[:200]!r}")
    return (us, parts[2], parts[3])


def parse_kinds(value: object) -> frozenset[str]:
    """The checked ``kinds=`` filter (None: every kind)."""
    if value is None:
        return frozenset(TIMELINE_KINDS)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise ValidationError(f"'kinds' must be timeline kinds {list(TIMELINE_KINDS)}: {value!r}")
    out = set()
    for k in items:
        if k not in TIMELINE_KINDS:
            raise ValidationError(
                f"'kinds' must hold timeline kinds, one of {', '.join(map(repr, TIMELINE_KINDS))}:"
                f" {k!r}"
            )
        out.add(str(k))
    if not out:
        raise ValidationError("'kinds' must name at least one timeline kind: empty")
    return frozenset(out)


def parse_channels(value: object) -> frozenset[str] | None:
    """The checked ``channels=`` filter: channel labels (None: every channel)."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise ValidationError(f"'channels' must be channel labels (strings): {value!r}")
    out = set()
    for c in items:
        if not isinstance(c, str) or not c.strip():
            raise ValidationError(f"'channels' must hold non-empty channel labels: {c!r}")
        out.add(str(c.value) if isinstance(c, Channel) else c)
    if not out:
        raise ValidationError("'channels' must name at least one channel: empty")
    return frozenset(out)


def period(start: object, end: object) -> tuple[datetime | None, datetime | None]:
    """The checked ``[start, end)`` period (each read by :func:`crmcore.timestamps.as_datetime`)."""
    lo = None if start is None else as_datetime(start, name="start")
    hi = None if end is None else as_datetime(end, name="end")
    if lo is not None and hi is not None and lo >= hi:
        raise ValidationError(f"'end' must be after 'start' ({lo.isoformat()}): {hi.isoformat()}")
    return lo, hi


# -- paging -----------------------------------------------------------------------------------


def _from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _fetch(
    src: _Source,
    ctx: _Context,
    lo: datetime | None,
    hi: datetime | None,
    keep: Callable[[TimelineEvent], bool],
    need: int,
) -> list[TimelineEvent]:
    """The source's events that ``keep`` accepts, complete up to some time and at least
    ``need`` of them unless the source has no more (a range read, grown while short)."""
    limit = need + 2  # one record at the horizon, one the cursor's own event re-read at its time
    while True:
        records = src.read(ctx, lo, hi, limit)
        events = [e for r in records for e in src.events(r)]
        if not src.ranged or len(records) < limit:  # every record of the range is here
            return [e for e in events if keep(e)]
        last = src.events(records[-1])
        horizon = _micros(last[0].at) if last else _NEVER
        # records at the last time may be cut by the limit: only those before it are complete
        out = [e for e in events if _micros(e.at) < horizon and keep(e)]
        if len(out) >= need:
            return out
        limit *= 2


def customer_timeline(
    uow: UnitOfWork,
    customer_id: str,
    *,
    start: Any = None,
    end: Any = None,
    kinds: Iterable[str] | str | None = None,
    channels: Iterable[str] | str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    alerts: AlertStore | None = None,
) -> TimelinePage:
    """One page of the customer's timeline, oldest first, after ``cursor`` (None: from the
    start of the period).

    ``start`` / ``end`` bound the period ``[start, end)`` (any form of
    :mod:`crmcore.timestamps`; far-future or far-past bounds simply select nothing);
    ``kinds`` keeps the given :data:`TIMELINE_KINDS`; ``channels`` keeps events whose
    channel label is one of those given (interactions' channels, the free-text channel of
    transactions and surveys, a service case's channel, and the channel of an activity's
    kind: call → phone, email, meeting and demo → meeting, visit; events without a channel are left out; a label no
    event carries selects nothing). ``alerts`` adds the customer's alerts from that store.
    ``limit`` is the page size, 1 to :data:`MAX_PAGE`. A page reads about ``limit + 1``
    records of each kind by a range read (see the module docstring).

    An unknown customer raises NotFoundError; a cursor that is not a token of a page
    raises ValidationError.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     customer_timeline(uow, "nobody")
    Traceback (most recent call last):
    crmcore.errors.NotFoundError: customer 'nobody' not found
    >>> with MemoryUnitOfWork() as uow:
    ...     customer_timeline(uow, "c", cursor="page-2")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'cursor' must be a cursor token 'v1:<microseconds>:<kind>:<id>' from a timeline page: 'page-2'
    """
    uow = expect_unit_of_work(uow)
    customer_id = as_id(customer_id, name="customer_id")
    after = parse_cursor(cursor)
    wanted = parse_kinds(kinds)
    chans = parse_channels(channels)
    lo, hi = period(start, end)
    size = as_count(limit, name="limit", low=1, high=MAX_PAGE)
    if alerts is not None:
        alerts = expect_instance(alerts, AlertStore, name="alerts")
    uow.customers.get(customer_id)
    ctx = _Context(uow, customer_id, alerts, chans)
    read_from = lo
    if after is not None:
        at = _from_micros(after[0])
        read_from = at if read_from is None or at > read_from else read_from
    lo_us = None if lo is None else _micros(lo)
    hi_us = None if hi is None else _micros(hi)

    def keep(e: TimelineEvent) -> bool:
        k = e.key
        return (
            e.kind in wanted
            and (chans is None or e.channel in chans)
            and (lo_us is None or k[0] >= lo_us)
            and (hi_us is None or k[0] < hi_us)
            and (after is None or k > after)
        )

    merged: list[TimelineEvent] = []
    for src in _SOURCES:
        if wanted.isdisjoint(_KINDS_OF_SOURCE.get(src.kind, (src.kind,))):
            continue
        if read_from is not None and hi is not None and read_from >= hi:
            break
        merged.extend(_fetch(src, ctx, read_from, hi, keep, size + 1))
    merged.sort(key=lambda e: e.key)
    page = tuple(merged[:size])
    more = len(merged) > size
    return TimelinePage(customer_id, page, page[-1].cursor if more else None)


def iter_timeline(
    uow: UnitOfWork,
    customer_id: str,
    *,
    start: Any = None,
    end: Any = None,
    kinds: Iterable[str] | str | None = None,
    channels: Iterable[str] | str | None = None,
    page_size: int = 1000,
    alerts: AlertStore | None = None,
) -> Iterator[TimelineEvent]:
    """Every event of the customer's timeline (filters as :func:`customer_timeline`), oldest
    first, read page by page (``page_size`` events at a time).

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> from crmcore.model import Customer
    >>> with MemoryUnitOfWork() as uow:
    ...     _ = uow.customers.add(Customer(id="c-1", name="Ada"))
    ...     list(iter_timeline(uow, "c-1"))
    []
    """
    cursor: str | None = None
    while True:
        page = customer_timeline(
            uow,
            customer_id,
            start=start,
            end=end,
            kinds=kinds,
            channels=channels,
            cursor=cursor,
            limit=page_size,
            alerts=alerts,
        )
        yield from page.events
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
