"""Packaging metadata agrees with itself: licence, version, classifiers, what ships.

Read from the source tree only (no build, no network): the wheel and sdist built from
this pyproject hold what these checks name (see benchmarks/README.md, "Packaging").
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "crmcore"


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return data


def test_license_file_is_the_declared_mit_license(project: dict[str, Any]) -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "WITHOUT WARRANTY OF ANY KIND" in text
    assert project["project"]["license"] == "MIT"
    assert "LICENSE" in project["project"]["license-files"]
    classifiers = project["project"]["classifiers"]
    licences = [c for c in classifiers if c.startswith("License ::")]
    assert licences == ["License :: OSI Approved :: MIT License"]


def test_version_has_one_source(project: dict[str, Any]) -> None:
    assert "version" in project["project"]["dynamic"]
    assert "version" not in project["project"]
    assert project["tool"]["hatch"]["version"]["path"] == "src/crmcore/__init__.py"
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    versions = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
        and isinstance(node.value, ast.Constant)
    ]
    assert len(versions) == 1
    version = versions[0]
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.dev\d+)?", version)
    # no second literal of the version anywhere in the package: everything imports __version__
    repeated = [
        str(p.relative_to(ROOT))
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" or p.parent != PACKAGE
        if re.search(rf"""["']{re.escape(version)}["']""", p.read_text(encoding="utf-8"))
    ]
    assert repeated == []


def test_python_classifiers_match_requires_python(project: dict[str, Any]) -> None:
    meta = project["project"]
    minimum = re.fullmatch(r">=3\.(\d+)", meta["requires-python"])
    assert minimum is not None
    listed = sorted(
        int(m.group(1))
        for c in meta["classifiers"]
        if (m := re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c))
    )
    assert listed == list(range(int(minimum.group(1)), 14))


def test_classifiers_cover_every_family(project: dict[str, Any]) -> None:
    classifiers = project["project"]["classifiers"]
    assert classifiers == sorted(classifiers)
    for family in (
        "Development Status ::",
        "Intended Audience ::",
        "License ::",
        "Operating System ::",
        "Programming Language ::",
        "Topic ::",
        "Typing :: Typed",
    ):
        assert any(c.startswith(family) for c in classifiers), family


def test_project_urls(project: dict[str, Any]) -> None:
    urls = project["project"]["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Changelog", "Issues"}
    assert all(u.startswith("https://") for u in urls.values())


def test_what_the_wheel_and_sdist_ship(project: dict[str, Any]) -> None:
    build = project["tool"]["hatch"]["build"]["targets"]
    assert build["wheel"]["packages"] == ["src/crmcore"]
    assert (PACKAGE / "py.typed").is_file()
    data = {p.name for p in (PACKAGE / "datasets").iterdir()}
    assert {"CDNOW_sample.txt", "donations.csv"} <= data
    sdist = set(build["sdist"]["include"])
    assert {"src", "tests", "docs", "LICENSE", "README.md", "CHANGELOG.md"} <= sdist
    for name in sdist:
        assert (ROOT / name).exists(), name
