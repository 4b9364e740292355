"""The demo section: short, labelled synthetic owners, both engines agree on CDNOW."""

from __future__ import annotations

from crmcore.anomaly.demo import demo
from crmcore.datasets import load_cdnow_sample


def test_demo_section_is_short_and_the_engines_agree():
    lines: list[str] = []
    demo(lines.append, transactions=load_cdnow_sample())
    assert len(lines) <= 40
    text = "\n".join(lines)
    assert "identical to the batch alerts" in text
    assert "synthetic" in text
    assert "team:unassigned" in text
