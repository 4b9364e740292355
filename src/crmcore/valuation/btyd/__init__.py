"""Buy-till-you-die models: summaries, BG/NBD, MBG/NBD, Pareto/NBD, BG/BB, Gamma-Gamma, CLV."""

from __future__ import annotations

from crmcore.valuation.btyd.bgnbd import (
    BGNBDModel,
    BGNBDParams,
    MBGNBDModel,
    fit_bgnbd,
    fit_mbgnbd,
)

__all__: list[str] = [
    "BGNBDModel",
    "BGNBDParams",
    "MBGNBDModel",
    "fit_bgnbd",
    "fit_mbgnbd",
]
