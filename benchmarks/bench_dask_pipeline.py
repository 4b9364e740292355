"""The customer-base pipeline on Dask (crmcore.dask) against the single-machine path.

    .venv/bin/python benchmarks/bench_dask_pipeline.py                      # 100,000,000 rows
    .venv/bin/python benchmarks/bench_dask_pipeline.py --rows 20000000 --customers 2000000
    .venv/bin/python benchmarks/bench_dask_pipeline.py --rows 2000000 --customers 200000 --shuffle

Writes ``--rows`` synthetic purchases of ``--customers`` customers with string ids
("c-123456") and string transaction ids to Parquet on disk (a daily grid over two
years with times of day, amounts log-normal in cents; one file per customer bucket, so
every customer's rows are in one file: ``partitioned=True``; ``--shuffle`` leaves the
rows in random files and lets crmcore.dask shuffle them by customer), then runs
summary -> fit (BG/NBD and Gamma-Gamma from the sufficient statistics) -> scoring
(P(alive), expected purchases, CLV written to Parquet) -> RFM (scores written) -> batch
rules (five rules, one of each kind; alerts written) on a LocalCluster of 2 worker processes with
1 thread each, printing the time of every stage, rows/s and the peak memory (RSS,
sampled every 0.5 s) of each worker. The same pipeline then runs through the
single-machine path (pandas read, TransactionLog, summarize_transactions, fit_bgnbd,
...) on ``--single-rows`` rows (default 10,000,000) for the ratio.
Targets (issue 18): no worker killed for memory, peak < 4 GB per worker, Dask rows/s at
least half the single-machine rows/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CAL, OBS = "2025-09-30", "2025-12-31"


def bench_rules() -> Any:
    """Five rules of the five kinds, tuned to alert on well under 1% of the rows (a
    realistic alert rate: every alert becomes a record someone reads)."""
    from crmcore.anomaly import BehaviourChange, Dormant, RobustZ, RuleSet, Threshold, Velocity

    return RuleSet(
        name="bench-watch",
        rules=[
            RobustZ(name="unusual", lookback=10, min_history=4, z=12.0, min_scale=20.0),
            Threshold(name="over-1000", at_least=1000),
            Velocity(name="spree", window="7d", measure="count", at_least=6),
            BehaviourChange(name="jump", window="90d", measure="sum", ratio=40.0, min_history=3),
            Dormant(name="back-after-18-months", gap="540d"),
        ],
    )


START = np.datetime64("2024-01-01T00:00:00", "s")
DAYS = 731


def write_rows(path: Path, rows: int, customers: int, files: int, bucketed: bool) -> None:
    """``rows`` purchases of ``customers`` customers in ``files`` Parquet files.

    Each customer has a first purchase (uniform over the first 600 days), a lifetime
    (exponential, mean 400 days) and a purchase rate (gamma across customers): the
    other rows fall on the customers in proportion to rate x time alive, at uniform
    instants while they are alive (a BG/NBD-like base with repeat purchases and drop-out).
    """
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    per_file = rows // files
    first_row = 0
    for f in range(files):
        n = per_file if f < files - 1 else rows - per_file * (files - 1)
        if bucketed:  # customers c with c % files == f
            mine = np.arange(f, customers, files)
        else:
            mine = rng.integers(0, customers, max(1, customers // files))
        mine = mine[: max(1, n)]
        birth = rng.uniform(0, 600, len(mine))
        end = np.minimum(birth + rng.exponential(400, len(mine)), DAYS)
        rate = rng.gamma(0.8, 1.0, len(mine)) + 1e-9
        extra = rng.choice(
            len(mine), n - len(mine), p=rate * (end - birth) / np.dot(rate, end - birth)
        )
        who = np.concatenate([np.arange(len(mine)), extra])
        day = np.concatenate(
            [birth, birth[extra] + rng.uniform(0, 1, len(extra)) * (end - birth)[extra]]
        )
        cust = mine[who]
        order = rng.permutation(n)
        cust, day = cust[order], day[order]
        secs = (day * 86_400).astype(np.int64)
        when = (START + secs.astype("timedelta64[s]")).astype("datetime64[us]")
        amount = np.round(rng.lognormal(3.0, 0.8, n), 2)
        tx = np.arange(first_row, first_row + n)
        first_row += n
        ids = pc.binary_join_element_wise("c-", pc.cast(pa.array(cust), pa.string()), "")
        tids = pc.binary_join_element_wise("t-", pc.cast(pa.array(tx), pa.string()), "")
        table = pa.table(
            {
                "customer_id": ids,
                "occurred_at": pa.array(when, type=pa.timestamp("us", tz="UTC")),
                "amount": amount,
                "id": tids,
            }
        )
        pq.write_table(table, path / f"part-{f:05d}.parquet", row_group_size=1 << 20)


class Peak:
    """Peak RSS of every worker, sampled in a background thread."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.peak: dict[str, int] = {}
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        def rss() -> int:
            import psutil

            return int(psutil.Process().memory_info().rss)

        while not self._stop.is_set():
            try:
                for w, v in self.client.run(rss).items():
                    self.seen.add(w)
                    self.peak[w] = max(self.peak.get(w, 0), v)
            except Exception:
                pass
            self._stop.wait(0.5)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_dask(path: Path, out: Path, rows: int, shuffle: bool) -> tuple[float, dict[str, float]]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from crmcore.dask import (
        detect_dask,
        fit_from_statistics,
        rfm_dask,
        score_dask,
        summarize_dask,
    )
    from crmcore.valuation import fit_bgnbd, fit_gamma_gamma

    stages: dict[str, float] = {}
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit="6GB",
            dashboard_address=None,
            silence_logs=40,
            local_directory=str(out / "dask-spill"),
        ) as cluster,
        Client(cluster) as client,
    ):
        peak = Peak(client)
        ddf = dd.read_parquet(str(path), split_row_groups=False)
        opts: dict[str, Any] = {"partitioned": not shuffle}
        t_all = t = time.perf_counter()
        s = summarize_dask(ddf, time_unit="W", calibration_end=CAL, observation_end=OBS, **opts)
        s = s.persist()
        stats, spend = s.purchase_statistics(), s.spend_statistics()
        stages["summary"] = time.perf_counter() - t
        t = time.perf_counter()
        bg = fit_from_statistics(fit_bgnbd, stats)
        gg = fit_from_statistics(fit_gamma_gamma, spend)
        stages["fit"] = time.perf_counter() - t
        t = time.perf_counter()
        score_dask(s, bg, gg, t=13.0).to_parquet(str(out / "scores"))
        stages["scoring"] = time.perf_counter() - t
        del s
        t = time.perf_counter()
        r = rfm_dask(ddf, OBS, **opts)
        r.scores.to_parquet(str(out / "rfm"))
        stages["rfm"] = time.perf_counter() - t
        del r
        t = time.perf_counter()
        detect_dask(ddf, bench_rules(), **opts).to_parquet(str(out / "alerts"))
        stages["rules"] = time.perf_counter() - t
        total = time.perf_counter() - t_all
        peaks = peak.stop()
        n_alerts = len(dd.read_parquet(str(out / "alerts")))
        print(
            f"  customers summarised: {int(stats['count'].sum()):,} in {len(stats):,} distinct "
            f"(x, t_x, T) rows; BG/NBD r={bg.params.r:.4f} alpha={bg.params.alpha:.3f}; "
            f"alerts: {n_alerts:,}"
        )
        print(
            "  peak RSS per worker: "
            + ", ".join(f"{v / 2**30:.2f} GB" for v in sorted(peaks.values()))
            + f"; workers seen: {len(peak.seen)} (2 = none restarted)"
        )
    return total, stages


