#!/usr/bin/env python3
"""Bootstrap and run crmcore's two everyday jobs with nothing but Python 3.11+ and pip.

    python3 tasks.py demo    # the main job: CDNOW into SQLite, then every analysis
    python3 tasks.py test    # the whole gate: ruff, ruff format, mypy --strict, pytest + doctests

Both create ``.venv`` beside this file on first use and install crmcore
(editable, with the ``dev`` extra) into it; later runs reinstall only when
``pyproject.toml`` changed. Extra arguments after ``test`` go to pytest, and
after ``demo`` to ``python -m crmcore demo``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".crmcore-installed"


def _run(*cmd: str | Path) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT)


def ensure_env() -> None:
    """Create the virtual environment and install crmcore[dev] unless already current."""
    if sys.version_info < (3, 11):  # noqa: UP036 (this file runs under whatever python3 the user has)
        sys.exit(f"crmcore needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    quiet = ["-q"] if os.environ.get("CI") else []
    if _run(PY, "-m", "pip", "install", *quiet, "--upgrade", "pip") != 0:
        sys.exit("could not upgrade pip in .venv")
    if _run(PY, "-m", "pip", "install", *quiet, "-e", ".[dev]") != 0:
        sys.exit("could not install crmcore[dev] into .venv")
    STAMP.write_text(digest)


def test(extra: list[str]) -> int:
    """The gate: every step runs; the exit code is non-zero if any failed."""
    steps: list[tuple[str, list[str | Path]]] = [
        ("ruff check", [PY, "-m", "ruff", "check", "src", "tests", "benchmarks", "tasks.py"]),
        (
            "ruff format --check",
            [PY, "-m", "ruff", "format", "--check", "src", "tests", "benchmarks", "tasks.py"],
        ),
        ("mypy --strict src", [PY, "-m", "mypy", "--strict", "src", "tests/typing"]),
        ("pytest (tests, doctests in src and docs)", [PY, "-m", "pytest", *extra]),
    ]
    # the gate is reproducible: hypothesis draws the same examples on every machine (the "ci"
    # profile of tests/conftest.py); run pytest directly for the randomised "dev" profile
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
    failed = []
    for name, cmd in steps:
        print(f"\n=== {name}", flush=True)
        if _run(*cmd) != 0:
            failed.append(name)
    print()
    if failed:
        print("gate FAILED: " + ", ".join(failed))
        return 1
    print("gate passed: ruff, ruff format, mypy --strict, pytest")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "setup"}:
        print(__doc__)
        return 2
    ensure_env()
    if argv[0] == "test":
        return test(argv[1:])
    if argv[0] == "demo":
        return _run(PY, "-m", "crmcore", "demo", *argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
