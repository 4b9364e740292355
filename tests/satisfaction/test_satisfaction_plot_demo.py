"""The optional plot and the demo section."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from crmcore.datasets import load_cdnow_sample
from crmcore.errors import MissingDependencyError, ValidationError
from crmcore.satisfaction import plot_curves, preset_curve, preset_model
from crmcore.satisfaction.demo import demo


def test_plot_saves_a_small_image(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "curves.png"
    fig = plot_curves({"high": preset_curve("high"), "mid": preset_model().curve(0.5)}, path=out)
    assert out.stat().st_size > 1_000
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["high", "mid"]


def test_plot_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"crmcore\[plot\]"):
        plot_curves({"high": preset_curve("high")})


def test_plot_rejects_non_curves() -> None:
    with pytest.raises(ValidationError, match="'curves'"):
        plot_curves({"x": 0.5})


def test_demo_section_is_short_labelled_and_deterministic() -> None:
    log = load_cdnow_sample()
    first: list[str] = []
    demo(first.append, transactions=log)
    second: list[str] = []
    demo(second.append, transactions=log)
    assert first == second
    assert len(first) <= 40
    text = "\n".join(first)
    assert "Synthetic" in text and "hostages" in text and "LR chi2(3)" in text
