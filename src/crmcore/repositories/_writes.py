"""Checks every backend applies to what it is asked to write (records, events, documents).

One place for the memory and the SQL backends, so that both accept and refuse
exactly the same writes; what a value must be to be stored at all is the rule
of :mod:`crmcore.model._storable`, which the model's validators apply.

>>> check_document_key("funnel", "b2b")
>>> check_document_key("funnel", "b2b\\x00")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'key' must not contain a NUL character to be stored: 'b2b\\x00'
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from crmcore.errors import ValidationError
from crmcore.model import Customer, Opportunity
from crmcore.model._storable import INT64_MAX, KEY_LENGTH, check_text
from crmcore.options import as_count
from crmcore.repositories._codec import check_storable

__all__ = [
    "check_document_key",
    "check_expected_version",
    "check_new_version",
    "check_record",
    "dump_document",
]

R = TypeVar("R")


def check_record(record: object, kind: type[R]) -> R:
    """``record`` if it is a ``kind`` that can be stored; anything else → ValidationError.

    >>> check_record("c-1", Customer)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: expected Customer: 'c-1'
    """
    if not isinstance(record, kind):
        raise ValidationError(f"expected {kind.__name__}: {record!r}")
    check_storable(record)
    return record


def check_new_version(record: Customer | Opportunity, label: str) -> None:
    """A new aggregate must have version 0."""
    if record.version != 0:
        raise ValidationError(
            f"'version' of a new {label} must be 0 (the repository counts updates): "
            f"{record.version}"
        )


def check_document_key(kind: str, key: str, *, names: tuple[str, str] = ("kind", "key")) -> None:
    """Document kinds and keys are non-empty storable strings of at most 255 characters
    (``names``: what the caller calls them, e.g. a funnel's ``"name"``)."""
    for name, value in zip(names, (kind, key), strict=True):
        if not isinstance(value, str) or not value.strip() or len(value) > KEY_LENGTH:
            raise ValidationError(
                f"{name!r} must be a non-empty string of at most {KEY_LENGTH} characters: {value!r}"
            )
        check_text(value, name)


def check_expected_version(value: object) -> int | None:
    """The version a document write was based on: None (a new key) or a whole number >= 1.

    >>> check_expected_version(1.5)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'expected_version' must be a whole number: 1.5
    """
    if value is None:
        return None
    return as_count(value, name="expected_version", low=1, high=INT64_MAX)


def dump_document(document: Any) -> str:
    """The JSON text of a document (JSON-safe values only; NaN refused). The text is ASCII
    (non-ASCII characters, NUL and lone surrogates are escaped), so every backend stores it.

    >>> dump_document({"a": "\\x00"})
    '{"a": "\\\\u0000"}'
    """
    try:
        return json.dumps(document, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise ValidationError(f"'document' must be JSON-safe: {e}") from e
