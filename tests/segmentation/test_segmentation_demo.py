"""The demo section runs on the CDNOW sample, stays short, and labels synthetic data."""

from __future__ import annotations

from crmcore.datasets import load_cdnow_sample
from crmcore.segmentation.demo import demo


def test_demo_section():
    lines: list[str] = []
    demo(lines.append, transactions=load_cdnow_sample())
    text = "\n".join(lines)
    assert len(lines) <= 40
    assert "SYNTHETIC" in text
    assert "whale curve" in text
    assert "champions" in text
    assert "80% of revenue comes from the top" in text
