"""How the report writes numbers, and tables read from a result's columns.

>>> money(1234.5, "USD"), count(2357), share(0.4891), number(3.14159)
('1,234.50 USD', '2,357', '48.9%', '3.14')
>>> money(float("nan"), "USD")
'-'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from crmcore._frames import Tabular, frame_columns
from crmcore.report._model import ReportTable

__all__ = ["count", "heading", "money", "number", "plural", "share", "tabular_table"]

Formatter = Callable[[Any], str]


def _missing(x: object) -> bool:
    if x is None:
        return True
    try:
        return math.isnan(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def money(x: object, currency: str | None = None, *, digits: int = 2) -> str:
    """An amount with thousands separators and the currency code ('-' when missing)."""
    if _missing(x):
        return "-"
    text = f"{float(x):,.{digits}f}"  # type: ignore[arg-type]
    return f"{text} {currency}" if currency else text


def count(x: object) -> str:
    """A whole number with thousands separators."""
    return "-" if _missing(x) else f"{int(x):,}"  # type: ignore[call-overload]


def share(x: object, *, digits: int = 1) -> str:
    """A fraction as a percentage."""
    return "-" if _missing(x) else f"{100 * float(x):.{digits}f}%"  # type: ignore[arg-type]


def number(x: object, *, digits: int = 2) -> str:
    """A real number with thousands separators and ``digits`` decimals."""
    return "-" if _missing(x) else f"{float(x):,.{digits}f}"  # type: ignore[arg-type]


def heading(label: str, currency: str | None) -> str:
    """A column heading with the currency: ``'revenue (USD)'``."""
    return f"{label} ({currency})" if currency else label


def plural(n: int, word: str, words: str | None = None) -> str:
    """``'1 customer'``, ``'2,357 customers'``."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def _text(x: object) -> str:
    if x is None:
        return ""
    if isinstance(x, np.datetime64):
        return "" if np.isnat(x) else str(x.astype("datetime64[D]"))
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        return number(x)
    if isinstance(x, int) and not isinstance(x, bool):
        return count(x)
    return str(x)


def tabular_table(
    result: Tabular,
    caption: str,
    columns: Mapping[str, tuple[str, Formatter | None]],
    *,
    rows: Any = None,
    limit: int = 12,
    note: str | None = None,
) -> ReportTable:
    """A :class:`ReportTable` of a result's own columns (``to_pandas`` not needed).

    ``columns`` maps a column of the result to its heading and formatter (None: the
    default text of the value); ``rows`` selects and orders rows (an index array);
    at most ``limit`` rows are shown, with a note of how many more there are.
    """
    cols = {c.name: c for c in frame_columns(result)}
    missing = [name for name in columns if name not in cols]
    if missing:  # a programming error in the report, not the user's
        raise KeyError(f"{type(result).__name__} has no column(s) {missing}: {list(cols)}")
    n = len(next(iter(cols.values())).values) if cols else 0
    order = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    shown = order[:limit]
    body = []
    for i in shown.tolist():
        row = []
        for name, (_, fmt) in columns.items():
            c = cols[name]
            v = None if c.missing is not None and bool(c.missing[i]) else c.values[i]
            row.append((fmt or _text)(v) if v is not None else "")
        body.append(tuple(row))
    numeric = tuple(cols[name].kind in ("float", "int") for name in columns)
    more = len(order) - len(shown)
    notes = [x for x in (note, f"{more:,} more rows not shown" if more > 0 else None) if x]
    return ReportTable(
        caption=caption,
        columns=tuple(label for label, _ in columns.values()),
        rows=tuple(body),
        note="; ".join(notes) or None,
        numeric=numeric,
    )