def run_single(path: Path, rows: int) -> tuple[float, dict[str, float]]:
    import pandas as pd

    from crmcore.anomaly import detect
    from crmcore.segmentation import rfm_from_log
    from crmcore.tables import TransactionLog
    from crmcore.valuation import (
        customer_lifetime_value,
        fit_bgnbd,
        fit_gamma_gamma,
        summarize_transactions,
    )

    stages: dict[str, float] = {}
    t_all = t = time.perf_counter()
    f = pd.read_parquet(path)
    log = TransactionLog.from_arrays(
        customer_ids=f["customer_id"],
        timestamps=f["occurred_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
        amounts=f["amount"].to_numpy(),
        ids=f["id"].to_numpy(dtype=object),
    )
    del f
    s = summarize_transactions(log, time_unit="W", calibration_end=CAL, observation_end=OBS)
    stages["read+summary"] = time.perf_counter() - t
    t = time.perf_counter()
    bg = fit_bgnbd(s)
    gg = fit_gamma_gamma(s)
    stages["fit"] = time.perf_counter() - t
    t = time.perf_counter()
    scores = pd.DataFrame(
        {
            "customer_id": s.customer_ids,
            "p_alive": bg.probability_alive(s),
            "expected_purchases": bg.conditional_expected_purchases(13.0, s),
            "clv": customer_lifetime_value(bg, gg, s),
        }
    )
    stages["scoring"] = time.perf_counter() - t
    del scores
    t = time.perf_counter()
    rfm_from_log(log, OBS)
    stages["rfm"] = time.perf_counter() - t
    t = time.perf_counter()
    found = detect(log, bench_rules())
    alerts = found.alerts()
    stages["rules"] = time.perf_counter() - t
    print(f"  alerts: {len(alerts):,}; BG/NBD r={bg.params.r:.4f} alpha={bg.params.alpha:.3f}")
    return time.perf_counter() - t_all, stages


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--customers", type=int, default=10_000_000)
    ap.add_argument("--single-rows", type=int, default=10_000_000)
    ap.add_argument("--rows-per-file", type=int, default=1_000_000)
    ap.add_argument(
        "--shuffle", action="store_true", help="rows in random files: crmcore.dask shuffles"
    )
    ap.add_argument("--skip-single", action="store_true")
    ap.add_argument("--dir", default=None, help="work directory (default: a temporary one)")
    args = ap.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="bench-dask-"))
    print(f"load: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs")
    try:
        files = max(1, args.rows // args.rows_per_file)
        t = time.perf_counter()
        write_rows(base / "rows", args.rows, args.customers, files, bucketed=not args.shuffle)
        print(
            f"wrote {args.rows:,} rows of {args.customers:,} customers in {files} files: "
            f"{time.perf_counter() - t:.1f} s"
        )
        total, stages = run_dask(base / "rows", base / "out", args.rows, args.shuffle)
        print(
            f"Dask (2 workers x 1 thread), {args.rows:,} rows: {total:.1f} s, "
            f"{args.rows / total:,.0f} rows/s"
        )
        for k, v in stages.items():
            print(f"  {k:<10} {v:8.1f} s")
        if not args.skip_single:
            single_rows = args.single_rows
            single_customers = max(1, args.customers * single_rows // args.rows)
            write_rows(
                base / "single",
                single_rows,
                single_customers,
                max(1, single_rows // args.rows_per_file),
                bucketed=True,
            )
            s_total, s_stages = run_single(base / "single", single_rows)
            print(
                f"single machine, {single_rows:,} rows: {s_total:.1f} s, "
                f"{single_rows / s_total:,.0f} rows/s"
            )
            for k, v in s_stages.items():
                print(f"  {k:<12} {v:8.1f} s")
            ratio = (args.rows / total) / (single_rows / s_total)
            print(f"Dask rows/s / single-machine rows/s: {ratio:.2f} (target >= 0.5)")
        print(f"load after: {os.getloadavg()[0]:.1f} (1 min)")
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
