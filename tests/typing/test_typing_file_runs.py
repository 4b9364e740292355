"""The typing exercise file also runs (its types are checked by mypy in the gate)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def test_typing_exercise_runs() -> None:
    path = Path(__file__).with_name("check_public_api.py")
    spec = importlib.util.spec_from_file_location("check_public_api", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.exercise()
    assert len(out) == 9
    assert module.exercise_pipeline()[-1] is True  # replay rebuilds the stored deal
    assert module.exercise_report()[-1] == 8  # the report's progress: data, then 6 sections
