"""The likelihood-ratio test of moderation: nominal size under H0, power under H1.

A larger size study (more replications and sample sizes) is in
``benchmarks/bench_satisfaction_lrtest.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from crmcore.errors import FitError
from crmcore.satisfaction import (
    LoyaltyModel,
    fit_loyalty,
    moderation_test,
    moderation_test_table,
    preset_model,
)

NULL = LoyaltyModel(intercept=1.0, log_slope=0.0, floor_logit=float(np.log(0.3 / 0.7)))
LEVELS = np.array([0.2, 0.5, 0.8])


def _null_table(rng: np.random.Generator, n_per_cell: int) -> tuple[np.ndarray, ...]:
    """One replication as an aggregated table: binomial draws per (level, competition) cell."""
    s = np.tile(np.arange(1, 6), len(LEVELS))
    c = np.repeat(LEVELS, 5)
    total = np.full(len(s), n_per_cell)
    loyal = rng.binomial(total, NULL.probability(s, c))
    return s, c, loyal, total


def test_keeps_its_nominal_size_without_moderation() -> None:
    """200 seeded replications at alpha = 0.05: rejections within a 99.9% binomial interval,
    and the statistics look chi-square(3) (Kolmogorov-Smirnov)."""
    rng = np.random.default_rng(20251123)
    reps, alpha = 200, 0.05
    statistics = []
    for _ in range(reps):
        t = moderation_test_table(*_null_table(rng, 100))
        statistics.append(t.statistic)
    rejections = int(np.sum(stats.chi2.sf(statistics, 3) < alpha))
    lo, hi = stats.binom.interval(0.999, reps, alpha)
    assert lo <= rejections <= hi, rejections
    assert stats.kstest(statistics, "chi2", args=(3,)).pvalue > 0.001


def test_detects_moderation_when_it_is_there() -> None:
    rng = np.random.default_rng(1)
    n = 3_000
    s = rng.integers(1, 6, n)
    c = rng.choice([0.1, 0.9], n)
    y = rng.random(n) < preset_model().probability(s, c)
    t = moderation_test(s, y, c)
    assert t.rejects(0.001) and t.df == 3
    assert t.p_value == pytest.approx(stats.chi2.sf(t.statistic, 3))


def test_restricted_and_full_fits_are_the_nested_models() -> None:
    rng = np.random.default_rng(2)
    n = 4_000
    s = rng.integers(1, 6, n)
    c = rng.choice([0.2, 0.8], n)
    y = rng.random(n) < NULL.probability(s, c)
    t = moderation_test(s, y, c)
    assert t.restricted.model == fit_loyalty(s, y, c, moderated=False).model
    assert t.full.log_likelihood >= t.restricted.log_likelihood - 1e-9
    assert not t.restricted.moderated and t.full.moderated
    assert t.statistic == pytest.approx(
        2 * (t.full.log_likelihood - t.restricted.log_likelihood), abs=1e-8
    )


def test_needs_two_competition_levels() -> None:
    with pytest.raises(FitError, match="at least two levels"):
        moderation_test([1, 2, 3, 4, 5], [0, 0, 1, 1, 1], [0.5] * 5)


NO_FLOOR = LoyaltyModel(intercept=1.0, log_slope=0.0, floor_logit=-30.0)  # floor at 0


@pytest.mark.parametrize(
    ("truth", "usual_df"), [(NULL, 3), (NO_FLOOR, 2)], ids=["floor-interior", "floor-at-0"]
)
def test_nested_fits_with_one_parameterisation_hold_the_size(
    truth: LoyaltyModel, usual_df: int
) -> None:
    """Issue 13: 200 seeded surveys of 1,500 answers without moderation, floor interior and at 0.

    Both fits always share the floor's treatment (free in both: df 3; fixed at 0 in
    both: df 2; the floor is kept when significant under H0), so they are nested, the
    df is the one of the true model in most surveys, and the test rejects at 5% within
    the binomial band.
    """
    rng = np.random.default_rng(1313)
    s = np.tile(np.arange(1, 6), len(LEVELS))
    c = np.repeat(LEVELS, 5)
    total = np.full(len(s), 100)
    p = truth.probability(s, c)
    reps, rejections, dfs = 200, 0, []
    for _ in range(reps):
        t = moderation_test_table(s, c, rng.binomial(total, p), total)
        floor = "floor_logit" in t.full.parameter_names
        assert floor == ("floor_logit" in t.restricted.parameter_names)
        assert set(t.restricted.parameter_names) <= set(t.full.parameter_names)
        assert (
            t.df
            == (3 if floor else 2)
            == len(t.full.parameter_names) - len(t.restricted.parameter_names)
        )
        assert t.p_value == pytest.approx(stats.chi2.sf(t.statistic, t.df))
        rejections += t.rejects(0.05)
        dfs.append(t.df)
    assert dfs.count(usual_df) >= 0.8 * reps, dfs.count(usual_df)
    assert 0.02 * reps <= rejections <= 0.09 * reps, rejections
