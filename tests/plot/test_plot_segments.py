"""Concentration and segment plots on the CDNOW sample: the data drawn against independent
computations (numpy sorts and cumulative sums, pandas cross tables)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from crmcore.datasets import load_cdnow_sample
from crmcore.errors import ArgumentTypeError, ValidationError
from crmcore.plot import (
    plot_lorenz_curve,
    plot_rfm_segments,
    plot_tier_migration,
    plot_whale_curve,
)
from crmcore.segmentation import (
    SegmentMap,
    SegmentRule,
    concentration,
    customer_profitability,
    rfm_from_log,
    tier_migration,
)

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def rfm() -> tuple[Any, Any]:
    return rfm_from_log(load_cdnow_sample(), "1998-06-30")


def _ax() -> Any:
    return Figure().subplots()


def test_lorenz_curve_is_the_sorted_cumulative_share(rfm: Any) -> None:
    summary, _scores = rfm
    v = summary.monetary
    given = _ax()
    ax = plot_lorenz_curve(v, currency="USD", ax=given)
    assert ax is given
    (x, y) = (ax.lines[1].get_xdata(), ax.lines[1].get_ydata())
    ref = np.concatenate([[0.0], np.cumsum(np.sort(v))]) / v.sum()
    idx = np.rint(x * len(v)).astype(int)
    np.testing.assert_allclose(y, ref[idx], rtol=1e-9, atol=1e-12)
    # Gini from its textbook definition: mean absolute difference over twice the mean
    g = np.abs(v[:, None] - v[None, :]).mean() / (2 * v.mean())
    assert ax.get_title() == f"How concentrated is revenue? (Gini {g:.2f})"
    # the currency goes with the total, not the share
    assert ax.get_ylabel() == f"Share of total revenue ({v.sum():,.0f} USD)"
    top20 = 1 - ref[round(0.8 * len(v))]
    assert any(f"the top 20% hold {top20:.0%}" in t.get_text() for t in ax.texts)


def test_lorenz_curve_of_many_customers_is_thinned_not_cut() -> None:
    v = np.random.default_rng(1).pareto(1.5, 50_000)
    ax = plot_lorenz_curve(concentration(v), ax=_ax())
    x = ax.lines[1].get_xdata()
    assert len(x) == 2001 and x[0] == 0.0 and x[-1] == 1.0


def test_whale_curve_ranks_by_profit(rfm: Any) -> None:
    summary, _scores = rfm
    rng = np.random.default_rng(3)
    revenue = summary.monetary
    cost = revenue * rng.uniform(0.5, 1.3, len(revenue))
    p = customer_profitability(revenue, cost, np.zeros(len(revenue)))
    ax = plot_whale_curve(p, currency="USD", ax=_ax())
    profit = revenue - cost
    ref = np.concatenate([[0.0], np.cumsum(np.sort(profit)[::-1])]) / profit.sum()
    x, y = ax.lines[1].get_xdata(), ax.lines[1].get_ydata()
    np.testing.assert_allclose(y, ref[np.rint(x * len(profit)).astype(int)], rtol=1e-9)
    assert ax.get_title() == f"Whale curve: profit peaks at {ref.max():.0%} of the total"
    losers = int((profit < 0).sum())
    assert any(f"{losers:,} loss-making customers" in t.get_text() for t in ax.texts)


def test_rfm_segment_map_counts(rfm: Any) -> None:
    _summary, scores = rfm
    ax = plot_rfm_segments(scores, ax=_ax())
    cross = pd.crosstab(scores.frequency, scores.recency).reindex(
        index=range(1, 6), columns=range(1, 6), fill_value=0
    )
    cells = [t for t in ax.texts if "\n" not in t.get_text()]
    drawn = {(round(t.get_position()[1] - 0.58) + 1, round(t.get_position()[0] - 1.45) + 1):
             int(t.get_text().replace(",", "")) for t in cells}  # fmt: skip
    assert drawn == {(f, r): int(cross.loc[f, r]) for f in range(1, 6) for r in range(1, 6)}
    counts = scores.segments().counts()
    labels = {t.get_text().split("\n")[0]: t.get_text() for t in ax.texts if "\n" in t.get_text()}
    for name, n in counts.items():
        assert labels[name].split("\n")[1].startswith(f"{n:,} (")
    champions = next(t for t in ax.texts if t.get_text().startswith("champions"))
    x, y = champions.get_position()
    assert x == 5 and y > 4  # top right: recency 5, frequency 4-5
    assert ax.get_xlabel().startswith("Recency score") and ax.get_ylabel().startswith("Frequency")


def test_rfm_map_with_a_monetary_rule_colours_by_majority(rfm: Any) -> None:
    _summary, scores = rfm
    big = SegmentMap((SegmentRule("big spenders", monetary=(5, 5)),), default="rest")
    ax = plot_rfm_segments(scores, big, ax=_ax())
    names = {t.get_text().split("\n")[0] for t in ax.texts if "\n" in t.get_text()}
    assert names <= {"big spenders", "rest"}


def test_tier_migration_matrix_shares() -> None:
    rng = np.random.default_rng(5)
    tiers = ["gold", "silver", "bronze"]
    ids = np.arange(300)
    before = rng.choice(tiers, 300)
    keep = rng.random(300) < 0.9
    after_ids = np.concatenate([ids[keep], np.arange(300, 330)])
    after = rng.choice(tiers, len(after_ids))
    m = tier_migration(ids, before, after_ids, after, tiers=tiers)
    ax = plot_tier_migration(m, before="2024", after="2025", ax=_ax())
    b = pd.Series(before, index=ids).reindex(np.arange(330)).fillna("(none)")
    a = pd.Series(after, index=after_ids).reindex(np.arange(330)).fillna("(none)")
    labels = [*tiers, "(none)"]
    cross = pd.crosstab(b, a).reindex(index=labels, columns=labels, fill_value=0).to_numpy()
    rows = cross.sum(axis=1, keepdims=True)
    share = np.where(rows > 0, cross / np.maximum(rows, 1), 0.0)
    np.testing.assert_allclose(ax.images[0].get_array(), share)
    texts = {t.get_position(): t.get_text() for t in ax.texts}
    assert texts[(0, 0)] == f"{cross[0, 0]:,}\n{share[0, 0]:.0%}"
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    assert ax.get_xlabel() == "Tier 2025" and ax.get_ylabel() == "Tier 2024"


def test_bad_input_is_refused_by_name(rfm: Any) -> None:
    summary, scores = rfm
    with pytest.raises(ValidationError, match="Lorenz curve needs non-negative"):
        plot_lorenz_curve([5.0, -1.0])
    with pytest.raises(ValidationError, match="'values'"):
        plot_lorenz_curve([1.0, float("nan")])
    with pytest.raises(ArgumentTypeError, match="'what'"):
        plot_lorenz_curve([1.0, 2.0], what="")
    with pytest.raises(ArgumentTypeError, match="'currency'"):
        plot_whale_curve([1.0, 2.0], currency=3)
    with pytest.raises(ValidationError, match="'profit'"):
        plot_whale_curve([-1.0, -2.0])
    with pytest.raises(ArgumentTypeError, match="'scores'"):
        plot_rfm_segments(summary)
    with pytest.raises(ArgumentTypeError, match="'segment_map'"):
        plot_rfm_segments(scores, {"a": 1})  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="'migration'"):
        plot_tier_migration(scores)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="'ax'"):
        plot_lorenz_curve([1.0, 2.0], ax=Figure())  # type: ignore[arg-type]
