"""Unit economics and survey metrics: CAC, CLV:CAC, payback, sBG retention, NPS, CSAT."""

from __future__ import annotations

__all__: list[str] = []
