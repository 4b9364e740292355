"""Predictive deal scoring: P(win) of every open deal, learnt from the deals closed before ``as_of``.

* :func:`fit_deal_scores` learns a :class:`DealScoreModel` from the closed
  history: ``method="logistic"`` (the primary model: L2-regularised logistic
  regression on the levels of every factor, fitted on training *moments*)
  or ``method="naive_bayes"`` (the frequency method of Odoo's predictive
  lead scoring: won and lost counts per stage reached and per field value).
* :func:`score_deals` applies a model to the deals open at ``as_of``:
  :class:`DealScores`, each deal explained factor by factor
  (:meth:`DealScores.explain`: log-odds contributions that add up to its
  score's log-odds).
* :func:`backtest_deal_scores` fits at a past ``as_of``, scores the deals
  open then, and compares with how they ended: Brier score, log-loss and a
  reliability table for the model, the Odoo frequency method and the
  funnel's static stage probabilities.

The factors are the stage, the path so far, the age, the time in stage, the
amount band, the owner, the product and any :class:`DealFields` column
(lead source, custom fields); see ``docs/pipeline.md`` ("Deal scoring") for
the formulas and the missing-value rule.

>>> from crmcore.pipeline.presets import B2B
>>> s = synthetic_scoring_pipeline(B2B, n_opportunities=2000, seed=3)
>>> model = fit_deal_scores(s.history, B2B, as_of=s.as_of, fields=s.fields)
>>> scores = score_deals(model, s.history, B2B, as_of=s.as_of, fields=s.fields)
>>> model.factors  # every path in this history is direct: a factor with one level is left out
('stage', 'age', 'time_in_stage', 'amount', 'owner', 'product', 'source', 'employees')
>>> len(scores) == int(FunnelHistory.build(s.history, B2B, as_of=s.as_of).is_open.sum())
True
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from scipy.special import expit

from crmcore.arrays import FloatArray, IntArray
from crmcore.errors import ArgumentTypeError, ValidationError
from crmcore.options import as_choice, as_count, as_number, expect_instance
from crmcore.pipeline._paths import reached
from crmcore.pipeline._scoring_data import BUILTIN_FACTORS, DealFields
from crmcore.pipeline._scoring_features import (
    Moments,
    Spec,
    deal_moments,
    encode,
    make_spec,
    path_codes,
    training_moments,
)
from crmcore.pipeline._scoring_fit import fit_logistic, fit_naive_bayes
from crmcore.pipeline._scoring_model import (
    METHODS,
    DealExplanation,
    DealScoreModel,
    DealScores,
    ScoreBacktest,
)
from crmcore.pipeline._scoring_synthetic import SyntheticScoring, synthetic_scoring_pipeline
from crmcore.pipeline.forecast import win_probabilities
from crmcore.pipeline.funnel import Funnel
from crmcore.pipeline.history import FunnelHistory
from crmcore.tables import FieldHistory, StageHistory
from crmcore.timestamps import as_datetime, as_instant

__all__ = [
    "BUILTIN_FACTORS",
    "DealExplanation",
    "DealFields",
    "DealScoreModel",
    "DealScores",
    "ScoreBacktest",
    "SyntheticScoring",
    "backtest_deal_scores",
    "fit_deal_scores",
    "score_deals",
    "synthetic_scoring_pipeline",
]

_NB_FACTORS = ("stage", "owner", "product")  # and every field: what Odoo's frequencies use
_EPS = 1e-6  # log-loss clips probabilities to [eps, 1 - eps]
_BACKTEST_METHODS = ("logistic", "naive_bayes", "stage", "history")


def _history(
    data: FunnelHistory | StageHistory,
    funnel: Funnel | None,
    as_of: datetime | np.datetime64 | str | None,
    known_at: datetime | np.datetime64 | str | None = None,
    changes: FieldHistory | None = None,
) -> FunnelHistory:
    if isinstance(data, FunnelHistory):
        for name, value in (("as_of", as_of), ("known_at", known_at), ("changes", changes)):
            if value is not None:
                raise ValidationError(
                    f"{name!r} applies when building: pass it to FunnelHistory.build"
                )
        return data
    if isinstance(data, StageHistory):
        if funnel is None:
            raise ValidationError("'funnel' is needed to score a StageHistory: pass funnel=")
        funnel = expect_instance(funnel, Funnel, name="funnel")
        extra: dict[str, Any] = {}
        if known_at is not None:
            extra["known_at"] = known_at
        if changes is not None:
            extra["changes"] = changes
        return FunnelHistory.build(data, funnel, as_of=as_of, **extra)
    raise ArgumentTypeError(
        f"'data' must be a FunnelHistory, or a StageHistory with funnel=: {repr(data)[:80]}"
    )


def _factor_names(
    factors: Sequence[str] | None, fields: DealFields | None, method: str
) -> list[str]:
    known = list(BUILTIN_FACTORS) + (list(fields.names) if fields is not None else [])
    if factors is None:
        chosen = known
    else:
        if isinstance(factors, str) or not isinstance(factors, Sequence):
            raise ValidationError(f"'factors' must be a sequence of factor names: {factors!r}")
        chosen = []
        for f in factors:
            if not isinstance(f, str) or f not in known:
                raise ValidationError(f"'factors' must name factors among {known}: {f!r}")
            if f not in chosen:
                chosen.append(f)
    if method == "naive_bayes":
        chosen = [f for f in chosen if f in _NB_FACTORS or f not in BUILTIN_FACTORS]
    return chosen


def _field_rows(fh: FunnelHistory, fields: DealFields | None) -> IntArray | None:
    if fields is None:
        return None
    return fields.rows_for(fh.opportunity_ids, fh.opportunity_codes)


def fit_deal_scores(
    data: FunnelHistory | StageHistory,
    funnel: Funnel | None = None,
    *,
    as_of: datetime | np.datetime64 | str | None = None,
    known_at: datetime | np.datetime64 | str | None = None,
    changes: FieldHistory | None = None,
    fields: DealFields | None = None,
    method: str = "logistic",
    factors: Sequence[str] | None = None,
    prior_sd: float = 1.0,
    min_count: int = 5,
    smoothing: float = 0.1,
) -> DealScoreModel:
    """Learn P(win) from the deals closed before ``as_of`` (see the module docstring).

    ``data`` is a :class:`FunnelHistory`, or a :class:`StageHistory` with its
    ``funnel``, cut at ``as_of`` and, with ``known_at``, at what had been
    recorded by then (its ``recorded_at`` column), field ``changes`` included
    (see :meth:`FunnelHistory.build`). ``factors`` chooses among the built-in factors (:data:`BUILTIN_FACTORS`)
    and the ``fields`` names (default: all); a factor with a single level in
    the training history is left out. ``prior_sd`` is the standard deviation
    of the Gaussian prior on each level's log-odds effect (logistic);
    ``min_count`` the number of training deals a label needs to get its own
    level (rarer labels share ``(other)``; a level no training deal had, such
    as a value first seen when scoring, gets the factor's average effect: it
    contributes 0 to the explanation); ``smoothing`` the pseudo-deals
    added to every won and lost count (naive Bayes, which uses the stage,
    owner, product and field factors only, as Odoo does).

    >>> from crmcore.pipeline.presets import B2B
    >>> s = synthetic_scoring_pipeline(B2B, n_opportunities=600, seed=2)
    >>> m = fit_deal_scores(s.history, B2B, as_of="2024-06-01", method="naive_bayes")
    >>> m.method, m.factors
    ('naive_bayes', ('stage', 'owner', 'product'))
    >>> fit_deal_scores(s.history, B2B, as_of="2023-01-02")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: no deal closed before as_of 2023-01-02T00:00:00: there is nothing to learn from
    """
    method = as_choice(method, name="method", allowed=METHODS)
    prior_sd = as_number(prior_sd, name="prior_sd", low=1e-3, high=1e3)
    min_count = as_count(min_count, name="min_count", low=1, high=2**31)
    smoothing = as_number(smoothing, name="smoothing", low=0.0, high=1e6, inclusive=(False, True))
    if fields is not None:
        fields = expect_instance(fields, DealFields, name="fields")
    fh = _history(data, funnel, as_of, known_at, changes)
    names = _factor_names(factors, fields, method)
    moments, y = training_moments(fh)
    if not len(y):
        raise ValidationError(
            f"no deal closed before as_of {np.datetime_as_string(fh.as_of)[:19]}: there is nothing "
            "to learn from"
        )
    rows = _field_rows(fh, fields)
    paths = path_codes(fh) if "path" in names else None
    specs: list[Spec] = []
    codes: list[IntArray] = []
    for name in names:
        spec = make_spec(
            name, fh, moments, fields=fields, field_rows=rows, paths=paths,
            min_count=1 if method == "naive_bayes" else min_count,
        )  # fmt: skip
        c = encode(spec, fh, moments, fields=fields, field_rows=rows, paths=paths)
        if len(c) and c.min() != c.max():  # a factor with one level tells nothing
            specs.append(spec)
            codes.append(c)
    sizes = [len(s.levels) for s in specs]
    matrix = np.stack(codes, axis=1) if codes else np.zeros((len(y), 0), dtype=np.int64)
    fit = None
    if method == "logistic":
        if specs:
            level_names = [f"{s.name}={lv}" for s in specs for lv in s.levels]
            intercept, coefs, fit = fit_logistic(
                matrix, sizes, y, prior_sd=prior_sd, names=level_names
            )
        else:
            rate = (float(y.sum()) + 0.5) / (len(y) + 1.0)
            intercept, coefs = float(np.log(rate / (1 - rate))), []
    else:
        intercept, coefs = _naive_bayes(fh, specs, rows, paths, fields, smoothing)
    lo = intercept + sum(
        (np.asarray(c)[matrix[:, f]] for f, c in enumerate(coefs)), np.zeros(len(y))
    )
    loglik = float(-np.sum(np.logaddexp(0.0, np.where(y, -lo, lo))))
    centre = tuple(float(np.mean(np.asarray(c)[matrix[:, f]])) for f, c in enumerate(coefs))
    if method == "logistic":  # a level no training moment had (a value never seen): typical
        for f, co in enumerate(coefs):
            co[np.bincount(matrix[:, f], minlength=len(co)) == 0] = centre[f]
    closed = ~fh.is_open & (fh.max_rank >= 0)
    return DealScoreModel(
        method=method,
        funnel=fh.funnel.name,
        as_of=as_datetime(fh.as_of, name="as_of"),
        known_at=None if known_at is None else as_datetime(known_at, name="known_at"),
        factors=tuple(s.name for s in specs),
        kinds=tuple(s.kind for s in specs),
        levels=tuple(s.levels for s in specs),
        edges=tuple(tuple(float(e) for e in s.edges) for s in specs),
        coefficients=tuple(tuple(float(x) for x in c) for c in coefs),
        intercept=float(intercept),
        centre=centre,
        n_deals=int(closed.sum()),
        n_won=int((closed & fh.is_won).sum()),
        n_moments=len(y),
        log_likelihood=min(loglik, 0.0),
        fit=fit,
        prior_sd=prior_sd if method == "logistic" else None,
        smoothing=smoothing if method == "naive_bayes" else None,
    )


def _naive_bayes(
    fh: FunnelHistory,
    specs: list[Spec],
    rows: IntArray | None,
    paths: IntArray | None,
    fields: DealFields | None,
    smoothing: float,
) -> tuple[float, list[FloatArray]]:
    """Won and lost counts per level over the closed deals (stages: every stage entered)."""
    closed = np.flatnonzero(~fh.is_open & (fh.max_rank >= 0))
    won = fh.is_won[closed]
    at_close = deal_moments(fh, closed)
    won_counts, lost_counts, skip = [], [], []
    for spec in specs:
        k = len(spec.levels)
        if spec.kind == "stage":  # every stage the deal entered (pipeline/_paths.py's rule)
            hit = reached(fh)[closed]
            cols = [fh.funnel.stage_names.index(name) for name in spec.levels]
            w = hit[won][:, cols].sum(axis=0).astype(np.float64)
            lo = hit[~won][:, cols].sum(axis=0).astype(np.float64)
        else:
            c = encode(spec, fh, at_close, fields=fields, field_rows=rows, paths=paths)
            w = np.bincount(c[won], minlength=k).astype(np.float64)
            lo = np.bincount(c[~won], minlength=k).astype(np.float64)
        s = (w + lo) == 0
        if spec.kind in ("label", "band"):
            s[-1] = True  # a missing value: the factor is left out for that deal
        won_counts.append(w)
        lost_counts.append(lo)
        skip.append(s)
    return fit_naive_bayes(
        won_counts, lost_counts, n_won=int(won.sum()), n_lost=int((~won).sum()),
        smoothing=smoothing, skip=skip,
    )  # fmt: skip


def _model_specs(model: DealScoreModel) -> list[Spec]:
    return [
        Spec(f, k, lv, ed)
        for f, k, lv, ed in zip(model.factors, model.kinds, model.levels, model.edges, strict=True)
    ]


def score_deals(
    model: DealScoreModel,
    data: FunnelHistory | StageHistory,
    funnel: Funnel | None = None,
    *,
    as_of: datetime | np.datetime64 | str | None = None,
    known_at: datetime | np.datetime64 | str | None = None,
    changes: FieldHistory | None = None,
    fields: DealFields | None = None,
) -> DealScores:
    """P(win) of every deal open at ``as_of`` under ``model``, with its explanation.

    ``data``, ``as_of``, ``known_at`` and ``changes`` as in :func:`fit_deal_scores`
    (a model can score a later date than it was fitted at). ``fields`` must hold every field the model uses (deals missing from it
    have missing values there).

    >>> from crmcore.pipeline.presets import B2B
    >>> s = synthetic_scoring_pipeline(B2B, n_opportunities=600, seed=2)
    >>> m = fit_deal_scores(s.history, B2B, as_of=s.as_of, fields=s.fields)
    >>> score_deals(m, s.history, B2B, as_of=s.as_of)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: the model uses the fields ['source', 'employees']: pass fields= with them
    """
    model = expect_instance(model, DealScoreModel, name="model")
    if fields is not None:
        fields = expect_instance(fields, DealFields, name="fields")
    fh = _history(data, funnel, as_of, known_at, changes)
    specs = _model_specs(model)
    needed = [s.name for s in specs if s.name not in BUILTIN_FACTORS]
    absent = [n for n in needed if fields is None or n not in fields.names]
    if absent:
        raise ValidationError(f"the model uses the fields {absent}: pass fields= with them")
    rows = np.flatnonzero(fh.is_open)
    moments = deal_moments(fh, rows)
    return _score(model, specs, fh, moments, rows, fields)


def _score(
    model: DealScoreModel,
    specs: list[Spec],
    fh: FunnelHistory,
    moments: Moments,
    rows: IntArray,
    fields: DealFields | None,
) -> DealScores:
    frows = _field_rows(fh, fields)
    paths = path_codes(fh) if any(s.kind == "path" for s in specs) else None
    n = len(rows)
    levels = np.empty((n, len(specs)), dtype=np.int32)
    log_odds = np.full(n, model.intercept)
    for f, spec in enumerate(specs):
        c = encode(spec, fh, moments, fields=fields, field_rows=frows, paths=paths)
        levels[:, f] = c
        log_odds += np.asarray(model.coefficients[f])[c]
    return DealScores(
        model=model,
        as_of=fh.as_of,
        opportunity_ids=fh.opportunity_ids[fh.opportunity_codes[rows]],
        probability=expit(log_odds),
        log_odds=log_odds,
        levels=levels,
    )


def backtest_deal_scores(
    history: StageHistory,
    funnel: Funnel,
    *,
    as_of: datetime | np.datetime64 | str,
    known_at: datetime | np.datetime64 | str | None = None,
    changes: FieldHistory | None = None,
    fields: DealFields | None = None,
    methods: Sequence[str] = ("logistic", "naive_bayes", "stage"),
    bins: int = 10,
    prior_sd: float = 1.0,
    min_count: int = 5,
    smoothing: float = 0.1,
) -> ScoreBacktest:
    """Fit as if it were ``as_of`` (only the deals closed before it), score the deals open then,
    and compare with how they ended in the whole history (see :class:`ScoreBacktest`).

    The past is read as it was known at ``known_at`` (default: ``as_of`` itself,
    when the history has a ``recorded_at`` column): a loss dated before the
    cut-off but typed after it is not seen by the fit. The outcomes are read
    from everything known now. ``changes`` are the deals' field changes (see
    :meth:`FunnelHistory.build`). Methods: ``"logistic"`` and
    ``"naive_bayes"`` (:func:`fit_deal_scores`), ``"stage"`` (the funnel's
    static stage probability of each deal's stage) and ``"history"`` (the
    stage's smoothed empirical win rate,
    :func:`~crmcore.pipeline.forecast.win_probabilities`).

    >>> from crmcore.pipeline.presets import B2B
    >>> s = synthetic_scoring_pipeline(B2B, n_opportunities=3000, seed=4)
    >>> bt = backtest_deal_scores(s.history, B2B, as_of="2024-06-01", fields=s.fields)
    >>> bt.methods, bt.best()
    (('logistic', 'naive_bayes', 'stage'), 'logistic')
    """
    history = expect_instance(history, StageHistory, name="history")
    funnel = expect_instance(funnel, Funnel, name="funnel")
    if isinstance(methods, str) or not isinstance(methods, Sequence) or not methods:
        raise ValidationError(f"'methods' must be a non-empty sequence of methods: {methods!r}")
    methods = tuple(as_choice(m, name="methods", allowed=_BACKTEST_METHODS) for m in methods)
    bins = as_count(bins, name="bins", low=1, high=1000)
    if fields is not None:
        fields = expect_instance(fields, DealFields, name="fields")
    cut = as_instant(as_of, name="as_of")
    seen = cut if known_at is None else as_instant(known_at, name="known_at")
    recorded = getattr(history, "recorded_at", None) is not None
    past = _history(history, funnel, cut, seen if recorded else None, changes)
    full = _history(history, funnel, None, None, changes)
    where = np.full(len(history.opportunity_ids), -1, dtype=np.int64)
    where[full.opportunity_codes] = np.arange(full.n_opportunities)
    open_rows = np.flatnonzero(past.is_open)
    later = where[past.opportunity_codes[open_rows]]
    resolved = ~full.is_open[later]
    if not resolved.any():
        raise ValidationError(
            f"no deal open at as_of {np.datetime_as_string(cut)[:19]} has closed since: "
            "choose an earlier as_of"
        )
    y = full.is_won[later][resolved].astype(np.float64)
    preds = []
    for m in methods:
        if m in METHODS:
            model = fit_deal_scores(
                past, fields=fields, method=m, prior_sd=prior_sd, min_count=min_count,
                smoothing=smoothing,
            )  # fmt: skip
            p = score_deals(model, past, fields=fields).probability
        else:
            open_idx = np.flatnonzero(past.stage_kind == 0)
            pos = np.full(len(past.stage_kind), 0, dtype=np.int64)
            pos[open_idx] = np.arange(len(open_idx))
            stage = past.final_stage[open_rows]
            if m == "stage":
                p = past.stage_probability[stage]
            else:
                p = win_probabilities(past).smoothed[pos[stage]]
        preds.append(np.asarray(p, dtype=np.float64)[resolved])
    edges = np.linspace(0.0, 1.0, bins + 1)
    pred = np.array(preds)
    brier = tuple(float(np.mean((q - y) ** 2)) for q in pred)
    clipped = np.clip(pred, _EPS, 1 - _EPS)
    log_loss = tuple(float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q))) for q in clipped)
    which = np.clip(np.searchsorted(edges, pred, side="right") - 1, 0, bins - 1)
    count = np.zeros((len(methods), bins), dtype=np.int64)
    mean_p = np.full((len(methods), bins), np.nan)
    share = np.full((len(methods), bins), np.nan)
    for i in range(len(methods)):
        c = np.bincount(which[i], minlength=bins)
        count[i] = c
        has = c > 0
        mean_p[i, has] = np.bincount(which[i], weights=pred[i], minlength=bins)[has] / c[has]
        share[i, has] = np.bincount(which[i], weights=y, minlength=bins)[has] / c[has]
    return ScoreBacktest(
        as_of=cut,
        known_at=seen if recorded else None,
        methods=methods,
        n_open=len(open_rows),
        n_resolved=int(resolved.sum()),
        n_won=int(y.sum()),
        brier=brier,
        log_loss=log_loss,
        bin_edges=edges,
        bin_count=count,
        bin_predicted=np.clip(mean_p, 0.0, 1.0),
        bin_observed=share,
    )
