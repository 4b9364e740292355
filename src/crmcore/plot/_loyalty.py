"""Satisfaction and loyalty: P(loyal) by satisfaction at each level of competition, with the
fit's confidence band and the observed rates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from scipy.special import expit, logit, ndtri

from crmcore.arrays import FloatArray, as_float_array, check_same_length
from crmcore.errors import ValidationError
from crmcore.options import as_confidence
from crmcore.plot._base import axes, percent, tidy
from crmcore.satisfaction import LoyaltyCurve, LoyaltyFit, LoyaltyModel
from crmcore.satisfaction._validate import (  # the satisfaction package's one input rule
    binary_array,
    competition_array,
    flags_as_numbers,
    satisfaction_array,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LEVELS = np.arange(1, 6)
_MAX_CURVES = 12
_ZONE_MARKERS = {"defection": "v", "indifference": "o", "affection": "^"}


def _levels(value: Any, name: str) -> FloatArray:
    arr = as_float_array(value, name=name)
    if arr.ndim != 1 or len(arr) == 0 or len(arr) > _MAX_CURVES:
        raise ValidationError(
            f"{name!r} must hold 1 to {_MAX_CURVES} competition levels: {np.asarray(value)!r:.80}"
        )
    if (arr < 0).any() or (arr > 1).any():
        raise ValidationError(f"{name!r} must be in [0, 1]: {arr.tolist()!r:.80}")
    return arr


def loyalty_band(fit: LoyaltyFit, levels: FloatArray, confidence: float) -> tuple[FloatArray, ...]:
    """P(loyal) per level (rows) and satisfaction 1..5 (columns) with the pointwise band at
    ``confidence``: the delta method on the logit of P, over the estimated coefficients and
    their covariance (central differences; coefficients on the boundary held fixed)."""
    model = fit.model
    p = model.table(levels)
    names = fit.parameter_names
    cov = np.asarray(fit.covariance, dtype=np.float64)
    base = logit(np.clip(p, 1e-12, 1 - 1e-12))
    grads = []
    for name in names:
        v = float(getattr(model, name))
        h = 1e-5 * (1.0 + abs(v))
        up = logit(np.clip(attrs.evolve(model, **{name: v + h}).table(levels), 1e-12, 1 - 1e-12))
        dn = logit(np.clip(attrs.evolve(model, **{name: v - h}).table(levels), 1e-12, 1 - 1e-12))
        grads.append((up - dn) / (2 * h))
    g = np.stack(grads, axis=-1)  # levels x 5 x k
    var = np.einsum("lsi,ij,lsj->ls", g, cov, g)
    z = float(ndtri(0.5 + confidence / 2))
    half = z * np.sqrt(np.maximum(var, 0.0))
    return p, expit(base - half), expit(base + half)


def observed_rates(
    satisfaction: Any, outcome: Any, competition: Any, levels: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Share loyal and responses per level (rows) and satisfaction 1..5 (columns): the
    responses whose competition equals the level (all responses without ``competition``)."""
    s = satisfaction_array(satisfaction)
    y = binary_array(flags_as_numbers(outcome))
    if competition is None:
        check_same_length(satisfaction=s, outcome=y)
        c = np.full(len(s), levels[0])
    else:
        c = competition_array(competition)
        check_same_length(satisfaction=s, outcome=y, competition=c)
    n = np.zeros((len(levels), 5))
    k = np.zeros((len(levels), 5))
    si = s.astype(np.int64) - 1
    for i, level in enumerate(levels):
        sel = np.isclose(c, level, rtol=0, atol=1e-9)
        n[i] = np.bincount(si[sel], minlength=5)
        k[i] = np.bincount(si[sel], weights=y[sel], minlength=5)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, k / np.maximum(n, 1), np.nan), n


