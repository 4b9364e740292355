"""Preset funnels from the seeds and common practice.

* :data:`FOUR_PHASES` — interest & needs gathering → solution design →
  closing → follow-up (the win), which opens the next cycle: "CRM has only
  semicolons, no full stops".
* :data:`TOP_IN_BEST` — TOP (filtered prospects) → IN (visited, quoted) →
  BEST (negotiating) → WIN, with LOST as the exit from any open stage.
* :data:`B2B` — lead → qualified → proposal → negotiation → won / lost, with
  amount and expected close date required before "proposal" and a lost
  reason required for "lost".

>>> [f.name for f in PRESETS]
['four-phase', 'top-in-best', 'b2b']
"""

from __future__ import annotations

from crmcore.pipeline.funnel import FollowUp, ForecastCategory, Funnel, RequireFields, RequireReason

__all__ = ["B2B", "FOUR_PHASES", "LOST_REASONS", "PRESETS", "TOP_IN_BEST"]

LOST_REASONS: tuple[str, ...] = ("price", "competitor", "no budget", "no decision", "timing", "fit")
"""A default list of lost reasons ("why not")."""

FOUR_PHASES: Funnel = Funnel.linear(
    "four-phase",
    {"needs": 0.1, "design": 0.3, "closing": 0.7},
    won="follow_up",
    categories={"design": ForecastCategory.BEST_CASE, "closing": ForecastCategory.COMMIT},
    guards={"lost": (RequireReason(),)},
    follow_up=FollowUp(stage="needs", kind="repurchase"),
    description=(
        "The seeds' four phases: interest & needs gathering, solution design, closing, "
        "follow-up; a win enters follow-up and opens the next opportunity."
    ),
)
"""Needs gathering → solution design → closing → follow-up (won; opens a repurchase)."""

TOP_IN_BEST: Funnel = Funnel.linear(
    "top-in-best",
    {"TOP": 0.1, "IN": 0.3, "BEST": 0.7},
    won="WIN",
    lost="LOST",
    categories={"IN": ForecastCategory.BEST_CASE, "BEST": ForecastCategory.COMMIT},
    guards={"LOST": (RequireReason(),)},
    description="TOP (filtered prospects) → IN (visited, quoted) → BEST (negotiating) → WIN; LOST from any open stage.",
)
"""TOP → IN → BEST → WIN, LOST from any open stage."""

B2B: Funnel = Funnel.linear(
    "b2b",
    {"lead": 0.05, "qualified": 0.2, "proposal": 0.4, "negotiation": 0.7},
    categories={
        "proposal": ForecastCategory.BEST_CASE,
        "negotiation": ForecastCategory.COMMIT,
    },
    guards={
        "proposal": (RequireFields("amount", "expected_close"),),
        "lost": (RequireReason(),),
    },
    follow_up=FollowUp(stage="lead", kind="cross-sell"),
    description="A common B2B funnel: lead → qualified → proposal → negotiation → won / lost.",
)
"""Lead → qualified → proposal → negotiation → won / lost."""

PRESETS: tuple[Funnel, ...] = (FOUR_PHASES, TOP_IN_BEST, B2B)
"""Every preset, in the order above."""
