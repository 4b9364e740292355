"""Column-wise parsing of import cells with the model's rules, one column at a time.

Every parser takes the cells of one column (``str`` from a CSV file, or any
Python value from a mapping; ``None`` and ``""`` mean *missing*) and returns
the parsed numpy column plus ``(row index, reason)`` pairs for the bad cells.
Common, canonical strings go through a vectorised numpy path; everything
else is parsed once per distinct value by the reference rule in Python, so
both paths accept exactly the same cells.

>>> parse_amounts(["19.90", "1e-7"])[1]
[(1, "'amount' can be stored with at most 6 decimal places: Decimal('1E-7')")]
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from crmcore._messages import show as show
from crmcore.errors import ValidationError
from crmcore.labels import missing_mask
from crmcore.model._storable import (
    INT64_MAX,
    MAX_ID_LENGTH,
    bad_text_rows,
    id_problem,
    text_problem,
    to_e6,
)
from crmcore.model.money import CURRENCY_MINOR_UNITS, Money
from crmcore.model.transaction import TransactionKind

__all__ = [
    "MAX_ID_LENGTH",
    "Errors",
    "amount_matrix",
    "is_missing",
    "parse_amounts",
    "parse_currencies",
    "parse_ids",
    "parse_kinds",
    "parse_money",
    "parse_quantities",
    "parse_texts",
]

Errors = list[tuple[int, str]]
"""``(row index in the batch, reason)`` for every bad cell of a column."""

_INT64_MAX = INT64_MAX
_KIND_CODES = {k.value: k.code for k in TransactionKind}
_TEXT_TYPES = {str, type(None)}
_DEFAULT_KIND = TransactionKind.PURCHASE.code

X = TypeVar("X")


class _Bad:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def is_missing(value: object) -> bool:
    """``None`` and the empty string are missing cells (whitespace is a value).

    >>> is_missing(""), is_missing(None), is_missing(" ")
    (True, True, False)
    """
    return value is None or (isinstance(value, str) and value == "")


def _apply(
    cells: Sequence[object],
    rows: npt.NDArray[np.intp] | Sequence[int],
    fn: Callable[[object], X],
    errors: Errors,
) -> list[tuple[int, X]]:
    """Run ``fn`` once per distinct cell among ``rows``; a ValidationError marks the cell bad."""
    cache: dict[tuple[type, object], X | _Bad] = {}
    out: list[tuple[int, X]] = []
    for i in rows:
        v = cells[i]
        key = (type(v), v)
        try:
            r = cache.get(key)
        except TypeError:  # unhashable cell (a list in a mapping): no caching
            r = None
        if r is None:
            try:
                r = fn(v)
            except ValidationError as e:
                r = _Bad(str(e))
            with contextlib.suppress(TypeError):
                cache[key] = r
        if isinstance(r, _Bad):
            errors.append((int(i), r.reason))
        else:
            out.append((int(i), r))
    return out


def _text_only(cells: Sequence[object]) -> bool:
    """Whether every cell is a str or None (CSV columns are): the fast paths apply."""
    return set(map(type, cells)) <= _TEXT_TYPES


def _missing_rows(cells: Sequence[object], text_only: bool | None = None) -> npt.NDArray[np.bool_]:
    if text_only is None:
        text_only = _text_only(cells)
    if text_only:  # only "" and None are falsy among str/None
        return np.fromiter(map(operator.not_, cells), dtype=bool, count=len(cells))
    return missing_mask(cells)  # None, NaN, pandas NA/NaT, NaT, "": crmcore.labels' one rule


def _table(
    cells: Sequence[Any], fn: Callable[[Any], X], *, default: X, required: bool
) -> tuple[list[X], Errors]:
    """Apply ``fn`` once per distinct cell of a text-only column; missing cells get ``default``."""
    table: dict[Any, X] = {}
    bad: dict[Any, str] = {}
    for v in dict.fromkeys(cells):
        if not v:
            table[v] = default
            if required:
                bad[v] = "is required"
            continue
        try:
            table[v] = fn(v)
        except ValidationError as e:
            bad[v] = str(e)
            table[v] = default
    values = list(map(table.__getitem__, cells))
    errors = [(i, bad[v]) for i, v in enumerate(cells) if v in bad] if bad else []
    return values, errors


def _str_rows(cells: Sequence[object], rows: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
    return np.fromiter((type(cells[i]) is str for i in rows), dtype=bool, count=len(rows))


# -- ids and text -----------------------------------------------------------------------------
def _check_id(value: object) -> str:
    problem = id_problem(value)
    if problem is not None:
        raise ValidationError(f"{problem}: {show(value)}")
    assert isinstance(value, str)  # id_problem refuses anything else
    return value


def parse_ids(cells: Sequence[object]) -> tuple[list[object], Errors]:
    """Record ids (the model's ``record_id`` rule); missing cells are errors.

    >>> parse_ids(["c-1", " c-2", ""])[1]
    [(1, "must be a non-empty string id of at most 128 characters without surrounding blanks: ' c-2'"), (2, 'is required')]
    """
    if not _text_only(cells):
        errors: Errors = []
        rows = np.flatnonzero(~_missing_rows(cells, False))
        errors.extend((int(i), "is required") for i in np.flatnonzero(_missing_rows(cells, False)))
        _apply(cells, rows, _check_id, errors)
        errors.sort()
        return list(cells), errors
    uniq = dict.fromkeys(cast("Sequence[str | None]", cells))
    bad = [v for v in uniq if not v or len(v) > MAX_ID_LENGTH or v != v.strip()]
    distinct = list(uniq)
    bad += [distinct[j] for j, _ in bad_text_rows(distinct)]  # storable text (one C pass)
    if not bad:
        return list(cells), []
    reasons: dict[str | None, str] = {}
    for v in bad:  # only the bad distinct values get a message (the rest are ids)
        if not v:
            reasons[v] = "is required"
            continue
        try:
            _check_id(v)
        except ValidationError as e:
            reasons[v] = str(e)
    return list(cells), [(i, reasons[v]) for i, v in enumerate(cells) if v in reasons]


def parse_texts(
    cells: Sequence[object], *, max_length: int | None = None
) -> tuple[list[object], Errors]:
    """Optional text (``None`` when missing); any string is accepted, up to ``max_length``.

    >>> parse_texts(["web", "", 3])
    (['web', None, None], [(2, 'must be a string: 3')])
    """
    errors: Errors = []
    if _text_only(cells):
        texts = cast("Sequence[str | None]", cells)
        out: list[object] = [c or None for c in texts]
        longest = max(map(len, filter(None, texts)), default=0)
        if (max_length is None or longest <= max_length) and not bad_text_rows(texts):
            return out, errors
    else:
        out = list(cells)
    for i, c in enumerate(out):
        if is_missing(c):
            out[i] = None
        elif not isinstance(c, str):
            errors.append((i, f"must be a string: {show(c)}"))
            out[i] = None
        elif (problem := text_problem(c)) is not None:
            errors.append((i, f"{problem}: {show(c)}"))
            out[i] = None
        elif max_length is not None and len(c) > max_length:
            errors.append(
                (i, f"must be at most {max_length} characters to be stored: {len(c)} characters")
            )
            out[i] = None
    return out, errors


# -- amounts, quantities, kinds, currencies -----------------------------------------------------
def _amount_ref(value: object) -> tuple[int, float]:
    """The reference rule: the model's Money amount, >= 0, storable with 6 decimals;
    returns ``(amount_e6, float amount)``."""
    amount = Money(value, "USD").amount
    if amount < 0:
        raise ValidationError(f"must be >= 0 (the kind gives the direction): {show(value)}")
    try:
        e6 = to_e6(amount, "amount")
    except ArithmeticError:  # decimal.Overflow for exponents beyond the decimal context
        raise ValidationError(
            f"'amount' is too large to store (|amount| < 9.2e12): {show(value)}"
        ) from None
    return e6, float(amount) + 0.0


_POW10 = 10 ** np.arange(19, dtype=np.int64)
_EXACT_FLOAT = 2**53  # integers up to here are exact as float64


def amount_matrix(
    m: npt.NDArray[np.unsignedinteger[Any]], lengths: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Vectorised parse of plain amounts ``[0-9]{1,12}(.[0-9]{0,6})?`` or ``.[0-9]{1,6}``.

    ``m`` holds the code units of each cell (bytes or code points) left-aligned in a row
    (what follows a cell's length is never looked at); a cell longer than the matrix is never
    plain. Returns
    ``plain`` and the exact ``amount_e6`` of the plain cells (0 elsewhere).

    >>> cells = ["19.9", "5.", ".25", "1e3", "1.1234567", "007"]
    >>> m = np.array(cells, dtype="U19").view(np.uint32).reshape(len(cells), 19)
    >>> ok, e6 = amount_matrix(m, np.array([len(c) for c in cells]))
    >>> ok.tolist(), e6.tolist()
    ([True, True, True, False, False, True], [19900000, 5000000, 250000, 0, 0, 7000000])
    """
    n, width = m.shape
    within = np.arange(width) < lengths[:, None]
    dot = (m == 46) & within
    dig = ((m - m.dtype.type(48)) <= 9) & within  # unsigned: below '0' wraps around
    ndot = dot.sum(axis=1)
    p = np.where(ndot > 0, dot.argmax(axis=1), lengths)  # digits before the point
    frac = np.where(ndot > 0, lengths - p - 1, 0)
    plain = (
        (dig | dot | ~within).all(axis=1)
        & (ndot <= 1)
        & (lengths >= 1)
        & (lengths <= min(width, 19))
        & (frac <= 6)
        & (((p >= 1) & (p <= 12)) | ((p == 0) & (frac >= 1)))
    )
    digits = m.astype(np.int64) - 48
    v = np.zeros(n, dtype=np.int64)
    for j in range(width):  # Horner over the digits, skipping the point (wraps harmlessly
        v = np.where(dig[:, j], v * 10 + digits[:, j], v)  # on rows that are not plain)
    e6 = v * _POW10[6 - np.clip(frac, 0, 6)]
    return plain, np.where(plain, e6, 0)


def parse_money(
    cells: Sequence[object],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], Errors]:
    """Amounts as exact ``amount_e6`` int64 and as float64, with the rule of :func:`parse_amounts`.

    >>> e6, amounts, errors = parse_money(["19.99", "999999999999.123456", "-1"])
    >>> e6.tolist(), amounts[:2].tolist(), errors
    ([19990000, 999999999999123456, 0], [19.99, 999999999999.1234], [(2, "must be >= 0 (the kind gives the direction): '-1'")])
    >>> parse_money(["1.5", None])[2]
    [(1, 'is required')]
    """
    n = len(cells)
    e6 = np.zeros(n, dtype=np.int64)
    out = np.zeros(n, dtype=np.float64)
    errors: Errors = []
    text = _text_only(cells)
    missing = _missing_rows(cells, text)
    errors.extend((int(i), "is required") for i in np.flatnonzero(missing))
    if text:  # str or None; a missing cell is "" here (no digits: never plain, never parsed)
        texts = cast("Sequence[str]", [c or "" for c in cells] if missing.any() else cells)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
        m = np.array(texts, dtype="U19").view(np.uint32).reshape(n, 19)
        plain, e6 = amount_matrix(m, lengths)
        out = e6 / 1e6  # exact below 2**53 (one correctly rounded division)
        for i in np.flatnonzero(plain & (e6 > _EXACT_FLOAT)).tolist():
            out[i] = float(texts[i])
        slow = np.flatnonzero(~plain & ~missing)
    else:
        slow = np.flatnonzero(~missing)
    for i, (a, f) in _apply(cells, slow, _amount_ref, errors):
        e6[i] = a
        out[i] = f
    errors.sort()
    return e6, out, errors


