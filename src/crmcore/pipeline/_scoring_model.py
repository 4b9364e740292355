"""The results of deal scoring: the fitted model, the scores, one deal's explanation."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, texts
from crmcore._messages import show
from crmcore._results import COUNT, FINITE, PROBABILITY, array, choice, each, number
from crmcore.arrays import FloatArray, IntArray
from crmcore.errors import ValidationError
from crmcore.model._fields import instance, opt_utc, tuple_of, utc
from crmcore.options import as_choice
from crmcore.pipeline._scoring_features import KINDS
from crmcore.pipeline.history import FunnelHistory

if TYPE_CHECKING:  # crmcore.fitting imports scipy.optimize (slow): checked when given
    from crmcore.fitting import FitSummary

__all__ = ["METHODS", "DealExplanation", "DealScoreModel", "DealScores", "ScoreBacktest"]

METHODS = ("logistic", "naive_bayes")
"""The scoring methods: the primary model and the Odoo-style frequency baseline."""


def _text_rows(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    """A tuple of tuples of strings (the level labels of each factor)."""
    if not isinstance(value, tuple):
        raise ValidationError(
            f"{type(inst).__name__}: {attr.name!r} must be a tuple: {show(value)}"
        )
    for i, row in enumerate(value):
        if not isinstance(row, tuple) or not row or not all(isinstance(s, str) for s in row):
            raise ValidationError(
                f"{type(inst).__name__}: '{attr.name}[{i}]' must be a non-empty tuple of "
                f"strings: {show(row)}"
            )


def _fit_summary(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    """None or a :class:`~crmcore.fitting.FitSummary` (imported only when there is one)."""
    if value is None:
        return
    from crmcore.fitting import FitSummary

    instance(FitSummary, "a FitSummary", optional=True)(inst, attr, value)


@attrs.frozen
class DealScoreModel:
    """A deal-scoring model fitted on the deals closed before ``as_of`` (see :func:`fit_deal_scores`).

    A deal's log-odds of being won is ``intercept`` plus, for each factor
    ``f``, ``coefficients[f][level]`` of the deal's level of that factor
    (``levels[f]``; days and number factors are cut at ``edges[f]``).
    ``centre[f]`` is the average coefficient of factor ``f`` over the
    training moments: explanations show each factor's coefficient minus its
    centre, starting from :attr:`base_log_odds`, so a contribution says how
    much this deal differs from a typical one. ``n_deals`` closed deals
    (``n_won`` won) gave ``n_moments`` training moments;
    ``log_likelihood`` is theirs (unpenalised). ``known_at`` is the limit on
    what was recorded that the fit was given (None: none given to the fit; a
    ``FunnelHistory`` built with ``known_at`` does not carry it). ``fit`` is the logistic fit's
    :class:`~crmcore.fitting.FitSummary` (estimates named ``factor=level``,
    iterations, convergence, penalizer; no standard errors: see
    :func:`fit_deal_scores`), None for naive Bayes. ``prior_sd`` (logistic) and
    ``smoothing`` (naive Bayes) are the settings used; the other is None.

    Its JSON, like every fitted model's, carries its type (``"deal_score"``) and the
    format version (:data:`crmcore.serialization.MODEL_FORMAT`), and reads back equal:

    >>> from crmcore.serialization import load_model, to_json
    >>> from datetime import timezone
    >>> m = DealScoreModel("naive_bayes", "b2b", datetime(2025, 1, 1, tzinfo=timezone.utc), None,
    ...     ("age",), ("days",), (("<7d", "7d+"),), ((7.0,),), ((0.5, -0.5),), -0.25, (0.1,),
    ...     10, 4, 20, -12.0, None, smoothing=0.1)
    >>> to_json(m)[:40]
    '{"type": "deal_score", "format": 2, "met'
    >>> load_model(to_json(m)) == m
    True
    """

    method: str = attrs.field(validator=choice(*METHODS))
    funnel: str = attrs.field(validator=instance(str, "a funnel name"))
    as_of: datetime = attrs.field(validator=utc)
    known_at: datetime | None = attrs.field(validator=opt_utc)
    factors: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a factor name"))
    kinds: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a factor kind"))
    levels: tuple[tuple[str, ...], ...] = attrs.field(validator=_text_rows)
    edges: tuple[tuple[float, ...], ...] = attrs.field(validator=each(each(number())))
    coefficients: tuple[tuple[float, ...], ...] = attrs.field(validator=each(each(FINITE)))
    intercept: float = attrs.field(validator=FINITE)
    centre: tuple[float, ...] = attrs.field(validator=each(FINITE))
    n_deals: int = attrs.field(validator=number(0, integer=True, at_least=("n_won",)))
    n_won: int = attrs.field(validator=COUNT)
    n_moments: int = attrs.field(validator=COUNT)
    log_likelihood: float = attrs.field(validator=number(hi=0))
    fit: FitSummary | None = attrs.field(validator=_fit_summary)
    prior_sd: float | None = attrs.field(default=None, validator=number(gt=0, optional=True))
    smoothing: float | None = attrs.field(default=None, validator=number(gt=0, optional=True))

    def __attrs_post_init__(self) -> None:
        n = len(self.factors)
        lengths = [len(self.kinds), len(self.levels), len(self.edges), len(self.coefficients),
                   len(self.centre)]  # fmt: skip
        if any(k != n for k in lengths):
            raise ValidationError(
                f"DealScoreModel: 'kinds', 'levels', 'edges', 'coefficients' and 'centre' must have "
                f"one entry per factor ({n}): {lengths}"
            )
        if len(set(self.factors)) != n:
            raise ValidationError(
                f"DealScoreModel: 'factors' must not repeat a name: {self.factors}"
            )
        for f, kind, lv, ed, co in zip(
            self.factors, self.kinds, self.levels, self.edges, self.coefficients, strict=True
        ):
            if kind not in KINDS:
                raise ValidationError(
                    f"DealScoreModel: kind of {f!r} must be one of {KINDS}: {kind!r}"
                )
            if len(co) != len(lv):
                raise ValidationError(
                    f"DealScoreModel: {f!r} needs one coefficient per level ({len(lv)}): {len(co)}"
                )
            bands = {"days": len(ed) + 1, "band": len(ed) + 2}.get(kind)
            if bands is not None and (bands != len(lv) or list(ed) != sorted(set(ed))):
                raise ValidationError(
                    f"DealScoreModel: {f!r} needs increasing edges and {bands} levels: "
                    f"{len(ed)} edges, {len(lv)} levels"
                )

    @property
    def base_log_odds(self) -> float:
        """The log-odds of a typical deal: the intercept plus every factor's centre.

        >>> from datetime import timezone
        >>> m = DealScoreModel("logistic", "b2b", datetime(2025, 1, 1, tzinfo=timezone.utc), None, ("stage",),
        ...     ("stage",), (("lead", "won?"),), ((),), ((-1.0, 1.0),), 0.5, (0.25,), 10, 4, 20,
        ...     -12.0, None, prior_sd=1.0)
        >>> m.base_log_odds
        0.75
        """
        return float(self.intercept + sum(self.centre))


@attrs.frozen
class DealExplanation(Tabular):
    """Why one deal scored what it did: the base log-odds plus one contribution per factor.

    ``base_log_odds + sum(contributions) == log_odds`` and ``probability`` is
    ``1 / (1 + exp(-log_odds))``; ``levels`` are the deal's level of each factor.
    """

    opportunity_id: str = attrs.field(validator=instance(str, "an opportunity id"))
    probability: float = attrs.field(validator=PROBABILITY)
    log_odds: float = attrs.field(validator=FINITE)
    base_log_odds: float = attrs.field(validator=FINITE)
    factors: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a factor name"))
    levels: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a level"))
    contributions: tuple[float, ...] = attrs.field(validator=each(FINITE))

    def lines(self, top: int | None = None) -> list[str]:
        """One line per factor, the largest contributions first (``top`` of them).

        >>> e = DealExplanation("o-1", 0.5, 0.0, -1.0, ("stage", "owner"), ("proposal", "ann"), (1.25, -0.25))
        >>> e.lines()
        ['o-1: P(win) 50.0% (log-odds 0.00 = base -1.00 + contributions)', '  stage = proposal: +1.25', '  owner = ann: -0.25']
        """
        order = sorted(range(len(self.factors)), key=lambda i: -abs(self.contributions[i]))
        head = (
            f"{self.opportunity_id}: P(win) {self.probability:.1%} (log-odds {self.log_odds:.2f}"
            f" = base {self.base_log_odds:.2f} + contributions)"
        )
        return [head] + [
            f"  {self.factors[i]} = {self.levels[i]}: {self.contributions[i]:+.2f}"
            for i in order[:top]
        ]

    def _columns(self) -> Columns:
        return {
            "factor": texts(self.factors),
            "level": texts(self.levels),
            "contribution": np.array(self.contributions, dtype=np.float64),
        }


@attrs.frozen(eq=False)
class DealScores(Tabular):
    """P(win) of every open deal at ``as_of`` under ``model``, with what it takes to explain each.

    ``levels[i, f]`` is deal ``i``'s level of factor ``model.factors[f]``;
    ``log_odds = model.intercept + sum_f coefficient[f][levels[i, f]]`` and
    ``probability`` is its logistic function.
    """

    model: DealScoreModel = attrs.field(validator=instance(DealScoreModel, "a DealScoreModel"))
    as_of: np.datetime64 = attrs.field(validator=array("M", ndim=None))
    opportunity_ids: npt.NDArray[Any] = attrs.field(validator=array("O"))
    probability: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="opportunity_ids"))
    log_odds: FloatArray = attrs.field(validator=array(length="opportunity_ids"))
    levels: npt.NDArray[np.int32] = attrs.field(
        validator=array("i", lo=0, ndim=2, length="opportunity_ids")
    )

    def __attrs_post_init__(self) -> None:
        sizes = [len(lv) for lv in self.model.levels]
        if self.levels.shape[1:] != (len(sizes),) and len(self.opportunity_ids):
            raise ValidationError(
                f"DealScores: 'levels' must have one column per factor ({len(sizes)}): "
                f"shape {self.levels.shape}"
            )
        if len(self.opportunity_ids) and len(sizes):
            over = self.levels.max(axis=0) >= np.asarray(sizes)
            if over.any():
                f = int(np.flatnonzero(over)[0])
                raise ValidationError(
                    f"DealScores: 'levels' of factor {self.model.factors[f]!r} must be below "
                    f"{sizes[f]}: {int(self.levels[:, f].max())}"
                )

    def __len__(self) -> int:
        return len(self.opportunity_ids)

    @property
    def contributions(self) -> FloatArray:
        """Per deal and factor: the coefficient of the deal's level minus the factor's centre.

        Each row sums to ``log_odds - model.base_log_odds`` (see :meth:`explain`).
        """
        n, m = len(self), self.model
        out = np.empty((n, len(m.factors)))
        for f, co in enumerate(m.coefficients):
            out[:, f] = np.asarray(co)[self.levels[:, f]] - m.centre[f]
        return out

    def _row(self, opportunity_id: object) -> int:
        hits = np.flatnonzero(self.opportunity_ids == opportunity_id)
        if not len(hits):
            raise ValidationError(
                f"'opportunity_id' {show(opportunity_id)} is not an open deal of these scores"
            )
        return int(hits[0])

    def explain(self, opportunity_id: object) -> DealExplanation:
        """The contributions of each factor to one deal's score.

        >>> from crmcore.pipeline.presets import B2B
        >>> from crmcore.pipeline.scoring import fit_deal_scores, score_deals, synthetic_scoring_pipeline
        >>> s = synthetic_scoring_pipeline(B2B, n_opportunities=400, seed=5)
        >>> model = fit_deal_scores(s.history, B2B, as_of=s.as_of, fields=s.fields)
        >>> scores = score_deals(model, s.history, B2B, as_of=s.as_of, fields=s.fields)
        >>> e = scores.explain(scores.opportunity_ids[0])
        >>> abs(e.base_log_odds + sum(e.contributions) - e.log_odds) < 1e-9
        True
        """
        i = self._row(opportunity_id)
        m = self.model
        row = self.levels[i]
        contrib = tuple(
            float(m.coefficients[f][int(row[f])] - m.centre[f]) for f in range(len(m.factors))
        )
        return DealExplanation(
            opportunity_id=str(self.opportunity_ids[i]),
            probability=float(self.probability[i]),
            log_odds=float(self.log_odds[i]),
            base_log_odds=m.base_log_odds,
            factors=m.factors,
            levels=tuple(m.levels[f][int(row[f])] for f in range(len(m.factors))),
            contributions=contrib,
        )

    def probability_of(self, opportunity_ids: npt.ArrayLike) -> FloatArray:
        """The score of each given opportunity id (NaN where it is not one of these open deals).

        >>> from datetime import timezone
        >>> s = DealScores(DealScoreModel("logistic", "f", datetime(2025, 1, 1, tzinfo=timezone.utc), None,
        ...     (), (), (), (), (), 0.0, (), 1, 0, 1, -1.0, None, prior_sd=1.0),
        ...     np.datetime64("2025-01-01"), np.array(["a", "b"], dtype=object), np.array([0.2, 0.7]),
        ...     np.array([-1.386, 0.847]), np.zeros((2, 0), dtype=np.int32))
        >>> s.probability_of(["b", "z"]).tolist()
        [0.7, nan]
        """
        want = np.asarray(opportunity_ids)
        ids = self.opportunity_ids
        if not len(ids) or not len(want):
            return np.full(len(want), np.nan)
        order = np.argsort(ids, kind="stable")
        try:
            pos = np.searchsorted(ids[order], want)
        except TypeError:
            return np.full(len(want), np.nan)
        pos = np.minimum(pos, len(ids) - 1)
        hit = ids[order][pos] == want
        out = np.full(len(want), np.nan)
        out[hit] = self.probability[order][pos[hit]]
        return out

    def for_history(self, fh: FunnelHistory) -> FloatArray:
        """P(win) of every opportunity of ``fh`` (NaN for the closed ones), for the weighted
        pipeline and the forecast: ``fh`` must be at these scores' ``as_of`` and each of its
        open deals must have a score.

        >>> from crmcore.pipeline.presets import B2B
        >>> from crmcore.pipeline.scoring import fit_deal_scores, score_deals, synthetic_scoring_pipeline
        >>> s = synthetic_scoring_pipeline(B2B, n_opportunities=400, seed=5)
        >>> fh = FunnelHistory.build(s.history, B2B)
        >>> scores = score_deals(fit_deal_scores(fh), fh)
        >>> p = scores.for_history(fh)
        >>> bool(np.isnan(p[~fh.is_open]).all()), bool((p[fh.is_open] == scores.probability).all())
        (True, True)
        """
        if not isinstance(fh, FunnelHistory):
            raise ValidationError(f"'data' must be a FunnelHistory to apply scores to: {show(fh)}")
        if fh.as_of != self.as_of:
            raise ValidationError(
                f"'scores' are as of {np.datetime_as_string(self.as_of)}, the history as of "
                f"{np.datetime_as_string(fh.as_of)}: score the same history"
            )
        rows = np.flatnonzero(fh.is_open)
        ids = fh.opportunity_ids[fh.opportunity_codes[rows]]
        out = np.full(fh.n_opportunities, np.nan)
        if len(ids) == len(self) and bool(np.array_equal(ids, self.opportunity_ids)):
            out[rows] = self.probability
            return out
        p = self.probability_of(ids)
        if np.isnan(p).any():
            missing = ids[int(np.flatnonzero(np.isnan(p))[0])]
            raise ValidationError(
                f"'scores' have no score for open opportunity {show(missing)}: score this history"
            )
        out[rows] = p
        return out

    def _columns(self) -> Columns:
        cols: Columns = {
            "opportunity_id": self.opportunity_ids,
            "probability": self.probability,
            "log_odds": self.log_odds,
        }
        for f, (factor, levels) in enumerate(
            zip(self.model.factors, self.model.levels, strict=True)
        ):
            name = factor if factor not in cols else f"factor_{factor}"
            cols[name] = texts(levels)[self.levels[:, f]] if len(self) else texts(())
        return cols


@attrs.frozen(eq=False)
class ScoreBacktest(Tabular):
    """Scores made at a past ``as_of`` against how the deals open then actually ended.

    ``known_at`` is when the past was read as known (None: the history has no
    recording times, so every event before ``as_of`` was used). ``n_open`` deals were open at ``as_of``; ``n_resolved`` of them have
    closed since (``n_won`` won): they are the ones scored here (the others
    have no outcome yet). Per method: ``brier`` (mean squared error of the
    probability), ``log_loss`` (mean negative log-likelihood, probabilities
    clipped to [1e-6, 1 - 1e-6]). The reliability table cuts [0, 1] at
    ``bin_edges``: per method (rows) and bin (columns) the number of deals,
    their mean predicted probability and the share won (both NaN in an empty bin).
    """

    as_of: np.datetime64 = attrs.field(validator=array("M", ndim=None))
    known_at: np.datetime64 | None = attrs.field(validator=array("M", ndim=None, optional=True))
    methods: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a method name"))
    n_open: int = attrs.field(validator=number(0, integer=True, at_least=("n_resolved",)))
    n_resolved: int = attrs.field(validator=number(0, integer=True, at_least=("n_won",)))
    n_won: int = attrs.field(validator=COUNT)
    brier: tuple[float, ...] = attrs.field(validator=each(PROBABILITY))
    log_loss: tuple[float, ...] = attrs.field(validator=each(number(0)))
    bin_edges: FloatArray = attrs.field(validator=array(lo=0, hi=1))
    bin_count: IntArray = attrs.field(validator=array("i", lo=0, ndim=2))
    bin_predicted: FloatArray = attrs.field(
        validator=array(lo=0, hi=1, ndim=2, nan="an empty bin has no mean")
    )
    bin_observed: FloatArray = attrs.field(
        validator=array(lo=0, hi=1, ndim=2, nan="an empty bin has no mean")
    )

    @property
    def base_rate(self) -> float:
        """The share of the scored deals that were won.

        >>> ScoreBacktest(np.datetime64("2025-01-01"), None, ("stage",), 10, 4, 1, (0.2,), (0.5,),
        ...     np.array([0.0, 1.0]), np.array([[4]]), np.array([[0.3]]), np.array([[0.25]])).base_rate
        0.25
        """
        return self.n_won / self.n_resolved if self.n_resolved else float("nan")

    def best(self, metric: str = "brier") -> str:
        """The method with the lowest ``metric`` (``"brier"`` or ``"log_loss"``).

        >>> ScoreBacktest(np.datetime64("2025-01-01"), None, ("a", "b"), 3, 2, 1, (0.2, 0.1), (0.6, 0.7),
        ...     np.array([0.0, 1.0]), np.array([[2], [2]]), np.array([[0.5], [0.5]]),
        ...     np.array([[0.5], [0.5]])).best("log_loss")
        'a'
        """
        metric = as_choice(metric, name="metric", allowed=("brier", "log_loss"))
        values = self.brier if metric == "brier" else self.log_loss
        return self.methods[int(np.argmin(values))]

    def lines(self) -> list[str]:
        """The scores and the reliability table as text.

        >>> bt = ScoreBacktest(np.datetime64("2025-01-01"), None, ("stage",), 3, 2, 1, (0.2,), (0.6,),
        ...     np.array([0.0, 0.5, 1.0]), np.array([[1, 1]]), np.array([[0.3, 0.6]]), np.array([[0.0, 1.0]]))
        >>> print("\\n".join(bt.lines()))
        2 of 3 deals open at 2025-01-01 closed since, 1 won (50.0%)
        method         Brier  log-loss
        stage         0.2000    0.6000
        reliability (deals / mean predicted / share won) per bin of predicted P(win):
        bin             stage
        0.0-0.5     1 .30 .00
        0.5-1.0     1 .60 1.0
        """
        day = np.datetime_as_string(self.as_of, unit="D")
        out = [
            f"{self.n_resolved} of {self.n_open} deals open at {day} closed since, "
            f"{self.n_won} won ({self.base_rate:.1%})",
            f"{'method':<12}{'Brier':>8}{'log-loss':>10}",
        ]
        out += [
            f"{m:<12}{b:>8.4f}{ll:>10.4f}"
            for m, b, ll in zip(self.methods, self.brier, self.log_loss, strict=True)
        ]
        out.append("reliability (deals / mean predicted / share won) per bin of predicted P(win):")
        out.append(f"{'bin':<8}" + "".join(f"{m:>18}" for m in self.methods))

        def two(x: float) -> str:
            return "  -" if np.isnan(x) else (f"{x:.2f}"[1:] if x < 1 else "1.0")

        e = self.bin_edges
        for b in range(len(e) - 1):
            cells = "".join(
                f"{int(self.bin_count[i, b]):>10} {two(self.bin_predicted[i, b])} "
                f"{two(self.bin_observed[i, b])}"
                for i in range(len(self.methods))
            )
            out.append((f"{e[b]:.1f}-{e[b + 1]:.1f}" + cells).rstrip())
        return out

    def _columns(self) -> Columns:
        k = len(self.bin_edges) - 1
        return {
            "method": np.repeat(texts(self.methods), k),
            "bin_low": np.tile(self.bin_edges[:-1], len(self.methods)),
            "bin_high": np.tile(self.bin_edges[1:], len(self.methods)),
            "deals": self.bin_count.reshape(-1),
            "predicted": self.bin_predicted.reshape(-1),
            "observed": self.bin_observed.reshape(-1),
        }
