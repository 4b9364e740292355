"""What a backend can store: the one rule shared by the model, every repository and the import.

Every backend (the memory one, SQLite, PostgreSQL, MariaDB) accepts exactly
the values that pass these checks, so the same data never passes one backend
and breaks another:

* text: no NUL character (PostgreSQL refuses it) and valid Unicode, i.e. it
  encodes as UTF-8 (no lone surrogate, which SQLite and the drivers refuse);
* record ids at most :data:`MAX_ID_LENGTH` characters, indexed keys (segment,
  category, stage, external key, ...) at most :data:`KEY_LENGTH`;
* integers within signed 64 bits (:data:`INT64_MIN`..:data:`INT64_MAX`);
  versions and sequence numbers within :data:`COUNT_MAX` (32-bit columns);
* amounts exact at 6 decimal places with ``|amount| * 10**6 <= MAX_E6``
  (the ``amount_e6`` column).

The model's validators refuse such values at construction (naming the field
and the value), the repositories check them again for objects built around
the validators, and the import reports them as rejected rows.

>>> check_text("caf\\u00e9", "name")
'café'
>>> check_text("a\\x00b", "name")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'name' must not contain a NUL character to be stored: 'a\\x00b'
>>> check_int64(2**63, "quantity")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'quantity' must be an integer in [-2**63, 2**63 - 1] to be stored: 9223372036854775808
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from crmcore._messages import show as _show
from crmcore.errors import CRMError, ValidationError

__all__ = [
    "COUNT_MAX",
    "INT64_MAX",
    "INT64_MIN",
    "KEY_LENGTH",
    "MAX_E6",
    "MAX_ID_LENGTH",
    "bad_text_rows",
    "check_count",
    "check_int64",
    "check_key",
    "check_text",
    "id_problem",
    "text_problem",
    "to_e6",
]

MAX_ID_LENGTH = 128
"""Longest record id (the ``id`` columns are 128 characters wide)."""
KEY_LENGTH = 255
"""Longest text stored in an indexed column (segment, category, stage, external key, ...)."""
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
COUNT_MAX = 2**31 - 1
"""Largest version or sequence number (stored in 32-bit integer columns)."""
MAX_E6 = INT64_MAX
"""Largest storable ``amount_e6`` (about 9.2e12 in currency units)."""


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored (a phrase to follow the field's name), or None.

    >>> text_problem("ok"), text_problem("\\ud800")
    (None, 'must be valid Unicode (a lone surrogate at position 0) to be stored')
    """
    if "\x00" in value:
        return "must not contain a NUL character to be stored"
    if not value.isascii():  # O(1) in CPython: only non-ASCII text is encoded
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"must be valid Unicode (a lone surrogate at position {e.start}) to be stored"
    return None


def id_problem(value: object) -> str | None:
    """Why ``value`` is not a storable record id (a phrase to follow the field's name), or None:
    an id is a non-empty string without surrounding blanks, at most :data:`MAX_ID_LENGTH`
    characters, of storable text.

    >>> id_problem("c-1"), id_problem(" c-1")
    (None, 'must be a non-empty string id of at most 128 characters without surrounding blanks')
    """
    if (
        not isinstance(value, str)
        or not value
        or value != value.strip()
        or len(value) > MAX_ID_LENGTH
    ):
        return (
            f"must be a non-empty string id of at most {MAX_ID_LENGTH} characters "
            "without surrounding blanks"
        )
    return text_problem(value)


def check_text(
    value: str,
    field: str,
    *,
    max_length: int | None = None,
    error: type[CRMError] = ValidationError,
) -> str:
    """``value`` if it is storable text (see :func:`text_problem`) of at most ``max_length``;
    else ``error`` (configuration objects raise ConfigurationError) naming ``field``.

    >>> check_text("x" * 300, "segment", max_length=KEY_LENGTH)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'segment' must be at most 255 characters to be stored: 300 characters
    """
    problem = text_problem(value)
    if problem is not None:
        raise error(f"{field!r} {problem}: {_show(value)}")
    if max_length is not None and len(value) > max_length:
        raise error(
            f"{field!r} must be at most {max_length} characters to be stored: "
            f"{len(value)} characters"
        )
    return value


