"""The seeds' bank scenario end to end, and the alert lifecycle and store.

DOMAIN.md §5: a 77-year-old customer withdraws a large amount to buy her
daughter a flat; the rule fires against *her* history, the alert goes to
her owner, who calls her; the outcome is a retained deposit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crmcore.anomaly import (
    AlertStore,
    RobustZ,
    RuleSet,
    Scope,
    StreamingEngine,
    Threshold,
    contexts_from_customers,
    detect,
    load_ruleset,
    save_ruleset,
    summarize,
)
from crmcore.errors import TransitionError, ValidationError
from crmcore.model import Customer, Money, Transaction
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork

START = datetime(2023, 1, 5, 10, 0, tzinfo=UTC)


def bank_history():
    """20 monthly withdrawals (29,000..38,000 and 40,000..49,000 CNY), pension deposits, then 480,000."""
    amounts = [29_000 + 1000 * k for k in range(10)] + [40_000 + 1000 * k for k in range(10)]
    order = [3, 17, 8, 12, 0, 19, 5, 10, 14, 2, 7, 15, 1, 18, 9, 11, 4, 16, 6, 13]
    txs = []
    for m, k in enumerate(order):
        when = START + timedelta(days=30 * m)
        txs.append(
            Transaction(
                id=f"w-{m}",
                customer_id="c-77",
                occurred_at=when,
                amount=Money(Decimal(amounts[k]), "CNY"),
                kind="withdrawal",
            )
        )
        txs.append(
            Transaction(
                id=f"p-{m}",
                customer_id="c-77",
                occurred_at=when - timedelta(days=2),
                amount=Money(Decimal(4500), "CNY"),
                kind="deposit",
            )
        )
    big = START + timedelta(days=30 * 20)
    txs.append(
        Transaction(
            id="w-flat",
            customer_id="c-77",
            occurred_at=big,
            amount=Money(Decimal(480_000), "CNY"),
            kind="withdrawal",
            channel="branch",
        )
    )
    # another customer of the same branch, no owner, with her own (much larger) normal amounts
    txs.extend(
        Transaction(
            id=f"o-{m}",
            customer_id="c-12",
            occurred_at=START + timedelta(days=30 * m),
            amount=Money(Decimal(400_000 + 1000 * (m % 5)), "CNY"),
            kind="withdrawal",
        )
        for m in range(21)
    )
    return txs


RULES = RuleSet(
    name="branch-12",
    rules=[
        RobustZ(
            name="large-withdrawal",
            scope=Scope(kinds=("withdrawal",)),
            lookback=20,
            min_history=6,
            z=8.0,
        ),
        Threshold(name="very-large-deposit", at_least=1_000_000, scope=Scope(kinds=("deposit",))),
    ],
)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_large_withdrawal_is_routed_contacted_and_resolved(backend, tmp_path):
    uow = (
        MemoryUnitOfWork()
        if backend == "memory"
        else SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'bank.db'}")
    )
    customers = [
        Customer(
            id="c-77",
            name="Wang Fang",
            birthday=date(1948, 3, 2),
            owner_id="rep-li",
            segment="retail",
        ),
        Customer(id="c-12", name="Zhao Min", segment="retail"),
    ]
    with uow:
        uow.customers.add_many(customers)
        uow.transactions.add_many(bank_history())
        save_ruleset(uow, RULES)
        uow.commit()
    # the daily batch: rules and transactions come from the repositories
    with uow:
        rules = load_ruleset(uow, "branch-12")
        ctx = contexts_from_customers(uow.customers.list())
        log = uow.transactions.read_log()
        found = detect(log, rules, ctx)
        new = AlertStore(uow).add(found.alerts(transactions=uow.transactions))
        again = AlertStore(uow).add(
            detect(log, rules, ctx).alerts(transactions=uow.transactions)
        )  # a re-run stores nothing twice
        uow.commit()
    assert again == []
    [alert] = new
    assert alert.customer_id == "c-77" and alert.routed_to == "rep-li"
    assert alert.transaction_ids == ("w-flat",) and alert.rule_version == 1
    assert (alert.observed, alert.baseline, alert.history) == (480_000.0, 39_000.0, 20)
    # MAD: |dev| are 1,000..10,000 twice -> 10th and 11th smallest 5,000 and 6,000 -> 5,500
    assert alert.deviation == pytest.approx(441_000 / (1.4826 * 5_500))
    assert alert.explanation == (
        "Withdrawal of 480,000.00 is 12.3 times this customer's typical amount "
        "(median 39,000.00 over the last 20 transactions; robust z 54.1)"
    )
    # the owner's queue, the call, the outcome
    called = START + timedelta(days=601)
    with uow:
        store = AlertStore(uow)
        assert [a.id for a in store.list(routed_to="rep-li", status="open")] == [alert.id]
        store.contact(alert.id, at=called, by="rep-li", note="buying her daughter a flat")
        done = store.resolve(
            alert.id,
            "retained deposit",
            at=called + timedelta(days=3),
            by="rep-li",
            note="kept the deposit; new mortgage for the daughter; account transferred in",
        )
        uow.commit()
    assert [s.status.value for s in done.steps] == ["open", "contacted", "resolved"]
    with uow:
        store = AlertStore(uow)
        assert store.get(alert.id) == done
        summary = store.summary(start=START, end=START + timedelta(days=700))
    assert summary.total == 1 and summary.customers == 1
    assert summary.by_rule == {"large-withdrawal": 1}
    assert summary.by_owner == {"rep-li": 1}
    assert summary.by_status == {"resolved": 1}
    assert summary.by_outcome == {"retained deposit": 1}
    if backend == "sqlite":
        uow.close()


def test_streaming_raises_the_same_alert_as_the_batch():
    txs = sorted(bank_history(), key=lambda t: t.occurred_at)
    ctx = {
        "c-77": contexts_from_customers([Customer(id="c-77", name="W", owner_id="rep-li")])["c-77"]
    }
    from crmcore.tables import TransactionLog

    batch = detect(TransactionLog.from_transactions(txs), RULES, ctx).alerts()
    assert StreamingEngine(RULES, ctx).process_many(txs) == batch


def test_lifecycle_rules():
    from crmcore.tables import TransactionLog

    [a] = detect(TransactionLog.from_transactions(bank_history()), RULES).alerts()
    assert a.routed_to == "team:unassigned"  # no context given: the team queue
    t = a.occurred_at
    done = a.resolved("no action", at=t)
    with pytest.raises(TransitionError, match="cannot go from 'resolved' to 'contacted'"):
        done.contacted(at=t)
    with pytest.raises(ValidationError, match="'outcome' must be a non-empty text"):
        a.resolved(" ", at=t)
    with pytest.raises(ValidationError, match="'at' must be timezone-aware"):
        a.contacted(at=datetime(2025, 1, 1))


def test_summary_counts_by_rule_owner_status_and_outcome():
    from crmcore.tables import TransactionLog

    log = TransactionLog.from_transactions(bank_history())
    rules = RuleSet(
        name="x",
        rules=[Threshold(name="big", at_least=100_000), Threshold(name="mid", at_least=40_000)],
    )
    alerts = detect(log, rules).alerts()
    alerts[0] = (
        alerts[0].contacted(at=alerts[0].occurred_at).resolved("new loan", at=alerts[0].occurred_at)
    )
    s = summarize(alerts, start=START, end=START + timedelta(days=30 * 20))
    inside = [a for a in alerts if a.occurred_at < START + timedelta(days=30 * 20)]
    assert s.total == len(inside)
    assert (
        sum(s.by_rule.values()) == sum(s.by_owner.values()) == sum(s.by_status.values()) == s.total
    )
    assert s.by_outcome == {"new loan": 1}
    assert list(s.by_rule) == sorted(s.by_rule, key=lambda k: -s.by_rule[k])
    assert s.lines()[0] == f"{s.total} alerts for {s.customers} customers"
