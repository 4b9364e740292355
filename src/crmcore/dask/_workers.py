"""crmcore's thread setting on Dask workers."""

from __future__ import annotations

from typing import Any

from distributed import WorkerPlugin

from crmcore.parallel import set_threads

__all__ = ["ThreadsPlugin"]


class ThreadsPlugin(WorkerPlugin):
    """A Dask worker plugin that sets crmcore's process-wide thread setting on every
    worker (``client.register_plugin(ThreadsPlugin(1))``): for crmcore calls of your own
    inside Dask tasks. crmcore.dask's functions already run each partition with their
    ``threads`` argument (default 1: off), whatever the worker's setting.

    >>> ThreadsPlugin(1).threads
    1
    """

    name = "crmcore-threads"

    def __init__(self, threads: int | None = 1) -> None:
        from crmcore.parallel import threads as _check

        with _check(threads):  # checked here, on the client
            pass
        self.threads = threads

    def setup(self, worker: Any) -> None:
        """Set the worker process's thread setting (Dask calls this on each worker)."""
        set_threads(self.threads)

    def teardown(self, worker: Any) -> None:
        """Back to the default (Dask calls this when the plugin is removed)."""
        set_threads(None)
