"""The relationship section of the demo: deterministic, one customer's view, a day's
reminders for each rep (idempotent), a CRM health table; and its synthetic CRM checked
against the CDNOW purchases it is built around."""

from __future__ import annotations

import numpy as np
import pytest

from crmcore.cli import SECTIONS
from crmcore.datasets import load_cdnow_sample
from crmcore.errors import CRMError
from crmcore.relationship import plan_reminders
from crmcore.relationship.demo import DAY, DEMO_REMINDERS, TEAMS, demo, synthetic_crm


@pytest.fixture(scope="module")
def lines() -> list[str]:
    out: list[str] = []
    demo(out.append, transactions=load_cdnow_sample())
    return out


def test_the_section_is_registered() -> None:
    assert SECTIONS["relationship"][0] == "crmcore.relationship.demo"


def test_the_three_parts_in_order(lines: list[str]) -> None:
    heads = [line.split(":")[0] for line in lines if line.startswith("-- ")]
    assert heads == [
        "-- A synthetic CRM around the CDNOW purchases (seeded)",
        "-- One customer's view",
        "-- Reminders for 1998-07-01 (rule set 'cdnow-care')",
        "-- CRM health, first half of 1998",
    ]
    assert all(len(line) <= 160 for line in lines)


def test_the_view_shows_a_timeline_and_the_value_state(lines: list[str]) -> None:
    start = next(i for i, line in enumerate(lines) if line.startswith("-- One customer's view"))
    block = "\n".join(lines[start : start + 14])
    for needle in ("P(alive)", "preferred channel email", "service_case", "interaction"):
        assert needle in block


def test_reminders_for_each_rep_and_a_second_run_plans_nothing(lines: list[str]) -> None:
    head = next(line for line in lines if line.startswith("-- Reminders"))
    assert "a second run plans 0" in head
    reps = {line.split()[0] for line in lines if line.endswith(")") and " to do (" in line}
    assert set(TEAMS) | {"desk", "agent-1", "agent-2"} >= reps >= set(TEAMS)


def test_the_health_table_has_every_rep_team_and_the_total(lines: list[str]) -> None:
    rows = {
        tuple(line.split()[:2])
        for line in lines
        if line.split()[:1] in (["rep"], ["team"], ["all"])
    }
    assert {("rep", r) for r in TEAMS} <= rows
    assert {("team", "north"), ("team", "south"), ("all", "(all)")} <= rows


def test_the_demo_is_deterministic(lines: list[str]) -> None:
    again: list[str] = []
    demo(again.append, transactions=load_cdnow_sample())
    assert again == lines


def test_the_synthetic_crm_keeps_the_purchases_and_its_reminders_are_consistent() -> None:
    log = load_cdnow_sample()
    uow = synthetic_crm(log)
    with uow:
        stored = uow.transactions.read_log()
        customers = {c.id: c for c in uow.customers.list()}
        plan = plan_reminders(uow, DEMO_REMINDERS, as_of=DAY, write=False)
    # the purchases are CDNOW's, unchanged (an independent check on the totals per customer)
    ref = np.bincount(log.customer, weights=log.amount)
    got = dict(
        zip(stored.customer_ids, np.bincount(stored.customer, weights=stored.amount), strict=True)
    )
    assert np.allclose([got[str(c)] for c in log.customer_ids], ref)
    dups = [c for c in customers if c.endswith("-dup")]
    assert len(customers) == len(log.customer_ids) + len(dups) and 0 < len(dups) <= 12
    for d in dups:  # a person entered twice: same name and e-mail as the original
        twin = customers[d.removesuffix("-dup")]
        assert customers[d].name == twin.name
        assert customers[d].contact_points[0] == twin.contact_points[0]
    for a in plan.activities:  # planned only with consent, for an owner, an agent or the queue
        assert customers[a.customer_id].consent.contact
        assert a.rep_id in {*TEAMS, "desk", "agent-1", "agent-2"}


def test_bad_arguments_are_named() -> None:
    with pytest.raises(CRMError, match="transactions"):
        demo(print, transactions=None)  # type: ignore[arg-type]
    with pytest.raises(CRMError, match="write"):
        demo(None, transactions=load_cdnow_sample())  # type: ignore[arg-type]
