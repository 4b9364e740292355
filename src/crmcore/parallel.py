"""The one parallelism setting: how many threads crmcore's block-wise array work may use.

Every parallel path in crmcore (the BTYD models' block-wise P(alive), expectations and
input checks, the CSV read-ahead of transaction ingest) asks :func:`get_threads`. ``1``
means off: nothing is handed to a thread pool, all work runs inline on the calling thread.
Results are identical for every thread count (blocks are fixed-size and written in place).

The default is, in order: the ``CRMCORE_THREADS`` environment variable, else
``OMP_NUM_THREADS`` (its first entry), else the number of CPUs this process may run on
(capped at 4: the blocks are memory-bound), so a Dask or Spark worker that limits its
threads through the environment is not oversubscribed. :func:`set_threads` changes it for
the process; :func:`threads` changes it for one ``with`` block (per thread / task).

>>> from crmcore.parallel import get_threads, threads
>>> with threads(1):
...     get_threads()
1
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager

from crmcore.errors import ValidationError
from crmcore.options import as_count

__all__ = ["get_threads", "set_threads", "threads"]

#: the automatic default never exceeds this many threads (explicit settings may)
AUTO_CAP = 4

_process: int | None = None
_scoped: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "crmcore_threads", default=None
)
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()


MAX_THREADS = 1024
"""The most threads crmcore runs (a larger setting is refused, not silently capped)."""


def _check(value: object, name: str) -> int:
    return as_count(value, name=name, low=1, high=MAX_THREADS)


def _from_env(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if name == "OMP_NUM_THREADS":
        raw = raw.split(",")[0].strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name!r} must be a whole number of threads >= 1: {raw!r}") from None
    return _check(value, name)


def _cpus() -> int:
    counter = getattr(os, "process_cpu_count", None)
    if counter is not None:
        found: int | None = counter()
    elif hasattr(os, "sched_getaffinity"):
        found = len(os.sched_getaffinity(0))
    else:
        found = os.cpu_count()
    return max(1, min(found or 1, AUTO_CAP))


def _default() -> int:
    for name in ("CRMCORE_THREADS", "OMP_NUM_THREADS"):
        value = _from_env(name)
        if value is not None:
            return value
    return _cpus()


def get_threads() -> int:
    """The number of threads crmcore's parallel paths use now (``1``: off, run inline).

    >>> from crmcore.parallel import get_threads, threads
    >>> with threads(2):
    ...     get_threads()
    2
    """
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    if _process is not None:
        return _process
    return _default()


def set_threads(n: int | None) -> None:
    """Set the number of threads for the whole process (``1``: off; ``None``: back to the
    default from ``CRMCORE_THREADS`` / ``OMP_NUM_THREADS`` / the CPU count).

    >>> from crmcore.parallel import get_threads, set_threads
    >>> set_threads(1)
    >>> get_threads()
    1
    >>> set_threads(0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'n' must be >= 1: 0
    >>> set_threads(None)
    """
    global _process
    _process = None if n is None else _check(n, "n")


def threads(n: int | None) -> AbstractContextManager[int]:
    """Use ``n`` threads inside the ``with`` block only (``1``: off; ``None``: the process
    setting); the previous setting comes back on exit. Scoped to the current thread / task.
    ``n`` is checked at the call, before the block is entered.

    >>> from crmcore.parallel import get_threads, threads
    >>> with threads(1) as n:
    ...     n, get_threads()
    (1, 1)
    >>> threads(-2)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'n' must be >= 1: -2
    """
    return _scope(None if n is None else _check(n, "n"))


@contextmanager
def _scope(n: int | None) -> Iterator[int]:
    token = _scoped.set(n)
    try:
        yield get_threads()
    finally:
        _scoped.reset(token)


def executor() -> ThreadPoolExecutor | None:
    """The shared pool sized to :func:`get_threads`, created lazily (and replaced when the
    size changed: the old one is dropped, not shut down, so a caller still holding it
    finishes; its idle threads exit once it is collected); None when the setting is 1, so
    callers run inline."""
    global _pool, _pool_size
    n = get_threads()
    if n < 2:
        return None
    with _lock:
        if _pool is None or _pool_size != n:
            _pool, _pool_size = ThreadPoolExecutor(n, thread_name_prefix="crmcore"), n
        return _pool
