"""Buy-till-you-die models: summaries, BG/NBD, MBG/NBD, Pareto/NBD, BG/BB, Gamma-Gamma, CLV."""

from __future__ import annotations

__all__: list[str] = []
