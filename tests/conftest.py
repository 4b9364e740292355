"""Shared test configuration: hypothesis profiles.

``CI=true`` (set by .ci/run) or ``HYPOTHESIS_PROFILE=ci`` (set by ``python3 tasks.py test``)
selects the "ci" profile: derandomized, so the gate is reproducible on every machine, with
no per-example deadline (2 shared cores). Plain ``pytest`` uses the randomised "dev" profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))
