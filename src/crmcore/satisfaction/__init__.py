"""crmcore.satisfaction: the satisfaction → loyalty link by competition level.

>>> from crmcore.satisfaction import preset_curve
>>> preset_curve("high").probabilities().round(2).tolist()
[0.01, 0.01, 0.02, 0.13, 0.8]
"""

from __future__ import annotations

from crmcore.satisfaction.competition import (
    DEFAULT_WEIGHTS,
    DampeningWeights,
    MarketConditions,
    effective_competition,
)
from crmcore.satisfaction.curve import (
    PARAMETER_NAMES,
    LoyaltyCurve,
    LoyaltyModel,
    Zones,
    preset_curve,
    preset_model,
)
from crmcore.satisfaction.fit import (
    LoyaltyFit,
    ModerationTest,
    fit_loyalty,
    fit_loyalty_table,
    moderation_test,
    moderation_test_table,
)
from crmcore.satisfaction.plot import plot_curves
from crmcore.satisfaction.quadrants import (
    Quadrant,
    QuadrantResult,
    ScenarioResult,
    classify_quadrants,
    competition_scenario,
)
from crmcore.satisfaction.survey import CsatColumns, csat_by_group, csat_columns, csat_score
from crmcore.satisfaction.value import UpliftRanking, gain_table, marginal_gain, uplift_value

__all__ = [
    "DEFAULT_WEIGHTS",
    "PARAMETER_NAMES",
    "CsatColumns",
    "DampeningWeights",
    "LoyaltyCurve",
    "LoyaltyFit",
    "LoyaltyModel",
    "MarketConditions",
    "ModerationTest",
    "Quadrant",
    "QuadrantResult",
    "ScenarioResult",
    "UpliftRanking",
    "Zones",
    "classify_quadrants",
    "competition_scenario",
    "csat_by_group",
    "csat_columns",
    "csat_score",
    "effective_competition",
    "fit_loyalty",
    "fit_loyalty_table",
    "gain_table",
    "marginal_gain",
    "moderation_test",
    "moderation_test_table",
    "plot_curves",
    "preset_curve",
    "preset_model",
    "uplift_value",
]
