"""Validation of query arguments, shared by every backend.

>>> check_limit(3), check_limit(None)
(3, None)
>>> check_limit(-1)
Traceback (most recent call last):
crmcore.errors.ValidationError: 'limit' must be a non-negative integer or None: -1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crmcore.errors import ValidationError
from crmcore.model import Channel, TransactionKind
from crmcore.model._fields import to_enum
from crmcore.timestamps import TimeLike, as_instant

__all__ = ["check_batch", "check_limit", "parse_channels", "parse_kinds", "time_bounds"]


def check_limit(limit: int | None) -> int | None:
    """``limit`` must be None or a non-negative int."""
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValidationError(f"'limit' must be a non-negative integer or None: {limit!r}")
    return limit


def check_batch(batch_size: int) -> int:
    """``batch_size`` must be a positive int.

    >>> check_batch(0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'batch_size' must be a positive integer: 0
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValidationError(f"'batch_size' must be a positive integer: {batch_size!r}")
    return batch_size


def time_bounds(
    start: TimeLike | None, end: TimeLike | None, *, names: tuple[str, str] = ("start", "end")
) -> tuple[int | None, int | None]:
    """``[start, end)`` as microseconds (None = open), by :func:`crmcore.timestamps.as_instant`.

    >>> from datetime import datetime, timezone
    >>> time_bounds(datetime(1970, 1, 1, tzinfo=timezone.utc), None)
    (0, None)
    """
    lo = None if start is None else int(as_instant(start, name=names[0]).astype(np.int64))
    hi = None if end is None else int(as_instant(end, name=names[1]).astype(np.int64))
    return lo, hi


def parse_kinds(kinds: Sequence[TransactionKind | str] | None) -> list[TransactionKind] | None:
    """Transaction kinds from members or values (unknown values → ValidationError).

    >>> parse_kinds(["refund"])
    [<TransactionKind.REFUND: 'refund'>]
    """
    if kinds is None:
        return None
    if isinstance(kinds, str):
        raise ValidationError(f"'kinds' must be a sequence of kinds, not one string: {kinds!r}")
    return [to_enum(TransactionKind, k) for k in kinds]


def parse_channels(channels: Sequence[Channel | str] | None) -> list[Channel] | None:
    """Channels from members or values (unknown values → ValidationError).

    >>> parse_channels(["meeting", "phone"])
    [<Channel.MEETING: 'meeting'>, <Channel.PHONE: 'phone'>]
    """
    if channels is None:
        return None
    if isinstance(channels, str):
        raise ValidationError(
            f"'channels' must be a sequence of channels, not one string: {channels!r}"
        )
    return [to_enum(Channel, c) for c in channels]


def check_ids(values: Sequence[str], field: str) -> list[str]:
    """A sequence of string ids or keys (one string alone is refused).

    >>> check_ids("abc", "keys")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'keys' must be a sequence of strings, not one string: 'abc'
    """
    if isinstance(values, str):
        raise ValidationError(
            f"{field!r} must be a sequence of strings, not one string: {values!r}"
        )
    out = list(values)
    for v in out:
        if not isinstance(v, str):
            raise ValidationError(f"{field!r} must hold strings: {v!r}")
    return out
