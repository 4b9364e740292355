"""Buy-till-you-die models: summaries, BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gompertz/NBD, BG/BB,
Gamma-Gamma, CLV.

>>> from crmcore.valuation import fit_bgnbd, summarize_transactions
>>> callable(fit_bgnbd) and callable(summarize_transactions)
True
"""

from __future__ import annotations

from crmcore.valuation.btyd._family import PurchaseModel, PurchaseModelBase
from crmcore.valuation.btyd.bgbb import BGBBModel, BGBBParams, fit_bgbb
from crmcore.valuation.btyd.bgnbd import (
    BGNBDModel,
    BGNBDParams,
    MBGNBDModel,
    fit_bgnbd,
    fit_mbgnbd,
)
from crmcore.valuation.btyd.clv import customer_lifetime_value
from crmcore.valuation.btyd.covariates import CovariateEffects
from crmcore.valuation.btyd.gamma_gamma import GammaGammaModel, GammaGammaParams, fit_gamma_gamma
from crmcore.valuation.btyd.ggompertz_nbd import (
    GGompertzNBDModel,
    GGompertzNBDParams,
    fit_ggompertz_nbd,
    simulate_ggompertz_nbd,
)
from crmcore.valuation.btyd.pareto_nbd import ParetoNBDModel, ParetoNBDParams, fit_pareto_nbd
from crmcore.valuation.btyd.scores import CustomerScores, score_customers
from crmcore.valuation.btyd.simulate import (
    simulate_bgbb,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)
from crmcore.valuation.btyd.summary import (
    RFMSummary,
    repeat_transaction_days,
    summarize_arrays,
    summarize_transactions,
)
from crmcore.valuation.btyd.tracking import TrackingCurves, tracking_curves

__all__: list[str] = [
    "BGBBModel",
    "BGBBParams",
    "BGNBDModel",
    "BGNBDParams",
    "CovariateEffects",
    "CustomerScores",
    "GGompertzNBDModel",
    "GGompertzNBDParams",
    "GammaGammaModel",
    "GammaGammaParams",
    "MBGNBDModel",
    "ParetoNBDModel",
    "ParetoNBDParams",
    "PurchaseModel",
    "PurchaseModelBase",
    "RFMSummary",
    "TrackingCurves",
    "customer_lifetime_value",
    "fit_bgbb",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_ggompertz_nbd",
    "fit_mbgnbd",
    "fit_pareto_nbd",
    "repeat_transaction_days",
    "score_customers",
    "simulate_bgbb",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_ggompertz_nbd",
    "simulate_mbgnbd",
    "simulate_pareto_nbd",
    "summarize_arrays",
    "summarize_transactions",
    "tracking_curves",
]
