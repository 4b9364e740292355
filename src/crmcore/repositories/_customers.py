"""The one validating front of customers, over a backend's storage part.

:class:`Customers` implements :class:`~crmcore.repositories.CustomerRepository`
for every backend: it checks each record (its type, that it can be stored, the
version rules), refuses duplicates within a batch, parses the ``list()``
filters through :data:`CUSTOMERS` (:func:`~crmcore.repositories._spec.parse_query`)
and writes every error message; a :class:`CustomerStore` (memory or SQL) only
stores and reads.

>>> from crmcore.model import Customer
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.customers.add(Customer(id="c-1", name="Ada", segment="gold"))
...     uow.commit()
>>> with uow:
...     [c.id for c in uow.customers.list(segment="gold")]
['c-1']
>>> with uow:
...     uow.customers.add(Customer(id="c-1", name="Ada"))
Traceback (most recent call last):
crmcore.errors.DuplicateError: customer 'c-1' is already stored
>>> with uow:
...     uow.customers.list(acquired_from="yesterday")
Traceback (most recent call last):
crmcore.errors.ValidationError: 'acquired_from' must be an ISO 8601 timestamp: 'yesterday'
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._results import array
from crmcore.errors import ConcurrencyError, DuplicateError, NotFoundError, ValidationError
from crmcore.model import ContactKind, Customer
from crmcore.repositories._args import (
    check_batch,
    check_ids,
    check_iterable,
    check_limit,
    check_lookup,
)
from crmcore.repositories._codec import EPOCH
from crmcore.repositories._spec import Filter, Query, TableSpec, parse_query
from crmcore.repositories._writes import check_new_version, check_record

__all__ = [
    "CONTACT_KIND_BITS",
    "CUSTOMERS",
    "CustomerColumns",
    "CustomerStore",
    "Customers",
    "customer_columns",
]

CUSTOMERS = TableSpec(
    "customers",
    Customer,
    "customer",
    filters=(Filter("owner_id"), Filter("segment")),
    time=("acquired_at",),
    order=(("id",),),
    bounds=("acquired_from", "acquired_to"),
)
"""What ``customers.list()`` filters on (owner, segment, ``[acquired_from, acquired_to)``
on ``acquired_at``) and its order (by id), for the memory predicate and the SQL query."""


CONTACT_KIND_BITS: dict[ContactKind, int] = {k: 1 << i for i, k in enumerate(ContactKind)}
"""The bit of each contact kind in :attr:`CustomerColumns.contact_kinds` (the kinds in their
declared order: email 1, phone 2, mobile 4, ...)."""


def _column(dtype: str) -> Any:
    """A validator: a 1-D array of ``dtype`` as long as ``ids``."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype != np.dtype(dtype):
            raise ValidationError(
                f"CustomerColumns {attribute.name!r} must be a 1-D {dtype} array: {value!r}"[:300]
            )
        if hasattr(instance, "ids") and len(value) != len(instance.ids):
            raise ValidationError(
                f"CustomerColumns {attribute.name!r} has {len(value)} rows, 'ids' {len(instance.ids)}"
            )

    return check


@attrs.frozen(eq=False)
class CustomerColumns:
    """Every stored customer as columns, one row per customer in id order (the order of
    ``customers.iter()``), without one Python object per customer: what daily jobs over the
    whole base read (:func:`crmcore.relationship.plan_reminders`), from
    ``customers.read_columns()`` (:class:`~crmcore.repositories.protocols.CustomerColumnReader`).

    ``ids``, ``owner_ids``, ``segments``: object arrays (None: none); ``birthdays``:
    ``datetime64[D]`` and ``acquired_at``: ``datetime64[us]`` (UTC), NaT where unknown;
    ``contact_consent``, ``data_use_consent`` (:class:`~crmcore.model.Consent`), ``erased``
    and ``has_address``: booleans; ``contact_kinds``: the kinds of the customer's contact
    points as a bit set (:data:`CONTACT_KIND_BITS`; :meth:`reachable` reads it).

    >>> from crmcore.model import ContactPoint, Customer
    >>> cols = customer_columns([Customer(id="c-1", name="Ada", birthday=date(1980, 2, 29),
    ...     contact_points=[ContactPoint("mobile", "+44 20 1234 5678")])])
    >>> cols.ids.tolist(), cols.birthdays.astype(str).tolist(), cols.owner_ids.tolist()
    (['c-1'], ['1980-02-29'], [None])
    >>> cols.reachable("phone", "mobile").tolist(), cols.reachable("email").tolist()
    ([True], [False])
    """

    ids: npt.NDArray[Any] = attrs.field(validator=_column("O"))
    owner_ids: npt.NDArray[Any] = attrs.field(validator=_column("O"))
    segments: npt.NDArray[Any] = attrs.field(validator=_column("O"))
    birthdays: npt.NDArray[np.datetime64] = attrs.field(validator=_column("datetime64[D]"))
    acquired_at: npt.NDArray[np.datetime64] = attrs.field(validator=_column("datetime64[us]"))
    contact_consent: npt.NDArray[np.bool_] = attrs.field(validator=_column("bool"))
    data_use_consent: npt.NDArray[np.bool_] = attrs.field(validator=_column("bool"))
    erased: npt.NDArray[np.bool_] = attrs.field(validator=_column("bool"))
    has_address: npt.NDArray[np.bool_] = attrs.field(validator=_column("bool"))
    contact_kinds: npt.NDArray[np.int64] = attrs.field(validator=array("i", 0, length="ids"))

    def __len__(self) -> int:
        """The number of customers."""
        return len(self.ids)

    def reachable(self, *kinds: ContactKind | str) -> npt.NDArray[np.bool_]:
        """Per customer, whether they have a contact point of any of ``kinds``.

        >>> customer_columns([]).reachable("pigeon")
        Traceback (most recent call last):
        crmcore.errors.ValidationError: 'kinds' must be contact kinds ('email', 'phone', 'mobile', 'fax', 'web', 'social', 'postal'): 'pigeon'
        """
        mask = 0
        for k in kinds:
            try:
                mask |= CONTACT_KIND_BITS[ContactKind(k)]
            except ValueError:
                names = ", ".join(repr(c.value) for c in ContactKind)
                raise ValidationError(f"'kinds' must be contact kinds ({names}): {k!r}") from None
        out: npt.NDArray[np.bool_] = (self.contact_kinds & mask) != 0
        return out


