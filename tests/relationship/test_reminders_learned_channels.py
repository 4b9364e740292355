"""plan_reminders without ``preferred_channels``: each planned customer's preferred channel is
learned from their interactions before ``as_of`` (ChannelPreference), on memory and SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from crmcore.model import Consent, ContactPoint, Customer, Interaction
from crmcore.relationship import Birthday, ChannelPreference, ReminderRules, plan_reminders
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork

RULES = ReminderRules(
    name="bakery", rules=[Birthday(name="birthday", days_ahead=0, channels=["phone", "email"])]
)
POINTS = [ContactPoint("email", "x@example.com"), ContactPoint("mobile", "+1 555 0100")]


@pytest.fixture(params=["memory", "sqlite"])
def make_uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    if request.param == "memory":
        store = MemoryUnitOfWork()
        yield lambda: store
    else:
        first = SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'learn.db'}")
        yield lambda: first


def touch(k: int, cid: str, channel: str, when: datetime, outcome: str | None) -> Interaction:
    return Interaction(id=f"i-{k}", customer_id=cid, channel=channel, direction="outbound",
                       occurred_at=when, outcome=outcome)  # fmt: skip


def test_the_channel_is_learned_from_the_interactions_before_as_of(
    make_uow: Callable[[], Any],
) -> None:
    uow = make_uow()
    early = datetime(2026, 1, 5, tzinfo=UTC)
    late = datetime(2026, 3, 20, tzinfo=UTC)  # after as_of: not seen
    rows = [
        # c-1 answers e-mails, not calls
        touch(1, "c-1", "phone", early, "no answer"),
        touch(2, "c-1", "email", early, "replied"),
        touch(3, "c-1", "email", early, "replied"),
        # c-2 answers calls; the e-mails they answered come after as_of
        touch(4, "c-2", "phone", early, "talked"),
        touch(5, "c-2", "email", late, "replied"),
        touch(6, "c-2", "email", late, "replied"),
        # c-3 engages by SMS: not one of the rule's channels
        touch(7, "c-3", "sms", early, "replied"),
    ]
    with uow:
        uow.customers.add_many(
            [
                Customer(
                    id=c,
                    name=c,
                    birthday=date(1980, 3, 14),
                    owner_id="ann",
                    consent=Consent(contact=True),
                    contact_points=POINTS,
                )
                for c in ("c-1", "c-2", "c-3", "c-4")
            ]
        )
        uow.interactions.add_many(rows)
        uow.commit()
    with uow:
        learned = plan_reminders(uow, RULES, as_of="2026-03-14", write=False)
        plain = plan_reminders(uow, RULES, as_of="2026-03-14", preferred_channels={}, write=False)
        given = plan_reminders(
            uow, RULES, as_of="2026-03-14", preferred_channels={"c-1": "phone"}, write=False
        )
        # the reference: ChannelPreference of each customer's interactions before as_of
        before = datetime(2026, 3, 14, tzinfo=UTC)
        ref = {
            c: ChannelPreference.from_interactions(
                [r for r in rows if r.customer_id == c and r.occurred_at < before]
            ).preferred
            for c in ("c-1", "c-2", "c-3", "c-4")
        }
    assert ref == {"c-1": "email", "c-2": "phone", "c-3": "sms", "c-4": None}
    got = dict(zip(learned.customer_ids, learned.channels, strict=True))
    why = dict(zip(learned.customer_ids, learned.reasons, strict=True))
    assert got == {"c-1": "email", "c-2": "phone", "c-3": "phone", "c-4": "phone"}
    assert "preferred channel (learned" in why["c-1"] and "(learned" in why["c-2"]
    assert "the preferred channel sms is not one of the rule's" in why["c-3"]
    assert "no preferred channel known" in why["c-4"]
    # {}: the rule's channel order alone; a given map wins over learning
    assert set(plain.channels) == {"phone"}
    assert "no preferred channel known" in plain.reasons[0]
    assert dict(zip(given.customer_ids, given.channels, strict=True))["c-1"] == "phone"
    assert dict(zip(given.customer_ids, given.channels, strict=True))["c-2"] == "phone"
