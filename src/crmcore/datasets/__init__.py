"""Small public data sets shipped with crmcore, with their provenance.

* **CDNOW sample** (Fader, Hardie & Lee 2005): every purchase of the 2,357
  customers of a 1/10th sample of the CDNOW online music store who made
  their first purchase in the first quarter of 1997, through June 1998
  (6,919 lines: full-set id, sample id, date, CDs, dollars).
* **CDNOW calibration summary**: the published per-customer ``x, t_x, T,
  zbar`` of the same customers over the first 39 weeks (weeks).
* **Donations** (Fader, Hardie & Shang 2010): 11,104 first-time supporters
  of a non-profit in 1995 observed over 6 annual opportunities, as a
  weighted frequency / recency table.
* **sBG cohorts** (Fader & Hardie 2007): survivors of 1,000 customers at
  the start of years 0–7, "regular" and "high end".

>>> log = load_cdnow_sample()
>>> len(log), log.n_customers
(6919, 2357)
>>> summary = load_cdnow_summary()
>>> int(summary["x"].sum())
2457
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from crmcore.tables import TransactionLog

__all__ = [
    "SBG_COHORTS",
    "load_cdnow_sample",
    "load_cdnow_summary",
    "load_donations",
]

SBG_COHORTS: dict[str, tuple[int, ...]] = {
    "regular": (1000, 631, 468, 382, 326, 289, 262, 241),
    "high_end": (1000, 869, 743, 653, 593, 551, 517, 491),
}
"""Customers active at the start of years 0–7 (Fader & Hardie 2007, Table 1)."""


def _text(name: str) -> str:
    return resources.files("crmcore.datasets").joinpath(name).read_text(encoding="utf-8")


def load_cdnow_sample() -> TransactionLog:
    """The CDNOW 1/10th sample as a :class:`~crmcore.tables.TransactionLog` (USD, UTC midnight).

    Customer ids are the sample ids 1–2357 (int); ``quantity`` is the number of CDs.
    """
    raw = np.loadtxt(
        resources.files("crmcore.datasets").joinpath("CDNOW_sample.txt").open("rb"),
        dtype=np.float64,
    )
    dates = raw[:, 2].astype(np.int64)
    ymd = np.char.add(
        np.char.add(np.char.zfill((dates // 10000).astype(str), 4), "-"),
        np.char.add(
            np.char.add(np.char.zfill((dates // 100 % 100).astype(str), 2), "-"),
            np.char.zfill((dates % 100).astype(str), 2),
        ),
    )
    return TransactionLog.from_arrays(
        customer_ids=raw[:, 1].astype(np.int64),
        timestamps=ymd.astype("datetime64[us]"),
        amounts=raw[:, 4],
        quantities=raw[:, 3].astype(np.int64),
        currency="USD",
    )


def load_cdnow_summary() -> dict[str, npt.NDArray[Any]]:
    """The published calibration summary: ``id, x, t_x, T, zbar`` arrays (weeks, dollars)."""
    data = np.loadtxt(
        resources.files("crmcore.datasets")
        .joinpath("cdnow_customers_summary_with_transactions.csv")
        .open("rb"),
        delimiter=",",
        skiprows=1,
    )
    return {
        "id": data[:, 0].astype(np.int64),
        "x": data[:, 1],
        "t_x": data[:, 2],
        "T": data[:, 3],
        "zbar": data[:, 4],
    }


def load_donations() -> dict[str, npt.NDArray[Any]]:
    """The donations table: ``frequency, recency, periods, weights`` arrays (22 rows).

    >>> int(load_donations()["weights"].sum())
    11104
    """
    data = np.loadtxt(
        resources.files("crmcore.datasets").joinpath("donations.csv").open("rb"),
        delimiter=",",
        skiprows=1,
    )
    return {
        "frequency": data[:, 0].astype(np.int64),
        "recency": data[:, 1].astype(np.int64),
        "periods": data[:, 2].astype(np.int64),
        "weights": data[:, 3].astype(np.int64),
    }
