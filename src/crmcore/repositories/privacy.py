"""Privacy requests: export everything held about a customer, or erase their personal data.

Both run inside the caller's unit of work (``with uow: ...``) and work on
every backend through the repository protocols; :func:`erase_customer`
changes nothing durable until the caller commits. What belongs to a
customer and which stored values are personal is declared once, in
:mod:`crmcore.repositories._personal_data` (``PERSONAL_DATA``), and both
functions follow it.

Erasure anonymises rather than deletes: identifiers, amounts, timestamps,
kinds, stages, products and categories stay so that analytics (CLV, RFM,
funnel metrics) keep working on the anonymised rows; the name, contact
points, birthday, address, tags, relationships, consent, external key and
every free text (interaction and activity subjects and outcomes, survey
comments, cost notes, lost reasons, the reasons of stage and field changes,
the text values of custom fields, alert notes and outcomes) are removed, in
every stored version and event, and the profile is marked ``erased=True``.
A deal changes only through its events, so the removal of a custom field's
text is itself an event: a :class:`~crmcore.model.FieldChange` of that field
(its old value erased, new None) by :data:`ERASED_BY`, numbered after the
stored ones; the deal's version moves on with it. Likewise an alert whose
latest version held personal data gets one more version, its erased body. So a
save based on a version read before the erasure gets ConcurrencyError and
cannot write the erased values back.
On SQLite the commit of an erasure also overwrites the freed space and
empties the ``-wal`` file; :func:`purge_erased_copies` is the maintenance
step that removes older physical copies on every SQL database.

>>> from datetime import datetime, timezone
>>> from crmcore.model import Customer, ContactPoint, Interaction
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.customers.add(Customer(id="c-1", name="Li Wei",
...                                    contact_points=[ContactPoint("email", "li@example.com")]))
...     _ = uow.interactions.add(Interaction(id="i-1", customer_id="c-1", channel="phone",
...         direction="inbound", occurred_at=datetime(2023, 5, 4, tzinfo=timezone.utc),
...         subject="Wants a mortgage for her daughter"))
...     uow.commit()
>>> with uow:
...     export_customer(uow, "c-1")["customer"]["name"]
'Li Wei'
>>> with uow:
...     erase_customer(uow, "c-1")
...     uow.commit()
{'customers': 1, 'interactions': 1, 'opportunities': 0, 'events': 0, 'activities': 0, 'surveys': 0, 'costs': 0, 'alerts': 0, 'service_cases': 0}
>>> with uow:
...     c = uow.customers.get("c-1")
...     c.name, c.contact_points, c.erased, uow.interactions.get("i-1").subject
('erased', (), True, None)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from crmcore.errors import RepositoryError
from crmcore.model import FieldChange, Opportunity, StageChange
from crmcore.model.opportunity import CUSTOM_PREFIX
from crmcore.repositories._args import check_id
from crmcore.repositories._personal_data import (
    ERASED_NAME,
    OWNED_DOCUMENTS,
    OwnedDocument,
    anonymised,
    anonymised_document,
)
from crmcore.repositories.protocols import (
    ServiceCaseUnitOfWork,
    UnitOfWork,
    expect_unit_of_work,
)
from crmcore.serialization import to_dict

__all__ = [
    "ERASED_BY",
    "ERASED_NAME",
    "EXPORT_FORMAT",
    "Eraser",
    "erase_customer",
    "export_customer",
    "purge_erased_copies",
]

ERASED_BY = "crmcore-erasure"
"""The ``by`` of the events an erasure appends (the removal of a custom field's text)."""

EXPORT_FORMAT = "crmcore.customer-export/2"
"""The ``format`` field of an export, versioned so a reader can tell layouts apart
(2: with the customer's ``alerts`` and the activities of their opportunities)."""


@runtime_checkable
class Eraser(Protocol):
    """What a backend gives :func:`erase_customer` (``uow.eraser()``) to rewrite what its
    repositories never overwrite: an opportunity's events and every stored version of a
    document. Both overwrite in place (same event numbers, same document versions); only
    values change, except that an opportunity also takes the erasure's own events (the
    removal of its custom texts) and their last number as its version. A backend without
    ``eraser()`` can erase customers that have neither.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> isinstance(MemoryUnitOfWork().eraser(), Eraser)
    True
    """

    def start(self) -> None:
        """Called inside the block before the erasure writes anything (SQLite: turns on
        ``secure_delete`` and has the commit checkpoint the write-ahead log)."""
        ...

    def now(self) -> datetime:
        """The unit of work's clock (the time of the erasure's own events)."""
        ...

    def rewrite_opportunity(
        self,
        opportunity: Opportunity,
        events: Sequence[StageChange | FieldChange],
        appended: Sequence[FieldChange] = (),
    ) -> None:
        """Overwrite the stored opportunity (stored at ``opportunity.version``, else
        ConcurrencyError) and its stored ``events`` matched by sequence number, and append
        ``appended`` (numbered from ``opportunity.version + 1``); the stored version becomes
        the last appended number."""
        ...

    def rewrite_document(self, kind: str, key: str, bodies: Mapping[int, Any]) -> None:
        """Overwrite the stored versions ``bodies`` (version → body) of a document."""
        ...

    def purge(self) -> list[str]:
        """Outside a block: the maintenance step that removes physical copies of erased values
        (database-specific); returns the statements run."""
        ...

    # optional: documents_naming(kind, field, value) -> list[str], the keys of the documents
    # of ``kind`` that may name ``value`` in ``field`` (a superset, checked by the caller),
    # so that finding a customer's alerts does not read every alert back


def _eraser_of(uow: UnitOfWork) -> Eraser | None:
    make: Callable[[], object] | None = getattr(uow, "eraser", None)
    if make is None:
        return None
    eraser = make()
    if not isinstance(eraser, Eraser):
        raise RepositoryError(
            f"uow.eraser() must return a crmcore.repositories.privacy.Eraser: {eraser!r}"
        )
    return eraser


def _activities(uow: UnitOfWork, customer_id: str, opportunity_ids: Sequence[str]) -> list[Any]:
    """The customer's activities and those of their opportunities, by id."""
    found = {a.id: a for a in uow.activities.list(customer_id=customer_id)}
    for oid in opportunity_ids:
        found.update((a.id, a) for a in uow.activities.list(opportunity_id=oid))
    return [found[k] for k in sorted(found)]


def _owned_documents(uow: UnitOfWork, spec: OwnedDocument, customer_id: str) -> list[str]:
    """The keys of the documents of ``spec.kind`` that name the customer (latest version).

    Every document of the kind is read, unless the backend's eraser narrows them down first
    (an optional ``documents_naming(kind, field, value)``: the SQL backend's one LIKE scan).
    """
    eraser = _eraser_of(uow)
    narrow = getattr(eraser, "documents_naming", None)
    candidates = (
        narrow(spec.kind, spec.customer_field, customer_id)
        if narrow is not None
        else uow.documents.keys(spec.kind)
    )
    keys = []
    for key in candidates:
        body, _ = uow.documents.get(spec.kind, key)
        if isinstance(body, dict) and body.get(spec.customer_field) == customer_id:
            keys.append(key)
    return keys


def export_customer(uow: UnitOfWork, customer_id: str) -> dict[str, Any]:
    """Everything held about one customer as a JSON-safe dict (``json.dumps`` works on it).

    Keys: ``format`` (:data:`EXPORT_FORMAT`), ``customer`` (the profile),
    ``interactions``, ``transactions``, ``opportunities`` (each with its stage
    ``history`` and the ``edits`` of its fields: who changed what, when, why),
    ``activities`` (the customer's and those of their opportunities),
    ``surveys``, ``costs``, ``alerts`` (the anomaly alerts about the
    customer, with their lifecycle and notes) and, for a unit of work that stores
    them (:class:`~crmcore.repositories.ServiceCaseUnitOfWork`), ``service_cases``. A missing customer raises
    NotFoundError. Call it inside ``with uow:``.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     export_customer(uow, "nobody")
    Traceback (most recent call last):
    crmcore.errors.NotFoundError: customer 'nobody' not found
    """
    uow = expect_unit_of_work(uow)
    customer = uow.customers.get(check_id(customer_id, "customer_id"))
    opportunities = []
    deals = uow.opportunities.list(customer_id=customer_id)
    for o in deals:
        events = uow.opportunities.events(o.id)
        opportunities.append(
            {
                "opportunity": to_dict(o),
                "history": [to_dict(e) for e in events if isinstance(e, StageChange)],
                "edits": [to_dict(e) for e in events if isinstance(e, FieldChange)],
            }
        )
    out: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "customer": to_dict(customer),
        "interactions": [to_dict(i) for i in uow.interactions.list(customer_id=customer_id)],
        "transactions": [to_dict(t) for t in uow.transactions.list(customer_id=customer_id)],
        "opportunities": opportunities,
        "activities": [to_dict(a) for a in _activities(uow, customer_id, [o.id for o in deals])],
        "surveys": [to_dict(s) for s in uow.surveys.list(customer_id=customer_id)],
        "costs": [to_dict(k) for k in uow.costs.list(customer_id=customer_id)],
    }
    if isinstance(uow, ServiceCaseUnitOfWork):  # an optional capability
        out["service_cases"] = [to_dict(c) for c in uow.service_cases.list(customer_id=customer_id)]
    for spec in OWNED_DOCUMENTS:
        out[spec.export_key] = [
            uow.documents.get(spec.kind, key)[0] for key in _owned_documents(uow, spec, customer_id)
        ]
    return out


