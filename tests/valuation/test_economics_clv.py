"""Closed-form CLV, retention what-if and repurchase propensity (fake and real purchase models)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.valuation import (
    PurchaseModel,
    repurchase_propensity,
    retention_clv,
    retention_what_if,
)


def _brute(m: float, r: float, d: float, horizon: int) -> float:
    """Margin at the end of each period t = 1..H, survival r^t, discount (1+d)^-t."""
    q = r / (1 + d)
    return sum(m * q**t for t in range(1, horizon + 1))


def test_textbook_value() -> None:
    """m = 100, r = 0.8, d = 0.1: m r / (1 + d - r) = 80 / 0.3."""
    assert retention_clv(100.0, 0.8, 0.1) == pytest.approx(266.6666667)


@settings(max_examples=60)
@given(st.floats(0, 1000), st.floats(0, 0.99), st.floats(0, 0.5), st.integers(0, 60))
def test_against_brute_force_sums(m: float, r: float, d: float, h: int) -> None:
    assert retention_clv(m, r, d, horizon=h) == pytest.approx(_brute(m, r, d, h), abs=1e-9)
    # the infinite horizon is the limit of long horizons
    assert retention_clv(m, r, d) == pytest.approx(_brute(m, r, d, 4000), rel=1e-6, abs=1e-9)


def test_edge_cases() -> None:
    assert retention_clv(10.0, 1.0, 0.0, horizon=5) == 50.0
    assert retention_clv(10.0, 0.0, 0.1) == 0.0
    assert retention_clv([10, 20], [0.5, 0.5], 0.0).tolist() == [10.0, 20.0]
    with pytest.raises(ValidationError, match="infinite"):
        retention_clv(10.0, 1.0, 0.0)
    with pytest.raises(ValidationError, match="'retention' must be in"):
        retention_clv(10.0, -0.1, 0.0)
    with pytest.raises(ValidationError, match="'discount' must be >= 0"):
        retention_clv(10.0, 0.5, -0.2)
    with pytest.raises(ValidationError, match="'horizon'"):
        retention_clv(10.0, 0.5, 0.1, horizon=-1)
    with pytest.raises(ValidationError, match="same length: margin has 2, retention has 3"):
        retention_clv([1, 2], [0.5, 0.5, 0.5], 0.1)


def test_what_if_per_cohort() -> None:
    w = retention_what_if([100.0, 50.0], [0.6, 0.8], 0.1, [1000, 400], points=5)
    before = [100 * 0.6 / 0.5, 50 * 0.8 / 0.3]
    after = [100 * 0.65 / 0.45, 50 * 0.85 / 0.25]
    assert w.clv_before.tolist() == pytest.approx(before)
    assert w.clv_after.tolist() == pytest.approx(after)
    assert w.profit_effect.tolist() == pytest.approx(
        [(after[0] - before[0]) * 1000, (after[1] - before[1]) * 400]
    )
    assert w.total_effect == pytest.approx(float(w.profit_effect.sum()))
    # DOMAIN.md 2: small retention gains move profit a lot; more so at high retention
    assert w.relative_change[1] > w.relative_change[0] > 0.05
    with pytest.raises(ValidationError, match="outside"):
        retention_what_if(100.0, 0.98, 0.1, 10, points=5)


class _Fake:
    """P(repurchase) = 1 - exp(-t * frequency / T): a stand-in with known answers."""

    def probability_of_repurchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        return 1.0 - np.exp(-t * np.asarray(frequency) / np.asarray(T))


def test_propensity_delegates_to_the_model() -> None:
    p = repurchase_propensity(_Fake(), 2.0, [0, 1, 4], [0, 3, 8], [10, 10, 8])
    assert p.tolist() == pytest.approx([0.0, 1 - np.exp(-0.2), 1 - np.exp(-1.0)])
    assert not isinstance(_Fake(), PurchaseModel)  # duck-typed: only the one method is used


def test_propensity_bad_input_and_bad_models() -> None:
    with pytest.raises(ValidationError, match="'recency' must be <= 'T'"):
        repurchase_propensity(_Fake(), 1.0, [1], [11], [10])
    with pytest.raises(ValidationError, match="'frequency' must be >= 0"):
        repurchase_propensity(_Fake(), 1.0, [-1], [1], [10])
    with pytest.raises(ValidationError, match="'t' must be > 0"):
        repurchase_propensity(_Fake(), 0.0, [1], [1], [10])
    with pytest.raises(ValidationError, match="same length"):
        repurchase_propensity(_Fake(), 1.0, [1, 2], [1], [10])
    with pytest.raises(ValidationError, match="must offer probability_of_repurchase"):
        repurchase_propensity(object(), 1.0, [1], [1], [10])  # type: ignore[arg-type]  # deliberately not a model

    class Broken:
        def probability_of_repurchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
            return np.full(len(frequency), 1.5)

    with pytest.raises(ValidationError, match="non-probability"):
        repurchase_propensity(Broken(), 1.0, [1], [1], [10])


def test_propensity_with_a_fitted_bgnbd_model() -> None:
    """The real purchase model: BG/NBD fitted on the CDNOW calibration summary. Cross-check
    with the BG/NBD algebra (Fader, Hardie & Lee 2005): P(alive) times the probability of at
    least one Poisson arrival in the next t weeks, 1 - ((alpha + T)/(alpha + T + t))^(r + x)."""
    from crmcore.datasets import load_cdnow_summary
    from crmcore.valuation import btyd

    if not hasattr(btyd, "fit_bgnbd"):
        pytest.skip("crmcore.valuation.btyd.fit_bgnbd is not available yet")
    s = load_cdnow_summary()
    model = btyd.fit_bgnbd(s["x"], s["t_x"], s["T"])
    p = repurchase_propensity(model, 39.0, s["x"], s["t_x"], s["T"])
    assert p.shape == s["x"].shape and np.all((p >= 0) & (p <= 1))
    prm = model.params
    x, tx, T = s["x"], s["t_x"], s["T"]
    alive = model.probability_alive(x, tx, T)
    arrive = 1 - ((prm.alpha + T) / (prm.alpha + T + 39.0)) ** (prm.r + x)
    assert np.allclose(p, alive * arrive)
    # customers with many recent purchases are likelier to buy again than lapsed ones
    assert p[(x >= 5) & (T - tx < 4)].mean() > p[(x >= 1) & (T - tx > 30)].mean()