def check_key(value: str | None, field: str) -> str | None:
    """Indexed text (None allowed): storable, at most :data:`KEY_LENGTH` characters.

    >>> check_key(None, "segment") is None
    True
    """
    return None if value is None else check_text(value, field, max_length=KEY_LENGTH)


def check_int64(value: int, field: str) -> int:
    """``value`` if it fits a signed 64-bit column."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValidationError(
            f"{field!r} must be an integer in [-2**63, 2**63 - 1] to be stored: {value!r}"
        )
    return value


def check_count(value: int, field: str) -> int:
    """``value`` if it fits a version or sequence column (0 to :data:`COUNT_MAX`).

    >>> check_count(2**31, "sequence")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'sequence' must be an integer in [0, 2**31 - 1] to be stored: 2147483648
    """
    if not 0 <= value <= COUNT_MAX:
        raise ValidationError(
            f"{field!r} must be an integer in [0, 2**31 - 1] to be stored: {value!r}"
        )
    return value


def to_e6(amount: Decimal, field: str) -> int:
    """An exact amount scaled by 10**6; more than 6 decimal places or overflow → ValidationError.

    >>> to_e6(Decimal("19.99"), "amount")
    19990000
    >>> to_e6(Decimal("0.1234567"), "amount")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'amount' can be stored with at most 6 decimal places: Decimal('0.1234567')
    """
    if amount.is_finite() and -7 <= amount.adjusted() <= 12:  # the common case, cheaply:
        scaled = amount.scaleb(6)  # may round beyond the context's 28 digits, so the
        whole = int(scaled)  # round trip below must give back the very same amount
        if whole == scaled and -MAX_E6 <= whole <= MAX_E6 and scaled.scaleb(-6) == amount:
            return whole
    # exact on the digits (Decimal arithmetic would round to the context's 28 digits), and
    # never builds the huge int of an amount like 1E+999999
    sign, digits, exp = amount.as_tuple()
    if not isinstance(exp, int):
        raise ValidationError(f"{field!r} must be finite: {amount!r}")
    shift = exp + 6  # the exponent of amount * 10**6
    if not any(digits):
        return 0
    if shift < 0:
        if any(digits[shift:]):
            raise ValidationError(
                f"{field!r} can be stored with at most 6 decimal places: {amount!r}"
            )
        digits, shift = digits[:shift], 0
    if len(digits) + shift > 19:  # at least 10**19 (leading zeros are never stored)
        raise ValidationError(f"{field!r} is too large to store (|amount| < 9.2e12): {amount!r}")
    n: int = int("".join(map(str, digits))) * 10**shift
    if n > MAX_E6:
        raise ValidationError(f"{field!r} is too large to store (|amount| < 9.2e12): {amount!r}")
    return -n if sign else n


def bad_text_rows(values: Sequence[str | None]) -> list[tuple[int, str]]:
    """``(row, reason)`` for every string of a column that :func:`text_problem` refuses.

    One C-speed pass over the whole column when every value is fine (the usual
    case); the rows are looked at one by one only when something is wrong.

    >>> bad_text_rows(["a", None, "b\\x00", "\\udc80"])
    [(2, "must not contain a NUL character to be stored: 'b\\\\x00'"), (3, "must be valid Unicode (a lone surrogate at position 0) to be stored: '\\\\udc80'")]
    """
    joined = "".join(filter(None, values))  # C speed: None and "" dropped
    if "\x00" not in joined:
        if joined.isascii():
            return []
        try:
            joined.encode("utf-8")
            return []
        except UnicodeEncodeError:
            pass
    out: list[tuple[int, str]] = []
    for i, v in enumerate(values):
        problem = None if v is None else text_problem(v)
        if problem is not None:
            out.append((i, f"{problem}: {_show(v)}"))
    return out
