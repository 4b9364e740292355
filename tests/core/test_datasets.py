"""The shipped data sets are complete and match their documented shape."""

from __future__ import annotations

import itertools

import numpy as np

from crmcore.datasets import SBG_COHORTS, load_cdnow_sample, load_cdnow_summary, load_donations


def test_cdnow_sample_has_the_documented_size() -> None:
    log = load_cdnow_sample()
    assert len(log) == 6919
    assert log.n_customers == 2357
    assert log.customer_ids.tolist() == list(range(1, 2358))
    assert str(log.time.min())[:10] == "1997-01-01"
    assert str(log.time.max())[:10] == "1998-06-30"
    assert log.currency == "USD"
    assert log.quantity is not None and int(log.quantity.sum()) > 6919


def test_first_purchases_are_all_in_the_first_quarter_of_1997() -> None:
    log = load_cdnow_sample()
    first = np.full(log.n_customers, np.datetime64("2100-01-01", "us"))
    np.minimum.at(first, log.customer, log.time)
    assert first.max() < np.datetime64("1997-04-01", "us")


def test_cdnow_summary_shape() -> None:
    s = load_cdnow_summary()
    assert len(s["x"]) == 2357
    assert int((s["x"] > 0).sum()) == 946  # the repeat buyers of the Gamma-Gamma paper


def test_donations_and_cohorts() -> None:
    d = load_donations()
    assert len(d["frequency"]) == 22
    assert int(d["weights"].sum()) == 11104
    assert (d["recency"] <= d["periods"]).all()
    for counts in SBG_COHORTS.values():
        assert counts[0] == 1000 and all(a >= b for a, b in itertools.pairwise(counts))
