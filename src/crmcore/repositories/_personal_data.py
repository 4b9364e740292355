"""Personal data: every stored column that can hold it, declared once beside the schema,
and the one rule that erases it, used by export and erase on every backend.

:data:`PERSONAL_DATA` lists each column (table, column, the model attribute
or document path it stores, and its kind); :data:`KEPT_TEXT` lists every
other text column with the reason it stays. The tests hold the schema to
both lists: a text column that is in neither fails them, so a new free-text
column is declared before it ships. Erasure sets each declared value to the
model's empty value (the attribute's default: None, ``()``, no consent), the
name to :data:`ERASED_NAME`, and keeps only the numbers and booleans of
custom fields; an edit's old and new values are erased as the edited field is.

>>> from crmcore.model import Customer, ContactPoint
>>> c = anonymised(Customer(id="c-1", name="Li Wei", external_key="li@example.com",
...                         contact_points=[ContactPoint("email", "li@example.com")]))
>>> c.name, c.external_key, c.contact_points, c.erased
('erased', None, (), True)
>>> sorted({f.table for f in PERSONAL_DATA})[:3]
['activities', 'costs', 'customers']
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

import attrs

from crmcore.errors import ValidationError
from crmcore.model import (
    Activity,
    CostEntry,
    Customer,
    FieldChange,
    Interaction,
    Opportunity,
    ServiceCase,
    StageChange,
    SurveyResponse,
    Transaction,
)
from crmcore.model.opportunity import CUSTOM_PREFIX

__all__ = [
    "ERASED_NAME",
    "KEPT_TEXT",
    "OWNED_DOCUMENTS",
    "PERSONAL_DATA",
    "KeptText",
    "OwnedDocument",
    "PersonalField",
    "PersonalKind",
    "anonymised",
    "anonymised_document",
    "personal_fields",
    "table_of",
]

ERASED_NAME = "erased"
"""The name an erased customer keeps (the model requires a non-empty name)."""


class PersonalKind(StrEnum):
    """What a declared column holds, which says how it is erased."""

    NAME = "name"
    """A person's name: replaced by :data:`ERASED_NAME`."""
    CONTACT = "contact"
    """Contact points, postal address, birthday: emptied."""
    LABELS = "labels"
    """Tags typed by people: emptied."""
    RELATIONSHIP = "relationship"
    """Links to other people: emptied."""
    CONSENT = "consent"
    """Consent flags: reset to no consent."""
    EXTERNAL_KEY = "external key"
    """The customer's key in another system (often an e-mail address): removed."""
    FREE_TEXT = "free text"
    """Subjects, outcomes, comments, reasons: removed."""
    NOTE = "note"
    """Notes typed by staff: removed."""
    CUSTOM_FIELDS = "custom fields"
    """User-defined fields: text values removed, numbers and booleans kept."""
    FIELD_VALUE = "field value"
    """The old and new value of an edit: erased as the edited field is."""


@attrs.frozen
class PersonalField:
    """One stored column that can hold personal data.

    ``attribute`` is the model attribute stored there (several share the
    customer's JSON ``profile`` column), or for ``documents`` the path in the
    body of the documents of kind ``document`` (``steps[].note``: the note of
    every step).

    >>> PersonalField("costs", "note", PersonalKind.NOTE).attribute
    'note'
    """

    table: str
    column: str
    kind: PersonalKind = attrs.field(converter=PersonalKind)
    attribute: str = attrs.field()
    document: str | None = None

    @attribute.default
    def _same_as_column(self) -> str:
        return self.column


@attrs.frozen
class KeptText:
    """A text column that erasure keeps, with the reason.

    >>> KeptText("costs", "category", "a category of the cost").column
    'category'
    """

    table: str
    column: str
    why: str


