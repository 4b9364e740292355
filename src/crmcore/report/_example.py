"""A small SYNTHETIC customer base with every kind of record the report reads (seeded).

For examples, tests and trying the report: customers and their purchases
(optional: keep a database's own), survey answers whose satisfaction goes with
buying again, acquisition and serving costs, a B2B funnel with deals moved
through it, and nothing else. Every value is drawn from a seeded generator;
none of it describes real customers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from crmcore.model import CostEntry, Customer, SurveyResponse
from crmcore.model.money import Money
from crmcore.options import as_count, as_seed, expect_instance
from crmcore.pipeline.presets import B2B
from crmcore.pipeline.service import advance, create_opportunity, save_funnel
from crmcore.repositories.protocols import UnitOfWork, expect_unit_of_work
from crmcore.tables import TransactionLog

__all__ = ["add_example_data"]

MAX_CUSTOMERS = 100_000
"""The most customers :func:`add_example_data` makes (an example, not a load test)."""
MAX_DEALS = 10_000
"""The most deals :func:`add_example_data` makes."""
_CHANNELS = ("search", "email", "social", "affiliate")
_CAC = (38.0, 9.0, 26.0, 17.0)
_START = datetime(2024, 1, 1, tzinfo=UTC)
_DAYS = 730
_LOST = ("price", "competitor", "no budget", "timing")


def _money(x: float, currency: str) -> Money:
    return Money(Decimal(f"{x:.2f}"), currency)


def _purchases(rng: np.random.Generator, n: int, currency: str) -> TransactionLog:
    ids, times, amounts = [], [], []
    for c in range(n):
        first = int(rng.integers(0, _DAYS - 30))
        rate = rng.gamma(1.5, 1 / 40)  # purchases a day while active
        life = rng.exponential(300)
        spend = rng.gamma(4, 12)
        t = float(first)
        while t < min(first + life, _DAYS):
            ids.append(f"c{c:04d}")
            times.append(t)
            amounts.append(round(float(rng.gamma(6, spend / 6)), 2))
            t += rng.exponential(1 / rate)
    at = np.datetime64("2024-01-01T00:00:00", "us") + (np.asarray(times) * 86_400e6).astype(
        "timedelta64[us]"
    )
    return TransactionLog.from_arrays(
        customer_ids=ids,
        timestamps=at,
        amounts=amounts,
        currency=currency,
        ids=[f"x{i:06d}" for i in range(len(ids))],
    )


def add_example_data(
    uow: UnitOfWork,
    *,
    customers: int = 300,
    deals: int = 60,
    seed: int = 2026,
    purchases: bool = True,
) -> dict[str, int]:
    """Store a seeded SYNTHETIC base in ``uow`` and commit; returns what was added by kind.

    With ``purchases=True`` it first stores ``customers`` customers with two years of
    purchases (2024-2025, USD); with ``purchases=False`` it adds the other records to the
    customers and purchases already stored (the CDNOW demo database, for example).
    ``customers`` is at most :data:`MAX_CUSTOMERS`, ``deals`` at most :data:`MAX_DEALS`.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> added = add_example_data(MemoryUnitOfWork(), customers=40, deals=5)
    >>> sorted(added)
    ['costs', 'customers', 'deals', 'surveys', 'transactions']
    """
    uow = expect_unit_of_work(uow)
    n = as_count(customers, name="customers", low=1, high=MAX_CUSTOMERS)
    n_deals = as_count(deals, name="deals", high=MAX_DEALS)
    expect_instance(purchases, bool, name="purchases")
    rng = np.random.default_rng(as_seed(seed))
    added = dict.fromkeys(("customers", "transactions", "surveys", "costs", "deals"), 0)
    with uow:
        if purchases:
            log = _purchases(rng, n, "USD")
            names = [str(c) for c in log.customer_ids.tolist()]
            added["customers"] = uow.customers.add_many(
                Customer(id=c, name=f"Example customer {c}") for c in names
            )
            added["transactions"] = uow.transactions.add_log(log)
        else:
            log = uow.transactions.read_log()
        uow.commit()
    with uow:
        _others(uow, log, rng, n_deals, added)
        uow.commit()
    return added


def _others(
    uow: UnitOfWork,
    log: TransactionLog,
    rng: np.random.Generator,
    n_deals: int,
    added: dict[str, int],
) -> None:
    cur = log.currency or "USD"
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    micros = log.time.astype("datetime64[us]").astype(np.int64)
    end = epoch + timedelta(microseconds=int(micros.max()))
    ids = [str(c) for c in log.customer_ids.tolist()]
    first = np.full(len(ids), np.iinfo(np.int64).max)
    np.minimum.at(first, log.customer, micros)
    last = np.full(len(ids), np.iinfo(np.int64).min)
    np.maximum.at(last, log.customer, micros)
    revenue = np.bincount(log.customer, weights=log.signed_amount(), minlength=len(ids))
    surveys, costs = [], []
    for i, cid in enumerate(ids):
        t0 = epoch + timedelta(microseconds=int(first[i]))
        ch = int(rng.integers(0, len(_CHANNELS)))
        costs.append(
            CostEntry(
                id=f"acq-{i}",
                customer_id=cid,
                incurred_at=t0,
                category="acquisition",
                channel=_CHANNELS[ch],
                amount=_money(_CAC[ch] * rng.uniform(0.7, 1.3), cur),
            )
        )
        if revenue[i] > 0:
            costs.append(
                CostEntry(
                    id=f"cogs-{i}",
                    customer_id=cid,
                    incurred_at=t0,
                    category="cost_of_goods",
                    amount=_money(0.6 * revenue[i], cur),
                )
            )
        costs.extend(
            CostEntry(
                id=f"call-{i}-{k}",
                customer_id=cid,
                incurred_at=t0,
                category="call_center",
                amount=_money(8.0, cur),
            )
            for k in range(int(rng.poisson(1.2)))
        )
        if rng.random() < 0.5:  # half the customers answer one survey, after a purchase
            span = max(int(last[i] - first[i]), 1)
            at_us = (
                int(first[i]) + int(rng.integers(0, span)) if last[i] > first[i] else int(first[i])
            )
            at = epoch + timedelta(microseconds=at_us) + timedelta(days=1)
            if at > end:
                continue
            again = bool(last[i] > at_us + 86_400_000_000)
            p = [0.04, 0.06, 0.15, 0.40, 0.35] if again else [0.18, 0.22, 0.30, 0.20, 0.10]
            score = int(rng.choice(np.arange(1, 6), p=p))
            surveys.append(
                SurveyResponse(
                    id=f"s-{i}",
                    customer_id=cid,
                    responded_at=at,
                    csat=score,
                    nps=int(min(10, max(0, round(2 * score + rng.normal(0, 1.2))))),
                )
            )
    added["surveys"] = uow.surveys.add_many(surveys)
    added["costs"] = uow.costs.add_many(costs)
    if n_deals:
        save_funnel(uow, B2B)
        stages = ("qualified", "proposal", "negotiation")
        for d in range(n_deals):
            at = end - timedelta(days=float(rng.uniform(5, 330)))
            rep = f"rep-{1 + d % 4}"
            opp = create_opportunity(
                uow,
                B2B,
                id=f"deal-{d}",
                customer_id=ids[int(rng.integers(0, len(ids)))],
                owner_id=rep,
                at=at,
                amount=_money(float(rng.gamma(3, 4000)), cur),
                expected_close=(at + timedelta(days=90)).date(),
            )
            version = opp.version
            for stage in (*stages[: int(rng.integers(0, 4))], "close"):
                at += timedelta(days=float(rng.exponential(15)))
                if at >= end:
                    break
                if stage == "close":
                    if opp.stage != "negotiation" and rng.random() < 0.5:
                        break  # still open
                    won = opp.stage == "negotiation" and rng.random() < 0.6
                    to, reason = ("won", None) if won else ("lost", str(rng.choice(_LOST)))
                else:
                    to, reason = stage, None
                moved = advance(
                    uow,
                    opp.id,
                    to,
                    expected_version=version,
                    funnel=B2B,
                    by=rep,
                    at=at,
                    reason=reason,
                    open_follow_up=False,
                )
                opp, version = moved.opportunity, moved.opportunity.version
        added["deals"] = n_deals
