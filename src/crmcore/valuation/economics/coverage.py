"""Simulated coverage of the NPS confidence intervals (vectorized: thousands of surveys at once).

Draw ``surveys`` trinomial samples of ``n`` answers with true promoter share
``p`` and detractor share ``d``, compute each survey's interval with
:func:`~crmcore.valuation.economics.nps_counts`, and count how often it
contains the true score ``p − d``.

>>> c = nps_interval_coverage(200, 0.4, 0.2, surveys=2000, seed=1)
>>> 0.93 <= c <= 0.97
True
"""

from __future__ import annotations

import numpy as np

from crmcore.errors import ValidationError
from crmcore.options import MAX_PERIODS, as_count, as_probability, as_seed
from crmcore.valuation.economics.nps import nps_counts

__all__ = ["nps_interval_coverage"]


def nps_interval_coverage(
    n: int,
    promoters: float,
    detractors: float,
    *,
    surveys: int = 4000,
    seed: int = 0,
    confidence: float = 0.95,
    method: str = "adjusted-wald",
) -> float:
    """Share of ``surveys`` simulated surveys whose interval covers the true NPS.

    >>> nps_interval_coverage(30, 0.7, 0.5)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: true shares must satisfy p, d >= 0 and p + d <= 1: p=0.7, d=0.5
    """
    p = as_probability(promoters, name="promoters")
    d = as_probability(detractors, name="detractors")
    if p + d > 1 + 1e-12:
        raise ValidationError(
            f"true shares must satisfy p, d >= 0 and p + d <= 1: p={p:g}, d={d:g}"
        )
    n = as_count(n, name="n", low=1, high=MAX_PERIODS)
    surveys = as_count(surveys, name="surveys", low=1, high=MAX_PERIODS)
    rng = np.random.default_rng(as_seed(seed))
    q = max(0.0, 1.0 - p - d)
    draws = rng.multinomial(n, [p, q, 1.0 - p - q], size=surveys)
    t = nps_counts(draws[:, 0], draws[:, 1], draws[:, 2], confidence=confidence, method=method)
    truth = p - d
    return float(np.mean((t.low <= truth + 1e-12) & (truth - 1e-12 <= t.high)))
