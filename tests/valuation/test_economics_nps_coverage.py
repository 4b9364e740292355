"""Coverage of the nominal 95% NPS intervals, by simulation (fixed seed) and exact enumeration.

Simulated surveys are trinomial draws; each interval is computed with the
public vectorized ``nps_counts``. With 4,000 surveys per point the Monte Carlo
standard error of a coverage near 0.95 is about 0.0034, so the 93–97% band is
about six standard errors wide on each side of nominal.

Known exceptions (documented in docs/surveys.md, found by exact enumeration
over all trinomial outcomes): at n = 30 the adjusted-Wald interval is
*conservative* where promoters or detractors are very rare — p = d = 0.05
covers 99.1%, and (p, d) = (0.05, 0.90) or (0.90, 0.05) cover 97.3%. They are
checked to stay conservative (>= 95%) rather than inside the band.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gammaln

from crmcore.valuation import nps_counts

SURVEYS = 4000
SIZES = (30, 100, 1000, 10_000)
SHARES = [
    (0.05, 0.05),
    (0.05, 0.20),
    (0.05, 0.45),
    (0.05, 0.90),
    (0.20, 0.05),
    (0.20, 0.20),
    (0.20, 0.45),
    (0.45, 0.05),
    (0.45, 0.20),
    (0.45, 0.45),
    (0.30, 0.60),
    (0.60, 0.30),
    (0.90, 0.05),
]
CONSERVATIVE_AT_30 = {(0.05, 0.05), (0.05, 0.90), (0.90, 0.05)}


def _simulated_coverage(n: int, p: float, d: float, seed: int, method: str) -> float:
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, [p, max(0.0, 1 - p - d), d], size=SURVEYS)
    t = nps_counts(draws[:, 0], draws[:, 1], draws[:, 2], method=method)
    truth = p - d
    return float(np.mean((t.low <= truth + 1e-12) & (truth - 1e-12 <= t.high)))


@pytest.mark.parametrize("n", SIZES)
def test_adjusted_wald_covers_93_to_97_percent(n: int) -> None:
    failures = []
    for k, (p, d) in enumerate(SHARES):
        cov = _simulated_coverage(n, p, d, seed=1000 * n + k, method="adjusted-wald")
        if n == 30 and (p, d) in CONSERVATIVE_AT_30:
            ok = 0.95 <= cov <= 0.995
        else:
            ok = 0.93 <= cov <= 0.97
        if not ok:
            failures.append((p, d, cov))
    assert not failures, f"n={n}: coverage outside the band at {failures}"


def test_wald_undercovers_where_adjusted_wald_does_not() -> None:
    """The comparison the docs report: plain Wald falls well below 95% for small n and
    lopsided shares, which is why the adjusted interval is the default."""
    wald = _simulated_coverage(30, 0.05, 0.90, seed=7, method="wald")
    adjusted = _simulated_coverage(30, 0.05, 0.90, seed=7, method="adjusted-wald")
    assert wald < 0.92 < 0.95 <= adjusted


def _exact_coverage(n: int, p: float, d: float) -> float:
    xp, xd = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = xp + xd <= n
    xp, xd = xp[keep], xd[keep]
    xq = n - xp - xd
    q = 1 - p - d
    logpmf = (
        gammaln(n + 1)
        - gammaln(xp + 1)
        - gammaln(xd + 1)
        - gammaln(xq + 1)
        + xp * np.log(p)
        + xd * np.log(d)
        + xq * np.log(q)
    )
    t = nps_counts(xp, xq, xd)
    hit = (t.low <= p - d + 1e-12) & (p - d - 1e-12 <= t.high)
    return float(np.exp(logpmf)[hit].sum())


@pytest.mark.parametrize(("p", "d"), [(0.2, 0.2), (0.45, 0.45), (0.05, 0.45), (0.3, 0.6)])
def test_exact_coverage_at_n_30(p: float, d: float) -> None:
    assert 0.93 <= _exact_coverage(30, p, d) <= 0.97