def erase_customer(uow: UnitOfWork, customer_id: str) -> dict[str, int]:
    """Remove or anonymise the customer's personal data in every repository; returns counts.

    Every value declared personal (``PERSONAL_DATA`` in
    :mod:`crmcore.repositories._personal_data`) is erased in the customer's
    profile, interactions, opportunities and every one of their events,
    activities (the customer's and their opportunities'), surveys, costs,
    service cases (where the unit of work stores them: the ``service_cases`` count is
    there only then) and in every stored version of their alerts. The removal of a deal's
    custom text is recorded as an edit of that field by :data:`ERASED_BY`, and
    the deal's version moves on to it; an alert whose latest version held
    personal data gets a new version, its erased body. A save or put based on
    a version read before the erasure therefore gets ConcurrencyError instead of
    writing the erased values back. The counts say how many records of each kind were
    rewritten (``events``: stored stage and field changes rewritten, not
    counting the appended edits; ``alerts``: documents). Nothing is durable until the caller commits;
    erasing twice is harmless (the second rewrites nothing). A missing
    customer raises NotFoundError. A backend whose unit of work has no
    ``eraser()`` (:class:`Eraser`) raises RepositoryError, before writing
    anything, when events or document versions would have to be rewritten.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     erase_customer(uow, "nobody")
    Traceback (most recent call last):
    crmcore.errors.NotFoundError: customer 'nobody' not found
    """
    uow = expect_unit_of_work(uow)
    customer = uow.customers.get(check_id(customer_id, "customer_id"))
    counts = dict.fromkeys(
        ("customers", "interactions", "opportunities", "events", "activities", "surveys", "costs"),
        0,
    )
    # plan every rewrite first: a backend that cannot make one fails before anything changes
    eraser = _eraser_of(uow)
    deals = []
    for o in uow.opportunities.list(customer_id=customer_id):
        events = uow.opportunities.events(o.id)
        changed = [new for e in events if (new := anonymised(e)) is not e]
        erased = anonymised(o)
        if changed or erased is not o:
            removed = [k for k in o.custom if k not in erased.custom]
            appended = _removals(o, events[-1], removed, eraser) if removed else []
            deals.append((erased, changed, appended))
    documents: list[tuple[OwnedDocument, str, dict[int, Any], int]] = []
    for spec in OWNED_DOCUMENTS:
        counts[spec.export_key] = 0
        for key in _owned_documents(uow, spec, customer_id):
            _, latest = uow.documents.get(spec.kind, key)
            bodies = {}
            for v in range(1, latest + 1):
                body, _ = uow.documents.get(spec.kind, key, version=v)
                erased_body = anonymised_document(spec.kind, body)
                if erased_body != body:
                    bodies[v] = erased_body
            if bodies:
                documents.append((spec, key, bodies, latest))
    if eraser is None and (deals or documents):
        raise RepositoryError(
            f"cannot erase customer {customer_id!r}: their opportunities' events or their "
            "documents hold personal data, and this unit of work has no eraser() to rewrite "
            "them (crmcore.repositories.privacy.Eraser); nothing was changed"
        )
    if eraser is not None:
        eraser.start()
    erased_customer = anonymised(customer)
    if erased_customer is not customer:
        uow.customers.update(erased_customer)
        counts["customers"] = 1
    for i in uow.interactions.list(customer_id=customer_id):
        if (new_i := anonymised(i)) is not i:
            uow.interactions.replace(new_i)
            counts["interactions"] += 1
    for t in uow.transactions.list(customer_id=customer_id):
        if anonymised(t) is not t:  # pragma: no cover (no transaction column is declared personal)
            raise RepositoryError("transactions cannot be rewritten: declare no personal column")
    for erased, changed, appended in deals:
        assert eraser is not None
        eraser.rewrite_opportunity(erased, changed, appended)
        counts["opportunities"] += 1
        counts["events"] += len(changed)
    deal_ids = [o.id for o in uow.opportunities.list(customer_id=customer_id)]
    for a in _activities(uow, customer_id, deal_ids):
        if (new_a := anonymised(a)) is not a:
            uow.activities.update(new_a)
            counts["activities"] += 1
    for s in uow.surveys.list(customer_id=customer_id):
        if (new_s := anonymised(s)) is not s:
            uow.surveys.replace(new_s)
            counts["surveys"] += 1
    for k in uow.costs.list(customer_id=customer_id):
        if (new_k := anonymised(k)) is not k:
            uow.costs.replace(new_k)
            counts["costs"] += 1
    if isinstance(uow, ServiceCaseUnitOfWork):  # an optional capability
        counts["service_cases"] = 0
        for c in uow.service_cases.list(customer_id=customer_id):
            if (new_c := anonymised(c)) is not c:
                uow.service_cases.replace(new_c)
                counts["service_cases"] += 1
    for spec, key, bodies, latest in documents:
        assert eraser is not None
        eraser.rewrite_document(spec.kind, key, bodies)
        if latest in bodies:  # a new version: a write based on the one read before fails
            uow.documents.put(spec.kind, key, bodies[latest], expected_version=latest)
        counts[spec.export_key] += 1
    return counts


