#!/usr/bin/env python3
"""Bootstrap and run crmcore's two everyday jobs with nothing but Python 3.11+ and pip.

    python3 tasks.py demo    # the main job: CDNOW into SQLite, then every analysis
    python3 tasks.py test    # the whole gate: ruff, ruff format, mypy --strict, API reference,
                             # pytest + doctests
    python3 tasks.py api DIR # the rendered API reference (pdoc, HTML) into DIR

Both create ``.venv`` beside this file on first use and install crmcore
(editable, with the ``dev`` extra) into it; later runs reinstall only when
``pyproject.toml`` changed. Extra arguments after ``test`` go to pytest, and
after ``demo`` to ``python -m crmcore demo``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
import warnings
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


# Public names the API check lets pass without a docstring, each with its reason.
UNDOCUMENTED_OK = {
    # a contract test's name is its description (pytest prints it on failure)
    "crmcore.testing.contract.RepositoryContract.test_*": "contract tests: the name says it",
    # hypothesis rules and invariants: the name is the step that the failing run prints
    "crmcore.testing.stateful.RepositoryStateMachine.*": "state machine steps: the name says it",
    # known gap: the repository protocols' per-method docstrings (the class docstring
    # documents the protocol); listed so that no new gap can join them
    "crmcore.repositories.*Repository.*": "known gap, documented by the protocol's class",
}


def api(out: Path) -> int:
    """Render crmcore's API reference with pdoc into ``out``; fail on a pdoc warning (other
    than an annotation it shows as written) or a public module, class, function or method
    without a docstring. Runs inside .venv (pdoc is in the ``dev`` extra)."""
    import pkgutil

    import pdoc
    import pdoc.doc
    import pdoc.render

    import crmcore

    public = (
        m.name
        for m in pkgutil.iter_modules(crmcore.__path__, "crmcore.")
        if not m.name.rpartition(".")[2].startswith("_")
    )
    modules = ["crmcore", *sorted(public)]
    # no source listings and no search index: both are slow to build and add nothing to check
    pdoc.render.configure(docformat="restructuredtext", show_source=False, search=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*modules, output_directory=out)
    problems = [
        f"pdoc: {w.message}"
        for w in caught
        if not str(w.message).startswith("Error parsing type annotation")
    ]

    def visit(doc: pdoc.doc.Namespace) -> None:  # type: ignore[type-arg]
        for member in doc.own_members:
            if member.name.startswith("_") or not isinstance(
                member, pdoc.doc.Module | pdoc.doc.Class | pdoc.doc.Function
            ):
                continue
            name = member.fullname
            if not member.docstring.strip() and not any(
                fnmatch.fnmatchcase(name, pat) for pat in UNDOCUMENTED_OK
            ):
                problems.append(f"no docstring: {name}")
            if isinstance(member, pdoc.doc.Class):
                visit(member)

    for name in modules:
        module = pdoc.doc.Module.from_name(name)
        if not module.docstring.strip():
            problems.append(f"no docstring: {name}")
        visit(module)
    pages = sum(1 for _ in out.rglob("*.html"))
    for p in problems:
        print(p)
    print(
        f"API reference: {len(modules)} modules, {pages} pages in {out}; {len(problems)} problems"
    )
    return 1 if problems else 0


SERVER_TESTS = (
    "tests/repositories",
    "tests/django_app",
    "tests/edges/test_edges_storable.py",
    "tests/dask/test_dask_recipes.py",
    "tests/relationship",
)
"""The tests that use the PostgreSQL and MariaDB servers: one shard runs them all, so no two
processes share a server's test database."""

SHARD_WITH_SERVERS = (*SERVER_TESTS, "tests/valuation")
"""The first of the two pytest processes (about half of the suite's time: 8:02 against 4:45 with
tests/satisfaction here too); the second runs the rest of ``testpaths``."""


def _pytest_in_shards() -> int:
    """The whole suite as two pytest processes at once (the gate's machine has two cores);
    each one's output is printed whole when both are done; non-zero if either failed."""
    rest = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "tests").iterdir())
        if (p.is_dir() and not p.name.startswith((".", "_")) and p.name != "__pycache__")
        and str(p.relative_to(ROOT)) not in SHARD_WITH_SERVERS
    ]
    ignore = [f"--ignore={t}" for t in SHARD_WITH_SERVERS if t.count("/") > 1]
    shards = [list(SHARD_WITH_SERVERS), [*rest, *ignore, "src/crmcore", "docs", "README.md"]]
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in shards]
        procs = []
        for args, log in zip(shards, logs, strict=True):
            print("+", PY, "-m pytest", " ".join(args), flush=True)
            cmd = [str(PY), "-m", "pytest", *args]
            procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        codes = [proc.wait() for proc in procs]
        for i, log in enumerate(logs):
            log.seek(0)
            print(f"\n--- pytest shard {i + 1} of {len(shards)} (exit {codes[i]})", flush=True)
            sys.stdout.write(log.read())
    # exit 5 is "no tests collected": a shard without tests is no failure
    return 0 if all(c in (0, 5) for c in codes) else 1


def test(extra: list[str]) -> int:
    """The gate: every step runs; the exit code is non-zero if any failed."""
    steps: list[tuple[str, list[str | Path]]] = [
        ("ruff check", [PY, "-m", "ruff", "check", "src", "tests", "benchmarks", "tasks.py"]),
        (
            "ruff format --check",
            [PY, "-m", "ruff", "format", "--check", "src", "tests", "benchmarks", "tasks.py"],
        ),
        ("mypy --strict src", [PY, "-m", "mypy", "--strict", "src", "tests/typing"]),
        ("API reference (pdoc)", [PY, ROOT / "tasks.py", "api"]),
    ]
    # the gate is reproducible: hypothesis draws the same examples on every machine (the "ci"
    # profile of tests/conftest.py); run pytest directly for the randomised "dev" profile
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
    failed = []
    for name, cmd in steps:
        print(f"\n=== {name}", flush=True)
        if _run(*cmd) != 0:
            failed.append(name)
    name = "pytest (tests, doctests in src and docs)"
    print(f"\n=== {name}", flush=True)
    if (_run(PY, "-m", "pytest", *extra) if extra else _pytest_in_shards()) != 0:
        failed.append(name)
    print()
    if failed:
        print("gate FAILED: " + ", ".join(failed))
        return 1
    print("gate passed: ruff, ruff format, mypy --strict, API reference, pytest")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "setup", "api"}:
        print(__doc__)
        return 2
    ensure_env()
    if argv[0] == "api":
        if Path(sys.prefix).resolve() != VENV.resolve():  # pdoc and crmcore live in .venv
            return _run(PY, ROOT / "tasks.py", *argv)
        if len(argv) > 1:
            return api(Path(argv[1]).resolve())
        tmp = Path(tempfile.mkdtemp(prefix="crmcore-api-"))
        try:
            return api(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if argv[0] == "test":
        return test(argv[1:])
    if argv[0] == "demo":
        return _run(PY, "-m", "crmcore", "demo", *argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