def plot_loyalty_curves(
    fit: LoyaltyFit | LoyaltyModel | Mapping[str, LoyaltyCurve],
    *,
    levels: Sequence[float] | None = None,
    satisfaction: Any = None,
    outcome: Any = None,
    competition: Any = None,
    confidence: float = 0.95,
    zones: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """P(loyal) by satisfaction (1-5), one curve per level of competition, with the fit's
    confidence band and the observed share of loyal customers.

    The curves show where satisfaction starts to pay: under strong competition only the
    completely satisfied stay (a steep rise at 5), in a captive market even the dissatisfied
    do (a high floor). ``fit`` is a :class:`~crmcore.satisfaction.LoyaltyFit` (curves with a
    pointwise band at ``confidence``, delta method on the logit), a
    :class:`~crmcore.satisfaction.LoyaltyModel` (curves only) or a mapping of labels to
    :class:`~crmcore.satisfaction.LoyaltyCurve`. ``levels`` are the competition levels drawn
    (default: the distinct ``competition`` values when there are at most 12, else 0.1, 0.5
    and 0.9; one curve for an unmoderated fit). With the responses (``satisfaction``,
    ``outcome`` and, for several levels, ``competition``) the observed share loyal at each
    satisfaction level is drawn as dots (size: responses). ``zones`` marks each point's zone
    (▼ defection, ○ indifference, ▲ affection).

    >>> import numpy as np
    >>> from crmcore.satisfaction import fit_loyalty, preset_model
    >>> rng = np.random.default_rng(7)
    >>> s = rng.integers(1, 6, 4000); c = rng.choice([0.1, 0.9], 4000)
    >>> y = rng.random(4000) < preset_model().probability(s, c)
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_loyalty_curves(fit_loyalty(s, y, c), satisfaction=s, outcome=y, competition=c, ax=ax) is ax
    True
    >>> ax.get_title()
    'Loyalty by satisfaction: share of customers who stay, by competition'
    >>> [t.get_text() for t in ax.get_legend().get_texts()][:2]
    ['competition 0.1', 'competition 0.9']
    """
    conf = as_confidence(confidence)
    band: tuple[FloatArray, FloatArray] | None = None
    if isinstance(fit, Mapping):
        if not fit or not all(isinstance(v, LoyaltyCurve) for v in fit.values()):
            raise ValidationError(
                f"'fit' must map at least one label to a LoyaltyCurve: {dict(fit)!r:.80}"
            )
        labels = [str(k) for k in fit]
        table = np.stack([curve.probabilities() for curve in fit.values()])
        lv = None
        curves = list(fit.values())
    else:
        if isinstance(fit, LoyaltyFit):
            model = fit.model
        elif isinstance(fit, LoyaltyModel):
            model = fit
        else:
            raise ValidationError(
                "'fit' must be a LoyaltyFit, a LoyaltyModel or a mapping of labels to "
                f"LoyaltyCurve: {type(fit).__name__}"
            )
        if levels is not None:
            lv = _levels(levels, "levels")
        elif competition is not None and len(np.unique(np.asarray(competition))) <= _MAX_CURVES:
            lv = _levels(np.unique(competition_array(competition)), "competition")
        elif not model.moderated:
            lv = np.array([0.0])
        else:
            lv = np.array([0.1, 0.5, 0.9])
        table = model.table(lv)
        if isinstance(fit, LoyaltyFit):
            _p, lo, hi = loyalty_band(fit, lv, conf)
            band = (lo, hi)
        labels = [f"competition {v:g}" for v in lv] if model.moderated else ["all customers"]
        curves = [model.curve(float(v)) for v in lv]
    obs = None
    if satisfaction is not None or outcome is not None:
        if satisfaction is None or outcome is None:
            raise ValidationError("pass both 'satisfaction' and 'outcome' to draw observed rates")
        if lv is None:
            raise ValidationError(
                "observed rates need the competition levels: pass a LoyaltyFit or LoyaltyModel"
            )
        obs = observed_rates(satisfaction, outcome, competition, lv)
    ax = axes(ax)
    for i, label in enumerate(labels):
        (line,) = ax.plot(LEVELS, table[i], "-", lw=2, label=label, zorder=3)
        colour = line.get_color()
        if band is not None:
            ax.fill_between(LEVELS, band[0][i], band[1][i], color=colour, alpha=0.18, lw=0)
        if obs is not None:
            rate, n = obs
            seen = n[i] > 0
            size = 15 + 85 * n[i][seen] / max(float(n.max()), 1.0)
            ax.scatter(
                LEVELS[seen], rate[i][seen], s=size, color=colour, edgecolor="white",
                zorder=4, label="_nolegend_",
            )  # fmt: skip
        if zones:
            z = curves[i].zones()
            for lev, prob in zip(LEVELS, table[i], strict=True):
                ax.plot(
                    [lev], [prob], marker=_ZONE_MARKERS[z.zone_of(int(lev))], color=colour,
                    linestyle="none", ms=8, label="_nolegend_", zorder=5,
                )  # fmt: skip
    if band is not None:
        ax.fill_between([], [], [], color="0.6", alpha=0.3, label=f"{conf:.0%} confidence band")
    if obs is not None:
        ax.scatter([], [], s=40, color="0.4", label="observed share (size: responses)")
    ax.set_xticks(list(LEVELS), ["1\nvery dissatisfied", "2", "3", "4", "5\ncompletely satisfied"])
    ax.set_xlabel("Satisfaction")
    ax.set_ylim(0.0, 1.0)
    percent(ax)
    ax.set_ylabel("P(loyal): share of customers who stay")
    ax.set_title("Loyalty by satisfaction: share of customers who stay, by competition")
    tidy(ax)
    ax.legend(frameon=False, loc="upper left", fontsize="small")
    return ax
