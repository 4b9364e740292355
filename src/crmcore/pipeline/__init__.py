"""The sales pipeline: funnels as data, validated moves with full history, metrics, forecasts, plans.

* **Funnels** (:mod:`~crmcore.pipeline.funnel`, :mod:`~crmcore.pipeline.presets`):
  stages with kind, probability and forecast category, transitions, guards,
  the follow-up cycle; validated when built, serialized as JSON.
* **Moves** (:mod:`~crmcore.pipeline.moves`): ``open_opportunity``, ``move``,
  ``reopen``, ``win`` / ``follow_up``; each returns the new opportunity and
  its :class:`~crmcore.model.StageChange`. **Edits** (:mod:`~crmcore.pipeline.edits`):
  ``edit_opportunity`` returns a :class:`~crmcore.model.FieldChange` per changed
  field; ``replay`` rebuilds a deal from its events alone.
* **Persistence** (:mod:`~crmcore.pipeline.service`): funnels as versioned
  documents; moves, reopenings and edits saved with their events under optimistic
  concurrency (``expected_version``) and idempotent retries (``request_id``);
  history read back as columns as of any date and as known at any date.
* **Metrics and forecasts** (array world, over a :class:`FunnelHistory`):
  conversion, win rate, time in stage, cycle, velocity, coverage, weighted
  pipeline, cohorts, breakdowns, lost reasons; win probabilities and timing
  from history, monthly revenue forecast with a band, back-test.
* **Plans and scorecards**: quantified day / week / month plans, plan versus
  actual, next-period forecast, the four failure modes.
* **Hygiene** (:mod:`~crmcore.pipeline.hygiene`): close-date slippage per deal and
  rep, deals without a next activity, overdue activities, stale close dates.
* **Money** (:mod:`~crmcore.pipeline.currency`): one currency per report, dated
  conversion rates. **Versions** (:mod:`~crmcore.pipeline.versions`): history read
  across funnel versions.
* **Deal scoring** (:mod:`~crmcore.pipeline.scoring`): P(win) of every open
  deal learnt from the closed history, explained factor by factor, and
  back-tested against the stage probabilities and Odoo's frequency method.

>>> from datetime import datetime, timezone
>>> from crmcore.pipeline import B2B, open_opportunity, move
>>> o, e = open_opportunity(B2B, id="o-1", customer_id="c-1", owner_id="ann",
...                         at=datetime(2025, 1, 6, tzinfo=timezone.utc))
>>> o, e = move(o, "qualified", funnel=B2B, by="ann", at=datetime(2025, 1, 9, tzinfo=timezone.utc), after=e)
>>> (e.from_stage, e.to_stage, e.sequence)
('lead', 'qualified', 1)
"""

from __future__ import annotations

from crmcore.pipeline.breakdowns import (
    Breakdown,
    CohortConversion,
    LostReasons,
    SalesMatrix,
    breakdown,
    cohort_conversion,
    lost_reasons,
    who_sells_what,
)
from crmcore.pipeline.currency import Rate, RateTable
from crmcore.pipeline.edits import edit_opportunity, replay
from crmcore.pipeline.forecast import (
    Backtest,
    Forecast,
    TimeToClose,
    WinProbabilities,
    backtest,
    forecast,
    time_to_close,
    win_probabilities,
)
from crmcore.pipeline.funnel import (
    FollowUp,
    ForecastCategory,
    Funnel,
    Guard,
    RequireFields,
    RequireReason,
    Stage,
    StageKind,
    Transition,
)
from crmcore.pipeline.history import FunnelHistory
from crmcore.pipeline.hygiene import (
    CloseDateChanges,
    Hygiene,
    Slippage,
    close_date_slippage,
    pipeline_hygiene,
)
from crmcore.pipeline.metrics import (
    Coverage,
    SalesCycle,
    SalesVelocity,
    StageConversion,
    TimeInStage,
    WeightedPipeline,
    WinRate,
    pipeline_coverage,
    sales_cycle,
    sales_velocity,
    stage_conversion,
    time_in_stage,
    weighted_pipeline,
    win_rate,
)
from crmcore.pipeline.moves import Won, follow_up, move, open_opportunity, reopen, win
from crmcore.pipeline.plans import (
    Actuals,
    NextPeriodForecast,
    Period,
    PeriodKind,
    Plan,
    PlanReport,
    Targets,
    actuals,
    next_period_forecast,
    plan_vs_actual,
)
from crmcore.pipeline.presets import B2B, FOUR_PHASES, LOST_REASONS, PRESETS, TOP_IN_BEST
from crmcore.pipeline.scorecard import Diagnosis, Scorecards, scorecards
from crmcore.pipeline.scoring import (
    DealExplanation,
    DealFields,
    DealScoreModel,
    DealScores,
    ScoreBacktest,
    SyntheticScoring,
    backtest_deal_scores,
    fit_deal_scores,
    score_deals,
    synthetic_scoring_pipeline,
)
from crmcore.pipeline.service import (
    Advanced,
    Edited,
    advance,
    create_opportunity,
    edit,
    load_funnel,
    load_history,
    load_opportunity,
    reopen_opportunity,
    save_funnel,
)
from crmcore.pipeline.synthetic import SyntheticPipeline, synthetic_history, synthetic_pipeline
from crmcore.pipeline.versions import FunnelVersions, funnel_versions

__all__ = [
    "B2B",
    "FOUR_PHASES",
    "LOST_REASONS",
    "PRESETS",
    "TOP_IN_BEST",
    "Actuals",
    "Advanced",
    "Backtest",
    "Breakdown",
    "CloseDateChanges",
    "CohortConversion",
    "Coverage",
    "DealExplanation",
    "DealFields",
    "DealScoreModel",
    "DealScores",
    "Diagnosis",
    "Edited",
    "FollowUp",
    "Forecast",
    "ForecastCategory",
    "Funnel",
    "FunnelHistory",
    "FunnelVersions",
    "Guard",
    "Hygiene",
    "LostReasons",
    "NextPeriodForecast",
    "Period",
    "PeriodKind",
    "Plan",
    "PlanReport",
    "Rate",
    "RateTable",
    "RequireFields",
    "RequireReason",
    "SalesCycle",
    "SalesMatrix",
    "SalesVelocity",
    "ScoreBacktest",
    "Scorecards",
    "Slippage",
    "Stage",
    "StageConversion",
    "StageKind",
    "SyntheticPipeline",
    "SyntheticScoring",
    "Targets",
    "TimeInStage",
    "TimeToClose",
    "Transition",
    "WeightedPipeline",
    "WinProbabilities",
    "WinRate",
    "Won",
    "actuals",
    "advance",
    "backtest",
    "backtest_deal_scores",
    "breakdown",
    "close_date_slippage",
    "cohort_conversion",
    "create_opportunity",
    "edit",
    "edit_opportunity",
    "fit_deal_scores",
    "follow_up",
    "forecast",
    "funnel_versions",
    "load_funnel",
    "load_history",
    "load_opportunity",
    "lost_reasons",
    "move",
    "next_period_forecast",
    "open_opportunity",
    "pipeline_coverage",
    "pipeline_hygiene",
    "plan_vs_actual",
    "reopen",
    "reopen_opportunity",
    "replay",
    "sales_cycle",
    "sales_velocity",
    "save_funnel",
    "score_deals",
    "scorecards",
    "stage_conversion",
    "synthetic_history",
    "synthetic_pipeline",
    "synthetic_scoring_pipeline",
    "time_in_stage",
    "time_to_close",
    "weighted_pipeline",
    "who_sells_what",
    "win",
    "win_probabilities",
    "win_rate",
]
