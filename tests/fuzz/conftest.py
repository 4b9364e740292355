"""The fuzz test's session registry (harvested once: the doctests take a few seconds)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
