"""Seeded synthetic pipelines (clearly synthetic data) for docs, demos, tests and benchmarks.

Opportunities are created uniformly over a period, walk through the open
stages of a funnel in order (time in stage exponential, advance or be lost
with a per-rep probability), and stop at ``as_of``: deals whose next move
would come later are still open. Generation is vectorised (one pass per
stage), so a million events take a fraction of a second.

>>> from crmcore.pipeline.presets import B2B
>>> p = synthetic_pipeline(B2B, n_opportunities=100, seed=7)
>>> len(p.history) == len(p.reason_codes), p.history.stages.tolist()[:2]
(True, ['lead', 'qualified'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._results import array
from crmcore.arrays import FloatArray, as_float_array, check_nonnegative
from crmcore.errors import ValidationError
from crmcore.model._fields import instance
from crmcore.options import as_count, as_number, as_probability, as_seed, expect_instance
from crmcore.pipeline.funnel import Funnel, StageKind
from crmcore.pipeline.presets import LOST_REASONS
from crmcore.tables import StageHistory
from crmcore.timestamps import TimeLike, as_instant

__all__ = ["SyntheticPipeline", "synthetic_history", "synthetic_pipeline"]


@attrs.frozen(eq=False)
class SyntheticPipeline:
    """A synthetic stage history, its per-row reasons, and the rep skills that generated it.

    ``reason_codes`` (-1 for none) index ``reason_labels``; pass
    ``reasons=p.reasons`` to :meth:`FunnelHistory.build`.
    """

    history: StageHistory = attrs.field(validator=instance(StageHistory, "a StageHistory"))
    reason_codes: npt.NDArray[np.int64] = attrs.field(validator=array("i", -1, length="history"))
    reason_labels: npt.NDArray[Any] = attrs.field(validator=array("O"))
    rep_skill: npt.NDArray[np.float64] = attrs.field(validator=array(lo=0))
    start: np.datetime64 = attrs.field(validator=array("M", ndim=None))
    as_of: np.datetime64 = attrs.field(validator=array("M", ndim=None))

    @property
    def reasons(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
        """``(codes, labels)`` of the lost reasons, aligned with the history's rows."""
        return self.reason_codes, self.reason_labels


_MAX_ROWS = 10_000_000  # opportunities or reps of a synthetic pipeline
_MAX_DAYS = 36_500  # a century


def _skill(values: Sequence[float], name: str) -> FloatArray:
    arr = as_float_array(values, name=name)
    if len(arr) == 0:
        raise ValidationError(f"{name!r} must hold one multiplier per rep: {list(arr)}")
    check_nonnegative(arr, name=name)
    return arr


