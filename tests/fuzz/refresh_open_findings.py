"""Update ``OPEN_FINDINGS`` in the fuzz test from a JUnit XML of a full fuzz run (not part of the gate).

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/fuzz --junitxml=/tmp/fuzz.xml
    .venv/bin/python tests/fuzz/refresh_open_findings.py /tmp/fuzz.xml
    .venv/bin/python -m ruff format tests/fuzz

Starting from the dict in the file: names that XPASSed (fixed) and names no
longer fuzzed are removed, names that failed are added with their failure;
every other entry is kept as written.
"""

from __future__ import annotations

import ast
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

TEST = Path(__file__).with_name("test_fuzz_public_api.py")
_ID = re.compile(r"test_public_name_survives_hostile_arguments\[(.+)\]$")


def refresh(xml: str, test: Path = TEST) -> str:
    src = test.read_text()
    a = src.index("OPEN_FINDINGS: dict[str, str] = {")
    end = src.index("\n}\n", a) + 3
    current: dict[str, str] = ast.literal_eval(src[a:end].split("=", 1)[1].strip())
    seen: set[str] = set()
    fixed: set[str] = set()
    new: dict[str, str] = {}
    for tc in ET.parse(xml).getroot().iter("testcase"):
        m = _ID.match(tc.get("name", ""))
        if not m:
            continue
        key = m.group(1)
        seen.add(key)
        failure = tc.find("failure")
        if failure is None:
            continue
        msg = failure.get("message") or ""
        if "XPASS(strict)" in msg:
            fixed.add(key)
            continue
        if "no valid call" in msg:
            continue  # a registry problem: the coverage test reports it
        msg = msg.split("\nassert")[0].strip()
        msg = re.sub(r"^AssertionError: ", "", msg).replace(key + ": ", "", 1)
        msg = " ".join(msg.split())
        new[key] = msg if len(msg) <= 200 else msg[:197] + "..."
    out = {k: v for k, v in current.items() if k not in fixed and k in seen}
    out.update(new)
    body = "".join(f"    {k!r}: {v!r},\n" for k, v in sorted(out.items()))
    test.write_text(src[:a] + "OPEN_FINDINGS: dict[str, str] = {\n" + body + "}\n" + src[end:])
    return (
        f"{len(out)} open findings: {len(fixed & set(current))} fixed, "
        f"{len(set(new) - set(current))} new, {len(set(current) - seen)} no longer fuzzed"
    )


if __name__ == "__main__":
    print(refresh(sys.argv[1]))
