"""The main job end to end: ``python -m crmcore demo`` on a fresh SQLite file, then again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crmcore.cli import SECTIONS, main


def test_demo_runs_every_section_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite"
    assert main(["demo", "--db", str(db)]) == 0
    first = capsys.readouterr().out
    assert "customers                 2,357" in first
    assert "transactions              6,919" in first
    for _module, title in SECTIONS.values():
        assert f"== {title}" in first
    assert "Traceback" not in first
    assert main(["demo", "--db", str(db), "--sections", "summary"]) == 0
    second = capsys.readouterr().out
    assert "transactions              6,919" in second  # the re-run stored nothing twice


def test_unknown_section_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--db", str(tmp_path / "x.sqlite"), "--sections", "nope"]) == 2
    assert "unknown section(s) ['nope']" in capsys.readouterr().out


def test_module_entry_point_prints_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "crmcore", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("crmcore ")
