"""The SQL storage part of customers: the row of a customer and its statements (the checks
are :mod:`crmcore.repositories._customers`').

>>> from types import SimpleNamespace
>>> from crmcore.model import Customer
>>> row = customer_row(Customer(id="c-1", name="Ada", tags=["vip"]))
>>> row["id"], row["acquired_at"], customer_from_row(SimpleNamespace(**row)).tags
('c-1', None, ('vip',))
"""

from __future__ import annotations

import builtins
import functools
import json
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from crmcore.errors import DuplicateError
from crmcore.model import ContactKind, Customer
from crmcore.repositories._codec import from_micros, opt_micros
from crmcore.repositories._customers import CONTACT_KIND_BITS, CUSTOMERS, CustomerColumns
from crmcore.repositories._spec import Query
from crmcore.repositories.sql._prepared import Prepared, fetch_one, run
from crmcore.repositories.sql._query import IN_LIST, order_by, where
from crmcore.serialization import from_dict, to_dict

if TYPE_CHECKING:
    from crmcore.repositories.sql._session import SqlSession

__all__ = ["SqlCustomerStore", "customer_from_row", "customer_row"]

_PROFILE = ("contact_points", "birthday", "address", "tags", "relationships", "consent")
_CHUNK = IN_LIST  # ids per IN (...) list


def _opt_time(v: int | None) -> datetime | None:
    return None if v is None else from_micros(v)


def customer_row(c: Customer) -> dict[str, Any]:
    """The row of a customer: queried fields as columns, nested parts as JSON ``profile``."""
    d = to_dict(c)
    return {
        "id": c.id,
        "name": c.name,
        "kind": c.kind.value,
        "owner_id": c.owner_id,
        "segment": c.segment,
        "acquired_at": opt_micros(c.acquired_at, "acquired_at"),
        "acquisition_channel": c.acquisition_channel,
        "external_key": c.external_key,
        "erased": c.erased,
        "version": c.version,
        "profile": json.dumps({k: d[k] for k in _PROFILE}, sort_keys=True),
    }


def customer_from_row(row: Any) -> Customer:
    """The customer stored in ``row``."""
    d = json.loads(row.profile)
    d.update(
        id=row.id,
        name=row.name,
        kind=row.kind,
        owner_id=row.owner_id,
        segment=row.segment,
        acquired_at=_opt_time(row.acquired_at),
        acquisition_channel=row.acquisition_channel,
        external_key=row.external_key,
        erased=bool(row.erased),
        version=int(row.version),
    )
    return from_dict(Customer, d)


def _profile_parts(dialect: str, profile: Any) -> tuple[Any, list[Any], Any]:
    """The parts of the JSON ``profile`` that :class:`CustomerColumns` holds, read by the
    database's own JSON functions: the birthday (ISO text or NULL); the contact consent, the
    data-use consent and whether there is an address (conditions); the kinds of the contact
    points (text naming each, in any form :func:`_kind_bits` reads; NULL or empty: none)."""
    if dialect == "postgresql":
        j = sa.cast(profile, postgresql.JSONB)
        points = sa.func.jsonb_array_elements(j["contact_points"]).table_valued("value")
        kinds = (
            sa.select(sa.func.string_agg(points.c.value.op("->>")("kind"), " "))
            .select_from(points)
            .scalar_subquery()
        )
        return (
            j["birthday"].astext,
            [
                j["consent"]["contact"].astext == "true",
                j["consent"]["data_use"].astext == "true",
                sa.func.jsonb_typeof(j["address"]) == "object",
            ],
            kinds,
        )
    if dialect == "sqlite":
        each = sa.func.json_each(profile, "$.contact_points").table_valued("value")
        kinds = (
            sa.select(sa.func.group_concat(sa.func.json_extract(each.c.value, "$.kind"), " "))
            .select_from(each)
            .scalar_subquery()
        )
        return (
            sa.func.json_extract(profile, "$.birthday"),
            [
                sa.func.json_extract(profile, "$.consent.contact") == 1,
                sa.func.json_extract(profile, "$.consent.data_use") == 1,
                sa.func.json_type(profile, "$.address") == "object",
            ],
            kinds,
        )
    # MariaDB / MySQL
    return (
        sa.func.nullif(sa.func.json_unquote(sa.func.json_extract(profile, "$.birthday")), "null"),
        [
            sa.func.json_extract(profile, "$.consent.contact") == sa.literal_column("true"),
            sa.func.json_extract(profile, "$.consent.data_use") == sa.literal_column("true"),
            sa.func.json_type(sa.func.json_extract(profile, "$.address")) == "OBJECT",
        ],
        sa.func.json_extract(profile, "$.contact_points[*].kind"),
    )