def _removals(
    deal: Opportunity,
    last: StageChange | FieldChange,
    names: Sequence[str],
    eraser: Eraser | None,
) -> list[FieldChange]:
    """The erasure's events of ``deal``: one edit per custom field whose text it removes (old
    value erased, new None), by :data:`ERASED_BY`, numbered after ``last`` and dated now (not
    before ``last``); none without an eraser (the erasure is refused before anything)."""
    if eraser is None:
        return []
    now = eraser.now()
    at = max(now, last.at)
    recorded = max(now, last.recorded_at or last.at)
    return [
        FieldChange(
            opportunity_id=deal.id,
            sequence=last.sequence + i,
            field=f"{CUSTOM_PREFIX}{name}",
            old=None,
            new=None,
            at=at,
            by=ERASED_BY,
            recorded_at=recorded,
        )
        for i, name in enumerate(names, start=1)
    ]


def purge_erased_copies(uow: UnitOfWork) -> list[str]:
    """The maintenance step after erasures: rewrite the stored tables so that no physical
    copy of an erased value is left in the database files; returns the statements run.

    SQLite: ``VACUUM``, then a WAL checkpoint (TRUNCATE). PostgreSQL:
    ``VACUUM (FULL)`` of the tables that hold personal data (an exclusive lock
    on each while it is rewritten). MariaDB/MySQL: ``OPTIMIZE TABLE`` of those
    tables (InnoDB rebuilds them). The memory backend keeps no copies
    (nothing to run). Call it outside ``with uow:``, when no transaction of
    yours holds those tables. What no database command reaches (its write-ahead
    or redo log until it is recycled, replicas' logs, backups) is described in
    docs/repositories.md, "Erasure".

    >>> import pathlib, tempfile
    >>> from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork
    >>> purge_erased_copies(MemoryUnitOfWork())
    []
    >>> uow = SqlUnitOfWork.from_url(pathlib.Path(tempfile.mkdtemp()) / "crm.db")
    >>> purge_erased_copies(uow)
    ['VACUUM', 'PRAGMA wal_checkpoint(TRUNCATE)']
    >>> uow.close()
    """
    uow = expect_unit_of_work(uow)
    if getattr(uow, "active", False):
        raise RepositoryError(
            "purge_erased_copies runs outside `with uow:` (its statements cannot run inside a "
            "transaction): commit and leave the block first"
        )
    eraser = _eraser_of(uow)
    return [] if eraser is None else eraser.purge()