_P = PersonalKind
PERSONAL_DATA: tuple[PersonalField, ...] = (
    PersonalField("customers", "name", _P.NAME),
    PersonalField("customers", "profile", _P.CONTACT, "contact_points"),
    PersonalField("customers", "profile", _P.CONTACT, "address"),
    PersonalField("customers", "profile", _P.CONTACT, "birthday"),
    PersonalField("customers", "profile", _P.LABELS, "tags"),
    PersonalField("customers", "profile", _P.RELATIONSHIP, "relationships"),
    PersonalField("customers", "profile", _P.CONSENT, "consent"),
    PersonalField("customers", "external_key", _P.EXTERNAL_KEY),
    PersonalField("interactions", "subject", _P.FREE_TEXT),
    PersonalField("interactions", "outcome", _P.FREE_TEXT),
    PersonalField("opportunities", "lost_reason", _P.FREE_TEXT),
    PersonalField("opportunities", "custom", _P.CUSTOM_FIELDS),
    PersonalField("stage_changes", "reason", _P.FREE_TEXT),
    PersonalField("stage_changes", "custom", _P.CUSTOM_FIELDS),
    PersonalField("field_changes", "reason", _P.FREE_TEXT),
    PersonalField("field_changes", "old", _P.FIELD_VALUE),
    PersonalField("field_changes", "new", _P.FIELD_VALUE),
    PersonalField("activities", "subject", _P.FREE_TEXT),
    PersonalField("activities", "outcome", _P.FREE_TEXT),
    PersonalField("surveys", "comment", _P.FREE_TEXT),
    PersonalField("costs", "note", _P.NOTE),
    PersonalField("service_cases", "subject", _P.FREE_TEXT),
    PersonalField("service_cases", "resolution", _P.FREE_TEXT),
    PersonalField("documents", "body", _P.NOTE, "steps[].note", document="anomaly_alert"),
    PersonalField("documents", "body", _P.FREE_TEXT, "outcome", document="anomaly_alert"),
)
"""Every column that can hold personal data (table, column, kind, model attribute or path)."""

_CATEGORY = "a category that analytics group by"
_ID = "an identifier (pseudonymous; it links the anonymised rows)"
_STAGE = "a stage or funnel name of the process"
KEPT_TEXT: tuple[KeptText, ...] = (
    KeptText("customers", "segment", _CATEGORY),
    KeptText("customers", "acquisition_channel", _CATEGORY),
    KeptText("transactions", "product", _CATEGORY),
    KeptText("transactions", "category", _CATEGORY),
    KeptText("transactions", "channel", _CATEGORY),
    KeptText(
        "transactions",
        "external_ref",
        "the order reference of the source system, which a re-run of an import matches to store "
        "each transaction once; it must not be a person's data",
    ),
    KeptText("opportunities", "funnel", _STAGE),
    KeptText("opportunities", "stage", _STAGE),
    KeptText("opportunities", "product", _CATEGORY),
    KeptText("opportunities", "kind", _CATEGORY),
    KeptText("opportunities", "forecast_category", _CATEGORY),
    KeptText("stage_changes", "from_stage", _STAGE),
    KeptText("stage_changes", "to_stage", _STAGE),
    KeptText("stage_changes", "funnel", _STAGE),
    KeptText("stage_changes", "product", _CATEGORY),
    KeptText("stage_changes", "forecast_category", _CATEGORY),
    KeptText("stage_changes", "deal_kind", _CATEGORY),
    KeptText("field_changes", "field", "the name of the edited field"),
    KeptText("surveys", "survey", _CATEGORY),
    KeptText("surveys", "channel", _CATEGORY),
    KeptText("costs", "category", _CATEGORY),
    KeptText("costs", "channel", _CATEGORY),
    KeptText("service_cases", "category", _CATEGORY),
    KeptText("documents", "kind", "the kind of document"),
    KeptText("documents", "key", _ID),
    KeptText(
        "documents",
        "body",
        "documents of other kinds: funnels, rule sets, tier sets, streaming checkpoints "
        "(customer ids and numbers)",
    ),
)
"""The other text columns (free-length or key-length): kept by erasure, each with its reason."""


@attrs.frozen
class OwnedDocument:
    """Documents of ``kind`` that belong to the customer named by the body's ``customer_field``;
    exported under ``export_key`` and erased with the customer.

    >>> OWNED_DOCUMENTS[0].export_key
    'alerts'
    """

    kind: str
    customer_field: str
    export_key: str


OWNED_DOCUMENTS: tuple[OwnedDocument, ...] = (
    OwnedDocument("anomaly_alert", "customer_id", "alerts"),  # crmcore.anomaly.store.ALERT_KIND
)
"""Document kinds that belong to one customer (their personal paths are in PERSONAL_DATA)."""

_TABLES: dict[type, str] = {
    Customer: "customers",
    Interaction: "interactions",
    Transaction: "transactions",
    Opportunity: "opportunities",
    StageChange: "stage_changes",
    FieldChange: "field_changes",
    Activity: "activities",
    SurveyResponse: "surveys",
    CostEntry: "costs",
    ServiceCase: "service_cases",
}


