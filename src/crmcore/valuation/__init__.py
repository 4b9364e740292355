"""Customer value: transaction summaries, buy-till-you-die models, CLV, CAC, retention, NPS.

The public names of both halves are re-exported here:
:mod:`crmcore.valuation.btyd` (summaries, BG/NBD, MBG/NBD, Pareto/NBD,
Gamma-Gompertz/NBD, BG/BB, Gamma-Gamma, discounted CLV) and
:mod:`crmcore.valuation.economics` (CAC, CLV:CAC, payback,
shifted-beta-geometric retention, NPS and CSAT statistics).
"""

from __future__ import annotations

from crmcore.valuation import btyd as _btyd
from crmcore.valuation import economics as _economics
from crmcore.valuation.btyd import *  # noqa: F403 (the subpackage's __all__ is the public API)
from crmcore.valuation.economics import *  # noqa: F403 (same reason)

__all__ = [*_btyd.__all__, *_economics.__all__]
