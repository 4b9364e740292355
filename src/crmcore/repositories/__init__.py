"""Repositories: protocols, unit of work, memory and SQL backends."""

from __future__ import annotations
