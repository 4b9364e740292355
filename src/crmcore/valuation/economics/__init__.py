"""Unit economics and survey metrics: CAC, CLV:CAC, payback, sBG retention, NPS, CSAT.

* :mod:`.acquisition` — spend table, CAC per channel / cohort / blended;
* :mod:`.ratios` — CLV:CAC with unprofitable customers flagged, CAC payback;
* :mod:`.response` — channel response rates with intervals, reference ranges;
* :mod:`.sbg` — shifted-beta-geometric contractual retention, DERL;
* :mod:`.clv` — closed-form CLV, retention what-if, repurchase propensity;
* :mod:`.nps`, :mod:`.csat`, :mod:`.intervals` — survey statistics;
* :mod:`.coverage` — simulated coverage of the NPS intervals.

>>> from crmcore.valuation import fit_sbg, nps
>>> nps([10, 9, 3]).points
33.3...
"""

from __future__ import annotations

from crmcore.valuation.economics.acquisition import (
    ACQUISITION_CATEGORIES,
    CACReport,
    CACTable,
    SpendTable,
    acquisition_cost,
)
from crmcore.valuation.economics.clv import (
    RetentionWhatIf,
    repurchase_propensity,
    retention_clv,
    retention_what_if,
)
from crmcore.valuation.economics.coverage import nps_interval_coverage
from crmcore.valuation.economics.csat import (
    CSATComparison,
    CSATResult,
    CSATTable,
    compare_csat,
    csat,
    csat_by_group,
)
from crmcore.valuation.economics.intervals import (
    agresti_coull_interval,
    proportion_interval,
    wilson_interval,
)
from crmcore.valuation.economics.nps import (
    NPSComparison,
    NPSResult,
    NPSTable,
    compare_nps,
    nps,
    nps_by_group,
    nps_counts,
)
from crmcore.valuation.economics.ratios import (
    CLVCACReport,
    CLVCACTable,
    PaybackResult,
    cac_payback,
    clv_to_cac,
)
from crmcore.valuation.economics.response import (
    RESPONSE_BENCHMARKS,
    ResponseComparison,
    ResponseTable,
    channel_response,
    compare_response,
)
from crmcore.valuation.economics.sbg import SBGModel, SBGParams, fit_sbg, sbg_log_likelihood

__all__: list[str] = [
    "ACQUISITION_CATEGORIES",
    "RESPONSE_BENCHMARKS",
    "CACReport",
    "CACTable",
    "CLVCACReport",
    "CLVCACTable",
    "CSATComparison",
    "CSATResult",
    "CSATTable",
    "NPSComparison",
    "NPSResult",
    "NPSTable",
    "PaybackResult",
    "ResponseComparison",
    "ResponseTable",
    "RetentionWhatIf",
    "SBGModel",
    "SBGParams",
    "SpendTable",
    "acquisition_cost",
    "agresti_coull_interval",
    "cac_payback",
    "channel_response",
    "clv_to_cac",
    "compare_csat",
    "compare_nps",
    "compare_response",
    "csat",
    "csat_by_group",
    "fit_sbg",
    "nps",
    "nps_by_group",
    "nps_counts",
    "nps_interval_coverage",
    "proportion_interval",
    "repurchase_propensity",
    "retention_clv",
    "retention_what_if",
    "sbg_log_likelihood",
    "wilson_interval",
]
