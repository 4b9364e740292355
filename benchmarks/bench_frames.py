"""DataFrames out: what ``to_pandas()`` / ``to_polars()`` / ``to_arrow()`` / ``_repr_html_`` cost
on a large result, against the floor of building the same frame from the raw arrays.

A per-customer ``RFMSummary`` of N customers (default 1,000,000) with text ids
(``"c-0000001"``; the slow kind: object arrays) and one with integer ids, and a
``TransactionLog`` of 3N rows (ids per row, instants, kinds decoded). The floor is
the library's own constructor on the numpy arrays the result holds, without the
typing rule (``pd.DataFrame(dict)``, ``pl.DataFrame(dict)``, ``pa.table(dict)``);
the ratio says what the rule adds (the type scan of object columns, the UTC zone,
NaN to null). ``_repr_html_`` is timed on the same results (it decodes the columns,
then formats 20 rows).

Each timing is the best of ``--repeat`` runs (default 3), CPU time (the machine is
shared). Run: ``.venv/bin/python benchmarks/bench_frames.py [--size N] [--repeat K]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from crmcore.segmentation.rfm import RFMSummary
from crmcore.tables import TransactionLog


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n, rng = args.size, np.random.default_rng(7)
    text_ids = np.array([f"c-{i:07d}" for i in range(n)], dtype=object)
    as_of = np.datetime64("2025-01-01T00:00:00", "us")
    cols = {
        "recency": rng.exponential(100.0, n),
        "frequency": rng.poisson(3.0, n).astype(np.int64) + 1,
        "monetary": rng.gamma(2.0, 50.0, n),
    }
    results = {
        "RFMSummary, text ids": RFMSummary(text_ids, **cols, as_of=as_of),
        "RFMSummary, integer ids": RFMSummary(np.arange(n, dtype=object), **cols, as_of=as_of),
    }
    rows = 3 * n
    cust = rng.integers(0, n, rows)
    times = np.datetime64("2020-01-01", "us") + rng.integers(0, 5 * 365 * 86_400_000_000, rows)
    log = TransactionLog(
        customer=cust,
        time=times,
        amount=rng.gamma(2.0, 20.0, rows),
        kind=np.zeros(rows, dtype=np.int8),
        customer_ids=text_ids,
        currency="EUR",
    )
    results["TransactionLog, 3N rows"] = log
    print(f"N = {n:,} customers; best of {args.repeat}, CPU seconds")
    print(f"{'result':<26}{'method':<12}{'crmcore':>9}{'floor':>9}{'ratio':>7}")
    for name, r in results.items():
        raw = {k: np.asarray(v) for k, v in r._columns().items()}
        floors = {
            "to_pandas": lambda raw=raw: pd.DataFrame(raw),
            "to_polars": lambda raw=raw: pl.DataFrame(raw),
            "to_arrow": lambda raw=raw: pa.table(raw),
        }
        for method, floor in floors.items():
            ours = best(getattr(r, method), args.repeat)
            base = best(floor, args.repeat)
            print(f"{name:<26}{method:<12}{ours:>9.3f}{base:>9.3f}{ours / base:>7.2f}")
        html = best(r._repr_html_, args.repeat)
        print(f"{name:<26}{'_repr_html_':<12}{html:>9.3f}")


if __name__ == "__main__":
    main()
