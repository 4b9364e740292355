"""Columnar bulk insert and columnar read of transactions on SQLite (the bridge).

Inserts N synthetic transactions (default 200,000, ``--full`` 1,000,000; seeded) into a temporary
SQLite file with ``add_log``, then times:

* ``read_log()`` into a TransactionLog (crmcore's columnar read),
* ``list(uow.transactions.iter())`` as model objects (the object path),
* ``pandas.read_sql_query`` of the same columns plus ``pandas.factorize``
  of the customer ids (the usual peer for "SQL into arrays"),

and, for the insert, ``add_log`` against SQLAlchemy Core's ``executemany``
of one dict per row into an identical table (same indexes).

Run: ``.venv/bin/python benchmarks/bench_repositories_columnar.py [--size N | --full]``
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from crmcore.repositories import SqlUnitOfWork, configure_sqlite_engine
from crmcore.repositories.sql import schema
from crmcore.tables import TransactionLog


def synthetic_log(n: int, seed: int = 7) -> TransactionLog:
    """N transactions of N/20 customers over 10 years, whole cents, EUR (synthetic)."""
    rng = np.random.default_rng(seed)
    customers = rng.integers(0, max(1, n // 20), n)
    start = np.datetime64("2015-01-01T00:00:00", "us")
    offsets = rng.integers(0, 10 * 365 * 86_400, n).astype("timedelta64[s]")
    cents = rng.integers(100, 50_000, n)
    return TransactionLog.from_arrays(
        customer_ids=np.char.add("c-", customers.astype(str)),
        timestamps=start + offsets,
        amounts=cents / 100,
        kinds=rng.integers(0, 2, n).astype(np.int8),
        quantities=rng.integers(1, 5, n),
        currency="EUR",
        ids=np.char.add("t-", np.arange(n).astype(str)).astype(object),
    )


def timed(label: str, fn):  # type: ignore[no-untyped-def]  # benchmark helper
    """Run ``fn`` once; print wall and CPU seconds; return (result, cpu seconds).

    SQLite and pandas run in this process, so CPU time counts all their work
    and is robust on a shared machine, where wall time is inflated by load.
    """
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"  {label:<48} {cpu:8.3f} s CPU  ({wall:.3f} s wall)")
    return out, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000, help="number of transactions")
    parser.add_argument("--full", action="store_true", help="the issue's size: 1,000,000")
    args = parser.parse_args()
    n = 1_000_000 if args.full else args.size
    with tempfile.TemporaryDirectory(prefix="crmcore-bench-") as tmp:
        run(n, Path(tmp))


def run(n: int, tmp: Path) -> None:
    """The benchmark on ``n`` rows, with its files in ``tmp``."""
    print(
        f"crmcore columnar repository benchmark: {n:,} synthetic transactions, SQLite file in {tmp}"
    )
    log = synthetic_log(n)

    print("insert")
    uow = SqlUnitOfWork.from_url(tmp / "crm.db")
    with uow:
        uow.customers.count()  # create the schema outside the timing

    def insert_columnar() -> None:
        with uow:
            uow.transactions.add_log(log)
            uow.commit()

    _, t_add = timed("crmcore add_log (multi-row INSERTs, raw cursor)", insert_columnar)

    peer = configure_sqlite_engine(sa.create_engine(f"sqlite:///{tmp / 'peer.db'}"))
    schema.metadata.create_all(peer)
    micros = log.time.view(np.int64)
    cids = log.row_customer_ids
    rows = [
        {
            "id": log.ids[i],  # type: ignore[index]  # the synthetic log has ids
            "customer_id": cids[i],
            "occurred_at": int(micros[i]),
            "amount_e6": round(float(log.amount[i]) * 1e6),
            "currency": "EUR",
            "kind": int(log.kind[i]),
            "quantity": int(log.quantity[i]),  # type: ignore[index]  # the synthetic log has quantities
        }
        for i in range(n)
    ]

    def insert_core() -> None:
        with peer.begin() as c:
            for i in range(0, n, 50_000):
                c.execute(sa.insert(schema.transactions), rows[i : i + 50_000])

    _, t_core = timed("SQLAlchemy Core executemany of dicts", insert_core)
    rows.clear()
    peer.dispose()
    print(
        f"  add_log: {n / t_add:,.0f} rows/s CPU; Core dicts: {n / t_core:,.0f} rows/s CPU; add_log is {t_core / t_add:.2f}x faster"
    )

    print("read")
    with uow:
        got, t_cols = timed("crmcore read_log() -> TransactionLog", uow.transactions.read_log)
        assert len(got) == n
        objects, t_obj = timed(
            "list(uow.transactions.iter()) as model objects", lambda: list(uow.transactions.iter())
        )
        assert len(objects) == n
        del objects
    try:
        import pandas as pd

        def pandas_read() -> object:
            with uow.engine.connect() as c:
                frame = pd.read_sql_query(
                    "SELECT customer_id, occurred_at, amount_e6, kind, quantity FROM transactions",
                    c.connection.driver_connection,
                )
            codes, labels = pd.factorize(frame["customer_id"], sort=True)
            return codes, labels, frame

        _, t_pd = timed("pandas.read_sql_query + factorize (peer)", pandas_read)
    except ImportError:
        t_pd = float("nan")
    uow.close()
    print(
        f"  read_log: {t_cols:.3f} s CPU ({n / t_cols:,.0f} rows/s); model objects are "
        f"{t_obj / t_cols:.1f}x slower; pandas.read_sql is {t_pd / t_cols:.2f}x slower"
    )


if __name__ == "__main__":
    main()
