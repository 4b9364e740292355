"""A seeded synthetic pipeline whose true win probabilities are known (for scoring tests and docs).

Every opportunity draws its outcome when it is created: won with
probability ``sigmoid(eta)``, ``eta = base + rep effect + source effect +
amount slope * log(amount / 10,000)``. A won deal walks every open stage of
the funnel to the won stage; a lost deal leaves for the lost stage at the end
of each stay with probability ``drop`` (at the last open stage, always).
Stays are exponential with mean ``won_days`` (won deals) or ``lost_days``
(lost deals). Events after ``as_of`` are cut, so recent deals are open.

By Bayes' rule the true probability that an open deal in open stage ``k``
(0-based), ``a`` days after its creation, is eventually won is

    logit P = eta + k * (log(lost_days / won_days) - log(1 - drop)) - (1/won_days - 1/lost_days) * a

(the stays so far are a Gamma sum under each outcome; the time in the
current stage adds nothing once the age is known). :meth:`SyntheticScoring.true_probability`
computes it for the open deals of any :class:`FunnelHistory` of the
history, so tests can check that a fitted model recovers it.

>>> from crmcore.pipeline.presets import B2B
>>> s = synthetic_scoring_pipeline(B2B, n_opportunities=200, seed=1)
>>> s.fields.names, len(s.fields) == 200
(('source', 'employees'), True)
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import expit

from crmcore._results import POSITIVE, PROBABILITY, array, number
from crmcore.arrays import FloatArray
from crmcore.errors import ValidationError
from crmcore.model._fields import instance
from crmcore.options import as_count, as_number, as_seed, expect_instance
from crmcore.pipeline._scoring_data import DealFields
from crmcore.pipeline.funnel import Funnel, StageKind
from crmcore.pipeline.history import FunnelHistory
from crmcore.tables import StageHistory
from crmcore.timestamps import TimeLike, as_instant

__all__ = ["SyntheticScoring", "synthetic_scoring_pipeline"]

_SOURCES = ("web", "referral", "event", "partner")
_SOURCE_EFFECT = np.array([-0.4, 0.8, 0.0, 0.3, -0.6])  # the last: no source recorded
_SOURCE_SHARE = np.array([0.45, 0.15, 0.15, 0.15, 0.10])
_MAX_ROWS = 10_000_000
_MAX_DAYS = 36_500
_DAY_US = 86_400_000_000


@attrs.frozen(eq=False)
class SyntheticScoring:
    """A synthetic history with known win probabilities (see the module docstring).

    ``eta`` is each opportunity's log-odds of being won at creation, aligned
    with ``history.opportunity_ids``; ``fields`` holds its ``source`` (a
    label, 10% missing) and ``employees`` (a number with no effect, 5% NaN).
    """

    history: StageHistory = attrs.field(validator=instance(StageHistory, "a StageHistory"))
    fields: DealFields = attrs.field(validator=instance(DealFields, "a DealFields"))
    eta: FloatArray = attrs.field(validator=array())
    won_days: float = attrs.field(validator=POSITIVE)
    lost_days: float = attrs.field(validator=POSITIVE)
    drop: float = attrs.field(validator=number(0, 1))
    start: np.datetime64 = attrs.field(validator=array("M", ndim=None))
    as_of: np.datetime64 = attrs.field(validator=array("M", ndim=None))
    base_rate: float = attrs.field(validator=PROBABILITY)

    def true_probability(self, fh: FunnelHistory) -> FloatArray:
        """The true P(win) of the open deals of ``fh`` (a cut of :attr:`history`), in ``fh`` order.

        >>> from crmcore.pipeline.presets import B2B
        >>> s = synthetic_scoring_pipeline(B2B, n_opportunities=300, seed=2)
        >>> fh = FunnelHistory.build(s.history, B2B, as_of="2024-06-01")
        >>> p = s.true_probability(fh)
        >>> len(p) == int(fh.is_open.sum()), bool(((p > 0) & (p < 1)).all())
        (True, True)
        """
        fh = expect_instance(fh, FunnelHistory, name="fh")
        rows = np.flatnonzero(fh.is_open)
        k = fh.stage_rank[fh.final_stage[rows]].astype(np.float64)
        age = (fh.as_of - fh.created[rows]) / np.timedelta64(_DAY_US, "us")
        step = np.log(self.lost_days / self.won_days) - np.log1p(-self.drop)
        slope = 1.0 / self.won_days - 1.0 / self.lost_days
        eta = self.eta[fh.opportunity_codes[rows]]
        out: FloatArray = expit(eta + k * step - slope * age)
        return out


def synthetic_scoring_pipeline(
    funnel: Funnel,
    *,
    n_opportunities: int,
    seed: int,
    start: TimeLike = "2023-01-01",
    days: int = 730,
    n_reps: int = 6,
    base: float = -1.0,
    drop: float = 0.35,
    won_days: float = 12.0,
    lost_days: float = 20.0,
) -> SyntheticScoring:
    """A seeded synthetic pipeline with known win probabilities; ``as_of`` is ``start + days``.

    Rep effects on the log-odds run from -0.8 to +0.8; sources: web -0.4,
    referral +0.8, event 0, partner +0.3, none recorded -0.6; amounts
    (lognormal around 10,000) lower the log-odds by 0.5 per unit of log amount.

    >>> from crmcore.pipeline.presets import B2B
    >>> synthetic_scoring_pipeline(B2B, n_opportunities=10, seed=1, drop=1.0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'drop' must be in [0, 1): 1.0
    """
    funnel = expect_instance(funnel, Funnel, name="funnel")
    n = as_count(n_opportunities, name="n_opportunities", low=1, high=_MAX_ROWS)
    rng = np.random.default_rng(as_seed(seed))
    days = as_count(days, name="days", low=1, high=_MAX_DAYS)
    n_reps = as_count(n_reps, name="n_reps", low=1, high=1000)
    base = as_number(base, name="base", low=-20.0, high=20.0)
    drop = as_number(drop, name="drop", low=0.0, high=1.0, inclusive=(True, False))
    won_days = as_number(won_days, name="won_days", low=0.01, high=float(_MAX_DAYS))
    lost_days = as_number(lost_days, name="lost_days", low=0.01, high=float(_MAX_DAYS))
    open_names = funnel.names_of(StageKind.OPEN)
    lost_names = funnel.names_of(StageKind.LOST)
    if not lost_names:
        raise ValidationError(f"funnel {funnel.name!r} needs a lost stage for a synthetic history")
    code = {s: i for i, s in enumerate(funnel.stage_names)}
    won_code, lost_code = code[funnel.names_of(StageKind.WON)[0]], code[lost_names[0]]
    t0 = as_instant(start, name="start")
    end = t0 + np.timedelta64(days, "D")
    created = t0 + (rng.random(n) * days * _DAY_US).astype("m8[us]")
    owner = rng.integers(0, n_reps, n)
    rep_effect = np.linspace(-0.8, 0.8, n_reps) if n_reps > 1 else np.zeros(1)
    source = rng.choice(len(_SOURCE_SHARE), size=n, p=_SOURCE_SHARE)
    amount = np.round(rng.lognormal(np.log(10_000.0), 0.8, n), -1) + 10.0
    eta = base + rep_effect[owner] + _SOURCE_EFFECT[source] - 0.5 * np.log(amount / 10_000.0)
    won = rng.random(n) < expit(eta)
    products = ("crm", "erp", "support")
    product = rng.integers(0, len(products), n)
    # the stage each deal leaves from: won deals pass them all, lost ones drop with `drop`
    r = len(open_names)
    survive = rng.random((n, r)) >= drop
    survive[:, -1] = False
    last = np.where(won, r - 1, np.argmin(survive, axis=1))
    mean = np.where(won, won_days, lost_days)
    stays = rng.exponential(1.0, (n, r)) * mean[:, None] * _DAY_US
    times = created[:, None] + np.cumsum(stays, axis=1).astype("m8[us]")
    # event j (j = 0..r) of each deal: creation into stage 0, then the exits of stages 0..r-1
    at = np.concatenate([created[:, None], times], axis=1)
    to = np.empty((n, r + 1), dtype=np.int64)
    to[:, 0] = code[open_names[0]]
    for j in range(r):
        nxt = code[open_names[j + 1]] if j + 1 < r else won_code
        to[:, j + 1] = np.where(j < last, nxt, np.where(won, won_code, lost_code))
    happened = (np.arange(r + 1)[None, :] <= last[:, None] + 1) & (at < end)
    counts = happened.sum(axis=1)
    opp = np.repeat(np.arange(n, dtype=np.int64), counts)
    seq = np.broadcast_to(np.arange(r + 1), (n, r + 1))[happened].astype(np.int64)
    to_stage = to[happened]
    from_full = np.concatenate([np.full((n, 1), -1), to[:, :-1]], axis=1)
    history = StageHistory(
        opp,
        seq,
        from_full[happened].astype(np.int64),
        to_stage,
        at[happened].astype("M8[us]"),
        amount[opp].astype(np.float64),
        owner[opp].astype(np.int64),
        product[opp].astype(np.int64),
        np.array([f"syn-{i:07d}" for i in range(n)]),
        np.array(funnel.stage_names),
        np.array([f"rep-{i + 1}" for i in range(n_reps)]),
        np.array(products),
    )
    source_labels = np.array(_SOURCES, dtype=object)
    src: npt.NDArray[Any] = np.where(source < len(_SOURCES), source, -1).astype(np.int64)
    employees = np.round(rng.lognormal(np.log(50.0), 1.0, n))
    employees[rng.random(n) < 0.05] = np.nan
    fields = DealFields(
        history.opportunity_ids,
        ("source", "employees"),
        ("label", "number"),
        (src, employees),
        (source_labels, None),
    )
    return SyntheticScoring(
        history=history,
        fields=fields,
        eta=eta,
        won_days=won_days,
        lost_days=lost_days,
        drop=drop,
        start=t0,
        as_of=end,
        base_rate=float(won.mean()),
    )