def _objects(values: Sequence[Any]) -> npt.NDArray[Any]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_NAT = np.iinfo(np.int64).min


def customer_columns(customers: Iterable[Customer]) -> CustomerColumns:
    """:class:`CustomerColumns` of customer objects (in id order): one list per attribute,
    then one column at a time. The memory backend's ``read_columns``, and the way to read the columns of a
    backend without that capability (``customer_columns(uow.customers.iter())``).

    >>> customer_columns([]).birthdays.dtype
    dtype('<M8[D]')
    >>> customer_columns([None])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'customers[0]' must be a Customer: None
    """
    items = list(check_iterable(customers, "customers"))
    for i, c in enumerate(items):
        if not isinstance(c, Customer):
            raise ValidationError(f"'customers[{i}]' must be a Customer: {c!r}"[:300])
    items.sort(key=_by_id)
    n = len(items)
    # one list per attribute (transposing tuples with zip(*rows) costs eight times more)
    ids = [c.id for c in items]
    owners = [c.owner_id for c in items]
    segments = [c.segment for c in items]
    births = [c.birthday for c in items]
    acquired = [c.acquired_at for c in items]
    consents = [c.consent for c in items]
    erased = [c.erased for c in items]
    addresses = [c.address for c in items]
    points = [c.contact_points for c in items]
    bits = CONTACT_KIND_BITS
    epoch, us = _EPOCH_ORDINAL, _US
    return CustomerColumns(
        ids=_objects(ids),
        owner_ids=_objects(owners),
        segments=_objects(segments),
        birthdays=np.fromiter(
            (_NAT if b is None else b.toordinal() - epoch for b in births), np.int64, n
        ).view("datetime64[D]"),
        acquired_at=np.fromiter(
            (_NAT if t is None else (t - EPOCH) // us for t in acquired), np.int64, n
        ).view("datetime64[us]"),
        contact_consent=np.fromiter((c.contact for c in consents), bool, n),
        data_use_consent=np.fromiter((c.data_use for c in consents), bool, n),
        erased=np.fromiter(erased, bool, n),
        has_address=np.fromiter((a is not None for a in addresses), bool, n),
        contact_kinds=np.fromiter(
            (sum({bits[q.kind] for q in ps}) if ps else 0 for ps in points), np.int64, n
        ),
    )


_US = timedelta(microseconds=1)


def _by_id(c: Customer) -> str:
    return c.id


class CustomerStore(Protocol):
    """The storage part of a backend's customers (no checks: :class:`Customers` made them)."""

    def insert(self, customers: Sequence[Customer]) -> builtins.list[str]:
        """Store new customers (distinct ids), all or none: the ids among them that are
        already stored (then nothing was stored), or an empty list."""
        ...

    def fetch(self, customer_id: str) -> Customer | None:
        """The stored customer, or None."""
        ...

    def overwrite(self, customer: Customer, based_on: int) -> tuple[bool, int | None]:
        """Store ``customer`` over the stored one if that is at version ``based_on``. Returns
        whether it was written and the version stored before as the store saw it (None:
        no customer has the id)."""
        ...

    def select(self, query: Query, limit: int | None) -> builtins.list[Customer]:
        """The customers ``query`` (of :data:`CUSTOMERS`) selects, in its order, at most ``limit``."""
        ...

    def stream(self, batch_size: int) -> Iterator[Customer]:
        """Every customer in id order, read ``batch_size`` at a time."""
        ...

    def external_keys(self, keys: Sequence[str]) -> dict[str, str]:
        """``external_key -> id`` of the distinct ``keys`` that are stored (the smallest id
        when a key repeats)."""
        ...

    def count(self) -> int:
        """How many customers are stored."""
        ...

    def columns(self) -> CustomerColumns:
        """Every customer as columns, in id order."""
        ...


class Customers:
    """Customers, with optimistic concurrency on ``version``
    (:class:`~crmcore.repositories.CustomerRepository`), over a :class:`CustomerStore`."""

    __slots__ = (
        "_columns",
        "_count",
        "_external_keys",
        "_fetch",
        "_insert",
        "_overwrite",
        "_select",
        "_stream",
        "store",
    )

    def __init__(self, store: CustomerStore) -> None:
        self.store = store
        """The backend's storage part."""
        self._insert = store.insert
        self._fetch = store.fetch
        self._overwrite = store.overwrite
        self._select = store.select
        self._stream = store.stream
        self._external_keys = store.external_keys
        self._count = store.count
        self._columns = store.columns

    def add(self, customer: Customer) -> Customer:
        """Store a new customer (its version must be 0); returns it. Duplicate id → DuplicateError."""
        check_record(customer, Customer)
        check_new_version(customer, "customer")
        if self._insert((customer,)):
            raise DuplicateError(f"customer {customer.id!r} is already stored")
        return customer

    def add_many(self, customers: Iterable[Customer]) -> int:
        """Store new customers in bulk; returns how many. Any duplicate → DuplicateError, none stored."""
        items = [check_record(c, Customer) for c in check_iterable(customers, "customers")]
        seen: set[str] = set()
        for c in items:
            check_new_version(c, "customer")
            if c.id in seen:
                raise DuplicateError(
                    f"customer {c.id!r} is given twice in 'customers'; none was added"
                )
            seen.add(c.id)
        if not items:
            return 0
        stored = self._insert(items)
        if stored:
            more = f" ({len(stored)} of them are)" if len(stored) > 1 else ""
            raise DuplicateError(f"customer {stored[0]!r} is already stored{more}; none was added")
        return len(items)

    def get(self, customer_id: str) -> Customer:
        """The customer, or NotFoundError."""
        found = self.find(customer_id)
        if found is None:
            raise NotFoundError(f"customer {customer_id!r} not found")
        return found

    def find(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        return self._fetch(check_lookup(customer_id, "customer_id"))

    def update(self, customer: Customer) -> Customer:
        """Store a changed customer whose ``version`` is the stored one; returns it with version + 1.

        A stale version raises ConcurrencyError and changes nothing.
        """
        check_record(customer, Customer)
        stored = attrs.evolve(customer, version=customer.version + 1)
        written, before = self._overwrite(stored, customer.version)
        if written:
            return stored
        if before is None:
            raise NotFoundError(f"customer {customer.id!r} not found")
        if before == customer.version:  # this block's snapshot still shows the version it read
            raise ConcurrencyError(
                f"customer {customer.id!r} was changed by another unit of work after this one "
                f"read version {customer.version}; nothing was changed"
            )
        raise ConcurrencyError(
            f"customer {customer.id!r} is at version {before}, the update was based "
            f"on version {customer.version}; nothing was changed"
        )

    def list(
        self,
        *,
        owner_id: str | None = None,
        segment: str | None = None,
        acquired_from: datetime | None = None,
        acquired_to: datetime | None = None,
        limit: int | None = None,
    ) -> builtins.list[Customer]:
        """Customers matching every given filter, ordered by id."""
        query = parse_query(
            CUSTOMERS, start=acquired_from, end=acquired_to, owner_id=owner_id, segment=segment
        )
        return self._select(query, check_limit(limit))

    def iter(self, *, batch_size: int = 1000) -> Iterator[Customer]:
        """Every customer, streamed in id order."""
        return self._stream(check_batch(batch_size))

    def by_external_keys(self, keys: Sequence[str]) -> dict[str, str]:
        """``external_key → customer id`` for the keys that are stored (idempotent imports)."""
        return self._external_keys(sorted(set(check_ids(keys, "keys"))))

    def count(self) -> int:
        """How many customers are stored."""
        return self._count()

    def read_columns(self) -> CustomerColumns:
        """Every customer as :class:`CustomerColumns`, in id order, without one Python object
        per customer (:class:`~crmcore.repositories.protocols.CustomerColumnReader`)."""
        return self._columns()
