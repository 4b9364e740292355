"""The rules of a deal's stage events, checked on a history read as columns.

The repositories refuse every write that breaks an opportunity's event
stream (:mod:`crmcore.repositories._events`, on records). A history that
reaches the reports as columns -- built from arrays, a CSV file, a data frame,
or read from a database written by other software or by an older release --
is checked for the same rules before any metric reads it, in a few vectorised
passes (no Python loop over deals), so that a broken stream is named instead
of turning into a negative sales cycle:

* each deal's first event creates it (no ``from_stage``), and no later event
  creates it again;
* every later event moves from the stage the deal is in (the previous event's
  ``to_stage``);
* event numbers increase, and no event is dated before the previous one.

A stage history holds the stage changes only, so its numbers may skip those
of the field changes in between; a history cut at a date keeps every deal's
first events, so a prefix of a valid history is valid.

>>> import numpy as np
>>> at = np.array(["2025-01-01", "2020-01-01"], dtype="M8[us]")
>>> check_streams(np.array(["a"]), np.array([0, 0]), np.array([0, 1]), np.array([-1, 0]),
...               np.array([0, 1]), at, ("lead", "won"))
Traceback (most recent call last):
crmcore.errors.ValidationError: event 1 of opportunity 'a' is dated 2020-01-01T00:00:00.000000, before event 0 (2025-01-01T00:00:00.000000): a deal's events are in time order
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from crmcore.arrays import IntArray
from crmcore.errors import ValidationError

__all__ = ["check_streams"]


def check_streams(
    opportunity_ids: npt.NDArray[Any],
    opportunity: IntArray,
    sequence: IntArray,
    from_stage: IntArray,
    to_stage: IntArray,
    at: npt.NDArray[np.datetime64],
    stages: Sequence[str],
) -> None:
    """Refuse a history (rows ordered by deal, then event number) whose stage events break
    the rules of the module docstring, naming the first bad event; ``from_stage`` and
    ``to_stage`` are codes into ``stages`` (-1: none), ``opportunity`` codes into
    ``opportunity_ids``."""
    n = len(opportunity)
    if n == 0:
        return
    later = np.empty(n, dtype=bool)
    later[0] = False
    np.equal(opportunity[1:], opportunity[:-1], out=later[1:])
    bad = ~later & (from_stage >= 0)  # a first event that is not a creation
    prev = np.empty(n, dtype=np.int64)
    prev[0] = -1
    prev[1:] = to_stage[:-1]
    bad[1:] |= (
        later[1:]
        & (
            (from_stage[1:] != prev[1:])  # from another stage, or a second creation (-1)
            | (sequence[1:] <= sequence[:-1])
            | (at[1:] < at[:-1])
        )
    )
    if not bad.any():
        return
    i = int(np.argmax(bad))
    deal = str(opportunity_ids[int(opportunity[i])])
    where = f"event {int(sequence[i])} of opportunity {deal!r}"
    frm = None if from_stage[i] < 0 else stages[int(from_stage[i])]
    if not later[i]:
        raise ValidationError(
            f"opportunity {deal!r} starts at event {int(sequence[i])}, a move from {frm!r}: "
            "a history holds each deal from its creation event (no from_stage); read the "
            "deals' histories whole"
        )
    before = f"event {int(sequence[i - 1])}"
    if sequence[i] <= sequence[i - 1]:  # rows are ordered by number: a number used twice
        raise ValidationError(f"{where} is numbered twice: each event has its own number")
    if frm is None:
        raise ValidationError(
            f"{where} creates it again (no from_stage) after {before}: only its first event "
            "creates a deal"
        )
    if from_stage[i] != prev[i]:
        raise ValidationError(
            f"{where} moves from stage {frm!r} but the deal is in stage "
            f"{stages[int(prev[i])]!r} after {before}"
        )
    raise ValidationError(
        f"{where} is dated {at[i]}, before {before} ({at[i - 1]}): a deal's events are in "
        "time order"
    )
