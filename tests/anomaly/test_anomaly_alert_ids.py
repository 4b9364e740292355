"""Issue 15: alerts named by transaction id, with ids stable across input order and new data.

The batch engine orders a log by (customer, time, transaction id) whatever order its rows
came in, so the same transactions give the same alerts, the same baselines and the same
alert ids; alerts of earlier transactions do not change when later data arrive (the
properties are in test_anomaly_engines_agree.py, beside their strategies). The backends'
round trips are in tests/repositories/test_repositories_alert_ids.py.
"""

from __future__ import annotations

import attrs
import numpy as np

from crmcore.anomaly import RobustZ, RuleSet, Scope, Threshold, detect
from crmcore.tables import TransactionLog


def _same_instant_log(order: list[int]) -> TransactionLog:
    """Six withdrawals of about 40 on separate days, then 90,000 (id w-1) and 50 (id w-2)
    at one instant: rows in the given order."""
    days = [f"2025-01-0{d}T10:00" for d in range(1, 7)]
    rows = [
        *[(f"h-{d}", t, 40.0 + d) for d, t in enumerate(days)],
        ("w-1", "2025-01-09T10:00", 90_000.0),
        ("w-2", "2025-01-09T10:00", 50.0),
    ]
    rows = [rows[i] for i in order]
    return TransactionLog.from_arrays(
        customer_ids=["c-1"] * len(rows),
        timestamps=np.array([r[1] for r in rows], dtype="datetime64[us]"),
        amounts=[r[2] for r in rows],
        kinds=["withdrawal"] * len(rows),
        ids=[r[0] for r in rows],
    )


RULES = RuleSet(
    name="bank",
    rules=[
        RobustZ(
            name="large", lookback=10, min_history=5, z=6.0, scope=Scope(kinds=("withdrawal",))
        ),
        Threshold(name="over-10k", at_least=10_000),
    ],
)


def test_an_alert_at_a_shared_instant_names_its_own_transaction():
    """The issue's minimal case: the 90,000 alert must name w-1, never the 50 of w-2, in
    whatever order the two rows come (by amount, as SQLite's index returned them, or not)."""
    seen = set()
    for order in ([0, 1, 2, 3, 4, 5, 6, 7], [7, 6, 5, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5, 7, 6]):
        alerts = detect(_same_instant_log(order), RULES).alerts()
        assert [(a.rule, a.transaction_ids, a.observed) for a in alerts] == [
            ("large", ("w-1",), 90_000.0),
            ("over-10k", ("w-1",), 90_000.0),
        ]
        seen.add(tuple(a.id for a in alerts))
    assert len(seen) == 1


class _CountingRepository:
    """A transaction repository that records every call (the id lookup must be one query)."""

    def __init__(self, log: TransactionLog) -> None:
        self.log = log
        self.calls: list[str] = []

    def read_log(self, **kw):
        self.calls.append("read_log")
        log = self.log.select(
            customer_ids=kw.get("customer_ids"), start=kw.get("start"), end=kw.get("end")
        )
        return log.sorted()

    def list(self, **kw):  # the old path asked this once per alert
        self.calls.append("list")
        raise AssertionError("no per-alert lookups")


def test_a_log_without_ids_gets_them_from_one_repository_query():
    stored = _same_instant_log([0, 1, 2, 3, 4, 5, 6, 7])
    repo = _CountingRepository(stored)
    named = detect(attrs.evolve(stored, ids=None), RULES).alerts(transactions=repo)
    assert repo.calls == ["read_log"]
    assert named == detect(stored, RULES).alerts()
    # rows are matched on customer, time, amount and kind, not on their position
    repo.calls.clear()
    bare = attrs.evolve(_same_instant_log([7, 6, 5, 4, 3, 2, 1, 0]), ids=None)
    named = detect(bare, RULES).alerts(transactions=repo)
    assert repo.calls == ["read_log"]
    assert [(a.transaction_ids, a.observed) for a in named] == [(("w-1",), 90_000.0)] * 2
    # without a repository such rows can only be named by position (not stable)
    assert [a.transaction_ids for a in detect(bare, RULES).alerts()] == [("row:1",), ("row:1",)]


def test_a_log_with_ids_needs_no_repository_query():
    repo = _CountingRepository(_same_instant_log(list(range(8))))
    detect(_same_instant_log([7, 6, 5, 4, 3, 2, 1, 0]), RULES).alerts(transactions=repo)
    assert repo.calls == []


def test_the_demo_streams_a_log_with_ids_like_the_batch_engine():
    """`python -m crmcore demo` runs the anomaly section on a log read from SQLite (with ids
    whose order is not the row order): the streaming engine must see ties in id order."""
    from crmcore.anomaly.demo import demo
    from crmcore.datasets import load_cdnow_sample

    log = load_cdnow_sample()
    ids = np.array([f"cdnow-{i}" for i in range(len(log))], dtype=object)
    log = attrs.evolve(log, ids=ids).take(np.random.default_rng(4).permutation(len(log)))
    lines: list[str] = []
    demo(lines.append, transactions=log)
    assert any("identical to the batch alerts" in line for line in lines), lines
