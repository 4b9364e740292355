"""Benchmark: CAC per channel / cohort / blended and CLV:CAC flags for many customers.

Run: ``.venv/bin/python benchmarks/bench_economics_cac.py`` (default 1,000,000
customers, 6 channels as strings, 24 monthly cohorts as ``datetime64[M]``;
``--customers`` to change). Prints the crmcore time (``acquisition_cost`` +
``clv_to_cac``), a pandas groupby/merge doing the same work measured in the
same run, and their ratio; the script checks both give the same CACs and flags.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from crmcore.valuation import SpendTable, acquisition_cost, clv_to_cac

CHANNELS = np.array(["search", "social", "email", "tv_promo", "referral", "affiliate"])


def _data(n: int) -> dict[str, Any]:
    rng = np.random.default_rng(11)
    months = np.datetime64("2024-01", "M") + np.arange(24)
    ch = CHANNELS[rng.integers(0, len(CHANNELS), n)]
    per = months[rng.integers(0, len(months), n)]
    sp_ch = np.repeat(CHANNELS, len(months))
    sp_pe = np.tile(months, len(CHANNELS))
    sp_am = rng.uniform(1e4, 5e4, len(sp_ch))
    sh_ch = np.full(len(months), "unattributed")
    return {
        "spend_channel": np.concatenate([sp_ch, sh_ch]),
        "spend_period": np.concatenate([sp_pe, months]),
        "spend_amount": np.concatenate([sp_am, rng.uniform(1e4, 2e4, len(months))]),
        "channel": ch,
        "period": per,
        "clv": rng.gamma(2.0, 30.0, n),
    }


def _crmcore(d: dict[str, Any]) -> tuple[Any, Any]:
    spend = SpendTable.from_arrays(
        channel=d["spend_channel"], period=d["spend_period"], amount=d["spend_amount"]
    )
    rep = acquisition_cost(spend, d["channel"], d["period"], unattributed="spread")
    return rep, clv_to_cac(rep, d["clv"])


def _pandas(d: dict[str, Any]) -> tuple[Any, Any]:
    import pandas as pd

    sp = pd.DataFrame(
        {"channel": d["spend_channel"], "period": d["spend_period"], "amount": d["spend_amount"]}
    )
    cu = pd.DataFrame({"channel": d["channel"], "period": d["period"], "clv": d["clv"]})
    shared = sp[sp["channel"] == "unattributed"].groupby("period")["amount"].sum()
    direct = sp[sp["channel"] != "unattributed"].groupby(["channel", "period"])["amount"].sum()
    counts = cu.groupby(["channel", "period"]).size().rename("n")
    cells = pd.concat([direct.rename("spend"), counts], axis=1).fillna(0.0)
    per_n = cells.groupby(level="period")["n"].transform("sum")
    sh = shared.reindex(cells.index.get_level_values("period")).to_numpy()
    cells["spend"] = cells["spend"] + np.nan_to_num(sh) * cells["n"] / per_n
    cells["cac"] = cells["spend"] / cells["n"]
    cu = cu.join(cells["cac"], on=["channel", "period"])
    cu["flag"] = cu["clv"] < cu["cac"]
    by_ch = cells.groupby(level="channel")[["spend", "n"]].sum()
    by_ch["cac"] = by_ch["spend"] / by_ch["n"]
    by_ch["mean_clv"] = cu.groupby("channel")["clv"].mean()
    by_ch["ratio"] = by_ch["mean_clv"] / by_ch["cac"]
    return by_ch, cu["flag"].to_numpy()


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    d = _data(args.customers)
    print(f"CAC + CLV:CAC: {args.customers:,} customers, 6 channels, 24 cohorts")
    ours = _best(lambda: _crmcore(d), args.repeat)
    peer = _best(lambda: _pandas(d), args.repeat)
    rep, ratio = _crmcore(d)
    by_ch, flags = _pandas(d)
    assert np.allclose(rep.by_channel.cac, by_ch["cac"].to_numpy())
    assert np.allclose(ratio.by_channel.ratio, by_ch["ratio"].to_numpy())
    assert np.array_equal(ratio.customer_flag, flags)
    print(f"crmcore acquisition_cost + clv_to_cac : {ours:8.3f} s")
    print(f"pandas groupby / join                 : {peer:8.3f} s")
    print(f"ratio pandas/crmcore                  : {peer / ours:8.2f}x")


if __name__ == "__main__":
    main()
