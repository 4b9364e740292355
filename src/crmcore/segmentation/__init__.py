"""Segmentation and customer profitability: "not every customer is god".

* :mod:`~crmcore.segmentation.concentration`: Pareto curve, top shares,
  Lorenz curve, Gini, ABC classes (one sort);
* :mod:`~crmcore.segmentation.rfm`: recency / frequency / monetary scores and
  named segments;
* :mod:`~crmcore.segmentation.profitability`: activity-based cost to serve,
  profit per customer, the whale curve, quintile / decile tables;
* :mod:`~crmcore.segmentation.rules`: rules as data (field, operator, value;
  all / any / not), evaluated as numpy masks;
* :mod:`~crmcore.segmentation.tiers`: tiers with service levels, first match
  wins, stored and versioned;
* :mod:`~crmcore.segmentation.migration`: value-based tiers and tier migration;
* :mod:`~crmcore.segmentation.crosssell`: co-purchase support, confidence,
  lift and per-customer candidates.

>>> from crmcore.segmentation import concentration
>>> round(concentration([80, 10, 5, 3, 2]).top_share(0.2), 2)
0.8
"""

from __future__ import annotations

from crmcore.segmentation.concentration import (
    ABCClasses,
    Concentration,
    abc_classes,
    concentration,
    gini,
    lorenz_curve,
)
from crmcore.segmentation.crosssell import CoPurchase, PairStat, Recommendations, co_purchase
from crmcore.segmentation.migration import (
    TierMigration,
    decile_groups,
    tier_migration,
    value_tiers,
)
from crmcore.segmentation.profitability import (
    CostBreakdown,
    CostRates,
    Profitability,
    QuantileRow,
    WhaleCurve,
    activity_costs,
    cost_entries_to_arrays,
    customer_index,
    customer_profitability,
    entry_costs,
    interactions_to_arrays,
    profit_quantile_table,
    whale_curve,
)
from crmcore.segmentation.rfm import (
    DEFAULT_SEGMENTS,
    RFMScores,
    RFMSummary,
    SegmentMap,
    SegmentRule,
    Segments,
    SegmentTable,
    quantile_scores,
    rfm_from_log,
    rfm_scores,
    rfm_summary,
    segment_table,
)
from crmcore.segmentation.rules import (
    AllOf,
    AnyOf,
    Condition,
    Expr,
    Not,
    RuleEvaluator,
    all_of,
    any_of,
    cond,
    expr_from_dict,
    expr_to_dict,
    not_,
)
from crmcore.segmentation.tiers import (
    ServiceLevel,
    Tier,
    TierAssignment,
    TierSet,
    load_tier_set,
    save_tier_set,
    tier_set_from_dict,
    tier_set_to_dict,
)

__all__ = [
    "DEFAULT_SEGMENTS",
    "ABCClasses",
    "AllOf",
    "AnyOf",
    "CoPurchase",
    "Concentration",
    "Condition",
    "CostBreakdown",
    "CostRates",
    "Expr",
    "Not",
    "PairStat",
    "Profitability",
    "QuantileRow",
    "RFMScores",
    "RFMSummary",
    "Recommendations",
    "RuleEvaluator",
    "SegmentMap",
    "SegmentRule",
    "SegmentTable",
    "Segments",
    "ServiceLevel",
    "Tier",
    "TierAssignment",
    "TierMigration",
    "TierSet",
    "WhaleCurve",
    "abc_classes",
    "activity_costs",
    "all_of",
    "any_of",
    "co_purchase",
    "concentration",
    "cond",
    "cost_entries_to_arrays",
    "customer_index",
    "customer_profitability",
    "decile_groups",
    "entry_costs",
    "expr_from_dict",
    "expr_to_dict",
    "gini",
    "interactions_to_arrays",
    "load_tier_set",
    "lorenz_curve",
    "not_",
    "profit_quantile_table",
    "quantile_scores",
    "rfm_from_log",
    "rfm_scores",
    "rfm_summary",
    "save_tier_set",
    "segment_table",
    "tier_migration",
    "tier_set_from_dict",
    "tier_set_to_dict",
    "value_tiers",
    "whale_curve",
]
