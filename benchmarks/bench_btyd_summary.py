"""Transaction-log summary (frequency, recency, T, monetary value) vs lifetimes 0.11.3.

    .venv/bin/python benchmarks/bench_btyd_summary.py                    # 1,000,000 transactions
    .venv/bin/python benchmarks/bench_btyd_summary.py --size 10000000    # crmcore only at 10M

Synthetic log (seeded): --size transactions of size/10 customers over 1.5 years,
with same-day repeats. crmcore is timed from the columnar TransactionLog (the
bridge table) and from raw arrays (building the log included); lifetimes'
summary_data_from_transaction_data from a pandas DataFrame. Both use days,
the same observation end, and the results are compared.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from crmcore.tables import TransactionLog
from crmcore.valuation import summarize_arrays, summarize_transactions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--no-peer", action="store_true", help="skip lifetimes (for 10M)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(0)
    n = args.size
    cust = rng.integers(0, max(1, n // 10), n)
    start = np.datetime64("2023-01-01T00:00", "s")
    times = start + rng.integers(0, 548 * 86400, n).astype("timedelta64[s]")
    amount = np.round(rng.gamma(2.0, 20.0, n), 2)
    log = TransactionLog.from_arrays(customer_ids=cust, timestamps=times, amounts=amount)
    end = "2024-07-01"

    t_log = t_arr = np.inf
    for _ in range(3):
        t = time.perf_counter()
        s = summarize_transactions(log, time_unit="D", observation_end=end)
        t_log = min(t_log, time.perf_counter() - t)
        t = time.perf_counter()
        summarize_arrays(cust, times, amount, time_unit="D", observation_end=end)
        t_arr = min(t_arr, time.perf_counter() - t)
    print(f"{n:,} transactions, {len(s):,} customers")
    print(
        f"crmcore from TransactionLog: {t_log:.3f} s; from arrays (log built): {t_arr:.3f} s (best of 3)"
    )
    if args.no_peer:
        return
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    df = pd.DataFrame({"id": cust, "date": times, "amount": amount})
    t = time.perf_counter()
    ref = summary_data_from_transaction_data(
        df, "id", "date", monetary_value_col="amount", observation_period_end=end, freq="D"
    )
    t_l = time.perf_counter() - t
    ref = ref.loc[s.customer_ids]
    assert np.array_equal(ref["frequency"].to_numpy(), s.frequency)
    assert np.array_equal(ref["recency"].to_numpy(), s.recency)
    assert np.array_equal(ref["T"].to_numpy(), s.T)
    assert np.allclose(ref["monetary_value"].to_numpy(), s.monetary_value)
    print(f"lifetimes summary_data_from_transaction_data: {t_l:.3f} s (identical results)")
    print(f"ratio: {t_l / t_log:.1f}x from the log, {t_l / t_arr:.1f}x from arrays")


if __name__ == "__main__":
    main()