_WORD = re.compile(r"[a-z]+")


def _kind_bits(text: str | None) -> int:
    """The :data:`CONTACT_KIND_BITS` of the kinds named in ``text`` (``"email phone"``,
    ``'["email", "phone"]'``; None: none)."""
    if not text:
        return 0
    return sum({CONTACT_KIND_BITS[ContactKind(w)] for w in _WORD.findall(text)})


class SqlCustomerStore:
    """Customers in SQL (:class:`~crmcore.repositories._customers.CustomerStore`); the
    statements of the hot paths are prepared once (:mod:`._prepared`)."""

    def __init__(self, session: SqlSession) -> None:
        self._session = session
        self.table = session.namespace.customers
        self._order = order_by(CUSTOMERS, self.table)

    @functools.cached_property
    def _by_id(self) -> Prepared:
        """The row by id, prepared once."""
        return Prepared(sa.select(self.table).where(self.table.c.id == sa.bindparam("id")))

    @functools.cached_property
    def _update(self) -> Prepared:
        """``UPDATE ... SET <the given columns> WHERE id = :w_id AND version = :w_version``."""
        c = self.table.c
        return Prepared(
            sa.update(self.table).where(
                c.id == sa.bindparam("w_id"), c.version == sa.bindparam("w_version")
            ),
            keyed=True,
        )

    def insert(self, customers: Sequence[Customer]) -> builtins.list[str]:
        """Store new customers, all or none; the ids already stored."""
        rows = [customer_row(c) for c in customers]
        what = (
            f"adding customer {customers[0].id!r}"
            if len(rows) == 1
            else f"adding {len(rows)} customers"
        )
        step = self._session.batch_size
        try:
            with self._session.writing(what) as conn:
                for i in range(0, len(rows), step):
                    conn.execute(sa.insert(self.table), rows[i : i + step])
        except DuplicateError:
            stored = self._stored_ids([c.id for c in customers])
            if not stored:  # not a stored id: the driver's own words
                raise
            return stored
        return []

    def _stored_ids(self, ids: builtins.list[str]) -> builtins.list[str]:
        c = self.table.c
        found: set[str] = set()
        with self._session.reading("looking up customer ids") as conn:
            for i in range(0, len(ids), _CHUNK):
                q = sa.select(c.id).where(c.id.in_(ids[i : i + _CHUNK]))
                found.update(str(r[0]) for r in conn.execute(q))
        return [i for i in ids if i in found]

    def fetch(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        with self._session.reading(f"reading customer {customer_id!r}") as conn:
            row = fetch_one(conn, self._by_id, {"id": customer_id})
        return None if row is None else customer_from_row(row)

    def overwrite(self, customer: Customer, based_on: int) -> tuple[bool, int | None]:
        """One ``UPDATE ... WHERE id = ? AND version = ?``; no row changed: the version this
        block sees (None: no such customer)."""
        row = customer_row(customer)
        del row["id"]
        row.update(w_id=customer.id, w_version=based_on)
        c = self.table.c
        with self._session.writing(f"updating customer {customer.id!r}") as conn:
            if run(conn, self._update, row):
                return True, based_on
            cur = conn.execute(sa.select(c.version).where(c.id == customer.id)).first()
        return False, None if cur is None else int(cur[0])

    def select(self, query: Query, limit: int | None) -> builtins.list[Customer]:
        """The customers ``query`` selects, by id, at most ``limit``."""
        q = sa.select(self.table).where(*where(CUSTOMERS, self.table, query)).order_by(*self._order)
        if limit is not None:
            q = q.limit(limit)
        with self._session.reading("listing customers") as conn:
            return [customer_from_row(r) for r in conn.execute(q)]

    def stream(self, batch_size: int) -> Iterator[Customer]:
        """Every customer in id order, by keyset pagination (``id > last``)."""
        c = self.table.c
        last: str | None = None
        while True:
            q = sa.select(self.table).order_by(*self._order).limit(batch_size)
            if last is not None:
                q = q.where(c.id > last)
            with self._session.reading("reading customers") as conn:
                rows = conn.execute(q).all()
            for r in rows:
                yield customer_from_row(r)
            if len(rows) < batch_size:
                return
            last = str(rows[-1].id)

    def external_keys(self, keys: Sequence[str]) -> dict[str, str]:
        """``external_key -> id`` of the stored ``keys`` (the smallest id when one repeats)."""
        c = self.table.c
        out: dict[str, str] = {}
        with self._session.reading("looking up external keys") as conn:
            for i in range(0, len(keys), _CHUNK):
                q = (
                    sa.select(c.external_key, sa.func.min(c.id))
                    .where(c.external_key.in_(keys[i : i + _CHUNK]))
                    .group_by(c.external_key)
                )
                out.update((str(k), str(v)) for k, v in conn.execute(q))
        return out

    def count(self) -> int:
        """How many customers are stored."""
        with self._session.reading("counting customers") as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()
            )

    def columns(self) -> CustomerColumns:
        """Every customer as columns, in id order: the plain columns and the profile's parts
        read by the database's JSON functions (:func:`_profile_parts`), the flags summed into
        one integer; one statement, no type processing of the rows."""
        c = self.table.c
        birthday, conditions, kinds = _profile_parts(self._session.dialect, c.profile)
        flags = sum(
            (
                sa.case((cond, bit), else_=0)
                for bit, cond in zip((1, 2, 8), conditions, strict=True)
            ),
            sa.case((c.erased, 4), else_=0),
        )
        raw = sa.types.NullType()
        q = sa.select(
            *(sa.type_coerce(e, raw) for e in (c.id, c.owner_id, c.segment, c.acquired_at)),
            sa.type_coerce(birthday, raw),
            sa.type_coerce(flags, raw),
            sa.type_coerce(kinds, raw),
        ).order_by(*self._order)
        with self._session.reading("reading customers as columns") as conn:
            rows = conn.execute(q).all()
        n = len(rows)
        # one list per column (transposing with zip(*rows) costs several times more)
        ids, owners, segments, acquired, births, bits, points = (
            [r[k] for r in rows] for k in range(7)
        )
        del rows
        seen: dict[str | None, int] = {}
        kind_bits = np.fromiter(
            (seen[k] if k in seen else seen.setdefault(k, _kind_bits(k)) for k in points),
            dtype=np.int64,
            count=n,
        )
        nat = np.iinfo(np.int64).min
        fl = np.fromiter(bits, dtype=np.int64, count=n)
        return CustomerColumns(
            ids=_objects(ids),
            owner_ids=_objects(owners),
            segments=_objects(segments),
            birthdays=np.array(births, dtype="datetime64[D]") if n else _no_days(),
            acquired_at=np.fromiter(
                (nat if v is None else v for v in acquired), dtype=np.int64, count=n
            ).view("datetime64[us]"),
            contact_consent=(fl & 1) != 0,
            data_use_consent=(fl & 2) != 0,
            erased=(fl & 4) != 0,
            has_address=(fl & 8) != 0,
            contact_kinds=kind_bits,
        )


def _objects(values: Sequence[Any]) -> Any:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _no_days() -> Any:
    return np.zeros(0, dtype="datetime64[D]")
