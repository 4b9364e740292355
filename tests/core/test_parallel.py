"""crmcore.parallel: the one thread setting (environment default, process and scoped settings,
1 = inline, invalid values named, identical results for every thread count)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import crmcore.ingest.transactions as ingest_module
import crmcore.parallel as parallel
from crmcore.datasets import load_cdnow_summary
from crmcore.errors import ValidationError
from crmcore.ingest import import_transactions
from crmcore.parallel import get_threads, set_threads, threads
from crmcore.repositories import MemoryUnitOfWork
from crmcore.valuation import fit_bgnbd, fit_pareto_nbd
from crmcore.valuation.btyd._common import CHUNK, blocks


@pytest.fixture(autouse=True)
def _restore(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("CRMCORE_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    set_threads(None)
    yield
    set_threads(None)


def test_crmcore_threads_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert get_threads() == 5
    monkeypatch.setenv("OMP_NUM_THREADS", "6,2")
    assert get_threads() == 6
    monkeypatch.setenv("CRMCORE_THREADS", "3")
    assert get_threads() == 3


def test_default_is_the_usable_cpus_capped() -> None:
    if hasattr(os, "process_cpu_count"):
        cpus = os.process_cpu_count() or 1
    elif hasattr(os, "sched_getaffinity"):
        cpus = len(os.sched_getaffinity(0))
    else:
        cpus = os.cpu_count() or 1
    assert get_threads() == max(1, min(cpus, parallel.AUTO_CAP))


def test_environment_read_in_a_fresh_process() -> None:
    env = {**os.environ, "CRMCORE_THREADS": "1", "OMP_NUM_THREADS": "7"}
    code = "from crmcore.parallel import get_threads; print(get_threads())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "1"


@pytest.mark.parametrize("var", ["CRMCORE_THREADS", "OMP_NUM_THREADS"])
@pytest.mark.parametrize("raw", ["0", "-1", "two", "2.5"])
def test_bad_environment_value_is_named(
    monkeypatch: pytest.MonkeyPatch, var: str, raw: str
) -> None:
    monkeypatch.setenv(var, raw)
    with pytest.raises(ValidationError, match=var) as err:
        get_threads()
    assert raw in str(err.value)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "2", float("nan")])
def test_bad_settings_are_refused_by_name(bad: object) -> None:
    with pytest.raises(ValidationError, match="'n'"):
        set_threads(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'n'"):
        threads(bad)  # type: ignore[arg-type]
    assert parallel._process is None


def _fail_with(n: int) -> None:
    assert n == 4
    raise RuntimeError("boom")


def test_set_threads_and_context_manager_restore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMCORE_THREADS", "3")
    set_threads(2)
    assert get_threads() == 2
    with threads(1):
        assert get_threads() == 1
        with threads(None):
            assert get_threads() == 2
        with pytest.raises(RuntimeError, match="boom"), threads(4):
            _fail_with(get_threads())
        assert get_threads() == 1
    assert get_threads() == 2
    set_threads(None)
    assert get_threads() == 3


def test_scope_is_per_thread() -> None:
    seen: list[int] = []
    set_threads(2)
    with threads(1):
        worker = threading.Thread(target=lambda: seen.append(get_threads()))
        worker.start()
        worker.join()
        assert get_threads() == 1
    assert seen == [2]


def test_one_thread_runs_inline_and_more_use_a_pool_of_that_size() -> None:
    n = 5 * 1000
    where: list[str] = []

    def record(lo: int, hi: int) -> None:
        where.append(threading.current_thread().name)

    with threads(1):
        assert parallel.executor() is None
        blocks(record, n, size=1000)
    assert set(where) == {threading.current_thread().name}
    where.clear()
    with threads(3):
        pool = parallel.executor()
        assert pool is not None and pool._max_workers == 3
        blocks(record, n, size=1000)
    assert all(name.startswith("crmcore") for name in where)
    with threads(2):  # a size change is honoured on the next call
        pool = parallel.executor()
        assert pool is not None and pool._max_workers == 2


def _big_history() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = load_cdnow_summary()
    reps = -(-(4 * CHUNK + 123) // len(s["x"]))
    x, tx, T = (np.tile(np.asarray(a, dtype=np.float64), reps) for a in (s["x"], s["t_x"], s["T"]))
    return x, tx, T


def test_results_identical_for_one_and_two_threads() -> None:
    x, tx, T = _big_history()
    assert len(x) >= 4 * CHUNK
    uneven = tx * np.random.default_rng(7).uniform(0.5, 1.0, len(tx))  # distinct rows
    out = {}
    for n in (1, 2):
        with threads(n):
            bg = fit_bgnbd(x, tx, T)  # the input checks run block-wise on all rows
            pn = fit_pareto_nbd(x, tx, T)
            out[n] = (
                (repr(bg.params), repr(pn.params)),
                bg.probability_alive(x, uneven, T),
                bg.conditional_expected_purchases(39.0, x, uneven, T),
                pn.probability_alive(x, uneven, T),
                pn.conditional_expected_purchases(39.0, x, uneven, T),
            )
    assert out[1][0] == out[2][0]
    for one, two in zip(out[1][1:], out[2][1:], strict=True):
        np.testing.assert_array_equal(one, two)


def test_csv_import_reads_ahead_only_with_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.csv"
    lines = ["external_ref,customer_id,occurred_at,amount,currency"]
    lines += [f"o-{i},c-{i % 7},2024-02-{1 + i % 27:02d},{i}.5,EUR" for i in range(40)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    made: list[int] = []
    real = ThreadPoolExecutor

    def spy(*args: Any, **kwargs: Any) -> ThreadPoolExecutor:
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "ThreadPoolExecutor", spy)
    reports = {}
    for n in (1, 2):
        with threads(n):
            uow = MemoryUnitOfWork()
            reports[n] = import_transactions(uow, path, batch_size=6)
        assert made == ([] if n == 1 else [1])
        with uow:
            log = uow.transactions.read_log()
        assert len(log) == 40
    assert (reports[1].stored, reports[1].rejected) == (reports[2].stored, reports[2].rejected)