def table_of(record: object) -> str:
    """The table that stores ``record`` (a model record); anything else → ValidationError.

    >>> from crmcore.model import CostEntry, Money
    >>> from datetime import datetime, timezone
    >>> table_of(CostEntry(id="k-1", customer_id="c-1", amount=Money("3", "EUR"),
    ...     incurred_at=datetime(2024, 1, 1, tzinfo=timezone.utc), category="visit"))
    'costs'
    >>> table_of("c-1")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'record' must be a stored model record (Customer, Interaction, Transaction, Opportunity, StageChange, FieldChange, Activity, SurveyResponse, CostEntry, ServiceCase): 'c-1'
    """
    table = _TABLES.get(type(record))
    if table is None:
        names = ", ".join(t.__name__ for t in _TABLES)
        raise ValidationError(f"'record' must be a stored model record ({names}): {record!r}")
    return table


def personal_fields(table: str, *, document: str | None = None) -> tuple[PersonalField, ...]:
    """The declared personal fields of ``table`` (of documents of kind ``document``).

    >>> [f.attribute for f in personal_fields("interactions")]
    ['subject', 'outcome']
    >>> [f.attribute for f in personal_fields("documents", document="anomaly_alert")]
    ['steps[].note', 'outcome']
    """
    return tuple(f for f in PERSONAL_DATA if f.table == table and f.document == document)


def _without_text(custom: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in custom.items() if not isinstance(v, str)}


def _empty(cls: type, name: str) -> Any:
    """The model's empty value of attribute ``name`` (its default)."""
    default: Any = attrs.fields_dict(cls)[name].default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]  # attrs' Factory is a class
        return default.factory()  # the models' factories take no self
    return default


def _edited_value(field: str, value: Any) -> Any:
    """An edit's old or new value, erased as the opportunity field it edits."""
    if field.startswith(CUSTOM_PREFIX):
        return None if isinstance(value, str) else value
    declared = any(f.attribute == field for f in personal_fields("opportunities"))
    return _empty(Opportunity, field) if declared else value


R = TypeVar("R")


def anonymised(record: R) -> R:
    """``record`` with every declared personal field erased (the same object when nothing
    changes); a customer is also marked ``erased=True``.

    >>> from datetime import datetime, timezone
    >>> from crmcore.model import Opportunity
    >>> o = Opportunity(id="o-1", customer_id="c-1", owner_id="ann", funnel="b2b", stage="lost",
    ...     created_at=datetime(2024, 1, 1, tzinfo=timezone.utc), lost_reason="moved to Lyon",
    ...     custom={"seats": 40, "contact": "Mrs Li"})
    >>> e = anonymised(o)
    >>> e.lost_reason, dict(e.custom)
    (None, {'seats': 40})
    """
    table = table_of(record)
    changes: dict[str, Any] = {}
    for f in personal_fields(table):
        value = getattr(record, f.attribute)
        new: Any
        if f.kind is PersonalKind.NAME:
            new = ERASED_NAME
        elif f.kind is PersonalKind.CUSTOM_FIELDS:
            new = _without_text(value)
            if new == dict(value):
                continue
        elif f.kind is PersonalKind.FIELD_VALUE:
            new = _edited_value(record.field, value)  # type: ignore[attr-defined]  # a FieldChange
        else:
            new = _empty(type(record), f.attribute)
        if new != value:
            changes[f.attribute] = new
    if isinstance(record, Customer) and not record.erased:
        changes["erased"] = True
    return attrs.evolve(record, **changes) if changes else record  # type: ignore[misc]  # R is an attrs class (table_of checked)


def _erase_path(node: Any, parts: list[str]) -> Any:
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        items = node.get(head[:-2]) if isinstance(node, dict) else None
        if not isinstance(items, list):
            return node
        return {**node, head[:-2]: [_erase_path(item, rest) for item in items]}
    if not isinstance(node, dict) or head not in node:
        return node
    if rest:
        return {**node, head: _erase_path(node[head], rest)}
    return {**node, head: None}


def anonymised_document(kind: str, body: Any) -> Any:
    """The body of a document of ``kind`` with the declared paths set to None (documents of
    other kinds are returned as they are).

    >>> doc = {"customer_id": "c-1", "outcome": "moved away",
    ...        "steps": [{"status": "open", "note": None}, {"status": "contacted", "note": "ill"}]}
    >>> anonymised_document("anomaly_alert", doc)["steps"][1]
    {'status': 'contacted', 'note': None}
    >>> anonymised_document("funnel", doc) is doc
    True
    """
    out = body
    for f in personal_fields("documents", document=kind):
        out = _erase_path(out, f.attribute.split("."))
    return out
