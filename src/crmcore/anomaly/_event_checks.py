"""The checks of one streaming event, and the scope test of the event path (internal).

Every event is checked in full before the engine touches any state; these name the
field and the event in their errors.

>>> event_amount("t-1", "12.5")
12.5
>>> event_time("t-1", 10**20)
Traceback (most recent call last):
crmcore.errors.ValidationError: 'time' of event 't-1' must be microseconds since 1970 within the years 1-9999 ([-62135596800000000, 253402300799999999]): 100000000000000000000
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crmcore.anomaly.batch import MAX_AMOUNT
from crmcore.anomaly.context import CustomerContext
from crmcore.anomaly.rules import Scope
from crmcore.errors import ValidationError
from crmcore.model._storable import id_problem, text_problem
from crmcore.model.transaction import TransactionKind
from crmcore.timestamps import utc_problem

__all__ = [
    "EPOCH",
    "KIND_CODES",
    "T_MAX",
    "T_MIN",
    "US",
    "event_amount",
    "event_time",
    "in_scope",
    "kinds_only",
    "plain_ids",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
T_MIN = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // US
T_MAX = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // US
KIND_CODES = {k.value: k.code for k in TransactionKind}
_KINDS = list(TransactionKind)


def event_time(eid: object, when: object) -> int:
    problem = utc_problem(when)  # the records' time rule (crmcore.timestamps)
    if problem is None:
        assert isinstance(when, datetime)  # utc_problem refuses anything else
        return (when - EPOCH) // US
    if type(when) is int:
        raise ValidationError(
            f"'time' of event {eid!r} must be microseconds since 1970 within the years "
            f"1-9999 ([{T_MIN}, {T_MAX}]): {when!r}"
        )
    raise ValidationError(
        f"'time' of event {eid!r} must be a timezone-aware UTC datetime "
        f"(or integer microseconds since 1970): {problem}: {when!r}"
    )


def event_amount(eid: object, amount: object) -> float:
    try:
        return float(amount)  # type: ignore[arg-type]  # anything float() takes; the rest is an error
    except (TypeError, ValueError):
        raise ValidationError(f"'amount' of event {eid!r} must be a number: {amount!r}") from None


def plain_ids(eid: object, cid: object, kind: object, x: float) -> tuple[str, str]:
    """The event's ids as plain ``str`` when the event is valid (a ``str`` subclass such as
    ``np.str_`` is the text it holds, as for the model and the backends); else the error
    naming the field. The customer id follows the one id rule (``model._storable.id_problem``)."""
    if isinstance(eid, str):
        eid = str.__str__(eid)
    if type(eid) is not str or not eid:
        raise ValidationError(f"'id' of an event must be a non-empty string: {eid!r}")
    problem = text_problem(eid)
    if problem is not None:
        raise ValidationError(f"'id' of an event {problem}: {eid!r}")
    problem = id_problem(cid)
    if problem is not None:
        raise ValidationError(f"'customer_id' of event {eid!r} {problem}: {cid!r}")
    assert isinstance(cid, str)  # id_problem refuses anything else
    cid = str.__str__(cid)
    if kind not in KIND_CODES:
        raise ValidationError(
            f"'kind' of event {eid!r} must be one of {sorted(KIND_CODES)}: {kind!r}"
        )
    if not (0.0 <= x <= MAX_AMOUNT):
        raise ValidationError(
            f"'amount' of event {eid!r} must be a finite number in [0, {MAX_AMOUNT:g}]: {x}"
        )
    return eid, cid


def kinds_only(scope: Scope) -> bool:
    return not (scope.channels or scope.products or scope.segments or scope.tiers)


def in_scope(
    scope: Scope, kind: int, channel: str | None, product: str | None, ctx: CustomerContext | None
) -> bool:
    if scope.kinds and _KINDS[kind] not in scope.kinds:
        return False
    if scope.channels and channel not in scope.channels:
        return False
    if scope.products and product not in scope.products:
        return False
    if scope.segments and (ctx is None or ctx.segment not in scope.segments):
        return False
    return not (scope.tiers and (ctx is None or ctx.tier not in scope.tiers))
