"""Candidate duplicate customers, found by blocking on normalised email, phone and name.

Each customer yields up to three keys; customers sharing a key fall in the
same block and every pair inside a block is a candidate (so the work is the
sum of the squared block sizes, not n²). A pair's score combines the keys
that match: ``1 - Π (1 - w_k)`` with weights email 0.9, phone 0.8, name 0.5.

>>> from crmcore.model import Customer, ContactPoint
>>> a = Customer(id="c-1", name="José Álvarez", contact_points=[ContactPoint("email", "J.Alvarez+news@gmail.com")])
>>> b = Customer(id="c-2", name="alvarez  jose", contact_points=[ContactPoint("email", "jalvarez@googlemail.com")])
>>> find_duplicate_customers([a, b])
[DuplicatePair(first_id='c-1', second_id='c-2', keys=('email', 'name'), score=0.95)]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import attrs

from crmcore._results import number
from crmcore.errors import ValidationError
from crmcore.model import ContactKind, Customer
from crmcore.model._fields import as_tuple, name_items, record_id
from crmcore.options import as_choice, as_count, as_number, expect_items

__all__ = [
    "KEY_WEIGHTS",
    "DuplicatePair",
    "find_duplicate_customers",
    "normalize_email",
    "normalize_name",
    "normalize_phone",
]

KEY_WEIGHTS: dict[str, float] = {"email": 0.9, "phone": 0.8, "name": 0.5}
"""How much a matching key says that two customers are one."""

_GMAIL = {"gmail.com", "googlemail.com"}
_NON_WORD = re.compile(r"[^\w]+")


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{name!r} must be a string: {value!r}")
    return value


def normalize_email(email: str, *, gmail_rules: bool = True) -> str | None:
    """Lowercase, stripped; for gmail.com/googlemail.com drop dots and ``+tag`` in the local part.

    >>> normalize_email("  John.Doe+crm@GoogleMail.com ")
    'johndoe@gmail.com'
    >>> normalize_email("John.Doe+crm@example.com")
    'john.doe+crm@example.com'
    >>> normalize_email("no-at-sign") is None
    True
    """
    e = _text(email, "email").strip().lower()
    local, at, domain = e.rpartition("@")
    if not at or not local or not domain:
        return None
    if gmail_rules and domain in _GMAIL:
        local = local.split("+", 1)[0].replace(".", "")
        domain = "gmail.com"
        if not local:
            return None
    return f"{local}@{domain}"


def normalize_phone(phone: str, *, default_country_code: str | None = None) -> str | None:
    """Digits only, in international form when it can be told; None for fewer than 6 digits.

    ``+`` or ``00`` starts an international number; otherwise, with a
    ``default_country_code``, a leading trunk ``0`` is dropped and the code
    prefixed.

    >>> normalize_phone("+86 (10) 1234-5678"), normalize_phone("0086 10 1234 5678")
    ('861012345678', '861012345678')
    >>> normalize_phone("010 1234 5678", default_country_code="86")
    '861012345678'
    """
    if default_country_code is not None and (
        not isinstance(default_country_code, str) or not default_country_code.isdigit()
    ):
        raise ValidationError(
            f"'default_country_code' must be digits (like '86'): {default_country_code!r}"
        )
    s = _text(phone, "phone").strip()
    digits = "".join(ch for ch in s if "0" <= ch <= "9")
    if s.startswith("+"):
        pass
    elif digits.startswith("00"):
        digits = digits[2:]
    elif default_country_code:
        digits = default_country_code + digits.removeprefix("0")
    return digits if len(digits) >= 6 else None


def normalize_name(name: str) -> str | None:
    """Casefolded, accents stripped, punctuation to blanks, whitespace collapsed, tokens sorted.

    >>> normalize_name("  Ålvarez,   JOSÉ ")
    'alvarez jose'
    """
    decomposed = unicodedata.normalize("NFKD", _text(name, "name").casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    tokens = sorted(t for t in _NON_WORD.sub(" ", plain).replace("_", " ").split() if t)
    return " ".join(tokens) or None


@attrs.frozen
class DuplicatePair:
    """Two customers that may be one: the keys they share and a score in (0, 1].

    ``first_id < second_id``.

    >>> DuplicatePair("a", "b", ("email",), 0.9).score
    0.9
    """

    first_id: str = attrs.field(validator=record_id)
    second_id: str = attrs.field(validator=record_id)
    keys: tuple[str, ...] = attrs.field(converter=as_tuple, validator=name_items)
    score: float = attrs.field(validator=number(gt=0, hi=1))


def _keys(
    c: Customer, *, gmail_rules: bool, default_country_code: str | None
) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"email": set(), "phone": set(), "name": set()}
    for cp in c.contact_points:
        if cp.kind is ContactKind.EMAIL:
            e = normalize_email(cp.value, gmail_rules=gmail_rules)
            if e:
                out["email"].add(e)
        elif cp.kind in (ContactKind.PHONE, ContactKind.MOBILE):
            p = normalize_phone(cp.value, default_country_code=default_country_code)
            if p:
                out["phone"].add(p)
    n = normalize_name(c.name)
    if n:
        out["name"].add(n)
    return out


def find_duplicate_customers(
    customers: Iterable[Customer],
    *,
    gmail_rules: bool = True,
    default_country_code: str | None = None,
    keys: Iterable[str] = ("email", "phone", "name"),
    min_score: float = 0.0,
    max_block_size: int = 1000,
) -> list[DuplicatePair]:
    """Candidate pairs of customers sharing a normalised email, phone or name.

    Blocks larger than ``max_block_size`` (a very common name) are not
    expanded into pairs; the pairs they would add still appear when another
    key matches. Results are sorted by score (highest first), then ids.
    Erased customers are ignored.

    >>> from crmcore.model import Customer, ContactPoint
    >>> cs = [Customer(id="a", name="Li Wei", contact_points=[ContactPoint("phone", "+86 10 1234 5678")]),
    ...       Customer(id="b", name="Wei LI", contact_points=[ContactPoint("mobile", "010-1234-5678")]),
    ...       Customer(id="c", name="Zhang San")]
    >>> find_duplicate_customers(cs, default_country_code="86")
    [DuplicatePair(first_id='a', second_id='b', keys=('phone', 'name'), score=0.9)]
    """
    allowed = sorted(KEY_WEIGHTS)
    wanted = tuple(
        as_choice(k, name="keys", allowed=allowed) for k in expect_items(keys, str, name="keys")
    )
    max_block_size = as_count(max_block_size, name="max_block_size", low=2)
    min_score = as_number(min_score, name="min_score")
    if default_country_code is not None:
        normalize_phone("000000", default_country_code=default_country_code)  # checks the code
    blocks: dict[tuple[str, str], list[str]] = {}
    seen_ids: set[str] = set()
    for c in expect_items(customers, Customer, name="customers"):
        if c.erased or c.id in seen_ids:
            continue
        seen_ids.add(c.id)
        for k, values in _keys(
            c, gmail_rules=gmail_rules, default_country_code=default_country_code
        ).items():
            if k in wanted:
                for v in values:
                    blocks.setdefault((k, v), []).append(c.id)
    matched: dict[tuple[str, str], set[str]] = {}
    for (k, _), members in blocks.items():
        if len(members) < 2 or len(members) > max_block_size:
            continue
        ordered = sorted(set(members))
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                matched.setdefault((a, b), set()).add(k)
    order = list(KEY_WEIGHTS)
    pairs = []
    for (a, b), ks in matched.items():
        miss = 1.0
        for k in ks:
            miss *= 1.0 - KEY_WEIGHTS[k]
        score = round(1.0 - miss, 6)
        if score >= min_score:
            pairs.append(DuplicatePair(a, b, tuple(k for k in order if k in ks), score))
    pairs.sort(key=lambda p: (-p.score, p.first_id, p.second_id))
    return pairs
