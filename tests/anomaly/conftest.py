"""Shared helpers of the anomaly tests: run both engines on one log."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from crmcore.anomaly import Event, StreamingEngine, detect
from crmcore.model import TransactionKind

_KINDS = [k.value for k in TransactionKind]


def events_in_time_order(log):
    """The log's rows as streaming events in time order, ties by transaction id (the batch
    engine's order; a log without ids keeps its row order among ties)."""
    if log.ids is None:
        order = np.argsort(log.time, kind="stable")
        ids = np.array([f"row:{i}" for i in range(len(log))])
    else:
        ids = log.ids
        order = np.array(sorted(range(len(log)), key=lambda i: (log.time[i], str(ids[i]))))
    out = []
    for i in order.tolist():
        when = log.time[i].astype(datetime).replace(tzinfo=UTC)
        out.append(
            Event(
                str(ids[i]),
                str(log.customer_ids[log.customer[i]]),
                when,
                float(log.amount[i]),
                _KINDS[log.kind[i]],
                None if log.channels is None else log.channels[i],
                None if log.products is None else log.products[i],
            )
        )
    return out


def run_both(log, ruleset, customers=None):
    """(batch alerts, streaming alerts), each sorted by id."""
    batch = sorted(detect(log, ruleset, customers).alerts(), key=lambda a: a.id)
    engine = StreamingEngine(ruleset, customers)
    stream = sorted(engine.process_many(events_in_time_order(log)), key=lambda a: a.id)
    return batch, stream


@pytest.fixture
def both():
    """Run a rule set with both engines; assert they agree; return the alerts."""

    def run(log, ruleset, customers=None):
        batch, stream = run_both(log, ruleset, customers)
        assert batch == stream
        return batch

    return run


@pytest.fixture(scope="session")
def engines():
    """:func:`run_both` as a session fixture (usable under hypothesis)."""
    return run_both
