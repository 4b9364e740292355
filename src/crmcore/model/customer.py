"""Customers: a person or an organisation, with its static profile.

Dynamic data (interactions, transactions, surveys, costs) lives in its own
records that point to the customer by id; together they are the 360° view.

>>> from datetime import datetime, timezone
>>> c = Customer(
...     id="c-1", kind="person", name="Li Wei",
...     contact_points=[ContactPoint(kind="email", value="li.wei@example.com")],
...     acquired_at=datetime(2024, 3, 1, tzinfo=timezone.utc), acquisition_channel="referral",
... )
>>> c.primary_email
'li.wei@example.com'
>>> c.with_changes(name="Wei Li").version
0
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import attrs

from crmcore.errors import ValidationError
from crmcore.model._fields import (
    as_tuple,
    instance,
    non_empty_str,
    opt_date,
    opt_key,
    opt_record_id,
    opt_str,
    opt_utc,
    record_id,
    str_tuple,
    text_items,
    to_enum,
    tuple_of,
    version,
)

__all__ = [
    "Address",
    "Consent",
    "ContactKind",
    "ContactPoint",
    "Customer",
    "CustomerKind",
    "Relationship",
]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{4,32}$")


class CustomerKind(StrEnum):
    """Whether a customer is a person or an organisation."""

    PERSON = "person"
    ORGANIZATION = "organization"


class ContactKind(StrEnum):
    """The kind of a contact point."""

    EMAIL = "email"
    PHONE = "phone"
    MOBILE = "mobile"
    FAX = "fax"
    WEB = "web"
    SOCIAL = "social"
    POSTAL = "postal"


def _contact_value(inst: ContactPoint, attribute: attrs.Attribute[Any], value: object) -> None:
    non_empty_str(inst, attribute, value)
    assert isinstance(value, str)
    if inst.kind is ContactKind.EMAIL and not _EMAIL.match(value):
        raise ValidationError(f"'value' must be an email address: {value!r}")
    if inst.kind in (ContactKind.PHONE, ContactKind.MOBILE, ContactKind.FAX) and not _PHONE.match(
        value
    ):
        raise ValidationError(f"'value' must be a phone number: {value!r}")


def _to_contact_kind(value: object) -> ContactKind:
    return to_enum(ContactKind, value, field="kind")


def _to_customer_kind(value: object) -> CustomerKind:
    return to_enum(CustomerKind, value, field="kind")


@attrs.frozen
class ContactPoint:
    """One way to reach a customer.

    >>> ContactPoint(kind="phone", value="+86 10 1234 5678").kind
    <ContactKind.PHONE: 'phone'>
    >>> ContactPoint(kind="email", value="not-an-email")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'value' must be an email address: 'not-an-email'
    """

    kind: ContactKind = attrs.field(converter=_to_contact_kind)
    value: str = attrs.field(validator=_contact_value)
    label: str | None = attrs.field(default=None, validator=opt_str)


@attrs.frozen
class Address:
    """A postal address (all parts optional except the country code).

    >>> Address(country="CN", city="Beijing").country
    'CN'
    """

    country: str = attrs.field()
    city: str | None = attrs.field(default=None, validator=opt_str)
    postal_code: str | None = attrs.field(default=None, validator=opt_str)
    lines: tuple[str, ...] = attrs.field(default=(), converter=as_tuple, validator=text_items)

    @country.validator
    def _check_country(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{2}", value):
            raise ValidationError(f"'country' must be an ISO 3166 alpha-2 code: {value!r}")


@attrs.frozen
class Consent:
    """What the customer agreed to: being contacted, and their data being used for analysis.

    >>> Consent().contact, Consent(contact=True).contact
    (False, True)
    """

    contact: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    data_use: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))


@attrs.frozen
class Relationship:
    """A link from a customer to another: household member, employee of, parent company, referrer.

    >>> Relationship(kind="referred_by", customer_id="c-7").customer_id
    'c-7'
    """

    kind: str = attrs.field(validator=non_empty_str)
    customer_id: str = attrs.field(validator=record_id)


def _birthday(inst: Customer, attribute: attrs.Attribute[Any], value: object) -> None:
    opt_date(inst, attribute, value)
    if value is not None and inst.kind is CustomerKind.ORGANIZATION:
        raise ValidationError(f"'birthday' is for persons, not organisations: {value!r}")


@attrs.frozen
class Customer:
    """A customer's static profile. ``version`` counts stored updates (optimistic concurrency).

    ``external_key`` is the id in the source system; imports are idempotent on it.
    ``erased`` marks a profile whose personal data was removed on request.

    >>> Customer(id="c-2", kind="organization", name="ACME", birthday=date(1990, 1, 1))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'birthday' is for persons, not organisations: datetime.date(1990, 1, 1)
    """

    id: str = attrs.field(validator=record_id)
    name: str = attrs.field(validator=non_empty_str)
    kind: CustomerKind = attrs.field(default=CustomerKind.PERSON, converter=_to_customer_kind)
    contact_points: tuple[ContactPoint, ...] = attrs.field(default=(), converter=as_tuple)
    birthday: date | None = attrs.field(default=None, validator=_birthday)
    address: Address | None = attrs.field(
        default=None, validator=instance(Address, "an Address", optional=True)
    )
    tags: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    acquisition_channel: str | None = attrs.field(default=None, validator=opt_str)
    acquired_at: datetime | None = attrs.field(default=None, validator=opt_utc)
    owner_id: str | None = attrs.field(default=None, validator=opt_record_id)
    segment: str | None = attrs.field(default=None, validator=opt_key)
    consent: Consent = attrs.field(factory=Consent, validator=instance(Consent, "a Consent"))
    relationships: tuple[Relationship, ...] = attrs.field(default=(), converter=as_tuple)
    external_key: str | None = attrs.field(default=None, validator=opt_key)
    erased: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    version: int = attrs.field(default=0, validator=version)

    @contact_points.validator
    def _check_contacts(self, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
        tuple_of(ContactPoint, "a ContactPoint")(self, attribute, value)

    @relationships.validator
    def _check_relationships(
        self, attribute: attrs.Attribute[Any], value: tuple[Relationship, ...]
    ) -> None:
        tuple_of(Relationship, "a Relationship")(self, attribute, value)
        for i, r in enumerate(value):
            if r.customer_id == self.id:
                raise ValidationError(f"'relationships[{i}]' points to the customer itself: {r!r}")

    def contact(self, kind: ContactKind | str) -> str | None:
        """The first contact value of ``kind``, or None.

        >>> Customer(id="c", name="A", contact_points=[ContactPoint("phone", "+1 555 0100")]).contact("phone")
        '+1 555 0100'
        """
        k = ContactKind(kind)
        return next((cp.value for cp in self.contact_points if cp.kind is k), None)

    @property
    def primary_email(self) -> str | None:
        """The first email address, or None."""
        return self.contact(ContactKind.EMAIL)

    def with_changes(self, **changes: Any) -> Customer:
        """A copy with ``changes`` applied and validated (the version is the repository's to bump).

        >>> Customer(id="c", name="A").with_changes(segment="gold").segment
        'gold'
        """
        return attrs.evolve(self, **changes)
