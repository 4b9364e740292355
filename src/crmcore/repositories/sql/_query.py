"""A :class:`~crmcore.repositories._spec.TableSpec` as SQL: the ``WHERE`` of a query and the
``ORDER BY`` of its table, the same rules the memory backend applies as a predicate.

>>> import sqlalchemy as sa
>>> from crmcore.model import Interaction
>>> from crmcore.repositories._spec import Filter, TableSpec, parse_query
>>> spec = TableSpec("interactions", Interaction, "interaction",
...     filters=(Filter("customer_id"),), time=("occurred_at",), order=(("occurred_at",), ("id",)))
>>> t = sa.table("interactions", sa.column("customer_id"), sa.column("occurred_at"), sa.column("id"))
>>> q = parse_query(spec, customer_id="c-1", end="2024-01-01")
>>> print(sa.and_(*where(spec, t, q)))
interactions.customer_id = :customer_id_1 AND interactions.occurred_at < :occurred_at_1
>>> [str(c) for c in order_by(spec, t)]
['interactions.occurred_at', 'interactions.id']

A filter whose column stores something else than the value (``Filter.stored``):

>>> from crmcore.model import TransactionKind
>>> from crmcore.repositories._spec import parse_kinds_set
>>> kinds = TableSpec("transactions", object, "transaction",
...     filters=(Filter("kinds", "kind", parse=parse_kinds_set, stored=lambda k: k.code),))
>>> [c.right.value for c in where(kinds, sa.table("transactions", sa.column("kind")),
...                                parse_query(kinds, kinds=["refund", "purchase"]))]
[[0, 1]]
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crmcore.repositories._spec import NEVER, Query, TableSpec

__all__ = ["IN_LIST", "customer_groups", "order_by", "range_conditions", "where"]

IN_LIST = 500
"""Ids per ``IN (...)`` list (databases limit a statement's parameters)."""


def range_conditions(column: Any, lo: int | None, hi: int | None) -> list[Any]:
    """Conditions of the half-open range ``[lo, hi)`` on an integer time column."""
    out: list[Any] = []
    if lo is not None:
        out.append(column >= lo)
    if hi is not None:
        out.append(column < hi)
    return out


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)  # an enum member is stored as its value


def where(spec: TableSpec, table: Any, query: Query) -> list[Any]:
    """The conditions that select ``query``'s records of ``table`` (ANDed by the caller)."""
    c = table.c
    out: list[Any] = []
    for name, value in query.values.items():
        f = spec.filter(name)
        col = c[f.column]
        if f.flag:
            out.append(col.is_(None))
        elif isinstance(value, frozenset):
            out.append(col.in_(sorted((f.stored or _plain)(v) for v in value)))
        else:
            out.append(col == value)
    if query.lo is not None or query.hi is not None:
        if len(spec.time) == 1:  # one column: an index range scan
            out.extend(range_conditions(c[spec.time[0]], query.lo, query.hi))
        else:
            out.append(
                sa.or_(
                    *(
                        sa.and_(c[a].is_not(None), *range_conditions(c[a], query.lo, query.hi))
                        for a in spec.time
                    )
                )
            )
    return out


def customer_groups(spec: TableSpec, table: Any, query: Query) -> list[list[Any]]:
    """The conditions of ``query`` as groups of conditions read one after the other: one
    group, or with a ``customer_ids`` filter one group per IN list of :data:`IN_LIST`
    customer ids (a group that matches nothing when the set is empty)."""
    wanted = query.values.get("customer_ids")
    if wanted is None:
        return [where(spec, table, query)]
    rest = Query({k: v for k, v in query.values.items() if k != "customer_ids"}, query.lo, query.hi)
    cond = where(spec, table, rest)
    ids = sorted(wanted)
    col = table.c.customer_id
    groups = [[*cond, col.in_(ids[i : i + IN_LIST])] for i in range(0, len(ids), IN_LIST)]
    return groups or [[*cond, sa.false()]]


def order_by(spec: TableSpec, table: Any) -> list[Any]:
    """The ``ORDER BY`` of ``spec`` on ``table`` (a key of several columns: their COALESCE)."""
    c = table.c
    return [
        c[key[0]] if len(key) == 1 else sa.func.coalesce(*(c[a] for a in key), NEVER)
        for key in spec.order
    ]
