"""Run every hostile case of every public name (not part of the gate); print the failures.

``.venv/bin/python tests/fuzz/survey.py [name-substring ...] > /tmp/fuzz-survey.txt``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import fuzzlib
import registry


def main(filters: list[str]) -> None:
    reg = fuzzlib.Registry.build(registry.HAND, registry.VALUES, registry.skip_reason)
    for key, why in sorted(reg.missing.items()):
        print(f"MISSING {key}: {why}", flush=True)
    for key in sorted(reg.calls):
        if filters and not any(f in key for f in filters):
            continue
        call = reg.calls[key]
        t = time.perf_counter()
        base = fuzzlib.run_case(key, call, None, None)
        if base:
            print(f"BASELINE {base} [from {call.source}]", flush=True)
            continue
        for label, value in reg.cases(key):
            fail = fuzzlib.run_case(key, call, label, value, seconds=3.0)
            if fail:
                print(f"FAIL {fail}", flush=True)
        print(f"DONE {key} {time.perf_counter() - t:.2f}s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
