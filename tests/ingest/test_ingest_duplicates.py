"""Duplicate detection: normalisation rules, blocking, and properties against a brute-force check."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.ingest import (
    find_duplicate_customers,
    normalize_email,
    normalize_name,
    normalize_phone,
)
from crmcore.model import ContactPoint, Customer

local = st.text(alphabet="abcdefghijklmnop.", min_size=1, max_size=8).filter(
    lambda s: s.strip(".") != ""
)
domains = st.sampled_from(["example.com", "gmail.com", "mail.cn"])
names = st.lists(
    st.sampled_from(["li", "wei", "josé", "Ana", "Müller", "O'Neil"]), min_size=1, max_size=3
)


def _customer(cid: str, name: str, email: str | None = None, phone: str | None = None) -> Customer:
    cps = []
    if email:
        cps.append(ContactPoint("email", email))
    if phone:
        cps.append(ContactPoint("phone", phone))
    return Customer(id=cid, name=name, contact_points=cps)


@given(local, domains, st.data())
def test_an_email_differing_only_in_case_is_always_found(
    lp: str, domain: str, data: st.DataObject
) -> None:
    email = f"{lp}x@{domain}"
    flipped = "".join(c.upper() if data.draw(st.booleans()) else c for c in email)
    a = _customer("a", "First Person", email)
    b = _customer("b", "Other Human", flipped)
    pairs = find_duplicate_customers([b, a])
    assert [(p.first_id, p.second_id, p.keys) for p in pairs] == [("a", "b", ("email",))]
    assert normalize_email("  " + flipped + " ") == normalize_email(email)


@given(names, st.permutations(range(3)), st.data())
def test_names_match_whatever_the_order_case_and_accents(
    tokens: list[str], order: list[int], data: st.DataObject
) -> None:
    shuffled = [tokens[i] for i in order if i < len(tokens)]
    other = "  ".join(t.upper() if data.draw(st.booleans()) else t for t in shuffled)
    assert normalize_name(" ".join(tokens)) == normalize_name(other)
    assert normalize_name("José") == normalize_name("jose")


@given(st.integers(10**6, 10**10 - 1).map(str), st.sampled_from([" ", "-", ".", ""]))
def test_phone_formatting_does_not_matter(digits: str, sep: str) -> None:
    formatted = sep.join(digits[i : i + 3] for i in range(0, len(digits), 3))
    assert normalize_phone("+" + formatted) == normalize_phone("00" + digits) == digits
    assert normalize_phone("0" + formatted, default_country_code="86") == "86" + digits


people = st.lists(
    st.tuples(
        st.sampled_from(["Li Wei", "Wei Li", "Ana Müller", "ana muller", "Bob"]),
        st.one_of(
            st.none(), st.sampled_from(["a@x.com", "A@X.COM", "b@gmail.com", "b+1@gmail.com"])
        ),
        st.one_of(
            st.none(), st.sampled_from(["+86 10 1234 5678", "0086-10-12345678", "+1 555 0100"])
        ),
    ),
    max_size=12,
)


@settings(max_examples=40)
@given(people)
def test_blocking_finds_exactly_the_pairs_of_a_brute_force_comparison(
    rows: list[tuple[str, str | None, str | None]],
) -> None:
    customers = [_customer(f"c{i:02d}", n, e, p) for i, (n, e, p) in enumerate(rows)]
    found = {(p.first_id, p.second_id): p.keys for p in find_duplicate_customers(customers)}
    expected = {}
    for a, b in itertools.combinations(customers, 2):
        keys = []
        ea = normalize_email(a.primary_email) if a.primary_email else None
        eb = normalize_email(b.primary_email) if b.primary_email else None
        if ea and ea == eb:
            keys.append("email")
        pa, pb = a.contact("phone"), b.contact("phone")
        if pa and pb and normalize_phone(pa) == normalize_phone(pb):
            keys.append("phone")
        if normalize_name(a.name) == normalize_name(b.name):
            keys.append("name")
        if keys:
            expected[(a.id, b.id)] = tuple(keys)
    assert found == expected


def test_scores_order_and_large_blocks() -> None:
    many = [_customer(f"c{i:04d}", "John Smith") for i in range(30)]
    many.append(_customer("z1", "Ann Lee", "ann@x.com"))
    many.append(_customer("z2", "Lee Ann", "ANN@x.com"))
    pairs = find_duplicate_customers(many, max_block_size=10)
    assert [(p.first_id, p.second_id, p.keys, p.score) for p in pairs] == [
        ("z1", "z2", ("email", "name"), 0.95)
    ]
    assert len(find_duplicate_customers(many)) == 30 * 29 // 2 + 1