def synthetic_pipeline(
    funnel: Funnel,
    *,
    n_opportunities: int,
    seed: int,
    start: TimeLike = "2024-01-01",
    days: int = 540,
    n_reps: int = 6,
    products: Sequence[str] = ("crm", "erp", "support"),
    advance: float = 0.62,
    mean_days_in_stage: float = 12.0,
    rep_skill: Sequence[float] | None = None,
    close_skill: Sequence[float] | None = None,
) -> SyntheticPipeline:
    """A seeded synthetic pipeline over ``days`` from ``start``; ``as_of`` is the end of that period.

    ``rep_skill`` multiplies each rep's chance to advance (default: spread
    from 0.75 to 1.25); ``close_skill`` multiplies it again at the last open
    stage (default 1: a rep with 0 advances deals but never closes).

    >>> from crmcore.pipeline.presets import TOP_IN_BEST
    >>> synthetic_pipeline(TOP_IN_BEST, n_opportunities=0, seed=1)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'n_opportunities' must be >= 1: 0
    """
    funnel = expect_instance(funnel, Funnel, name="funnel")
    n_opportunities = as_count(n_opportunities, name="n_opportunities", low=1, high=_MAX_ROWS)
    seed = as_seed(seed)  # type: ignore[assignment]  # None is a fresh seed
    days = as_count(days, name="days", low=1, high=_MAX_DAYS)
    n_reps = as_count(n_reps, name="n_reps", low=1, high=_MAX_ROWS)
    advance = as_probability(advance, name="advance")
    mean_days_in_stage = as_number(
        mean_days_in_stage, name="mean_days_in_stage", low=0.0, high=float(_MAX_DAYS),
        inclusive=(False, True),
    )  # fmt: skip
    if isinstance(products, str) or len(products) == 0:
        raise ValidationError(f"'products' must be a non-empty list of names: {products!r}")
    rng = np.random.default_rng(seed)
    open_names = funnel.names_of(StageKind.OPEN)
    won_name = funnel.names_of(StageKind.WON)[0]
    lost_names = funnel.names_of(StageKind.LOST)
    labels = np.array(funnel.stage_names)
    code = {n: i for i, n in enumerate(funnel.stage_names)}
    n = n_opportunities
    skill = np.linspace(0.75, 1.25, n_reps) if rep_skill is None else _skill(rep_skill, "rep_skill")
    t0 = as_instant(start, name="start")
    end = t0 + np.timedelta64(days, "D")
    day_us = 86_400_000_000
    created = t0 + (rng.random(n) * days * day_us).astype("m8[us]")
    owner = rng.integers(0, len(skill), n)
    product = rng.integers(0, len(products), n)
    amount = np.round(rng.lognormal(np.log(8000.0), 0.7, n) * (1 + 0.5 * product), -1)
    p_adv = np.clip(advance * skill[owner], 0.0, 0.98)
    closing = np.ones(len(skill)) if close_skill is None else _skill(close_skill, "close_skill")
    if closing.shape != skill.shape:
        raise ValidationError(
            f"'close_skill' needs one value per rep ({len(skill)}): {len(closing)} given"
        )
    # walk the open stages: step k moves from open stage k to k+1 (or won / lost)
    times = [created]
    stages = [np.full(n, code[open_names[0]])]
    alive = np.ones(n, dtype=bool)
    t = created
    for k in range(len(open_names)):
        stay = rng.exponential(mean_days_in_stage * (1 + 0.3 * k), n) * day_us
        t = t + stay.astype("m8[us]")
        alive = alive & (t < end)
        last = k + 1 == len(open_names)
        go = rng.random(n) < (p_adv * closing[owner] if last else p_adv)
        nxt_name = open_names[k + 1] if k + 1 < len(open_names) else won_name
        to = np.where(go, code[nxt_name], code[lost_names[0]] if lost_names else code[nxt_name])
        to = np.where(alive, to, -1)
        times.append(t)
        stages.append(to)
        alive = alive & (go | (not lost_names))
    steps = np.stack(stages, axis=1)  # (n, R + 1); -1 = did not happen
    tms = np.stack(times, axis=1)
    valid = steps >= 0
    counts = valid.sum(axis=1)
    opp = np.repeat(np.arange(n, dtype=np.int64), counts)
    seq = (np.arange(valid.shape[1])[None, :] * np.ones((n, 1), dtype=np.int64))[valid]
    to_stage = steps[valid].astype(np.int64)
    prev = np.concatenate([np.full((n, 1), -1), steps[:, :-1]], axis=1)
    from_stage = prev[valid].astype(np.int64)
    at = tms[valid]
    owner_ev = owner[opp]
    lost_ev = np.isin(to_stage, [code[x] for x in lost_names])
    reason_pick = rng.choice(len(LOST_REASONS), size=len(opp), p=_reason_weights(len(LOST_REASONS)))
    reason_codes = np.where(lost_ev, reason_pick, -1).astype(np.int64)
    history = StageHistory(
        opp,
        seq.astype(np.int64),
        from_stage,
        to_stage,
        at.astype("M8[us]"),
        amount[opp].astype(np.float64),
        owner_ev.astype(np.int64),
        product[opp].astype(np.int64),
        np.array([f"syn-{i:07d}" for i in range(n)]),
        labels,
        np.array([f"rep-{i + 1}" for i in range(len(skill))]),
        np.array(list(products)),
    )
    return SyntheticPipeline(history, reason_codes, np.array(LOST_REASONS), skill, t0, end)


def _reason_weights(k: int) -> npt.NDArray[np.float64]:
    w = 1.0 / np.arange(1, k + 1)
    out: npt.NDArray[np.float64] = w / w.sum()
    return out


def synthetic_history(
    funnel: Funnel, *, n_opportunities: int, seed: int, **kwargs: Any
) -> StageHistory:
    """The history of :func:`synthetic_pipeline` alone.

    >>> from crmcore.pipeline.presets import B2B
    >>> len(synthetic_history(B2B, n_opportunities=10, seed=3)) >= 10
    True
    """
    return synthetic_pipeline(funnel, n_opportunities=n_opportunities, seed=seed, **kwargs).history
