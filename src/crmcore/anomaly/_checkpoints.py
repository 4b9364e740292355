"""Where the streaming engine keeps its checkpoints: one document per checkpoint, the last N kept.

Checkpoint ``n`` of the engine whose state key is ``k`` is the document of kind
``"anomaly_state"`` and key ``"k@<n, 12 digits>"`` (version 1). Writing checkpoint
``n`` deletes those older than the last ``keep`` (``keep=None`` keeps all), so the
state of a long-running engine takes ``keep`` documents, not one per checkpoint.
Everything goes through the :class:`~crmcore.repositories.DocumentRepository`
protocol (``keys``, ``get``, ``put``, ``delete``), so any backend can hold them.

Before this layout every checkpoint was a new version of the one document ``k``
(kept forever); such a document is still read when no numbered checkpoint
exists, numbering goes on from its latest version, and it is deleted with the
first pruning.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> with MemoryUnitOfWork() as uow:
...     for i in range(4):
...         n = write_checkpoint(uow.documents, "rules", {"i": i}, expected=None, keep=2)
...     uow.documents.keys(STATE_KIND), read_checkpoint(uow.documents, "rules")
(['rules@000000000003', 'rules@000000000004'], ({'i': 3}, 4))
"""

from __future__ import annotations

from typing import Any

from crmcore.errors import ConcurrencyError, NotFoundError, ValidationError
from crmcore.model._storable import KEY_LENGTH, text_problem

__all__ = [
    "STATE_KIND",
    "check_state_key",
    "checkpoint_numbers",
    "read_checkpoint",
    "write_checkpoint",
]

STATE_KIND = "anomaly_state"
_DIGITS = 12
_MAX_KEY = KEY_LENGTH - _DIGITS - 1


def check_state_key(value: object) -> str:
    """A state key: a non-empty storable text of at most 242 characters (its checkpoints'
    keys add ``@`` and 12 digits).

    >>> check_state_key("x" * 300)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'state_key' must be a non-empty text of at most 242 characters: 300 characters
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"'state_key' must be a non-empty text: {value!r}"[:200])
    if len(value) > _MAX_KEY:
        raise ValidationError(
            f"'state_key' must be a non-empty text of at most {_MAX_KEY} characters: "
            f"{len(value)} characters"
        )
    problem = text_problem(value)
    if problem is not None:
        raise ValidationError(f"'state_key' {problem}: {value!r}"[:200])
    return value


def _key(state_key: str, number: int) -> str:
    return f"{state_key}@{number:0{_DIGITS}d}"


def _scan(docs: Any, state_key: str) -> tuple[list[int], bool]:
    """The numbers of the stored checkpoints of ``state_key`` (ascending), and whether a
    document of the old layout (key ``state_key`` itself) exists; one ``keys`` query."""
    head = state_key + "@"
    numbers: list[int] = []
    legacy = False
    for key in docs.keys(STATE_KIND):
        if key == state_key:
            legacy = True
        elif key.startswith(head):
            tail = key[len(head) :]
            if len(tail) == _DIGITS and tail.isascii() and tail.isdigit():
                numbers.append(int(tail))
    return sorted(numbers), legacy


def checkpoint_numbers(docs: Any, state_key: str) -> list[int]:
    """The numbers of the checkpoints of ``state_key`` that are stored (oldest first)."""
    numbers, legacy = _scan(docs, state_key)
    if legacy and not numbers:
        _, v = docs.get(STATE_KIND, state_key)
        return [int(v)]
    return numbers


def write_checkpoint(
    docs: Any, state_key: str, document: Any, *, expected: int | None, keep: int | None
) -> int:
    """Store ``document`` as the next checkpoint of ``state_key``; returns its number.

    ``expected`` is the checkpoint this engine last wrote or restored (None: a fresh
    engine, which continues the numbering); when another engine wrote one since, this is
    a ConcurrencyError and nothing is written. Then the checkpoints older than the last
    ``keep`` are deleted (and a document of the old layout).
    """
    numbers, legacy = _scan(docs, state_key)
    latest = numbers[-1] if numbers else 0
    if not numbers and legacy:
        _, latest = docs.get(STATE_KIND, state_key)
    if expected is not None and latest != expected:
        raise ConcurrencyError(
            f"checkpoint {latest} of {state_key!r} was written by another engine after "
            f"checkpoint {expected}, which this engine wrote or restored; restore the latest "
            "state first (or give each engine its own state_key)"
        )
    number = int(latest) + 1
    docs.put(STATE_KIND, _key(state_key, number), document, expected_version=None)
    if keep is not None:
        for old in [*numbers, number][:-keep]:
            docs.delete(STATE_KIND, _key(state_key, old))
        if legacy:
            docs.delete(STATE_KIND, state_key)
    return number


def read_checkpoint(docs: Any, state_key: str, number: int | None = None) -> tuple[Any, int]:
    """``(document, number)`` of the latest checkpoint of ``state_key``, or of ``number``.

    A number that was pruned (or never written) is a NotFoundError naming the ones kept.
    """
    numbers, legacy = _scan(docs, state_key)
    if number is None and numbers:
        number = numbers[-1]
    if number is not None and number in numbers:
        document, _ = docs.get(STATE_KIND, _key(state_key, number))
        return document, number
    if legacy and not numbers:  # the old layout: one document, a version per checkpoint
        document, v = docs.get(STATE_KIND, state_key, version=number)
        return document, int(v)
    if number is None:
        raise NotFoundError(f"no checkpoint of {state_key!r} is stored")
    raise NotFoundError(
        f"checkpoint {number} of {state_key!r} is not stored (kept: {numbers or 'none'})"
    )