def parse_amounts(cells: Sequence[object]) -> tuple[npt.NDArray[np.float64], Errors]:
    """Amounts as float64: the model's ``Money`` rule (Decimal, int or numeric string; no floats,
    finite), never negative, and storable (at most 6 decimal places, below 9.2e12).

    >>> parse_amounts(["19.99", "-1", "NaN", 2.5])[1]
    [(1, "must be >= 0 (the kind gives the direction): '-1'"), (2, "'amount' must be finite: 'NaN'"), (3, "'amount' must be a Decimal, int or numeric string, not float: 2.5 (use Money.from_float to convert a float explicitly)")]
    """
    _, out, errors = parse_money(cells)
    return out, errors


def _quantity_ref(value: object) -> int:
    if isinstance(value, str):
        try:
            q = int(value)
        except ValueError:
            raise ValidationError(f"must be a non-negative integer: {show(value)}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        q = value
    else:
        raise ValidationError(f"must be a non-negative integer: {show(value)}")
    if q < 0:
        raise ValidationError(f"must be a non-negative integer: {show(value)}")
    if q > _INT64_MAX:
        raise ValidationError(f"is too large to store (at most 2**63 - 1): {show(value)}")
    return q


def parse_quantities(cells: Sequence[object]) -> tuple[npt.NDArray[np.int64], Errors]:
    """Quantities as int64 (missing → 1): integers or integer strings, never negative.

    >>> q, errors = parse_quantities(["2", "", "-1", "1.5"])
    >>> q[:2].tolist(), [i for i, _ in errors]
    ([2, 1], [2, 3])
    """
    n = len(cells)
    if _text_only(cells):
        values, errors = _table(cells, _quantity_ref, default=1, required=False)
        return np.fromiter(values, dtype=np.int64, count=n), errors
    out = np.ones(n, dtype=np.int64)
    errors = []
    for i, r in _apply(cells, np.flatnonzero(~_missing_rows(cells, False)), _quantity_ref, errors):
        out[i] = r
    return out, errors


def _kind_ref(value: object) -> int:
    if isinstance(value, TransactionKind):
        return value.code
    if isinstance(value, str) and value in _KIND_CODES:
        return _KIND_CODES[value]
    choices = ", ".join(repr(k) for k in _KIND_CODES)
    raise ValidationError(f"must be one of {choices}: {show(value)}")


def parse_kinds(cells: Sequence[object]) -> tuple[npt.NDArray[np.int8], Errors]:
    """Kind codes (int8, ``TransactionKind.code``); missing → purchase.

    >>> codes, errors = parse_kinds(["refund", "", "Refund"])
    >>> codes[:2].tolist(), [i for i, _ in errors]
    ([1, 0], [2])
    """
    n = len(cells)
    if _text_only(cells):
        values, errors = _table(cells, _kind_ref, default=_DEFAULT_KIND, required=False)
        return np.fromiter(values, dtype=np.int8, count=n), errors
    out = np.full(n, _DEFAULT_KIND, dtype=np.int8)
    errors = []
    for i, r in _apply(cells, np.flatnonzero(~_missing_rows(cells, False)), _kind_ref, errors):
        out[i] = r
    return out, errors


def currency_code(value: object) -> str:
    """The model's currency rule: an ISO 4217 code (case and blanks ignored).

    >>> currency_code(" usd ")
    'USD'
    """
    if not isinstance(value, str) or value.strip().upper() not in CURRENCY_MINOR_UNITS:
        raise ValidationError(f"must be an ISO 4217 currency code: {show(value)}")
    return value.strip().upper()


def parse_currencies(cells: Sequence[object]) -> tuple[list[str | None], Errors]:
    """Currency codes per row (required).

    >>> parse_currencies(["eur", "EURO", ""])
    (['EUR', None, None], [(1, "must be an ISO 4217 currency code: 'EURO'"), (2, 'is required')])
    """
    if _text_only(cells):
        values, errors = _table(cells, currency_code, default=None, required=True)
        return values, errors
    out: list[str | None] = [None] * len(cells)
    errors = []
    missing = _missing_rows(cells, False)
    errors.extend((int(i), "is required") for i in np.flatnonzero(missing))
    for i, r in _apply(cells, np.flatnonzero(~missing), currency_code, errors):
        out[i] = r
    errors.sort()
    return out, errors
