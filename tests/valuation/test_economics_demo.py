"""The economics section of ``python -m crmcore demo``: deterministic, short, labelled."""

from __future__ import annotations

from crmcore.datasets import load_cdnow_sample
from crmcore.valuation.economics.demo import demo


def test_demo_output() -> None:
    log = load_cdnow_sample()
    first: list[str] = []
    second: list[str] = []
    demo(first.append, transactions=log)
    demo(second.append, transactions=log)
    assert first == second  # seeded
    assert len(first) <= 40
    text = "\n".join(first)
    assert "SYNTHETIC" in text  # synthetic data clearly labelled
    assert "alpha 0.704" in text and "beta 1.182" in text  # published sBG estimates
    assert "alpha 0.668" in text and "beta 3.806" in text
    assert "<- CLV < CAC" in text
