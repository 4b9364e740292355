"""One local Dask cluster of 2 workers for the whole tests/dask session.

In-process workers (``processes=False``): a cluster starts in a fraction of a second and
the partition functions are the same as in worker processes. No dashboard, its HTTP
routes on a free port (none to fight over with a benchmark's cluster on the machine),
and the monitoring a test does not read slowed down: the workers' stack sampling every
10 ms and the 20 ms event-loop ticks cost 5% of a core while the cluster merely waits
(0.5% without), none of which changes what the tasks compute.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


@pytest.fixture(scope="session")
def client() -> Iterator[Any]:
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    with (
        dask.config.set(QUIET),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},
            silence_logs=50,
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c
